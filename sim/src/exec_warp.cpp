// Warp-level collectives: shfl.sync (up/down/bfly/idx with the clamp and segment mask of
// operand c), vote.sync (all/any/uni/ballot), match.sync, redux.sync and activemask. A
// membermask that names a live lane which does not execute the instruction (or misses one
// that does) is reported, like compute-sanitizer's synccheck; exited lanes are exempt. A
// lane that reads from an inactive lane gets that lane's current register value (the ISA
// leaves it undefined).
#include "executor.h"

#include <bit>
#include <fmt/format.h>

namespace tessel::sim {

namespace {

// The ISA requires every non-exited lane named in membermask to execute the same
// instruction, and every executing lane to be named (compute-sanitizer's synccheck).
// Lockstep execution cannot wait for lanes on another path, so a mismatch is reported.
bool check_membermask(Exec& x, const Inst& in, uint32_t mask, int operand) {
  if (!mask || in.nops <= operand)
    return true;
  uint32_t lane = static_cast<uint32_t>(std::countr_zero(mask));
  uint32_t member = static_cast<uint32_t>(x.src(in, operand)[lane]);
  uint32_t live = x.warp.valid & ~x.warp.exited;
  uint32_t missing = member & live & ~mask;
  uint32_t extra = mask & ~member;
  if (!missing && !extra)
    return true;
  x.report(ErrorKind::sync, in, static_cast<int>(lane), false, 0,
           missing ? fmt::format("lanes {:#010x} are named in membermask {:#010x} but do not "
                                 "execute this instruction (divergent or guarded off)",
                                 missing, member)
                   : fmt::format("lanes {:#010x} execute this instruction but are not named in "
                                 "membermask {:#010x}",
                                 extra, member));
  return false;
}

} // namespace

void exec_warp(Exec& x, const Inst& in, uint32_t mask, uint32_t active) {
  switch (in.op) {
  case Op::shfl:
    check_membermask(x, in, mask, 4);
    break;
  case Op::vote:
  case Op::redux:
  case Op::match:
    check_membermask(x, in, mask, 2);
    break;
  case Op::elect:
    check_membermask(x, in, mask, 1);
    break;
  default:
    break;
  }
  switch (in.op) {
  case Op::elect: {
    // elect.sync d|p, membermask: the leader is the lowest active lane of the membermask;
    // every lane gets its id, only the leader a true predicate.
    if (!mask)
      return;
    uint32_t members = mask & static_cast<uint32_t>(x.src(in, 1)[__builtin_ctz(mask)]);
    uint32_t leader = members ? static_cast<uint32_t>(__builtin_ctz(members)) : 0;
    uint64_t* d = x.dst(in, 0);
    for_lanes(mask, [&](uint32_t l) { d[l] = leader; });
    if (in.ops[5].kind == OperandKind::pred) {
      uint32_t& dp = x.P[in.ops[5].index];
      dp = (dp & ~mask) | (members ? 1u << leader : 0u);
    }
    return;
  }
  case Op::activemask: {
    if (!mask)
      return;
    uint64_t* d = x.dst(in, 0);
    for_lanes(mask, [&](uint32_t l) { d[l] = active; });
    return;
  }
  case Op::shfl: {
    if (!mask)
      return;
    uint64_t* d = x.dst(in, 0);
    const uint64_t* a = x.src(in, 1);
    const uint64_t* b = x.src(in, 2);
    const uint64_t* c = x.src(in, 3);
    uint64_t result[32];
    uint32_t pv = 0;
    for_lanes(mask, [&](uint32_t lane) {
      uint32_t bval = static_cast<uint32_t>(b[lane]) & 0x1f;
      uint32_t cval = static_cast<uint32_t>(c[lane]);
      uint32_t segmask = (cval >> 8) & 0x1f;
      uint32_t clamp = cval & 0x1f;
      uint32_t max_lane = (lane & segmask) | (clamp & ~segmask);
      uint32_t min_lane = lane & segmask;
      int32_t j;
      bool p;
      switch (in.sub) {
      case Sub::up:
        j = static_cast<int32_t>(lane) - static_cast<int32_t>(bval);
        p = j >= static_cast<int32_t>(max_lane);
        break;
      case Sub::down:
        j = static_cast<int32_t>(lane + bval);
        p = j <= static_cast<int32_t>(max_lane);
        break;
      case Sub::bfly:
        j = static_cast<int32_t>(lane ^ bval);
        p = j <= static_cast<int32_t>(max_lane);
        break;
      default:
        j = static_cast<int32_t>(min_lane | (bval & ~segmask));
        p = j <= static_cast<int32_t>(max_lane);
        break;
      }
      if (!p || j < 0 || j > 31)
        j = static_cast<int32_t>(lane);
      result[lane] = a[j] & 0xffffffffu;
      pv |= uint32_t(p) << lane;
    });
    for_lanes(mask, [&](uint32_t l) { d[l] = result[l]; });
    if (in.ops[5].kind == OperandKind::pred) {
      uint32_t& dp = x.P[in.ops[5].index];
      dp = (dp & ~mask) | pv;
    }
    return;
  }
  case Op::vote: {
    if (!mask)
      return;
    const Operand& src = in.ops[1];
    uint32_t pv = src.kind == OperandKind::pred ? (src.neg ? ~x.P[src.index] : x.P[src.index])
                                                : (src.imm ? 0xffffffffu : 0);
    uint32_t ballot = pv & mask;
    if (in.sub == Sub::ballot) {
      uint64_t* d = x.dst(in, 0);
      for_lanes(mask, [&](uint32_t l) { d[l] = ballot; });
      return;
    }
    bool r = in.sub == Sub::all   ? ballot == mask
             : in.sub == Sub::any ? ballot != 0
                                  : (ballot == 0 || ballot == mask);
    uint32_t& dp = x.P[in.ops[0].index];
    dp = (dp & ~mask) | (r ? mask : 0);
    return;
  }
  case Op::redux: {
    if (!mask)
      return;
    uint64_t* d = x.dst(in, 0);
    const uint64_t* a = x.src(in, 1);
    bool sgn = is_signed(in.type);
    int64_t acc_s = 0;
    uint64_t acc_u = 0;
    bool first = true;
    for_lanes(mask, [&](uint32_t l) {
      uint32_t v = static_cast<uint32_t>(a[l]);
      int32_t s = static_cast<int32_t>(v);
      if (first) {
        acc_s = s;
        acc_u = v;
        first = false;
        return;
      }
      switch (in.sub) {
      case Sub::add:
        acc_u = (acc_u + v) & 0xffffffffu;
        break;
      case Sub::min:
        if (sgn)
          acc_s = std::min<int64_t>(acc_s, s);
        else
          acc_u = std::min<uint64_t>(acc_u, v);
        break;
      case Sub::max:
        if (sgn)
          acc_s = std::max<int64_t>(acc_s, s);
        else
          acc_u = std::max<uint64_t>(acc_u, v);
        break;
      case Sub::and_:
        acc_u &= v;
        break;
      case Sub::or_:
        acc_u |= v;
        break;
      case Sub::xor_:
        acc_u ^= v;
        break;
      default:
        break;
      }
    });
    uint64_t r = (sgn && (in.sub == Sub::min || in.sub == Sub::max))
                     ? static_cast<uint32_t>(static_cast<int32_t>(acc_s))
                     : acc_u;
    for_lanes(mask, [&](uint32_t l) { d[l] = r; });
    return;
  }
  case Op::match: {
    // match.any: the lanes (of mask) holding the same value as this lane; match.all: mask
    // when every lane holds the same value, else 0, with the predicate telling which.
    if (!mask)
      return;
    uint64_t* d = x.dst(in, 0);
    const uint64_t* a = x.src(in, 1);
    const uint64_t m = type_size(in.type) == 8 ? ~uint64_t(0) : 0xffffffffu;
    uint32_t same[32];
    for_lanes(mask, [&](uint32_t l) {
      uint32_t s = 0;
      for_lanes(mask, [&](uint32_t k) { s |= uint32_t((a[k] & m) == (a[l] & m)) << k; });
      same[l] = s;
    });
    const bool all = in.sub == Sub::all;
    uint32_t pv = 0;
    for_lanes(mask, [&](uint32_t l) {
      bool uniform = same[l] == mask;
      d[l] = all ? (uniform ? mask : 0) : same[l];
      pv |= uint32_t(uniform) << l;
    });
    if (in.ops[5].kind == OperandKind::pred) {
      uint32_t& dp = x.P[in.ops[5].index];
      dp = (dp & ~mask) | pv;
    }
    return;
  }
  default:
    x.report(ErrorKind::unsupported, in, -1, false, 0,
             std::string("'") + op_key(in.op) + "' is not supported");
    x.launch.aborted = true;
    return;
  }
}

} // namespace tessel::sim
