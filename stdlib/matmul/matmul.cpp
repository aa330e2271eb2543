// ops::matmul: argument checks, the epilogue chain and its kernel key, the config, and the
// launches of matmul_kernels.cpp (one tile kernel; with split-K, partials and a reduction).
#include "stdlib/matmul/bind_chain.h"
#include "stdlib/matmul/config.h"
#include "stdlib/matmul/fp8_target.h"
#include "stdlib/matmul/matmul_kernels.h"
#include "stdlib/matmul/persistent.h"
#include "tessel/codegen/target.h"
#include "tessel/jit/autotune.h"
#include "tessel/runtime/device.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <span>
#include <utility>

namespace tessel::ops {
namespace {

using detail::OpSite;

// An operand as a batch of matrices: extents and strides in elements (batch stride 0 when the
// matrix is shared by every batch).
struct Mat {
  int64_t batch = 1, rows = 0, cols = 0;
  int64_t sb = 0, sr = 0, sc = 0;
};

constexpr int64_t kMaxI32 = INT32_MAX;

Mat mat_of(const OpSite& s, const char* arg, const TensorView& v, const char* dims) {
  if (v.rank != 2 && v.rank != 3)
    s.fail(fmt::format("{} has shape {}; expected [{}] or [batch, {}]", arg, detail::shape_str(v),
                       dims, dims));
  int o = v.rank - 2;
  Mat m{v.rank == 3 ? v.shape[0] : 1,   v.shape[o],   v.shape[o + 1],
        v.rank == 3 ? v.strides[0] : 0, v.strides[o], v.strides[o + 1]};
  if (m.batch == 1)
    m.sb = 0;
  for (int i = 0; i < v.rank; ++i)
    if (v.strides[i] < 0)
      s.fail(fmt::format("{} has a negative stride ({} in dimension {}); expected strides >= 0",
                         arg, v.strides[i], i));
  if (v.numel() > 0 && v.data == nullptr)
    s.fail(fmt::format("{} has shape {} but a null data pointer", arg, detail::shape_str(v)));
  // In-matrix offsets are i32 in the kernels; batch offsets are i64 but the stride is an i32.
  int64_t last = std::max<int64_t>(m.rows - 1, 0) * m.sr + std::max<int64_t>(m.cols - 1, 0) * m.sc;
  if (last > kMaxI32 || m.sb > kMaxI32 || m.rows > kMaxI32 || m.cols > kMaxI32)
    s.fail(fmt::format("{} has shape {} with strides reaching element {}; one matrix of a batch "
                       "must span fewer than 2^31 elements",
                       arg, detail::shape_str(v), std::max(last, m.sb)));
  return m;
}

bool is_float(DType t) { return t == DType::f32 || t == DType::f16 || t == DType::bf16; }

void check_dtypes(const OpSite& s, const TensorView& a, const TensorView& b, const TensorView& c) {
  if (!is_float(a.dtype) && a.dtype != DType::i8 && !dtype_is_fp8(a.dtype))
    s.fail(fmt::format("a has dtype {}; expected f16, bf16, f32, i8, f8e4m3 or f8e5m2",
                       dtype_name(a.dtype)));
  // fp8 pairs may mix (mma.sync takes e4m3 x e5m2); the other operands have one dtype.
  const bool fp8_pair = dtype_is_fp8(a.dtype) && dtype_is_fp8(b.dtype);
  if (b.dtype != a.dtype && !fp8_pair)
    s.fail(fmt::format("b has dtype {} but a has dtype {}; expected operands of one dtype (or "
                       "two fp8 dtypes)",
                       dtype_name(b.dtype), dtype_name(a.dtype)));
  if (a.dtype == DType::i8 ? !(c.dtype == DType::i32 || is_float(c.dtype)) : !is_float(c.dtype))
    s.fail(fmt::format("c has dtype {}; expected {} for {} operands", dtype_name(c.dtype),
                       a.dtype == DType::i8 ? "i32 (or f32, f16, bf16)" : "f32, f16 or bf16",
                       dtype_name(a.dtype)));
}

// A batched operand's batch must be c's or be shared (1).
void check_batch(const OpSite& s, const char* arg, const TensorView& v, const Mat& m, int64_t batch,
                 const TensorView& c) {
  if (m.batch != 1 && m.batch != batch)
    s.fail(fmt::format("{} has shape {} but c has shape {}; expected {}'s batch to be c's ({}) or "
                       "1 (shared by every batch)",
                       arg, detail::shape_str(v), detail::shape_str(c), arg, batch));
}

// The shapes of a call: a [batch?, M, K] @ b [batch?, K, N] -> c [batch?, M, N].
struct Problem {
  Mat a, b, c;
  int64_t batch = 1, m = 0, n = 0, k = 0;
};

Problem check_shapes(const OpSite& s, const TensorView& a, const TensorView& b,
                     const TensorView& c) {
  Problem p{mat_of(s, "a", a, "M, K"), mat_of(s, "b", b, "K, N"), mat_of(s, "c", c, "M, N")};
  if (p.a.cols != p.b.rows)
    s.fail(fmt::format("a has shape {} and b has shape {}: a's K ({}) differs from b's K ({})",
                       detail::shape_str(a), detail::shape_str(b), p.a.cols, p.b.rows));
  p.batch = p.c.batch;
  p.m = p.a.rows;
  p.n = p.b.cols;
  p.k = p.a.cols;
  if (c.rank == 2 && std::max(p.a.batch, p.b.batch) > 1)
    s.fail(fmt::format("c has shape {} but a has shape {} and b has shape {}; a batched product "
                       "needs c of shape [batch, {}, {}]",
                       detail::shape_str(c), detail::shape_str(a), detail::shape_str(b), p.m, p.n));
  if (p.c.rows != p.m || p.c.cols != p.n)
    s.fail(fmt::format("c has shape {} but a @ b is [{}, {}] (a {}, b {}); expected c's last two "
                       "dimensions to be [{}, {}]",
                       detail::shape_str(c), p.m, p.n, detail::shape_str(a), detail::shape_str(b),
                       p.m, p.n));
  check_batch(s, "a", a, p.a, p.batch, c);
  check_batch(s, "b", b, p.b, p.batch, c);
  // Distinct output elements must be distinct memory.
  bool empty = p.batch == 0 || p.m == 0 || p.n == 0;
  if (!empty &&
      ((p.m > 1 && p.c.sr == 0) || (p.n > 1 && p.c.sc == 0) || (p.batch > 1 && p.c.sb == 0)))
    s.fail(fmt::format(
        "c has strides [{}] with a zero stride: its elements overlap; pass an "
        "output with distinct elements",
        fmt::join(std::vector<int64_t>(c.strides.begin(), c.strides.begin() + c.rank), ", ")));
  return p;
}

void check_split(const OpSite& s, const MatmulOptions& o, const Problem& p, const TensorView& c,
                 DType acc) {
  if (o.split_k < 1 || o.split_k > 1024)
    s.fail(fmt::format("split_k is {}; expected 1 (no split) to 1024", o.split_k));
  if (o.split_k == 1)
    return;
  int64_t need = int64_t(o.split_k) * p.batch * p.m * p.n;
  const TensorView& w = o.workspace;
  if (w.data == nullptr || w.numel() < need)
    s.fail(fmt::format("split_k is {} but {}; pass as workspace a contiguous {} tensor of at "
                       "least split_k * batch * M * N = {} elements "
                       "(ops::matmul_workspace_elements)",
                       o.split_k,
                       w.data == nullptr ? std::string("no workspace was given")
                                         : fmt::format("workspace has {} elements", w.numel()),
                       dtype_name(acc), need));
  detail::check_dtype(s, "workspace", w, acc);
  detail::check_device(s, "workspace", w, "c", c);
  int64_t expected = 1;
  for (int i = w.rank - 1; i >= 0; --i) {
    if (w.shape[i] != 1 && w.strides[i] != expected)
      s.fail("workspace is not contiguous; expected a contiguous tensor");
    expected *= w.shape[i];
  }
  if (p.m * p.n > kMaxI32)
    s.fail(fmt::format("split_k with an M x N of {} elements; split-K takes outputs of fewer than "
                       "2^31 elements per batch",
                       p.m * p.n));
}

// MatmulOptions::a_scale / b_scale: finite, and applied as the chain's first step.
std::vector<Epilogue> scaled_chain(const OpSite& s, const MatmulOptions& o) {
  for (auto [name, v] : {std::pair{"a_scale", o.a_scale}, std::pair{"b_scale", o.b_scale}})
    if (!std::isfinite(v))
      s.fail(fmt::format("options.{} is {}; expected a finite scale", name, v));
  if (o.a_scale == 1.0f && o.b_scale == 1.0f)
    return o.epilogue;
  std::vector<Epilogue> chain{scale(o.a_scale * o.b_scale)};
  chain.insert(chain.end(), o.epilogue.begin(), o.epilogue.end());
  return chain;
}

int64_t cdiv(int64_t a, int64_t b) { return (a + b - 1) / b; }

struct Launch {
  const OpSite& site;
  const Problem& p;
  const MatmulConfig& cfg;
  LaunchOptions options;
};

// Calls f with the tile kernel's arguments but its four constants (BM, BN, BK, GROUP_M): the one
// list of them, for a launch and for the autotuner's choice.
template <class F>
void with_tile_args(const Launch& l, const TensorView& a, const TensorView& b,
                    const TensorView& out, std::array<int64_t, 3> out_strides, int64_t k_split,
                    const detail::SlotArgs& sa, F&& f) {
  const Problem& p = l.p;
  f(out, a, b, sa.views[0], sa.views[1], int(p.m), int(p.n), int(p.k),
    int(std::max<int64_t>(k_split, 1)), int(p.a.sb), int(p.a.sr), int(p.a.sc), int(p.b.sb),
    int(p.b.sr), int(p.b.sc), int(out_strides[0]), int(out_strides[1]), int(out_strides[2]),
    sa.strides[0][0], sa.strides[0][1], sa.strides[0][2], sa.strides[1][0], sa.strides[1][1],
    sa.strides[1][2], sa.scalars[0], sa.scalars[1], sa.scalars[2], sa.scalars[3]);
}

void launch_tile(const Launch& l, const Kernel& k, const TensorView& a, const TensorView& b,
                 const TensorView& out, std::array<int64_t, 3> out_strides, int splits,
                 const detail::SlotArgs& sa) {
  const Problem& p = l.p;
  int64_t k_split = p.k;
  if (splits > 1)
    k_split = cdiv(cdiv(p.k, splits), l.cfg.block_k) * l.cfg.block_k;
  int64_t tiles = cdiv(p.m, l.cfg.block_m) * cdiv(p.n, l.cfg.block_n);
  with_tile_args(l, a, b, out, out_strides, k_split, sa, [&](const auto&... args) {
    k.launch(GridAt(Grid(tiles, p.batch, splits), l.site.where), l.options, args..., l.cfg.block_m,
             l.cfg.block_n, l.cfg.block_k, l.cfg.group_m);
  });
}

// The persistent tile kernel (MatmulOptions::persistent): one program per multiprocessor of c's
// device (never more than the tiles) per batch, each looping over its tiles.
void launch_persistent(const Launch& l, const Kernel& k, const TensorView& a, const TensorView& b,
                       const TensorView& c, const detail::SlotArgs& sa) {
  const Problem& p = l.p;
  const int64_t tiles = cdiv(p.m, l.cfg.block_m) * cdiv(p.n, l.cfg.block_n);
  const int64_t programs = detail::persistent_programs(c.device, c.device_index, tiles);
  with_tile_args(l, a, b, c, {p.c.sb, p.c.sr, p.c.sc}, p.k, sa, [&](const auto&... args) {
    k.launch(GridAt(Grid(programs, p.batch), l.site.where), l.options, args..., l.cfg.block_m,
             l.cfg.block_n, l.cfg.block_k, l.cfg.group_m);
  });
}

// ---- autotuning (MatmulOptions::autotune; docs/stdlib.md, "matmul autotuning") ----------------

TuneConfig tune_config(const MatmulConfig& c) {
  return {{{"BM", c.block_m}, {"BN", c.block_n}, {"BK", c.block_k}, {"GROUP_M", c.group_m}},
          c.num_warps,
          c.num_stages};
}

MatmulConfig matmul_config(const TuneConfig& t) {
  return {int(t.get("BM")),      int(t.get("BN")), int(t.get("BK")),
          int(t.get("GROUP_M")), t.num_warps,      t.num_stages};
}

// ---- the TMA form (matmul_kernels.h: MatmulKernels::tile_tma) ----------------------------------

// Whether the device compiles for a target with wgmma and TMA (sm_90a): where the TMA ring runs.
bool has_tma_ring(const TensorView& v) {
  if (v.device == DeviceKind::sim)
    return codegen::parse_target(runtime::sim_target_name()).has_wgmma();
  if (v.device == DeviceKind::cuda)
    return runtime::Device::get(v.device_index).properties().sm_version() == 90;
  return false;
}

// Box rows wgmma reads in place: one swizzle span (32, 64 or 128 bytes), or several 128-byte
// spans, which TMA copies as column blocks side by side (the default 32 x 128 f16 b box).
bool is_swizzle_span(int64_t bytes) {
  return bytes == 32 || bytes == 64 || (bytes >= 128 && bytes % 128 == 0);
}

// The TMA form's conditions (docs/stdlib.md "matmul on TMA"): 16-bit operands on an sm_90a
// device, one batch or batches of whole 16-byte strides, no K split, a and b row-major with rows of
// multiples of 16 bytes from 16-byte-aligned bases (the tensor map's rules), and boxes whose rows
// are one swizzle span or 128-byte column blocks and that hold whole 1024-byte swizzle patterns
// (the TMA ring's). Anything else: the cp.async form.
bool uses_tma(const Problem& p, const TensorView& a, const TensorView& b, const MatmulConfig& cfg,
              const MatmulOptions& o) {
  if ((a.dtype != DType::f16 && a.dtype != DType::bf16) || !has_tma_ring(a))
    return false;
  const int64_t eb = dtype_bytes(a.dtype);
  const auto aligned = [&](const void* ptr, int64_t row) {
    return reinterpret_cast<uintptr_t>(ptr) % 16 == 0 && (row * eb) % 16 == 0 && row > 0;
  };
  const auto whole = [&](int64_t rows, int64_t cols) {
    return rows >= 8 && (rows * cols * eb) % 1024 == 0;
  };
  // Batches: 3-D tensor maps (tile_tma_batched), whose batch strides are whole 16-byte multiples
  // and not 0 (an operand shared by every batch keeps the cp.async form: a zero stride in a
  // tensor map is not something the driver's rules are known to allow), at most the grid's
  // 65535 batches (the maps' batch extent, matmul_kernels.cpp).
  const auto batch_ok = [&](const Mat& m) { return m.sb > 0 && (m.sb * eb) % 16 == 0; };
  if (p.batch > 1 && (p.batch > 65535 || !batch_ok(p.a) || !batch_ok(p.b)))
    return false;
  return o.split_k == 1 && p.a.sc == 1 && p.b.sc == 1 && aligned(a.data, p.a.sr) &&
         aligned(b.data, p.b.sr) && is_swizzle_span(cfg.block_k * eb) &&
         is_swizzle_span(cfg.block_n * eb) && whole(cfg.block_m, cfg.block_k) &&
         whole(cfg.block_k, cfg.block_n);
}

bool same_config(const MatmulConfig& x, const MatmulConfig& y) {
  return x.block_m == y.block_m && x.block_n == y.block_n && x.block_k == y.block_k &&
         x.group_m == y.group_m && x.num_warps == y.num_warps && x.num_stages == y.num_stages;
}

int64_t pow2_at_least(int64_t n) {
  int64_t p = 1;
  while (p < n)
    p *= 2;
  return p;
}

// One autotuner per tile kernel (one per epilogue chain and precision) and operand dtype, over
// detail::tuning_candidates: keyed by M, N, K (power-of-two buckets); tiles much larger than the
// output pruned; without a GPU, the candidate choose_config names. Kept for the process's life,
// as the kernels are.
const Autotuner& tuner_for(const Kernel& tile, DType dtype) {
  static std::mutex mutex;
  static std::map<std::pair<const Kernel*, DType>, std::unique_ptr<Autotuner>> tuners;
  std::lock_guard lock(mutex);
  std::unique_ptr<Autotuner>& t = tuners[{&tile, dtype}];
  if (t)
    return *t;
  std::vector<TuneConfig> configs;
  for (const MatmulConfig& c : detail::tuning_candidates(dtype))
    configs.push_back(tune_config(c));
  AutotuneOptions o;
  o.key = {"M", "N", "K"};
  // The first batch's tiles: what timing launches (every batch's tiles run the same code).
  o.grid = [](const TuneConfig& c, const TuneContext& t) {
    return Grid(cdiv(t.value("M"), c.get("BM")) * cdiv(t.value("N"), c.get("BN")));
  };
  o.prune = [](const TuneConfig& c, const TuneContext& t) -> std::string {
    if (c.get("BM") > std::max<int64_t>(64, pow2_at_least(t.value("M"))) ||
        c.get("BN") > std::max<int64_t>(64, pow2_at_least(t.value("N"))))
      return fmt::format("a {} x {} tile for a {} x {} output computes mostly padding", c.get("BM"),
                         c.get("BN"), t.value("M"), t.value("N"));
    return "";
  };
  o.heuristic = [dtype](std::span<const TuneConfig> fitting, const TuneContext& t) -> size_t {
    MatmulConfig h = choose_config(t.device, t.value("M"), t.value("N"), t.value("K"), dtype);
    for (size_t i = 0; i < fitting.size(); ++i)
      if (same_config(matmul_config(fitting[i]), h))
        return i;
    return 0;
  };
  o.heuristic_name = "choose_config";
  t = std::make_unique<Autotuner>(tile, std::move(configs), std::move(o));
  return *t;
}

// The bytes from a view's first element to past its last (strides >= 0, checked before).
std::pair<uintptr_t, uintptr_t> byte_span(const TensorView& v) {
  int64_t last = 0;
  for (int i = 0; i < v.rank; ++i)
    last += std::max<int64_t>(v.shape[i] - 1, 0) * v.strides[i];
  uintptr_t begin = reinterpret_cast<uintptr_t>(v.data);
  return {begin, begin + uintptr_t((last + 1) * dtype_bytes(v.dtype))};
}

bool overlaps(const TensorView& x, const TensorView& y) {
  auto [xb, xe] = byte_span(x);
  auto [yb, ye] = byte_span(y);
  return xb < ye && yb < xe;
}

// Whether this call tunes: asked for, no config given, a GPU or the simulated device, one K
// split (split-K's k_split depends on BK), and no epilogue reading c (timing launches the kernel
// several times on the caller's c).
bool tunes(const MatmulOptions& o, const TensorView& c, const detail::Chain& chain,
           const std::vector<TensorView>& operands) {
  if (!o.autotune || o.config || o.split_k != 1 || c.device == DeviceKind::cpu)
    return false;
  for (const detail::ChainStep& step : chain)
    if (step.reads_output)
      return false;
  for (const TensorView& v : operands)
    if (overlaps(v, c))
      return false;
  return true;
}

void launch_reduce(const Launch& l, const Kernel& k, const TensorView& w, const TensorView& c,
                   int splits, const detail::SlotArgs& sa) {
  const Problem& p = l.p;
  int64_t tiles = cdiv(p.m, l.cfg.block_m) * cdiv(p.n, l.cfg.block_n);
  k.launch(GridAt(Grid(tiles, p.batch), l.site.where), l.options, c, w, sa.views[0], sa.views[1],
           int(p.m), int(p.n), splits, int(p.c.sb), int(p.c.sr), int(p.c.sc), sa.strides[0][0],
           sa.strides[0][1], sa.strides[0][2], sa.strides[1][0], sa.strides[1][1], sa.strides[1][2],
           sa.scalars[0], sa.scalars[1], sa.scalars[2], sa.scalars[3], l.cfg.block_m,
           l.cfg.block_n);
}

lang::Precision dot_precision(MatmulPrecision precision) {
  switch (precision) {
  case MatmulPrecision::ieee:
    return lang::Precision::ieee;
  case MatmulPrecision::tf32:
    return lang::Precision::tf32;
  case MatmulPrecision::tf32x3:
    return lang::Precision::tf32x3;
  }
  return lang::Precision::ieee;
}

} // namespace

int64_t matmul_workspace_elements(const TensorView& c, int split_k) {
  if (split_k < 1)
    throw Error(fmt::format("matmul_workspace_elements: split_k is {}; it must be 1 or more (the "
                            "value MatmulOptions::split_k will have)",
                            split_k));
  int64_t mn = c.rank >= 2 ? c.shape[c.rank - 2] * c.shape[c.rank - 1] : 0;
  return int64_t(split_k) * (c.rank == 3 ? c.shape[0] : 1) * mn;
}

void matmul(const TensorView& a, const TensorView& b, const TensorView& c,
            const MatmulOptions& options, Stream* stream, std::source_location where) {
  OpSite s{"matmul", where};
  check_dtypes(s, a, b, c);
  detail::check_device(s, "b", b, "a", a);
  detail::check_device(s, "c", c, "a", a);
  detail::check_fp8_target(s, a, b);
  Problem p = check_shapes(s, a, b, c);
  DType acc = a.dtype == DType::i8 ? DType::i32 : DType::f32;
  MatmulConfig cfg =
      options.config ? *options.config : choose_config(c.device, p.m, p.n, p.k, a.dtype);
  detail::check_config(s, cfg, c.device, a.dtype);
  check_split(s, options, p, c, acc);
  const bool persistent = detail::use_persistent(s, options);
  detail::BoundChain bc = detail::bind_chain(s, scaled_chain(s, options),
                                             {c, p.batch, p.m, p.n, acc, cfg.block_m, cfg.block_n});
  if (p.batch == 0 || p.m == 0 || p.n == 0)
    return;
  // Last of the checks: tiles of c are written while other programs still read a and b, so in
  // place the result would depend on the order the programs ran in.
  for (auto [arg, v] : {std::pair{"a", &a}, std::pair{"b", &b}})
    if (overlaps(c, *v))
      s.fail(fmt::format("c overlaps {} in memory; matmul cannot write its result over an input: "
                         "pass a separate c",
                         arg));
  const detail::MatmulKernels& kernels =
      detail::matmul_kernels(bc.key, bc.chain, dot_precision(options.precision));
  Launch l{s, p, cfg, {}};
  l.options.stream = stream;
  detail::SlotArgs sa = detail::slot_args(bc, c);
  if (tunes(options, c, bc.chain, bc.operands)) {
    with_tile_args(l, a, b, c, {p.c.sb, p.c.sr, p.c.sc}, p.k, sa, [&](const auto&... args) {
      cfg = matmul_config(*tuner_for(kernels.tile, a.dtype)
                               .choose(LaunchOptionsAt(l.options, s.where), args...)
                               .config);
    });
  }
  l.options.num_warps = cfg.num_warps;
  l.options.num_stages = cfg.num_stages;
  if (persistent) {
    launch_persistent(l, kernels.persistent, a, b, c, sa);
    return;
  }
  if (options.split_k == 1) {
    const Kernel& tile = !uses_tma(p, a, b, cfg, options) ? kernels.tile
                         : p.batch > 1                    ? kernels.tile_tma_batched
                                                          : kernels.tile_tma;
    launch_tile(l, tile, a, b, c, {p.c.sb, p.c.sr, p.c.sc}, 1, sa);
    return;
  }
  detail::SlotArgs none = detail::slot_args(detail::BoundChain{}, c);
  launch_tile(l, kernels.partial, a, b, options.workspace, {p.m * p.n, p.n, 1}, options.split_k,
              none);
  launch_reduce(l, kernels.reduce, options.workspace, c, options.split_k, sa);
}

} // namespace tessel::ops
