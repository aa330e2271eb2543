// The NVPTX lowering of `dot_sparse` on sparse tensor cores: mma.sp.sync.aligned.m16n8k32.row.col
// (sm_80, sm_89) or mma.sp::ordered_metadata (sm_90, sm_90a), one per 16 x 8 output block and 32
// rows of K, from the layouts prepare-dot-operands gave the operands (sparse_layouts.h): the
// compressed A and B read from their swizzled staging buffers (ldmatrix), the metadata converted to
// its per-thread layout, the accumulator in #mma.
//
// Why ::ordered_metadata on sm_90: ptxas (13.0, sm_90a) advises it for every plain mma.sp
// ("Modifier '.sp::ordered_metadata' should be used on instruction 'mma' instead of modifier
// '.sp' as it is expected to have substantially reduced performance on some future
// architectures"), and its only extra rule -- each group's two positions increasing -- is what
// dot_sparse's metadata layout states and ops::prune_2_4 writes. It needs PTX ISA 8.5 (compile.cpp
// raises the version for such kernels). On sm_80 / sm_89 the plain form is the only one before
// PTX 8.5 and reads the same metadata.
//
// Sparsity selector 0: lanes t = 0, 1 of each quad supply the metadata register (words 0 and 1 of
// the instruction's 32 k for rows g and g + 8); lanes 2, 3 pass theirs too but it is not read.
#include "codegen/gpu/lower_mma_sp.h"

#include "codegen/gpu/layout_assignment.h"
#include "codegen/gpu/sparse_layouts.h"

#include <llvm/IR/InlineAsm.h>

#include <fmt/format.h>

