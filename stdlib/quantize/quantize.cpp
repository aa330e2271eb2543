// quantize / dequantize (include/tessel/ops/quantize.h): three DSL kernels and their launches.
//
// quant_scales reduces |x| to one amax per group — a row (per_token: one program per row, a loop
// over column blocks) or a column (per_channel: one program per block of columns, a loop over
// rows) — and writes amax / qmax. The whole tensor (per_tensor) is a parallel reduction in two
// steps: quant_scales' programs each reduce a strip of rows (rows p, p + P, ...) and fold their
// amax into scales[0] with an atomic max, which quant_tensor_scale zeroed first and turns into
// amax / qmax after. The max of non-negative floats is exact whatever the order, so the atomics
// give the same bits every run (NaN never reaches them: each program's maximum drops NaN).
// quantize and dequantize run one program per (row, block of columns), reading the group's scale:
// one scalar (per_tensor, per_token) or a vector along the columns (per_channel). The conversions
// are the language's (docs/semantics.md): f32 division, then int8 by a clamp and a rounding to
// nearest even, fp8 by tl::cast with or without saturation, so the CPU and the GPU give one bit
// pattern.
#include "tessel/ops/quantize.h"

#include "stdlib/common/args.h"
#include "stdlib/quantize/quantize_kernels.h"
#include "tessel/lang/control.h"
#include "tessel/lang/ops.h"

#include <fmt/format.h>

#include <algorithm>

