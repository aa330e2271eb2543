// Binding an epilogue list to a call (bind_chain.cpp): the traced steps, the kernel key that
// identifies the chain, and what each operand and scalar slot holds. Shared by ops::matmul and the
// quantized matmuls (stdlib/quant/), which fuse the same epilogue lists. Private to stdlib/.
#pragma once

#include "stdlib/matmul/epilogue.h"

#include <array>
#include <string>
#include <vector>

namespace tessel::ops::detail {

// The output a chain is bound for: c [batch, m, n] (batch 1 for a rank-2 c), and the accumulator
// tile the kernel applies it to.
struct ChainTarget {
  const TensorView& c;
  int64_t batch = 1, m = 0, n = 0;
  DType acc = DType::f32;
  int block_m = 0, block_n = 0;
};

// The chain of a call: its steps, the kernels' key, and what the slots are bound to.
struct BoundChain {
  Chain chain;
  std::string key;
  std::vector<TensorView> operands;
  std::vector<std::array<int64_t, 3>> operand_strides; // batch, row, column (0: broadcast)
  std::vector<float> scalars;
};

// Checks every step (a function, at most kEpilogueOperandSlots tensors and kEpilogueScalarSlots
// scalars in all, operands on c's device of a supported dtype broadcasting to c) and binds them.
// A user step is identified by the IR it traces to on the target's tile (traced once per
// Epilogue object); a built-in step by its name.
BoundChain bind_chain(const OpSite& s, const std::vector<Epilogue>& epilogue, const ChainTarget& t);

// Launch arguments of the slots: unused ones point at c and are never read.
struct SlotArgs {
  std::array<TensorView, kEpilogueOperandSlots> views;
  std::array<std::array<int, 3>, kEpilogueOperandSlots> strides{};
  std::array<float, kEpilogueScalarSlots> scalars{};
};

SlotArgs slot_args(const BoundChain& bc, const TensorView& c);

// A kernel name for dumps and PTX entries: `base`, then the steps' names reduced to identifier
// characters.
std::string chain_kernel_name(const char* base, const Chain& chain);

} // namespace tessel::ops::detail
