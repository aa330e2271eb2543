// The NVPTX lowering of a dot on wgmma (sm_90a; its b a #shared buffer, its a one too or a
// register tensor in wgmma_a_register_layout, its result in wgmma_acc_layout:
// prepare-dot-operands' wgmma form) and of fence_async_shared.
//
// The dot reads everything from the IR: the warpgroup grid and instruction N from the shapes
// (select_wgmma, which the layouts are asserted against), each operand's swizzle mode and
// major-ness from its buffer's layout (wgmma_operand_of). Per dot, in this order:
//   every accumulator register through an empty volatile asm (pinned: defined before the fence),
//   and for A in registers each packed A register (two 16-bit elements) likewise
//   wgmma.fence                      (the accumulator registers were written by other code)
//   for each repetition along M, N:  for each instr_k-wide (32-byte) step along K:
//     wgmma.mma_async m64nNk{16, 8 (tf32), 32 (8-bit)} with A's four registers (16-bit types) or
//     a descriptor, and a descriptor for
//     each shared operand: the fixed fields from
//     wgmma_descriptor_of, the start address = the buffer's + the instruction's first element
//     (wgmma_start_layout through the buffer's layout; per warpgroup, from its warp id)
//   wgmma.commit_group
// and the result is in flight: prepare-dot-operands puts a `wgmma_wait` after the dot
// (wgmma.wait_group N), whose lowering passes every accumulator register through an empty
// volatile asm when N = 0, so that nothing reads it before the wait (the PTX ISA leaves such
// reads undefined); with N = 1 in a K loop the group stays in flight into the next iteration
// (wgmma_in_flight.h, which also checks that nothing else reads an in-flight accumulator).
#include "codegen/gpu/lowering.h"
#include "codegen/gpu/mma_select.h"

#include <llvm/IR/InlineAsm.h>

#include <fmt/format.h>

