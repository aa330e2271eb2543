// Atomics on NVPTX: one `atom` (or `red`) per element, as inline PTX with the op's ordering and
// scope, `atom{.sem}{.scope}.global.OP.TYPE`, predicated by the element's mask. No vectors: each
// element is its own address. Values travel in integer registers (floats by their bits).
//
//  * Replicated copies: a layout may give one element to several threads (a tile smaller than the
//    block). Only the owning thread (zero replicating lane and warp bits, owner_predicate) issues
//    the atomic, so an update is applied once; when the result is used, the owners write the old
//    values to shared scratch (planned by allocate-shared: atomic_scratch_bytes) and every copy
//    reads them back after a barrier. A scalar atomic is issued by thread 0 and shared the same
//    way; it is the program's atomic, so with release ordering a barrier before it puts every
//    thread's earlier accesses before it, and with acquire ordering a barrier after it puts every
//    thread's later accesses after it (a lock taken by cas and given back by xchg guards the whole
//    program).
//  * An unused result becomes `red`, which PTX allows only for relaxed and release ordering and
//    has no exch/cas; otherwise `atom` with a result nothing reads.
//  * Float max/min (atomic.h's total order): a value with its sign bit clear is combined with
//    `max.s` (`min.s`), one with it set with `min.u` (`max.u`), two predicated instructions.
//  * f16 add is `add.noftz.f16` (sm_70+); bf16 add is `add.noftz.bf16` where the target has it
//    (sm_90) and a `cas.b16` loop before. Masked-off elements yield 0.
//  * atomic_load / atomic_store are `ld{.sem}{.scope}.global.bN` / `st{.sem}{.scope}.global.bN`
//    (relaxed/acquire, relaxed/release; sm_70+), issued by the owning thread like the others.
#include "codegen/gpu/lowering.h"
#include "codegen/gpu/scratch.h"

#include "tessel/ir/atomic.h"

#include <llvm/IR/InlineAsm.h>

#include <fmt/format.h>

