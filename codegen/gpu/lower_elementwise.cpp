// Elementwise ops on NVPTX: each register of the result from the same register of the operands
// (all in the result's layout). The scalar semantics come from codegen/scalar_semantics.h (shared
// with the CPU backend); this file supplies the GPU's hooks — math from libdevice (__nv_expf, ...,
// linked in after lowering), f16/bf16 in half/bfloat registers — and the packed forms: the ops
// whose one hardware rounding equals f32-then-round (add/sub/mul/neg/abs) run on pairs of
// registers where the target has native f16/bf16 math: add.rn.f16x2, add.rn.bf16x2 on sm_90
// (on sm_80, LLVM 19's NVPTX backend computes bf16 pairs in f32: exact, the same bits). On sm_89+
// fp8 conversions use the hardware's cvt (e4m3x2/e5m2x2), fixed up to the shared semantics'
// bits (NaN sign, non-saturating overflow); on sm_80+ f32 -> f16/bf16 casts convert register pairs
// with one cvt.rn.f16x2.f32 / cvt.rn.bf16x2.f32.
#include "codegen/gpu/lowering.h"

#include "codegen/scalar_rules.h"
#include "codegen/scalar_semantics.h"

#include <llvm/IR/InlineAsm.h>
#include <llvm/IR/Intrinsics.h>
#include <llvm/IR/IntrinsicsNVPTX.h>

