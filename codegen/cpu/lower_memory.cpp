// Loads and stores of the CPU lowering. A load is always stored into a stack array at its place
// in program order (so later stores cannot change what it read); its pointer, mask and `other`
// operands are usually lazy, so the loop reads contiguous addresses. Masked elements branch
// around the memory access (masked-off addresses are never touched, ir.h); LLVM's vectorizer
// if-converts the branch into masked vector loads and stores.
#include "codegen/cpu/lowering.h"

namespace tessel::codegen::cpu::detail {

namespace {

// Emits `access` only where `mask` holds; returns the block the builder continues in.
void guarded(Lowering& l, llvm::Value* mask, const std::function<void()>& access,
             const std::function<void(llvm::BasicBlock* from_access, llvm::BasicBlock* from_skip)>&
                 join = nullptr) {
  llvm::BasicBlock* skip_from = l.b.GetInsertBlock();
  auto* then = llvm::BasicBlock::Create(l.ctx, "masked", l.llfn);
  auto* cont = llvm::BasicBlock::Create(l.ctx, "masked.cont", l.llfn);
  l.b.CreateCondBr(mask, then, cont);
  l.b.SetInsertPoint(then);
  access();
  llvm::BasicBlock* access_end = l.b.GetInsertBlock();
  l.b.CreateBr(cont);
  l.b.SetInsertPoint(cont);
  if (join)
    join(access_end, skip_from);
}

} // namespace

void Lowering::lower_load(const ir::Op& op) {
  if (op.num_operands() < 1 || op.num_operands() > 3)
    unsupported(op, "expects `load ptr [, mask [, other]]`");
  const ir::Value* ptr = op.operand(0);
  const ir::Value* mask = op.num_operands() > 1 ? op.operand(1) : nullptr;
  const ir::Value* other = op.num_operands() > 2 ? op.operand(2) : nullptr;
  const ir::Type* rt = op.result()->type();
  const ir::Type* elem = rt->element();
  if (!ptr->type()->is_pointer_like())
    unsupported(op, "the address operand is not a pointer");

  auto one = [&](const Index& idx) -> llvm::Value* {
    auto at = [&](const ir::Value* v) { return element(v, v->type()->rank() == 0 ? Index{} : idx); };
    llvm::Value* p = at(ptr);
    if (!mask)
      return load_element(p, elem);
    llvm::Value* fallback = other ? at(other) : llvm::Constant::getNullValue(compute_type(elem));
    llvm::Value* m = at(mask);
    llvm::Value* loaded = nullptr;
    llvm::Value* out = nullptr;
    guarded(*this, m, [&] { loaded = load_element(p, elem); },
            [&](llvm::BasicBlock* from_access, llvm::BasicBlock* from_skip) {
              llvm::PHINode* phi = b.CreatePHI(fallback->getType(), 2);
              phi->addIncoming(loaded, from_access);
              phi->addIncoming(fallback, from_skip);
              out = phi;
            });
    return out;
  };

  if (rt->rank() == 0) {
    set_scalar(op.result(), one({}));
    return;
  }
  llvm::Value* storage = new_array(rt);
  loop_nest(rt->dims(), [&](const Index& idx) {
    llvm::Value* v = one(idx);
    store_element(v, element_address(storage, rt, idx), elem);
  });
  set_stored(op.result(), storage);
}

void Lowering::lower_store(const ir::Op& op) {
  if (op.num_operands() < 2 || op.num_operands() > 3)
    unsupported(op, "expects `store ptr, value [, mask]`");
  const ir::Value* ptr = op.operand(0);
  const ir::Value* value = op.operand(1);
  const ir::Value* mask = op.num_operands() > 2 ? op.operand(2) : nullptr;
  if (!ptr->type()->is_pointer_like())
    unsupported(op, "the address operand is not a pointer");
  const ir::Type* elem = ptr->type()->element()->pointee();
  loop_nest(ptr->type()->dims(), [&](const Index& idx) {
    auto at = [&](const ir::Value* v) { return element(v, v->type()->rank() == 0 ? Index{} : idx); };
    // Value and address are computed unconditionally (they never trap); only the access is
    // predicated, which keeps the loop body simple for the vectorizer.
    llvm::Value* p = at(ptr);
    llvm::Value* v = at(value);
    if (!mask) {
      store_element(v, p, elem);
      return;
    }
    guarded(*this, at(mask), [&] { store_element(v, p, elem); });
  });
}

} // namespace tessel::codegen::cpu::detail
