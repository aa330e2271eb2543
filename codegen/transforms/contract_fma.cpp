//===- contract-fma: a*b + c into one fused multiply-add ------------------------------------===//
//
// `add(mul(a, b), c)` (either operand order) becomes `fma(a, b, c)` when the elements are floats,
// the product has no other use (a shared product is computed once anyway, and fusing one of its
// uses would give its users different roundings of the same a*b) and it is computed in the add's
// block (fusing across a loop boundary would move the multiplication into the loop). The result
// is rounded once instead of twice, as Triton does by default (`enable_fp_fusion`); the compile
// option `fp_fusion` (on by default) decides whether the pass runs, and since it rewrites the tile
// IR both backends compute the same fused value: the CPU and the simulator stay bit-identical.
// `sub` is not contracted. Statistics: contracted.
//
//===----------------------------------------------------------------------------------------===//
#include "codegen/transforms/passes.h"

#include <unordered_map>

namespace tessel::codegen {
namespace {

using namespace ir;

class ContractFma {
public:
  explicit ContractFma(PassStats& stats) : stats_(stats) {}

  void run(Block& body) {
    walk(body, [&](Op& op) {
      for (Value* v : op.operands())
        uses_[v]++;
    });
    std::vector<Op*> adds;
    walk(body, [&](Op& op) {
      if (op.opcode() == Opcode::Add && op.result()->type()->is_float())
        adds.push_back(&op);
    });
    for (Op* add : adds)
      contract(*add, body);
  }

private:
  // The single-use product in `add`'s block among its operands (the first one), or null.
  Op* fusable_product(const Op& add, size_t& which) const {
    for (which = 0; which < 2; ++which) {
      Op* mul = add.operand(which)->defining_op();
      if (mul && mul->opcode() == Opcode::Mul && mul->parent_block() == add.parent_block() &&
          uses_.at(mul->result()) == 1)
        return mul;
    }
    return nullptr;
  }

  void contract(Op& add, Block& body) {
    size_t which = 0;
    Op* mul = fusable_product(add, which);
    if (!mul)
      return;
    const Type* type = add.result()->type();
    auto fma = std::make_unique<Op>(
        Opcode::Fma, std::vector<Value*>{mul->operand(0), mul->operand(1), add.operand(1 - which)},
        std::span<const Type* const>(&type, 1), std::vector<Attr>{}, add.loc);
    Block* block = add.parent_block();
    Op* fused = block->insert(block->find(&add), std::move(fma))->get();
    replace_all_uses(body, add.result(), fused->result());
    uses_[fused->result()] = uses_[add.result()];
    block->erase(&add);
    block->erase(mul);
    stats_["contracted"]++;
  }

  PassStats& stats_;
  std::unordered_map<const Value*, int64_t> uses_;
};

} // namespace

PassInfo contract_fma_pass() {
  return {"contract-fma",
          "Fuses a float multiply whose only use is an add into one fma (one rounding); run when "
          "the compile option fp_fusion is on (the default).",
          [](Module& module, PassStats& stats) {
            for (auto& f : module.functions)
              ContractFma(stats).run(f->body);
          }};
}

} // namespace tessel::codegen
