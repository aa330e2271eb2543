// Atomics on the CPU: each element whose mask holds is one LLVM atomic instruction (atomicrmw, or
// cmpxchg for cas and for the 16-bit float adds) with the op's ordering, so programs running at
// once on the thread pool see each update whole. The CPU has one coherent memory, so every scope
// is the system scope. Float max/min use the integer forms on the float's bits (atomic.h: the
// IEEE total order): a value with its sign bit clear is combined with a signed max (min), one with
// it set with an unsigned min (max) — the same instructions the GPU lowering emits, so both
// backends agree on -0.0 and NaN. Masked-off elements yield 0 (ir.h). atomic_load and
// atomic_store are LLVM's atomic load and store with the op's ordering.
#include "codegen/cpu/lowering.h"

#include "tessel/ir/atomic.h"

namespace tessel::codegen::cpu::detail {

namespace {

llvm::AtomicOrdering ordering(ir::MemSem s) {
  switch (s) {
  case ir::MemSem::relaxed:
    return llvm::AtomicOrdering::Monotonic;
  case ir::MemSem::acquire:
    return llvm::AtomicOrdering::Acquire;
  case ir::MemSem::release:
    return llvm::AtomicOrdering::Release;
  case ir::MemSem::acq_rel:
    return llvm::AtomicOrdering::AcquireRelease;
  }
  TESSEL_UNREACHABLE("bad MemSem");
}

// cmpxchg's failure ordering may not release (a failed cas writes nothing).
llvm::AtomicOrdering failure_ordering(ir::MemSem s) {
  return s == ir::MemSem::acquire || s == ir::MemSem::acq_rel ? llvm::AtomicOrdering::Acquire
                                                              : llvm::AtomicOrdering::Monotonic;
}

bool is_float(const ir::Type* elem) { return dtype_is_float(elem->dtype()); }

// u32/u64 max and min compare as unsigned numbers (PTX atom.max.u32, as the GPU emits).
llvm::AtomicRMWInst::BinOp integer_op(ir::Opcode op, bool is_unsigned) {
  switch (op) {
  case ir::Opcode::AtomicAdd:
    return llvm::AtomicRMWInst::Add;
  case ir::Opcode::AtomicMax:
    return is_unsigned ? llvm::AtomicRMWInst::UMax : llvm::AtomicRMWInst::Max;
  case ir::Opcode::AtomicMin:
    return is_unsigned ? llvm::AtomicRMWInst::UMin : llvm::AtomicRMWInst::Min;
  case ir::Opcode::AtomicAnd:
    return llvm::AtomicRMWInst::And;
  case ir::Opcode::AtomicOr:
    return llvm::AtomicRMWInst::Or;
  case ir::Opcode::AtomicXor:
    return llvm::AtomicRMWInst::Xor;
  case ir::Opcode::AtomicXchg:
    return llvm::AtomicRMWInst::Xchg;
  default:
    TESSEL_UNREACHABLE("not a read-modify-write atomic"); // cas is lowered apart
  }
}

} // namespace

// One element's atomic on the compute-typed `val` (and `cmp` for cas); returns the old value in
// the compute type.
llvm::Value* Lowering::atomic_element(const ir::Op& op, llvm::Value* ptr, llvm::Value* val,
                                      llvm::Value* cmp) {
  const ir::Type* elem = op.result()->type()->element();
  const ir::MemSem sem = ir::atomic_sem(op);
  llvm::Type* st = storage_type(elem);
  const unsigned bits = st->getPrimitiveSizeInBits();
  llvm::Type* it = b.getIntNTy(bits);
  auto as_int = [&](llvm::Value* v) { return b.CreateBitCast(to_storage(v, elem), it); };
  auto from_int = [&](llvm::Value* v) { return from_storage(b.CreateBitCast(v, st), elem); };
  if (op.opcode() == ir::Opcode::AtomicLoad) {
    llvm::LoadInst* load = b.CreateLoad(it, ptr);
    load->setAtomic(ordering(sem));
    load->setAlignment(llvm::Align(bits / 8));
    return from_int(load);
  }
  if (op.opcode() == ir::Opcode::AtomicCas) {
    llvm::Value* pair =
        b.CreateAtomicCmpXchg(ptr, as_int(cmp), as_int(val), llvm::MaybeAlign(bits / 8),
                              ordering(sem), failure_ordering(sem));
    return from_int(b.CreateExtractValue(pair, 0));
  }
  if (!is_float(elem))
    return b.CreateAtomicRMW(integer_op(op.opcode(), elem->is_unsigned()), ptr, val,
                             llvm::MaybeAlign(bits / 8), ordering(sem));
  switch (op.opcode()) {
  case ir::Opcode::AtomicAdd:
    if (bits == 16)
      return atomic_cas_loop(
          ptr, elem, sem, [&](llvm::Value* old) { return round_to(b.CreateFAdd(old, val), elem); });
    return b.CreateAtomicRMW(llvm::AtomicRMWInst::FAdd, ptr, val, llvm::MaybeAlign(bits / 8),
                             ordering(sem));
  case ir::Opcode::AtomicMax:
  case ir::Opcode::AtomicMin: {
    const bool max = op.opcode() == ir::Opcode::AtomicMax;
    llvm::Value* bitsv = as_int(val);
    llvm::Value* negative = b.CreateICmpSLT(bitsv, llvm::ConstantInt::get(it, 0));
    // Both instructions are emitted and one is chosen by a branch on the value's sign.
    auto* neg = llvm::BasicBlock::Create(ctx, "atomic.neg", llfn);
    auto* pos = llvm::BasicBlock::Create(ctx, "atomic.pos", llfn);
    auto* join = llvm::BasicBlock::Create(ctx, "atomic.join", llfn);
    b.CreateCondBr(negative, neg, pos);
    b.SetInsertPoint(neg);
    llvm::Value* old_neg =
        b.CreateAtomicRMW(max ? llvm::AtomicRMWInst::UMin : llvm::AtomicRMWInst::UMax, ptr, bitsv,
                          llvm::MaybeAlign(bits / 8), ordering(sem));
    b.CreateBr(join);
    b.SetInsertPoint(pos);
    llvm::Value* old_pos =
        b.CreateAtomicRMW(max ? llvm::AtomicRMWInst::Max : llvm::AtomicRMWInst::Min, ptr, bitsv,
                          llvm::MaybeAlign(bits / 8), ordering(sem));
    b.CreateBr(join);
    b.SetInsertPoint(join);
    llvm::PHINode* old = b.CreatePHI(it, 2);
    old->addIncoming(old_neg, neg);
    old->addIncoming(old_pos, pos);
    return from_int(old);
  }
  case ir::Opcode::AtomicXchg:
    return from_int(b.CreateAtomicRMW(llvm::AtomicRMWInst::Xchg, ptr, as_int(val),
                                      llvm::MaybeAlign(bits / 8), ordering(sem)));
  default:
    TESSEL_UNREACHABLE("the verifier admits no other float atomic");
  }
}

// old = *ptr; repeat: new = update(old); cmpxchg(ptr, old, new) until it succeeds. For the
// updates no instruction does (16-bit float add).
llvm::Value* Lowering::atomic_cas_loop(llvm::Value* ptr, const ir::Type* elem, ir::MemSem sem,
                                       const std::function<llvm::Value*(llvm::Value*)>& update) {
  llvm::Type* st = storage_type(elem);
  llvm::Type* it = b.getIntNTy(st->getPrimitiveSizeInBits());
  const llvm::MaybeAlign align(st->getPrimitiveSizeInBits() / 8);
  llvm::LoadInst* first = b.CreateLoad(it, ptr);
  first->setAtomic(llvm::AtomicOrdering::Monotonic);
  first->setAlignment(*align);
  llvm::BasicBlock* entry = b.GetInsertBlock();
  auto* loop = llvm::BasicBlock::Create(ctx, "cas.loop", llfn);
  auto* done = llvm::BasicBlock::Create(ctx, "cas.done", llfn);
  b.CreateBr(loop);
  b.SetInsertPoint(loop);
  llvm::PHINode* old = b.CreatePHI(it, 2);
  old->addIncoming(first, entry);
  llvm::Value* next =
      b.CreateBitCast(to_storage(update(from_storage(b.CreateBitCast(old, st), elem)), elem), it);
  llvm::Value* pair =
      b.CreateAtomicCmpXchg(ptr, old, next, align, ordering(sem), failure_ordering(sem));
  llvm::Value* seen = b.CreateExtractValue(pair, 0);
  old->addIncoming(seen, b.GetInsertBlock());
  b.CreateCondBr(b.CreateExtractValue(pair, 1), done, loop);
  b.SetInsertPoint(done);
  return from_storage(b.CreateBitCast(seen, st), elem);
}

void Lowering::lower_atomic(const ir::Op& op) {
  if (op.opcode() == ir::Opcode::AtomicStore)
    return lower_atomic_store(op);
  const bool cas = op.opcode() == ir::Opcode::AtomicCas;
  const bool load = op.opcode() == ir::Opcode::AtomicLoad;
  const size_t mask_at = load ? 1 : 2; // atomic_load ptr, mask; atomic_OP ptr, val, mask
  const ir::Value* mask = !cas && op.num_operands() > mask_at ? op.operand(mask_at) : nullptr;
  const ir::Type* rt = op.result()->type();
  const ir::Type* elem = rt->element();
  auto one = [&](const Index& idx) -> llvm::Value* {
    auto at = [&](const ir::Value* v) {
      return element(v, v->type()->rank() == 0 ? Index{} : idx);
    };
    llvm::Value* p = at(op.operand(0));
    llvm::Value* val = load ? nullptr : at(op.operand(cas ? 2 : 1));
    llvm::Value* cmp = cas ? at(op.operand(1)) : nullptr;
    auto access = [&] {
      check_access(op, p, elem, /*is_store=*/!load);
      return atomic_element(op, p, val, cmp);
    };
    if (!mask)
      return access();
    llvm::Value* m = at(mask);
    llvm::BasicBlock* skip_from = b.GetInsertBlock();
    auto* then = llvm::BasicBlock::Create(ctx, "atomic.masked", llfn);
    auto* cont = llvm::BasicBlock::Create(ctx, "atomic.cont", llfn);
    b.CreateCondBr(m, then, cont);
    b.SetInsertPoint(then);
    llvm::Value* old = access();
    llvm::BasicBlock* access_end = b.GetInsertBlock();
    b.CreateBr(cont);
    b.SetInsertPoint(cont);
    llvm::PHINode* phi = b.CreatePHI(old->getType(), 2);
    phi->addIncoming(old, access_end);
    phi->addIncoming(llvm::Constant::getNullValue(old->getType()), skip_from);
    return phi;
  };
  if (rt->rank() == 0) {
    set_scalar(op.result(), one({}));
    return;
  }
  llvm::Value* storage = new_array(rt);
  loop_nest(rt->dims(), [&](const Index& idx) {
    store_element(one(idx), element_address(storage, rt, idx), elem);
  });
  set_stored(op.result(), storage);
}

// Each element whose mask holds: one atomic store of its bits with the op's ordering.
void Lowering::lower_atomic_store(const ir::Op& op) {
  const ir::Type* pt = op.operand(0)->type();
  const ir::Type* elem = op.operand(1)->type()->element();
  const ir::Value* mask = op.num_operands() > 2 ? op.operand(2) : nullptr;
  llvm::Type* st = storage_type(elem);
  const unsigned bits = st->getPrimitiveSizeInBits();
  auto one = [&](const Index& idx) {
    auto at = [&](const ir::Value* v) {
      return element(v, v->type()->rank() == 0 ? Index{} : idx);
    };
    llvm::Value* p = at(op.operand(0));
    llvm::Value* val = b.CreateBitCast(to_storage(at(op.operand(1)), elem), b.getIntNTy(bits));
    auto* cont = llvm::BasicBlock::Create(ctx, "atomic.store.cont", llfn);
    if (mask) {
      auto* then = llvm::BasicBlock::Create(ctx, "atomic.store", llfn);
      b.CreateCondBr(at(mask), then, cont);
      b.SetInsertPoint(then);
    }
    check_access(op, p, elem, /*is_store=*/true);
    llvm::StoreInst* store = b.CreateStore(val, p);
    store->setAtomic(ordering(ir::atomic_sem(op)));
    store->setAlignment(llvm::Align(bits / 8));
    b.CreateBr(cont);
    b.SetInsertPoint(cont);
  };
  if (pt->rank() == 0)
    return one({});
  loop_nest(pt->dims(), one);
}

} // namespace tessel::codegen::cpu::detail
