// Lazy values of the CPU lowering: constants, arange, the shape ops (pure index remappings) and
// every elementwise op, evaluated at one multi-index. The scalar semantics of each elementwise
// opcode come from codegen/scalar_semantics.h (shared with the GPU backend); this file supplies
// the CPU's hooks: f16/bf16 as f32, math from LLVM intrinsics and libm.
#include "codegen/cpu/lowering.h"

#include "codegen/cpu/vector_math.h"
#include "codegen/scalar_rules.h"
#include "codegen/scalar_semantics.h"

#include <llvm/IR/Intrinsics.h>

namespace tessel::codegen::cpu::detail {

namespace {

// A call into the math library: the ScalarRule::Math ops (scalar_semantics.cpp, the one list)
// but those that are one instruction (sqrt, rsqrt, floor, ceil, fdiv), and sigmoid (an exp inside).
bool is_transcendental(ir::Opcode op) {
  using ir::Opcode;
  if (op == Opcode::Sigmoid)
    return true;
  const bool one_instruction = op == Opcode::Sqrt || op == Opcode::Rsqrt || op == Opcode::Floor ||
                               op == Opcode::Ceil || op == Opcode::Fdiv;
  return scalar_rule(op) == ScalarRule::Math && !one_instruction;
}

} // namespace

bool Lowering::can_be_lazy(ir::Opcode op) {
  const ir::OpInfo& info = ir::op_info(op);
  if (info.has(ir::ELEMENTWISE))
    return true;
  using ir::Opcode;
  return op == Opcode::Constant || op == Opcode::Arange || op == Opcode::Splat ||
         op == Opcode::Broadcast || op == Opcode::Reshape || op == Opcode::ExpandDims ||
         op == Opcode::Permute || op == Opcode::Hint;
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
        op.opcode() == ir::Opcode::Sqrt || op.opcode() == ir::Opcode::Rsqrt ||
        op.opcode() == ir::Opcode::DivRn || op.opcode() == ir::Opcode::SqrtRn ||
        op.opcode() == ir::Opcode::Fdiv)
      own = 8;
    if (is_transcendental(op.opcode()))
      own = 20;
    if (scalar_rule(op.opcode()) == ScalarRule::External)
      own = 40; // a call per element: worth storing when read twice
  }
  int cost = own;
  for (const ir::Value* o : op.operands())
    cost += lazy_cost(o);
  cost_cache_[v] = cost;
  return cost;
}

