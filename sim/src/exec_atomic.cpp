// Atomics: atom (returns the old value) and red (no result) on global and shared memory,
// for add (integers, f32, f64, f16x2, bf16x2), min, max, exch, cas, and, or, xor, inc and
// dec. Lanes are applied one after another in lane order, which is one of the orders a GPU
// may produce, so results are deterministic.
#include "executor.h"
#include "half.h"
#include "memory_access.h"

#include <cmath>
#include <cstring>

namespace tessel::sim {

namespace {

uint64_t apply(const Inst& in, uint64_t old, uint64_t b, uint64_t c) {
  const Type t = in.type;
  const unsigned bits = type_size(t) * 8;
  const uint64_t m = bits >= 64 ? ~uint64_t(0) : (uint64_t(1) << bits) - 1;
  auto sx = [&](uint64_t v) {
    return bits == 64 ? static_cast<int64_t>(v) : static_cast<int64_t>(static_cast<int32_t>(v));
  };
  switch (in.sub) {
  case Sub::add:
    switch (t) {
    case Type::f32:
      return f32_bits(bits_f32(static_cast<uint32_t>(old)) + bits_f32(static_cast<uint32_t>(b)));
    case Type::f64:
      return f64_bits(bits_f64(old) + bits_f64(b));
    case Type::f16x2:
    case Type::bf16x2:
    case Type::f16:
    case Type::bf16: {
      bool bf = t == Type::bf16x2 || t == Type::bf16;
      int halves = t == Type::f16 || t == Type::bf16 ? 1 : 2;
      uint64_t out = 0;
      for (int h = 0; h < halves; ++h) {
        uint16_t x = static_cast<uint16_t>(old >> (16 * h)),
                 y = static_cast<uint16_t>(b >> (16 * h));
        double s = bf ? double(bf16_to_float(x)) + bf16_to_float(y)
                      : double(half_to_float(x)) + half_to_float(y);
        uint16_t r = bf ? float_to_bf16(static_cast<float>(s)) : double_to_half(s);
        out |= uint64_t(r) << (16 * h);
      }
      return out;
    }
    default:
      return (old + b) & m;
    }
  case Sub::min:
    if (t == Type::f32)
      return f32_bits(std::fmin(bits_f32(uint32_t(old)), bits_f32(uint32_t(b))));
    if (t == Type::f64)
      return f64_bits(std::fmin(bits_f64(old), bits_f64(b)));
    if (is_signed(t))
      return static_cast<uint64_t>(std::min(sx(old), sx(b))) & m;
    return std::min(old & m, b & m);
  case Sub::max:
    if (t == Type::f32)
      return f32_bits(std::fmax(bits_f32(uint32_t(old)), bits_f32(uint32_t(b))));
    if (t == Type::f64)
      return f64_bits(std::fmax(bits_f64(old), bits_f64(b)));
    if (is_signed(t))
      return static_cast<uint64_t>(std::max(sx(old), sx(b))) & m;
    return std::max(old & m, b & m);
  case Sub::exch:
    return b & m;
  case Sub::cas:
    return (old & m) == (b & m) ? c & m : old;
  case Sub::and_:
    return old & b & m;
  case Sub::or_:
    return (old | b) & m;
  case Sub::xor_:
    return (old ^ b) & m;
  case Sub::inc:
    return (old & m) >= (b & m) ? 0 : (old + 1) & m;
  case Sub::dec:
    return ((old & m) == 0 || (old & m) > (b & m)) ? b & m : (old - 1) & m;
  default:
    return old;
  }
}

} // namespace

void exec_atomic(Exec& x, const Inst& in, uint32_t mask) {
  if (!mask)
    return;
  const bool has_dst = in.op == Op::atom;
  const int ai = has_dst ? 1 : 0;
  const Operand& addr_op = in.ops[ai];
  const uint64_t* base = addr_op.index == kNoSlot ? nullptr : x.reg(addr_op.index);
  const uint64_t* b = x.src(in, ai + 1);
  const uint64_t* c = in.sub == Sub::cas ? x.src(in, ai + 2) : b;
  uint64_t* d = has_dst ? x.dst(in, 0) : nullptr;
  const unsigned size = type_size(in.type);
  const bool addr32 = in.space == Space::shared;
  uint32_t offsets[32];
  uint32_t shared_mask = 0;
  for_lanes(mask, [&](uint32_t l) {
    uint64_t a = (base ? base[l] : 0) + static_cast<uint64_t>(addr_op.imm);
    if (addr32)
      a &= 0xffffffffu;
    Resolved r = access_memory(x, in, in.space, a, size, size, l, AccessKind::atomic);
    if (!r.ptr) {
      if (d)
        d[l] = 0;
      return;
    }
    if (r.space == Space::shared) {
      offsets[l] = r.offset;
      shared_mask |= 1u << l;
    }
    uint64_t old = 0;
    std::memcpy(&old, r.ptr, size);
    uint64_t nv = apply(in, old, b[l], c[l]);
    std::memcpy(r.ptr, &nv, size);
    if (d) {
      if (is_signed(in.type) && size == 4)
        d[l] = static_cast<uint64_t>(static_cast<int64_t>(static_cast<int32_t>(old)));
      else
        d[l] = old;
    }
  });
  if (shared_mask)
    account_shared(x, offsets, shared_mask, size);
}

} // namespace tessel::sim
