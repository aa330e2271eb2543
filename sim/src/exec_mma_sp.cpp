// Sparse tensor-core MMA: mma.sp{::ordered_metadata}.sync.aligned.m16n8k{16,32}.row.col for
// .f16/.bf16 operands (f32 or f16 accumulators), as the PTX ISA defines it ("Matrix
// multiply-accumulate operation using mma.sp instruction with sparse matrix A", "Sparse matrix
// storage"): A is 16 x K with two non-zeros in every chunk of 4 consecutive elements of a row,
// passed compressed (16 x K/2, in the dense m16n8k{8,16} A fragment layout of those K/2 columns),
// and the metadata register e says where each kept element sits in its chunk.
//
// Metadata, with g = lane / 4 and t = lane % 4: each chunk of A takes a nibble whose low two
// bits are the position (0..3) of the chunk's first kept element and whose high two bits are the
// second's. One 32-bit register holds 16 bits (4 chunks = 16 columns of A) of row g in its low
// half and the same columns of row g + 8 in its high half. The sparsity selector f says which
// lanes of each quad supply it: m16n8k16 (4 chunks per row) takes lane 4g + f (f in 0..3);
// m16n8k32 (8 chunks) takes lanes 4g + 2f (columns 0..15) and 4g + 2f + 1 (columns 16..31), f in
// 0..1. The nibbles 0b0000, 0b0101, 0b1010, 0b1111 (a position used twice) are undefined
// behaviour in the ISA and reported; ::ordered_metadata also requires the two positions in
// increasing order. B, C and D are the dense mma's fragments of the same shape.
#include "executor.h"
#include "half.h"

#include <fmt/format.h>

