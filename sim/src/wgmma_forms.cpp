// The forms of wgmma.mma_async the PTX ISA defines, checked when the PTX is parsed:
//   .m64nNk16 .f32/.f16 accumulators, .f16.f16 or .bf16.bf16 (bf16 only into f32), with
//       imm-scale-a/b and imm-trans-a/b (trans-a only with A from a descriptor);
//   .m64nNk8 .f32.tf32.tf32 and .m64nNk32 .f32/.f16 . {e4m3,e5m2} x {e4m3,e5m2}, with
//       imm-scale-a/b, no transpose;
//   .m64nNk32 .s32 . {s8,u8} x {s8,u8} (optionally .satfinite), scale-d only.
// N is 8..256 in steps of 8; for s8/u8 it is 8, 16, 24, then 32..256 in steps of 16.
#include "wgmma.h"

#include <fmt/format.h>

namespace tessel::sim {

namespace {

bool is_8bit_float(Type t) { return t == Type::e4m3 || t == Type::e5m2; }
bool is_8bit_int(Type t) { return t == Type::s8 || t == Type::u8; }

// "" when the .dtype.atype.btype combination exists, else why not.
std::string type_error(const Inst& in) {
  const Type d = in.type, a = in.type2, b = in.type3;
  if (a == Type::f16 || a == Type::bf16) {
    if (b != a)
      return fmt::format("A and B must have the same type (.{}.{})", type_name(a), type_name(a));
    if (d != Type::f32 && !(d == Type::f16 && a == Type::f16))
      return fmt::format(".{} inputs accumulate into .f32{}", type_name(a),
                         a == Type::f16 ? " or .f16" : "");
    return "";
  }
  if (a == Type::tf32)
    return b == Type::tf32 && d == Type::f32 ? "" : "tf32 takes the form .f32.tf32.tf32";
  if (is_8bit_float(a))
    return is_8bit_float(b) && (d == Type::f32 || d == Type::f16)
               ? ""
               : "e4m3/e5m2 inputs take an e4m3/e5m2 B and an .f32 or .f16 accumulator";
  if (is_8bit_int(a))
    return is_8bit_int(b) && d == Type::s32 ? "" : "s8/u8 inputs take an s8/u8 B and .s32";
  return fmt::format("no wgmma takes .{} inputs", type_name(a));
}

bool allowed_n(unsigned n, bool integer) {
  if (n < 8 || n > 256 || n % 8 != 0)
    return false;
  return !integer || n <= 24 || n % 16 == 0;
}

} // namespace

WgmmaForm wgmma_form(const Inst& in) {
  WgmmaForm f;
  f.esize = type_size(in.type2);
  f.k = 32 / f.esize;
  f.integer = is_8bit_int(in.type2);
  f.scale_ab = !f.integer;
  f.transpose = f.esize == 2;
  f.d_regs = type_size(in.type) == 2 ? in.shape_n / 4 : in.shape_n / 2;
  return f;
}

WgmmaImmediates wgmma_immediates(const Inst& in) {
  WgmmaImmediates im;
  const WgmmaForm f = wgmma_form(in);
  if (!f.scale_ab)
    return im;
  im.scale_a = 4;
  im.scale_b = 5;
  if (!f.transpose)
    return im;
  if (wgmma_a_in_registers(in)) {
    im.trans_b = 6;
  } else {
    im.trans_a = 6;
    im.trans_b = 7;
  }
  return im;
}

namespace {

// Whether every element of a braced list is a declared register (not a constant or `_`).
bool all_registers(const Operand& o, const Function& fn) {
  for (unsigned i = 0; i < o.count; ++i) {
    const uint32_t slot = fn.vec_pool[o.index + i];
    if (slot >= fn.reg_names.size() || fn.reg_names[slot].empty())
      return false;
  }
  return true;
}

} // namespace

std::string wgmma_operand_error(const Inst& in, const Function& fn) {
  if (std::string why = type_error(in); !why.empty())
    return why;
  const WgmmaForm f = wgmma_form(in);
  if (in.shape_m != 64 || in.shape_k != f.k || !allowed_n(in.shape_n, f.integer))
    return fmt::format("shape m{}n{}k{} does not exist for .{} inputs: M is 64, K is {}, N is "
                       "{}",
                       in.shape_m, in.shape_n, in.shape_k, type_name(in.type2), f.k,
                       f.integer ? "8, 16, 24 or 32..256 in steps of 16" : "8..256 in steps of 8");
  const bool a_regs = wgmma_a_in_registers(in);
  const unsigned want = f.integer ? 4 : !f.transpose ? 6 : a_regs ? 7 : 8;
  if (in.nops != want)
    return fmt::format(
        "takes {} operands (d, {}, b-desc, scale-d{}{}), found {}", want,
        a_regs ? "{a registers}" : "a-desc", f.scale_ab ? ", imm-scale-a, imm-scale-b" : "",
        f.transpose ? (a_regs ? ", imm-trans-b" : ", imm-trans-a, imm-trans-b") : "", in.nops);
  const Operand& d = in.ops[0];
  if (d.kind != OperandKind::vec || d.count != f.d_regs)
    return fmt::format("the accumulator must be a braced list of {} registers (N = {}), found {}",
                       f.d_regs, in.shape_n,
                       d.kind == OperandKind::vec ? std::to_string(d.count) : "a scalar");
  if (!all_registers(d, fn))
    return "the accumulator list must name registers (no constants or '_')";
  if (a_regs && !all_registers(in.ops[1], fn))
    return "the A list must name registers";
  if (a_regs && in.ops[1].count != 4)
    return fmt::format("A in registers is a braced list of 4 registers, found {}", in.ops[1].count);
  for (int i : {a_regs ? 2 : 1, 2})
    if (in.ops[i].kind != OperandKind::reg && in.ops[i].kind != OperandKind::imm)
      return fmt::format("operand {} must be a 64-bit matrix descriptor register", i + 1);
  if (in.ops[3].kind != OperandKind::pred && in.ops[3].kind != OperandKind::imm)
    return "scale-d must be a predicate or an immediate";
  const WgmmaImmediates im = wgmma_immediates(in);
  for (int i : {im.scale_a, im.scale_b})
    if (i >= 0 &&
        (in.ops[i].kind != OperandKind::imm || (in.ops[i].imm != 1 && in.ops[i].imm != -1)))
      return fmt::format("operand {} (imm-scale) must be the immediate 1 or -1", i + 1);
  for (int i : {im.trans_a, im.trans_b})
    if (i >= 0 &&
        (in.ops[i].kind != OperandKind::imm || (in.ops[i].imm != 0 && in.ops[i].imm != 1)))
      return fmt::format("operand {} (imm-trans) must be the immediate 0 or 1", i + 1);
  return "";
}

} // namespace tessel::sim
