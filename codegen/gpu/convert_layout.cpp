// Layout conversions on NVPTX: a renaming of registers when every thread already holds what it
// needs (same lane and warp bases), otherwise a round trip through shared memory: each thread
// writes its registers at the elements' row-major offsets, a barrier, each thread reads the
// elements of the new layout.
//
// The buffer is padded to avoid bank conflicts: element i lives at i + (i >> seg) * pad. The
// padding is chosen by enumerating, with the two layouts, the 32 lanes of every warp-wide access
// the conversion makes (one per register, writes by the owners of replicated copies only) and
// counting wavefronts (the most distinct 4-byte words any bank must serve); the cheapest candidate
// wins, no padding on ties.
#include "codegen/gpu/lowering.h"

#include <bit>
#include <set>

namespace tessel::codegen::gpu::detail {

namespace {

struct Padding {
  int seg_bits = 0;
  int pad = 0; // elements inserted after every 2^seg_bits elements
  int64_t apply(int64_t i) const { return pad ? i + (i >> seg_bits) * pad : i; }
};

// Wavefronts of all warp-wide accesses of `l`, one per register.
int64_t wavefronts(const LinearLayout& l, Padding p, int64_t elem_bytes, bool owners_only) {
  std::vector<uint64_t> cols = l.columns();
  const int rb = l.in_bits(InDim::Register), lb = l.in_bits(InDim::Lane), wb = l.in_bits(InDim::Warp);
  auto zero_basis = [&](InDim in, int i) {
    const auto& b = l.basis(in, i);
    return std::all_of(b.begin(), b.end(), [](int32_t c) { return c == 0; });
  };
  auto is_owner = [&](InDim in, int32_t id) {
    for (int i = 0; i < l.in_bits(in); ++i)
      if ((id >> i & 1) && zero_basis(in, i))
        return false;
    return true;
  };
  int64_t total = 0;
  for (int32_t w = 0; w < (1 << wb); ++w) {
    if (owners_only && !is_owner(InDim::Warp, w))
      continue;
    for (int32_t r = 0; r < (1 << rb); ++r) {
      std::array<std::set<int64_t>, 32> banks;
      for (int32_t lane = 0; lane < (1 << lb); ++lane) {
        if (owners_only && !is_owner(InDim::Lane, lane))
          continue;
        uint64_t flat = 0;
        const uint64_t in = static_cast<uint64_t>(r) | static_cast<uint64_t>(lane) << rb |
                            static_cast<uint64_t>(w) << (rb + lb);
        for (size_t j = 0; j < cols.size(); ++j)
          if (in >> j & 1)
            flat ^= cols[j];
        int64_t word = p.apply(static_cast<int64_t>(flat)) * elem_bytes / 4;
        banks[word % 32].insert(word);
      }
      size_t most = 1;
      for (const auto& b : banks)
        most = std::max(most, b.size());
      total += static_cast<int64_t>(most);
    }
  }
  return total;
}

Padding choose_padding(const LinearLayout& from, const LinearLayout& to, int64_t elem_bytes) {
  Padding best;
  int64_t best_cost = wavefronts(from, best, elem_bytes, true) + wavefronts(to, best, elem_bytes, false);
  if (from.rank() == 0 || best_cost == 0)
    return best;
  // Padding keeps each thread's vector of consecutive elements aligned.
  const int32_t vec = std::max(from.contiguous_registers(from.rank() - 1), to.contiguous_registers(to.rank() - 1));
  const int64_t vec_bytes = std::min<int64_t>(16, vec * elem_bytes);
  std::vector<int> segs{std::countr_zero(static_cast<uint32_t>(from.out_shape().back())), 5};
  for (int seg : segs)
    for (int pad : {1, 2, 4, 8}) {
      if ((pad * elem_bytes) % vec_bytes != 0 || seg <= 0)
        continue;
      Padding p{seg, pad};
      int64_t cost = wavefronts(from, p, elem_bytes, true) + wavefronts(to, p, elem_bytes, false);
      if (cost < best_cost) {
        best = p;
        best_cost = cost;
      }
    }
  return best;
}

} // namespace

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
  const Padding padding = choose_padding(from, to, elem_bytes);
  llvm::Value* base = scratch(padding.apply(numel - 1) * elem_bytes + elem_bytes);
  auto offset = [&](const LinearLayout& l, int32_t r) {
    llvm::Value* off = b.getInt32(0);
    int64_t stride = 1;
    for (int d = l.rank() - 1; d >= 0; --d) {
      off = b.CreateAdd(off, b.CreateMul(coordinate(l, r, d), b.getInt32(static_cast<int32_t>(stride))));
      stride *= l.out_shape()[d];
    }
    if (padding.pad)
      off = b.CreateAdd(off, b.CreateMul(b.CreateLShr(off, padding.seg_bits), b.getInt32(padding.pad)));
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
