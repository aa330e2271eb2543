// Elementwise ops on NVPTX: each register of the result from the same register of the operands
// (all in the result's layout). Math functions come from libdevice (__nv_expf, ...), linked in
// after lowering (libdevice.cpp); f16/bf16 go through f32 except for the exactly rounded ops, and
// those (add/sub/mul/fma/neg/abs) run on pairs of registers in the packed forms where the target
// has native f16/bf16 math: add.rn.f16x2, fma.rn.f16x2, add.rn.bf16x2 on sm_90 (fma.rn.bf16x2
// before it, which LLVM's NVPTX backend picks for bf16 add/sub/mul).
#include "codegen/gpu/lowering.h"

#include <llvm/IR/Intrinsics.h>

namespace tessel::codegen::gpu::detail {

using ir::Opcode;

llvm::Value* Lowering::constant_of(const ir::Type* elem, const ir::Attr& value) {
  llvm::Type* t = reg_type(elem);
  if (elem->is_float())
    return llvm::ConstantFP::get(t,
                                 value.kind == ir::Attr::Kind::Float ? value.f : double(value.i));
  if (elem->is_pointer())
    return llvm::ConstantPointerNull::get(llvm::cast<llvm::PointerType>(t));
  int64_t v = value.kind == ir::Attr::Kind::Int ? value.i : static_cast<int64_t>(value.f);
  return llvm::ConstantInt::get(t, static_cast<uint64_t>(v), /*IsSigned=*/true);
}

llvm::Value* Lowering::call_libdevice(const char* f32_name, const char* f64_name, llvm::Value* x) {
  const char* name = x->getType()->isDoubleTy() ? f64_name : f32_name;
  llvm::FunctionCallee f = module.getOrInsertFunction(name, x->getType(), x->getType());
  return b.CreateCall(f, {x});
}

llvm::Value* Lowering::cast_value(llvm::Value* v, const ir::Type* from, const ir::Type* to) {
  llvm::Type* t = reg_type(to);
  if (from == to)
    return v;
  if (to->is_bool()) {
    if (from->is_float())
      return b.CreateFCmpUNE(v, llvm::ConstantFP::get(v->getType(), 0.0));
    return b.CreateICmpNE(v, llvm::ConstantInt::get(v->getType(), 0));
  }
  if (from->is_bool())
    return to->is_float() ? b.CreateUIToFP(v, t) : b.CreateZExt(v, t);
  if (from->is_float() && to->is_float()) {
    // bf16 <-> f16 through f32 (no direct instruction).
    if (v->getType()->isBFloatTy() && t->isHalfTy())
      v = b.CreateFPExt(v, b.getFloatTy());
    return v->getType()->getPrimitiveSizeInBits() < t->getPrimitiveSizeInBits()
               ? b.CreateFPExt(v, t)
               : b.CreateFPTrunc(v, t);
  }
  if (from->is_float())
    return b.CreateFPToSI(v, t);
  if (to->is_float())
    return b.CreateSIToFP(v, t);
  return b.CreateSExtOrTrunc(v, t);
}

namespace {

bool is_narrow_float(llvm::Type* t) {
  return t->isHalfTy() || t->isBFloatTy();
}

} // namespace

llvm::Value* Lowering::apply_elementwise(const ir::Op& op, std::span<llvm::Value* const> a) {
  const ir::Type* elem = op.num_operands() ? op.operand(0)->type()->element() : nullptr;
  const bool fl = elem && elem->is_float();
  llvm::Type* t = a.empty() ? nullptr : a[0]->getType();
  // f16/bf16 in f32 for everything but the exactly rounded ops.
  auto widen = [&](llvm::Value* v) {
    return is_narrow_float(v->getType()) ? b.CreateFPExt(v, b.getFloatTy()) : v;
  };
  auto narrow = [&](llvm::Value* v) { return v->getType() != t ? b.CreateFPTrunc(v, t) : v; };
  auto unary_math = [&](const char* f, const char* d) {
    return narrow(call_libdevice(f, d, widen(a[0])));
  };
  auto intrinsic = [&](llvm::Intrinsic::ID id, std::span<llvm::Value* const> args) {
    std::vector<llvm::Value*> v(args.begin(), args.end());
    return b.CreateIntrinsic(id, {v[0]->getType()}, v);
  };
  const bool native_narrow = t && ((t->isHalfTy() && target.has_f16_math()) ||
                                   (t->isBFloatTy() && target.has_bf16_math()));
  switch (op.opcode()) {
  case Opcode::Add:
    return fl ? (native_narrow || !is_narrow_float(t)
                     ? b.CreateFAdd(a[0], a[1])
                     : narrow(b.CreateFAdd(widen(a[0]), widen(a[1]))))
              : b.CreateAdd(a[0], a[1]);
  case Opcode::Sub:
    return fl ? (native_narrow || !is_narrow_float(t)
                     ? b.CreateFSub(a[0], a[1])
                     : narrow(b.CreateFSub(widen(a[0]), widen(a[1]))))
              : b.CreateSub(a[0], a[1]);
  case Opcode::Mul:
    return fl ? (native_narrow || !is_narrow_float(t)
                     ? b.CreateFMul(a[0], a[1])
                     : narrow(b.CreateFMul(widen(a[0]), widen(a[1]))))
              : b.CreateMul(a[0], a[1]);
  case Opcode::Div:
    return fl ? narrow(b.CreateFDiv(widen(a[0]), widen(a[1]))) : b.CreateSDiv(a[0], a[1]);
  case Opcode::Rem:
    return fl ? narrow(b.CreateFRem(widen(a[0]), widen(a[1]))) : b.CreateSRem(a[0], a[1]);
  case Opcode::Min:
    if (fl)
      return narrow(intrinsic(llvm::Intrinsic::minnum, std::array{widen(a[0]), widen(a[1])}));
    return b.CreateSelect(b.CreateICmpSLT(a[0], a[1]), a[0], a[1]);
  case Opcode::Max:
    if (fl)
      return narrow(intrinsic(llvm::Intrinsic::maxnum, std::array{widen(a[0]), widen(a[1])}));
    return b.CreateSelect(b.CreateICmpSGT(a[0], a[1]), a[0], a[1]);
  case Opcode::And:
    return b.CreateAnd(a[0], a[1]);
  case Opcode::Or:
    return b.CreateOr(a[0], a[1]);
  case Opcode::Xor:
    return b.CreateXor(a[0], a[1]);
  case Opcode::Shl:
    return b.CreateShl(a[0], a[1]);
  case Opcode::Shr:
    return b.CreateAShr(a[0], a[1]);
  case Opcode::Neg:
    return fl ? b.CreateFNeg(a[0]) : b.CreateNeg(a[0]);
  case Opcode::Not:
    return b.CreateNot(a[0]);
  case Opcode::Abs:
    if (fl)
      return intrinsic(llvm::Intrinsic::fabs, a);
    return b.CreateSelect(b.CreateICmpSLT(a[0], llvm::ConstantInt::get(t, 0)), b.CreateNeg(a[0]),
                          a[0]);
  case Opcode::Fma:
    if (native_narrow || !is_narrow_float(t))
      return intrinsic(llvm::Intrinsic::fma, a);
    return narrow(
        intrinsic(llvm::Intrinsic::fma, std::array{widen(a[0]), widen(a[1]), widen(a[2])}));
  case Opcode::Exp:
    return unary_math("__nv_expf", "__nv_exp");
  case Opcode::Exp2:
    return unary_math("__nv_exp2f", "__nv_exp2");
  case Opcode::Log:
    return unary_math("__nv_logf", "__nv_log");
  case Opcode::Log2:
    return unary_math("__nv_log2f", "__nv_log2");
  case Opcode::Sqrt:
    return unary_math("__nv_sqrtf", "__nv_sqrt");
  case Opcode::Rsqrt:
    return unary_math("__nv_rsqrtf", "__nv_rsqrt");
  case Opcode::Sin:
    return unary_math("__nv_sinf", "__nv_sin");
  case Opcode::Cos:
    return unary_math("__nv_cosf", "__nv_cos");
  case Opcode::Erf:
    return unary_math("__nv_erff", "__nv_erf");
  case Opcode::Tanh:
    return unary_math("__nv_tanhf", "__nv_tanh");
  case Opcode::Floor:
    return unary_math("__nv_floorf", "__nv_floor");
  case Opcode::Ceil:
    return unary_math("__nv_ceilf", "__nv_ceil");
  case Opcode::Sigmoid: {
    llvm::Value* x = widen(a[0]);
    llvm::Value* e = call_libdevice("__nv_expf", "__nv_exp", b.CreateFNeg(x));
    return narrow(b.CreateFDiv(llvm::ConstantFP::get(x->getType(), 1.0),
                               b.CreateFAdd(llvm::ConstantFP::get(x->getType(), 1.0), e)));
  }
  case Opcode::CmpEq:
    return fl ? b.CreateFCmpOEQ(a[0], a[1]) : b.CreateICmpEQ(a[0], a[1]);
  case Opcode::CmpNe:
    return fl ? b.CreateFCmpUNE(a[0], a[1]) : b.CreateICmpNE(a[0], a[1]);
  case Opcode::CmpLt:
    return fl ? b.CreateFCmpOLT(a[0], a[1]) : b.CreateICmpSLT(a[0], a[1]);
  case Opcode::CmpLe:
    return fl ? b.CreateFCmpOLE(a[0], a[1]) : b.CreateICmpSLE(a[0], a[1]);
  case Opcode::CmpGt:
    return fl ? b.CreateFCmpOGT(a[0], a[1]) : b.CreateICmpSGT(a[0], a[1]);
  case Opcode::CmpGe:
    return fl ? b.CreateFCmpOGE(a[0], a[1]) : b.CreateICmpSGE(a[0], a[1]);
  case Opcode::Select:
    return b.CreateSelect(a[0], a[1], a[2]);
  case Opcode::Cast:
    return cast_value(a[0], elem, op.result()->type()->element());
  case Opcode::AddPtr: {
    const ir::Type* pointee = op.result()->type()->element()->pointee();
    return b.CreateGEP(mem_type(pointee), a[0], b.CreateSExt(a[1], b.getInt64Ty()));
  }
  case Opcode::Constant:
  case Opcode::ProgramId:
  case Opcode::NumPrograms:
  case Opcode::Arange:
  case Opcode::Splat:
  case Opcode::Broadcast:
  case Opcode::Reshape:
  case Opcode::ExpandDims:
  case Opcode::Permute:
  case Opcode::Load:
  case Opcode::Store:
  case Opcode::ReduceSum:
  case Opcode::ReduceMax:
  case Opcode::ReduceMin:
  case Opcode::ReduceArgmax:
  case Opcode::ReduceArgmin:
  case Opcode::Reduce:
  case Opcode::ScanSum:
  case Opcode::Dot:
  case Opcode::For:
  case Opcode::If:
  case Opcode::While:
  case Opcode::Yield:
  case Opcode::Condition:
  case Opcode::Return:
    unsupported(op, "not an elementwise op");
  }
  TESSEL_UNREACHABLE("bad opcode");
}

namespace {

// Ops computed exactly rounded in the packed f16x2/bf16x2 forms.
bool is_packable(Opcode op) {
  return op == Opcode::Add || op == Opcode::Sub || op == Opcode::Mul || op == Opcode::Fma ||
         op == Opcode::Neg || op == Opcode::Abs;
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
  if (o == Opcode::Fma)
    return b.CreateIntrinsic(llvm::Intrinsic::fma, {a[0]->getType()}, {a[0], a[1], a[2]});
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
  return e->scalar_kind() == ir::ScalarKind::BF16 ? target.has_bf16_math() : target.has_f16_math();
}

void Lowering::lower_elementwise(const ir::Op& op) {
  const ir::Value* res = op.result();
  const ir::Type* out = res->type()->element();
  if (op.opcode() == Opcode::Cast || op.num_operands()) {
    const ir::Type* in = op.operand(op.opcode() == Opcode::Select ? 1 : 0)->type()->element();
    for (const ir::Type* e : {in, out}) {
      if (e->is_float() && e->element_bits() == 16 && e->scalar_kind() == ir::ScalarKind::BF16 &&
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
  for (; r < l.in_size(InDim::Register); ++r) {
    for (size_t i = 0; i < ins.size(); ++i)
      args[i] = ins[i][r];
    outv.push_back(apply_elementwise(op, args));
  }
  set_vals(res, std::move(outv));
}

} // namespace tessel::codegen::gpu::detail
