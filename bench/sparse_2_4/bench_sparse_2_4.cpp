// ops::matmul_sparse_2_4 on the CPU against ops::matmul with the dense f16 weights, same machine,
// same run: x [M, K] f16 by w [K, N] (K = 384, N = 1536, MiniLM's FFN shape, and K = N = 4096),
// M = 1, 16, 64, f32 out. Prints min and median of 9 runs of each and the ratio of the medians
// (sparse / dense: above 1 is slower). The sparse op's CPU path decompresses and then runs the
// dense matmul, so the ratio is the decompression's cost; a GPU figure needs the mma.sp kernel.
//
//   build/release/bin/bench_sparse_2_4
#include "tessel/tessel.h"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <random>
#include <vector>

namespace {

using namespace tessel;

struct Times {
  double min_ms, median_ms;
};

template <class F> Times time_runs(F&& f) {
  f(); // warm-up: compiles
  std::vector<double> t;
  for (int i = 0; i < 9; ++i) {
    auto a = std::chrono::steady_clock::now();
    f();
    t.push_back(
        std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - a).count());
  }
  std::sort(t.begin(), t.end());
  return {t.front(), t[t.size() / 2]};
}

std::vector<uint16_t> random_f16(size_t n, uint32_t seed) {
  std::mt19937 gen(seed);
  std::normal_distribution<float> d(0.0f, 1.0f);
  std::vector<uint16_t> v(n);
  for (uint16_t& h : v)
    h = float_to_half(d(gen));
  return v;
}

} // namespace

int main() {
  std::printf("%6s %6s %6s | %-18s | %-18s | %s\n", "M", "K", "N", "dense min/med ms",
              "2:4 min/med ms", "ratio (medians)");
  for (auto [k, n] : {std::pair<int64_t, int64_t>{384, 1536}, {4096, 4096}}) {
    std::vector<uint16_t> w = random_f16(size_t(k * n), 1), values(size_t(n * k / 2)),
                          meta(size_t(n * k / 16));
    TensorView wv(w.data(), DType::f16, {k, n}), vv(values.data(), DType::f16, {n, k / 2}),
        mv(meta.data(), DType::i16, {n, k / 16});
    ops::prune_2_4(wv, vv, mv);
    for (int64_t m : {1, 16, 64}) {
      std::vector<uint16_t> x = random_f16(size_t(m * k), 2);
      std::vector<float> out(size_t(m * n));
      TensorView xv(x.data(), DType::f16, {m, k}), ov(out.data(), {m, n});
      Times dense = time_runs([&] { ops::matmul(xv, wv, ov); });
      Times sparse = time_runs([&] { ops::matmul_sparse_2_4(xv, vv, mv, ov); });
      std::printf("%6lld %6lld %6lld | %7.3f / %7.3f    | %7.3f / %7.3f    | %.2f\n",
                  static_cast<long long>(m), static_cast<long long>(k), static_cast<long long>(n),
                  dense.min_ms, dense.median_ms, sparse.min_ms, sparse.median_ms,
                  sparse.median_ms / dense.median_ms);
    }
  }
}
