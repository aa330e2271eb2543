// The NVPTX lowering of the software pipeliner's ops (codegen/gpu/pipeline.cpp): a ring's slot
// (local_slot) and cp.async (async_copy, async_commit, async_wait). The plain shared-memory ops,
// local_load included, are lowered once for every buffer in lower_mma.cpp.
//
// A slot is its ring's base plus index * the tile's bytes. A copy's destination comes from the
// same composition lower_mma.cpp uses for local_store (mma_layout.h: buffer_offsets): the source
// pointers' register layout composed with the inverse of the buffer's #shared layout, swizzle
// included, so a run of `vec` registers whose buffer indices are consecutive and aligned is one
// cp.async whatever dim the run goes along. cp.async uses the NVVM intrinsics
// (llvm.nvvm.cp.async.{cg,ca}.shared.global.N.s) with a src-size operand: cp.async reads that
// many bytes from the copy's start and zero-fills the rest (0: reads nothing, the address may be
// out of bounds). With an i1 mask (constant over each copy) it is `mask ? bytes : 0`; with an i32
// operand (the pipeliner's byte counts for a prefix mask, prefix_mask.h) it is the count at the
// run's first element.
#include "codegen/gpu/lowering.h"

#include <llvm/IR/IntrinsicsNVPTX.h>

namespace tessel::codegen::gpu::detail {

void Lowering::lower_local_slot(const ir::Op& op) {
  const ir::Type* t = op.result()->type();
  const int64_t bytes =
      t->num_elements() * module.getDataLayout().getTypeStoreSize(mem_type(t->element()));
  llvm::Value* at = b.CreateMul(scalar(op.operand(1)), b.getInt32(static_cast<int32_t>(bytes)));
  buffers_[op.result()] = b.CreateGEP(b.getInt8Ty(), buffer(op.operand(0)), at);
}

// One cp.async per `vec` registers: 16 bytes bypass L1 (.cg), 4 and 8 bytes go through it (.ca,
// the only form of those sizes).
void Lowering::lower_async_copy(const ir::Op& op) {
  const ir::Value* ptrs = op.operand(0);
  const LinearLayout& l = layout(ptrs);
  const ir::Type* elem = op.operand(1)->type()->element();
  llvm::Type* mt = mem_type(elem);
  const int64_t eb = module.getDataLayout().getTypeStoreSize(mt);
  const int vec = static_cast<int>(op.int_attr("vec"));
  const LinearLayout offsets = buffer_offsets(l, layout(op.operand(1)));
  if (shared_access_width(offsets, eb) < vec)
    unsupported(op, "the buffer's layout does not keep each copy's elements together");
  const int32_t bytes = static_cast<int32_t>(vec * eb);
  const llvm::Intrinsic::ID id = bytes == 16  ? llvm::Intrinsic::nvvm_cp_async_cg_shared_global_16_s
                                 : bytes == 8 ? llvm::Intrinsic::nvvm_cp_async_ca_shared_global_8_s
                                              : llvm::Intrinsic::nvvm_cp_async_ca_shared_global_4_s;
  record_accesses(AccessSide{&offsets, vec, /*store=*/true, /*owners_only=*/true, {}}, Swizzle{},
                  eb, "cp.async " + op.operand(1)->type()->str());
  llvm::Function* copy = llvm::Intrinsic::getDeclaration(&module, id);
  llvm::Value* base = buffer(op.operand(1));
  const Vals& src = vals(ptrs);
  const Vals masks = op.num_operands() > 2 ? vals_in(op.operand(2), l) : Vals();
  // An i32 third operand gives each copy's byte count at its run's first element.
  const bool by_count = op.num_operands() > 2 && !op.operand(2)->type()->element()->is_bool();
  // Threads holding replicated copies of an element leave its copy to one owner (two in-flight
  // copies to one address are a race).
  only_if(owner_predicate(l), [&] {
    for (int32_t g = 0; g < static_cast<int32_t>(src.size()); g += vec) {
      llvm::Value* dst = b.CreateGEP(mt, base, coordinate(offsets, g, 0));
      llvm::Value* size = masks.empty() ? b.getInt32(bytes)
                          : by_count    ? masks[g]
                                     : b.CreateSelect(masks[g], b.getInt32(bytes), b.getInt32(0));
      b.CreateCall(copy, {dst, src[g], size});
    }
  });
}

void Lowering::lower_async_commit() {
  b.CreateCall(
      llvm::Intrinsic::getDeclaration(&module, llvm::Intrinsic::nvvm_cp_async_commit_group));
}

void Lowering::lower_async_wait(const ir::Op& op) {
  b.CreateCall(llvm::Intrinsic::getDeclaration(&module, llvm::Intrinsic::nvvm_cp_async_wait_group),
               {b.getInt32(static_cast<int32_t>(op.int_attr("pending")))});
}

} // namespace tessel::codegen::gpu::detail
