//===- licm: loop-invariant code motion -------------------------------------------------------===//
//
// Algorithm: visit loops innermost first (a post-order walk), so that an op hoisted out of an inner
// loop lands in the outer loop's body and can be hoisted again from there. For each `for` and
// `while`, walk the ops directly in its regions in program order and move an op to just before the
// loop when
//   * it is PURE and has no regions (never a load: memory may change between iterations; never a
//     store or control flow), and
//   * each of its operands is defined outside the loop — either originally or because the op that
//     defines it has just been hoisted (program order makes that visible in one walk).
// Pure ops never trap in this IR (division by zero is an unspecified value, ir.h), so hoisting out
// of a loop that runs zero times, or out of a `while`'s body, is safe. Ops nested in an `if` inside
// the loop are left alone. Counter: "hoisted".
//
//===----------------------------------------------------------------------------------------===//
#include "codegen/transforms/passes.h"

namespace tessel::codegen {
namespace {

using namespace ir;

bool is_loop(const Op& op) { return op.opcode() == Opcode::For || op.opcode() == Opcode::While; }

bool can_hoist(const Op& op, const Op& loop) {
  if (!op.has(PURE) || op.num_regions() != 0)
    return false;
  for (const Value* v : op.operands())
    if (!is_defined_outside(v, loop))
      return false;
  return true;
}

class Licm {
public:
  explicit Licm(PassStats& stats) : stats_(stats) {}

  void block(Block& b) {
    for (auto it = b.ops().begin(); it != b.ops().end(); ++it) {
      Op& op = **it;
      for (size_t r = 0; r < op.num_regions(); ++r)
        block(op.region(r));
      if (is_loop(op))
        hoist_from(op, b, it);
    }
  }

private:
  // Moves the invariant ops of `loop` (at `pos` in `parent`) to just before it.
  void hoist_from(Op& loop, Block& parent, Block::iterator pos) {
    for (size_t r = 0; r < loop.num_regions(); ++r) {
      auto& ops = loop.region(r).ops();
      for (auto it = ops.begin(); it != ops.end();) {
        if (!can_hoist(**it, loop)) {
          ++it;
          continue;
        }
        std::unique_ptr<Op> moved = std::move(*it);
        it = ops.erase(it);
        parent.insert(pos, std::move(moved));
        stats_["hoisted"]++;
      }
    }
  }

  PassStats& stats_;
};

void run(Module& module, PassStats& stats) {
  for (auto& f : module.functions)
    Licm(stats).block(f->body);
}

} // namespace

PassInfo licm_pass() {
  return {"licm", "Hoists pure loop-invariant ops out of for and while loops.", run};
}

} // namespace tessel::codegen
