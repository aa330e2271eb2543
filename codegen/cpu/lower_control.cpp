// Structured control flow of the CPU lowering: `for`, `if` and `while` become LLVM loops and
// branches. Carried scalars are phis; carried tensors live in one stack array per carried value,
// which also holds the op's result once the loop ends. A `yield` copies the next values into that
// storage through temporaries when a value might read it (a swap of two carried tensors).
#include "codegen/cpu/lowering.h"

#include <fmt/format.h>

namespace tessel::codegen::cpu::detail {

void Lowering::lower_control_op(const ir::Op& op) {
  using ir::Opcode;
  switch (op.opcode()) {
  case Opcode::For:
    return lower_for(op);
  case Opcode::If:
    return lower_if(op);
  case Opcode::While:
    return lower_while(op);
  case Opcode::Return:
    return lower_return(op);
  case Opcode::Yield:
  case Opcode::Condition:
    unsupported(op, "a region terminator outside the region of a for, if, while or reduce");
  default:
    break; // lower_op sends only the control family here
  }
  TESSEL_UNREACHABLE("not a control op");
}

void Lowering::bind(const ir::Value* v, llvm::Value* scalar_or_storage) {
  if (v->type()->rank() == 0)
    set_scalar(v, scalar_or_storage);
  else
    set_stored(v, scalar_or_storage);
}

const ir::Op* Lowering::lower_region_ops(const ir::Block& region, const ir::Op& owner) {
  const ir::Op* term = region.terminator();
  if (!term && !region.empty())
    unsupported(owner, "a region does not end in a terminator");
  for (const auto& op : region.ops())
    if (op.get() != term)
      lower_op(*op);
  return term;
}

std::vector<llvm::Value*> Lowering::write_values(std::span<const ir::Value* const> values,
                                                 std::span<llvm::Value* const> targets,
                                                 bool may_alias) {
  TESSEL_ASSERT(values.size() == targets.size(), "one target per value");
  std::vector<llvm::Value*> scalars(values.size(), nullptr);
  std::vector<llvm::Value*> sources(values.size(), nullptr); // stored arrays to copy from
  for (size_t i = 0; i < values.size(); ++i) {
    const ir::Value* v = values[i];
    if (v->type()->rank() == 0) {
      scalars[i] = scalar(v);
      continue;
    }
    const Rep& r = rep(v);
    if (r.kind == Rep::Kind::Stored && r.storage == targets[i])
      continue; // yields its own storage: nothing to do
    bool reads_a_target = r.kind == Rep::Kind::Lazy ||
                          std::find(targets.begin(), targets.end(), r.storage) != targets.end();
    if (!may_alias || !reads_a_target) {
      sources[i] = r.kind == Rep::Kind::Stored ? r.storage : nullptr;
      continue;
    }
    // Evaluate into a temporary before any target is overwritten.
    llvm::Value* tmp = new_array(v->type());
    copy_into(v, tmp);
    sources[i] = tmp;
  }
  for (size_t i = 0; i < values.size(); ++i) {
    const ir::Value* v = values[i];
    if (v->type()->rank() == 0)
      continue;
    const Rep& r = rep(v);
    if (r.kind == Rep::Kind::Stored && r.storage == targets[i])
      continue;
    if (!sources[i]) { // lazy, and nothing it reads is being written
      copy_into(v, targets[i]);
      continue;
    }
    const ir::Type* t = v->type();
    llvm::Value* src = sources[i];
    loop_nest(t->dims(), [&](const Index& idx) {
      llvm::Type* st = storage_type(t->element());
      b.CreateStore(b.CreateLoad(st, element_address(src, t, idx)),
                    element_address(targets[i], t, idx));
    });
  }
  return scalars;
}

void Lowering::lower_for(const ir::Op& op) {
  if (op.num_operands() < 3)
    unsupported(op, "expects `for lo, hi, step, inits...`");
  const ir::Block& body = op.region(0);
  size_t n = op.num_operands() - 3;
  if (body.num_args() != n + 1 || op.num_results() != n)
    unsupported(op,
                "the region must take the induction variable and one argument per carried value");
  llvm::Value* lo = scalar(op.operand(0));
  llvm::Value* hi = scalar(op.operand(1));
  llvm::Value* step = scalar(op.operand(2));
  if (!lo->getType()->isIntegerTy() || lo->getType() != hi->getType() ||
      lo->getType() != step->getType())
    unsupported(op, "lo, hi and step must be integers of one type");

  // The induction variable counts in i64 (for narrower types), so `iv + step` near the type's
  // maximum cannot wrap into an endless loop; a step <= 0 runs no iteration (ir.h).
  llvm::Type* iv_type = lo->getType();
  llvm::Type* wide = iv_type->getIntegerBitWidth() < 64 ? b.getInt64Ty() : iv_type;
  lo = b.CreateSExt(lo, wide);
  hi = b.CreateSExt(hi, wide);
  llvm::Value* step_positive = b.CreateICmpSGT(step, llvm::ConstantInt::get(iv_type, 0));
  step = b.CreateSExt(step, wide);

  std::vector<const ir::Value*> inits(op.operands().begin() + 3, op.operands().end());
  std::vector<llvm::Value*> storage(n, nullptr);
  for (size_t j = 0; j < n; ++j)
    if (inits[j]->type()->rank() != 0) {
      storage[j] = new_array(inits[j]->type());
      copy_into(inits[j], storage[j]);
    }
  llvm::BasicBlock* pre = b.GetInsertBlock();
  auto* header = llvm::BasicBlock::Create(ctx, "for.head", llfn);
  auto* loop = llvm::BasicBlock::Create(ctx, "for.body", llfn);
  auto* exit = llvm::BasicBlock::Create(ctx, "for.exit", llfn);
  b.CreateBr(header);
  b.SetInsertPoint(header);
  llvm::PHINode* iv = b.CreatePHI(wide, 2, "iv");
  iv->addIncoming(lo, pre);
  std::vector<llvm::PHINode*> phis(n, nullptr);
  for (size_t j = 0; j < n; ++j)
    if (!storage[j]) {
      phis[j] = b.CreatePHI(compute_type(inits[j]->type()), 2, "carried");
      phis[j]->addIncoming(scalar(inits[j]), pre);
    }
  b.CreateCondBr(b.CreateAnd(step_positive, b.CreateICmpSLT(iv, hi)), loop, exit);

  b.SetInsertPoint(loop);
  bind(body.arg(0), b.CreateTrunc(iv, iv_type));
  for (size_t j = 0; j < n; ++j)
    bind(body.arg(j + 1), storage[j] ? storage[j] : phis[j]);
  const ir::Op* yield = lower_region_ops(body, op);
  std::vector<const ir::Value*> next;
  if (yield)
    next.assign(yield->operands().begin(), yield->operands().end());
  if (next.size() != n)
    unsupported(op, fmt::format("the body yields {} values for {} carried values", next.size(), n));
  std::vector<llvm::Value*> scalars = write_values(next, storage, /*may_alias=*/true);
  llvm::Value* iv_next = b.CreateAdd(iv, step, "", /*HasNUW=*/false, /*HasNSW=*/wide != iv_type);
  llvm::BasicBlock* latch = b.GetInsertBlock();
  iv->addIncoming(iv_next, latch);
  for (size_t j = 0; j < n; ++j)
    if (phis[j])
      phis[j]->addIncoming(scalars[j], latch);
  b.CreateBr(header);

  b.SetInsertPoint(exit);
  for (size_t j = 0; j < n; ++j)
    bind(op.result(j), storage[j] ? storage[j] : static_cast<llvm::Value*>(phis[j]));
}

void Lowering::lower_if(const ir::Op& op) {
  if (op.num_operands() != 1 || op.operand(0)->type()->rank() != 0)
    unsupported(op, "expects one scalar condition");
  size_t n = op.num_results();
  std::vector<llvm::Value*> storage(n, nullptr);
  for (size_t j = 0; j < n; ++j)
    if (op.result(j)->type()->rank() != 0)
      storage[j] = new_array(op.result(j)->type());
  auto* then_bb = llvm::BasicBlock::Create(ctx, "if.then", llfn);
  auto* else_bb = llvm::BasicBlock::Create(ctx, "if.else", llfn);
  auto* merge = llvm::BasicBlock::Create(ctx, "if.end", llfn);
  b.CreateCondBr(scalar(op.operand(0)), then_bb, else_bb);
  std::vector<llvm::Value*> arm_scalars[2];
  llvm::BasicBlock* arm_end[2] = {};
  for (int arm = 0; arm < 2; ++arm) {
    b.SetInsertPoint(arm == 0 ? then_bb : else_bb);
    const ir::Op* yield = lower_region_ops(op.region(arm), op);
    std::vector<const ir::Value*> vals;
    if (yield)
      vals.assign(yield->operands().begin(), yield->operands().end());
    if (vals.size() != n)
      unsupported(op,
                  fmt::format("region {} yields {} values for {} results", arm, vals.size(), n));
    arm_scalars[arm] = write_values(vals, storage, /*may_alias=*/false);
    arm_end[arm] = b.GetInsertBlock();
    b.CreateBr(merge);
  }
  b.SetInsertPoint(merge);
  for (size_t j = 0; j < n; ++j) {
    if (storage[j]) {
      bind(op.result(j), storage[j]);
      continue;
    }
    llvm::PHINode* phi = b.CreatePHI(compute_type(op.result(j)->type()), 2);
    phi->addIncoming(arm_scalars[0][j], arm_end[0]);
    phi->addIncoming(arm_scalars[1][j], arm_end[1]);
    bind(op.result(j), phi);
  }
}

void Lowering::lower_while(const ir::Op& op) {
  const ir::Block& before = op.region(0);
  const ir::Block& after = op.region(1);
  size_t n = op.num_operands();
  size_t m = op.num_results();
  if (before.num_args() != n || after.num_args() != m)
    unsupported(op, "region arguments do not match the carried values and results");
  std::vector<llvm::Value*> carried(n, nullptr);
  for (size_t j = 0; j < n; ++j)
    if (op.operand(j)->type()->rank() != 0) {
      carried[j] = new_array(op.operand(j)->type());
      copy_into(op.operand(j), carried[j]);
    }
  std::vector<llvm::Value*> vals_storage(m, nullptr);
  for (size_t k = 0; k < m; ++k)
    if (op.result(k)->type()->rank() != 0)
      vals_storage[k] = new_array(op.result(k)->type());

  llvm::BasicBlock* pre = b.GetInsertBlock();
  auto* header = llvm::BasicBlock::Create(ctx, "while.cond", llfn);
  auto* loop = llvm::BasicBlock::Create(ctx, "while.body", llfn);
  auto* exit = llvm::BasicBlock::Create(ctx, "while.exit", llfn);
  b.CreateBr(header);
  b.SetInsertPoint(header);
  std::vector<llvm::PHINode*> phis(n, nullptr);
  for (size_t j = 0; j < n; ++j) {
    if (!carried[j]) {
      phis[j] = b.CreatePHI(compute_type(op.operand(j)->type()), 2, "carried");
      phis[j]->addIncoming(scalar(op.operand(j)), pre);
    }
    bind(before.arg(j), carried[j] ? carried[j] : phis[j]);
  }
  const ir::Op* cond = lower_region_ops(before, op);
  if (!cond || cond->opcode() != ir::Opcode::Condition || cond->num_operands() != m + 1)
    unsupported(op, "the first region must end in `condition c, vals...` with one val per result");
  std::vector<const ir::Value*> vals(cond->operands().begin() + 1, cond->operands().end());
  std::vector<llvm::Value*> val_scalars = write_values(vals, vals_storage, /*may_alias=*/false);
  b.CreateCondBr(scalar(cond->operand(0)), loop, exit);

  b.SetInsertPoint(loop);
  for (size_t k = 0; k < m; ++k)
    bind(after.arg(k), vals_storage[k] ? vals_storage[k] : val_scalars[k]);
  const ir::Op* yield = lower_region_ops(after, op);
  std::vector<const ir::Value*> next;
  if (yield)
    next.assign(yield->operands().begin(), yield->operands().end());
  if (next.size() != n)
    unsupported(op, fmt::format("the body yields {} values for {} carried values", next.size(), n));
  std::vector<llvm::Value*> scalars = write_values(next, carried, /*may_alias=*/true);
  for (size_t j = 0; j < n; ++j)
    if (phis[j])
      phis[j]->addIncoming(scalars[j], b.GetInsertBlock());
  b.CreateBr(header);

  b.SetInsertPoint(exit);
  for (size_t k = 0; k < m; ++k)
    bind(op.result(k), vals_storage[k] ? vals_storage[k] : val_scalars[k]);
}

} // namespace tessel::codegen::cpu::detail
