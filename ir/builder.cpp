// Builder: op creation at an insertion point.
#include "tessel/ir/builder.h"

namespace tessel::ir {

Op* Builder::create(Opcode opcode, std::vector<Value*> operands,
                    std::span<const Type* const> result_types, std::vector<Attr> attrs) {
  TESSEL_ASSERT(block_ != nullptr, "builder has no insertion point");
  auto op = std::make_unique<Op>(opcode, std::move(operands), result_types, std::move(attrs), loc_);
  return block_->insert(pos_, std::move(op))->get();
}

Value* Builder::constant(const Type* type, double v) {
  if (type->is_float())
    return constant_float(type, v);
  if (type->is_unsigned() && v >= 0x1p63) // a u64 above INT64_MAX: its bits
    return constant_int(type, static_cast<int64_t>(static_cast<uint64_t>(v)));
  return constant_int(type, static_cast<int64_t>(v));
}

} // namespace tessel::ir
