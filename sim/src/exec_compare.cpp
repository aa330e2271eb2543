// Comparison and selection: setp (every comparison, ordered and unordered, combined with a
// predicate by .and/.or/.xor, with the optional complement destination `|q`), set, selp
// and slct. Packed f16x2/bf16x2 setp writes the low half's result to p and the high's to q.
#include "executor.h"
#include "half.h"

#include <cmath>
#include <type_traits>

namespace tessel::sim {

namespace {

bool cmp_float(Cmp c, double a, double b) {
  bool un = std::isnan(a) || std::isnan(b);
  switch (c) {
  case Cmp::eq:
    return !un && a == b;
  case Cmp::ne:
    return !un && a != b;
  case Cmp::lt:
  case Cmp::lo:
    return !un && a < b;
  case Cmp::le:
  case Cmp::ls:
    return !un && a <= b;
  case Cmp::gt:
  case Cmp::hi:
    return !un && a > b;
  case Cmp::ge:
  case Cmp::hs:
    return !un && a >= b;
  case Cmp::equ:
    return un || a == b;
  case Cmp::neu:
    return un || a != b;
  case Cmp::ltu:
    return un || a < b;
  case Cmp::leu:
    return un || a <= b;
  case Cmp::gtu:
    return un || a > b;
  case Cmp::geu:
    return un || a >= b;
  case Cmp::num:
    return !un;
  case Cmp::nan:
    return un;
  case Cmp::none:
    return false;
  }
  return false;
}

template <typename T> bool cmp_int(Cmp c, T a, T b) {
  switch (c) {
  case Cmp::eq:
    return a == b;
  case Cmp::ne:
    return a != b;
  case Cmp::lt:
  case Cmp::lo:
  case Cmp::ltu:
    return a < b;
  case Cmp::le:
  case Cmp::ls:
  case Cmp::leu:
    return a <= b;
  case Cmp::gt:
  case Cmp::hi:
  case Cmp::gtu:
    return a > b;
  case Cmp::ge:
  case Cmp::hs:
  case Cmp::geu:
    return a >= b;
  case Cmp::equ:
    return a == b;
  case Cmp::neu:
    return a != b;
  case Cmp::num:
    return true;
  case Cmp::nan:
    return false;
  case Cmp::none:
    return false;
  }
  return false;
}

double load_float(Type t, uint64_t v, int half) {
  switch (t) {
  case Type::f32:
    return bits_f32(static_cast<uint32_t>(v));
  case Type::f64:
    return bits_f64(v);
  case Type::f16:
  case Type::f16x2:
    return half_to_float(static_cast<uint16_t>(v >> (16 * half)));
  case Type::bf16:
  case Type::bf16x2:
    return bf16_to_float(static_cast<uint16_t>(v >> (16 * half)));
  default:
    return 0;
  }
}

// The comparison of a and b for one lane (`half` selects the half of a packed type).
bool compare(const Inst& in, Type t, uint64_t a, uint64_t b, int half) {
  switch (type_class(t)) {
  case TypeClass::flt:
    return cmp_float(in.cmp, load_float(t, a, half), load_float(t, b, half));
  case TypeClass::sint:
    return cmp_int(in.cmp, load_signed(t, a), load_signed(t, b));
  case TypeClass::uint:
  case TypeClass::bits:
  case TypeClass::pred:
    return cmp_int(in.cmp, load_unsigned(t, a), load_unsigned(t, b));
  }
  return false;
}

bool combine(BoolOp op, bool r, bool c) {
  switch (op) {
  case BoolOp::none:
    return r;
  case BoolOp::and_:
    return r && c;
  case BoolOp::or_:
    return r || c;
  case BoolOp::xor_:
    return r != c;
  }
  return r;
}

// setp's lane loop for one non-packed type, the type dispatched once per instruction: the
// result bits p (the comparison combined with c) and q (its complement combined with c).
template <typename Load>
void setp_lanes(const Inst& in, uint32_t mask, const uint64_t* a, const uint64_t* b, uint32_t cmask,
                uint32_t& p, uint32_t& q, Load load) {
  for_lanes(mask, [&](uint32_t l) {
    bool cv = (cmask >> l) & 1;
    bool r;
    if constexpr (std::is_floating_point_v<decltype(load(uint64_t{}))>)
      r = cmp_float(in.cmp, load(a[l]), load(b[l]));
    else
      r = cmp_int(in.cmp, load(a[l]), load(b[l]));
    p |= uint32_t(combine(in.bool_op, r, cv)) << l;
    q |= uint32_t(combine(in.bool_op, !r, cv)) << l;
  });
}

// The common setp types take setp_lanes; false for the others (the generic lane loop).
bool setp_typed(const Inst& in, uint32_t mask, const uint64_t* a, const uint64_t* b, uint32_t cmask,
                uint32_t& p, uint32_t& q) {
  switch (in.type) {
  case Type::s32:
    setp_lanes(in, mask, a, b, cmask, p, q, [](uint64_t v) { return int64_t(int32_t(v)); });
    return true;
  case Type::u32:
  case Type::b32:
    setp_lanes(in, mask, a, b, cmask, p, q, [](uint64_t v) { return uint64_t(uint32_t(v)); });
    return true;
  case Type::s64:
    setp_lanes(in, mask, a, b, cmask, p, q, [](uint64_t v) { return int64_t(v); });
    return true;
  case Type::u64:
  case Type::b64:
    setp_lanes(in, mask, a, b, cmask, p, q, [](uint64_t v) { return v; });
    return true;
  case Type::f32:
    setp_lanes(in, mask, a, b, cmask, p, q,
               [](uint64_t v) { return double(bits_f32(static_cast<uint32_t>(v))); });
    return true;
  default:
    return false;
  }
}

} // namespace

void exec_compare(Exec& x, const Inst& in, uint32_t mask) {
  if (!mask)
    return;
  uint32_t* P = x.P;
  switch (in.op) {
  case Op::setp: {
    const uint64_t* a = x.src(in, 1);
    const uint64_t* b = x.src(in, 2);
    const bool packed = in.type == Type::f16x2 || in.type == Type::bf16x2;
    uint32_t cmask = 0;
    if (in.bool_op != BoolOp::none) {
      const Operand& c = in.ops[3];
      cmask = c.kind == OperandKind::pred ? (c.neg ? ~P[c.index] : P[c.index]) : 0;
    }
    uint32_t p = 0, q = 0;
    if (packed || !setp_typed(in, mask, a, b, cmask, p, q))
      for_lanes(mask, [&](uint32_t l) {
        bool cv = (cmask >> l) & 1;
        bool r = compare(in, in.type, a[l], b[l], 0);
        if (packed) {
          bool r_hi = compare(in, in.type, a[l], b[l], 1);
          p |= uint32_t(combine(in.bool_op, r, cv)) << l;
          q |= uint32_t(combine(in.bool_op, r_hi, cv)) << l;
        } else {
          p |= uint32_t(combine(in.bool_op, r, cv)) << l;
          q |= uint32_t(combine(in.bool_op, !r, cv)) << l;
        }
      });
    uint32_t& dp = P[in.ops[0].index];
    dp = (dp & ~mask) | p;
    if (in.ops[5].kind == OperandKind::pred) {
      uint32_t& dq = P[in.ops[5].index];
      dq = (dq & ~mask) | q;
    }
    return;
  }
  case Op::set: {
    uint64_t* d = x.dst(in, 0);
    const uint64_t* a = x.src(in, 1);
    const uint64_t* b = x.src(in, 2);
    uint32_t cmask = 0;
    if (in.bool_op != BoolOp::none) {
      const Operand& c = in.ops[3];
      cmask = c.neg ? ~P[c.index] : P[c.index];
    }
    for_lanes(mask, [&](uint32_t l) {
      bool r = combine(in.bool_op, compare(in, in.type2, a[l], b[l], 0), (cmask >> l) & 1);
      d[l] = in.type == Type::f32 ? (r ? f32_bits(1.0f) : 0) : (r ? 0xffffffffu : 0);
    });
    return;
  }
  case Op::selp: {
    uint64_t* d = x.dst(in, 0);
    const uint64_t* a = x.src(in, 1);
    const uint64_t* b = x.src(in, 2);
    const Operand& c = in.ops[3];
    uint32_t pm = c.kind == OperandKind::pred ? (c.neg ? ~P[c.index] : P[c.index])
                                              : (c.imm ? 0xffffffffu : 0);
    for_lanes(mask, [&](uint32_t l) { d[l] = (pm >> l) & 1 ? a[l] : b[l]; });
    return;
  }
  case Op::slct: {
    uint64_t* d = x.dst(in, 0);
    const uint64_t* a = x.src(in, 1);
    const uint64_t* b = x.src(in, 2);
    const uint64_t* c = x.src(in, 3);
    for_lanes(mask, [&](uint32_t l) {
      bool ge = in.type2 == Type::f32 ? !(bits_f32(static_cast<uint32_t>(c[l])) < 0.0f)
                                      : static_cast<int32_t>(c[l]) >= 0;
      d[l] = ge ? a[l] : b[l];
    });
    return;
  }
  default:
    return;
  }
}

} // namespace tessel::sim
