// Bit manipulation and logic: shifts, and/or/xor/not/cnot (also on predicates), lop3,
// bfe/bfi, popc/clz/brev/bfind, prmt, funnel shifts, mul24/mad24, sad and dp4a. Shift
// amounts past the width clamp as the ISA says (shl/shr.u give 0, shr.s gives the sign).
#include "executor.h"

#include <bit>
#include <cstring>

namespace tessel::sim {

namespace {

unsigned bits_of(Type t) { return type_size(t) * 8; }

uint64_t low_mask(unsigned bits) { return bits >= 64 ? ~uint64_t(0) : (uint64_t(1) << bits) - 1; }

int64_t sext(uint64_t v, unsigned bits) {
  if (bits >= 64)
    return static_cast<int64_t>(v);
  uint64_t m = uint64_t(1) << (bits - 1);
  v &= low_mask(bits);
  return static_cast<int64_t>((v ^ m) - m);
}

void pred_logic(Exec& x, const Inst& in, uint32_t mask) {
  uint32_t* P = x.P;
  auto pv = [&](int i) -> uint32_t {
    const Operand& o = in.ops[i];
    if (o.kind == OperandKind::pred)
      return o.neg ? ~P[o.index] : P[o.index];
    return o.imm ? 0xffffffffu : 0;
  };
  uint32_t r = 0;
  switch (in.op) {
  case Op::and_:
    r = pv(1) & pv(2);
    break;
  case Op::or_:
    r = pv(1) | pv(2);
    break;
  case Op::xor_:
    r = pv(1) ^ pv(2);
    break;
  case Op::not_:
    r = ~pv(1);
    break;
  default:
    break;
  }
  uint32_t& d = P[in.ops[0].index];
  d = (d & ~mask) | (r & mask);
}

uint32_t prmt(uint32_t a, uint32_t b, uint32_t c, Sub mode) {
  uint8_t bytes[8];
  std::memcpy(bytes, &a, 4);
  std::memcpy(bytes + 4, &b, 4);
  uint32_t out = 0;
  if (mode == Sub::none) {
    for (int i = 0; i < 4; ++i) {
      uint32_t sel = (c >> (4 * i)) & 0xf;
      uint8_t v = bytes[sel & 7];
      if (sel & 8)
        v = (v & 0x80) ? 0xff : 0; // replicate the sign bit
      out |= uint32_t(v) << (8 * i);
    }
    return out;
  }
  uint32_t s = c & 3;
  uint32_t idx[4];
  switch (mode) {
  case Sub::f4e:
    for (int i = 0; i < 4; ++i)
      idx[i] = (s + i) & 7;
    break;
  case Sub::b4e:
    for (int i = 0; i < 4; ++i)
      idx[i] = (s + 8 - i) & 7;
    break;
  case Sub::rc8:
    for (int i = 0; i < 4; ++i)
      idx[i] = s;
    break;
  case Sub::ecl:
    for (int i = 0; i < 4; ++i)
      idx[i] = i < static_cast<int>(s) ? s : i;
    break;
  case Sub::ecr:
    for (int i = 0; i < 4; ++i)
      idx[i] = i > static_cast<int>(s) ? s : i;
    break;
  case Sub::rc16: {
    uint32_t h = (c & 1) * 2;
    idx[0] = h;
    idx[1] = h + 1;
    idx[2] = h;
    idx[3] = h + 1;
    break;
  }
  default:
    for (int i = 0; i < 4; ++i)
      idx[i] = i;
    break;
  }
  for (int i = 0; i < 4; ++i)
    out |= uint32_t(bytes[idx[i]]) << (8 * i);
  return out;
}

} // namespace

void exec_logic(Exec& x, const Inst& in, uint32_t mask) {
  if (!mask)
    return;
  if (in.type == Type::pred)
    return pred_logic(x, in, mask);
  uint64_t* d = x.dst(in, 0);
  const uint64_t* a = x.src(in, 1);
  const uint64_t* b = in.nops > 2 ? x.src(in, 2) : a;
  const uint64_t* c = in.nops > 3 ? x.src(in, 3) : a;
  const unsigned w = bits_of(in.type);
  const uint64_t m = low_mask(w);
  const bool sgn = is_signed(in.type);
  switch (in.op) {
  case Op::shl:
    for_lanes(mask, [&](uint32_t l) {
      uint32_t s = static_cast<uint32_t>(b[l]);
      d[l] = s >= w ? 0 : (a[l] << s) & m;
    });
    return;
  case Op::shr:
    for_lanes(mask, [&](uint32_t l) {
      uint32_t s = static_cast<uint32_t>(b[l]);
      if (sgn) {
        int64_t v = sext(a[l], w);
        d[l] = static_cast<uint64_t>(v >> (s >= w ? w - 1 : s)) & m;
      } else {
        d[l] = s >= w ? 0 : (a[l] & m) >> s;
      }
    });
    return;
  case Op::and_:
    for_lanes(mask, [&](uint32_t l) { d[l] = a[l] & b[l] & m; });
    return;
  case Op::or_:
    for_lanes(mask, [&](uint32_t l) { d[l] = (a[l] | b[l]) & m; });
    return;
  case Op::xor_:
    for_lanes(mask, [&](uint32_t l) { d[l] = (a[l] ^ b[l]) & m; });
    return;
  case Op::not_:
    for_lanes(mask, [&](uint32_t l) { d[l] = ~a[l] & m; });
    return;
  case Op::cnot:
    for_lanes(mask, [&](uint32_t l) { d[l] = (a[l] & m) == 0 ? 1 : 0; });
    return;
  case Op::lop3: {
    uint32_t lut = static_cast<uint32_t>(in.ops[4].imm);
    for_lanes(mask, [&](uint32_t l) {
      uint64_t r = 0, A = a[l], B = b[l], C = c[l];
      if (lut & 0x01)
        r |= ~A & ~B & ~C;
      if (lut & 0x02)
        r |= ~A & ~B & C;
      if (lut & 0x04)
        r |= ~A & B & ~C;
      if (lut & 0x08)
        r |= ~A & B & C;
      if (lut & 0x10)
        r |= A & ~B & ~C;
      if (lut & 0x20)
        r |= A & ~B & C;
      if (lut & 0x40)
        r |= A & B & ~C;
      if (lut & 0x80)
        r |= A & B & C;
      d[l] = r & m;
    });
    return;
  }
  case Op::bfe:
    // Field [pos, pos+len) of a; signed types fill above the field with its top bit
    // (the bit at min(pos+len-1, width-1)), unsigned types with zeros.
    for_lanes(mask, [&](uint32_t l) {
      uint32_t pos = static_cast<uint32_t>(b[l]) & 0xff, len = static_cast<uint32_t>(c[l]) & 0xff;
      uint64_t v = a[l] & m;
      uint64_t field = pos >= w ? 0 : v >> pos;
      if (len < 64)
        field &= low_mask(len);
      if (sgn && len > 0) {
        uint32_t top = std::min(pos + len - 1, w - 1);
        if (((v >> top) & 1) && len < 64)
          field |= ~low_mask(len);
        d[l] = static_cast<uint64_t>(sext(field & m, w));
      } else {
        d[l] = field & m;
      }
    });
    return;
  case Op::bfi: {
    const uint64_t* e = x.src(in, 4);
    for_lanes(mask, [&](uint32_t l) {
      uint32_t pos = static_cast<uint32_t>(c[l]) & 0xff, len = static_cast<uint32_t>(e[l]) & 0xff;
      uint64_t base = b[l] & m;
      if (len == 0 || pos >= w) {
        d[l] = base;
        return;
      }
      uint64_t fm = low_mask(std::min(len, w - pos)) << pos;
      d[l] = ((base & ~fm) | ((a[l] << pos) & fm)) & m;
    });
    return;
  }
  case Op::popc:
    for_lanes(mask, [&](uint32_t l) { d[l] = static_cast<uint64_t>(std::popcount(a[l] & m)); });
    return;
  case Op::clz:
    for_lanes(mask, [&](uint32_t l) {
      uint64_t v = a[l] & m;
      d[l] = v == 0 ? w : static_cast<uint64_t>(std::countl_zero(v) - (64 - w));
    });
    return;
  case Op::brev:
    for_lanes(mask, [&](uint32_t l) {
      uint64_t v = a[l], r = 0;
      for (unsigned i = 0; i < w; ++i)
        r |= ((v >> i) & 1) << (w - 1 - i);
      d[l] = r;
    });
    return;
  case Op::bfind:
    for_lanes(mask, [&](uint32_t l) {
      uint64_t v = a[l] & m;
      if (sgn && ((v >> (w - 1)) & 1))
        v = ~v & m;
      if (v == 0) {
        d[l] = 0xffffffffu;
        return;
      }
      uint32_t msb = 63 - static_cast<uint32_t>(std::countl_zero(v));
      d[l] = in.has(kShiftAmt) ? (w - 1 - msb) : msb;
    });
    return;
  case Op::prmt:
    for_lanes(mask, [&](uint32_t l) {
      d[l] = prmt(static_cast<uint32_t>(a[l]), static_cast<uint32_t>(b[l]),
                  static_cast<uint32_t>(c[l]), in.sub);
    });
    return;
  case Op::shf:
    for_lanes(mask, [&](uint32_t l) {
      uint64_t pair = (uint64_t(static_cast<uint32_t>(b[l])) << 32) | static_cast<uint32_t>(a[l]);
      uint32_t n = static_cast<uint32_t>(c[l]);
      n = in.has(kClamp) ? std::min(n, 32u) : (n & 31);
      if (in.sub == Sub::shf_l)
        d[l] = static_cast<uint32_t>((pair << n) >> 32);
      else
        d[l] = static_cast<uint32_t>(pair >> n);
    });
    return;
  case Op::mul24:
  case Op::mad24:
    for_lanes(mask, [&](uint32_t l) {
      int64_t A = sgn ? sext(a[l], 24) : int64_t(a[l] & 0xffffff);
      int64_t B = sgn ? sext(b[l], 24) : int64_t(b[l] & 0xffffff);
      uint64_t p = static_cast<uint64_t>(A * B);
      uint32_t r = in.sub == Sub::hi ? static_cast<uint32_t>(p >> 16) : static_cast<uint32_t>(p);
      if (in.op == Op::mad24)
        r += static_cast<uint32_t>(c[l]);
      d[l] = sgn ? static_cast<uint64_t>(static_cast<int64_t>(static_cast<int32_t>(r))) : r;
    });
    return;
  case Op::sad:
    for_lanes(mask, [&](uint32_t l) {
      int64_t A = sgn ? sext(a[l], w) : int64_t(a[l] & m);
      int64_t B = sgn ? sext(b[l], w) : int64_t(b[l] & m);
      d[l] = (static_cast<uint64_t>(A > B ? A - B : B - A) + c[l]) & m;
    });
    return;
  case Op::dp4a: {
    bool sa = is_signed(in.type2), sb = is_signed(in.type);
    for_lanes(mask, [&](uint32_t l) {
      int64_t acc = static_cast<int32_t>(c[l]);
      for (int i = 0; i < 4; ++i) {
        uint64_t ab = (a[l] >> (8 * i)) & 0xff, bb = (b[l] >> (8 * i)) & 0xff;
        int64_t av = sa ? sext(ab, 8) : int64_t(ab), bv = sb ? sext(bb, 8) : int64_t(bb);
        acc += av * bv;
      }
      d[l] = static_cast<uint32_t>(acc);
    });
    return;
  }
  default:
    return;
  }
}

} // namespace tessel::sim
