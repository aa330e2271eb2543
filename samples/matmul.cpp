// samples/matmul: C = A @ B written the way Triton's matmul tutorial writes it — grouped program
// ordering, masks for ragged M, N and K edges, an f32 accumulator, and the output cast — plus
// the host code that launches it through an Autotuner (tessel/jit/autotune.h).
#include "tessel/samples/samples.h"

#include "tessel/tessel.h"

#include <algorithm>

namespace tessel::samples {

namespace tl = tessel::lang;

const Kernel& matmul() {
  static const Kernel k = tl::kernel(
      "matmul",
      "c, a, b, M, N, K, stride_am, stride_ak, stride_bk, stride_bn, stride_cm, stride_cn, "
      "BLOCK_M, BLOCK_N, BLOCK_K, GROUP_M",
      [](tl::Ptr c, tl::Ptr a, tl::Ptr b, tl::Int M, tl::Int N, tl::Int K, tl::Int stride_am,
         tl::Int stride_ak, tl::Int stride_bk, tl::Int stride_bn, tl::Int stride_cm,
         tl::Int stride_cn, tl::Const<int> BLOCK_M, tl::Const<int> BLOCK_N, tl::Const<int> BLOCK_K,
         tl::Const<int> GROUP_M) {
        // Grouped ordering: consecutive programs walk down GROUP_M rows of tiles before moving
        // right, so the columns of B they share are still in L2 when the next one needs them.
        auto pid = tl::program_id(0);
        auto tiles_m = (M + BLOCK_M - 1) / BLOCK_M, tiles_n = (N + BLOCK_N - 1) / BLOCK_N;
        auto per_group = GROUP_M * tiles_n;
        auto first_m = pid / per_group * GROUP_M;
        auto group_m = tl::minimum(tiles_m - first_m, GROUP_M);
        auto pid_m = first_m + pid % per_group % group_m;
        auto pid_n = pid % per_group / group_m;
        auto rm = tl::expand_dims(pid_m * BLOCK_M + tl::arange(0, BLOCK_M), 1); // BLOCK_M x 1
        auto rn = tl::expand_dims(pid_n * BLOCK_N + tl::arange(0, BLOCK_N), 0); // 1 x BLOCK_N
        auto rk = tl::arange(0, BLOCK_K);
        auto acc = tl::zeros({BLOCK_M, BLOCK_N}, tl::f32); // f32 whatever the inputs are
        tl::for_range(0, K, BLOCK_K, [&](tl::Int k) {
          auto ka = tl::expand_dims(k + rk, 0), kb = tl::expand_dims(k + rk, 1);
          auto a_tile = tl::load(a + rm * stride_am + ka * stride_ak, (rm < M) & (ka < K), 0.0);
          auto b_tile = tl::load(b + kb * stride_bk + rn * stride_bn, (kb < K) & (rn < N), 0.0);
          acc = tl::dot(a_tile, b_tile, acc);
        });
        // The output cast: the accumulator rounded once to C's element type.
        tl::store(c + rm * stride_cm + rn * stride_cn, acc.to(c.dtype()), (rm < M) & (rn < N));
      });
  return k;
}

namespace {

// Triton's tutorial configs for sm_80-class GPUs, largest tiles first, and last a small tile for
// the CPU backend (whose compile time grows with the tile).
std::vector<TuneConfig> matmul_configs() {
  auto c = [](int64_t m, int64_t n, int64_t k, int warps, int stages) {
    return TuneConfig{
        {{"BLOCK_M", m}, {"BLOCK_N", n}, {"BLOCK_K", k}, {"GROUP_M", 8}}, warps, stages};
  };
  return {c(128, 256, 64, 8, 3), c(64, 256, 32, 4, 4), c(128, 128, 32, 4, 4),
          c(128, 64, 32, 4, 4),  c(64, 128, 32, 4, 4), c(128, 32, 32, 4, 4),
          c(64, 32, 32, 2, 5),   c(32, 64, 32, 2, 5),  c(32, 32, 32, 4, 2)};
}

AutotuneOptions matmul_tuning() {
  AutotuneOptions o;
  o.key = {"M", "N", "K"};
  o.grid = [](const TuneConfig& c, const TuneContext& t) {
    auto tiles = [](int64_t n, int64_t block) { return (n + block - 1) / block; };
    return Grid(tiles(t.value("M"), c.get("BLOCK_M")) * tiles(t.value("N"), c.get("BLOCK_N")));
  };
  // A tile taller or wider than the problem's bucket computes mostly masked-off elements (the
  // 32 x 32 config is never pruned, so something always fits).
  o.prune = [](const TuneConfig& c, const TuneContext& t) -> std::string {
    if (c.get("BLOCK_M") > std::max<int64_t>(t.buckets[0], 32) ||
        c.get("BLOCK_N") > std::max<int64_t>(t.buckets[1], 32))
      return "tile larger than the M x N bucket";
    return "";
  };
  // Without timing: on the CPU the smallest tile (the last that fits), on the simulated device
  // the largest tile the problem fills (the first that fits).
  o.heuristic_name = "cpu: smallest tile; gpu: largest tile that fits the problem";
  o.heuristic = [](std::span<const TuneConfig> fitting, const TuneContext& t) {
    return t.device == DeviceKind::cpu ? fitting.size() - 1 : size_t(0);
  };
  return o;
}

void check_operands(const TensorView& a, const TensorView& b, const TensorView& c) {
  auto shape = [](const TensorView& v) {
    return v.rank == 2 ? std::to_string(v.shape[0]) + "x" + std::to_string(v.shape[1])
                       : "rank " + std::to_string(v.rank);
  };
  if (a.rank != 2 || b.rank != 2 || c.rank != 2 || a.shape[1] != b.shape[0] ||
      c.shape[0] != a.shape[0] || c.shape[1] != b.shape[1])
    throw Error("samples::launch_matmul: C (" + shape(c) + ") = A (" + shape(a) + ") @ B (" +
                shape(b) + ") needs A MxK, B KxN and C MxN");
}

} // namespace

const Autotuner& matmul_autotuner() {
  static const Autotuner tuner(matmul(), matmul_configs(), matmul_tuning());
  return tuner;
}

TuneChoice launch_matmul(const TensorView& a, const TensorView& b, const TensorView& c,
                         const LaunchOptions& options) {
  check_operands(a, b, c);
  const Autotuner& t = matmul_autotuner();
  const int64_t m = a.shape[0], n = b.shape[1], k = a.shape[1];
  TuneChoice choice = t.choose(options, c, a, b, m, n, k, a.strides[0], a.strides[1], b.strides[0],
                               b.strides[1], c.strides[0], c.strides[1]);
  t.launch(options, c, a, b, m, n, k, a.strides[0], a.strides[1], b.strides[0], b.strides[1],
           c.strides[0], c.strides[1]);
  return choice;
}

} // namespace tessel::samples
