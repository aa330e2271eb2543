// Layout conversions on NVPTX: a renaming of registers when every thread already holds what it
// needs (same lane and warp bases), otherwise a round trip through shared memory: each thread
// writes its registers at the elements' row-major offsets, a barrier, each thread reads the
// elements of the new layout.
#include "codegen/gpu/lowering.h"

namespace tessel::codegen::gpu::detail {

Vals Lowering::convert(const Vals& v, const ir::Type* elem, const LinearLayout& from,
                       const LinearLayout& to) {
  if (from == to)
    return v;
  TESSEL_ASSERT(from.out_shape() == to.out_shape(), "conversion between shapes");
  if (from.bases(InDim::Lane) == to.bases(InDim::Lane) &&
      from.bases(InDim::Warp) == to.bases(InDim::Warp)) {
    auto index = reg_index(from);
    Vals out;
    for (int32_t r = 0; r < to.in_size(InDim::Register); ++r) {
      auto it = index.find(reg_coord(to, r));
      if (it == index.end())
        break;
      out.push_back(v[it->second]);
    }
    if (static_cast<int32_t>(out.size()) == to.in_size(InDim::Register))
      return out;
  }
  // Through shared memory. Pointers travel as 64-bit integers.
  const bool is_ptr = elem->is_pointer();
  llvm::Type* mt = is_ptr ? b.getInt64Ty() : mem_type(elem);
  const int64_t elem_bytes = is_ptr ? 8 : std::max(1u, elem->element_bits() / 8);
  int64_t numel = 1;
  for (int32_t s : to.out_shape())
    numel *= s;
  llvm::Value* base = scratch(numel * elem_bytes);
  auto offset = [&](const LinearLayout& l, int32_t r) {
    llvm::Value* off = b.getInt32(0);
    int64_t stride = 1;
    for (int d = l.rank() - 1; d >= 0; --d) {
      off = b.CreateAdd(off, b.CreateMul(coordinate(l, r, d), b.getInt32(static_cast<int32_t>(stride))));
      stride *= l.out_shape()[d];
    }
    return b.CreateGEP(mt, base, off);
  };
  // One copy of each element is written (replicated copies would race, harmlessly but
  // wastefully).
  only_if(owner_predicate(from), [&] {
    for (int32_t r = 0; r < from.in_size(InDim::Register); ++r) {
      llvm::Value* x = is_ptr ? b.CreatePtrToInt(v[r], mt) : to_mem(v[r], elem);
      b.CreateAlignedStore(x, offset(from, r), llvm::Align(elem_bytes));
    }
  });
  barrier();
  Vals out;
  for (int32_t r = 0; r < to.in_size(InDim::Register); ++r) {
    llvm::Value* x = b.CreateAlignedLoad(mt, offset(to, r), llvm::Align(elem_bytes));
    out.push_back(is_ptr ? b.CreateIntToPtr(x, reg_type(elem)) : from_mem(x, elem));
  }
  return out;
}

} // namespace tessel::codegen::gpu::detail
