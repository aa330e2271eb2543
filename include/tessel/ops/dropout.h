// Dropout with Philox 4x32-10 counters (docs/stdlib.md, "dropout"): deterministic per (seed,
// offset), the same bits on the CPU and the GPU, and fusable into other kernels.
//
//   y = x / (1 - p)  where u(seed, offset + i) >= p,   y = 0 elsewhere,
//
// i being the element's row-major index in x (whatever its strides) and u(seed, g) the top 24 bits
// of word g % 4 of Philox 4x32-10 on counter g / 4, times 2^-24 (one Philox evaluation serves four
// consecutive elements; note that this is not tl::rand(seed, g), which is word 0 of counter g).
// p and 1 / (1 - p) are f32. The backward applies the same mask to dy: pass the forward's options.
// Tensors are f32, f16 or bf16 (each its own), rows of contiguous elements with any row stride; y
// may be x.
#pragma once

#include "tessel/lang/ops.h"
#include "tessel/ops/common.h"

#include <cstdint>
#include <source_location>

namespace tessel::ops {

struct DropoutOptions {
  float p = 0.5f;      // the probability of dropping an element, in [0, 1]
  uint64_t seed = 0;   // the Philox key
  uint64_t offset = 0; // the Philox counter of x's first element (counters wrap modulo 2^64)
};

void dropout(const TensorView& x, const TensorView& y, const DropoutOptions& options = {},
             Stream* stream = nullptr,
             std::source_location where = std::source_location::current());
// dx = dy / (1 - p) where the forward with the same options kept the element, 0 elsewhere.
void dropout_backward(const TensorView& dy, const TensorView& dx,
                      const DropoutOptions& options = {}, Stream* stream = nullptr,
                      std::source_location where = std::source_location::current());

// The same dropout as DSL functions, for a kernel that fuses it (an epilogue, a residual add):
// called inside a kernel being traced, with the kernel's own handles. `seed` is an i32 or i64
// scalar, `offset` an i32 or i64 tile (the element's counter: the op uses offset + i), `p` an f32
// scalar (a tl::Float argument). Errors name the caller's line.
namespace dsl {

using Loc = std::source_location;

// True where dropout keeps the element: u(seed, offset) >= p (one Philox evaluation per element).
lang::Tensor dropout_mask(const lang::Tensor& seed, const lang::Tensor& offset,
                          const lang::Tensor& p, Loc loc = Loc::current());
// x / (1 - p) where dropout_mask, else 0; in f32 (x is converted).
lang::Tensor dropout(const lang::Tensor& x, const lang::Tensor& seed, const lang::Tensor& offset,
                     const lang::Tensor& p, Loc loc = Loc::current());
// The i64 (hi << 32) | lo of two i32 kernel arguments: a 64-bit seed or offset passed as two Ints.
lang::Tensor join_words(const lang::Tensor& lo, const lang::Tensor& hi, Loc loc = Loc::current());

} // namespace dsl
} // namespace tessel::ops
