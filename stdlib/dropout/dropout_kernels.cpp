// Dropout in the tile language: the DSL helpers of tessel::ops::dsl (dropout.h), which other
// kernels call to fuse dropout, and the op's own kernel. Element g (its counter: offset + its
// row-major index) takes word g % 4 of Philox 4x32-10 on counter g / 4, so one ten-round
// evaluation serves four consecutive elements. The op's kernel evaluates Philox once per group of
// four on a 1-D tile of groups and spreads the words over a [BLOCK / 4, 4] tile, reshaped into
// the row; the DSL helpers take any
// counter tile and evaluate Philox per element (the same bits, without the sharing).
#include "tessel/ops/dropout.h"

#include "stdlib/common/kernels.h"

namespace tessel::ops {

namespace tl = tessel::lang;

namespace {

constexpr double kTwoToMinus24 = 0x1p-24;

// The four Philox words of the counter whose low and high words are lo and hi (i32 tiles), as
// i32 tiles.
std::array<tl::Tensor, 4> words_of(const tl::Tensor& seed, const tl::Tensor& lo,
                                   const tl::Tensor& hi, tl::Loc loc) {
  auto zero = tl::scalar(0, DType::i32, loc);
  return tl::philox(seed.to(DType::i64, loc), lo, hi, zero, zero, loc);
}

// The words of counter q >> 2 for an i64 tile q: a logical shift (Shr is arithmetic, so the high
// word keeps 30 bits), then the low 32 bits by truncation.
std::array<tl::Tensor, 4> words_of_quad(const tl::Tensor& seed, const tl::Tensor& g, tl::Loc loc) {
  return words_of(seed, (g >> 2).to(DType::i32, loc), ((g >> 34) & 0x3FFFFFFF).to(DType::i32, loc),
                  loc);
}

// word[w] where w (an i32 tile broadcasting with the words) is 0..3 (words or their uniforms).
tl::Tensor pick(const std::array<tl::Tensor, 4>& word, const tl::Tensor& w, tl::Loc loc) {
  auto high = tl::where(w == 2, word[2], word[3], loc);
  return tl::where(w == 0, word[0], tl::where(w == 1, word[1], high, loc), loc);
}

// The uniform in [0, 1) of a word: its top 24 bits times 2^-24 (tl::rand's rule).
tl::Tensor uniform(const tl::Tensor& word, tl::Loc loc) {
  return ((word >> 8) & 0xFFFFFF).to(DType::f32, loc) * kTwoToMinus24;
}

// The uniform of element g (an i64 tile read as unsigned): word g & 3 of counter g >> 2.
tl::Tensor element_uniform(const tl::Tensor& seed, const tl::Tensor& g, tl::Loc loc) {
  auto g64 = g.to(DType::i64, loc);
  return uniform(pick(words_of_quad(seed, g64, loc), (g64 & 3).to(DType::i32, loc), loc), loc);
}

} // namespace

namespace dsl {

lang::Tensor dropout_mask(const lang::Tensor& seed, const lang::Tensor& offset,
                          const lang::Tensor& p, Loc loc) {
  return tl::binary(tl::BinaryOp::Ge, element_uniform(seed, offset, loc), p, SourceLoc::from(loc));
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

// One program per (row, BLOCK elements). The program's groups of four are those of the row's
// counters: with `shift` = the row's first counter % 4, program b covers columns
// [b BLOCK - shift, (b + 1) BLOCK - shift), so each Philox evaluation serves four elements of
// one row; the op launches one more program per row when it may need it. ALIGNED (every row's
// first counter a multiple of 4) makes shift the constant 0, so loads and stores keep their
// 16-byte alignment.
const Kernel& dropout_kernel() {
  static const Kernel k = tl::kernel(
      "dropout",
      "y, x, y_stride, x_stride, n, seed_lo, seed_hi, offset_lo, offset_hi, p, ALIGNED, BLOCK",
      [](tl::Ptr y, tl::Ptr x, tl::Int y_stride, tl::Int x_stride, tl::Int n, tl::Int seed_lo,
         tl::Int seed_hi, tl::Int offset_lo, tl::Int offset_hi, tl::Float p, tl::Const<int> ALIGNED,
         tl::Const<int> BLOCK) {
        const int quads = BLOCK / 4;
        auto row = tl::program_id(0).to(DType::i64);
        // The counter of the row's first element: its row-major index, whatever the strides.
        auto start = dsl::join_words(offset_lo, offset_hi) + row * n.to(DType::i64);
        tl::Tensor shift = ALIGNED ? tl::scalar(0, DType::i32) : (start & 3).to(DType::i32);
        auto first = start - shift.to(DType::i64) + (tl::program_id(1) * BLOCK).to(DType::i64);
        // Philox on a 1-D tile of the program's groups (a [quads, 1] tile would make the CPU
        // backend's loops one element long: no vector code), the uniforms of each word too; then
        // [quads, 4] by choosing the word per column, flattened in row-major order.
        auto group = tl::arange(0, quads).to(DType::i64) * 4 + first;
        auto words = words_of_quad(dsl::join_words(seed_lo, seed_hi), group,
                                   std::source_location::current());
        std::array<tl::Tensor, 4> column;
        for (int i = 0; i < 4; ++i)
          column[i] = tl::expand_dims(uniform(words[i], std::source_location::current()), 1);
        auto u = tl::reshape(
            pick(column, tl::expand_dims(tl::arange(0, 4), 0), std::source_location::current()),
            {BLOCK});
        auto cols = tl::program_id(1) * BLOCK + tl::arange(0, BLOCK) - shift;
        auto mask = (cols >= 0) & (cols < n);
        auto v = tl::load(x + row * x_stride.to(DType::i64) + cols, mask, 0.0).to(DType::f32);
        auto scale = 1.0 / (1.0 - p.to(DType::f32)); // inf at p = 1, never selected (u < 1)
        tl::store(y + row * y_stride.to(DType::i64) + cols, tl::where(u >= p, v * scale, 0.0),
                  mask);
      });
  return k;
}

} // namespace detail
} // namespace tessel::ops
