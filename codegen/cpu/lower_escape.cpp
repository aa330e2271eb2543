// The escape hatches on the CPU backend (ops.def: inline_asm, inline_asm_volatile, extern_call).
// The CPU cannot run PTX or CUDA C++, so each element calls the op's C++ fallback: a lazy value
// whose element is a call of the runtime function tessel.cpu.host_call(table, slot, args, out)
// (runtime_symbols.cpp). `table` is the kernel's global tessel.cpu.host_callbacks, which the
// compiled kernel points at its own copy of the module's host callbacks once loaded
// (CompiledKernel::bind_host_callbacks), so the object code never holds an address: a disk-cache
// entry serves every process, and two kernels with the same IR each call their own fallbacks.
// Arguments and the result cross in their storage form (tessel/ir/escape_hatch.h).
#include "codegen/cpu/lowering.h"

#include "tessel/codegen/cpu.h"

namespace tessel::codegen::cpu::detail {

namespace {

std::string missing_fallback(const ir::Op& op) {
  if (op.opcode() == ir::Opcode::ExternCall)
    return "extern_cuda function '" + op.attr("name").s +
           "': the CPU backend cannot run CUDA C++ and its declaration has no C++ fallback; pass "
           "one to tl::extern_cuda (its last argument, a lambda on scalars), or run the kernel "
           "on a GPU or the simulated device (TESSEL_DEVICE=sim)";
  return "inline_asm_elementwise: the CPU backend cannot run PTX and this call has no C++ "
         "fallback; pass one as its last argument (a lambda on scalars, e.g. [](int32_t a, "
         "int32_t b) { return a + b; }), or run the kernel on a GPU or the simulated device "
         "(TESSEL_DEVICE=sim)";
}

} // namespace

void Lowering::lower_escape_hatch(const ir::Op& op) {
  if (op.int_attr("fallback") < 0)
    throw Error(op.loc, missing_fallback(op));
  const ir::Value* r = op.result();
  if (r->type()->rank() == 0) {
    set_scalar(r, lazy_element(op, {}));
    return;
  }
  reps_[r] = Rep{Rep::Kind::Lazy, nullptr, nullptr};
  // Side effects happen once per element, used or not: evaluate it now.
  if (should_store(r) || !op.has(ir::PURE))
    stored(r);
}

llvm::Value* Lowering::host_call(const ir::Op& op, std::span<llvm::Value* const> args) {
  llvm::Type* ptr = b.getPtrTy();
  llvm::Type* i64t = b.getInt64Ty();
  llvm::GlobalVariable* table = module.getGlobalVariable(kHostCallbacksSymbol);
  if (!table)
    table = new llvm::GlobalVariable(
        module, ptr, /*isConstant=*/false, llvm::GlobalValue::ExternalLinkage,
        llvm::ConstantPointerNull::get(b.getPtrTy()), kHostCallbacksSymbol);
  // One 8-byte slot per operand and for the result, and the array of pointers to them, in the
  // entry block (allocas in a loop would grow the stack per element).
  const size_t n = args.size();
  llvm::IRBuilder<> eb(entry_block, entry_block->begin());
  llvm::Value* values = eb.CreateAlloca(llvm::ArrayType::get(i64t, n + 1));
  llvm::Value* pointers = eb.CreateAlloca(llvm::ArrayType::get(ptr, n ? n : 1));
  stack_bytes_ += int64_t(8 * (n + 1) + 8 * (n ? n : 1));
  for (size_t i = 0; i < n; ++i) {
    llvm::Value* slot = b.CreateConstGEP2_64(llvm::ArrayType::get(i64t, n + 1), values, 0, i);
    b.CreateStore(b.getInt64(0), slot);
    b.CreateStore(to_storage(args[i], op.operand(i)->type()->element()), slot);
    b.CreateStore(slot, b.CreateConstGEP2_64(llvm::ArrayType::get(ptr, n ? n : 1), pointers, 0, i));
  }
  llvm::Value* out = b.CreateConstGEP2_64(llvm::ArrayType::get(i64t, n + 1), values, 0, n);
  b.CreateStore(b.getInt64(0), out);
  llvm::FunctionCallee call = module.getOrInsertFunction(
      kHostCallSymbol, llvm::FunctionType::get(b.getVoidTy(), {ptr, i64t, ptr, ptr}, false));
  b.CreateCall(call,
               {b.CreateLoad(ptr, table), b.getInt64(op.int_attr("fallback")), pointers, out});
  const ir::Type* elem = op.result()->type()->element();
  return from_storage(b.CreateLoad(storage_type(elem), out), elem);
}

} // namespace tessel::codegen::cpu::detail