namespace tessel::sim {

namespace {

uint32_t slot(const Exec& x, const Operand& o, unsigned i) {
  return o.kind == OperandKind::vec ? x.frame.fn->vec_pool[o.index + i] : o.index;
}

bool is_vec(const Operand& o, unsigned count) {
  return o.kind == OperandKind::vec && o.count == count;
}

double element(Type t, uint16_t bits) {
  return t == Type::bf16 ? bf16_to_float(bits) : half_to_float(bits);
}

// Every element of the list names a register or `_` (a constant would be overwritten).
bool writable(const Operand& o, const Function& fn) {
  for (unsigned i = 0; i < o.count; ++i) {
    const uint32_t s = fn.vec_pool[o.index + i];
    if (s != fn.sink_slot && (s >= fn.reg_names.size() || fn.reg_names[s].empty()))
      return false;
  }
  return true;
}

// The instruction's form, or a message saying what is wrong with it.
std::string form_error(const Inst& in, const Function& fn) {
  const Type dt = in.type, at = in.type2, bt = in.type3, ct = in.type4;
  const unsigned K = in.shape_k;
  if (in.shape_m != 16 || in.shape_n != 8 || (K != 16 && K != 32))
    return fmt::format("shape m{}n{}k{} is not supported (m16n8k16 and m16n8k32 are)", in.shape_m,
                       in.shape_n, K);
  if ((at != Type::f16 && at != Type::bf16) || bt != at)
    return fmt::format(".{}.{} inputs are not supported (.f16.f16 and .bf16.bf16 are)",
                       type_name(at), type_name(bt));
  if ((dt != Type::f32 && dt != Type::f16) || (ct != Type::f32 && ct != Type::f16) ||
      (at == Type::bf16 && (dt != Type::f32 || ct != Type::f32)))
    return fmt::format("accumulator types .{} / .{} are not valid for .{} inputs", type_name(dt),
                       type_name(ct), type_name(at));
  if (in.nops != 6)
    return fmt::format("takes 6 operands (d, a, b, c, metadata, sparsity selector), found {}",
                       in.nops);
  const unsigned ab_regs = K / 8; // A: K/2 halves per row over 4 lanes; B: K halves over 4 lanes
  if (!is_vec(in.ops[0], type_size(dt) == 2 ? 2 : 4) ||
      !is_vec(in.ops[3], type_size(ct) == 2 ? 2 : 4))
    return "d and c must be braced lists of 4 (f32) or 2 (f16x2) registers";
  if (!writable(in.ops[0], fn))
    return "d must name registers (no constants)";
  if (!is_vec(in.ops[1], ab_regs) || !is_vec(in.ops[2], ab_regs))
    return fmt::format("a and b must be braced lists of {} registers for k{}", ab_regs, K);
  if (in.ops[4].kind != OperandKind::reg && in.ops[4].kind != OperandKind::imm)
    return "the metadata must be a 32-bit register or constant";
  const int64_t sel = in.ops[5].imm;
  if (in.ops[5].kind != OperandKind::imm || sel < 0 || sel > (K == 16 ? 3 : 1))
    return fmt::format("the sparsity selector must be an immediate {} for m16n8k{}",
                       K == 16 ? "0..3" : "0 or 1", K);
  return "";
}

// The column of A (0..K-1) where compressed column `cc` of `row` sits, from the metadata; -1
// (after reporting) for an invalid nibble.
int dense_column(Exec& x, const Inst& in, unsigned row, unsigned cc) {
  const unsigned K = in.shape_k, sel = unsigned(in.ops[5].imm);
  const unsigned chunk = cc / 2;
  const unsigned lane = 4 * (row % 8) + (K == 16 ? sel : 2 * sel + chunk / 4);
  const uint32_t e = static_cast<uint32_t>(x.reg(in.ops[4].index)[lane]);
  const unsigned nib = (e >> ((row >= 8 ? 16 : 0) + 4 * (chunk % 4))) & 0xf;
  const unsigned first = nib & 3, second = nib >> 2;
  const bool ordered = in.op == Op::mma_sp_ordered;
  if (first == second || (ordered && first > second)) {
    x.report(ErrorKind::unsupported, in, int(lane), false, 0,
             fmt::format("metadata nibble {:#06b} of row {}, chunk {} (bits {}..{} of lane {}'s "
                         "metadata) {}: undefined behaviour in the PTX ISA",
                         nib, row, chunk, (row >= 8 ? 16 : 0) + 4 * (chunk % 4),
                         (row >= 8 ? 16 : 0) + 4 * (chunk % 4) + 3, lane,
                         first == second ? "names one position twice"
                                         : "is out of order (::ordered_metadata needs the "
                                           "positions increasing)"));
    return -1;
  }
  return int(4 * chunk + (cc % 2 == 0 ? first : second));
}

} // namespace

void exec_mma_sp(Exec& x, const Inst& in, uint32_t) {
  if (std::string why = form_error(in, *x.frame.fn); !why.empty()) {
    x.report(ErrorKind::unsupported, in, -1, false, 0,
             fmt::format("'{}': {}", x.launch.module->mnemonics[in.mnemonic], why));
    x.launch.aborted = true;
    return;
  }
  const Type dt = in.type, at = in.type2, ct = in.type4;
  const unsigned K = in.shape_k, ab_regs = K / 8;
  const Operand &D = in.ops[0], &A = in.ops[1], &B = in.ops[2], &C = in.ops[3];
  double a[16][32] = {}, b[32][8] = {}, c[16][8] = {};
  for (uint32_t l = 0; l < 32; ++l) {
    const unsigned g = l / 4, t = l % 4;
    for (unsigned i = 0; i < ab_regs; ++i) {
      const uint32_t v = static_cast<uint32_t>(x.reg(slot(x, A, i))[l]);
      // The dense A fragment of the compressed 16 x K/2 matrix: rows g, g+8; columns 2t, 2t+1
      // (+8 for the second pair of registers at k32).
      const unsigned row = g + 8 * (i & 1);
      for (unsigned e = 0; e < 2; ++e) {
        const int col = dense_column(x, in, row, 2 * t + e + 8 * (i >> 1));
        if (col < 0) {
          x.launch.aborted = true;
          return;
        }
        a[row][col] = element(at, static_cast<uint16_t>(v >> (16 * e)));
      }
      const uint32_t w = static_cast<uint32_t>(x.reg(slot(x, B, i))[l]);
      for (unsigned e = 0; e < 2; ++e)
        b[2 * t + e + 8 * i][g] = element(at, static_cast<uint16_t>(w >> (16 * e)));
    }
    if (type_size(ct) == 2) {
      for (unsigned i = 0; i < 2; ++i) {
        const uint32_t v = static_cast<uint32_t>(x.reg(slot(x, C, i))[l]);
        c[g + 8 * i][2 * t] = half_to_float(static_cast<uint16_t>(v));
        c[g + 8 * i][2 * t + 1] = half_to_float(static_cast<uint16_t>(v >> 16));
      }
    } else {
      for (unsigned i = 0; i < 4; ++i)
        c[g + 8 * (i >> 1)][2 * t + (i & 1)] =
            bits_f32(static_cast<uint32_t>(x.reg(slot(x, C, i))[l]));
    }
  }
  // Exact products summed in double, rounded once (as exec_mma.cpp's dense mma).
  double d[16][8];
  for (unsigned i = 0; i < 16; ++i)
    for (unsigned j = 0; j < 8; ++j) {
      double s = 0;
      for (unsigned k = 0; k < K; ++k)
        s += a[i][k] * b[k][j];
      d[i][j] = s + c[i][j];
    }
  for (uint32_t l = 0; l < 32; ++l) {
    const unsigned g = l / 4, t = l % 4;
    if (type_size(dt) == 2) {
      for (unsigned i = 0; i < 2; ++i) {
        const uint32_t lo = double_to_half(d[g + 8 * i][2 * t]),
                       hi = double_to_half(d[g + 8 * i][2 * t + 1]);
        x.reg(slot(x, D, i))[l] = lo | (hi << 16);
      }
    } else {
      for (unsigned i = 0; i < 4; ++i)
        x.reg(slot(x, D, i))[l] =
            f32_bits(static_cast<float>(d[g + 8 * (i >> 1)][2 * t + (i & 1)]));
    }
  }
}

} // namespace tessel::sim