namespace tessel::codegen::gpu::detail {

namespace {

using ir::Opcode;

bool is_float(const ir::Type* elem) { return dtype_is_float(elem->dtype()); }

// The PTX operation (without the type) of an atomic on integers or on a float's bits.
const char* ptx_op(Opcode op) {
  switch (op) {
  case Opcode::AtomicAdd:
    return "add";
  case Opcode::AtomicMax:
    return "max";
  case Opcode::AtomicMin:
    return "min";
  case Opcode::AtomicAnd:
    return "and";
  case Opcode::AtomicOr:
    return "or";
  case Opcode::AtomicXor:
    return "xor";
  case Opcode::AtomicXchg:
    return "exch";
  case Opcode::AtomicCas:
    return "cas";
  default:
    TESSEL_UNREACHABLE("not an atomic op");
  }
}

// The type suffix: add and max/min care about the integers' signedness (u32/u64 max/min are
// `.u32`/`.u64`), bitwise ops, exch and cas
// only about the width; float add names the float type.
std::string ptx_type(Opcode op, const ir::Type* elem) {
  const unsigned bits = elem->element_bits();
  if (op == Opcode::AtomicAdd && is_float(elem))
    return bits == 16 ? fmt::format("noftz.{}", elem->dtype() == DType::f16 ? "f16" : "bf16")
                      : fmt::format("f{}", bits);
  if (op == Opcode::AtomicAdd)
    return fmt::format("u{}", bits);
  if (op == Opcode::AtomicMax || op == Opcode::AtomicMin)
    return fmt::format("{}{}", elem->is_unsigned() ? "u" : "s", bits);
  return fmt::format("b{}", bits);
}

const char* constraint(unsigned bits) { return bits == 64 ? "l" : bits == 16 ? "h" : "r"; }

// `.sem.scope` of `atom` (always written, so the PTX says what the IR asked for).
std::string sem_scope(const ir::Op& op) {
  return fmt::format(".{}.{}", ir::mem_sem_name(ir::atomic_sem(op)),
                     ir::mem_scope_name(ir::atomic_scope(op)));
}

bool result_used(const ir::Function& f, const ir::Value* v) {
  bool used = false;
  ir::walk(f.body, [&](const ir::Op& user) {
    for (const ir::Value* x : user.operands())
      used = used || x == v;
  });
  return used;
}

// red exists for relaxed and release ordering, and not for exch and cas.
bool can_use_red(const ir::Op& op) {
  const ir::MemSem s = ir::atomic_sem(op);
  return (s == ir::MemSem::relaxed || s == ir::MemSem::release) &&
         op.opcode() != Opcode::AtomicXchg && op.opcode() != Opcode::AtomicCas;
}

bool replicates(const LinearLayout& l) {
  for (InDim in : {InDim::Lane, InDim::Warp})
    for (int i = 0; i < l.in_bits(in); ++i) {
      const auto& basis = l.basis(in, i);
      if (std::all_of(basis.begin(), basis.end(), [](int32_t c) { return c == 0; }))
        return true;
    }
  return false;
}

} // namespace

int64_t atomic_scratch_bytes(const ir::Op& op, const ir::Function& f,
                             const LinearLayout* ptr_layout) {
  if (op.num_results() == 0 || !result_used(f, op.result())) // atomic_store
    return 0;
  const int64_t elem_bytes = std::max(1u, op.result()->type()->element()->element_bits() / 8);
  if (!ptr_layout)
    return elem_bytes; // a scalar: thread 0's value for every thread
  return replicates(*ptr_layout) ? op.result()->type()->num_elements() * elem_bytes : 0;
}

// `@pred atom.SEM.SCOPE.global.OP d, [ptr], args...` for each (pred, OP) in `forms` (the float
// max/min pair; one form otherwise), d = 0 where no predicate holds; `red` without d when the
// result is not wanted. Integer registers of `bits`.
llvm::Value* Lowering::ptx_atomic(const ir::Op& op,
                                  std::span<const std::pair<llvm::Value*, std::string>> forms,
                                  llvm::Value* ptr, std::span<llvm::Value* const> args,
                                  unsigned bits, bool want_result) {
  llvm::Type* it = b.getIntNTy(bits);
  // Operands: [$0 d,] one predicate per form, the address, the arguments.
  const int first_pred = want_result ? 1 : 0;
  const int addr = first_pred + static_cast<int>(forms.size());
  std::string text = want_result ? fmt::format("mov.b{} $0, 0;\n\t", bits) : "";
  std::string operands;
  for (size_t i = 0; i < args.size(); ++i)
    operands += fmt::format(", ${}", addr + 1 + static_cast<int>(i));
  for (size_t i = 0; i < forms.size(); ++i) {
    const int pred = first_pred + static_cast<int>(i);
    if (want_result)
      text += fmt::format("@${} atom{}.global.{} $0, [${}]{};\n\t", pred, sem_scope(op),
                          forms[i].second, addr, operands);
    else
      text += fmt::format("@${} red{}.global.{} [${}]{};\n\t", pred, sem_scope(op), forms[i].second,
                          addr, operands);
  }
  std::string cons = want_result ? fmt::format("={},", constraint(bits)) : "";
  std::vector<llvm::Type*> types;
  std::vector<llvm::Value*> values;
  for (const auto& f : forms) {
    cons += "b,";
    types.push_back(b.getInt1Ty());
    values.push_back(f.first);
  }
  cons += "l";
  types.push_back(ptr->getType());
  values.push_back(ptr);
  for (llvm::Value* a : args) {
    cons += fmt::format(",{}", constraint(bits));
    types.push_back(it);
    values.push_back(a);
  }
  cons += ",~{memory}";
  auto* fty = llvm::FunctionType::get(want_result ? it : b.getVoidTy(), types, false);
  llvm::Value* r =
      b.CreateCall(llvm::InlineAsm::get(fty, text, cons, /*hasSideEffects=*/true), values);
  return want_result ? r : nullptr;
}

// bf16 add before sm_90: read, add in f32, round, `atom.cas.b16` until no other thread came
// between.
llvm::Value* Lowering::bf16_add_cas_loop(const ir::Op& op, llvm::Value* pred, llvm::Value* ptr,
                                         llvm::Value* val) {
  llvm::Type* i16 = b.getInt16Ty();
  llvm::BasicBlock* from = b.GetInsertBlock();
  auto* start = llvm::BasicBlock::Create(ctx, "bf16.cas.start", llfn);
  auto* loop = llvm::BasicBlock::Create(ctx, "bf16.cas", llfn);
  auto* done = llvm::BasicBlock::Create(ctx, "bf16.cas.done", llfn);
  b.CreateCondBr(pred, start, done);
  b.SetInsertPoint(start);
  llvm::LoadInst* first = b.CreateAlignedLoad(i16, ptr, llvm::Align(2));
  first->setVolatile(true);
  b.CreateBr(loop);
  b.SetInsertPoint(loop);
  llvm::PHINode* old = b.CreatePHI(i16, 2);
  old->addIncoming(first, start);
  llvm::Value* sum =
      b.CreateFAdd(b.CreateFPExt(b.CreateBitCast(old, b.getBFloatTy()), b.getFloatTy()),
                   b.CreateFPExt(val, b.getFloatTy()));
  llvm::Value* next = b.CreateBitCast(b.CreateFPTrunc(sum, b.getBFloatTy()), i16);
  std::pair<llvm::Value*, std::string> form{b.getTrue(), "cas.b16"};
  llvm::Value* cas_args[] = {old, next};
  llvm::Value* seen = ptx_atomic(op, {&form, 1}, ptr, cas_args, 16, /*want_result=*/true);
  old->addIncoming(seen, b.GetInsertBlock());
  llvm::BasicBlock* loop_end = b.GetInsertBlock();
  b.CreateCondBr(b.CreateICmpEQ(seen, old), done, loop);
  b.SetInsertPoint(done);
  llvm::PHINode* out = b.CreatePHI(i16, 2);
  out->addIncoming(b.getInt16(0), from);
  out->addIncoming(seen, loop_end);
  return b.CreateBitCast(out, b.getBFloatTy());
}

// `@pred ld.SEM.SCOPE.global.bN d, [ptr]`, d = 0 where pred is false.
llvm::Value* Lowering::ptx_atomic_load(const ir::Op& op, llvm::Value* pred, llvm::Value* ptr,
                                       unsigned bits) {
  const std::string text =
      fmt::format("mov.b{0} $0, 0;\n\t@$1 ld{1}.global.b{0} $0, [$2];", bits, sem_scope(op));
  const std::string cons = fmt::format("={},b,l,~{{memory}}", constraint(bits));
  llvm::Type* it = b.getIntNTy(bits);
  auto* fty = llvm::FunctionType::get(it, {b.getInt1Ty(), ptr->getType()}, false);
  return b.CreateCall(llvm::InlineAsm::get(fty, text, cons, /*hasSideEffects=*/true), {pred, ptr});
}

// `@pred st.SEM.SCOPE.global.bN [ptr], v`.
void Lowering::ptx_atomic_store(const ir::Op& op, llvm::Value* pred, llvm::Value* ptr,
                                llvm::Value* val, unsigned bits) {
  const std::string text = fmt::format("@$0 st{}.global.b{} [$1], $2;", sem_scope(op), bits);
  const std::string cons = fmt::format("b,l,{},~{{memory}}", constraint(bits));
  llvm::Type* it = b.getIntNTy(bits);
  auto* fty = llvm::FunctionType::get(b.getVoidTy(), {b.getInt1Ty(), ptr->getType(), it}, false);
  b.CreateCall(llvm::InlineAsm::get(fty, text, cons, /*hasSideEffects=*/true),
               {pred, ptr, b.CreateBitCast(val, it)});
}

// One element: `pred` (mask and ownership) says whether this thread applies it.
llvm::Value* Lowering::atomic_element(const ir::Op& op, llvm::Value* pred, llvm::Value* ptr,
                                      llvm::Value* val, llvm::Value* cmp, bool want_result) {
  const ir::Type* elem = op.result()->type()->element();
  const unsigned bits = elem->element_bits();
  llvm::Type* rt = reg_type(elem);
  llvm::Type* it = b.getIntNTy(bits);
  const Opcode code = op.opcode();
  if (code == Opcode::AtomicLoad)
    return b.CreateBitCast(ptx_atomic_load(op, pred, ptr, bits), rt);
  if (code == Opcode::AtomicAdd && elem->dtype() == DType::bf16 && !target.has_bf16_atomic_add())
    return bf16_add_cas_loop(op, pred, ptr, val);
  auto bits_of = [&](llvm::Value* v) { return b.CreateBitCast(v, it); };
  std::vector<llvm::Value*> args;
  if (cmp)
    args.push_back(bits_of(cmp));
  args.push_back(bits_of(val));
  std::vector<std::pair<llvm::Value*, std::string>> forms;
  if ((code == Opcode::AtomicMax || code == Opcode::AtomicMin) && is_float(elem)) {
    llvm::Value* negative = b.CreateICmpSLT(args.back(), llvm::ConstantInt::get(it, 0));
    const bool max = code == Opcode::AtomicMax;
    forms.emplace_back(b.CreateAnd(pred, b.CreateNot(negative)),
                       fmt::format("{}.s{}", max ? "max" : "min", bits));
    forms.emplace_back(b.CreateAnd(pred, negative),
                       fmt::format("{}.u{}", max ? "min" : "max", bits));
  } else {
    forms.emplace_back(pred, fmt::format("{}.{}", ptx_op(code), ptx_type(code, elem)));
  }
  const bool atom = want_result || !can_use_red(op);
  llvm::Value* r = ptx_atomic(op, forms, ptr, args, bits, atom);
  return atom ? b.CreateBitCast(r, rt) : nullptr;
}

void Lowering::lower_atomic(const ir::Op& op) {
  if (op.opcode() == Opcode::AtomicStore)
    return lower_atomic_store(op);
  const bool cas = op.opcode() == Opcode::AtomicCas;
  const bool load = op.opcode() == Opcode::AtomicLoad;
  const ir::Value* res = op.result();
  const ir::Type* elem = res->type()->element();
  const size_t mask_at = load ? 1 : 2; // atomic_load ptr, mask; atomic_OP ptr, val, mask
  const bool has_mask = !cas && op.num_operands() > mask_at;
  const size_t val_at = cas ? 2 : 1;
  const bool used = result_used(fn, res);
  if (res->type()->rank() == 0) {
    llvm::Value* first = b.CreateAnd(b.CreateICmpEQ(lane_id(), b.getInt32(0)),
                                     b.CreateICmpEQ(warp_id(), b.getInt32(0)));
    llvm::Value* pred = has_mask ? b.CreateAnd(scalar(op.operand(mask_at)), first) : first;
    const ir::MemSem sem = ir::atomic_sem(op);
    if (sem == ir::MemSem::release || sem == ir::MemSem::acq_rel)
      barrier();
    const bool acquires = sem == ir::MemSem::acquire || sem == ir::MemSem::acq_rel;
    llvm::Value* old =
        atomic_element(op, pred, scalar(op.operand(0)), load ? nullptr : scalar(op.operand(val_at)),
                       cas ? scalar(op.operand(1)) : nullptr, used);
    if (!used) {
      if (acquires)
        barrier();
      set_vals(res, {llvm::Constant::getNullValue(reg_type(elem))});
      return;
    }
    llvm::Value* base = scratch(atomic_scratch_bytes(op, fn, nullptr));
    only_if(first, [&] { store_shared(reg_type(elem), base, b.getInt32(0), {&old, 1}); });
    barrier();
    set_vals(res, load_shared(reg_type(elem), base, b.getInt32(0), 1));
    return;
  }
  const LinearLayout& a = layout(op.operand(0));
  Vals ptrs = vals(op.operand(0));
  Vals vals = load ? Vals() : vals_in(op.operand(val_at), a);
  Vals cmps = cas ? vals_in(op.operand(1), a) : Vals();
  Vals masks = has_mask ? vals_in(op.operand(mask_at), a) : Vals();
  llvm::Value* owner = owner_predicate(a);
  const int n = a.in_size(InDim::Register);
  Vals old(n);
  for (int r = 0; r < n; ++r) {
    llvm::Value* pred = has_mask ? masks[r] : b.getTrue();
    if (owner)
      pred = b.CreateAnd(pred, owner);
    old[r] =
        atomic_element(op, pred, ptrs[r], load ? nullptr : vals[r], cas ? cmps[r] : nullptr, used);
  }
  if (!used) {
    set_vals(res, Vals(layout(res).in_size(InDim::Register),
                       llvm::Constant::getNullValue(reg_type(elem))));
    return;
  }
  if (const int64_t bytes = atomic_scratch_bytes(op, fn, &a); bytes > 0) {
    // The owners' old values to every copy.
    llvm::Value* base = scratch(bytes);
    only_if(owner, [&] {
      for (int r = 0; r < n; ++r)
        store_shared(reg_type(elem), base, shared_index(a, r, Swizzle{}), {&old[r], 1});
    });
    barrier();
    for (int r = 0; r < n; ++r)
      old[r] = load_shared(reg_type(elem), base, shared_index(a, r, Swizzle{}), 1)[0];
  }
  set_vals(res, convert(old, elem, a, layout(res)));
}

// atomic_store: the owning thread of each element (thread 0 for a scalar) writes it; a release
// of the program's scalar store waits, by a barrier, for every thread's earlier accesses.
void Lowering::lower_atomic_store(const ir::Op& op) {
  const ir::Type* elem = op.operand(1)->type()->element();
  const unsigned bits = elem->element_bits();
  const bool has_mask = op.num_operands() > 2;
  if (op.operand(0)->type()->rank() == 0) {
    llvm::Value* pred = b.CreateAnd(b.CreateICmpEQ(lane_id(), b.getInt32(0)),
                                    b.CreateICmpEQ(warp_id(), b.getInt32(0)));
    if (has_mask)
      pred = b.CreateAnd(scalar(op.operand(2)), pred);
    if (ir::atomic_sem(op) == ir::MemSem::release)
      barrier();
    ptx_atomic_store(op, pred, scalar(op.operand(0)), scalar(op.operand(1)), bits);
    return;
  }
  const LinearLayout& a = layout(op.operand(0));
  Vals ptrs = vals(op.operand(0));
  Vals values = vals_in(op.operand(1), a);
  Vals masks = has_mask ? vals_in(op.operand(2), a) : Vals();
  llvm::Value* owner = owner_predicate(a);
  for (size_t r = 0; r < ptrs.size(); ++r) {
    llvm::Value* pred = has_mask ? masks[r] : b.getTrue();
    if (owner)
      pred = b.CreateAnd(pred, owner);
    ptx_atomic_store(op, pred, ptrs[r], values[r], bits);
  }
}

} // namespace tessel::codegen::gpu::detail
