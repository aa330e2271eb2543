// Integer arithmetic: add, sub, mul (.lo/.hi/.wide), mad, div, rem, min, max, abs, neg for
// 16-, 32- and 64-bit signed and unsigned types. Values are computed in the operation's
// width and written zero- or sign-extended to the 64-bit slot (readers use the low bits).
// Division by zero does not trap on a GPU; the result is all ones (div) or the dividend (rem).
// The carry forms (add.cc, addc, sub.cc, subc, mad.cc, madc; 32 and 64 bits) read and write the
// lane's carry flag, Warp::carry: an unsigned carry out of an addition, a borrow out of a
// subtraction, as the PTX ISA's "Extended-Precision Integer Arithmetic" defines them.
#include "executor.h"

#include <limits>
#include <type_traits>

namespace tessel::sim {

namespace {

template <typename S> uint64_t extend(S v) {
  if constexpr (std::is_signed_v<S>)
    return static_cast<uint64_t>(static_cast<int64_t>(v));
  else
    return static_cast<uint64_t>(v);
}

template <typename T> struct Wider;
template <> struct Wider<int16_t> { using type = int32_t; };
template <> struct Wider<uint16_t> { using type = uint32_t; };
template <> struct Wider<int32_t> { using type = int64_t; };
template <> struct Wider<uint32_t> { using type = uint64_t; };
template <> struct Wider<int64_t> { using type = __int128; };
template <> struct Wider<uint64_t> { using type = unsigned __int128; };

bool uses_carry(const Inst& in) {
  return in.op == Op::addc || in.op == Op::subc || in.op == Op::madc || in.has(kCc);
}

// add/sub/mad with .cc, and addc/subc/madc: unsigned arithmetic in twice the width, so that the
// bit above the result is the carry (or, for subtraction, the borrow).
template <typename T> void carry_arith(Exec& x, const Inst& in, uint32_t mask) {
  using U = std::make_unsigned_t<T>;
  using W = typename Wider<U>::type;
  constexpr int bits = sizeof(T) * 8;
  uint64_t* d = x.dst(in, 0);
  const uint64_t* a = x.src(in, 1);
  const uint64_t* b = x.src(in, 2);
  const uint64_t* c = in.nops > 3 ? x.src(in, 3) : a;
  const bool carry_in = in.op == Op::addc || in.op == Op::subc || in.op == Op::madc;
  const bool carry_out = in.has(kCc);
  uint32_t flags = x.warp.carry;
  for_lanes(mask, [&](uint32_t l) {
    const W cin = carry_in ? W((flags >> l) & 1) : W(0);
    const W A = static_cast<U>(a[l]), B = static_cast<U>(b[l]);
    W r = 0;
    bool out = false;
    switch (in.op) {
    case Op::add:
    case Op::addc:
      r = A + B + cin;
      out = (r >> bits) & 1;
      break;
    case Op::sub:
    case Op::subc:
      r = A - B - cin;
      out = A < B + cin;
      break;
    case Op::mad:
    case Op::madc: {
      const W p = A * B;
      const W part = in.sub == Sub::hi ? p >> bits : W(static_cast<U>(p));
      r = part + W(static_cast<U>(c[l])) + cin;
      out = (r >> bits) & 1;
      break;
    }
    default:
      break; // uses_carry admits only the ops above
    }
    d[l] = extend(static_cast<T>(static_cast<U>(r)));
    if (carry_out)
      flags = (flags & ~(1u << l)) | (uint32_t(out) << l);
  });
  x.warp.carry = flags;
}

template <typename T> void arith(Exec& x, const Inst& in, uint32_t mask) {
  if constexpr (sizeof(T) >= 4) {
    if (uses_carry(in))
      return carry_arith<T>(x, in, mask);
  }
  using W = typename Wider<T>::type;
  constexpr int bits = sizeof(T) * 8;
  uint64_t* d = x.dst(in, 0);
  const uint64_t* a = x.src(in, 1);
  const uint64_t* b = in.nops > 2 ? x.src(in, 2) : a;
  const uint64_t* c = in.nops > 3 ? x.src(in, 3) : a;
  auto A = [&](uint32_t l) { return static_cast<T>(a[l]); };
  auto B = [&](uint32_t l) { return static_cast<T>(b[l]); };
  auto C = [&](uint32_t l) { return static_cast<T>(c[l]); };
  switch (in.op) {
  case Op::add:
    if (in.has(kSat) && std::is_same_v<T, int32_t>) {
      for_lanes(mask, [&](uint32_t l) {
        int64_t r = int64_t(A(l)) + int64_t(B(l));
        r = std::min<int64_t>(std::max<int64_t>(r, INT32_MIN), INT32_MAX);
        d[l] = extend(static_cast<int32_t>(r));
      });
      return;
    }
    for_lanes(mask, [&](uint32_t l) { d[l] = extend(static_cast<T>(W(A(l)) + W(B(l)))); });
    return;
  case Op::sub:
    if (in.has(kSat) && std::is_same_v<T, int32_t>) {
      for_lanes(mask, [&](uint32_t l) {
        int64_t r = int64_t(A(l)) - int64_t(B(l));
        r = std::min<int64_t>(std::max<int64_t>(r, INT32_MIN), INT32_MAX);
        d[l] = extend(static_cast<int32_t>(r));
      });
      return;
    }
    for_lanes(mask, [&](uint32_t l) { d[l] = extend(static_cast<T>(W(A(l)) - W(B(l)))); });
    return;
  case Op::mul:
  case Op::mad: {
    bool mad = in.op == Op::mad;
    switch (in.sub) {
    case Sub::hi:
      for_lanes(mask, [&](uint32_t l) {
        W p = W(A(l)) * W(B(l));
        T hi = static_cast<T>(p >> bits);
        d[l] = extend(mad ? static_cast<T>(W(hi) + W(C(l))) : hi);
      });
      return;
    case Sub::wide:
      if constexpr (sizeof(T) < 8) {
        for_lanes(mask, [&](uint32_t l) {
          W p = W(A(l)) * W(B(l));
          if (mad)
            p = static_cast<W>(p + static_cast<W>(c[l]));
          d[l] = extend(p);
        });
      }
      return;
    default:
      for_lanes(mask, [&](uint32_t l) {
        T p = static_cast<T>(W(A(l)) * W(B(l)));
        d[l] = extend(mad ? static_cast<T>(W(p) + W(C(l))) : p);
      });
      return;
    }
  }
  case Op::div:
    for_lanes(mask, [&](uint32_t l) {
      T bv = B(l);
      if (bv == 0) {
        d[l] = extend(static_cast<T>(~T(0)));
      } else if (std::is_signed_v<T> && bv == T(-1)) {
        d[l] = extend(static_cast<T>(W(0) - W(A(l))));
      } else {
        d[l] = extend(static_cast<T>(A(l) / bv));
      }
    });
    return;
  case Op::rem:
    for_lanes(mask, [&](uint32_t l) {
      T bv = B(l);
      if (bv == 0)
        d[l] = extend(A(l));
      else if (std::is_signed_v<T> && bv == T(-1))
        d[l] = 0;
      else
        d[l] = extend(static_cast<T>(A(l) % bv));
    });
    return;
  case Op::min:
    for_lanes(mask, [&](uint32_t l) { d[l] = extend(std::min(A(l), B(l))); });
    return;
  case Op::max:
    for_lanes(mask, [&](uint32_t l) { d[l] = extend(std::max(A(l), B(l))); });
    return;
  case Op::abs:
    for_lanes(mask, [&](uint32_t l) {
      T v = A(l);
      d[l] = extend(static_cast<T>(v < 0 ? static_cast<T>(W(0) - W(v)) : v));
    });
    return;
  case Op::neg:
    for_lanes(mask, [&](uint32_t l) { d[l] = extend(static_cast<T>(W(0) - W(A(l)))); });
    return;
  default:
    return; // not an integer arithmetic op; the decoder never sends one here
  }
}

} // namespace

void exec_int_arith(Exec& x, const Inst& in, uint32_t mask) {
  if (!mask)
    return;
  switch (in.type) {
  case Type::s16:
    return arith<int16_t>(x, in, mask);
  case Type::u16:
  case Type::b16:
    return arith<uint16_t>(x, in, mask);
  case Type::s32:
    return arith<int32_t>(x, in, mask);
  case Type::u32:
  case Type::b32:
    return arith<uint32_t>(x, in, mask);
  case Type::s64:
    return arith<int64_t>(x, in, mask);
  case Type::u64:
  case Type::b64:
    return arith<uint64_t>(x, in, mask);
  default:
    x.report(ErrorKind::unsupported, in, -1, false, 0,
             std::string("integer arithmetic on type .") + type_name(in.type) +
                 " is not supported");
    x.launch.aborted = true;
    return;
  }
}

} // namespace tessel::sim
