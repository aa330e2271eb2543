// The epilogue chain of the quantized matmul kernels (fused_epilogue.cpp): the slot parameters
// each kernel declares, the chain applied to its accumulator before the store, and one kernel per
// chain. The same steps and slots as ops::matmul's (stdlib/matmul/epilogue.h), for rank-2
// outputs. Private to stdlib/quant/.
#pragma once

#include "stdlib/matmul/epilogue.h"
#include "tessel/jit/kernel.h"
#include "tessel/lang/tensor.h"

#include <functional>
#include <string>

namespace tessel::ops::detail {

// The slot parameters as a kernel receives them: pointers e0, e1; row and column strides e0_m,
// e0_n, e1_m, e1_n; scalars s0..s3.
struct EpilogueSlots {
  lang::Ptr e0, e1;
  lang::Int e0_m, e0_n, e1_m, e1_n;
  lang::Float s0, s1, s2, s3;
};

// The names of those parameters, in that order, for a kernel's parameter list.
inline constexpr const char* kSlotPointers = "e0, e1";
inline constexpr const char* kSlotStrides = "e0_m, e0_n, e1_m, e1_n";
inline constexpr const char* kSlotScalars = "s0, s1, s2, s3";

// Applies `chain` to `acc` (the tile rows x cols of out, masked by `mask`) and stores the result,
// converted to out's dtype.
void store_with_chain(const Chain& chain, const lang::Tensor& acc, const lang::Tensor& rows,
                      const lang::Tensor& cols, const lang::Tensor& mask, const lang::Ptr& out,
                      const lang::Int& out_stride, const EpilogueSlots& slots);

// The kernel of `base` for the chain identified by `key`, made by `make(name, chain)` once and
// kept for the life of the process (as ops::matmul keeps its kernels).
const Kernel& kernel_for_chain(const char* base, const std::string& key, const Chain& chain,
                               const std::function<Kernel(const std::string&, Chain)>& make);

} // namespace tessel::ops::detail
