// Layout conversions on NVPTX: a renaming of registers when every thread already holds what it
// needs (same lane and warp bases), otherwise a round trip through shared memory: each thread
// writes its registers at the elements' row-major offsets, a barrier, each thread reads the
// elements of the new layout.
//
// The buffer is swizzled (swizzle.h): the XOR swizzle is chosen from the two layouts by
// enumerating every warp-wide write and read and counting wavefronts, and each side moves its
// runs of contiguous registers with one 4-, 8- or 16-byte access, so both sides are free of bank
// conflicts wherever a swizzle of that family allows (tests/gpu proves it for every conversion
// the samples emit).
#include "codegen/gpu/lowering.h"
#include "codegen/gpu/scratch.h"
#include "codegen/gpu/store_words.h"

#include <fmt/format.h>

namespace tessel::codegen::gpu::detail {

namespace {

std::string describe(const LinearLayout& l, const ir::Type* elem) {
  std::string shape;
  for (int32_t s : l.out_shape())
    shape += (shape.empty() ? "" : "x") + std::to_string(s);
  return fmt::format("convert {} {}", shape.empty() ? "scalar" : shape, elem->str());
}

// The tensor's bytes; pointers travel as 64-bit integers.
int64_t tensor_bytes(const LinearLayout& l, const ir::Type* elem) {
  const int64_t elem_bytes = elem->is_pointer() ? 8 : std::max(1u, elem->element_bits() / 8);
  int64_t numel = 1;
  for (int32_t s : l.out_shape())
    numel *= s;
  return numel * elem_bytes;
}

// Every register of `to` is one of `from` in the same thread.
bool renames_registers(const LinearLayout& from, const LinearLayout& to) {
  if (from.bases(InDim::Lane) != to.bases(InDim::Lane) ||
      from.bases(InDim::Warp) != to.bases(InDim::Warp))
    return false;
  auto index = Lowering::reg_index(from);
  for (int32_t r = 0; r < to.in_size(InDim::Register); ++r)
    if (!index.contains(Lowering::reg_coord(to, r)))
      return false;
  return true;
}

} // namespace

int64_t conversion_scratch_bytes(const LinearLayout& from, const LinearLayout& to,
                                 const ir::Type* elem) {
  if (from == to || renames_registers(from, to))
    return 0;
  return tensor_bytes(to, elem);
}

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
  AccessSide write{
      &from, access_vector(from, elem_bytes), /*store=*/true, /*owners_only=*/true, {}};
  AccessSide read{&to,
                  access_vector(to, elem_bytes),
                  /*store=*/false,
                  /*owners_only=*/false,
                  {},
                  /*narrowable=*/!elem->is_float()};
  const Swizzle swizzle = choose_swizzle(write, read, numel, elem_bytes);
  record_accesses(write, swizzle, elem_bytes, describe(from, elem));
  record_accesses(read, swizzle, elem_bytes, describe(to, elem));
  llvm::Value* base = scratch(conversion_scratch_bytes(from, to, elem));
  // One copy of each element is written (replicated copies would race, harmlessly but
  // wastefully).
  llvm::Value* owner = owner_predicate(from);
  for (int32_t r = 0; r < from.in_size(InDim::Register); r += write.vec) {
    Vals xs;
    for (int32_t i = 0; i < write.vec; ++i)
      xs.push_back(is_ptr ? b.CreatePtrToInt(v[r + i], mt) : to_mem(v[r + i], elem));
    if (elem_bytes == 1 && (write.vec == 8 || write.vec == 16)) // one access, as counted
      only_if(owner,
              [&] { store_words(b, b.CreateGEP(mt, base, shared_index(from, r, swizzle)), xs); });
    else
      store_shared_if(owner, mt, base, shared_index(from, r, swizzle), xs);
  }
  barrier();
  Vals out;
  for (int32_t r = 0; r < to.in_size(InDim::Register); r += read.vec)
    for (llvm::Value* x : load_shared(mt, base, shared_index(to, r, swizzle), read.vec))
      out.push_back(is_ptr ? b.CreateIntToPtr(x, reg_type(elem)) : from_mem(x, elem));
  return out;
}

} // namespace tessel::codegen::gpu::detail
