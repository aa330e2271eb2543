// Prefix masks (prefix_mask.h): the structural proof and the copy width it allows.
#include "codegen/gpu/prefix_mask.h"

#include "tessel/error.h"

#include <algorithm>
#include <bit>

namespace tessel::codegen::gpu {

using ir::Opcode;

namespace {

bool constant_over(const ir::Value& v, int dim, int64_t run, const analysis::AxisAnalysis& axis) {
  return axis.info(&v).constancy[dim] >= run;
}

bool contiguous_over(const ir::Value& v, int dim, int64_t run, const analysis::AxisAnalysis& axis) {
  return axis.info(&v).contiguity[dim] >= run;
}

// x < y (or x <= y) with x counting up over the run and y fixed over it.
bool counts_below_bound(const ir::Value& x, const ir::Value& y, int dim, int64_t run,
                        const analysis::AxisAnalysis& axis) {
  return contiguous_over(x, dim, run, axis) && constant_over(y, dim, run, axis);
}

} // namespace

int expanded_from(const ir::Op& expand, int dim) {
  const int axis = static_cast<int>(expand.int_attr("axis"));
  TESSEL_ASSERT(dim != axis, "the new size-1 axis of an expand_dims has no operand dimension");
  return dim < axis ? dim : dim - 1;
}

bool is_prefix_mask(const ir::Value& mask, int dim, int64_t run,
                    const analysis::AxisAnalysis& axis) {
  TESSEL_ASSERT(mask.type()->rank() > static_cast<size_t>(dim), "a mask without the run's dim");
  if (constant_over(mask, dim, run, axis))
    return true;
  const ir::Op* def = mask.defining_op();
  if (!def)
    return false;
  switch (def->opcode()) {
  case Opcode::ConvertLayout:
  case Opcode::Broadcast: // along `dim` it is not expanded, else it would be constant there
    return is_prefix_mask(*def->operand(0), dim, run, axis);
  case Opcode::ExpandDims: // along its new size-1 axis no run of 2 or more fits: not proved
    return def->int_attr("axis") != dim &&
           is_prefix_mask(*def->operand(0), expanded_from(*def, dim), run, axis);
  case Opcode::And:
    return is_prefix_mask(*def->operand(0), dim, run, axis) &&
           is_prefix_mask(*def->operand(1), dim, run, axis);
  case Opcode::CmpLt:
  case Opcode::CmpLe:
    return counts_below_bound(*def->operand(0), *def->operand(1), dim, run, axis);
  case Opcode::CmpGt:
  case Opcode::CmpGe:
    return counts_below_bound(*def->operand(1), *def->operand(0), dim, run, axis);
  default:
    return false;
  }
}

int prefix_copy_width(const ir::Op& load, int dim, int64_t per_thread,
                      const analysis::AxisAnalysis& axis) {
  const ir::Value* ptr = load.operand(0);
  const analysis::AxisInfo& info = axis.info(ptr);
  const int64_t eb = std::max(1u, ptr->type()->element()->pointee()->element_bits() / 8);
  int64_t w = std::min<int64_t>(per_thread, 16 / eb);
  w = std::min(w, info.contiguity[dim]);
  w = std::min(w, std::max<int64_t>(1, info.divisibility[dim] / eb));
  w = std::bit_floor(static_cast<uint64_t>(std::max<int64_t>(1, w)));
  if (load.num_operands() > 1)
    while (w > 1 && !is_prefix_mask(*load.operand(1), dim, w, axis))
      w /= 2;
  return static_cast<int>(w);
}

} // namespace tessel::codegen::gpu
