// tl::dot_sparse (tessel/lang/dot_sparse.h): the argument checks of the 2:4 sparse dot, each
// naming the argument, then one dot_sparse op (ops.def; its verifier checks the same in IR terms).
#include "tessel/lang/dot_sparse.h"

#include "dsl/tracer.h"
#include "dsl/type_rules.h"

namespace tessel::lang {

using detail::fail;
using detail::type_str;

namespace {

constexpr const char* kOp = "dot_sparse";

ir::Value* two_d(const Tensor& t, const char* arg, const char* shape, const SourceLoc& loc) {
  ir::Value* v = t.value(loc);
  if (v->type()->rank() != 2 || v->type()->is_pointer_like())
    fail(loc, kOp,
         std::string(arg) + " must be a 2-D tile of numbers (" + shape + "), got " +
             type_str(v->type()));
  return v;
}

} // namespace

Tensor dot_sparse(const Tensor& a_values, const Tensor& b, const Tensor& meta, const Tensor& acc,
                  std::source_location l) {
  const SourceLoc loc = SourceLoc::from(l);
  ir::Value* a = two_d(a_values, "a_values", "M x K/2", loc);
  ir::Value* y = two_d(b, "b", "K x N", loc);
  ir::Value* e = two_d(meta, "meta", "M x K/16", loc);
  ir::Value* c = two_d(acc, "acc", "M x N", loc);
  const auto as = a->type()->dims(), bs = y->type()->dims(), es = e->type()->dims(),
             cs = c->type()->dims();
  const int64_t m = cs[0], n = cs[1], k = bs[0];
  const std::string all = "a_values " + type_str(a->type()) + ", b " + type_str(y->type()) +
                          ", meta " + type_str(e->type()) + ", acc " + type_str(c->type());
  if (k % 16 != 0)
    fail(loc, kOp,
         "b has K = " + std::to_string(k) +
             " rows, not a multiple of 16 (one 16-bit metadata word covers 16 k): " + all);
  if (as[0] != m || as[1] * 2 != k)
    fail(loc, kOp,
         "a_values must be M x K/2 = " + std::to_string(m) + " x " + std::to_string(k / 2) +
             " (acc's rows, half of b's rows): " + all);
  if (bs[1] != n)
    fail(loc, kOp, "b must have acc's " + std::to_string(n) + " columns: " + all);
  if (es[0] != m || es[1] * 16 != k)
    fail(loc, kOp,
         "meta must be M x K/16 = " + std::to_string(m) + " x " + std::to_string(k / 16) + ": " +
             all);
  const DType t = a_values.dtype(l);
  if (t != DType::f16 && t != DType::bf16)
    fail(loc, kOp, "a_values must be f16 or bf16 (the sparse tensor-core types): " + all);
  if (b.dtype(l) != t)
    fail(loc, kOp, "b must have a_values' dtype " + std::string(dtype_name(t)) + ": " + all);
  if (dtype_is_float(meta.dtype(l)) || meta.dtype(l) == DType::i1)
    fail(loc, kOp, "meta must be an integer tile (i16 words): " + all);
  if (acc.dtype(l) != DType::f32 && !(t == DType::f16 && acc.dtype(l) == DType::f16))
    fail(loc, kOp,
         std::string("acc must be f32") + (t == DType::f16 ? " or f16" : "") + ": " + all);
  e = detail::convert(e, DType::i16, loc);
  return Tensor(detail::builder_at(loc).value(ir::Opcode::DotSparse, {a, y, c, e}, c->type(), {}));
}

} // namespace tessel::lang
