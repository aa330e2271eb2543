// The AOT example: vector_add from a bundle that `tessel aot` made at build time, launched through
// the generated tessel_aot.h on the simulated device (or a CUDA GPU with TESSEL_DEVICE=cuda and a
// GPU), checked against a C++ loop. Exits 1 on a mismatch, 2 on an error.
#include "tessel_aot.h"

#include <tessel/runtime/device.h>
#include <tessel/runtime/device_buffer.h>

#include <cstdio>
#include <exception>
#include <vector>

int main() {
  try {
    namespace rt = tessel::runtime;
    tessel::aot::Bundle bundle = tessel::aot::Bundle::load(TESSEL_AOT_DIR);
    const tessel::DeviceKind device =
        rt::cuda_available() ? rt::selected_device() : tessel::DeviceKind::sim;
    const int n = 1000;
    std::vector<float> a(n), b(n), out(n, -1.f);
    for (int i = 0; i < n; ++i) {
      a[size_t(i)] = 0.5f * float(i);
      b[size_t(i)] = 3.0f - float(i);
    }
    auto upload = [&](const std::vector<float>& v) {
      rt::DeviceBuffer buf = rt::DeviceBuffer::allocate_on(device, v.size() * sizeof(float));
      buf.copy_from_host(v.data(), v.size() * sizeof(float));
      return buf;
    };
    rt::DeviceBuffer da = upload(a), db = upload(b), dout = upload(out);
    tessel_aot::vector_add(bundle, {.grid = {(n + 1023) / 1024}, .device = device},
                           static_cast<float*>(dout.data()), static_cast<float*>(da.data()),
                           static_cast<float*>(db.data()), n);
    dout.copy_to_host(out.data(), n * sizeof(float));
    for (int i = 0; i < n; ++i)
      if (out[size_t(i)] != a[size_t(i)] + b[size_t(i)]) {
        std::printf("aot_app: element %d is %g, expected %g\n", i, out[size_t(i)],
                    a[size_t(i)] + b[size_t(i)]);
        return 1;
      }
    std::printf("aot_app: vector_add of %d elements on %s (%s code from %s): ok\n", n,
                tessel::device_kind_name(device), bundle.target_for(device).c_str(),
                bundle.directory().c_str());
    return 0;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "aot_app: %s\n", e.what());
    return 2;
  }
}
