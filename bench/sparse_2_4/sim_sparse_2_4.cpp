// ops::matmul_sparse_2_4's GPU kernel on the simulated device (DeviceKind::sim; its target from
// TESSEL_SIM_TARGET, default sm_80) at num_stages 1 (no cp.async ring: the kernel as it was before
// the K loop was pipelined) to 4, without and with an epilogue chain (bias, gelu): run it with
// TESSEL_SIM_PROFILE=1 and the simulator prints each launch's executed thread and warp
// instructions, shared wavefronts and bank conflicts (runtime/sim_device.cpp) -- counts of the
// work the kernel does, which do not depend on the machine's load (no timing here: the simulator
// is not a GPU). Shapes: x [M, K] f16 with M = 16 (the 16-row decode tile) and 64 (the 64-row
// tile), K = 384, N = 1536 (MiniLM's FFN shape), f32 out.
//
//   TESSEL_SIM_PROFILE=1 build/release/bin/sim_sparse_2_4
#include "tessel/runtime/device_buffer.h"
#include "tessel/tessel.h"

#include <cstdio>
#include <random>
#include <vector>

namespace {

using namespace tessel;

std::vector<uint16_t> random_f16(size_t n, uint32_t seed) {
  std::mt19937 gen(seed);
  std::normal_distribution<float> d(0.0f, 1.0f);
  std::vector<uint16_t> v(n);
  for (uint16_t& h : v)
    h = float_to_half(d(gen));
  return v;
}

// `host` copied to a simulated-device buffer, viewed as `dtype` [rows, cols].
struct OnSim {
  runtime::DeviceBuffer buf;
  TensorView view;
};

OnSim on_sim(const void* host, size_t bytes, DType dtype, int64_t rows, int64_t cols) {
  OnSim s{runtime::DeviceBuffer::allocate_on(DeviceKind::sim, bytes), {}};
  if (host)
    s.buf.copy_from_host(host, bytes);
  s.view = TensorView(s.buf.data(), dtype, {rows, cols}, DeviceKind::sim);
  return s;
}

} // namespace

int main() {
  const int64_t k = 384, n = 1536;
  std::vector<uint16_t> w = random_f16(size_t(k * n), 1), values(size_t(n * k / 2)),
                        meta(size_t(n * k / 16));
  ops::prune_2_4(TensorView(w.data(), DType::f16, {k, n}),
                 TensorView(values.data(), DType::f16, {n, k / 2}),
                 TensorView(meta.data(), DType::i16, {n, k / 16}));
  OnSim vv = on_sim(values.data(), values.size() * 2, DType::f16, n, k / 2);
  OnSim mv = on_sim(meta.data(), meta.size() * 2, DType::i16, n, k / 16);
  std::vector<float> bias(size_t(n), 0.5f);
  OnSim bv = on_sim(bias.data(), bias.size() * 4, DType::f32, 1, n);
  const TensorView bias_view(bv.buf.data(), DType::f32, {n}, DeviceKind::sim);
  for (int64_t m : {16, 64}) {
    std::vector<uint16_t> x = random_f16(size_t(m * k), 2);
    OnSim xv = on_sim(x.data(), x.size() * 2, DType::f16, m, k);
    OnSim ov = on_sim(nullptr, size_t(m * n) * 4, DType::f32, m, n);
    for (bool chain : {false, true})
      for (int stages : {1, 2, 3, 4}) {
        ops::Sparse24Options o;
        o.num_stages = stages;
        if (chain)
          o.epilogue = {ops::bias(bias_view), ops::gelu()};
        std::fprintf(stderr, "M %lld K %lld N %lld, num_stages %d%s:\n", static_cast<long long>(m),
                     static_cast<long long>(k), static_cast<long long>(n), stages,
                     chain ? ", epilogue bias + gelu" : "");
        ops::matmul_sparse_2_4(xv.view, vv.view, mv.view, ov.view, o);
      }
  }
}