namespace tessel::ops {

namespace tl = tessel::lang;

namespace {

// The largest magnitude each quantized type holds (int8 symmetric: -127..127).
double qmax_of(detail::QuantCode c) {
  switch (c) {
  case detail::QuantCode::int8:
    return 127;
  case detail::QuantCode::f8e4m3:
    return 448;
  case detail::QuantCode::f8e5m2:
    return 57344;
  }
  TESSEL_UNREACHABLE("bad QuantCode");
}

tl::Tensor i64(const tl::Tensor& t) { return t.to(DType::i64); }

// amax / qmax, or 1 for an all-zero group (which then quantizes to zeros).
tl::Tensor scale_of(const tl::Tensor& amax, double qmax) {
  return tl::where(amax > 0, amax / qmax, 1.0);
}

// x / scale to int8: clamped to [-127, 127], NaN made 0, then rounded to nearest even by adding
// 1.5 * 2^23: the sum lies in [2^23, 2^24), where the f32 spacing is 1, so the addition rounds,
// and its low mantissa bits hold the integer (two's complement around the bits of 1.5 * 2^23,
// 0x4b400000). Reading it from the bits rather than by a float-to-int8 cast keeps the CPU loop
// vectorized: LLVM scalarizes the saturating f32 -> i8 conversion (one vcvttss2si per element;
// quantize at 4096 x 4096 f32 went from 264 to 91 ms on one thread).
tl::Tensor to_int8(const tl::Tensor& v) {
  auto c = tl::where(v > 127, 127.0, tl::where(v < -127, -127.0, v));
  c = tl::where(v == v, c, 0.0);
  return (tl::bitcast(c + 12582912.0, DType::i32) - 0x4b400000).to(DType::i8);
}

} // namespace

namespace detail {

const Kernel& quant_scales_kernel() {
  static const Kernel k = tl::kernel(
      "quant_scales", "scales, x, rows, cols, x_stride, GRAN, QDTYPE, BLOCK",
      [](tl::Ptr scales, tl::Ptr x, tl::Int rows, tl::Int cols, tl::Int x_stride,
         tl::Const<int> GRAN, tl::Const<int> QDTYPE, tl::Const<int> BLOCK) {
        const double qmax = qmax_of(QuantCode(int(QDTYPE)));
        auto ar = tl::arange(0, BLOCK);
        auto amax = tl::zeros({BLOCK}, DType::f32);
        auto row_amax = [&](const tl::Tensor& row) { // one row's largest |x| (0 for NaN only)
          auto a = tl::zeros({BLOCK}, DType::f32);
          tl::for_range(0, cols, int64_t(BLOCK), [&](tl::Int c0) {
            auto c = c0 + ar;
            auto v = tl::load(x + i64(row) * i64(x_stride) + c, c < cols, 0.0).to(DType::f32);
            a = tl::maximum(a, tl::abs(v));
          });
          return tl::max(a, 0);
        };
        switch (QuantGranularity(int(GRAN))) {
        case QuantGranularity::per_token:
          tl::store(scales + tl::program_id(0), scale_of(row_amax(tl::program_id(0)), qmax));
          return;
        case QuantGranularity::per_tensor: { // this program's strip; quant_tensor_scale finishes
          // A scalar crosses the loop over rows, not the [BLOCK] tile: carrying the tile through
          // both loops made this pass 1.5-2x slower than per_token's on the CPU (4096 x 4096).
          auto best = tl::scalar(0.0, DType::f32);
          tl::for_range(tl::program_id(0), rows, tl::num_programs(0),
                        [&](tl::Int r) { best = tl::maximum(best, row_amax(r)); });
          tl::atomic_max(scales, best, tl::MemSem::relaxed);
          return;
        }
        case QuantGranularity::per_channel: {
          auto c = tl::program_id(0) * BLOCK + ar;
          tl::for_range(0, rows, 1, [&](tl::Int r) {
            auto v = tl::load(x + i64(r) * i64(x_stride) + c, c < cols, 0.0).to(DType::f32);
            amax = tl::maximum(amax, tl::abs(v));
          });
          tl::store(scales + c, scale_of(amax, qmax), c < cols);
          return;
        }
        }
      });
  return k;
}

const Kernel& quant_tensor_scale_kernel() {
  static const Kernel k =
      tl::kernel("quant_tensor_scale", "scales, QDTYPE, FINISH",
                 [](tl::Ptr scales, tl::Const<int> QDTYPE, tl::Const<int> FINISH) {
                   if (!FINISH) {
                     tl::store(scales, tl::scalar(0.0, DType::f32));
                     return;
                   }
                   tl::store(scales, scale_of(tl::load(scales), qmax_of(QuantCode(int(QDTYPE)))));
                 });
  return k;
}

namespace {

// The scale each element of a (row, column block) program divides or multiplies by.
tl::Tensor group_scale(const tl::Ptr& scales, const tl::Tensor& row, const tl::Tensor& cols,
                       const tl::Tensor& in, int gran) {
  switch (QuantGranularity(gran)) {
  case QuantGranularity::per_tensor:
    return tl::load(scales);
  case QuantGranularity::per_token:
    return tl::load(scales + row);
  case QuantGranularity::per_channel:
    return tl::load(scales + cols, in, 1.0);
  }
  TESSEL_UNREACHABLE("bad QuantGranularity");
}

} // namespace

const Kernel& quantize_kernel() {
  static const Kernel k = tl::kernel(
      "quantize", "q, x, scales, cols, x_stride, q_stride, GRAN, QDTYPE, SATURATE, BLOCK",
      [](tl::Ptr q, tl::Ptr x, tl::Ptr scales, tl::Int cols, tl::Int x_stride, tl::Int q_stride,
         tl::Const<int> GRAN, tl::Const<int> QDTYPE, tl::Const<int> SATURATE,
         tl::Const<int> BLOCK) {
        auto row = tl::program_id(0);
        auto c = tl::program_id(1) * BLOCK + tl::arange(0, BLOCK);
        auto in = c < cols;
        auto v = tl::load(x + i64(row) * i64(x_stride) + c, in, 0.0).to(DType::f32) /
                 group_scale(scales, row, c, in, GRAN);
        const QuantCode code = QuantCode(int(QDTYPE));
        const DType fp8 = code == QuantCode::f8e4m3 ? DType::f8e4m3 : DType::f8e5m2;
        tl::Tensor out =
            code == QuantCode::int8 ? to_int8(v) : tl::cast(v, fp8, {.saturate = SATURATE != 0});
        tl::store(q + i64(row) * i64(q_stride) + c, out, in);
      });
  return k;
}

const Kernel& dequantize_kernel() {
  static const Kernel k = tl::kernel(
      "dequantize", "y, q, scales, cols, q_stride, y_stride, GRAN, BLOCK",
      [](tl::Ptr y, tl::Ptr q, tl::Ptr scales, tl::Int cols, tl::Int q_stride, tl::Int y_stride,
         tl::Const<int> GRAN, tl::Const<int> BLOCK) {
        auto row = tl::program_id(0);
        auto c = tl::program_id(1) * BLOCK + tl::arange(0, BLOCK);
        auto in = c < cols;
        auto v = tl::load(q + i64(row) * i64(q_stride) + c, in, 0).to(DType::f32);
        tl::store(y + i64(row) * i64(y_stride) + c, v * group_scale(scales, row, c, in, GRAN), in);
      });
  return k;
}

} // namespace detail

namespace {

using detail::OpSite;

detail::QuantCode quant_code(const OpSite& s, DType t) {
  if (t == DType::i8)
    return detail::QuantCode::int8;
  if (t == DType::f8e4m3)
    return detail::QuantCode::f8e4m3;
  if (t == DType::f8e5m2)
    return detail::QuantCode::f8e5m2;
  s.fail(fmt::format("the quantized dtype is {}; quantize and dequantize support i8, f8e4m3 and "
                     "f8e5m2",
                     dtype_name(t)));
}

const char* granularity_name(QuantGranularity g) {
  switch (g) {
  case QuantGranularity::per_tensor:
    return "per_tensor";
  case QuantGranularity::per_channel:
    return "per_channel";
  case QuantGranularity::per_token:
    return "per_token";
  }
  TESSEL_UNREACHABLE("bad QuantGranularity");
}

// scales: a contiguous 1-D f32 tensor of one element per group.
void check_scales(const OpSite& s, const TensorView& scales, QuantGranularity g,
                  const detail::Rows& r, const TensorView& ref, const char* ref_arg) {
  const int64_t want = g == QuantGranularity::per_tensor  ? 1
                       : g == QuantGranularity::per_token ? r.rows
                                                          : r.cols;
  detail::check_dtype(s, "scales", scales, DType::f32);
  detail::check_device(s, "scales", scales, ref_arg, ref);
  if (scales.rank != 1 || scales.shape[0] != want || (want > 1 && scales.strides[0] != 1))
    s.fail(fmt::format("scales has shape {}; {} scales of {} {} need a contiguous 1-D tensor of "
                       "{} element{}",
                       detail::shape_str(scales), granularity_name(g), ref_arg,
                       detail::shape_str(ref), want, want == 1 ? "" : "s"));
  if (want > 0 && scales.data == nullptr)
    s.fail("scales has a null data pointer");
}

// Launches quant_scales (per_tensor: between quant_tensor_scale's zeroing and its finish).
void compute_scales(const OpSite& s, const TensorView& x, const TensorView& scales,
                    const detail::Rows& rx, QuantGranularity g, detail::QuantCode code, int block,
                    Stream* stream) {
  const bool whole = g == QuantGranularity::per_tensor;
  const int64_t programs = g == QuantGranularity::per_token ? rx.rows
                           : g == QuantGranularity::per_channel
                               ? (rx.cols + block - 1) / block
                               : std::min<int64_t>(rx.rows, detail::kTensorAmaxPrograms);
  auto finish = [&](int step) {
    detail::quant_tensor_scale_kernel().launch(
        detail::grid_at(s, 1), detail::launch_options(16, stream), scales, int(code), step);
  };
  if (whole)
    finish(0);
  detail::quant_scales_kernel().launch(detail::grid_at(s, programs),
                                       detail::launch_options(block, stream), scales, x, rx.rows,
                                       rx.cols, rx.stride, int(g), int(code), block);
  if (whole)
    finish(1);
}

} // namespace

void quantize(const TensorView& x, const TensorView& q, const TensorView& scales,
              const QuantizeOptions& options, Stream* stream, std::source_location where) {
  const OpSite s{"quantize", where};
  detail::check_float(s, "x", x);
  const detail::QuantCode code = quant_code(s, options.dtype);
  if (q.dtype != options.dtype)
    s.fail(fmt::format("q is {} but options.dtype is {}; pass a q of the dtype to quantize to",
                       dtype_name(q.dtype), dtype_name(options.dtype)));
  detail::check_like(s, "q", q, "x", x);
  const detail::Rows rx = detail::rows_of(s, "x", x), rq = detail::rows_of(s, "q", q);
  check_scales(s, scales, options.granularity, rx, x, "x");
  if (rx.empty())
    return;
  const int block = detail::block_for(s, rx.cols, detail::kQuantBlock, 0);
  const int64_t col_blocks = (rx.cols + block - 1) / block;
  const int gran = int(options.granularity);
  if (options.compute_scales)
    compute_scales(s, x, scales, rx, options.granularity, code, block, stream);
  detail::quantize_kernel().launch(
      detail::grid_at(s, rx.rows, col_blocks), detail::launch_options(block, stream), q, x, scales,
      rx.cols, rx.stride, rq.stride, gran, int(code), options.saturate ? 1 : 0, block);
}

void dequantize(const TensorView& q, const TensorView& scales, const TensorView& y,
                const DequantizeOptions& options, Stream* stream, std::source_location where) {
  const OpSite s{"dequantize", where};
  quant_code(s, q.dtype);
  detail::check_float(s, "y", y);
  detail::check_like(s, "y", y, "q", q);
  const detail::Rows rq = detail::rows_of(s, "q", q), ry = detail::rows_of(s, "y", y);
  check_scales(s, scales, options.granularity, rq, q, "q");
  if (rq.empty())
    return;
  // 16 one-byte elements per thread (half the warps of the heuristic), so that q is read 16
  // bytes at a time.
  const int block = detail::block_for(s, rq.cols, detail::kDequantBlock, 0);
  LaunchOptions launch = detail::launch_options(block, stream);
  launch.num_warps = std::max(1, launch.num_warps / 2);
  detail::dequantize_kernel().launch(detail::grid_at(s, rq.rows, (rq.cols + block - 1) / block),
                                     launch, y, q, scales, rq.cols, rq.stride, ry.stride,
                                     int(options.granularity), block);
}

} // namespace tessel::ops
