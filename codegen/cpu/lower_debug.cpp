// The debugging ops on the CPU backend (ops.def's last block; codegen/cpu.h for the host side).
//
// device_print widens each element to 64 bits (support::PrintKind: integers sign- or
// zero-extended, floats as doubles, pointers as addresses) into a stack array, row-major, with one
// mask byte per element, and calls device_print(), which formats the program's lines and writes
// them as one block. device_assert (kept only in a debug compile, which is also checked) calls
// assert_failed() for every false element where the mask holds, and ends the program after its
// last element when one failed, so that code the assert guards does not run on bad values.
#include "codegen/cpu/lowering.h"

#include "codegen/print_kind.h"

#include "tessel/codegen/cpu.h"

#include <llvm/IR/Constants.h>
#include <llvm/IR/GlobalVariable.h>
#include <llvm/IR/MDBuilder.h>

#include <fmt/format.h>

#include <algorithm>

namespace tessel::codegen::cpu::detail {
namespace {

using support::PrintKind;

// "file:line" of an op, as the assert reports it.
std::string where_of(const ir::Op& op) {
  return fmt::format("{}:{}", op.loc.file ? op.loc.file : "", op.loc.line);
}

} // namespace

llvm::Value* Lowering::linear_index(std::span<const int64_t> shape, const Index& index) {
  llvm::Value* linear = i64(0);
  for (size_t d = 0; d < shape.size(); ++d)
    linear =
        b.CreateAdd(b.CreateMul(linear, i64(shape[d]), "", true, true), index[d], "", true, true);
  return linear;
}

llvm::Value* Lowering::dims_constant(std::span<const int64_t> shape) {
  if (shape.empty())
    return llvm::ConstantPointerNull::get(b.getPtrTy());
  std::vector<uint64_t> dims(shape.begin(), shape.end());
  auto* init = llvm::ConstantDataArray::get(ctx, dims);
  return new llvm::GlobalVariable(module, init->getType(), /*isConstant=*/true,
                                  llvm::GlobalValue::PrivateLinkage, init, "print.dims");
}

void Lowering::lower_debug(const ir::Op& op) {
  switch (op.opcode()) {
  case ir::Opcode::DevicePrint:
    return lower_device_print(op);
  case ir::Opcode::DeviceAssert:
    return lower_device_assert(op);
  case ir::Opcode::DebugBarrier: // a program is one thread here: its accesses are in order
  case ir::Opcode::Assume:       // a promise for the GPU's axis analysis
    return;
  default:
    TESSEL_UNREACHABLE("not a debugging op"); // ops.def's DEBUG_OP rows are the four above
  }
}

void Lowering::lower_device_print(const ir::Op& op) {
  const ir::Value* v = op.operand(0);
  const ir::Value* mask = op.num_operands() > 1 ? op.operand(1) : nullptr;
  const ir::Type* t = v->type();
  const PrintKind kind = print_kind(t->element());
  ir::Context types; // the widened element type; cast_value only reads its kind
  const ir::Type* wide = print_wide_type(types, kind);
  llvm::Type* i64t = b.getInt64Ty();
  llvm::Value* values = new_array(t, i64t);
  llvm::Value* bytes =
      mask ? new_array(t, b.getInt8Ty()) : llvm::ConstantPointerNull::get(b.getPtrTy());
  loop_nest(t->dims(), [&](const Index& idx) {
    llvm::Value* at = linear_index(t->dims(), idx);
    llvm::Value* e = element(v, idx);
    llvm::Value* bits = kind == PrintKind::Pointer
                            ? b.CreatePtrToInt(e, i64t)
                            : b.CreateBitCast(cast_value(e, t->element(), wide), i64t);
    b.CreateStore(bits, b.CreateInBoundsGEP(i64t, values, at));
    if (mask)
      b.CreateStore(b.CreateZExt(element(mask, idx), b.getInt8Ty()),
                    b.CreateInBoundsGEP(b.getInt8Ty(), bytes, at));
  });
  llvm::Type* i32t = b.getInt32Ty();
  llvm::FunctionCallee print = module.getOrInsertFunction(
      kDevicePrintSymbol, llvm::FunctionType::get(b.getVoidTy(),
                                                  {b.getPtrTy(), i32t, i32t, b.getPtrTy(), i32t,
                                                   i32t, i32t, b.getPtrTy(), b.getPtrTy()},
                                                  false));
  b.CreateCall(print, {b.CreateGlobalString(op.attr("prefix").s, "print.prefix"),
                       b.getInt32(uint32_t(kind)), b.getInt32(uint32_t(t->rank())),
                       dims_constant(t->dims()), program_id[0], program_id[1], program_id[2],
                       values, bytes});
}

void Lowering::lower_device_assert(const ir::Op& op) {
  if (!checked)
    unsupported(op, "a device_assert needs a debug compile (the option `debug`, which also makes "
                    "the kernel checked)");
  const ir::Value* cond = op.operand(0);
  const ir::Value* mask = op.num_operands() > 1 ? op.operand(1) : nullptr;
  const auto dims = cond->type()->dims();
  const int64_t rank = int64_t(dims.size());
  llvm::Type* i64t = b.getInt64Ty();
  llvm::IRBuilder<> eb(entry_block, entry_block->begin());
  llvm::Value* coords =
      eb.CreateAlloca(llvm::ArrayType::get(i64t, uint64_t(std::max<int64_t>(1, rank))));
  llvm::Value* failed = eb.CreateAlloca(b.getInt1Ty());
  b.CreateStore(b.getFalse(), failed);
  llvm::Value* where = b.CreateGlobalString(where_of(op), "assert.loc");
  llvm::Value* message = b.CreateGlobalString(op.attr("message").s, "assert.msg");
  llvm::Type* i32t = b.getInt32Ty();
  llvm::FunctionCallee report = module.getOrInsertFunction(
      kAssertFailedSymbol, llvm::FunctionType::get(b.getVoidTy(),
                                                   {b.getPtrTy(), b.getPtrTy(), b.getPtrTy(), i64t,
                                                    i32t, i32t, i32t, b.getPtrTy(), i32t},
                                                   false));
  loop_nest(dims, [&](const Index& idx) {
    llvm::Value* ok = element(cond, idx);
    if (mask)
      ok = b.CreateOr(ok, b.CreateNot(element(mask, idx)));
    auto* fail = llvm::BasicBlock::Create(ctx, "assert.fail", llfn);
    auto* pass = llvm::BasicBlock::Create(ctx, "assert.ok", llfn);
    b.CreateCondBr(ok, pass, fail,
                   llvm::MDBuilder(ctx).createBranchWeights(/*TrueWeight=*/1 << 20,
                                                            /*FalseWeight=*/1));
    b.SetInsertPoint(fail);
    for (int64_t d = 0; d < rank; ++d)
      b.CreateStore(idx[size_t(d)], b.CreateConstInBoundsGEP1_64(i64t, coords, uint64_t(d)));
    b.CreateCall(report, {bounds_table, where, message, program_linear_id, program_id[0],
                          program_id[1], program_id[2], coords, b.getInt32(uint32_t(rank))});
    b.CreateStore(b.getTrue(), failed);
    b.CreateBr(pass);
    b.SetInsertPoint(pass);
  });
  auto* go_on = llvm::BasicBlock::Create(ctx, "assert.passed", llfn);
  b.CreateCondBr(b.CreateLoad(b.getInt1Ty(), failed), program_latch, go_on);
  b.SetInsertPoint(go_on);
}

} // namespace tessel::codegen::cpu::detail
