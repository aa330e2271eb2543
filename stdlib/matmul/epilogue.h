// Matmul epilogues inside stdlib/matmul: what an Epilogue holds, the chain of steps a kernel is
// traced with, and how the steps are applied to a tile. Private to stdlib/matmul/ and its tests.
//
// A kernel is specialized per chain: the steps' functions are traced into it. Each kernel has two
// operand slots (a pointer and batch/row/column strides each) and four scalar slots (f32); the
// chain assigns them in order. Kernel parameters are limited (32), which is why the slots are few;
// the scale step's beta * c reads c through the kernel's own c pointer and takes no slot.
#pragma once

#include "stdlib/common/args.h"
#include "tessel/ops/matmul.h"

#include <array>
#include <map>
#include <mutex>
#include <string>
#include <tuple>
#include <vector>

namespace tessel::ops {

struct Epilogue::Impl {
  std::string name;
  EpilogueFn fn;
  std::vector<TensorView> operands;
  std::vector<float> scalars;
  // scale with beta != 0: operands[0] of the tile is c as it was (read through c's pointer).
  bool reads_output = false;
  // Provided by stdlib: the name alone identifies the function. A user epilogue is identified by
  // its name and the IR it traces to (see matmul_kernels.cpp, `step_key`).
  bool builtin = false;
  SourceLoc where;
  // A user step's IR per (accumulator dtype, BM, BN), traced once per Epilogue object: the same
  // object always holds the same function (docs/stdlib.md §9.1: the function must trace the same
  // IR every time for the same tile).
  mutable std::mutex probe_mutex;
  mutable std::map<std::tuple<DType, int, int>, std::string> probe_ir;
};

} // namespace tessel::ops

namespace tessel::ops::detail {

inline constexpr int kEpilogueOperandSlots = 2;
inline constexpr int kEpilogueScalarSlots = 4;

// One step as traced: the function and where its operands and scalars sit among the slots.
struct ChainStep {
  std::string name;
  EpilogueFn fn;
  SourceLoc where;
  bool reads_output = false;
  std::vector<int> operand_slots; // slot of each operand (after c_old, when reads_output)
  std::vector<int> scalar_slots;
};
using Chain = std::vector<ChainStep>;

// The tile and the slots as a kernel sees them while it is traced.
struct TileContext {
  lang::Tensor rows, cols, mask; // [BM, 1], [1, BN], [BM, BN]
  lang::Tensor batch;            // i64 scalar: the batch index
  lang::Tensor c_old_ptrs;       // [BM, BN] pointers into c (for reads_output steps)
  std::array<lang::Tensor, kEpilogueOperandSlots> operand_ptrs; // [BM, BN] pointers
  std::array<lang::Tensor, kEpilogueScalarSlots> scalars;
};

// Why `result` cannot be the accumulator after step `name` (empty when it can): the tile's shape
// [bm, bn], in f32, or in `acc`'s dtype while that is i32.
std::string bad_step_result(const lang::Tensor& result, DType acc, int64_t bm, int64_t bn);

// The tile `step` returns for `acc`, unchecked.
lang::Tensor apply_step(const ChainStep& step, const lang::Tensor& acc, const TileContext& t);

// Applies the chain to `acc` and returns the final tile (still in the accumulator's types). A
// step returning a tile of the wrong shape or dtype throws tessel::Error naming it (the op checks
// every user step before launching, so this is only reached by a kernel traced later with the
// same step).
lang::Tensor apply_chain(const Chain& chain, lang::Tensor acc, const TileContext& t);

// The step of one Epilogue, given the first free operand and scalar slots (advanced).
ChainStep chain_step(const Epilogue& e, int& next_operand, int& next_scalar);

// For messages: "epilogue 'gelu'" or "epilogue 'mine' (made at app.cpp:12)".
std::string step_label(const ChainStep& s, bool builtin);

} // namespace tessel::ops::detail
