//===- canonicalize: constant folding and algebraic simplification ---------------------------===//
//
// Algorithm: one walk over each kernel in program order. Before an op is looked at, its operands
// are rewritten through the replacement map, so a simplification feeds the ops after it (chains
// fold in one walk: uses always follow definitions). Regions are walked before their op. An op is
// replaced when
//   * it is pure and elementwise and every operand is a `constant`: it is evaluated with the exact
//     semantics of ir.h (fold.cpp) into a new constant of its result type ("folded");
//   * an algebraic identity applies: x+0, x-0, x*1, x/1, x|0, x^0, x&-1, x<<0, x>>0 -> x;
//     x*0, x&0 -> 0; x-x, x^x -> 0; x&x, x|x, min/max x,x -> x; select of a constant condition or
//     of two equal values ("simplified"). Identities that do not hold for IEEE floats (x+0 is not x
//     for x = -0.0, x*0 is not 0 for NaN) are applied to integers only;
//   * a shape op (splat, broadcast, reshape, expand_dims, permute) takes a constant: it becomes a
//     constant of the result type ("folded"), or a shape op that changes nothing, a broadcast of a
//     splat or of a broadcast, a reshape of a reshape, a cast to the same type collapse
//     ("simplified").
// Replaced ops are unlinked at once but freed only at the end of the pass, so that no new value can
// reuse the address of a replaced one while the replacement map still holds it. Constants that
// become unused are left for dce.
//
//===----------------------------------------------------------------------------------------===//
#include "codegen/transforms/fold.h"
#include "codegen/transforms/passes.h"

#include <algorithm>
#include <unordered_map>

namespace tessel::codegen {
namespace {

using namespace ir;

const Attr* constant_of(const Value* v) {
  const Op* def = v->defining_op();
  if (!def || def->opcode() != Opcode::Constant || def->attrs()[0].kind == Attr::Kind::None)
    return nullptr;
  return &def->attrs()[0];
}

bool is_int_constant(const Value* v, int64_t x) {
  const Attr* a = constant_of(v);
  return a && v->type()->is_integer() && a->kind == Attr::Kind::Int &&
         a->i == wrap_to_int_type(x, v->type()->element()->dtype());
}

bool is_one(const Value* v) {
  const Attr* a = constant_of(v);
  if (a && v->type()->is_float())
    return a->kind == Attr::Kind::Float && a->f == 1.0;
  return is_int_constant(v, 1);
}

bool is_shape_op(Opcode op) {
  return op == Opcode::Splat || op == Opcode::Broadcast || op == Opcode::Reshape ||
         op == Opcode::ExpandDims || op == Opcode::Permute;
}

class Canonicalizer {
public:
  explicit Canonicalizer(PassStats& stats) : stats_(stats) {}

  void block(Block& b) {
    for (auto it = b.ops().begin(); it != b.ops().end();) {
      Op& op = **it;
      for (size_t i = 0; i < op.num_operands(); ++i)
        if (auto found = replaced_.find(op.operand(i)); found != replaced_.end())
          op.set_operand(i, found->second);
      for (size_t r = 0; r < op.num_regions(); ++r)
        block(op.region(r));
      Value* replacement = simplify(b, it);
      if (!replacement) {
        ++it;
        continue;
      }
      replaced_[op.result()] = replacement;
      graveyard_.push_back(std::move(*it));
      it = b.ops().erase(it);
    }
  }

private:
  // A new constant of `type` holding `value`, before `pos`.
  Value* constant(Block& b, Block::iterator pos, const Type* type, const Attr& value) {
    auto op = std::make_unique<Op>(Opcode::Constant, std::vector<Value*>{},
                                   std::span<const Type* const>(&type, 1), std::vector<Attr>{value},
                                   (*pos)->loc);
    return b.insert(pos, std::move(op))->get()->result();
  }
  Value* rebuilt(Block& b, Block::iterator pos, Opcode opcode, Value* operand) {
    const Type* type = (*pos)->result()->type();
    auto op = std::make_unique<Op>(opcode, std::vector<Value*>{operand},
                                   std::span<const Type* const>(&type, 1), std::vector<Attr>{},
                                   (*pos)->loc);
    return b.insert(pos, std::move(op))->get()->result();
  }
  Value* simplified(Value* v) {
    stats_["simplified"]++;
    return v;
  }

  // The value that replaces the op at `pos`, or null.
  Value* simplify(Block& b, Block::iterator pos) {
    Op& op = **pos;
    if (!op.has(PURE) || op.num_results() != 1 || op.opcode() == Opcode::Constant)
      return nullptr;
    if (Value* v = fold(b, pos))
      return v;
    return identity(b, pos);
  }