namespace tessel::codegen::gpu::detail {

namespace {

// The mma.sp of `info`'s types at k32 as inline PTX: d (4 f32 or 2 f16x2) = a (4) * b (4) + c,
// with metadata e.
llvm::InlineAsm* mma_sp_asm(llvm::LLVMContext& ctx, const MmaInfo& info, bool ordered) {
  const bool f16_acc = info.acc_bits == 16;
  const int d = f16_acc ? 2 : 4;
  std::string text = fmt::format("mma.sp{}.sync.aligned.m16n8k32.row.col.{}.{}.{}.{} ",
                                 ordered ? "::ordered_metadata" : "", info.acc_ptx,
                                 info.operand_ptx, info.operand_ptx, info.acc_ptx);
  std::string constraints;
  int next = 0;
  auto group = [&](int count, const char* c, bool output) {
    text += next == 0 ? "{" : ", {";
    for (int i = 0; i < count; ++i) {
      text += fmt::format("{}${}", i ? ", " : "", next++);
      constraints += fmt::format("{}{}{}", constraints.empty() ? "" : ",", output ? "=" : "", c);
    }
    text += "}";
  };
  const char* acc_c = f16_acc ? "r" : "f";
  group(d, acc_c, true);
  group(4, "r", false);
  group(4, "r", false);
  group(d, acc_c, false);
  text += fmt::format(", ${}, 0;", next);
  constraints += ",r";
  llvm::Type* at = f16_acc ? llvm::Type::getInt32Ty(ctx) : llvm::Type::getFloatTy(ctx);
  std::vector<llvm::Type*> outs(d, at);
  std::vector<llvm::Type*> ins(8, llvm::Type::getInt32Ty(ctx));
  ins.insert(ins.end(), d, at);
  ins.push_back(llvm::Type::getInt32Ty(ctx));
  auto* fty = llvm::FunctionType::get(llvm::StructType::get(ctx, outs), ins, false);
  return llvm::InlineAsm::get(fty, text, constraints, /*hasSideEffects=*/false);
}

} // namespace

void lower_mma_sp(Lowering& l, const ir::Op& op) {
  llvm::IRBuilder<>& b = l.b;
  const Target& target = l.target;
  const int num_warps = l.num_warps();
  auto vals = [&](const ir::Value* v) -> const Vals& { return l.vals(v); };
  auto layout = [&](const ir::Value* v) -> const LinearLayout& { return l.layout(v); };
  const ir::Value* res = op.result();
  std::optional<MmaSp> sp = select_mma_sp(op, target);
  TESSEL_ASSERT(sp && sp->k == 32, "a dot_sparse in #mma that no mma.sp.m16n8k32 takes");
  const MmaInfo& info = mma_info(sp->dense);
  const ir::Type* ec = res->type()->element();
  const std::vector<int32_t> sc = shape_of(res), sb = shape_of(op.operand(1));
  const int32_t m = sc[0], n = sc[1], k = sb[0];
  const auto warps = mma_warps(m, n, num_warps, info);
  TESSEL_ASSERT(layout(res) == mma_acc_layout(info, m, n, warps, num_warps) &&
                    layout(op.operand(0)) ==
                        mma_sp_a_layout(32, shape_of(op.operand(0)), warps, num_warps) &&
                    layout(op.operand(1)) == mma_sp_b_layout(32, sb, warps, num_warps) &&
                    layout(op.operand(3)) ==
                        mma_sp_meta_layout(32, shape_of(op.operand(3)), warps, num_warps),
                "a dot_sparse whose layouts are not prepare-dot-operands'");
  const int32_t reps_m = m / warps[0] / 16, reps_n = n / warps[1] / 8, reps_k = k / 32;
  const Vals& a = vals(op.operand(0));
  const Vals& bv = vals(op.operand(1));
  const Vals& e = vals(op.operand(3));
  Vals acc = vals(op.operand(2));
  llvm::Type* i32 = b.getInt32Ty();
  auto pack = [&](const Vals& vs, int32_t at) -> llvm::Value* { // two 16-bit elements
    llvm::Value* v = llvm::PoisonValue::get(llvm::FixedVectorType::get(vs[at]->getType(), 2));
    for (int i = 0; i < 2; ++i)
      v = b.CreateInsertElement(v, vs[at + i], b.getInt32(i));
    return b.CreateBitCast(v, i32);
  };
  auto word = [&](int32_t at) { // an i16 register, as the low 16 bits
    llvm::Value* w = e[at];
    if (!w->getType()->isIntegerTy())
      w = b.CreateBitCast(w, b.getInt16Ty());
    return b.CreateZExt(w, i32);
  };
  const bool ordered = target.sm() >= 90;
  llvm::InlineAsm* mma = mma_sp_asm(l.ctx, info, ordered);
  const bool f16_acc = info.acc_bits == 16;
  const int d_regs = f16_acc ? 2 : 4;
  llvm::Type* half2 = llvm::FixedVectorType::get(l.reg_type(ec), 2);
  for (int32_t mi = 0; mi < reps_m; ++mi)
    for (int32_t ni = 0; ni < reps_n; ++ni) {
      const int32_t c0 = 4 * (ni + reps_n * mi);
      std::vector<llvm::Value*> c;
      if (f16_acc)
        for (int i = 0; i < 2; ++i) {
          llvm::Value* v = llvm::PoisonValue::get(half2);
          v = b.CreateInsertElement(v, acc[c0 + 2 * i], b.getInt32(0));
          v = b.CreateInsertElement(v, acc[c0 + 2 * i + 1], b.getInt32(1));
          c.push_back(b.CreateBitCast(v, i32));
        }
      else
        c.assign(acc.begin() + c0, acc.begin() + c0 + 4);
      for (int32_t ki = 0; ki < reps_k; ++ki) {
        std::vector<llvm::Value*> args;
        for (int j = 0; j < 4; ++j) // A: 8 elements per instruction and repetition
          args.push_back(pack(a, 8 * (ki + reps_k * mi) + 2 * j));
        for (int j = 0; j < 4; ++j) // B: the k16 fragments 2 ki and 2 ki + 1
          args.push_back(pack(bv, 4 * (2 * ki + (k / 16) * ni) + 2 * j));
        args.insert(args.end(), c.begin(), c.end());
        const int32_t w0 = 2 * (ki + reps_k * mi); // rows g (low half) and g + 8 (high half)
        args.push_back(b.CreateOr(word(w0), b.CreateShl(word(w0 + 1), 16)));
        llvm::Value* dv = b.CreateCall(mma, args);
        for (int j = 0; j < d_regs; ++j)
          c[j] = b.CreateExtractValue(dv, {static_cast<unsigned>(j)});
      }
      if (f16_acc)
        for (int i = 0; i < 2; ++i) {
          llvm::Value* v = b.CreateBitCast(c[i], half2);
          acc[c0 + 2 * i] = b.CreateExtractElement(v, b.getInt32(0));
          acc[c0 + 2 * i + 1] = b.CreateExtractElement(v, b.getInt32(1));
        }
      else
        std::copy(c.begin(), c.end(), acc.begin() + c0);
    }
  l.set_vals(res, std::move(acc));
}

} // namespace tessel::codegen::gpu::detail
