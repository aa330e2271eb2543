// The escape hatches on NVPTX (ops.def: inline_asm, inline_asm_volatile, extern_call), per
// thread register like every elementwise op (lower_elementwise.cpp), in the result's layout.
// inline_asm: one LLVM inline-asm call per `pack` registers, packed as Triton packs them
// (tessel/ir/escape_hatch.h: elements under 32 bits share a register of up to 32 bits, low element
// first; a lone 8-bit element travels in 16 bits), each operand in the LLVM type its constraint
// letter asks for (f: f32, d: f64, h/r/l: i16/i32/i64 — so "r" takes an f32's bits, as in Triton);
// a register count that is not a multiple of pack is padded with the last register, whose extra
// results are dropped. extern_call: a call of the wrapper extern_cuda.h describes, per register.
#include "codegen/gpu/lowering.h"

#include "codegen/gpu/extern_cuda.h"
#include "tessel/ir/escape_hatch.h"

#include <llvm/IR/InlineAsm.h>

namespace tessel::codegen::gpu::detail {

namespace {

// The integer type of an element's bits (f16 -> i16, i8 -> i8).
llvm::Type* bits_type(llvm::IRBuilder<>& b, const ir::Type* e) {
  return b.getIntNTy(e->element_bits());
}

} // namespace

// The LLVM type of an operand of constraint letter `letter` (its width checked by the DSL and
// the verifier): f32 for f, f64 for d, else an integer of `bits`.
static llvm::Type* letter_type(llvm::IRBuilder<>& b, char letter, unsigned bits) {
  if (letter == 'f')
    return b.getFloatTy();
  if (letter == 'd')
    return b.getDoubleTy();
  return b.getIntNTy(bits);
}

// `vals` (per_register elements of type `e`) as one asm operand of constraint letter `letter`.
static llvm::Value* pack_operand(llvm::IRBuilder<>& b, std::span<llvm::Value* const> vals,
                                 const ir::Type* e, char letter) {
  const unsigned bits = e->element_bits();
  const unsigned reg = ir::asm_register_bits(bits, int(vals.size()));
  auto as_bits = [&](llvm::Value* v) {
    return e->is_float() ? b.CreateBitCast(v, bits_type(b, e)) : v;
  };
  llvm::Value* packed = nullptr;
  if (vals.size() == 1) {
    packed = as_bits(vals[0]);
  } else {
    llvm::Type* vec = llvm::FixedVectorType::get(bits_type(b, e), unsigned(vals.size()));
    packed = llvm::PoisonValue::get(vec);
    for (size_t i = 0; i < vals.size(); ++i)
      packed = b.CreateInsertElement(packed, as_bits(vals[i]), b.getInt32(unsigned(i)));
    packed = b.CreateBitCast(packed, b.getIntNTy(bits * unsigned(vals.size())));
  }
  packed = b.CreateZExtOrTrunc(packed, b.getIntNTy(reg)); // a lone 8-bit element in 16 bits
  return b.CreateBitCast(packed, letter_type(b, letter, reg));
}

// The `per` elements of type `e` in asm result `v`.
static void unpack_result(Lowering& l, llvm::Value* v, const ir::Type* e, int per, Vals& out) {
  auto& b = l.b;
  const unsigned bits = e->element_bits();
  const unsigned reg = ir::asm_register_bits(bits, per);
  llvm::Value* x = b.CreateBitCast(v, b.getIntNTy(reg));
  auto from_bits = [&](llvm::Value* y) {
    return e->is_float() ? b.CreateBitCast(y, l.reg_type(e)) : y;
  };
  if (per == 1) {
    out.push_back(from_bits(b.CreateTrunc(x, bits_type(b, e))));
    return;
  }
  llvm::Value* vec = b.CreateBitCast(x, llvm::FixedVectorType::get(bits_type(b, e), unsigned(per)));
  for (int i = 0; i < per; ++i)
    out.push_back(from_bits(b.CreateExtractElement(vec, b.getInt32(unsigned(i)))));
}

// One asm instance on `group[k][i]`: element i (of pack) of operand k; appends pack results.
static void asm_instance(Lowering& l, const ir::Op& op, const std::vector<Vals>& group, Vals& out) {
  const int pack = int(op.int_attr("pack"));
  const ir::Type* rt = op.result()->type()->element();
  const std::string& constraints = op.attr("constraints").s;
  const std::vector<std::string_view> letters = ir::asm_operand_constraints(constraints);
  ir::AsmPacking rp = ir::asm_packing(rt->element_bits(), pack);
  size_t next = size_t(rp.registers); // the inputs' constraints follow the outputs'
  std::vector<llvm::Value*> args;
  std::vector<llvm::Type*> arg_types;
  for (size_t k = 0; k < group.size(); ++k) {
    const ir::Type* e = op.operand(k)->type()->element();
    ir::AsmPacking p = ir::asm_packing(e->element_bits(), pack);
    for (int j = 0; j < p.registers; ++j) {
      std::span<llvm::Value* const> elems(group[k].data() + j * p.per_register,
                                          size_t(p.per_register));
      args.push_back(pack_operand(l.b, elems, e, ir::asm_constraint_letter(letters[next++])));
      arg_types.push_back(args.back()->getType());
    }
  }
  std::vector<llvm::Type*> outs;
  for (int j = 0; j < rp.registers; ++j)
    outs.push_back(letter_type(l.b, ir::asm_constraint_letter(letters[size_t(j)]),
                               ir::asm_register_bits(rt->element_bits(), rp.per_register)));
  llvm::Type* ret = outs.size() == 1 ? outs[0] : llvm::StructType::get(l.ctx, outs);
  auto* fty = llvm::FunctionType::get(ret, arg_types, false);
  if (llvm::Error e = llvm::InlineAsm::verify(fty, constraints)) {
    std::string why = llvm::toString(std::move(e));
    l.unsupported(op, "LLVM rejects the constraints \"" + constraints + "\" (" + why + ")");
  }
  llvm::InlineAsm* ia = llvm::InlineAsm::get(fty, op.attr("asm").s, constraints,
                                             /*hasSideEffects=*/!op.has(ir::PURE));
  llvm::Value* r = l.b.CreateCall(fty, ia, args);
  for (int j = 0; j < rp.registers; ++j)
    unpack_result(l, rp.registers == 1 ? r : l.b.CreateExtractValue(r, unsigned(j)), rt,
                  rp.per_register, out);
}

void Lowering::lower_escape_hatch(const ir::Op& op) {
  const ir::Value* res = op.result();
  std::vector<Vals> ins;
  int32_t regs = 1;
  if (res->type()->rank() == 0) {
    for (const ir::Value* v : op.operands())
      ins.push_back({scalar(v)});
  } else {
    const LinearLayout& l = layout(res);
    for (const ir::Value* v : op.operands())
      ins.push_back(vals_in(v, l));
    regs = l.in_size(InDim::Register);
  }
  Vals out;
  if (op.opcode() == ir::Opcode::ExternCall) {
    std::vector<llvm::Type*> params;
    for (const ir::Value* v : op.operands())
      params.push_back(reg_type(v->type()->element()));
    llvm::FunctionCallee f = module.getOrInsertFunction(
        extern_symbol(op),
        llvm::FunctionType::get(reg_type(res->type()->element()), params, false));
    for (int32_t r = 0; r < regs; ++r) {
      std::vector<llvm::Value*> args;
      for (const Vals& in : ins)
        args.push_back(in[size_t(r)]);
      out.push_back(b.CreateCall(f, args));
    }
  } else {
    const int pack = int(op.int_attr("pack"));
    for (int32_t r = 0; r < regs; r += pack) {
      std::vector<Vals> group(ins.size());
      for (size_t k = 0; k < ins.size(); ++k)
        for (int i = 0; i < pack; ++i)
          group[k].push_back(ins[k][size_t(std::min(r + i, regs - 1))]);
      asm_instance(*this, op, group, out);
    }
    out.resize(size_t(regs)); // the padding's results
  }
  set_vals(res, std::move(out));
}

} // namespace tessel::codegen::gpu::detail
