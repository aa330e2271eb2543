// `dot a, b, acc` of the CPU lowering: C = acc, then for m, for k: C[m, :] += a[m, k] * b[k, :].
// The innermost loop runs over the contiguous N axis of both b and C, so it vectorizes into
// broadcast-multiply-add (the fmul/fadd pair carries `contract`, so LLVM fuses it into FMA), and a
// row of C stays in L1 across the k loop. Float operands (f16, bf16, f32) are widened to the
// accumulator's type (f32); integer operands (i8...) are sign-extended to its type (i32).
#include "codegen/cpu/lowering.h"

#include <fmt/format.h>

namespace tessel::codegen::cpu::detail {

void Lowering::lower_dot(const ir::Op& op) {
  const ir::Value* a = op.operand(0);
  const ir::Value* bm = op.operand(1);
  const ir::Value* acc = op.operand(2);
  const ir::Type* rt = op.result()->type();
  if (a->type()->rank() != 2 || bm->type()->rank() != 2 || rt->rank() != 2)
    unsupported(op, "dot takes 2-d operands");
  int64_t m = a->type()->dims()[0], k = a->type()->dims()[1], n = bm->type()->dims()[1];
  if (bm->type()->dims()[0] != k || rt->dims()[0] != m || rt->dims()[1] != n)
    unsupported(op, fmt::format("shapes {} x {} -> {} do not match", a->type()->str(),
                                bm->type()->str(), rt->str()));
  const ir::Type* out_elem = rt->element();
  llvm::Type* ct = compute_type(out_elem);
  bool fl = out_elem->is_float();
  if (fl != a->type()->is_float() || fl != bm->type()->is_float())
    unsupported(op, "operands and accumulator must all be float or all be integer");

  // The accumulator in its compute type, so f16 accumulation would not round per step.
  llvm::Value* c = new_array(rt, ct);
  auto c_at = [&](llvm::Value* i, llvm::Value* j) {
    return b.CreateInBoundsGEP(ct, c, b.CreateAdd(b.CreateShl(i, log2_exact(n)), j));
  };
  loop_nest(rt->dims(),
            [&](const Index& idx) { b.CreateStore(element(acc, idx), c_at(idx[0], idx[1])); });
  // Operands are read many times: read them from arrays. A lazy operand is copied into a
  // temporary here, without changing its representation: it may be defined outside this region,
  // and its other uses (after an `if` that skipped this dot, say) must not read the temporary.
  auto operand_array = [&](const ir::Value* v) -> llvm::Value* {
    const Rep& r = rep(v);
    if (r.kind == Rep::Kind::Stored)
      return r.storage;
    llvm::Value* tmp = new_array(v->type());
    copy_into(v, tmp);
    return tmp;
  };
  llvm::Value* a_array = operand_array(a);
  llvm::Value* b_array = operand_array(bm);
  auto read = [&](llvm::Value* array, const ir::Value* v, const Index& idx) {
    return load_element(element_address(array, v->type(), idx), v->type()->element());
  };
  auto widen = [&](llvm::Value* v, const ir::Type* t) -> llvm::Value* {
    if (fl)
      return b.CreateFPCast(v, ct);
    return t->element()->is_bool() ? b.CreateZExt(v, ct) : b.CreateSExtOrTrunc(v, ct);
  };
  counted_loop(
      i64(0), i64(m),
      [&](llvm::Value* i) {
        counted_loop(
            i64(0), i64(k),
            [&](llvm::Value* kk) {
              llvm::Value* av = widen(read(a_array, a, {i, kk}), a->type());
              counted_loop(
                  i64(0), i64(n),
                  [&](llvm::Value* j) {
                    llvm::Value* bv = widen(read(b_array, bm, {kk, j}), bm->type());
                    llvm::Value* p = c_at(i, j);
                    llvm::Value* old = b.CreateLoad(ct, p);
                    llvm::Value* sum;
                    if (fl) {
                      auto* mul = llvm::cast<llvm::Instruction>(b.CreateFMul(av, bv));
                      mul->setHasAllowContract(true);
                      auto* add = llvm::cast<llvm::Instruction>(b.CreateFAdd(old, mul));
                      add->setHasAllowContract(true);
                      sum = add;
                    } else {
                      sum = b.CreateAdd(old, b.CreateMul(av, bv));
                    }
                    b.CreateStore(sum, p);
                  },
                  "dot.n");
            },
            "dot.k");
      },
      "dot.m");
  if (ct == storage_type(out_elem)) {
    set_stored(op.result(), c);
    return;
  }
  llvm::Value* storage = new_array(rt);
  loop_nest(rt->dims(), [&](const Index& idx) {
    store_element(round_to(b.CreateLoad(ct, c_at(idx[0], idx[1])), out_elem),
                  element_address(storage, rt, idx), out_elem);
  });
  set_stored(op.result(), storage);
}

} // namespace tessel::codegen::cpu::detail
