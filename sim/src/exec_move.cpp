// mov: register, immediate, special-register and symbol-address moves, predicate moves,
// packing `{a, b}` into a wider register and unpacking a register into `{a, b}`, and
// reads of %clock/%clock64 (the warp's count of issued instructions).
#include "executor.h"

namespace tessel::sim {

void exec_move(Exec& x, const Inst& in, uint32_t mask) {
  if (!mask)
    return;
  const Operand& d = in.ops[0];
  const Operand& s = in.ops[1];
  if (in.type == Type::pred || d.kind == OperandKind::pred) {
    uint32_t v = s.kind == OperandKind::pred ? (s.neg ? ~x.P[s.index] : x.P[s.index])
                                             : (s.imm ? 0xffffffffu : 0);
    uint32_t& dp = x.P[d.index];
    dp = (dp & ~mask) | (v & mask);
    return;
  }
  const unsigned bits = type_size(in.type) * 8;
  const uint64_t m = bits >= 64 ? ~uint64_t(0) : (uint64_t(1) << bits) - 1;
  if (s.kind == OperandKind::clock || s.kind == OperandKind::clock64) {
    uint64_t* out = x.dst(in, 0);
    uint64_t c = x.warp.clock;
    for_lanes(mask, [&](uint32_t l) { out[l] = c & m; });
    return;
  }
  if (d.kind == OperandKind::vec) { // unpack
    const uint64_t* src = x.src(in, 1);
    unsigned w = bits / d.count;
    uint64_t em = w >= 64 ? ~uint64_t(0) : (uint64_t(1) << w) - 1;
    for (unsigned i = 0; i < d.count; ++i) {
      uint64_t* out = x.reg(x.frame.fn->vec_pool[d.index + i]);
      for_lanes(mask, [&](uint32_t l) { out[l] = (src[l] >> (w * i)) & em; });
    }
    return;
  }
  uint64_t* out = x.dst(in, 0);
  if (s.kind == OperandKind::vec) { // pack
    unsigned w = bits / s.count;
    uint64_t em = w >= 64 ? ~uint64_t(0) : (uint64_t(1) << w) - 1;
    const uint32_t* slots = &x.frame.fn->vec_pool[s.index];
    for_lanes(mask, [&](uint32_t l) {
      uint64_t v = 0;
      for (unsigned i = 0; i < s.count; ++i)
        v |= (x.R[size_t(slots[i]) * 32 + l] & em) << (w * i);
      out[l] = v;
    });
    return;
  }
  const uint64_t* src = x.src(in, 1);
  if (mask == 0xffffffffu) {
    for (uint32_t l = 0; l < 32; ++l)
      out[l] = src[l] & m;
    return;
  }
  for_lanes(mask, [&](uint32_t l) { out[l] = src[l] & m; });
}

} // namespace tessel::sim
