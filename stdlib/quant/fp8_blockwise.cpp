// fp8 with block scales (tessel/ops/fp8_blockwise.h): argument checks and launches of
// fp8_blockwise_kernels.cpp.
#include "tessel/ops/fp8_blockwise.h"

#include "stdlib/common/args.h"
#include "stdlib/matmul/bind_chain.h"
#include "stdlib/matmul/fp8_target.h"
#include "stdlib/quant/fp8_blockwise_kernels.h"

#include <fmt/format.h>

#include <algorithm>

namespace tessel::ops {
namespace {

using detail::OpSite;

constexpr int64_t kMaxI32 = INT32_MAX;

int64_t cdiv(int64_t a, int64_t b) { return (a + b - 1) / b; }

int64_t blocks(int64_t n) { return cdiv(n, kFp8ScaleBlock); }

// The rows of a quantized block the quantizer's program holds at once: 16 rows of 128 columns
// (2048 values, 16 per thread at 4 warps), for either block shape.
constexpr int kQuantRows = 16;

void check_rank2(const OpSite& s, const char* arg, const TensorView& v, const char* dims) {
  if (v.rank != 2)
    s.fail(fmt::format("{} has shape {}; expected [{}]", arg, detail::shape_str(v), dims));
}

// A rank-2 operand with strides >= 0 whose largest offset fits the kernels' i32 arithmetic.
void check_span(const OpSite& s, const char* arg, const TensorView& v) {
  if (v.strides[0] < 0 || v.strides[1] < 0)
    s.fail(fmt::format("{} has strides [{}, {}]; expected strides >= 0", arg, v.strides[0],
                       v.strides[1]));
  int64_t last = std::max<int64_t>(v.shape[0] - 1, 0) * v.strides[0] +
                 std::max<int64_t>(v.shape[1] - 1, 0) * v.strides[1];
  if (last >= kMaxI32 || v.strides[0] > kMaxI32 || v.strides[1] > kMaxI32)
    s.fail(fmt::format("{} has shape {}: one matrix must span fewer than 2^31 elements", arg,
                       detail::shape_str(v)));
  if (v.numel() > 0 && v.data == nullptr)
    s.fail(fmt::format("{} has shape {} but a null data pointer", arg, detail::shape_str(v)));
}

// scales: f32 [rows, cols] (`why` says what they are the scales of) on `ref`'s device.
void check_scales(const OpSite& s, const char* arg, const TensorView& v, int64_t rows, int64_t cols,
                  const std::string& why, const TensorView& ref, const char* ref_arg) {
  detail::check_dtype(s, arg, v, DType::f32);
  if (v.rank != 2 || v.shape[0] != rows || v.shape[1] != cols)
    s.fail(fmt::format("{} has shape {}; expected [{}, {}] ({})", arg, detail::shape_str(v), rows,
                       cols, why));
  check_span(s, arg, v);
  detail::check_device(s, arg, v, ref_arg, ref);
}

int fp8_code(const OpSite& s, const TensorView& q) {
  if (q.dtype == DType::f8e4m3)
    return 1;
  if (q.dtype == DType::f8e5m2)
    return 2;
  s.fail(fmt::format("q has dtype {}; expected f8e4m3 or f8e5m2", dtype_name(q.dtype)));
}

// Unset: block_m M's power of two from 16 (1 on the CPU) to 64, block_n 64 (CPU 128); block_k
// 128 on the CPU, 64 on a GPU with 4 warps at block_m 16 and 8 above (at block_k 128 the 64 x 64
// tile spills on sm_89 at either warp count, 28 / 20 bytes at 255 registers; at 64 and 8 warps it
// takes 184: docs/stdlib.md has the table). Given: powers of two, block_k dividing 128 (at least
// 32 on a GPU: the fp8 mma's K).
MatmulConfig blockwise_config(const OpSite& s, const Fp8BlockwiseOptions& o, DeviceKind device,
                              int64_t m) {
  const bool cpu = device == DeviceKind::cpu;
  MatmulConfig c;
  if (o.config) {
    c = *o.config;
  } else {
    c.block_m = cpu ? 1 : 16;
    while (c.block_m < m && c.block_m < 64)
      c.block_m *= 2;
    c.block_n = cpu ? 128 : 64;
    c.block_k = cpu ? kFp8ScaleBlock : 64;
    c.num_warps = cpu || c.block_m <= 16 ? 4 : 8;
  }
  const int lo = cpu ? 1 : 16, lo_k = cpu ? 1 : 32;
  auto pow2 = [](int v, int least, int most) {
    return v >= least && v <= most && (v & (v - 1)) == 0;
  };
  if (!pow2(c.block_m, lo, 256) || !pow2(c.block_n, lo, 256))
    s.fail(fmt::format("config is {} x {}; expected block_m and block_n powers of two from {} to "
                       "256",
                       c.block_m, c.block_n, lo));
  if (!pow2(c.block_k, lo_k, kFp8ScaleBlock))
    s.fail(fmt::format("config.block_k is {}; expected a power of two from {} to {} (a k-step "
                       "must lie in one scale block)",
                       c.block_k, lo_k, kFp8ScaleBlock));
  if (c.num_warps < 1 || c.num_warps > 16 || (c.num_warps & (c.num_warps - 1)) != 0)
    s.fail(fmt::format("config.num_warps is {}; expected 1, 2, 4, 8 or 16", c.num_warps));
  return c;
}

} // namespace

void quantize_fp8_blockwise(const TensorView& x, const TensorView& q, const TensorView& scales,
                            Fp8Blocks blocks_of, Stream* stream, std::source_location where) {
  OpSite s{"quantize_fp8_blockwise", where};
  detail::check_float(s, "x", x);
  const int code = fp8_code(s, q);
  check_rank2(s, "x", x, "rows, cols");
  detail::check_like(s, "q", q, "x", x);
  detail::Rows xr = detail::rows_of(s, "x", x), qr = detail::rows_of(s, "q", q);
  check_span(s, "x", x);
  check_span(s, "q", q);
  const bool weight = blocks_of == Fp8Blocks::block_128x128;
  const int64_t scale_rows = weight ? blocks(xr.rows) : xr.rows;
  check_scales(s, "scales", scales, scale_rows, blocks(xr.cols),
               weight ? "one per 128 x 128 block of x" : "one per row and 128 columns of x", x,
               "x");
  if (scales.shape[1] > 1 && scales.strides[1] != 1)
    s.fail(fmt::format("scales has column stride {}; expected contiguous rows (stride 1)",
                       scales.strides[1]));
  if (xr.empty())
    return;
  const int64_t row_programs = weight ? blocks(xr.rows) : cdiv(xr.rows, kQuantRows);
  detail::quantize_fp8_blockwise_kernel().launch(
      detail::grid_at(s, row_programs, blocks(xr.cols)),
      detail::launch_options(kQuantRows * kFp8ScaleBlock, stream), q, scales, x, int(xr.rows),
      int(xr.cols), int(xr.stride), int(qr.stride), int(scales.strides[0]), weight ? 1 : 0, code,
      kQuantRows);
}

void matmul_fp8_blockwise(const TensorView& a, const TensorView& a_scales, const TensorView& b,
                          const TensorView& b_scales, const TensorView& out,
                          const Fp8BlockwiseOptions& options, Stream* stream,
                          std::source_location where) {
  OpSite s{"matmul_fp8_blockwise", where};
  for (auto [arg, v] : {std::pair{"a", &a}, std::pair{"b", &b}})
    if (!dtype_is_fp8(v->dtype))
      s.fail(fmt::format("{} has dtype {}; expected f8e4m3 or f8e5m2", arg, dtype_name(v->dtype)));
  detail::check_float(s, "out", out);
  check_rank2(s, "a", a, "M, K");
  check_rank2(s, "b", b, "K, N");
  check_rank2(s, "out", out, "M, N");
  const int64_t m = a.shape[0], k = a.shape[1], n = b.shape[1];
  if (b.shape[0] != k)
    s.fail(fmt::format("a has shape {} and b has shape {}: a's K ({}) differs from b's K ({})",
                       detail::shape_str(a), detail::shape_str(b), k, b.shape[0]));
  if (out.shape[0] != m || out.shape[1] != n)
    s.fail(fmt::format("out has shape {}; expected [{}, {}] (a's M by b's N)",
                       detail::shape_str(out), m, n));
  for (auto [arg, v] : {std::pair{"a", &a}, std::pair{"b", &b}, std::pair{"out", &out}})
    check_span(s, arg, *v);
  if (n > 1 && out.strides[1] != 1)
    s.fail(fmt::format("out has column stride {}; expected contiguous rows (stride 1)",
                       out.strides[1]));
  for (auto [arg, v] : {std::pair{"b", &b}, std::pair{"out", &out}})
    detail::check_device(s, arg, *v, "a", a);
  check_scales(s, "a_scales", a_scales, m, blocks(k), "one per row of a and 128 columns of K", a,
               "a");
  check_scales(s, "b_scales", b_scales, blocks(k), blocks(n), "one per 128 x 128 block of b", a,
               "a");
  detail::check_fp8_target(s, a, b);
  MatmulConfig cfg = blockwise_config(s, options, a.device, m);
  detail::BoundChain bc =
      detail::bind_chain(s, options.epilogue, {out, 1, m, n, DType::f32, cfg.block_m, cfg.block_n});
  if (m == 0 || n == 0)
    return;
  LaunchOptions lo;
  lo.num_warps = cfg.num_warps;
  lo.stream = stream;
  detail::SlotArgs sa = detail::slot_args(bc, out);
  detail::fp8_blockwise_kernel_for(bc.key, bc.chain)
      .launch(GridAt(Grid(cdiv(m, cfg.block_m) * cdiv(n, cfg.block_n)), where), lo, out, a, b,
              a_scales, b_scales, sa.views[0], sa.views[1], int(m), int(n), int(k),
              int(a.strides[0]), int(a.strides[1]), int(b.strides[0]), int(b.strides[1]),
              int(out.strides[0]), int(a_scales.strides[0]), int(a_scales.strides[1]),
              int(b_scales.strides[0]), int(b_scales.strides[1]), sa.strides[0][1],
              sa.strides[0][2], sa.strides[1][1], sa.strides[1][2], sa.scalars[0], sa.scalars[1],
              sa.scalars[2], sa.scalars[3], cfg.block_m, cfg.block_n, cfg.block_k);
}

} // namespace tessel::ops
