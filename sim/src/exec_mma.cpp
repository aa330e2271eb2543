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
#include <type_traits>
#include <vector>

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

// The `32 / Bits` elements packed in one 32-bit fragment register, low bits first, as doubles.
template <unsigned Bits, typename Decode> void unpack(uint32_t v, double* out, Decode dec) {
  constexpr unsigned epr = 32 / Bits;
  constexpr uint32_t emask = Bits == 32 ? 0xffffffffu : (1u << Bits) - 1;
  for (unsigned e = 0; e < epr; ++e)
    out[e] = dec((v >> (Bits * e)) & emask);
}

// Every f16 bit pattern as a float (half_to_float's values, NaN payloads included): one load
// per element instead of the branchy decode, which was most of mma's time. 256 KiB, built once.
const float* f16_values() {
  static const std::vector<float> table = [] {
    std::vector<float> t(65536);
    for (uint32_t b = 0; b < 65536; ++b)
      t[b] = half_to_float(static_cast<uint16_t>(b));
    return t;
  }();
  return table.data();
}

// Calls f(bits, decode) with the element width and decoder of input type t: the type is
// dispatched once per mma, and the fragment loops are compiled per type.
template <typename F> void with_element_type(Type t, F&& f) {
  switch (t) {
  case Type::f16:
    return f(std::integral_constant<unsigned, 16>{},
             [values = f16_values()](uint32_t b) { return double(values[b & 0xffffu]); });
  case Type::bf16:
    return f(std::integral_constant<unsigned, 16>{},
             [](uint32_t b) { return double(bf16_to_float(static_cast<uint16_t>(b))); });
  case Type::s8:
    return f(std::integral_constant<unsigned, 8>{},
             [](uint32_t b) { return double(static_cast<int8_t>(b)); });
  case Type::u8:
    return f(std::integral_constant<unsigned, 8>{},
             [](uint32_t b) { return double(static_cast<uint8_t>(b)); });
  case Type::e4m3:
    return f(std::integral_constant<unsigned, 8>{},
             [](uint32_t b) { return double(e4m3_to_float(static_cast<uint8_t>(b))); });
  case Type::e5m2:
    return f(std::integral_constant<unsigned, 8>{},
             [](uint32_t b) { return double(e5m2_to_float(static_cast<uint8_t>(b))); });
  default: // 32-bit elements: tf32 (and f32/s32, which no valid shape takes as inputs)
    return f(std::integral_constant<unsigned, 32>{}, [t](uint32_t b) { return decode(t, b); });
  }
}

// d[i][j] = ((0 + a[i][0] b[0][j]) + a[i][1] b[1][j] ...) + c[i][j] for the 16 x 8 tile: each
// element's sum in k order, exact products, one rounding at the end; j innermost so the 8
// columns of a row are summed side by side. On x86-64 an AVX2 clone is picked at load time
// where the CPU has it: separate multiplies and adds (no FMA), so the same bits either way.
// Not under the sanitizers: an ifunc resolver runs while the dynamic loader relocates
// libtessel, before ThreadSanitizer's runtime is up (the tsan lane's test binaries crashed at
// startup).
#if defined(__has_feature)
#if __has_feature(thread_sanitizer) || __has_feature(address_sanitizer)
#define TESSEL_SIM_SANITIZED 1
#endif
#endif
#if defined(__SANITIZE_THREAD__) || defined(__SANITIZE_ADDRESS__)
#define TESSEL_SIM_SANITIZED 1
#endif
#if defined(__x86_64__) && defined(__GNUC__) && !defined(TESSEL_SIM_SANITIZED)
__attribute__((target_clones("avx2", "default")))
#endif
void product(const double (&a)[16][32], const double (&b)[32][8], const double (&c)[16][8],
             unsigned K, double (&d)[16][8]) {
  for (unsigned i = 0; i < 16; ++i) {
    double s[8] = {};
    for (unsigned k = 0; k < K; ++k) {
      const double av = a[i][k];
      for (unsigned j = 0; j < 8; ++j)
        s[j] += av * b[k][j];
    }
    for (unsigned j = 0; j < 8; ++j)
      d[i][j] = s[j] + c[i][j];
  }
}

