// Layout assignment: a distributed layout (codegen/gpu/linear_layout.h) for every tensor value of a
// kernel, chosen so that global accesses are coalesced and vectorized. The `assign-layouts` pass
// (assign_layouts.cpp) writes these layouts into the IR's types and makes every conversion an
// explicit `convert_layout` op.
//
// Loads and stores are the anchors: the pointer tensor of each gets a blocked layout whose
// fastest dimension is the pointer's most contiguous one (axis info), with each thread holding up
// to 16 bytes there — fewer when alignment, contiguity, the mask's constancy or the tensor's size
// per thread allow fewer — and the warp's lanes next along it, so a warp's access is one
// contiguous span. Other values take the layout their users want, found by one walk over the
// kernel from its end: elementwise ops want their result's layout for their operands, broadcast
// and expand_dims want the "un-broadcast"/sliced layout of theirs, reductions want their shape's
// default and produce its slice.
//
// The rule for a value with several users, in priority order:
//   1. a load's result has its anchor layout, a reduction's result the slice of its operand's
//      layout: the producer decides, whatever the users want;
//   2. else, when anchors use the value (a load or store, as pointer, mask or value; a
//      reduction, as its operand), the first such anchor in program order decides;
//   3. else the last user in program order decides (the first met by the backward walk).
// Every other user gets a conversion (a `convert_layout` after assign-layouts; registers, warp
// shuffles or shared memory in the lowering).
//
// LayoutPlan is assign-layouts' engine only: the passes after it and the emission read what it
// decided from the IR -- layouts in the types, the access width of each load and store in its
// `vec` attribute (access_width), the layouts scans and FMA dots read their operands in as
// convert_layouts before them (scan_layout, fma_dot_operand_layout).
#pragma once

#include "codegen/analysis/axis_info.h"
#include "codegen/gpu/linear_layout.h"
#include "tessel/ir/ir.h"

#include <map>
#include <span>
#include <unordered_map>
#include <vector>

namespace tessel::codegen::gpu {

class LayoutPlan {
public:
  LayoutPlan(const ir::Function& function, const analysis::AxisAnalysis& axis, int num_warps);

  // The layout of tensor value `v`; null for rank-0 values (held by every thread).
  const LinearLayout* of(const ir::Value* v) const;
  // The default layout of a shape: the first anchor layout of that shape, else a blocked layout
  // with the last dimension fastest.
  LinearLayout default_for(const std::vector<int32_t>& shape) const;
  // The vector width (elements) for the memory access of `op` (a load or store) in layout
  // `layout`, and the dimension it runs along.
  struct Vector {
    int dim = 0;
    int width = 1;
  };
  Vector vector_of(const ir::Op& op, const LinearLayout& layout) const;
  // The coalesced layout for the pointer tensor of a load or store.
  LinearLayout anchor(const ir::Op& op) const;

private:
  void visit_block(const ir::Block& block);
  void visit(const ir::Op& op);
  void assign_results(const ir::Op& op);
  void request_shape_operand(const ir::Op& op);
  void visit_control(const ir::Op& op);
  void set(const ir::Value* v, const LinearLayout& l);
  // Asks for `v` in layout `l`; `anchor` for the requests of rule 2 above.
  void request(const ir::Value* v, const LinearLayout& l, bool anchor = false);
  LinearLayout decided(const ir::Value* v) const;

  const analysis::AxisAnalysis& axis_;
  int num_warps_;
  std::map<std::vector<int32_t>, LinearLayout> shape_default_;
  struct Request {
    LinearLayout layout;
    bool anchor;
  };
  std::unordered_map<const ir::Value*, Request> requested_;
  std::unordered_map<const ir::Value*, LinearLayout> layouts_;
};

std::vector<int32_t> shape_of(const ir::Value* v);
// The dimension the first register basis of `l` moves along (0 without register bases): the one
// a thread's vector accesses run along.
int vector_dim(const LinearLayout& l);
// The elements per global access of a tensor load or store: its `vec` attribute (assign-layouts),
// 1 where absent.
int access_width(const ir::Op& op);

// True when `l` is lowered by the parallel scan along `axis` as it is (lower_reduce.cpp): no
// replicated registers, its register bits along the axis the lowest bits of the axis coordinate,
// then consecutive lane bits, then warp bits, each in increasing order.
bool scan_ready(const LinearLayout& l, int axis);
// The scan_ready layout a scan along `axis` of `shape` runs in when its operand's layout is not:
// each thread a contiguous run of the axis, the lowest lane bits, then the warps along it.
LinearLayout scan_layout(const std::vector<int32_t>& shape, int axis, int num_warps);
// The layout an FMA dot (lower_dot) reads operand 0 (a, `shape` M x K) or 1 (b, K x N) in, for a
// result in `result`: each thread the rows (a) or columns (b) of its outputs, all of K in
// registers.
LinearLayout fma_dot_operand_layout(const LinearLayout& result, const std::vector<int32_t>& shape,
                                    int operand);
// A blocked layout of `shape` for `num_warps` warps with `vec` elements per thread along
// `order[0]`, lanes then warps filling dimensions in `order`.
LinearLayout make_blocked(const std::vector<int32_t>& shape, int num_warps, int vec,
                          const std::vector<int>& order);

// The IR's layout attribute (ir/types.h) of a linear layout and back; `shape` is the tensor's.
const ir::LayoutAttr* to_attr(ir::Context& ctx, const LinearLayout& layout, ir::LayoutKind kind);
LinearLayout from_attr(const ir::LayoutAttr& attr, std::span<const int64_t> shape);

} // namespace tessel::codegen::gpu