  Value* fold(Block& b, Block::iterator pos) {
    Op& op = **pos;
    const Type* type = op.result()->type();
    if (type->is_pointer_like())
      return nullptr;
    std::vector<ConstValue> values;
    for (Value* v : op.operands()) {
      const Attr* a = constant_of(v);
      if (!a || v->type()->is_pointer_like())
        return nullptr;
      values.push_back(*a);
    }
    if (is_shape_op(op.opcode())) {
      stats_["folded"]++;
      return constant(b, pos, type, values[0]);
    }
    if (!op.has(ELEMENTWISE))
      return nullptr;
    auto folded =
        fold_elementwise(op.opcode(), values, op.operand(0)->type()->element(), type->element());
    if (!folded)
      return nullptr;
    stats_["folded"]++;
    return constant(b, pos, type, *folded);
  }

  Value* identity(Block& b, Block::iterator pos) {
    Op& op = **pos;
    const Type* type = op.result()->type();
    Value* x = op.num_operands() > 0 ? op.operand(0) : nullptr;
    Value* y = op.num_operands() > 1 ? op.operand(1) : nullptr;
    bool integer = type->is_integer();
    auto zero = [&] { return constant(b, pos, type, Attr::of_int(0)); };
    // For commutative ops, look at the constant on either side: `x` the other operand.
    auto other_if = [&](auto&& pred) -> Value* {
      if (pred(y))
        return x;
      if (op.has(COMMUTATIVE) && pred(x))
        return y;
      return nullptr;
    };
    auto is_zero = [](const Value* v) { return is_int_constant(v, 0); };
    auto is_all_ones = [](const Value* v) { return is_int_constant(v, -1); };
    switch (op.opcode()) {
    case Opcode::Add:
    case Opcode::Or:
    case Opcode::Xor:
      if (Value* v = integer ? other_if(is_zero) : nullptr)
        return simplified(v);
      if (op.opcode() == Opcode::Xor && x == y)
        return simplified(zero());
      if (op.opcode() == Opcode::Or && x == y)
        return simplified(x);
      if (op.opcode() == Opcode::Or && other_if(is_all_ones))
        return simplified(is_all_ones(x) ? x : y);
      return nullptr;
    case Opcode::Sub:
      if (integer && is_zero(y))
        return simplified(x);
      if (integer && x == y)
        return simplified(zero());
      return nullptr;
    case Opcode::Mul:
      if (Value* v = other_if(is_one))
        return simplified(v);
      if (integer && other_if(is_zero))
        return simplified(is_zero(x) ? x : y);
      return nullptr;
    case Opcode::Div:
      return is_one(y) ? simplified(x) : nullptr;
    case Opcode::And:
      if (Value* v = other_if(is_all_ones))
        return simplified(v);
      if (other_if(is_zero))
        return simplified(is_zero(x) ? x : y);
      return x == y ? simplified(x) : nullptr;
    case Opcode::Shl:
    case Opcode::Shr:
      return is_zero(y) ? simplified(x) : nullptr;
    case Opcode::Min:
    case Opcode::Max:
      return integer && x == y ? simplified(x) : nullptr;
    case Opcode::Select:
      if (const Attr* c = constant_of(x))
        return simplified(c->i ? y : op.operand(2));
      return y == op.operand(2) ? simplified(y) : nullptr;
    case Opcode::Cast:
    case Opcode::Reshape:
      if (x->type() == type)
        return simplified(x);
      if (op.opcode() == Opcode::Reshape && x->defining_op() &&
          x->defining_op()->opcode() == Opcode::Reshape)
        return simplified(rebuilt(b, pos, Opcode::Reshape, x->defining_op()->operand(0)));
      return nullptr;
    case Opcode::Broadcast: {
      if (x->type() == type)
        return simplified(x);
      const Op* def = x->defining_op();
      if (def && (def->opcode() == Opcode::Splat || def->opcode() == Opcode::Broadcast))
        return simplified(rebuilt(b, pos, def->opcode(), def->operand(0)));
      return nullptr;
    }
    case Opcode::Permute:
      return x->type() == type && std::ranges::is_sorted(op.attrs()[0].ints) ? simplified(x)
                                                                             : nullptr;
    default:
      return nullptr; // no identity known for this op
    }
  }

  PassStats& stats_;
  // Lookups only, never iterated.
  std::unordered_map<const Value*, Value*> replaced_;
  std::vector<std::unique_ptr<Op>> graveyard_;
};

void run(Module& module, PassStats& stats) {
  for (auto& f : module.functions)
    Canonicalizer(stats).block(f->body);
}

} // namespace

PassInfo canonicalize_pass() {
  return {"canonicalize", "Folds constants and applies algebraic identities.", run};
}

} // namespace tessel::codegen
