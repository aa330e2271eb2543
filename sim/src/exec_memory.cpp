// Loads, stores and address conversion: ld/ldu/st in every state space with .v2/.v4, cvta
// between generic and state-space addresses, isspacep. Each lane's access goes through
// access_memory (memcheck/racecheck/initcheck); shared accesses are accounted for bank
// conflicts once per warp instruction.
#include "executor.h"
#include "memory_access.h"

#include <cstring>

namespace tessel::sim {

namespace {

uint64_t load_value(const uint8_t* p, unsigned size, bool sign) {
  uint64_t v = 0;
  std::memcpy(&v, p, size);
  if (sign && size < 8) {
    uint64_t m = uint64_t(1) << (size * 8 - 1);
    v = (v ^ m) - m;
  }
  return v;
}

// The slot of element i of operand `o` (a vector or a single register).
uint32_t element_slot(const Exec& x, const Operand& o, unsigned i) {
  return o.kind == OperandKind::vec ? x.frame.fn->vec_pool[o.index + i] : o.index;
}

void load_store(Exec& x, const Inst& in, uint32_t mask, bool store) {
  const Operand& addr_op = store ? in.ops[0] : in.ops[1];
  const Operand& val = store ? in.ops[1] : in.ops[0];
  unsigned esize = type_size(in.type);
  unsigned n = in.vec;
  unsigned total = esize * n;
  bool sign = is_signed(in.type);
  const uint64_t* base = addr_op.index == kNoSlot ? nullptr : x.reg(addr_op.index);
  const bool addr32 = in.space == Space::shared || in.space == Space::local;
  uint32_t slots[8];
  for (unsigned i = 0; i < n && i < 8; ++i)
    slots[i] = element_slot(x, val, i);
  uint32_t shared_offsets[32];
  uint32_t shared_mask = 0;
  for_lanes(mask, [&](uint32_t l) {
    uint64_t a = (base ? base[l] : 0) + static_cast<uint64_t>(addr_op.imm);
    if (addr32)
      a &= 0xffffffffu;
    uint8_t bytes[64];
    if (store)
      for (unsigned i = 0; i < n && (i + 1) * esize <= sizeof bytes; ++i) {
        uint64_t v = x.R[size_t(slots[i]) * 32 + l];
        std::memcpy(bytes + i * esize, &v, esize);
      }
    const AccessKind kind = in.has(kStrong) ? AccessKind::atomic
                            : store         ? AccessKind::write
                                            : AccessKind::read;
    Resolved r = access_memory(x, in, in.space, a, total, total, l, kind,
                               store && total <= sizeof bytes ? bytes : nullptr);
    if (r.space == Space::shared && r.ptr) {
      shared_offsets[l] = r.offset;
      shared_mask |= 1u << l;
    }
    if (store) {
      if (!r.ptr)
        return;
      for (unsigned i = 0; i < n; ++i) {
        uint64_t v = x.R[size_t(slots[i]) * 32 + l];
        std::memcpy(r.ptr + i * esize, &v, esize);
      }
    } else {
      for (unsigned i = 0; i < n; ++i)
        x.R[size_t(slots[i]) * 32 + l] = r.ptr ? load_value(r.ptr + i * esize, esize, sign) : 0;
    }
  });
  if (shared_mask)
    account_shared(x, shared_offsets, shared_mask, total);
}

} // namespace

void exec_memory(Exec& x, const Inst& in, uint32_t mask) {
  if (!mask)
    return;
  switch (in.op) {
  case Op::ld:
  case Op::ldu:
    return load_store(x, in, mask, false);
  case Op::st:
    return load_store(x, in, mask, true);
  case Op::cvta: {
    uint64_t* d = x.dst(in, 0);
    const uint64_t* a = x.src(in, 1);
    uint64_t window = in.space == Space::shared  ? kSharedWindow
                      : in.space == Space::local ? kLocalWindow
                                                 : 0;
    bool to = in.has(kTo);
    for_lanes(mask, [&](uint32_t l) {
      uint64_t v = a[l];
      if (window == 0) {
        d[l] = v;
      } else if (to) {
        d[l] = v >= window && v < window + kWindowSize ? v - window : v;
        if (in.type == Type::u32)
          d[l] &= 0xffffffffu;
      } else {
        d[l] = window + (v & 0xffffffffu);
      }
    });
    return;
  }
  case Op::isspacep: {
    const uint64_t* a = x.src(in, 1);
    uint32_t p = 0;
    for_lanes(mask, [&](uint32_t l) {
      uint64_t v = a[l];
      bool shared = v >= kSharedWindow && v < kSharedWindow + kWindowSize;
      bool local = v >= kLocalWindow && v < kLocalWindow + kWindowSize;
      bool param = v >= kParamWindow && v < kParamWindow + kWindowSize;
      bool r = in.space == Space::shared  ? shared
               : in.space == Space::local ? local
               : in.space == Space::param ? param
                                          : !(shared || local || param);
      p |= uint32_t(r) << l;
    });
    uint32_t& dp = x.P[in.ops[0].index];
    dp = (dp & ~mask) | p;
    return;
  }
  default:
    return;
  }
}

} // namespace tessel::sim
