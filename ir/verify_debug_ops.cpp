// Verifier hooks of the debugging ops (ops.def, last block): device_print takes any value (numbers
// or pointers, scalar or tile) and an optional i1 mask of its shape; device_assert an i1 condition
// and an optional mask of its shape. Their strings may hold any bytes.
#include "ir/verify_ops.h"

#include <algorithm>

namespace tessel::ir {
namespace {

using Message = std::optional<std::string>;

// The operand count (1 or 2) and the mask, when there is one, of a debugging op.
Message check_value_and_mask(const Op& op, const char* value_name) {
  if (op.num_operands() < 1 || op.num_operands() > 2)
    return std::string("takes ") + value_name + " and an optional mask, found " +
           std::to_string(op.num_operands()) + " operands";
  if (op.num_operands() == 1)
    return std::nullopt;
  const Type* v = op.operand(0)->type();
  const Type* m = op.operand(1)->type();
  if (!m->is_bool() || !std::ranges::equal(m->dims(), v->dims()))
    return "mask must be i1 of the shape of " + std::string(value_name) + ", found " + m->str() +
           " for " + v->str();
  return std::nullopt;
}

} // namespace

Message verify_device_print(const Op& op) { return check_value_and_mask(op, "the printed value"); }

Message verify_device_assert(const Op& op) {
  if (auto m = check_value_and_mask(op, "the condition"))
    return m;
  if (!op.operand(0)->type()->is_bool())
    return "condition must be i1 (a comparison), found " + op.operand(0)->type()->str();
  return std::nullopt;
}

} // namespace tessel::ir
