// Dropout in the tile language: the DSL helpers of tessel::ops::dsl (dropout.h), which other
// kernels call to fuse dropout, and the op's own kernel built from them. One program per (row,
// block of columns); each element costs one Philox 4x32-10 evaluation (tl::rand on its counter).
#include "tessel/ops/dropout.h"

#include "stdlib/common/kernels.h"

namespace tessel::ops {

namespace tl = tessel::lang;

namespace dsl {

lang::Tensor dropout_mask(const lang::Tensor& seed, const lang::Tensor& offset,
                          const lang::Tensor& p, Loc loc) {
  return tl::binary(tl::BinaryOp::Ge, tl::rand(seed, offset, loc), p, SourceLoc::from(loc));
}

// 1 / (1 - p) in f32 (a scalar op: once per program); for p = 1 it is inf and never selected, as
// no element is kept (rand < 1).
lang::Tensor dropout(const lang::Tensor& x, const lang::Tensor& seed, const lang::Tensor& offset,
                     const lang::Tensor& p, Loc loc) {
  const SourceLoc at = SourceLoc::from(loc);
  auto keep =
      tl::binary(tl::BinaryOp::Sub, tl::scalar(1, DType::f32, loc), p.to(DType::f32, loc), at);
  auto scale = tl::binary(tl::BinaryOp::Div, tl::scalar(1, DType::f32, loc), keep, at);
  auto scaled = tl::binary(tl::BinaryOp::Mul, x.to(DType::f32, loc), scale, at);
  return tl::where(dropout_mask(seed, offset, p, loc), scaled, 0.0, loc);
}

lang::Tensor join_words(const lang::Tensor& lo, const lang::Tensor& hi, Loc loc) {
  const SourceLoc at = SourceLoc::from(loc);
  auto high = tl::binary_scalar(tl::BinaryOp::Shl, hi.to(DType::i64, loc), 32, true, false, at);
  auto low =
      tl::binary_scalar(tl::BinaryOp::And, lo.to(DType::i64, loc), 0xffffffffLL, true, false, at);
  return tl::binary(tl::BinaryOp::Or, high, low, at);
}

} // namespace dsl

namespace detail {

const Kernel& dropout_kernel() {
  static const Kernel k = tl::kernel(
      "dropout", "y, x, y_stride, x_stride, n, seed_lo, seed_hi, offset_lo, offset_hi, p, BLOCK",
      [](tl::Ptr y, tl::Ptr x, tl::Int y_stride, tl::Int x_stride, tl::Int n, tl::Int seed_lo,
         tl::Int seed_hi, tl::Int offset_lo, tl::Int offset_hi, tl::Float p, tl::Const<int> BLOCK) {
        auto row = tl::program_id(0).to(DType::i64);
        auto cols = tl::program_id(1) * BLOCK + tl::arange(0, BLOCK);
        auto mask = cols < n;
        // The element's row-major index, whatever the strides: the mask is a function of it.
        auto offset =
            dsl::join_words(offset_lo, offset_hi) + row * n.to(DType::i64) + cols.to(DType::i64);
        auto v = tl::load(x + row * x_stride.to(DType::i64) + cols, mask, 0.0);
        tl::store(y + row * y_stride.to(DType::i64) + cols,
                  dsl::dropout(v, dsl::join_words(seed_lo, seed_hi), offset, p), mask);
      });
  return k;
}

} // namespace detail
} // namespace tessel::ops
