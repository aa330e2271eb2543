// Tile helpers shared by the attention kernels (attention_kernels.cpp, the backward's): where a
// head starts, how a chunk of head_dim columns is loaded, which keys a band lets a row see.
// Private to stdlib/attention/.
#pragma once

#include "tessel/lang/ops.h"

#include <cmath>

namespace tessel::ops::detail::tiles {

namespace tl = tessel::lang;

inline constexpr double kInf = INFINITY;

inline tl::Tensor i64(const tl::Tensor& t) {
  return t.to(DType::i64);
}
// [n] -> [n, 1]
inline tl::Tensor col(const tl::Tensor& t) {
  return tl::expand_dims(t, 1);
}
// [n] -> [1, n]
inline tl::Tensor row(const tl::Tensor& t) {
  return tl::expand_dims(t, 0);
}

// Where one (batch, head)'s rows start in a tensor of strides (batch, seq, head).
struct Head {
  tl::Tensor base; // pointer to element [b, 0, h, 0]
  tl::Tensor seq;  // i64 stride between positions
};

inline Head head_of(const tl::Ptr& p, const tl::Tensor& b, const tl::Tensor& h,
                    const tl::Int& s_batch, const tl::Int& s_seq, const tl::Int& s_head) {
  return {p + b * i64(s_batch) + h * i64(s_head), i64(s_seq)};
}

// A head's DCHUNK columns starting at `c0`, the unit every tile is loaded and multiplied in:
// head_dim is split so that a dot's operands stay small (head_dim 96 is three chunks of 32, so
// no column is ever masked), and the Q tile and the accumulator are vectors of chunks.
inline tl::Tensor load_chunk(const Head& hd, const tl::Tensor& pos, const tl::Tensor& in, int c0,
                             int chunk) {
  auto ptrs = (hd.base + col(i64(pos) * hd.seq)) + row(c0 + tl::arange(0, chunk));
  return tl::load(ptrs, col(in), 0.0);
}

// Which keys of the tile `cols` ([1, BLOCK_N]) the query rows `rows` ([BLOCK_M, 1]) may see, by
// the band i + diag - left <= j <= i + diag + right.
inline tl::Tensor in_band(const tl::Tensor& rows, const tl::Tensor& cols, const tl::Tensor& diag,
                          const tl::Int& left, const tl::Int& right) {
  auto i = rows + diag;
  return (cols >= i - left) & (cols <= i + right);
}

} // namespace tessel::ops::detail::tiles
