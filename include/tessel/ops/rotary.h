// Rotary position embedding (RoPE) on q or k [batch, seq, heads, head_dim], forward and backward
// (docs/stdlib.md). For each pair (x1, x2) of the first rotary_dim dimensions and its angle
// theta(s, i) at position s, pair i:
//
//   y1 = x1 cos - x2 sin,   y2 = x2 cos + x1 sin          (backward: the inverse rotation, -theta)
//
// Pairs are (i, i + rotary_dim/2) in the half-split convention (GPT-NeoX, Llama in Hugging Face)
// or (2i, 2i + 1) in the interleaved one (GPT-J, the original RoFormer). Dimensions from
// rotary_dim to head_dim are copied unchanged (partial rotary, e.g. rotary_dim = head_dim / 2).
// The angles come from cos/sin tables [seq, rotary_dim/2] or from positions [seq] and a base:
// theta(s, i) = positions[s] * base^(-2i / rotary_dim), computed in f32 (so the angle has an
// absolute error of about positions[s] * 2^-24: use the tables for positions beyond ~10^4).
// y may be x (in place); q and k are two calls. Any batch, seq and heads strides; head_dim
// contiguous.
#pragma once

#include "tessel/ops/common.h"

#include <cstdint>
#include <source_location>

namespace tessel::ops {

enum class RotaryStyle : uint8_t { half_split, interleaved };

struct RotaryOptions {
  RotaryStyle style = RotaryStyle::half_split;
  int64_t rotary_dim = 0; // 0: head_dim; even, at most head_dim
  float base = 10000.0f;  // the positions form only
};

void rotary_embedding(const TensorView& x, const TensorView& cos, const TensorView& sin,
                      const TensorView& y, const RotaryOptions& options = {},
                      Stream* stream = nullptr,
                      std::source_location where = std::source_location::current());
void rotary_embedding_backward(const TensorView& dy, const TensorView& cos, const TensorView& sin,
                               const TensorView& dx, const RotaryOptions& options = {},
                               Stream* stream = nullptr,
                               std::source_location where = std::source_location::current());
// positions: i32 or i64, [seq] (one position per token, shared by the batch) or [batch, seq]
// (each sequence its own: left-padded batches, packed or speculative decoding).
void rotary_embedding_from_positions(const TensorView& x, const TensorView& positions,
                                     const TensorView& y, const RotaryOptions& options = {},
                                     Stream* stream = nullptr,
                                     std::source_location where = std::source_location::current());

} // namespace tessel::ops
