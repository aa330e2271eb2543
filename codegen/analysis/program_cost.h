// Private: the static cost of one program of a kernel, read from its tile IR — the work a
// roofline needs (`tessel compile KERNEL --emit stats` prints it; tools/tessel/roofline.cpp).
//
//   FLOPs        2·M·N·K per `dot` (a batched dot: times its batch), the tensor-core work
//   global bytes every element a `load` reads or a `store` writes, times its size; masks are
//                not evaluated, so a masked-off element counts (an upper bound at ragged edges)
//   trip counts  a `for` whose bounds and step are constants multiplies its body; one whose
//                trip count is a run-time value (a K loop over the Int K) is reported per
//                iteration, unless the caller assumes a trip count for such loops
//   `if`         both branches count (an upper bound); `while` is a run-time loop
//
// The bytes are each program's own traffic: what programs share through the L2 cache is not
// subtracted, so the arithmetic intensity is the per-tile one (for a matmul tile,
// 2·BM·BN / ((BM + BN)·element size)), a lower bound on what DRAM sees.
#pragma once

#include "tessel/ir/ir.h"

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace tessel::codegen::analysis {

struct Work {
  double flops = 0;       // dot FLOPs
  double load_bytes = 0;  // global loads
  double store_bytes = 0; // global stores
  double bytes() const { return load_bytes + store_bytes; }
  Work& operator+=(const Work& o);
  Work scaled(double n) const;
};

// A loop whose trip count is a run-time value: its body's work per iteration.
struct RuntimeLoop {
  std::string what; // "for at samples/matmul.cpp:38 (step 32)"
  Work per_iteration;
};

struct ProgramCost {
  Work fixed;                      // outside run-time loops (constant trip counts multiplied in)
  std::vector<RuntimeLoop> loops;  // outermost run-time loops first, in program order
  std::vector<DType> dot_operands; // the element type of each dot's a operand
  bool has_if = false;             // some work was counted for both branches

  // fixed + each run-time loop times `trips`.
  Work total(double trips) const;
};

// Requires: `f` is a verified kernel (before GPU lowering; later stages work too, but their
// shared-memory ops are not global traffic and are not counted).
ProgramCost program_cost(const ir::Function& f);

} // namespace tessel::codegen::analysis
