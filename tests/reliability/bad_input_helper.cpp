// A process for the bad-input rows that need a fresh process (environment variables are read
// once): `bad_input_helper MODE [ARG]` does one thing and exits 0, or prints the tessel::Error
// to stderr and exits 1 (tests/reliability/bad_input_cli_test.cpp).
//   launch        a CPU launch of 8 programs (the thread pool: TESSEL_CPU_THREADS), checked
//   recompile     two specializations of one kernel (TESSEL_MAX_RECOMPILES)
//   sim           a launch on the simulated device (TESSEL_SIM_TARGET)
//   device        a runtime::DeviceBuffer on the GPU device TESSEL_DEVICE selects
//   bundle DIR    tessel::aot::Bundle::load(DIR)
#include "tessel/aot/bundle.h"
#include "tessel/runtime/device_buffer.h"
#include "tessel/tessel.h"

#include <cstdio>
#include <string>
#include <vector>

namespace {

namespace tl = tessel::lang;

const tessel::Kernel& fill() {
  static const tessel::Kernel k =
      tl::kernel("bad_input_helper_fill", "out, n, value, BLOCK",
                 [](tl::Ptr out, tl::Int n, tl::Float value, tl::Const<int> BLOCK) {
                   auto offs = tl::program_id(0) * BLOCK + tl::arange(0, BLOCK);
                   tl::store(out + offs, value + tl::zeros({BLOCK}, tl::f32), offs < n);
                 });
  return k;
}

// Fills `n` floats with BLOCK-wide programs and checks every one.
int launch_and_check(int block, const tessel::LaunchOptions& options) {
  const int n = 128;
  std::vector<float> out(n, -1.0f);
  fill().launch({(n + block - 1) / block}, options, out.data(), n, 2.5f, block);
  for (float v : out)
    if (v != 2.5f) {
      std::fprintf(stderr, "wrong result %g\n", double(v));
      return 3;
    }
  return 0;
}

int run(const std::string& mode, const std::string& arg) {
  if (mode == "launch")
    return launch_and_check(16, {});
  if (mode == "recompile") {
    int rc = launch_and_check(16, {});
    return rc ? rc : launch_and_check(32, {});
  }
  if (mode == "sim") {
    tessel::LaunchOptions options;
    options.device = tessel::DeviceKind::sim;
    // Host memory is not sim memory: a simulated launch needs device buffers, and the target is
    // chosen before the arguments are looked at, so a bad TESSEL_SIM_TARGET fails first.
    return launch_and_check(16, options);
  }
  if (mode == "device") {
    tessel::runtime::DeviceBuffer buffer = tessel::runtime::DeviceBuffer::allocate(1024);
    return 0;
  }
  if (mode == "bundle") {
    (void)tessel::aot::Bundle::load(arg);
    return 0;
  }
  std::fprintf(stderr, "usage: bad_input_helper launch|recompile|sim|device|bundle DIR\n");
  return 2;
}

} // namespace

int main(int argc, char** argv) {
  if (argc < 2)
    return run("", "");
  try {
    int rc = run(argv[1], argc > 2 ? argv[2] : "");
    if (rc == 0)
      std::printf("ok\n");
    return rc;
  } catch (const tessel::Error& e) {
    std::fprintf(stderr, "error: %s\n", e.what());
    return 1;
  }
}
