// Lazy values of the CPU lowering: constants, arange, the shape ops (pure index remappings) and
// every elementwise op, evaluated at one multi-index. Also the scalar semantics of each
// elementwise opcode as ir.h states them: C integer division that never traps, NaN-avoiding
// min/max (llvm.minnum/maxnum), f16/bf16 arithmetic in f32 rounded back after each op.
#include "codegen/cpu/lowering.h"

#include <llvm/IR/Intrinsics.h>

#include <cmath>
#include <limits>

namespace tessel::codegen::cpu::detail {

namespace {

bool is_transcendental(ir::Opcode op) {
  using ir::Opcode;
  switch (op) {
  case Opcode::Exp:
  case Opcode::Exp2:
  case Opcode::Log:
  case Opcode::Log2:
  case Opcode::Sin:
  case Opcode::Cos:
  case Opcode::Erf:
  case Opcode::Tanh:
  case Opcode::Sigmoid:
    return true;
  default:
    return false;
  }
}

} // namespace

bool Lowering::can_be_lazy(ir::Opcode op) {
  const ir::OpInfo& info = ir::op_info(op);
  if (info.has(ir::ELEMENTWISE))
    return true;
  using ir::Opcode;
  return op == Opcode::Constant || op == Opcode::Arange || op == Opcode::Splat ||
         op == Opcode::Broadcast || op == Opcode::Reshape || op == Opcode::ExpandDims ||
         op == Opcode::Permute;
}

int Lowering::lazy_cost(const ir::Value* v) {
  const Rep& r = rep(v);
  if (r.kind == Rep::Kind::Scalar)
    return 0;
  if (r.kind == Rep::Kind::Stored)
    return 1;
  if (auto it = cost_cache_.find(v); it != cost_cache_.end())
    return it->second;
  const ir::Op& op = *v->defining_op();
  int own = op.opcode() == ir::Opcode::Load ? 2 : 0;
  if (op.has(ir::ELEMENTWISE)) {
    own = 1;
    if (op.operand(0)->type()->is_float() || op.result()->type()->is_float())
      own = 2;
    if (op.opcode() == ir::Opcode::Div || op.opcode() == ir::Opcode::Rem ||
        op.opcode() == ir::Opcode::Sqrt || op.opcode() == ir::Opcode::Rsqrt)
      own = 8;
    if (is_transcendental(op.opcode()))
      own = 20;
  }
  int cost = own;
  for (const ir::Value* o : op.operands())
    cost += lazy_cost(o);
  cost_cache_[v] = cost;
  return cost;
}

llvm::Value* Lowering::constant_of(const ir::Type* elem, const ir::Attr& value) {
  elem = elem->element();
  llvm::Type* t = compute_type(elem);
  double f = value.kind == ir::Attr::Kind::Float ? value.f : double(value.i);
  if (elem->is_pointer())
    return llvm::ConstantExpr::getIntToPtr(b.getInt64(value.i), t);
  if (elem->is_float()) {
    llvm::Value* c = llvm::ConstantFP::get(t, f);
    // Round the literal to the element type (folded by the builder).
    if (elem->scalar_kind() == ir::ScalarKind::F16)
      c = b.CreateFPExt(b.CreateFPTrunc(llvm::ConstantFP::get(b.getDoubleTy(), f), b.getHalfTy()),
                        b.getFloatTy());
    else if (elem->scalar_kind() == ir::ScalarKind::BF16)
      c = narrow_from_f64(llvm::ConstantFP::get(b.getDoubleTy(), f), elem);
    return c;
  }
  int64_t i = value.kind == ir::Attr::Kind::Int ? value.i : static_cast<int64_t>(value.f);
  if (elem->is_bool())
    return b.getInt1(i != 0);
  return llvm::ConstantInt::get(t, static_cast<uint64_t>(i), /*isSigned=*/true);
}

llvm::Value* Lowering::cast_value(llvm::Value* v, const ir::Type* from, const ir::Type* to) {
  from = from->element();
  to = to->element();
  llvm::Type* tt = compute_type(to);
  if (from->is_pointer() || to->is_pointer()) {
    if (from->is_pointer() && to->is_pointer())
      return v;
    if (from->is_pointer())
      return to->is_bool() ? b.CreateIsNotNull(v) : b.CreatePtrToInt(v, tt);
    return b.CreateIntToPtr(b.CreateSExtOrTrunc(v, b.getInt64Ty()), tt);
  }
  if (to->is_bool())
    return from->is_float() ? b.CreateFCmpUNE(v, llvm::ConstantFP::get(v->getType(), 0.0))
                            : b.CreateICmpNE(v, llvm::ConstantInt::get(v->getType(), 0));
  if (from->is_integer() && to->is_integer())
    return from->is_bool() ? b.CreateZExt(v, tt) : b.CreateSExtOrTrunc(v, tt);
  if (from->is_integer()) {
    if (to->scalar_kind() == ir::ScalarKind::F16 || to->scalar_kind() == ir::ScalarKind::BF16) {
      // Through f64 (exact for up to 53-bit integers), then one rounding to 16 bits.
      llvm::Value* d =
          from->is_bool() ? b.CreateUIToFP(v, b.getDoubleTy()) : b.CreateSIToFP(v, b.getDoubleTy());
      return narrow_from_f64(d, to);
    }
    llvm::Value* f = from->is_bool() ? b.CreateUIToFP(v, tt) : b.CreateSIToFP(v, tt);
    return round_to(f, to);
  }
  if (to->is_integer())
    // Saturating: out-of-range values are unspecified by ir.h but must not be poison.
    return b.CreateIntrinsic(tt, llvm::Intrinsic::fptosi_sat, {v});
  // float -> float
  if (v->getType()->isDoubleTy() &&
      (to->scalar_kind() == ir::ScalarKind::F16 || to->scalar_kind() == ir::ScalarKind::BF16))
    return narrow_from_f64(v, to); // once, not f64 -> f32 -> 16 bits (which can round twice)
  llvm::Value* out = b.CreateFPCast(v, tt);
  return round_to(out, to);
}

llvm::Value* Lowering::narrow_from_f64(llvm::Value* d, const ir::Type* to) {
  if (to->scalar_kind() == ir::ScalarKind::F16)
    return b.CreateFPExt(b.CreateFPTrunc(d, b.getHalfTy()), b.getFloatTy());
  // bf16: round to odd into f32 first (truncate toward zero and make the last bit sticky when
  // inexact); f32 keeps 16 more bits than bf16, so the final round to nearest even is then exact.
  llvm::Value* f = b.CreateFPTrunc(d, b.getFloatTy());
  llvm::Value* back = b.CreateFPExt(f, b.getDoubleTy());
  llvm::Value* bits = b.CreateBitCast(f, b.getInt32Ty());
  llvm::Value* away = b.CreateFCmpOGT(b.CreateUnaryIntrinsic(llvm::Intrinsic::fabs, back),
                                      b.CreateUnaryIntrinsic(llvm::Intrinsic::fabs, d));
  llvm::Value* toward_zero = b.CreateSelect(away, b.CreateSub(bits, b.getInt32(1)), bits);
  llvm::Value* inexact = b.CreateFCmpONE(back, d);
  llvm::Value* odd = b.CreateSelect(inexact, b.CreateOr(toward_zero, b.getInt32(1)), bits);
  return round_to(b.CreateBitCast(odd, b.getFloatTy()), to);
}

llvm::Value* Lowering::lazy_element(const ir::Op& op, const Index& idx) {
  using ir::Opcode;
  const ir::Type* rt = op.result()->type();
  switch (op.opcode()) {
  case Opcode::Constant:
    return constant_of(rt, op.attr("value"));
  case Opcode::Arange: {
    llvm::Value* i = b.CreateTrunc(idx.at(0), compute_type(rt));
    // No unsigned wrap flag: start may be negative. start + i stays in i32 (the DSL checks the
    // bounds), so the add never wraps as a signed add.
    return b.CreateAdd(i, llvm::ConstantInt::get(i->getType(), op.int_attr("start")), "",
                       /*HasNUW=*/false, /*HasNSW=*/true);
  }
  case Opcode::Splat:
    return element(op.operand(0), {});
  case Opcode::Load:
    return fused_load_element(op, idx);
  case Opcode::Broadcast: {
    // NumPy: shapes align at the right; dims of size 1 repeat.
    const ir::Value* in = op.operand(0);
    auto in_shape = in->type()->dims();
    size_t shift = idx.size() - in_shape.size();
    Index in_idx(in_shape.size());
    for (size_t d = 0; d < in_shape.size(); ++d)
      in_idx[d] = in_shape[d] == 1 ? i64(0) : idx[d + shift];
    return element(in, in_idx);
  }
  case Opcode::ExpandDims: {
    Index in_idx = idx;
    in_idx.erase(in_idx.begin() + op.int_attr("axis"));
    return element(op.operand(0), in_idx);
  }
  case Opcode::Permute: {
    // Result dim i is input dim order[i].
    const auto& order = op.attr("order").ints;
    Index in_idx(idx.size());
    for (size_t i = 0; i < order.size(); ++i)
      in_idx[order[i]] = idx[i];
    return element(op.operand(0), in_idx);
  }
  case Opcode::Reshape: {
    // Same row-major order: linearise in the result's shape, split in the input's.
    auto out_shape = rt->dims();
    llvm::Value* linear = i64(0);
    int64_t shift = 0;
    for (size_t d = out_shape.size(); d-- > 0;) {
      linear = b.CreateOr(linear, b.CreateShl(idx[d], shift));
      shift += log2_exact(out_shape[d]);
    }
    const ir::Value* in = op.operand(0);
    auto in_shape = in->type()->dims();
    Index in_idx(in_shape.size());
    shift = 0;
    for (size_t d = in_shape.size(); d-- > 0;) {
      in_idx[d] = b.CreateAnd(b.CreateLShr(linear, shift), in_shape[d] - 1);
      shift += log2_exact(in_shape[d]);
    }
    return element(in, in_idx);
  }
  default:
    break;
  }
  TESSEL_ASSERT(op.has(ir::ELEMENTWISE), "lazy_element of an op that is not lazy");
  std::vector<llvm::Value*> args;
  for (const ir::Value* o : op.operands())
    args.push_back(element(o, o->type()->rank() == 0 ? Index{} : idx));
  return apply_elementwise(op, args);
}

llvm::Value* Lowering::apply_elementwise(const ir::Op& op, std::span<llvm::Value* const> a) {
  using ir::Opcode;
  using llvm::Intrinsic::ID;
  const ir::Type* t = op.operand(op.opcode() == Opcode::Select ? 1 : 0)->type()->element();
  const ir::Type* rt = op.result()->type()->element();
  if (op.opcode() == Opcode::Cast)
    return cast_value(a[0], op.operand(0)->type(), rt);
  if (op.opcode() == Opcode::Select)
    return b.CreateSelect(a[0], a[1], a[2]);
  if (op.opcode() == Opcode::AddPtr) {
    llvm::Value* off = b.CreateSExtOrTrunc(a[1], b.getInt64Ty());
    return b.CreateGEP(storage_type(t->pointee()), a[0], off);
  }
  const bool is_float = t->is_float();
  const bool is_ptr = t->is_pointer();
  // Float-only ops (ops.def: verify_float_arith) on integers would make invalid LLVM IR.
  if (!is_float && ir::op_info(op.opcode()).verifier == ir::op_info(Opcode::Exp).verifier)
    unsupported(op, "a float op with integer operands");
  bool is_compare = op.opcode() >= Opcode::CmpEq && op.opcode() <= Opcode::CmpGe;
  if (is_ptr && !is_compare)
    unsupported(op, "arithmetic on pointers (use addptr)");
  auto fcall = [&](ID id) -> llvm::Value* {
    return b.CreateIntrinsic(a[0]->getType(), id, {a[0]});
  };
  auto libm = [&](const char* f32_name, const char* f64_name) -> llvm::Value* {
    bool dbl = a[0]->getType()->isDoubleTy();
    llvm::FunctionCallee callee =
        module.getOrInsertFunction(dbl ? f64_name : f32_name, a[0]->getType(), a[0]->getType());
    if (auto* f = llvm::dyn_cast<llvm::Function>(callee.getCallee())) {
      f->setDoesNotThrow();
      f->setDoesNotAccessMemory();
      f->setWillReturn();
    }
    return b.CreateCall(callee, {a[0]});
  };
  auto one = [&]() { return llvm::ConstantFP::get(a[0]->getType(), 1.0); };
  // The guarded divisor: 1 where the IR leaves the result unspecified (x / 0, INT_MIN / -1),
  // so that the division never traps.
  auto safe_divisor = [&]() {
    llvm::Type* it = a[1]->getType();
    llvm::Value* zero = b.CreateICmpEQ(a[1], llvm::ConstantInt::get(it, 0));
    llvm::Value* min =
        llvm::ConstantInt::get(it, llvm::APInt::getSignedMinValue(it->getIntegerBitWidth()));
    llvm::Value* overflow = b.CreateAnd(b.CreateICmpEQ(a[0], min),
                                        b.CreateICmpEQ(a[1], llvm::ConstantInt::getSigned(it, -1)));
    return b.CreateSelect(b.CreateOr(zero, overflow), llvm::ConstantInt::get(it, 1), a[1]);
  };
  auto shift_amount = [&]() {
    // ir.h: shifts by >= the width are unspecified; mask so that LLVM sees no poison.
    return b.CreateAnd(a[1], a[1]->getType()->getIntegerBitWidth() - 1);
  };
  llvm::Value* r = nullptr;
  switch (op.opcode()) {
  case Opcode::Add:
    r = is_float ? b.CreateFAdd(a[0], a[1]) : b.CreateAdd(a[0], a[1]);
    break;
  case Opcode::Sub:
    r = is_float ? b.CreateFSub(a[0], a[1]) : b.CreateSub(a[0], a[1]);
    break;
  case Opcode::Mul:
    r = is_float ? b.CreateFMul(a[0], a[1]) : b.CreateMul(a[0], a[1]);
    break;
  case Opcode::Div:
    r = is_float ? b.CreateFDiv(a[0], a[1]) : b.CreateSDiv(a[0], safe_divisor());
    break;
  case Opcode::Rem:
    r = is_float ? b.CreateFRem(a[0], a[1]) : b.CreateSRem(a[0], safe_divisor());
    break;
  case Opcode::Min:
    r = is_float ? b.CreateBinaryIntrinsic(llvm::Intrinsic::minnum, a[0], a[1])
                 : b.CreateBinaryIntrinsic(llvm::Intrinsic::smin, a[0], a[1]);
    break;
  case Opcode::Max:
    r = is_float ? b.CreateBinaryIntrinsic(llvm::Intrinsic::maxnum, a[0], a[1])
                 : b.CreateBinaryIntrinsic(llvm::Intrinsic::smax, a[0], a[1]);
    break;
  case Opcode::And:
    r = b.CreateAnd(a[0], a[1]);
    break;
  case Opcode::Or:
    r = b.CreateOr(a[0], a[1]);
    break;
  case Opcode::Xor:
    r = b.CreateXor(a[0], a[1]);
    break;
  case Opcode::Shl:
    r = b.CreateShl(a[0], shift_amount());
    break;
  case Opcode::Shr:
    r = b.CreateAShr(a[0], shift_amount());
    break;
  case Opcode::Neg:
    r = is_float ? b.CreateFNeg(a[0]) : b.CreateNeg(a[0]);
    break;
  case Opcode::Not:
    r = b.CreateNot(a[0]);
    break;
  case Opcode::Abs:
    r = is_float ? fcall(llvm::Intrinsic::fabs)
                 : b.CreateBinaryIntrinsic(llvm::Intrinsic::abs, a[0], b.getFalse());
    break;
  case Opcode::Fma:
    r = b.CreateIntrinsic(a[0]->getType(), llvm::Intrinsic::fma, {a[0], a[1], a[2]});
    break;
  case Opcode::Exp:
    r = fcall(llvm::Intrinsic::exp);
    break;
  case Opcode::Exp2:
    r = fcall(llvm::Intrinsic::exp2);
    break;
  case Opcode::Log:
    r = fcall(llvm::Intrinsic::log);
    break;
  case Opcode::Log2:
    r = fcall(llvm::Intrinsic::log2);
    break;
  case Opcode::Sqrt:
    r = fcall(llvm::Intrinsic::sqrt);
    break;
  case Opcode::Rsqrt:
    r = b.CreateFDiv(one(), fcall(llvm::Intrinsic::sqrt));
    break;
  case Opcode::Sin:
    r = fcall(llvm::Intrinsic::sin);
    break;
  case Opcode::Cos:
    r = fcall(llvm::Intrinsic::cos);
    break;
  case Opcode::Erf:
    r = libm("erff", "erf");
    break;
  case Opcode::Tanh:
    r = libm("tanhf", "tanh");
    break;
  case Opcode::Sigmoid:
    r = b.CreateFDiv(one(),
                     b.CreateFAdd(one(), b.CreateIntrinsic(a[0]->getType(), llvm::Intrinsic::exp,
                                                           {b.CreateFNeg(a[0])})));
    break;
  case Opcode::Floor:
    r = fcall(llvm::Intrinsic::floor);
    break;
  case Opcode::Ceil:
    r = fcall(llvm::Intrinsic::ceil);
    break;
  case Opcode::CmpEq:
  case Opcode::CmpNe:
  case Opcode::CmpLt:
  case Opcode::CmpLe:
  case Opcode::CmpGt:
  case Opcode::CmpGe: {
    using P = llvm::CmpInst::Predicate;
    static constexpr P fp[] = {P::FCMP_OEQ, P::FCMP_UNE, P::FCMP_OLT,
                               P::FCMP_OLE, P::FCMP_OGT, P::FCMP_OGE};
    static constexpr P si[] = {P::ICMP_EQ,  P::ICMP_NE,  P::ICMP_SLT,
                               P::ICMP_SLE, P::ICMP_SGT, P::ICMP_SGE};
    // Pointers and booleans compare unsigned (a true i1 is not less than false).
    static constexpr P ui[] = {P::ICMP_EQ,  P::ICMP_NE,  P::ICMP_ULT,
                               P::ICMP_ULE, P::ICMP_UGT, P::ICMP_UGE};
    size_t k = size_t(op.opcode()) - size_t(Opcode::CmpEq);
    P p = is_float ? fp[k] : (is_ptr || t->is_bool()) ? ui[k] : si[k];
    return b.CreateCmp(p, a[0], a[1]);
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
  case Opcode::Select:
  case Opcode::Cast:
  case Opcode::AddPtr:
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
  TESSEL_ASSERT(r != nullptr, "elementwise op produced no value");
  return is_float ? round_to(r, rt) : r;
}

} // namespace tessel::codegen::cpu::detail