namespace tessel::codegen::gpu::detail {

namespace {

// `text` as a volatile inline asm with no operands that touches memory.
void volatile_asm(llvm::IRBuilder<>& b, const std::string& text) {
  auto* fty = llvm::FunctionType::get(b.getVoidTy(), false);
  b.CreateCall(llvm::InlineAsm::get(fty, text, "~{memory}", /*hasSideEffects=*/true));
}

// The type suffix of wgmma.mma_async for `info`: .dtype.atype.btype (a mixed fp8 row's operand
// column names both types already).
std::string wgmma_types(const MmaInfo& info) {
  const std::string ab = info.operand_ptx;
  return fmt::format("{}.{}", info.acc_ptx, ab.find('.') == std::string::npos ? ab + "." + ab : ab);
}

// The immediates after scale-d (PTX ISA, "wgmma.mma_async"): imm-scale-a and imm-scale-b (1: no
// negation) for the float rows, none for the integer ones; imm-trans-a (A in shared memory only)
// and imm-trans-b for the 16-bit rows alone: tf32 and 8-bit operands are K-major, untransposed.
std::string wgmma_immediates(const MmaInfo& info, bool a_in_registers, bool trans_a, bool trans_b) {
  const bool integer = info.acc_ptx == std::string("s32");
  if (integer)
    return "";
  std::string text = ", 1, 1";
  if (info.operand_bits != 16)
    return text;
  if (!a_in_registers)
    text += fmt::format(", {}", int(trans_a));
  return text + fmt::format(", {}", int(trans_b));
}

// wgmma.mma_async m64n{n}k{k}: outputs d[0..n/2) (f32, or i32 for the s32 rows), inputs A
// (desc_a, i64; or with `a_in_registers` its four 32-bit registers), desc_b (i64), then the
// accumulator tied to the outputs. Accumulates (scale-d = 1); transposes as given (16-bit rows).
llvm::InlineAsm* wgmma_asm(llvm::LLVMContext& ctx, const MmaInfo& info, int32_t n,
                           bool a_in_registers, bool trans_a, bool trans_b) {
  const int regs = n / 2, a_ops = a_in_registers ? 4 : 1;
  const int pred = regs + a_ops + 1; // the operand holding scale-d
  const bool integer = info.acc_ptx == std::string("s32");
  std::string text = fmt::format("{{\n.reg .pred p;\nsetp.ne.b32 p, ${}, 0;\n"
                                 "wgmma.mma_async.sync.aligned.m64n{}k{}.{} {{",
                                 pred, n, info.k, wgmma_types(info));
  std::string constraints;
  for (int i = 0; i < regs; ++i) {
    text += fmt::format("{}${}", i ? ", " : "", i);
    constraints += fmt::format("{}={}", i ? "," : "", integer ? "r" : "f");
  }
  text += "}, ";
  if (a_in_registers)
    text += fmt::format("{{${}, ${}, ${}, ${}}}", regs, regs + 1, regs + 2, regs + 3);
  else
    text += fmt::format("${}", regs);
  text += fmt::format(", ${}, p{};\n}}", regs + a_ops,
                      wgmma_immediates(info, a_in_registers, trans_a, trans_b));
  constraints += a_in_registers ? ",r,r,r,r,l,r" : ",l,l,r";
  for (int i = 0; i < regs; ++i)
    constraints += fmt::format(",{}", i);
  llvm::Type* acc = integer ? llvm::Type::getInt32Ty(ctx) : llvm::Type::getFloatTy(ctx);
  llvm::Type* i32 = llvm::Type::getInt32Ty(ctx);
  std::vector<llvm::Type*> outs(regs, acc);
  std::vector<llvm::Type*> ins(a_ops, a_in_registers ? i32 : llvm::Type::getInt64Ty(ctx));
  ins.push_back(llvm::Type::getInt64Ty(ctx));
  ins.push_back(i32);
  ins.insert(ins.end(), regs, acc);
  auto* fty = llvm::FunctionType::get(llvm::StructType::get(ctx, outs), ins, false);
  return llvm::InlineAsm::get(fty, text, constraints, /*hasSideEffects=*/true);
}

// `x` through an empty volatile asm of its own register class ("f" or "r"): volatile asms keep
// their order, so the value is defined before the next one and read after the previous one.
llvm::Value* pin(llvm::IRBuilder<>& b, llvm::Value* x) {
  const bool f = x->getType()->isFloatTy();
  auto* fty = llvm::FunctionType::get(x->getType(), {x->getType()}, false);
  return b.CreateCall(llvm::InlineAsm::get(fty, "", f ? "=f,0" : "=r,0", /*hasSideEffects=*/true),
                      {x});
}

} // namespace

void Lowering::lower_fence_async_shared() { volatile_asm(b, "fence.proxy.async.shared::cta;"); }

// One operand's descriptors: the fixed part, and per instruction register its start address.
struct Lowering::WgmmaOperandPlan {
  uint64_t fixed = 0; // the descriptor with start address 0
  bool transposed = false;
  LinearLayout starts = LinearLayout::empty({1}); // (instruction, warp) -> element index
  llvm::Value* base = nullptr;                    // the buffer's shared-window address (i32)
  int64_t elem_bytes = 2;
};

Lowering::WgmmaOperandPlan Lowering::wgmma_operand(const ir::Op& op, const WgmmaShape& s,
                                                   int opidx) {
  const ir::Value* buf = op.operand(opidx);
  const LinearLayout& shared = layout(buf);
  WgmmaOperandPlan plan;
  plan.elem_bytes = std::max(1u, buf->type()->element_bits() / 8);
  std::optional<WgmmaOperand> o = wgmma_operand_of(shared, static_cast<int>(plan.elem_bytes));
  if (!o)
    unsupported(op, fmt::format("its {} buffer is not in a wgmma layout (run prepare-dot-operands)",
                                opidx == 0 ? "a" : "b"));
  plan.fixed = encode_wgmma_descriptor(wgmma_descriptor_of(*o, opidx, &plan.transposed));
  if (plan.transposed && wgmma_needs_k_major(s.instr))
    unsupported(op, fmt::format("its {} buffer is MN-major, but wgmma reads {} operands K-major "
                                "only (transposed layouts are for 16-bit types; "
                                "prepare-dot-operands stages them K-major)",
                                opidx == 0 ? "a" : "b", mma_info(s.instr).operand_ptx));
  plan.starts = buffer_offsets(wgmma_start_layout(s, opidx), shared);
  plan.base = b.CreatePtrToInt(buffer(buf), b.getInt32Ty());
  return plan;
}

// The descriptor of instruction register `reg` of `plan` in this thread's warpgroup.
llvm::Value* Lowering::wgmma_descriptor(const WgmmaOperandPlan& plan, int32_t reg) {
  llvm::Value* index = coordinate(plan.starts, reg, 0);
  llvm::Value* addr =
      b.CreateAdd(plan.base, b.CreateMul(index, b.getInt32(static_cast<int32_t>(plan.elem_bytes))));
  llvm::Value* field = b.CreateAnd(b.CreateLShr(addr, 4), b.getInt32(0x3FFF));
  return b.CreateOr(b.CreateZExt(field, b.getInt64Ty()), b.getInt64(plan.fixed));
}

// A in registers (wgmma_a_register_layout): per instruction (mi, ki) the 8 elements of its
// fragment as four 32-bit registers of two 16-bit elements, each through `pin` so that they are
// all defined before the wgmma.fence (the ISA's fence rule covers A's registers too).
std::vector<llvm::Value*> Lowering::wgmma_a_registers(const ir::Op& op, const WgmmaShape& s) {
  if (layout(op.operand(0)) != wgmma_a_register_layout(s))
    unsupported(op, "its a is in registers but not in the wgmma A-fragment layout (run "
                    "prepare-dot-operands)");
  const Vals& a = vals(op.operand(0));
  std::vector<llvm::Value*> regs;
  for (size_t at = 0; at + 1 < a.size(); at += 2) {
    llvm::Value* v = llvm::PoisonValue::get(llvm::FixedVectorType::get(a[at]->getType(), 2));
    v = b.CreateInsertElement(v, a[at], b.getInt32(0));
    v = b.CreateInsertElement(v, a[at + 1], b.getInt32(1));
    regs.push_back(pin(b, b.CreateBitCast(v, b.getInt32Ty())));
  }
  return regs;
}

void Lowering::lower_wgmma(const ir::Op& op) {
  std::optional<WgmmaShape> shape = select_wgmma(op, target, num_warps());
  if (!shape)
    unsupported(op, "its b is a shared buffer, which only wgmma reads, and no wgmma takes "
                    "this dot on " +
                        target.name() +
                        " (run prepare-dot-operands on the kernel "
                        "without layouts)");
  const WgmmaShape& s = *shape;
  if (layout(op.result()) != wgmma_acc_layout(s))
    unsupported(op, "its result is not in the wgmma accumulator layout (run "
                    "prepare-dot-operands)");
  const MmaInfo& info = mma_info(s.instr);
  const bool a_in_registers = layout_kind(op.operand(0)) != ir::LayoutKind::Shared;
  std::optional<WgmmaOperandPlan> pa;
  std::vector<llvm::Value*> a_regs;
  if (a_in_registers)
    a_regs = wgmma_a_registers(op, s);
  else
    pa = wgmma_operand(op, s, 0);
  const WgmmaOperandPlan pb = wgmma_operand(op, s, 1);
  llvm::InlineAsm* mma =
      wgmma_asm(ctx, info, s.instr_n, a_in_registers, pa && pa->transposed, pb.transposed);
  // Each accumulator register through a pin before the fence (and after wgmma_wait 0): volatile
  // asms keep their order, so LLVM can neither sink the accumulator's definition (a zero, say)
  // past the fence nor hoist a use above the wait.
  Vals acc = vals(op.operand(2));
  pin_registers(acc);
  const int32_t regs = s.instr_n / 2;
  volatile_asm(b, "wgmma.fence.sync.aligned;");
  for (int32_t mi = 0; mi < s.reps_m(); ++mi)
    for (int32_t ni = 0; ni < s.reps_n(); ++ni) {
      const int32_t c0 = regs * (ni + s.reps_n() * mi);
      for (int32_t ki = 0; ki < s.reps_k(); ++ki) {
        const int32_t a_at = ki + s.reps_k() * mi; // the instruction's A tile
        std::vector<llvm::Value*> args;
        if (a_in_registers)
          args.assign(a_regs.begin() + 4 * a_at, a_regs.begin() + 4 * a_at + 4);
        else
          args.push_back(wgmma_descriptor(*pa, a_at));
        args.push_back(wgmma_descriptor(pb, ki + s.reps_k() * ni));
        args.push_back(b.getInt32(1));
        args.insert(args.end(), acc.begin() + c0, acc.begin() + c0 + regs);
        llvm::Value* d = b.CreateCall(mma, args);
        for (int32_t j = 0; j < regs; ++j)
          acc[c0 + j] = b.CreateExtractValue(d, {static_cast<unsigned>(j)});
      }
    }
  volatile_asm(b, "wgmma.commit_group.sync.aligned;");
  set_vals(op.result(), std::move(acc)); // in flight until a wgmma_wait
}

void Lowering::pin_registers(Vals& regs) {
  for (llvm::Value*& x : regs)
    x = pin(b, x);
}

// wgmma.wait_group N. With N = 0 the accumulator is complete: its registers are pinned after the
// wait, so that no read moves above it. With N > 0 they may still be written; they only flow on
// to the next wgmma (wgmma_in_flight.h checks that), unpinned.
void Lowering::lower_wgmma_wait(const ir::Op& op) {
  if (!target.has_wgmma())
    unsupported(op, target.name() + " has no wgmma (sm_90a)");
  const int64_t pending = op.int_attr("pending");
  volatile_asm(b, fmt::format("wgmma.wait_group.sync.aligned {};", pending));
  Vals acc = vals(op.operand(0));
  if (pending == 0)
    pin_registers(acc);
  set_vals(op.result(), std::move(acc));
}

} // namespace tessel::codegen::gpu::detail
