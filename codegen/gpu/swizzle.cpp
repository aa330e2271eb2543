// Bank-conflict-free shared-memory layouts: see swizzle.h.
#include "codegen/gpu/swizzle.h"

#include <algorithm>
#include <bit>
#include <optional>
#include <tuple>

namespace tessel::codegen::gpu::detail {

namespace {

bool zero_basis(const LinearLayout& l, InDim in, int i) {
  const auto& b = l.basis(in, i);
  return std::all_of(b.begin(), b.end(), [](int32_t c) { return c == 0; });
}

// True when `id` sets no bit whose basis is zero (the owner of replicated copies).
bool is_owner(const LinearLayout& l, InDim in, int32_t id, const std::vector<int>& ignore) {
  for (int i = 0; i < l.in_bits(in); ++i)
    if ((id >> i & 1) && zero_basis(l, in, i) &&
        std::find(ignore.begin(), ignore.end(), i) == ignore.end())
      return false;
  return true;
}

} // namespace

int access_vector(const LinearLayout& l, int64_t elem_bytes) {
  if (l.rank() == 0)
    return 1;
  const int64_t most = std::max<int64_t>(1, 16 / elem_bytes);
  return static_cast<int>(std::min<int64_t>(l.contiguous_registers(l.rank() - 1), most));
}

std::vector<SharedAccess> enumerate_accesses(const AccessSide& side, const Swizzle& s,
                                             int64_t elem_bytes, const std::string& what,
                                             bool first_only) {
  const LinearLayout& l = *side.layout;
  const std::vector<uint64_t> cols = l.columns();
  const int rb = l.in_bits(InDim::Register), lb = l.in_bits(InDim::Lane),
            wb = l.in_bits(InDim::Warp);
  std::vector<SharedAccess> out;
  for (int32_t w = 0; w < (1 << wb); ++w) {
    if (side.owners_only && !is_owner(l, InDim::Warp, w, side.ignore_warp))
      continue;
    for (int32_t r = 0; r < (1 << rb); r += side.vec) {
      SharedAccess a;
      a.what = what;
      a.store = side.store;
      a.bytes = static_cast<uint32_t>(side.vec * elem_bytes);
      for (int32_t lane = 0; lane < (1 << lb); ++lane) {
        if (side.owners_only && !is_owner(l, InDim::Lane, lane, {}))
          continue;
        const uint64_t in = static_cast<uint64_t>(r) | static_cast<uint64_t>(lane) << rb |
                            static_cast<uint64_t>(w) << (rb + lb);
        uint64_t flat = 0;
        for (size_t j = 0; j < cols.size(); ++j)
          if (in >> j & 1)
            flat ^= cols[j];
        a.active |= 1u << lane;
        a.offsets[lane] = static_cast<uint32_t>(s.apply(static_cast<int64_t>(flat)) * elem_bytes);
      }
      out.push_back(std::move(a));
      if (first_only)
        return out;
    }
  }
  return out;
}

int64_t access_wavefronts(const SharedAccess& a) {
  const uint32_t per_phase = a.bytes <= 4 ? 32 : 128 / a.bytes;
  int64_t total = 0;
  for (uint32_t first = 0; first < 32; first += per_phase) {
    std::vector<uint32_t> words;
    for (uint32_t lane = first; lane < first + per_phase; ++lane)
      if (a.active >> lane & 1)
        for (uint32_t w = a.offsets[lane] / 4; w <= (a.offsets[lane] + a.bytes - 1) / 4; ++w)
          words.push_back(w);
    if (words.empty())
      continue;
    std::sort(words.begin(), words.end());
    words.erase(std::unique(words.begin(), words.end()), words.end());
    std::array<int64_t, 32> per_bank{};
    int64_t most = 0;
    for (uint32_t w : words)
      most = std::max(most, ++per_bank[w % 32]);
    total += most;
  }
  return total;
}

int64_t access_phases(const SharedAccess& a) {
  const uint32_t per_phase = a.bytes <= 4 ? 32 : 128 / a.bytes;
  int64_t phases = 0;
  for (uint32_t first = 0; first < 32; first += per_phase) {
    const uint32_t mask = per_phase == 32 ? ~0u : ((1u << per_phase) - 1) << first;
    phases += (a.active & mask) != 0;
  }
  return phases;
}

namespace {

// The flat element index of each lane of each access of one side (the swizzle applied later).
struct FlatAccesses {
  int64_t bytes = 4;
  int64_t count = 0; // accesses like the representative below
  std::vector<std::pair<uint32_t, std::array<int64_t, 32>>> accesses; // (active lanes, index)
};

FlatAccesses flat_accesses(const AccessSide& side, int64_t elem_bytes) {
  FlatAccesses f;
  f.bytes = side.vec * elem_bytes;
  const LinearLayout& l = *side.layout;
  int64_t warps = 0;
  for (int32_t w = 0; w < l.in_size(InDim::Warp); ++w)
    warps += !side.owners_only || is_owner(l, InDim::Warp, w, side.ignore_warp);
  f.count = warps * (l.in_size(InDim::Register) / side.vec);
  for (const SharedAccess& a :
       enumerate_accesses(side, Swizzle{}, elem_bytes, "", /*first_only=*/true)) {
    std::array<int64_t, 32> index{};
    for (int lane = 0; lane < 32; ++lane)
      index[lane] = a.offsets[lane] / elem_bytes;
    f.accesses.emplace_back(a.active, index);
  }
  return f;
}

struct Cost {
  int64_t conflicts = 0, wavefronts = 0, accesses = 0;
  auto key() const { return std::tuple(conflicts, wavefronts, accesses); }
};

void add_cost(const FlatAccesses& f, const Swizzle& s, int64_t elem_bytes, Cost& c) {
  SharedAccess a;
  a.bytes = static_cast<uint32_t>(f.bytes);
  for (const auto& [active, index] : f.accesses) {
    a.active = active;
    for (int lane = 0; lane < 32; ++lane)
      if (active >> lane & 1)
        a.offsets[lane] = static_cast<uint32_t>(s.apply(index[lane]) * elem_bytes);
    const int64_t w = access_wavefronts(a);
    c.wavefronts += w * f.count;
    c.conflicts += (w - access_phases(a)) * f.count;
    c.accesses += f.count;
  }
}

// `narrowed`: the reads as LLVM may narrow them (empty unless the reader is narrowable); their
// conflicts count, their wavefronts do not.
Cost cost_of(const FlatAccesses& w, const FlatAccesses& r, const FlatAccesses& narrowed,
             const Swizzle& s, int64_t elem_bytes) {
  Cost c;
  add_cost(w, s, elem_bytes, c);
  add_cost(r, s, elem_bytes, c);
  Cost n;
  add_cost(narrowed, s, elem_bytes, n);
  c.conflicts += n.conflicts;
  return c;
}

// Greedy search over the row bits' masks for accesses of fixed widths.
std::pair<Swizzle, Cost> search(const FlatAccesses& w, const FlatAccesses& r,
                                const FlatAccesses& narrowed, int vec_bits, int nbits,
                                int64_t elem_bytes) {
  const int word_bits =
      elem_bytes >= 4 ? 0 : std::countr_zero(static_cast<uint64_t>(4 / elem_bytes));
  const int lo = std::max(vec_bits, word_bits);
  const int hi = std::min(
      nbits, std::countr_zero(static_cast<uint64_t>(std::max<int64_t>(1, 128 / elem_bytes))));
  Swizzle best{vec_bits, {}};
  Cost best_cost = cost_of(w, r, narrowed, best, elem_bytes);
  if (best_cost.conflicts == 0 || lo >= hi)
    return {best, best_cost};
  for (int bit = hi; bit < nbits; ++bit)
    best.masks.emplace_back(bit, 0);
  for (int round = 0; round < 2 && best_cost.conflicts; ++round)
    for (auto& [bit, mask] : best.masks) {
      const int64_t keep = mask;
      int64_t chosen = keep;
      for (int64_t m = 0; m < (int64_t(1) << (hi - lo)); ++m) {
        mask = m << lo;
        const Cost c = cost_of(w, r, narrowed, best, elem_bytes);
        if (c.key() < best_cost.key()) {
          best_cost = c;
          chosen = mask;
        }
      }
      mask = chosen;
      if (best_cost.conflicts == 0)
        break;
    }
  std::erase_if(best.masks, [](const auto& m) { return m.second == 0; });
  return {best, best_cost};
}

} // namespace

Swizzle choose_swizzle(AccessSide& write, AccessSide& read, int64_t numel, int64_t elem_bytes) {
  const int nbits = std::countr_zero(static_cast<uint64_t>(numel));
  std::optional<std::pair<Swizzle, Cost>> best;
  int best_w = write.vec, best_r = read.vec;
  for (int vw = write.vec; vw >= 1; vw /= 2)
    for (int vr = read.vec; vr >= 1; vr /= 2) {
      AccessSide w = write, r = read;
      w.vec = vw;
      r.vec = vr;
      FlatAccesses narrowed;
      if (r.narrowable && vr > 1) {
        narrowed = flat_accesses(r, elem_bytes);
        narrowed.bytes = elem_bytes;
      }
      auto found =
          search(flat_accesses(w, elem_bytes), flat_accesses(r, elem_bytes), narrowed,
                 std::countr_zero(static_cast<uint32_t>(std::max(vw, vr))), nbits, elem_bytes);
      if (!best || found.second.key() < best->second.key()) {
        best = found;
        best_w = vw;
        best_r = vr;
      }
      if (best->second.conflicts == 0) {
        write.vec = best_w;
        read.vec = best_r;
        return best->first;
      }
    }
  write.vec = best_w;
  read.vec = best_r;
  return best->first;
}

} // namespace tessel::codegen::gpu::detail
