// The explicit shared-memory ops on NVPTX: buffers (local_alloc, local_slot), register <->
// shared moves in plain register layouts (local_load, local_store as ld/st.shared, vectorised),
// barrier, and cp.async (async_copy, async_commit, async_wait) for the software pipeliner.
//
// A buffer value is a pointer into `global_smem` (its allocate-shared offset; a slot adds
// index * the tile's bytes), not registers. Where an element lives comes from the buffer's
// #shared layout, which maps physical index bits to coordinates: its inverse (one GF(2) column per
// bit of the row-major index) is the identity plus XOR masks, i.e. a Swizzle as shared_index
// applies it, so the emission reads the layout and decides nothing. A run of `w` registers (along
// whichever dim the register layout's run goes) moves with one access when the buffer's layout
// keeps those w elements consecutive and aligned.
// cp.async uses the NVVM intrinsics (llvm.nvvm.cp.async.{cg,ca}.shared.global.N.s), the src-size
// operand being 0 where the mask is off, which zero-fills without reading the address.
#include "codegen/gpu/lowering.h"

#include <llvm/IR/IntrinsicsNVPTX.h>

namespace tessel::codegen::gpu::detail {

namespace {

// Where a register layout's elements are in a buffer, and how many move per access.
struct SharedMap {
  Swizzle swizzle; // masks only: the inverse of the buffer's layout minus the identity
  int vec = 1;
};

// The dim a layout's first register basis moves along (its contiguous run's), else the last.
int run_dim(const LinearLayout& regs) {
  if (regs.in_bits(InDim::Register) > 0)
    for (int d = 0; d < regs.rank(); ++d)
      if (regs.basis(InDim::Register, 0)[d] != 0)
        return d;
  return regs.rank() - 1;
}

SharedMap shared_map(const LinearLayout& buffer, const LinearLayout& regs, int64_t elem_bytes,
                     int max_vec) {
  SharedMap m;
  const std::vector<uint64_t> cols = buffer.pseudo_inverse_columns();
  for (size_t bit = 0; bit < cols.size(); ++bit)
    if (cols[bit] != uint64_t(1) << bit)
      m.swizzle.masks.emplace_back(static_cast<int>(bit), static_cast<int64_t>(cols[bit] ^ (uint64_t(1) << bit)));
  // A run of v elements along `dim` moves with one access when the run's coordinate bits map to
  // the low physical bits in order and no other coordinate bit reaches below v.
  const int dim = run_dim(regs);
  int low = 0; // the row-major index's bit of `dim`'s lowest bit
  for (int d = regs.rank() - 1; d > dim; --d)
    low += regs.out_bits(d);
  auto keeps_run = [&](int v) {
    for (size_t bit = 0; bit < cols.size(); ++bit) {
      const int k = static_cast<int>(bit) - low;
      const bool in_run = k >= 0 && (1 << k) < v;
      if (in_run ? cols[bit] != uint64_t(1) << k : (cols[bit] & uint64_t(v - 1)) != 0)
        return false;
    }
    return true;
  };
  int vec = std::min<int>({regs.contiguous_registers(dim), static_cast<int>(16 / elem_bytes), max_vec});
  while (vec > 1 && !keeps_run(vec))
    vec /= 2;
  m.vec = std::max(1, vec);
  return m;
}

} // namespace

void Lowering::lower_shared_op(const ir::Op& op) {
  switch (op.opcode()) {
  case ir::Opcode::LocalAlloc: {
    const int64_t offset = op.int_attr("offset");
    TESSEL_ASSERT(offset >= 0, "local_alloc before allocate-shared");
    shared_buffers[op.result()] =
        offset == 0 ? smem_ : b.CreateGEP(b.getInt8Ty(), smem_, b.getInt32(static_cast<int32_t>(offset)));
    return;
  }
  case ir::Opcode::LocalSlot: {
    const ir::Type* t = op.result()->type();
    const int64_t bytes = t->num_elements() * module.getDataLayout().getTypeStoreSize(mem_type(t->element()));
    llvm::Value* at = b.CreateMul(scalar(op.operand(1)), b.getInt32(static_cast<int32_t>(bytes)));
    shared_buffers[op.result()] = b.CreateGEP(b.getInt8Ty(), buffer(op.operand(0)), at);
    return;
  }
  case ir::Opcode::LocalLoad: return lower_local_load(op);
  case ir::Opcode::LocalStore: return lower_local_store(op);
  case ir::Opcode::Barrier: return barrier();
  case ir::Opcode::AsyncCopy: return lower_async_copy(op);
  case ir::Opcode::AsyncCommit:
    b.CreateCall(llvm::Intrinsic::getDeclaration(&module, llvm::Intrinsic::nvvm_cp_async_commit_group));
    return;
  case ir::Opcode::AsyncWait:
    b.CreateCall(llvm::Intrinsic::getDeclaration(&module, llvm::Intrinsic::nvvm_cp_async_wait_group),
                 {b.getInt32(static_cast<int32_t>(op.int_attr("pending")))});
    return;
  default: break; // lower_op sends only the GPU-stage memory ops here
  }
  unsupported(op, "no lowering for this shared-memory op");
}

llvm::Value* Lowering::buffer(const ir::Value* v) const {
  auto it = shared_buffers.find(v);
  TESSEL_ASSERT(it != shared_buffers.end(), "a shared buffer used before its local_alloc");
  return it->second;
}

void Lowering::lower_local_load(const ir::Op& op) {
  const ir::Value* res = op.result();
  const LinearLayout& l = layout(res);
  if (l.in_bits(InDim::Register) + l.in_bits(InDim::Lane) + l.in_bits(InDim::Warp) == 0 ||
      res->type()->layout()->kind() == ir::LayoutKind::Shared)
    unsupported(op, "the result must be in a register layout");
  const ir::Type* elem = res->type()->element();
  llvm::Type* mt = mem_type(elem);
  const int64_t eb = module.getDataLayout().getTypeStoreSize(mt);
  const SharedMap m = shared_map(layout(op.operand(0)), l, eb, 16);
  llvm::Value* base = buffer(op.operand(0));
  record_accesses(AccessSide{&l, m.vec, /*store=*/false, /*owners_only=*/false, {}}, m.swizzle, eb,
                  "local_load " + res->type()->str());
  const int n = l.in_size(InDim::Register);
  Vals out(n);
  for (int g = 0; g < n; g += m.vec) {
    Vals v = load_shared(mt, base, shared_index(l, g, m.swizzle), m.vec);
    for (int i = 0; i < m.vec; ++i)
      out[g + i] = from_mem(v[i], elem);
  }
  set_vals(res, std::move(out));
}

void Lowering::lower_local_store(const ir::Op& op) {
  const ir::Value* value = op.operand(1);
  const LinearLayout& l = layout(value);
  const ir::Type* elem = value->type()->element();
  llvm::Type* mt = mem_type(elem);
  const int64_t eb = module.getDataLayout().getTypeStoreSize(mt);
  const SharedMap m = shared_map(layout(op.operand(0)), l, eb, 16);
  llvm::Value* base = buffer(op.operand(0));
  record_accesses(AccessSide{&l, m.vec, /*store=*/true, /*owners_only=*/true, {}}, m.swizzle, eb,
                  "local_store " + value->type()->str());
  const Vals& vs = vals(value);
  only_if(owner_predicate(l), [&] {
    for (int g = 0; g < static_cast<int>(vs.size()); g += m.vec) {
      Vals xs;
      for (int i = 0; i < m.vec; ++i)
        xs.push_back(to_mem(vs[g + i], elem));
      store_shared(mt, base, shared_index(l, g, m.swizzle), xs);
    }
  });
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
  const SharedMap m = shared_map(layout(op.operand(1)), l, eb, vec);
  if (m.vec != vec)
    unsupported(op, "the buffer's layout does not keep each copy's elements together");
  const int32_t bytes = static_cast<int32_t>(vec * eb);
  const llvm::Intrinsic::ID id = bytes == 16 ? llvm::Intrinsic::nvvm_cp_async_cg_shared_global_16_s
                                 : bytes == 8 ? llvm::Intrinsic::nvvm_cp_async_ca_shared_global_8_s
                                              : llvm::Intrinsic::nvvm_cp_async_ca_shared_global_4_s;
  record_accesses(AccessSide{&l, vec, /*store=*/true, /*owners_only=*/true, {}}, m.swizzle, eb,
                  "cp.async " + op.operand(1)->type()->str());
  llvm::Function* copy = llvm::Intrinsic::getDeclaration(&module, id);
  llvm::Value* base = buffer(op.operand(1));
  const Vals& src = vals(ptrs);
  const Vals masks = op.num_operands() > 2 ? vals_in(op.operand(2), l) : Vals();
  // Threads holding replicated copies of an element leave its copy to one owner (two in-flight
  // copies to one address are a race).
  only_if(owner_predicate(l), [&] {
    for (int g = 0; g < static_cast<int>(src.size()); g += vec) {
      llvm::Value* dst = b.CreateGEP(mt, base, shared_index(l, g, m.swizzle));
      llvm::Value* size = masks.empty() ? b.getInt32(bytes)
                                        : b.CreateSelect(masks[g], b.getInt32(bytes), b.getInt32(0));
      b.CreateCall(copy, {dst, src[g], size});
    }
  });
}

} // namespace tessel::codegen::gpu::detail
