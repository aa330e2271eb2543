//===- dce: dead code elimination -------------------------------------------------------------===//
//
// Algorithm: count the uses of every value, then walk each block from its last op to its first,
// visiting an op's regions before the op itself. An op is dead when none of its results is used
// and deleting it cannot change what the kernel does:
//   * a PURE op (loads are not PURE: they may fault, so they stay); or
//   * a `for` or `if` whose regions hold only PURE ops, terminators and such loops and branches
//     (a `while` may not terminate, so it stays).
// Deleting an op drops the uses its operands (and the operands of the ops in its regions) had, so
// walking backwards removes whole chains in one walk: users are always visited before the ops they
// use. Counts are per pass run and looked up by value, never iterated.
//
//===----------------------------------------------------------------------------------------===//
#include "codegen/transforms/passes.h"

#include <unordered_map>

namespace tessel::codegen {
namespace {

using namespace ir;

// True when running `op` (and its regions) has no effect besides its results.
bool has_no_side_effects(const Op& op) {
  if (op.has(PURE) || op.opcode() == Opcode::Yield)
    return true;
  if (op.opcode() != Opcode::For && op.opcode() != Opcode::If)
    return false;
  for (size_t r = 0; r < op.num_regions(); ++r)
    for (const auto& inner : op.region(r).ops())
      if (!has_no_side_effects(*inner))
        return false;
  return true;
}

class Dce {
public:
  explicit Dce(PassStats& stats) : stats_(stats) {}

  void run(Block& body) {
    walk(body, [&](Op& op) {
      for (Value* v : op.operands())
        uses_[v]++;
    });
    block(body);
  }

private:
  void block(Block& b) {
    auto& ops = b.ops();
    for (auto it = ops.end(); it != ops.begin();) {
      --it;
      Op& op = **it;
      for (size_t r = op.num_regions(); r-- > 0;)
        block(op.region(r));
      if (!is_dead(op))
        continue;
      drop_uses(op);
      stats_["erased"]++;
      it = ops.erase(it);
    }
  }

  bool is_dead(const Op& op) const {
    if (op.has(TERMINATOR) || !has_no_side_effects(op))
      return false;
    for (size_t i = 0; i < op.num_results(); ++i)
      if (auto found = uses_.find(op.result(i)); found != uses_.end() && found->second > 0)
        return false;
    return true;
  }

  void drop_uses(Op& op) {
    walk_op(op, [&](Op& inner) {
      for (Value* v : inner.operands())
        uses_[v]--;
    });
  }
  static void walk_op(Op& op, const std::function<void(Op&)>& fn) {
    fn(op);
    for (size_t r = 0; r < op.num_regions(); ++r)
      walk(op.region(r), fn);
  }

  PassStats& stats_;
  std::unordered_map<const Value*, int64_t> uses_;
};

void run(Module& module, PassStats& stats) {
  for (auto& f : module.functions)
    Dce(stats).run(f->body);
}

} // namespace

PassInfo dce_pass() {
  return {"dce", "Erases pure ops, loops and branches whose results are unused.", run};
}

} // namespace tessel::codegen
