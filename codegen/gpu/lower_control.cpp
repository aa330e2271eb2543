// Structured control flow on NVPTX: `for`, `if` and `while` become LLVM loops and branches whose
// phis carry every register of every carried tensor (in the layouts layout_assignment chose for
// the region arguments).
#include "codegen/gpu/lowering.h"

namespace tessel::codegen::gpu::detail {

namespace {

// The registers of `v` in the layout of `target` (a region argument or op result).
Vals carried(Lowering& L, const ir::Value* v, const ir::Value* target) {
  if (target->type()->rank() == 0)
    return {L.scalar(v)};
  return L.vals_in(v, L.layout(target));
}

std::vector<llvm::PHINode*> make_phis(Lowering& L, const ir::Value* target, const Vals& init,
                                      llvm::BasicBlock* from) {
  std::vector<llvm::PHINode*> phis;
  for (llvm::Value* v : init) {
    llvm::PHINode* p = L.b.CreatePHI(v->getType(), 2);
    p->addIncoming(v, from);
    phis.push_back(p);
  }
  return phis;
}

Vals as_vals(const std::vector<llvm::PHINode*>& phis) { return Vals(phis.begin(), phis.end()); }

} // namespace

const ir::Op* Lowering::lower_region_ops(const ir::Block& region) {
  const ir::Op* term = nullptr;
  for (const auto& op : region.ops()) {
    if (op->has(ir::TERMINATOR) && op->opcode() != ir::Opcode::Return) {
      term = op.get();
      break;
    }
    lower_op(*op);
  }
  return term;
}

void Lowering::lower_for(const ir::Op& op) {
  const ir::Block& body = op.region(0);
  const size_t n = op.num_results();
  llvm::Value* lo = scalar(op.operand(0));
  llvm::Value* hi = scalar(op.operand(1));
  llvm::Value* step = scalar(op.operand(2));
  // As on the CPU (ir.h): the induction variable counts in i64 for narrower types, so `iv + step`
  // near the type's maximum cannot wrap into an endless loop, and a step <= 0 runs no iteration
  // (the test is loop-invariant; LLVM unswitches it out of the loop).
  llvm::Type* iv_type = lo->getType();
  llvm::Type* wide = iv_type->getIntegerBitWidth() < 64 ? b.getInt64Ty() : iv_type;
  llvm::Value* step_positive = b.CreateICmpSGT(step, llvm::ConstantInt::get(iv_type, 0));
  lo = b.CreateSExt(lo, wide);
  hi = b.CreateSExt(hi, wide);
  step = b.CreateSExt(step, wide);
  std::vector<Vals> inits;
  for (size_t i = 0; i < n; ++i)
    inits.push_back(carried(*this, op.operand(3 + i), body.arg(1 + i)));
  llvm::BasicBlock* pre = b.GetInsertBlock();
  llvm::BasicBlock* header = llvm::BasicBlock::Create(ctx, "for.header", llfn);
  llvm::BasicBlock* loop = llvm::BasicBlock::Create(ctx, "for.body", llfn);
  llvm::BasicBlock* exit = llvm::BasicBlock::Create(ctx, "for.exit", llfn);
  b.CreateBr(header);
  b.SetInsertPoint(header);
  llvm::PHINode* iv = b.CreatePHI(wide, 2, "iv");
  iv->addIncoming(lo, pre);
  std::vector<std::vector<llvm::PHINode*>> phis;
  for (size_t i = 0; i < n; ++i)
    phis.push_back(make_phis(*this, body.arg(1 + i), inits[i], pre));
  b.CreateCondBr(b.CreateAnd(step_positive, b.CreateICmpSLT(iv, hi)), loop, exit);
  b.SetInsertPoint(loop);
  set_vals(body.arg(0), {b.CreateTrunc(iv, iv_type)});
  for (size_t i = 0; i < n; ++i)
    set_vals(body.arg(1 + i), as_vals(phis[i]));
  const ir::Op* yield = lower_region_ops(body);
  TESSEL_ASSERT(yield, "for body without yield");
  std::vector<Vals> next;
  for (size_t i = 0; i < n; ++i)
    next.push_back(carried(*this, yield->operand(i), body.arg(1 + i)));
  llvm::Value* iv_next = b.CreateAdd(iv, step, "", /*HasNUW=*/false, /*HasNSW=*/wide != iv_type);
  llvm::BasicBlock* latch = b.GetInsertBlock();
  b.CreateBr(header);
  iv->addIncoming(iv_next, latch);
  for (size_t i = 0; i < n; ++i)
    for (size_t r = 0; r < phis[i].size(); ++r)
      phis[i][r]->addIncoming(next[i][r], latch);
  b.SetInsertPoint(exit);
  for (size_t i = 0; i < n; ++i)
    set_vals(op.result(i), as_vals(phis[i]));
}

void Lowering::lower_if(const ir::Op& op) {
  llvm::Value* cond = scalar(op.operand(0));
  llvm::BasicBlock* then_bb = llvm::BasicBlock::Create(ctx, "if.then", llfn);
  llvm::BasicBlock* else_bb = llvm::BasicBlock::Create(ctx, "if.else", llfn);
  llvm::BasicBlock* join = llvm::BasicBlock::Create(ctx, "if.join", llfn);
  b.CreateCondBr(cond, then_bb, else_bb);
  const size_t n = op.num_results();
  std::vector<Vals> results[2];
  llvm::BasicBlock* ends[2];
  llvm::BasicBlock* starts[2] = {then_bb, else_bb};
  for (int side = 0; side < 2; ++side) {
    b.SetInsertPoint(starts[side]);
    const ir::Op* yield = lower_region_ops(op.region(side));
    for (size_t i = 0; i < n; ++i)
      results[side].push_back(carried(*this, yield->operand(i), op.result(i)));
    ends[side] = b.GetInsertBlock();
    b.CreateBr(join);
  }
  b.SetInsertPoint(join);
  for (size_t i = 0; i < n; ++i) {
    Vals merged;
    for (size_t r = 0; r < results[0][i].size(); ++r) {
      llvm::PHINode* p = b.CreatePHI(results[0][i][r]->getType(), 2);
      p->addIncoming(results[0][i][r], ends[0]);
      p->addIncoming(results[1][i][r], ends[1]);
      merged.push_back(p);
    }
    set_vals(op.result(i), std::move(merged));
  }
}

void Lowering::lower_while(const ir::Op& op) {
  const ir::Block& before = op.region(0);
  const ir::Block& after = op.region(1);
  std::vector<Vals> inits;
  for (size_t i = 0; i < before.num_args(); ++i)
    inits.push_back(carried(*this, op.operand(i), before.arg(i)));
  llvm::BasicBlock* pre = b.GetInsertBlock();
  llvm::BasicBlock* header = llvm::BasicBlock::Create(ctx, "while.before", llfn);
  llvm::BasicBlock* body = llvm::BasicBlock::Create(ctx, "while.after", llfn);
  llvm::BasicBlock* exit = llvm::BasicBlock::Create(ctx, "while.exit", llfn);
  b.CreateBr(header);
  b.SetInsertPoint(header);
  std::vector<std::vector<llvm::PHINode*>> phis;
  for (size_t i = 0; i < before.num_args(); ++i) {
    phis.push_back(make_phis(*this, before.arg(i), inits[i], pre));
    set_vals(before.arg(i), as_vals(phis[i]));
  }
  const ir::Op* cond = lower_region_ops(before);
  TESSEL_ASSERT(cond, "while without condition");
  std::vector<Vals> vals_out;
  for (size_t i = 0; i < op.num_results(); ++i)
    vals_out.push_back(carried(*this, cond->operand(1 + i), op.result(i)));
  b.CreateCondBr(scalar(cond->operand(0)), body, exit);
  b.SetInsertPoint(body);
  for (size_t i = 0; i < after.num_args(); ++i)
    set_vals(after.arg(i), vals_out[i]);
  const ir::Op* yield = lower_region_ops(after);
  std::vector<Vals> next;
  for (size_t i = 0; i < before.num_args(); ++i)
    next.push_back(carried(*this, yield->operand(i), before.arg(i)));
  llvm::BasicBlock* latch = b.GetInsertBlock();
  b.CreateBr(header);
  for (size_t i = 0; i < phis.size(); ++i)
    for (size_t r = 0; r < phis[i].size(); ++r)
      phis[i][r]->addIncoming(next[i][r], latch);
  b.SetInsertPoint(exit);
  for (size_t i = 0; i < op.num_results(); ++i)
    set_vals(op.result(i), vals_out[i]);
}

} // namespace tessel::codegen::gpu::detail
