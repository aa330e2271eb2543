// The verifier's structural half: what holds for every op whatever its opcode. It walks each
// kernel in program order keeping the set of values visible at the current op (the block
// arguments and earlier results of the current block and of every enclosing block), and checks
//   * SSA scoping: every operand is visible, so it is defined before its use, in the same block or
//     an enclosing one, and never inside a sibling or nested region;
//   * attributes: each has the kind ops.def declares (`num` by the result's element type);
//   * terminators: every block ends in the terminator its owner expects (`return` for a kernel
//     body, `condition` for region 0 of `while`, `yield` elsewhere), and terminators appear only
//     there;
//   * layouts (types.h): every layout fits its tensor's shape; a kernel is in one stage: either no
//     tensor value carries a layout (after tracing) or every one does (GPU lowering has started,
//     from assign-layouts on), and GPU_STAGE ops (ops.def) appear only in the second;
// then runs the op's own hook from ops.def (verify_ops.cpp), after its regions, so that a hook may
// rely on its regions being well formed. The first failure is reported, naming the op.
#include "tessel/ir/verifier.h"

#include "tessel/ir/printer.h"

#include <unordered_set>

namespace tessel::ir {
namespace {

// The first line of print_op(op), for messages about ops with regions.
std::string op_text(const Op& op) {
  std::string text = print_op(op);
  size_t nl = text.find('\n');
  if (nl != std::string::npos && nl + 1 < text.size())
    return text.substr(0, nl) + " ...";
  return text.substr(0, nl);
}

VerifyError error_at(const Op& op, const std::string& rule) {
  return VerifyError{"'" + std::string(op.name()) + "' " + rule + "\n  in: " + op_text(op), op.loc};
}

// The terminator a block owned by `owner` (null for a kernel body) must end in.
Opcode expected_terminator(const Op* owner, size_t region) {
  if (!owner)
    return Opcode::Return;
  if (owner->opcode() == Opcode::While && region == 0)
    return Opcode::Condition;
  return Opcode::Yield;
}

bool is_ancestor_block(const Block* maybe_ancestor, const Block* block) {
  for (const Block* b = block; b;) {
    if (b == maybe_ancestor)
      return true;
    const Op* parent = b->parent_op();
    b = parent ? parent->parent_block() : nullptr;
  }
  return false;
}

std::optional<std::string> check_attrs(const Op& op) {
  const auto& specs = op.info().attrs;
  if (op.attrs().size() != specs.size())
    return "has " + std::to_string(op.attrs().size()) + " attributes, ops.def declares " +
           std::to_string(specs.size());
  for (size_t i = 0; i < specs.size(); ++i) {
    Attr::Kind want = Attr::Kind::Int;
    switch (specs[i].kind) {
    case AttrSpec::Kind::Int:
      want = Attr::Kind::Int;
      break;
    case AttrSpec::Kind::Float:
      want = Attr::Kind::Float;
      break;
    case AttrSpec::Kind::Num:
      want = op.num_results() && op.result(0)->type()->is_float() ? Attr::Kind::Float
                                                                  : Attr::Kind::Int;
      break;
    case AttrSpec::Kind::Ints:
      want = Attr::Kind::Ints;
      break;
    case AttrSpec::Kind::Str:
      want = Attr::Kind::Str;
      break;
    }
    if (specs[i].optional && op.attrs()[i].kind == Attr::Kind::None)
      continue;
    if (op.attrs()[i].kind != want) {
      static const char* const kNames[] = {"none", "an integer", "a float", "a list of integers",
                                           "a string"};
      return "attribute '" + specs[i].name + "' must be " + kNames[size_t(want)] + ", found " +
             kNames[size_t(op.attrs()[i].kind)];
    }
  }
  return std::nullopt;
}

class Verifier {
public:
  std::optional<VerifyError> function(const Function& f) {
    if (f.arg_divisibility.size() != f.body.num_args())
      return VerifyError{"kernel @" + f.name + " has " + std::to_string(f.body.num_args()) +
                             " arguments but " + std::to_string(f.arg_divisibility.size()) +
                             " divisibility entries",
                         {}};
    for (size_t i = 0; i < f.arg_divisibility.size(); ++i)
      if (f.arg_divisibility[i] < 1)
        return VerifyError{"kernel @" + f.name + " argument " + std::to_string(i) +
                               " has divisibility " + std::to_string(f.arg_divisibility[i]) +
                               ", expected >= 1",
                           {}};
    if (auto e = stage(f))
      return e;
    return block(f.body, nullptr, 0);
  }

private:
  // The layout rules above, before the per-op checks. `laid_out_` is whether the kernel is past
  // the start of GPU lowering: whether its first tensor value carries a layout.
  std::optional<VerifyError> stage(const Function& f) {
    std::optional<bool> laid_out;
    std::optional<VerifyError> error;
    auto check = [&](const Value* v, const Op& at) {
      const Type* t = v->type();
      if (error || !t->is_tensor())
        return;
      if (!laid_out)
        laid_out = t->layout() != nullptr;
      if (*laid_out != (t->layout() != nullptr))
        error = error_at(at, "mixes tensors with and without layouts (" + t->str() +
                                 "): once GPU lowering starts every tensor carries a layout");
      else if (t->layout())
        if (auto m = t->layout()->mismatch(t->dims()))
          error = error_at(at, "has a layout that does not fit " + t->str() + ": " + *m);
    };
    walk(f.body, [&](const Op& op) {
      for (size_t r = 0; r < op.num_regions(); ++r)
        for (const Value* a : op.region(r).args())
          check(a, op);
      for (const Value* v : op.results())
        check(v, op);
    });
    laid_out_ = laid_out.value_or(false);
    if (error)
      return error;
    return std::nullopt;
  }