namespace tessel::codegen::gpu::detail {

using ir::Opcode;

namespace {

// The GPU's side of the scalar semantics: f16/bf16 in half/bfloat registers (add/sub/mul native
// where the target has f16/bf16 math), math from libdevice.
class GpuScalarTarget final : public ScalarTarget {
public:
  explicit GpuScalarTarget(Lowering& l) : l_(l) {}
  llvm::Type* value_type(const ir::Type* elem) override { return l_.reg_type(elem); }
  llvm::Type* memory_type(const ir::Type* pointee) override { return l_.mem_type(pointee); }
  llvm::Value* round_f32(llvm::Value* f, const ir::Type* elem) override {
    return l_.b.CreateFPTrunc(f, l_.reg_type(elem)); // cvt.rn.f16.f32 / cvt.rn.bf16.f32
  }
  bool has_native_narrow_arith(const ir::Type* elem) const override {
    return elem->dtype() == DType::bf16 ? l_.target.has_bf16_math() : l_.target.has_f16_math();
  }
  llvm::Value* math(ir::Opcode op, std::span<llvm::Value* const> a) override;
  llvm::Value* native_f32_to_fp8_sat(llvm::Value* f, const ir::Type* to) override;
  llvm::Value* native_fp8_to_f32(llvm::Value* bits, const ir::Type* from) override;
  [[noreturn]] void unsupported(const ir::Op& op, std::string_view why) override {
    l_.unsupported(op, why);
  }

private:
  llvm::Value* math_function(ir::Opcode op, std::span<llvm::Value* const> a);
  llvm::Value* libdevice2(const char* f32_name, const char* f64_name, llvm::Value* x,
                          llvm::Value* y);
  llvm::Value* approximate_division(llvm::Value* x, llvm::Value* y);
  Lowering& l_;
};

const char* fp8_ptx_name(const ir::Type* t) {
  return t->dtype() == DType::f8e4m3 ? "e4m3x2" : "e5m2x2";
}

// sm_89+: `cvt.rn.satfinite.e4m3x2.f32 d, a, b` packs {hi: a, lo: b}; the element is a, in d's
// high byte.
llvm::Value* GpuScalarTarget::native_f32_to_fp8_sat(llvm::Value* f, const ir::Type* to) {
  if (!l_.target.has_fp8())
    return nullptr;
  llvm::IRBuilder<>& b = l_.b;
  auto* fty = llvm::FunctionType::get(b.getInt16Ty(), {b.getFloatTy(), b.getFloatTy()}, false);
  const std::string text = std::string("cvt.rn.satfinite.") + fp8_ptx_name(to) + ".f32 $0, $1, $2;";
  llvm::Value* pair =
      b.CreateCall(llvm::InlineAsm::get(fty, text, "=h,f,f", /*hasSideEffects=*/false),
                   {f, llvm::ConstantFP::get(b.getFloatTy(), 0.0)});
  return b.CreateTrunc(b.CreateLShr(pair, 8), b.getInt8Ty());
}

// sm_89+: `cvt.rn.f16x2.e4m3x2 d, a` widens both bytes of a; the element is the low one, in d's
// low half (every fp8 value is an f16 value, so f16 -> f32 keeps it exactly).
llvm::Value* GpuScalarTarget::native_fp8_to_f32(llvm::Value* bits, const ir::Type* from) {
  if (!l_.target.has_fp8())
    return nullptr;
  llvm::IRBuilder<>& b = l_.b;
  auto* fty = llvm::FunctionType::get(b.getInt32Ty(), {b.getInt16Ty()}, false);
  const std::string text = std::string("cvt.rn.f16x2.") + fp8_ptx_name(from) + " $0, $1;";
  llvm::Value* pair =
      b.CreateCall(llvm::InlineAsm::get(fty, text, "=r,h", /*hasSideEffects=*/false),
                   {b.CreateZExt(bits, b.getInt16Ty())});
  llvm::Value* h = b.CreateBitCast(b.CreateTrunc(pair, b.getInt16Ty()), b.getHalfTy());
  return b.CreateFPExt(h, b.getFloatTy());
}

llvm::Value* GpuScalarTarget::libdevice2(const char* f32_name, const char* f64_name, llvm::Value* x,
                                         llvm::Value* y) {
  llvm::Type* t = x->getType();
  llvm::FunctionCallee f =
      l_.module.getOrInsertFunction(t->isDoubleTy() ? f64_name : f32_name, t, t, t);
  return l_.b.CreateCall(f, {x, y});
}

// fdiv: PTX div.full.f32 (Triton's tl.math.fdiv; within 2 ulp over the full range, LLVM has no
// intrinsic for it). f64 has no approximate division but the reciprocal seed: IEEE division.
llvm::Value* GpuScalarTarget::approximate_division(llvm::Value* x, llvm::Value* y) {
  if (x->getType()->isDoubleTy())
    return l_.b.CreateFDiv(x, y);
  llvm::Type* f = l_.b.getFloatTy();
  auto* asm_fn = llvm::InlineAsm::get(llvm::FunctionType::get(f, {f, f}, false),
                                      "div.full.f32 $0, $1, $2;", "=f,f,f",
                                      /*hasSideEffects=*/false);
  return l_.b.CreateCall(asm_fn, {x, y});
}

// The math functions of issue 14, all from libdevice.
llvm::Value* GpuScalarTarget::math_function(ir::Opcode op, std::span<llvm::Value* const> a) {
  auto call = [&](const char* f, const char* d) { return l_.call_libdevice(f, d, a[0]); };
  switch (op) {
  case Opcode::Fdiv:
    return approximate_division(a[0], a[1]);
  case Opcode::Pow:
    return libdevice2("__nv_powf", "__nv_pow", a[0], a[1]);
  case Opcode::Atan2:
    return libdevice2("__nv_atan2f", "__nv_atan2", a[0], a[1]);
  case Opcode::Hypot:
    return libdevice2("__nv_hypotf", "__nv_hypot", a[0], a[1]);
  case Opcode::Log1p:
    return call("__nv_log1pf", "__nv_log1p");
  case Opcode::Expm1:
    return call("__nv_expm1f", "__nv_expm1");
  case Opcode::Sinh:
    return call("__nv_sinhf", "__nv_sinh");
  case Opcode::Cosh:
    return call("__nv_coshf", "__nv_cosh");
  case Opcode::Tan:
    return call("__nv_tanf", "__nv_tan");
  case Opcode::Atan:
    return call("__nv_atanf", "__nv_atan");
  case Opcode::Asin:
    return call("__nv_asinf", "__nv_asin");
  case Opcode::Acos:
    return call("__nv_acosf", "__nv_acos");
  case Opcode::Erfinv:
    return call("__nv_erfinvf", "__nv_erfinv");
  case Opcode::Cbrt:
    return call("__nv_cbrtf", "__nv_cbrt");
  case Opcode::Log10:
    return call("__nv_log10f", "__nv_log10");
  case Opcode::Exp10:
    return call("__nv_exp10f", "__nv_exp10");
  default:
    break; // math() routes only the functions above here
  }
  TESSEL_UNREACHABLE("not a math function of issue 14");
}

llvm::Value* GpuScalarTarget::math(ir::Opcode op, std::span<llvm::Value* const> a) {
  auto call = [&](const char* f, const char* d) { return l_.call_libdevice(f, d, a[0]); };
  switch (op) {
  case Opcode::Rem: { // libdevice's fmod is exact (frem would become x - trunc(x / y) * y)
    llvm::Type* t = a[0]->getType();
    llvm::FunctionCallee f =
        l_.module.getOrInsertFunction(t->isDoubleTy() ? "__nv_fmod" : "__nv_fmodf", t, t, t);
    return l_.b.CreateCall(f, {a[0], a[1]});
  }
  case Opcode::Exp:
    return call("__nv_expf", "__nv_exp");
  case Opcode::Exp2:
    return call("__nv_exp2f", "__nv_exp2");
  case Opcode::Log:
    return call("__nv_logf", "__nv_log");
  case Opcode::Log2:
    return call("__nv_log2f", "__nv_log2");
  case Opcode::Sqrt:
    return call("__nv_sqrtf", "__nv_sqrt");
  case Opcode::Rsqrt:
    return call("__nv_rsqrtf", "__nv_rsqrt");
  case Opcode::Sin:
    return call("__nv_sinf", "__nv_sin");
  case Opcode::Cos:
    return call("__nv_cosf", "__nv_cos");
  case Opcode::Erf:
    return call("__nv_erff", "__nv_erf");
  case Opcode::Tanh:
    return call("__nv_tanhf", "__nv_tanh");
  case Opcode::Floor:
    return call("__nv_floorf", "__nv_floor");
  case Opcode::Ceil:
    return call("__nv_ceilf", "__nv_ceil");
  default:
    return math_function(op, a);
  }
}

} // namespace

llvm::Value* Lowering::constant_of(const ir::Type* elem, const ir::Attr& value) {
  GpuScalarTarget t(*this);
  return ScalarSemantics(b, t).constant(elem, value);
}

llvm::Value* Lowering::call_libdevice(const char* f32_name, const char* f64_name, llvm::Value* x) {
  const char* name = x->getType()->isDoubleTy() ? f64_name : f32_name;
  llvm::FunctionCallee f = module.getOrInsertFunction(name, x->getType(), x->getType());
  return b.CreateCall(f, {x});
}

llvm::Value* Lowering::cast_value(llvm::Value* v, const ir::Type* from, const ir::Type* to) {
  GpuScalarTarget t(*this);
  return ScalarSemantics(b, t).cast(v, from, to);
}

llvm::Value* Lowering::apply_elementwise(const ir::Op& op, std::span<llvm::Value* const> a) {
  GpuScalarTarget t(*this);
  return ScalarSemantics(b, t).apply(op, a);
}

namespace {

// Ops computed in the packed f16x2/bf16x2 forms: those whose one hardware rounding gives the bits
// of f32-then-round (fma is not one: it rounds once where ir.h rounds twice).
bool is_packable(Opcode op) { return is_exact_narrow_op(op); }

// A cast of f32 registers to f16 or bf16 on sm_80+: one cvt.rn.f16x2.f32 (cvt.rn.bf16x2.f32) per
// pair of registers instead of two cvt.rn.f16.f32 and a mov packing them. Each half is rounded to
// nearest even as round_f32's single cvt rounds it, so the bits are the same; LLVM 19 does not
// form the packed cvt from two fptruncs (Triton emits it for its f16 stores). Only for a value
// that is only stored: the pairs it packs are the store's words, while a value computed on
// further (w4a16's dequantised weights feeding the mma) keeps more registers live in pairs and
// spilled at BM=64 (stdlib QuantPtx.W4A16F16MmaNoSpills).
bool narrows_in_pairs(const ir::Op& op, const Target& target, const ir::Function& fn) {
  if (op.opcode() != Opcode::Cast || op.result()->type()->rank() == 0 || !target.has_bf16_math())
    return false;
  const DType from = op.operand(0)->type()->element()->dtype();
  const DType to = op.result()->type()->element()->dtype();
  if (from != DType::f32 || (to != DType::f16 && to != DType::bf16))
    return false;
  bool only_stored = true;
  ir::walk(fn.body, [&](const ir::Op& user) {
    for (size_t i = 0; i < user.num_operands(); ++i)
      if (user.operand(i) == op.result() && (user.opcode() != Opcode::Store || i != 1))
        only_stored = false;
  });
  return only_stored;
}

} // namespace

// `a`: the operands as <2 x half> or <2 x bfloat>.
llvm::Value* Lowering::apply_packed(const ir::Op& op, std::span<llvm::Value* const> a) {
  const Opcode o = op.opcode();
  if (o == Opcode::Add)
    return b.CreateFAdd(a[0], a[1]);
  if (o == Opcode::Sub)
    return b.CreateFSub(a[0], a[1]);
  if (o == Opcode::Mul)
    return b.CreateFMul(a[0], a[1]);
  if (o == Opcode::Neg)
    return b.CreateFNeg(a[0]);
  TESSEL_ASSERT(o == Opcode::Abs, "not a packable op");
  // Clearing the sign bits (NVPTX would widen llvm.fabs.v2f16 to f32 and back).
  llvm::Value* bits = b.CreateBitCast(a[0], b.getInt32Ty());
  return b.CreateBitCast(b.CreateAnd(bits, 0x7fff7fffu), a[0]->getType());
}

bool Lowering::packs(const ir::Op& op) const {
  if (!is_packable(op.opcode()) || op.result()->type()->rank() == 0)
    return false;
  const ir::Type* e = op.result()->type()->element();
  if (!e->is_float() || e->element_bits() != 16)
    return false;
  return e->dtype() == DType::bf16 ? target.has_bf16_math() : target.has_f16_math();
}

void Lowering::lower_elementwise(const ir::Op& op) {
  if (scalar_rule(op.opcode()) == ScalarRule::External)
    return lower_escape_hatch(op); // lower_escape.cpp
  const ir::Value* res = op.result();
  const ir::Type* out = res->type()->element();
  if (op.opcode() == Opcode::Cast || op.num_operands()) {
    const ir::Type* in = op.operand(op.opcode() == Opcode::Select ? 1 : 0)->type()->element();
    for (const ir::Type* e : {in, out}) {
      if (e->is_float() && e->element_bits() == 16 && e->dtype() == DType::bf16 &&
          !target.has_bf16_math())
        unsupported(op, "bf16 needs sm_80 or later (target " + target.name() + ")");
    }
  }
  if (res->type()->rank() == 0) {
    std::vector<llvm::Value*> args;
    for (const ir::Value* v : op.operands())
      args.push_back(scalar(v));
    set_vals(res, {apply_elementwise(op, args)});
    return;
  }
  const LinearLayout& l = layout(res);
  std::vector<Vals> ins;
  for (const ir::Value* v : op.operands())
    ins.push_back(vals_in(v, l));
  Vals outv;
  std::vector<llvm::Value*> args(op.num_operands());
  int32_t r = 0;
  if (packs(op)) {
    // Registers in pairs, one packed instruction per pair.
    llvm::Type* pair = llvm::FixedVectorType::get(reg_type(out), 2);
    for (; r + 1 < l.in_size(InDim::Register); r += 2) {
      for (size_t i = 0; i < ins.size(); ++i) {
        llvm::Value* v =
            b.CreateInsertElement(llvm::PoisonValue::get(pair), ins[i][r], b.getInt32(0));
        args[i] = b.CreateInsertElement(v, ins[i][r + 1], b.getInt32(1));
      }
      llvm::Value* x = apply_packed(op, args);
      outv.push_back(b.CreateExtractElement(x, b.getInt32(0)));
      outv.push_back(b.CreateExtractElement(x, b.getInt32(1)));
    }
  }
  if (narrows_in_pairs(op, target, fn)) {
    const auto id = out->dtype() == DType::bf16 ? llvm::Intrinsic::nvvm_ff2bf16x2_rn
                                                : llvm::Intrinsic::nvvm_ff2f16x2_rn;
    for (; r + 1 < l.in_size(InDim::Register); r += 2) {
      // The first operand goes to the upper half: element 1.
      llvm::Value* x = b.CreateIntrinsic(id, {}, {ins[0][r + 1], ins[0][r]});
      outv.push_back(b.CreateExtractElement(x, b.getInt32(0)));
      outv.push_back(b.CreateExtractElement(x, b.getInt32(1)));
    }
  }
  for (; r < l.in_size(InDim::Register); ++r) {
    for (size_t i = 0; i < ins.size(); ++i)
      args[i] = ins[i][r];
    outv.push_back(apply_elementwise(op, args));
  }
  set_vals(res, std::move(outv));
}

} // namespace tessel::codegen::gpu::detail