namespace {

// The CPU's side of the scalar semantics: f16/bf16 travel as f32; f32 exp, exp2, log, log2, tanh
// and erf from tessel's own branch-free routines (codegen/cpu/vector_math.h: they vectorise with
// special lanes, where libmvec falls back to scalar calls), the rest from LLVM's intrinsics (libm
// calls after instruction selection) and libm itself.
class CpuScalarTarget final : public ScalarTarget {
public:
  explicit CpuScalarTarget(Lowering& l) : l_(l) {}
  llvm::Type* value_type(const ir::Type* elem) override { return l_.compute_type(elem); }
  llvm::Type* memory_type(const ir::Type* pointee) override { return l_.storage_type(pointee); }
  llvm::Value* round_f32(llvm::Value* f, const ir::Type* elem) override {
    return l_.round_to(f, elem);
  }
  bool has_native_narrow_arith(const ir::Type*) const override { return false; }
  llvm::Value* math(ir::Opcode op, std::span<llvm::Value* const> a) override;
  [[noreturn]] void unsupported(const ir::Op& op, std::string_view why) override {
    l_.unsupported(op, why);
  }

private:
  llvm::Value* libm(const char* f32_name, const char* f64_name, llvm::Value* x);
  llvm::Value* libm2(const char* f32_name, const char* f64_name, llvm::Value* x, llvm::Value* y);
  llvm::Value* math_function(ir::Opcode op, std::span<llvm::Value* const> a);
  Lowering& l_;
};

llvm::Value* CpuScalarTarget::libm(const char* f32_name, const char* f64_name, llvm::Value* x) {
  bool dbl = x->getType()->isDoubleTy();
  llvm::FunctionCallee callee =
      l_.module.getOrInsertFunction(dbl ? f64_name : f32_name, x->getType(), x->getType());
  if (auto* f = llvm::dyn_cast<llvm::Function>(callee.getCallee())) {
    f->setDoesNotThrow();
    f->setDoesNotAccessMemory();
    f->setWillReturn();
  }
  return l_.b.CreateCall(callee, {x});
}

llvm::Value* CpuScalarTarget::libm2(const char* f32_name, const char* f64_name, llvm::Value* x,
                                    llvm::Value* y) {
  bool dbl = x->getType()->isDoubleTy();
  llvm::FunctionCallee callee = l_.module.getOrInsertFunction(
      dbl ? f64_name : f32_name, x->getType(), x->getType(), y->getType());
  if (auto* f = llvm::dyn_cast<llvm::Function>(callee.getCallee())) {
    f->setDoesNotThrow();
    f->setDoesNotAccessMemory();
    f->setWillReturn();
  }
  return l_.b.CreateCall(callee, {x, y});
}

// The math functions of issue 14: LLVM intrinsics where LLVM has them (libm calls after
// instruction selection, vectorised through libmvec where it has the function), libm calls
// otherwise, tessel's own erfinv (libm has none). fdiv is the exact division here: within the
// bound that the GPU's approximate div.full.f32 has (docs/semantics.md).
llvm::Value* CpuScalarTarget::math_function(ir::Opcode op, std::span<llvm::Value* const> a) {
  using ir::Opcode;
  auto& b = l_.b;
  auto call = [&](llvm::Intrinsic::ID id) { return b.CreateUnaryIntrinsic(id, a[0]); };
  switch (op) {
  case Opcode::Fdiv:
    return b.CreateFDiv(a[0], a[1]);
  case Opcode::Pow:
    return b.CreateBinaryIntrinsic(llvm::Intrinsic::pow, a[0], a[1]);
  case Opcode::Atan2:
    return libm2("atan2f", "atan2", a[0], a[1]);
  case Opcode::Hypot:
    return libm2("hypotf", "hypot", a[0], a[1]);
  case Opcode::Log1p:
    return libm("log1pf", "log1p", a[0]);
  case Opcode::Expm1:
    return libm("expm1f", "expm1", a[0]);
  case Opcode::Sinh:
    return libm("sinhf", "sinh", a[0]);
  case Opcode::Cosh:
    return libm("coshf", "cosh", a[0]);
  case Opcode::Tan:
    return call(llvm::Intrinsic::tan);
  case Opcode::Atan:
    return libm("atanf", "atan", a[0]);
  case Opcode::Asin:
    return libm("asinf", "asin", a[0]);
  case Opcode::Acos:
    return libm("acosf", "acos", a[0]);
  case Opcode::Erfinv:
    return emit_erfinv(b, a[0]);
  case Opcode::Cbrt:
    return libm("cbrtf", "cbrt", a[0]);
  case Opcode::Log10:
    return call(llvm::Intrinsic::log10);
  case Opcode::Exp10:
    return call(llvm::Intrinsic::exp10);
  default:
    break; // math() routes only the functions above here
  }
  TESSEL_UNREACHABLE("not a math function of issue 14");
}

llvm::Value* CpuScalarTarget::math(ir::Opcode op, std::span<llvm::Value* const> a) {
  using ir::Opcode;
  auto& b = l_.b;
  auto call = [&](llvm::Intrinsic::ID id) { return b.CreateUnaryIntrinsic(id, a[0]); };
  if (a.size() == 1)
    if (llvm::Value* own = emit_vector_math(b, op, a[0]))
      return own;
  if (a.size() == 2)
    if (llvm::Value* own = emit_vector_math2(b, op, a[0], a[1]))
      return own;
  switch (op) {
  case Opcode::Rem:
    return b.CreateFRem(a[0], a[1]); // fmodf/fmod: exact
  case Opcode::Exp:
    return call(llvm::Intrinsic::exp);
  case Opcode::Exp2:
    return call(llvm::Intrinsic::exp2);
  case Opcode::Log:
    return call(llvm::Intrinsic::log);
  case Opcode::Log2:
    return call(llvm::Intrinsic::log2);
  case Opcode::Sqrt:
    return call(llvm::Intrinsic::sqrt);
  case Opcode::Rsqrt:
    return b.CreateFDiv(llvm::ConstantFP::get(a[0]->getType(), 1.0), call(llvm::Intrinsic::sqrt));
  case Opcode::Sin:
    return call(llvm::Intrinsic::sin);
  case Opcode::Cos:
    return call(llvm::Intrinsic::cos);
  case Opcode::Erf:
    return libm("erff", "erf", a[0]);
  case Opcode::Tanh:
    return libm("tanhf", "tanh", a[0]);
  case Opcode::Floor:
    return call(llvm::Intrinsic::floor);
  case Opcode::Ceil:
    return call(llvm::Intrinsic::ceil);
  default:
    return math_function(op, a);
  }
}

} // namespace

llvm::Value* Lowering::constant_of(const ir::Type* elem, const ir::Attr& value) {
  CpuScalarTarget t(*this);
  return ScalarSemantics(b, t).constant(elem, value);
}

llvm::Value* Lowering::cast_value(llvm::Value* v, const ir::Type* from, const ir::Type* to) {
  CpuScalarTarget t(*this);
  return ScalarSemantics(b, t).cast(v, from, to);
}

llvm::Value* Lowering::narrow_from_f64(llvm::Value* d, const ir::Type* to) {
  CpuScalarTarget t(*this);
  return ScalarSemantics(b, t).narrow(d, to->element());
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
  case Opcode::Hint: // a promise for the GPU's axis analysis; the value itself
    return element(op.operand(0), idx);
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
  if (scalar_rule(op.opcode()) == ScalarRule::External)
    return host_call(op, args); // lower_escape.cpp
  return apply_elementwise(op, args);
}

llvm::Value* Lowering::apply_elementwise(const ir::Op& op, std::span<llvm::Value* const> a) {
  CpuScalarTarget t(*this);
  return ScalarSemantics(b, t).apply(op, a);
}

} // namespace tessel::codegen::cpu::detail