  std::optional<VerifyError> block(const Block& b, const Op* owner, size_t region) {
    std::vector<const Value*> added; // removed again on the way out: this block's scope
    auto leave = [&] {
      for (const Value* v : added)
        visible_.erase(v);
    };
    for (size_t i = 0; i < b.num_args(); ++i) {
      visible_.insert(b.arg(i));
      added.push_back(b.arg(i));
    }
    Opcode want = expected_terminator(owner, region);
    const char* want_name = op_info(want).name;
    if (b.empty()) {
      leave();
      std::string where = owner ? "region " + std::to_string(region) : "kernel body";
      if (owner)
        return error_at(*owner, where + " is empty; it must end in '" + want_name + "'");
      return VerifyError{"kernel body is empty; it must end in 'return'", {}};
    }
    for (const auto& op_ptr : b.ops()) {
      const Op& op = *op_ptr;
      bool last = op_ptr == b.ops().back();
      if (auto e = one_op(op, last, want, owner, region)) {
        leave();
        return e;
      }
      for (size_t i = 0; i < op.num_results(); ++i) {
        visible_.insert(op.result(i));
        added.push_back(op.result(i));
      }
    }
    leave();
    return std::nullopt;
  }

  std::optional<VerifyError> one_op(const Op& op, bool last, Opcode want, const Op* owner,
                                    size_t region) {
    const char* want_name = op_info(want).name;
    for (size_t i = 0; i < op.num_operands(); ++i) {
      const Value* v = op.operand(i);
      if (visible_.count(v))
        continue;
      const Block* def = v->is_block_arg() ? v->owner_block() : v->defining_op()->parent_block();
      if (def && is_ancestor_block(def, op.parent_block()))
        return error_at(op, "operand #" + std::to_string(i) + " (" + v->type()->str() +
                                ") is used before it is defined");
      return error_at(op, "operand #" + std::to_string(i) + " (" + v->type()->str() +
                              ") is used outside the region that defines it");
    }
    if (auto msg = check_attrs(op))
      return error_at(op, *msg);
    if (op.has(GPU_STAGE) && !laid_out_)
      return error_at(op, "may only appear once GPU lowering has started (in a kernel whose tensor "
                          "types carry layouts, from assign-layouts on)");
    if (size_t(op.info().num_regions) != op.num_regions())
      return error_at(op, "has " + std::to_string(op.num_regions()) + " regions, expected " +
                              std::to_string(op.info().num_regions));
    if (op.has(TERMINATOR) && !last)
      return error_at(op, "is a terminator and must be the last op of its block");
    if (last && op.opcode() != want) {
      std::string where = owner ? "region " + std::to_string(region) + " of '" + owner->name() + "'"
                                : std::string("a kernel body");
      return error_at(op, "ends " + where + ", which must end in '" + want_name + "'");
    }
    for (size_t r = 0; r < op.num_regions(); ++r)
      if (auto e = block(op.region(r), &op, r))
        return e;
    if (auto msg = op.info().verifier(op))
      return error_at(op, *msg);
    return std::nullopt;
  }

  // Lookups only; never iterated.
  std::unordered_set<const Value*> visible_;
  bool laid_out_ = false;
};

} // namespace

std::optional<VerifyError> verify(const Function& function) {
  return Verifier().function(function);
}

std::optional<VerifyError> verify(const Module& module) {
  for (const auto& f : module.functions)
    if (auto e = verify(*f))
      return e;
  return std::nullopt;
}

void verify_or_throw(const Module& module, std::string_view stage) {
  auto e = verify(module);
  if (!e)
    return;
  std::string where = e->loc.known() ? e->loc.str() + ": " : "";
  throw Error(std::string(stage) + ": " + where + "invalid IR: " + e->message);
}

} // namespace tessel::ir