// The lane-major register file rows of a fragment operand's registers.
void fragment_rows(const Exec& x, const Operand& o, unsigned n, const uint64_t** rows) {
  for (unsigned i = 0; i < n; ++i)
    rows[i] = x.R + size_t(vec_slot(x, o, i)) * 32;
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
  const unsigned c_regs = type_size(ct) == 2 ? 2 : 4; // f16 accumulator: 2 registers of f16x2
  const unsigned d_regs = type_size(dt) == 2 ? 2 : 4;
  const uint64_t *ra[4], *rb[4], *rc[4];
  uint64_t* rd[4];
  fragment_rows(x, in.ops[1], a_regs, ra);
  fragment_rows(x, in.ops[2], b_regs, rb);
  fragment_rows(x, in.ops[3], c_regs, rc);
  for (unsigned i = 0; i < d_regs; ++i)
    rd[i] = x.R + size_t(vec_slot(x, in.ops[0], i)) * 32;
  // Every element of a (M x K), b (K x N) and c (M x N) is written below: the fragments of the
  // 32 lanes cover the matrices exactly.
  double a[16][32], b[32][8], c[16][8];
  // Register-major loops in the product's layout: for one register and group g the four lanes
  // 4g..4g+3 fill one contiguous row segment of a, and for one register and t the eight lanes
  // t, t+4, ... fill contiguous rows of b, so the stores run along rows instead of jumping.
  auto gather_a = [&](auto bits, auto dec) {
    constexpr unsigned Bits = decltype(bits)::value, Epr = 32 / Bits;
    for (unsigned i = 0; i < a_regs; ++i) {
      const unsigned row0 = a_regs == 4 ? 8 * (i & 1) : 8 * i;
      const unsigned col0 = a_regs == 4 ? chunk * (i >> 1) : 0;
      const uint64_t* r = ra[i];
      for (unsigned g = 0; g < 8; ++g) {
        double* out = &a[row0 + g][col0];
        for (unsigned t = 0; t < 4; ++t)
          unpack<Bits>(static_cast<uint32_t>(r[4 * g + t]), out + t * Epr, dec);
      }
    }
  };
  auto gather_b = [&](auto bits, auto dec) {
    constexpr unsigned Bits = decltype(bits)::value, Epr = 32 / Bits;
    for (unsigned i = 0; i < b_regs; ++i) {
      const uint64_t* r = rb[i];
      for (unsigned t = 0; t < 4; ++t) {
        double* rows = &b[t * Epr + chunk * i][0];
        for (unsigned g = 0; g < 8; ++g) {
          double col[Epr];
          unpack<Bits>(static_cast<uint32_t>(r[4 * g + t]), col, dec);
          for (unsigned e = 0; e < Epr; ++e)
            rows[e * 8 + g] = col[e];
        }
      }
    }
  };
  // A and B may differ in type (s8 x u8, e4m3 x e5m2), not in width (checked above).
  with_element_type(at, gather_a);
  with_element_type(bt, gather_b);
  for (uint32_t l = 0; l < 32; ++l) {
    const unsigned g = l / 4, t = l % 4;
    if (c_regs == 2) {
      for (unsigned i = 0; i < 2; ++i) {
        uint32_t v = static_cast<uint32_t>(rc[i][l]);
        c[g + 8 * i][2 * t] = half_to_float(static_cast<uint16_t>(v));
        c[g + 8 * i][2 * t + 1] = half_to_float(static_cast<uint16_t>(v >> 16));
      }
    } else {
      for (unsigned i = 0; i < 4; ++i) {
        uint32_t v = static_cast<uint32_t>(rc[i][l]);
        c[g + 8 * (i >> 1)][2 * t + (i & 1)] = ct == Type::f32 ? bits_f32(v) : decode(ct, v);
      }
    }
  }
  double d[16][8];
  product(a, b, c, K, d);
  const bool integer = at == Type::s8 || at == Type::u8;
  for (uint32_t l = 0; l < 32; ++l) {
    unsigned g = l / 4, t = l % 4;
    if (d_regs == 2) {
      for (unsigned i = 0; i < 2; ++i) {
        uint32_t lo = double_to_half(d[g + 8 * i][2 * t]),
                 hi = double_to_half(d[g + 8 * i][2 * t + 1]);
        rd[i][l] = lo | (hi << 16);
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
      rd[i][l] = out;
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
