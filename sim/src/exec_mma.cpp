// Tensor-core instructions of sm_80/sm_90 at warp level: ldmatrix and stmatrix (m8n8, x1/x2/x4,
// .trans) and mma.sync for m16n8k8/m16n8k16 f16/bf16, m16n8k8 tf32 and m16n8k16/m16n8k32
// s8/u8. The fragment layouts follow the PTX ISA ("Matrix fragments for mma.m16n8k*"): with
// g = lane / 4 and t = lane % 4, each 32-bit register holds e = 32 / bits(type) consecutive
// k-elements; A has rows g and g+8 and columns t*e.. (+4e for the second k-chunk), B has
// column g and rows t*e.. (+4e), and C/D have rows g, g+8 and columns 2t, 2t+1.
// Products are exact and summed in double, then rounded once to the accumulator type
// (hardware accumulates in f32 with its own internal ordering; see README for tolerances).
#include "executor.h"
#include "half.h"
#include "memory_access.h"

#include <cmath>
#include <cstring>
#include <fmt/format.h>

namespace tessel::sim {

namespace {

uint32_t vec_slot(const Exec& x, const Operand& o, unsigned i) {
  return o.kind == OperandKind::vec ? x.frame.fn->vec_pool[o.index + i] : o.index;
}

bool require_full_warp(Exec& x, const Inst& in, uint32_t mask) {
  uint32_t live = x.warp.valid & ~x.warp.exited;
  if ((mask & live) == live && live == 0xffffffffu)
    return true;
  x.report(ErrorKind::sync, in, -1, false, 0,
           fmt::format("'{}' is a .aligned warp-collective instruction but only lanes {:#010x} "
                       "execute it (all 32 must)",
                       x.launch.module->mnemonics[in.mnemonic], mask));
  return false;
}

void ldmatrix(Exec& x, const Inst& in, uint32_t mask, bool store) {
  if (!require_full_warp(x, in, mask))
    return;
  const Operand& addr_op = store ? in.ops[0] : in.ops[1];
  const Operand& regs = store ? in.ops[1] : in.ops[0];
  const unsigned num = in.num ? in.num : 1;
  const uint64_t* base = addr_op.index == kNoSlot ? nullptr : x.reg(addr_op.index);
  const bool trans = in.has(kTrans);
  const Space space = in.space;
  uint16_t tile[4][8][8];
  uint32_t offsets[32];
  uint32_t shared_mask = 0;
  uint8_t* rows[32] = {};
  for (uint32_t r = 0; r < 8 * num; ++r) {
    uint64_t a = (base ? base[r] : 0) + static_cast<uint64_t>(addr_op.imm);
    if (space == Space::shared)
      a &= 0xffffffffu;
    Resolved res =
        access_memory(x, in, space, a, 16, 16, r, store ? AccessKind::write : AccessKind::read);
    rows[r] = res.ptr;
    if (res.ptr && res.space == Space::shared) {
      offsets[r] = res.offset;
      shared_mask |= 1u << r;
    }
  }
  if (shared_mask)
    account_shared(x, offsets, shared_mask, 16);
  if (!store) {
    for (unsigned m = 0; m < num; ++m)
      for (unsigned r = 0; r < 8; ++r) {
        if (rows[m * 8 + r])
          std::memcpy(tile[m][r], rows[m * 8 + r], 16);
        else
          std::memset(tile[m][r], 0, 16);
      }
  }
  for (unsigned m = 0; m < num; ++m) {
    uint64_t* reg = x.reg(vec_slot(x, regs, m));
    for (uint32_t l = 0; l < 32; ++l) {
      unsigned r0 = l / 4, c0 = 2 * (l % 4);
      if (store) {
        uint32_t v = static_cast<uint32_t>(reg[l]);
        if (trans) {
          tile[m][c0][r0] = static_cast<uint16_t>(v);
          tile[m][c0 + 1][r0] = static_cast<uint16_t>(v >> 16);
        } else {
          tile[m][r0][c0] = static_cast<uint16_t>(v);
          tile[m][r0][c0 + 1] = static_cast<uint16_t>(v >> 16);
        }
      } else if (trans) {
        reg[l] = uint32_t(tile[m][c0][r0]) | (uint32_t(tile[m][c0 + 1][r0]) << 16);
      } else {
        reg[l] = uint32_t(tile[m][r0][c0]) | (uint32_t(tile[m][r0][c0 + 1]) << 16);
      }
    }
  }
  if (store)
    for (unsigned m = 0; m < num; ++m)
      for (unsigned r = 0; r < 8; ++r)
        if (rows[m * 8 + r])
          std::memcpy(rows[m * 8 + r], tile[m][r], 16);
}

double decode(Type t, uint32_t bits) {
  switch (t) {
  case Type::f16:
    return half_to_float(static_cast<uint16_t>(bits));
  case Type::bf16:
    return bf16_to_float(static_cast<uint16_t>(bits));
  case Type::tf32:
    return bits_f32(bits & 0xffffe000u);
  case Type::s8:
    return static_cast<int8_t>(bits);
  case Type::u8:
    return static_cast<uint8_t>(bits);
  case Type::f32:
    return bits_f32(bits);
  case Type::s32:
    return static_cast<int32_t>(bits);
  case Type::e4m3:
    return e4m3_to_float(static_cast<uint8_t>(bits));
  case Type::e5m2:
    return e5m2_to_float(static_cast<uint8_t>(bits));
  default:
    return 0;
  }
}

void mma(Exec& x, const Inst& in, uint32_t mask) {
  if (!require_full_warp(x, in, mask))
    return;
  const Type dt = in.type, at = in.type2, bt = in.type3, ct = in.type4;
  const unsigned M = in.shape_m, N = in.shape_n, K = in.shape_k;
  const unsigned abits = type_size(at) * 8;
  const bool ok_shape =
      M == 16 && N == 8 &&
      ((abits == 16 && (K == 8 || K == 16)) || (at == Type::tf32 && (K == 8 || K == 4)) ||
       (abits == 8 && (K == 16 || K == 32)));
  if (!ok_shape || abits != type_size(bt) * 8) {
    x.report(ErrorKind::unsupported, in, -1, false, 0,
             fmt::format("mma shape m{}n{}k{} with .{}.{} inputs is not supported", M, N, K,
                         type_name(at), type_name(bt)));
    x.launch.aborted = true;
    return;
  }
  const unsigned epr = 32 / abits; // elements per 32-bit register
  const unsigned chunk = 4 * epr;  // k-extent of one register column group
  const unsigned a_regs = M * K / (32 * epr);
  const unsigned b_regs = K * N / (32 * epr);
  const Operand &D = in.ops[0], &A = in.ops[1], &B = in.ops[2], &C = in.ops[3];
  double a[16][32] = {}, b[32][8] = {}, c[16][8] = {};
  const uint32_t emask = abits == 32 ? 0xffffffffu : (1u << abits) - 1;
  for (uint32_t l = 0; l < 32; ++l) {
    unsigned g = l / 4, t = l % 4;
    for (unsigned i = 0; i < a_regs; ++i) {
      uint32_t v = static_cast<uint32_t>(x.reg(vec_slot(x, A, i))[l]);
      for (unsigned e = 0; e < epr; ++e) {
        unsigned row = a_regs == 4 ? g + 8 * (i & 1) : g + 8 * i;
        unsigned col = t * epr + e + (a_regs == 4 ? chunk * (i >> 1) : 0);
        a[row][col] = decode(at, (v >> (abits * e)) & emask);
      }
    }
    for (unsigned i = 0; i < b_regs; ++i) {
      uint32_t v = static_cast<uint32_t>(x.reg(vec_slot(x, B, i))[l]);
      for (unsigned e = 0; e < epr; ++e)
        b[t * epr + e + chunk * i][g] = decode(bt, (v >> (abits * e)) & emask);
    }
    if (type_size(ct) == 2) { // f16 accumulator: 2 registers of f16x2
      for (unsigned i = 0; i < 2; ++i) {
        uint32_t v = static_cast<uint32_t>(x.reg(vec_slot(x, C, i))[l]);
        c[g + 8 * i][2 * t] = half_to_float(static_cast<uint16_t>(v));
        c[g + 8 * i][2 * t + 1] = half_to_float(static_cast<uint16_t>(v >> 16));
      }
    } else {
      for (unsigned i = 0; i < 4; ++i)
        c[g + 8 * (i >> 1)][2 * t + (i & 1)] =
            decode(ct, static_cast<uint32_t>(x.reg(vec_slot(x, C, i))[l]));
    }
  }
  const bool integer = at == Type::s8 || at == Type::u8;
  double d[16][8];
  for (unsigned i = 0; i < M; ++i)
    for (unsigned j = 0; j < N; ++j) {
      double s = 0;
      for (unsigned k = 0; k < K; ++k)
        s += a[i][k] * b[k][j];
      d[i][j] = s + c[i][j];
    }
  for (uint32_t l = 0; l < 32; ++l) {
    unsigned g = l / 4, t = l % 4;
    if (type_size(dt) == 2) {
      for (unsigned i = 0; i < 2; ++i) {
        uint32_t lo = double_to_half(d[g + 8 * i][2 * t]),
                 hi = double_to_half(d[g + 8 * i][2 * t + 1]);
        x.reg(vec_slot(x, D, i))[l] = lo | (hi << 16);
      }
      continue;
    }
    for (unsigned i = 0; i < 4; ++i) {
      double v = d[g + 8 * (i >> 1)][2 * t + (i & 1)];
      uint64_t out;
      if (integer) {
        if (in.has(kSatFinite))
          v = std::fmin(std::fmax(v, -2147483648.0), 2147483647.0);
        out = static_cast<uint32_t>(static_cast<int64_t>(v));
      } else {
        out = f32_bits(static_cast<float>(v));
      }
      x.reg(vec_slot(x, D, i))[l] = out;
    }
  }
}

} // namespace

void exec_mma(Exec& x, const Inst& in, uint32_t mask) {
  switch (in.op) {
  case Op::ldmatrix:
    return ldmatrix(x, in, mask, false);
  case Op::stmatrix:
    return ldmatrix(x, in, mask, true);
  case Op::mma:
    return mma(x, in, mask);
  case Op::mma_sp:
  case Op::mma_sp_ordered:
    if (require_full_warp(x, in, mask))
      exec_mma_sp(x, in, mask);
    return;
  default:
    return;
  }
}

} // namespace tessel::sim
