// The verifier hooks of the escape-hatch ops (ops.def: inline_asm, inline_asm_volatile,
// extern_call). The DSL (dsl/escape_hatch.cpp) reports the same mistakes with the user's names;
// these catch IR written by hand or by a pass.
#include "ir/verify_ops.h"

#include "tessel/ir/escape_hatch.h"

#include <algorithm>

namespace tessel::ir {

namespace {

using Message = std::optional<std::string>;

bool same_dims(const Type* a, const Type* b) { return std::ranges::equal(a->dims(), b->dims()); }

// Operands of the result's shape, numbers other than i1, and a fallback slot or -1.
Message check_elementwise_numbers(const Op& op) {
  const Type* r = op.result()->type();
  for (const Value* v : op.operands()) {
    if (!same_dims(v->type(), r))
      return "operands must have the result's shape, found " + v->type()->str() + " for " +
             r->str();
    if (v->type()->is_pointer_like() || v->type()->is_bool())
      return "operands must be numbers other than i1, found " + v->type()->str();
  }
  if (r->is_pointer_like() || r->is_bool())
    return "the result must be a number other than i1, found " + r->str();
  if (op.int_attr("fallback") < -1)
    return "fallback must be a host-callback slot or -1, found " +
           std::to_string(op.int_attr("fallback"));
  return std::nullopt;
}

std::vector<std::string_view> count_asm_constraints_list(const Op& op) {
  return asm_operand_constraints(op.attr("constraints").s);
}

} // namespace

Message verify_inline_asm(const Op& op) {
  if (Message m = check_elementwise_numbers(op))
    return m;
  const int64_t pack = op.int_attr("pack");
  if (pack != 1 && pack != 2 && pack != 4)
    return "pack must be 1, 2 or 4, found " + std::to_string(pack);
  int outputs = asm_packing(op.result()->type()->element_bits(), int(pack)).registers;
  int inputs = 0;
  for (const Value* v : op.operands())
    inputs += asm_packing(v->type()->element_bits(), int(pack)).registers;
  AsmConstraintCount c = count_asm_constraints(op.attr("constraints").s);
  if (c.outputs != outputs || c.inputs != inputs || !c.outputs_first)
    return "constraints '" + op.attr("constraints").s + "' name " + std::to_string(c.outputs) +
           " output(s) and " + std::to_string(c.inputs) + " input(s); with pack " +
           std::to_string(pack) + " the op has " + std::to_string(outputs) + " and " +
           std::to_string(inputs) + ", outputs first";
  // Each operand's register class is as wide as what it carries.
  std::vector<std::string_view> cs = count_asm_constraints_list(op);
  std::vector<unsigned> widths;
  auto add = [&](unsigned bits) {
    AsmPacking p = asm_packing(bits, int(pack));
    for (int j = 0; j < p.registers; ++j)
      widths.push_back(asm_register_bits(bits, p.per_register));
  };
  add(op.result()->type()->element_bits());
  for (const Value* v : op.operands())
    add(v->type()->element_bits());
  for (size_t i = 0; i < widths.size(); ++i)
    if (asm_letter_bits(asm_constraint_letter(cs[i])) != widths[i])
      return "constraint '" + std::string(cs[i]) + "' of operand $" + std::to_string(i) +
             " must name a " + std::to_string(widths[i]) + "-bit register (h, r/f, l/d)";
  return std::nullopt;
}

Message verify_extern_call(const Op& op) {
  if (Message m = check_elementwise_numbers(op))
    return m;
  auto supported = [](const Type* t) {
    const Type* e = t->element();
    return (e->is_integer() || e->is_float()) && e->element_bits() >= 32;
  };
  for (const Value* v : op.operands())
    if (!supported(v->type()))
      return "extern functions take i32, u32, i64, u64, f32 or f64, found " + v->type()->str();
  if (!supported(op.result()->type()))
    return "extern functions return i32, u32, i64, u64, f32 or f64, found " +
           op.result()->type()->str();
  if (op.attr("name").s.empty())
    return "the extern function needs a name";
  return std::nullopt;
}

} // namespace tessel::ir
