// Axis analysis: what is known, per dimension, about the values of an integer or pointer tensor —
// the facts coalescing and vectorization need (DESIGN §5 "Coalescing and vectorization").
//
// For a tensor value v and a dimension d (Triton's AxisInfo):
//   contiguity[d]   = c: along d, v splits into runs of c elements each increasing by 1 (for
//                    pointers: by one element of the pointee).
//   divisibility[d] = k: the first element of every such run (and of every constancy run) is a
//                    multiple of k — in bytes for pointers (their alignment), in units for
//                    integers.
//   constancy[d]    = c: along d, v splits into runs of c equal elements.
// All three are powers of two. Scalars have one entry (as a 1-element tensor). Facts flow from
// constants, arange, the kernel arguments' specialization (`{div = 16}`) and loop bounds through
// splat, broadcast, expand_dims, add/sub/mul/div/rem/shifts by constants, comparisons, select and
// addptr, and from the kernel's hints (tl::multiple_of, max_contiguous, max_constancy: the `hint`
// op raises each fact to what it promises; `assume x % C == 0` or `assume (x & (C - 1)) == 0`, for
// a constant C, raises x's divisibility to C's largest power-of-two divisor wherever x is read); a
// for loop's carried values (and results) get what holds for both their initial and their yielded
// values (a fixed point over the body); anything else (loads, reductions, if/while results) is
// unknown (all 1).
//
// Example: offs = program_id(0) * 1024 + arange(0, 1024) has contiguity 1024 and divisibility
// 1024; `x + offs` with x a pointer argument {div = 16} to f32 is contiguous over 1024 elements
// and 16-byte aligned, so a thread holding 4 consecutive elements may load them as one 16-byte
// vector; `offs < n` with n {div = 16} is constant over runs of 16, so one predicate covers the
// vector.
#pragma once

#include "tessel/ir/ir.h"

#include <cstdint>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

namespace tessel::codegen::analysis {

// The largest divisibility tracked (2^30): what a zero constant gets.
inline constexpr int64_t kMaxDivisibility = int64_t(1) << 30;

struct AxisInfo {
  std::vector<int64_t> contiguity;
  std::vector<int64_t> divisibility;
  std::vector<int64_t> constancy;
  std::optional<int64_t> constant; // every element equals this integer

  // All unknown (1) over `rank` dimensions (rank 0 counts as 1).
  static AxisInfo unknown(size_t rank);
  size_t rank() const { return contiguity.size(); }
  bool operator==(const AxisInfo&) const = default;
};

class AxisAnalysis {
public:
  // Analyses every value of `function` (kernel arguments, op results, region arguments).
  explicit AxisAnalysis(const ir::Function& function);
  // Requires: `v` belongs to the analysed function.
  const AxisInfo& info(const ir::Value* v) const;

private:
  void visit_block(const ir::Block& block);
  void visit(const ir::Op& op);
  void visit_for(const ir::Op& op);
  void set(const ir::Value* v, AxisInfo info);
  void collect_assumptions(const ir::Function& function);

  // Divisibility that `assume` ops promise, by value (axis_info.cpp: assumed_divisor).
  std::unordered_map<const ir::Value*, int64_t> assumed_;
  std::unordered_map<const ir::Value*, AxisInfo> infos_;
};

// The function's IR followed by one line per integer or pointer value:
//   %3 = arange: contiguity = [64], divisibility = [1073741824], constancy = [1]
// numbered as ir::print numbers values. (What `tessel-opt --print-axis-info` prints.)
std::string print_axis_info(const ir::Function& function);

} // namespace tessel::codegen::analysis
