// Checked mode of the CPU lowering (CompileOptions::checked; the ABI is in codegen/cpu.h): each
// executed load and store compares the bytes it touches with the range of the pointer parameter
// its address comes from, and a failing access calls bounds_violation() and ends its program
// instead of touching memory.
//
// Which parameter an address comes from is a property of the IR, found by following pointer
// values back through addptr (its pointer operand), splat, broadcast and shape ops, both arms
// of select, and the values a `for` or `if` carries or yields, to the kernel's arguments. An
// address that reaches more than one parameter, or none (a pointer loaded from memory, a
// `while` value), is checked against every pointer parameter: it passes when it lies inside one
// of them. Raw pointers have the range [0, UINTPTR_MAX), so such an address always passes when a
// raw pointer is among the arguments.
#include "codegen/cpu/lowering.h"

#include "tessel/codegen/cpu.h"

#include <llvm/IR/MDBuilder.h>

#include <fmt/format.h>

namespace tessel::codegen::cpu::detail {

namespace {

constexpr int64_t kNoOrigin = -1;    // not known yet, or a cycle back to the value itself
constexpr int64_t kManyOrigins = -2; // more than one parameter, or memory

int64_t join(int64_t a, int64_t b) {
  if (a == kNoOrigin)
    return b;
  if (b == kNoOrigin || a == b)
    return a;
  return kManyOrigins;
}

// Shape ops move elements without computing any, so a pointer keeps its buffer through them.
bool follows_operand_zero(ir::Opcode op) {
  return op == ir::Opcode::AddPtr || ir::family_of(op) == ir::OpFamily::Shape;
}

// The operand of the `yield` ending `region` that becomes the region owner's value `index`.
const ir::Value* yielded(const ir::Block& region, size_t index) {
  if (region.ops().empty())
    return nullptr;
  const ir::Op& term = *region.ops().back();
  if (term.opcode() != ir::Opcode::Yield || index >= term.num_operands())
    return nullptr;
  return term.operand(index);
}

} // namespace

int64_t Lowering::pointer_origin(const ir::Value* v) {
  if (auto it = origins_.find(v); it != origins_.end())
    return it->second;
  // Results found inside a cycle are partial, so only the outermost query's result is kept.
  if (!tracing_.insert(v).second)
    return kNoOrigin; // a cycle through loop-carried values adds nothing
  int64_t origin = trace_origin(v);
  tracing_.erase(v);
  if (tracing_.empty()) {
    if (origin == kNoOrigin) // only a cycle: the value never held an address
      origin = kManyOrigins;
    origins_[v] = origin;
  }
  return origin;
}

int64_t Lowering::trace_origin(const ir::Value* v) {
  int64_t origin = kManyOrigins;
  if (v->is_block_arg()) {
    const ir::Block* block = v->owner_block();
    const ir::Op* owner = block->parent_op();
    if (!owner) {
      origin = int64_t(v->index()); // a kernel argument
    } else if (owner->opcode() == ir::Opcode::For && v->index() > 0) {
      // for lo, hi, step, inits...: region argument k > 0 is carried value k - 1.
      size_t k = v->index() - 1;
      const ir::Value* next = yielded(*block, k);
      origin = 3 + k < owner->num_operands() && next
                   ? join(pointer_origin(owner->operand(3 + k)), pointer_origin(next))
                   : kManyOrigins;
    }
  } else {
    const ir::Op& op = *v->defining_op();
    if (follows_operand_zero(op.opcode())) {
      origin = pointer_origin(op.operand(0));
    } else if (op.opcode() == ir::Opcode::Select) {
      origin = join(pointer_origin(op.operand(1)), pointer_origin(op.operand(2)));
    } else if (op.opcode() == ir::Opcode::For) {
      origin = pointer_origin(op.region(0).arg(v->index() + 1));
    } else if (op.opcode() == ir::Opcode::If) {
      const ir::Value* a = yielded(op.region(0), v->index());
      const ir::Value* b = yielded(op.region(1), v->index());
      origin = a && b ? join(pointer_origin(a), pointer_origin(b)) : kManyOrigins;
    }
  }
  return origin;
}

void Lowering::load_bounds_table(llvm::Value* args) {
  llvm::Type* ptr = b.getPtrTy();
  llvm::Value* slot = b.CreateConstInBoundsGEP1_64(ptr, args, fn.body.num_args());
  bounds_table = b.CreateLoad(ptr, slot, "bounds.table");
  llvm::Value* ranges = b.CreateLoad(ptr, bounds_table, "bounds.ranges");
  for (size_t i = 0; i < fn.body.num_args(); ++i) {
    if (!fn.body.arg(i)->type()->is_pointer())
      continue;
    llvm::Value* range = b.CreateConstInBoundsGEP1_64(b.getInt64Ty(), ranges, 2 * i);
    llvm::Value* begin = b.CreateLoad(b.getInt64Ty(), range, fmt::format("arg{}.begin", i));
    llvm::Value* end =
        b.CreateLoad(b.getInt64Ty(), b.CreateConstInBoundsGEP1_64(b.getInt64Ty(), range, 1),
                     fmt::format("arg{}.end", i));
    arg_ranges.push_back({int64_t(i), begin, end});
  }
}

void Lowering::skip_programs_after_violation(llvm::Value* program) {
  llvm::Value* first_slot = b.CreateConstInBoundsGEP1_64(b.getInt64Ty(), bounds_table, 1);
  llvm::LoadInst* first = b.CreateLoad(b.getInt64Ty(), first_slot, "first.failing");
  first->setAtomic(llvm::AtomicOrdering::Monotonic);
  first->setAlignment(llvm::Align(8));
  auto* run = llvm::BasicBlock::Create(ctx, "program.run", llfn);
  b.CreateCondBr(b.CreateICmpSGT(program, first), program_latch, run);
  b.SetInsertPoint(run);
}

// True when the `bytes` bytes at `address` lie in [begin, end).
static llvm::Value* within(llvm::IRBuilder<>& b, llvm::Value* address, int64_t bytes,
                           llvm::Value* begin, llvm::Value* end) {
  llvm::Value* size = b.getInt64(uint64_t(bytes));
  llvm::Value* span = b.CreateSub(end, begin);
  llvm::Value* offset = b.CreateSub(address, begin); // wraps to a huge value below `begin`
  return b.CreateAnd(b.CreateICmpUGE(span, size), b.CreateICmpULE(offset, b.CreateSub(span, size)));
}

void Lowering::check_access(const ir::Op& op, llvm::Value* address, const ir::Type* elem,
                            bool is_store) {
  if (!checked)
    return;
  int64_t bytes = int64_t(module.getDataLayout().getTypeStoreSize(storage_type(elem)));
  int64_t origin = pointer_origin(op.operand(0));
  llvm::Value* a = b.CreatePtrToInt(address, b.getInt64Ty());
  llvm::Value* ok = nullptr;
  for (const ArgRange& r : arg_ranges) {
    if (origin >= 0 && r.arg != origin)
      continue;
    llvm::Value* in = within(b, a, bytes, r.begin, r.end);
    ok = ok ? b.CreateOr(ok, in) : in;
  }
  if (!ok) // no pointer parameter at all: the address cannot be valid
    ok = b.getFalse();
  auto* fail = llvm::BasicBlock::Create(ctx, "bounds.fail", llfn);
  auto* pass = llvm::BasicBlock::Create(ctx, "bounds.ok", llfn);
  b.CreateCondBr(
      ok, pass, fail,
      llvm::MDBuilder(ctx).createBranchWeights(/*TrueWeight=*/1 << 20, /*FalseWeight=*/1));
  b.SetInsertPoint(fail);
  llvm::Type* i64t = b.getInt64Ty();
  llvm::FunctionCallee report = module.getOrInsertFunction(
      kBoundsViolationSymbol,
      llvm::FunctionType::get(b.getVoidTy(),
                              {b.getPtrTy(), i64t, i64t, i64t, b.getPtrTy(), b.getInt32Ty(), i64t},
                              false));
  llvm::Value* where = b.CreateGlobalString(op.loc.str(), "access.loc");
  b.CreateCall(report, {bounds_table, b.getInt64(uint64_t(origin >= 0 ? origin : -1)), a,
                        b.getInt64(uint64_t(bytes)), where, b.getInt32(is_store ? 1 : 0),
                        program_linear_id});
  b.CreateBr(program_latch); // the program ends at its first violation
  b.SetInsertPoint(pass);
}

} // namespace tessel::codegen::cpu::detail
