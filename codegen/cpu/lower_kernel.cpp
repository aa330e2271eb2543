// The driver of the CPU lowering: builds the kernel function with the ABI of codegen/cpu.h (an
// outer loop over linear program ids, arguments unpacked from `void* const* args`), decides how
// each tensor value is represented (stored or lazy, see lowering.h), emits loop nests, and
// dispatches each op to the file of its family.
#include "codegen/cpu/lowering.h"

#include "codegen/cpu/bf16_rounding.h"

#include "codegen/scalar_rules.h"

#include "tessel/ir/printer.h"

#include <fmt/format.h>
#include <llvm/IR/Intrinsics.h>

namespace tessel::codegen::cpu::detail {

int64_t log2_exact(int64_t v) {
  TESSEL_ASSERT(v > 0 && (v & (v - 1)) == 0, "dimension is not a power of two");
  int64_t l = 0;
  while ((int64_t{1} << l) < v)
    ++l;
  return l;
}

std::vector<int64_t> shape_of(const ir::Type* t) {
  auto d = t->dims();
  return {d.begin(), d.end()};
}

Lowering::Lowering(llvm::LLVMContext& c, llvm::Module& m, const ir::Function& f)
    : ctx(c), module(m), fn(f), b(c) {}

// ---- types -------------------------------------------------------------------------------------

llvm::Type* Lowering::compute_type(const ir::Type* t) {
  t = t->element();
  if (t->is_pointer())
    return b.getPtrTy();
  switch (t->dtype()) {
  case DType::i1:
    return b.getInt1Ty();
  case DType::i8:
  case DType::u8:
  case DType::f8e4m3: // fp8 travels as its bits (codegen/scalar_semantics.h)
  case DType::f8e5m2:
    return b.getInt8Ty();
  case DType::i16:
  case DType::u16:
    return b.getInt16Ty();
  case DType::i32:
  case DType::u32:
    return b.getInt32Ty();
  case DType::i64:
  case DType::u64:
    return b.getInt64Ty();
  case DType::f16:
  case DType::bf16:
  case DType::f32:
    return b.getFloatTy();
  case DType::f64:
    return b.getDoubleTy();
  }
  TESSEL_UNREACHABLE("unknown scalar kind");
}

llvm::Type* Lowering::storage_type(const ir::Type* t) {
  t = t->element();
  if (t->is_pointer())
    return b.getPtrTy();
  switch (t->dtype()) {
  case DType::i1:
    return b.getInt8Ty();
  case DType::f16:
    return b.getHalfTy();
  case DType::bf16:
    return b.getInt16Ty();
  case DType::i8:
  case DType::i16:
  case DType::i32:
  case DType::i64:
  case DType::u8:
  case DType::u16:
  case DType::u32:
  case DType::u64:
  case DType::f8e4m3:
  case DType::f8e5m2:
  case DType::f32:
  case DType::f64:
    return compute_type(t);
  }
  TESSEL_UNREACHABLE("unknown scalar kind");
}

// f32 -> bf16 bits with vcvtneps2bf16, which is what X86 selects for LLVM's fptrunc to bfloat
// under avx512bf16 (round to nearest even; a NaN keeps its sign and upper payload and is quieted,
// as below). The instruction treats subnormal inputs as zero, so a zero or subnormal f is first
// moved into the normal range by adding 2^-126 of its sign: exact (f's mantissa bits become the
// sum's, under exponent 1), rounded at the same bit, and the bf16 of 2^-126 (0x0080) is taken off
// the result's bits again. 6 instructions per 16 elements against the integer sequence's 9.
static llvm::Value* f32_to_bf16_bits_by_instruction(llvm::IRBuilder<>& b, llvm::Value* f) {
  llvm::Value* bits = b.CreateBitCast(f, b.getInt32Ty());
  llvm::Value* tiny = b.CreateICmpEQ(b.CreateAnd(bits, b.getInt32(0x7f800000)), b.getInt32(0));
  llvm::Value* offset = b.CreateBitCast(
      b.CreateOr(b.CreateAnd(bits, b.getInt32(int32_t(0x80000000u))), b.getInt32(0x00800000)),
      b.getFloatTy());
  llvm::Value* normal = b.CreateSelect(tiny, b.CreateFAdd(f, offset), f);
  llvm::Value* h = b.CreateBitCast(b.CreateFPTrunc(normal, b.getBFloatTy()), b.getInt16Ty());
  return b.CreateSelect(tiny, b.CreateSub(h, b.getInt16(0x0080)), h);
}

// f32 -> bf16 bits, round to nearest even; NaNs stay (quiet) NaNs.
static llvm::Value* f32_to_bf16_bits(llvm::IRBuilder<>& b, llvm::Value* f) {
  if (bf16_convert_instruction())
    return f32_to_bf16_bits_by_instruction(b, f);
  llvm::Value* bits = b.CreateBitCast(f, b.getInt32Ty());
  llvm::Value* lsb = b.CreateAnd(b.CreateLShr(bits, 16), 1);
  llvm::Value* rounded = b.CreateAdd(bits, b.CreateAdd(lsb, b.getInt32(0x7fff)));
  llvm::Value* is_nan = b.CreateFCmpUNO(f, f);
  llvm::Value* nan_bits = b.CreateOr(bits, b.getInt32(0x00400000));
  llvm::Value* out = b.CreateSelect(is_nan, nan_bits, rounded);
  return b.CreateTrunc(b.CreateLShr(out, 16), b.getInt16Ty());
}

static llvm::Value* bf16_bits_to_f32(llvm::IRBuilder<>& b, llvm::Value* bits) {
  return b.CreateBitCast(b.CreateShl(b.CreateZExt(bits, b.getInt32Ty()), 16), b.getFloatTy());
}

// The bf16 bits `f` was widened from (bf16_bits_to_f32's pattern), else null. Rounding such an
// f32 back to bf16 is those bits again, but LLVM cannot see through the rounding's integer
// arithmetic: a bf16 load copied into a stack array, or a value rounded to bf16 by a cast and then
// stored, paid for two roundings (a third of softmax's bf16 time at 128 columns).
static llvm::Value* widened_bf16_bits(llvm::Value* f) {
  auto* cast = llvm::dyn_cast<llvm::BitCastInst>(f);
  auto* shl = cast ? llvm::dyn_cast<llvm::BinaryOperator>(cast->getOperand(0)) : nullptr;
  if (!shl || shl->getOpcode() != llvm::Instruction::Shl)
    return nullptr;
  auto* amount = llvm::dyn_cast<llvm::ConstantInt>(shl->getOperand(1));
  auto* ext = llvm::dyn_cast<llvm::ZExtInst>(shl->getOperand(0));
  if (!amount || amount->getZExtValue() != 16 || !ext || !ext->getSrcTy()->isIntegerTy(16))
    return nullptr;
  return ext->getOperand(0);
}

llvm::Value* Lowering::to_storage(llvm::Value* v, const ir::Type* elem) {
  elem = elem->element();
  if (elem->is_pointer())
    return v;
  switch (elem->dtype()) {
  case DType::i1:
    return b.CreateZExt(v, b.getInt8Ty());
  case DType::f16:
    return b.CreateFPTrunc(v, b.getHalfTy());
  case DType::bf16:
    if (llvm::Value* bits = widened_bf16_bits(v))
      return bits;
    return f32_to_bf16_bits(b, v);
  default:
    return v;
  }
}

llvm::Value* Lowering::from_storage(llvm::Value* v, const ir::Type* elem) {
  elem = elem->element();
  if (elem->is_pointer())
    return v;
  switch (elem->dtype()) {
  case DType::i1:
    return b.CreateICmpNE(v, b.getInt8(0));
  case DType::f16:
    return b.CreateFPExt(v, b.getFloatTy());
  case DType::bf16:
    return bf16_bits_to_f32(b, v);
  default:
    return v;
  }
}

llvm::Value* Lowering::round_to(llvm::Value* v, const ir::Type* elem) {
  elem = elem->element();
  if (elem->is_pointer())
    return v;
  if (elem->dtype() == DType::f16)
    return b.CreateFPExt(b.CreateFPTrunc(v, b.getHalfTy()), b.getFloatTy());
  if (elem->dtype() == DType::bf16)
    return bf16_bits_to_f32(b, f32_to_bf16_bits(b, v));
  return v;
}

llvm::Value* Lowering::load_element(llvm::Value* ptr, const ir::Type* elem) {
  return from_storage(b.CreateLoad(storage_type(elem), ptr), elem);
}

void Lowering::store_element(llvm::Value* v, llvm::Value* ptr, const ir::Type* elem) {
  b.CreateStore(to_storage(v, elem), ptr);
}

// ---- values ------------------------------------------------------------------------------------

const Rep& Lowering::rep(const ir::Value* v) const {
  auto it = reps_.find(v);
  TESSEL_ASSERT(it != reps_.end(), "value used before it was lowered");
  return it->second;
}

void Lowering::set_scalar(const ir::Value* v, llvm::Value* s) {
  TESSEL_ASSERT(v->type()->rank() == 0, "set_scalar on a tensor");
  reps_[v] = Rep{Rep::Kind::Scalar, s, nullptr};
}

void Lowering::set_stored(const ir::Value* v, llvm::Value* storage) {
  reps_[v] = Rep{Rep::Kind::Stored, nullptr, storage};
}

llvm::Value* Lowering::scalar(const ir::Value* v) {
  const Rep& r = rep(v);
  TESSEL_ASSERT(r.kind == Rep::Kind::Scalar, "scalar() of a tensor value");
  return r.scalar;
}

llvm::Value* Lowering::element_address(llvm::Value* storage, const ir::Type* type,
                                       const Index& index) {
  auto shape = type->dims();
  TESSEL_ASSERT(index.size() == shape.size(), "index rank differs from the tensor's rank");
  llvm::Value* linear = nullptr;
  int64_t shift = 0;
  // Row-major: the last dimension is contiguous; strides are powers of two.
  for (size_t d = shape.size(); d-- > 0;) {
    if (shape[d] != 1) {
      llvm::Value* term = shift ? b.CreateShl(index[d], shift, "", true, true) : index[d];
      linear = linear ? b.CreateAdd(linear, term, "", true, true) : term;
    }
    shift += log2_exact(shape[d]);
  }
  if (!linear)
    return storage;
  return b.CreateInBoundsGEP(storage_type(type->element()), storage, linear);
}

llvm::Value* Lowering::element(const ir::Value* v, const Index& index) {
  const Rep& r = rep(v);
  if (r.kind == Rep::Kind::Scalar)
    return r.scalar;
  if (!known_true_masks.empty() && is_known_true_mask(v))
    return b.getTrue();
  if (b.GetInsertBlock() != cache_block_) {
    cache_.clear();
    cache_block_ = b.GetInsertBlock();
  }
  auto key = std::make_pair(v, index);
  if (auto it = cache_.find(key); it != cache_.end())
    return it->second;
  llvm::Value* out = nullptr;
  if (r.kind == Rep::Kind::Stored)
    out = load_element(element_address(r.storage, v->type(), index), v->type()->element());
  else
    out = lazy_element(*v->defining_op(), index);
  TESSEL_ASSERT(b.GetInsertBlock() == cache_block_, "lazy evaluation created a basic block");
  cache_[key] = out;
  return out;
}

llvm::Value* Lowering::new_array(const ir::Type* type, llvm::Type* elem_override) {
  llvm::Type* elem = elem_override ? elem_override : storage_type(type->element());
  int64_t n = type->num_elements();
  llvm::IRBuilder<> eb(entry_block, entry_block->begin());
  auto* a = eb.CreateAlloca(llvm::ArrayType::get(elem, n));
  a->setAlignment(llvm::Align(64));
  stack_bytes_ += (int64_t(module.getDataLayout().getTypeAllocSize(elem)) * n + 63) / 64 * 64;
  return a;
}

// A tensor whose last dimension is this short or shorter is filled in memory order by one loop.
constexpr int64_t kShortRow = 16;

void Lowering::copy_into(const ir::Value* v, llvm::Value* storage) {
  auto shape = v->type()->dims();
  auto write = [&](const Index& idx) {
    store_element(element(v, idx), element_address(storage, v->type(), idx), v->type()->element());
  };
  with_lazy_masks_fast_path({v}, [&] {
    if (shape.size() < 2 || shape.back() > kShortRow) {
      loop_nest(shape, write);
      return;
    }
    // One loop over the elements in memory order, the multi-index from shifts and masks (dims are
    // powers of two), rather than a nest whose inner loop is a few elements long: LLVM unrolled
    // such an inner loop and vectorized the outer one, with gathers and scatters a row apart
    // (topk's [256, 16] group tiles).
    int64_t total = 1;
    for (int64_t d : shape)
      total *= d;
    counted_loop(i64(0), i64(total), [&](llvm::Value* flat) {
      Index idx(shape.size());
      int64_t shift = 0;
      for (size_t d = shape.size(); d-- > 0;) {
        llvm::Value* at = shift ? b.CreateLShr(flat, uint64_t(shift)) : flat;
        idx[d] = d == 0 ? at : b.CreateAnd(at, i64(shape[d] - 1));
        shift += log2_exact(shape[d]);
      }
      write(idx);
    });
  });
}

llvm::Value* Lowering::stored(const ir::Value* v) {
  const Rep& r = rep(v);
  if (r.kind == Rep::Kind::Stored)
    return r.storage;
  TESSEL_ASSERT(r.kind == Rep::Kind::Lazy, "stored() of a scalar");
  llvm::Value* storage = new_array(v->type());
  copy_into(v, storage);
  set_stored(v, storage);
  return storage;
}

void Lowering::counted_loop(llvm::Value* lo, llvm::Value* hi,
                            const std::function<void(llvm::Value*)>& body, llvm::StringRef name,
                            bool rolled) {
  llvm::BasicBlock* pre = b.GetInsertBlock();
  auto* header = llvm::BasicBlock::Create(ctx, name + ".head", llfn);
  auto* loop = llvm::BasicBlock::Create(ctx, name + ".body", llfn);
  auto* exit = llvm::BasicBlock::Create(ctx, name + ".exit", llfn);
  b.CreateBr(header);
  b.SetInsertPoint(header);
  llvm::PHINode* iv = b.CreatePHI(lo->getType(), 2, name);
  iv->addIncoming(lo, pre);
  b.CreateCondBr(b.CreateICmpSLT(iv, hi), loop, exit);
  b.SetInsertPoint(loop);
  body(iv);
  llvm::Value* next = b.CreateAdd(iv, llvm::ConstantInt::get(iv->getType(), 1), "", true, true);
  iv->addIncoming(next, b.GetInsertBlock());
  llvm::BranchInst* back = b.CreateBr(header);
  if (rolled) {
    llvm::MDNode* no_unroll =
        llvm::MDNode::get(ctx, llvm::MDString::get(ctx, "llvm.loop.unroll.disable"));
    llvm::MDNode* loop_id = llvm::MDNode::getDistinct(ctx, {nullptr, no_unroll});
    loop_id->replaceOperandWith(0, loop_id);
    back->setMetadata(llvm::LLVMContext::MD_loop, loop_id);
  }
  b.SetInsertPoint(exit);
}

void Lowering::loop_nest(std::span<const int64_t> shape,
                         const std::function<void(const Index&)>& body) {
  // A short innermost loop of a nest stays a loop: O3 unrolled inner loops of 32 trips fully
  // before the loop vectorizer ran, and then vectorized the loop over rows instead, with gathers
  // and scatters a row apart (attention's stores and stored tiles of [64, 32]: 13% of the CPU
  // forward in one copy). Kept rolled, the inner loop is vectorized along the row, contiguously.
  // Only up to kMaxRolledRow trips: rolling mean_pool's [.., 128] rows made it 1.5-3x slower.
  constexpr int64_t kMaxRolledRow = 64;
  size_t loops = 0, innermost = shape.size();
  for (size_t d = 0; d < shape.size(); ++d)
    if (shape[d] != 1) {
      ++loops;
      innermost = d;
    }
  Index idx(shape.size(), nullptr);
  std::function<void(size_t)> level = [&](size_t d) {
    if (d == shape.size()) {
      body(idx);
      return;
    }
    if (shape[d] == 1) {
      idx[d] = i64(0);
      level(d + 1);
      return;
    }
    counted_loop(
        i64(0), i64(shape[d]),
        [&](llvm::Value* i) {
          idx[d] = i;
          level(d + 1);
        },
        "i", /*rolled=*/loops >= 2 && d == innermost && shape[d] <= kMaxRolledRow);
  };
  level(0);
}

// ---- materialisation decisions -----------------------------------------------------------------

void Lowering::count_uses(const ir::Block& block) {
  ir::walk(block, [&](const ir::Op& op) {
    for (const ir::Value* v : op.operands()) {
      UseInfo& u = uses_[v];
      ++u.count;
      u.user = &op;
      const ir::Block* def =
          v->is_block_arg() ? v->owner_block() : v->defining_op()->parent_block();
      if (def != op.parent_block())
        u.outside_block = true;
    }
  });
}

bool Lowering::single_local_use(const ir::Value* v) const {
  auto it = uses_.find(v);
  return it != uses_.end() && it->second.count == 1 && !it->second.outside_block;
}

bool Lowering::should_store(const ir::Value* v) {
  // Beyond this many operations per element a lazy value is stored even with one use: it bounds
  // the size of re-emitted expression trees (a DAG re-emitted as a tree can grow exponentially).
  constexpr int kMaxLazyCost = 48;
  // Values read more than once (or inside nested regions, e.g. every loop iteration) are
  // recomputed only when that is about as cheap as reading them back from memory.
  constexpr int kMaxSharedLazyCost = 6;
  int cost = lazy_cost(v);
  if (cost > kMaxLazyCost)
    return true;
  const UseInfo& u = uses_[v];
  return (u.count > 1 || u.outside_block) && cost > kMaxSharedLazyCost;
}

// ---- ops ---------------------------------------------------------------------------------------

void Lowering::unsupported(const ir::Op& op, std::string_view why) {
  throw Error(op.loc, fmt::format("the CPU backend cannot lower `{}`: {}", op.name(), why));
}

void Lowering::lower_block(const ir::Block& block) {
  for (const auto& op : block.ops())
    lower_op(*op);
}

// Dispatch by family (ops.def), as the GPU lowering does: a new op of an existing family needs no
// case here.
void Lowering::lower_op(const ir::Op& op) {
  if (op.has(ir::GPU_STAGE))
    return unsupported(op, "it belongs to the GPU lowering (layouts, shared memory)");
  switch (ir::family_of(op.opcode())) {
  case ir::OpFamily::Source:
    if (op.opcode() == ir::Opcode::ProgramId || op.opcode() == ir::Opcode::NumPrograms)
      return lower_grid_query(op);
    return lower_lazy(op);
  case ir::OpFamily::Shape:
  case ir::OpFamily::Elementwise:
    return lower_lazy(op);
  case ir::OpFamily::Memory:
    if (op.has(ir::ATOMIC))
      return lower_atomic(op);
    if (op.has(ir::DEBUG_OP))
      return lower_debug(op);
    TESSEL_ASSERT(op.opcode() == ir::Opcode::Load || op.opcode() == ir::Opcode::Store,
                  "tensor descriptors reach the CPU backend as masked loads and stores "
                  "(expand-tensor-descriptors)");
    return op.opcode() == ir::Opcode::Load ? lower_load(op) : lower_store(op);
  case ir::OpFamily::Reduction:
    return lower_reduce(op);
  case ir::OpFamily::Scan:
    return lower_scan(op);
  case ir::OpFamily::Contraction:
    return lower_dot(op); // dot and dot_sparse (lower_dot.cpp)
  case ir::OpFamily::Control:
    return lower_control_op(op);
  }
  TESSEL_UNREACHABLE("bad op family");
}

// program_id / num_programs: scalars the program loop of `run` computed.
void Lowering::lower_grid_query(const ir::Op& op) {
  int64_t axis = op.int_attr("axis");
  if (axis < 0 || axis > 2)
    unsupported(op, "axis must be 0, 1 or 2");
  set_scalar(op.result(), op.opcode() == ir::Opcode::ProgramId ? program_id[axis] : grid[axis]);
}

// Values computed per element where they are read (lazy_element); a scalar is computed at once,
// a tensor is stored only when re-evaluating it would cost more than reading it back.
void Lowering::lower_lazy(const ir::Op& op) {
  if (scalar_rule(op.opcode()) == ScalarRule::External)
    return lower_escape_hatch(op); // lower_escape.cpp
  const ir::Value* r = op.result();
  if (r->type()->rank() == 0) {
    set_scalar(r, lazy_element(op, {}));
    return;
  }
  reps_[r] = Rep{Rep::Kind::Lazy, nullptr, nullptr};
  if (should_store(r))
    stored(r);
}

// `return` ends this program instance: on to the next one.
void Lowering::lower_return(const ir::Op& op) {
  if (op.parent_op() != nullptr)
    unsupported(op, "`return` inside a region");
  b.CreateBr(program_latch);
  // Anything after a return is dead; give it a block of its own.
  b.SetInsertPoint(llvm::BasicBlock::Create(ctx, "dead", llfn));
}

// ---- the kernel function -----------------------------------------------------------------------

llvm::Function* Lowering::run(const std::string& symbol) {
  count_uses(fn.body);
  llvm::Type* ptr = b.getPtrTy();
  auto* fty =
      llvm::FunctionType::get(b.getVoidTy(), {ptr, ptr, b.getInt64Ty(), b.getInt64Ty()}, false);
  llfn = llvm::Function::Create(fty, llvm::Function::ExternalLinkage, symbol, module);
  llfn->addFnAttr(llvm::Attribute::NoUnwind);
  llvm::Value* args = llfn->getArg(0);
  llvm::Value* grid_ptr = llfn->getArg(1);
  llvm::Value* begin = llfn->getArg(2);
  llvm::Value* end = llfn->getArg(3);
  llfn->addParamAttr(0, llvm::Attribute::NoAlias);
  llfn->addParamAttr(1, llvm::Attribute::NoAlias);

  entry_block = llvm::BasicBlock::Create(ctx, "entry", llfn);
  b.SetInsertPoint(entry_block);
  for (int a = 0; a < 3; ++a)
    grid[a] =
        b.CreateLoad(b.getInt32Ty(), b.CreateConstInBoundsGEP1_64(b.getInt32Ty(), grid_ptr, a),
                     fmt::format("grid{}", a));
  // Unpack the arguments: args[i] points at the value of parameter i.
  for (size_t i = 0; i < fn.body.num_args(); ++i) {
    const ir::Value* param = fn.body.arg(i);
    if (param->type()->rank() != 0)
      throw Error(fmt::format("kernel `{}`: parameter {} is a tensor ({}); parameters must be "
                              "scalars or pointers",
                              fn.name, i, param->type()->str()));
    llvm::Value* slot = b.CreateLoad(ptr, b.CreateConstInBoundsGEP1_64(ptr, args, i));
    llvm::Type* st = storage_type(param->type());
    // Booleans arrive as one byte (C++ bool).
    llvm::Value* raw = b.CreateLoad(st, slot, fmt::format("arg{}", i));
    set_scalar(param, from_storage(raw, param->type()));
  }
  if (checked)
    load_bounds_table(args);
  llvm::Value* gx = b.CreateSExt(grid[0], b.getInt64Ty());
  llvm::Value* gy = b.CreateSExt(grid[1], b.getInt64Ty());

  // The loop over program instances. The first id of the range is split into (x, y, z) by
  // division once; each next one steps x and carries into y and z: a 64-bit division per program
  // (20-40 cycles) was ~4 % of softmax's time at 128 columns.
  auto* start = llvm::BasicBlock::Create(ctx, "program.start", llfn);
  auto* header = llvm::BasicBlock::Create(ctx, "program.head", llfn);
  auto* body = llvm::BasicBlock::Create(ctx, "program.body", llfn);
  program_latch = llvm::BasicBlock::Create(ctx, "program.latch", llfn);
  auto* exit = llvm::BasicBlock::Create(ctx, "program.exit", llfn);
  b.CreateCondBr(b.CreateICmpSLT(begin, end), start, exit); // no division for an empty range
  b.SetInsertPoint(start);
  llvm::Value* yz0 = b.CreateSDiv(begin, gx);
  llvm::Value* first[3] = {b.CreateSRem(begin, gx), b.CreateSRem(yz0, gy), b.CreateSDiv(yz0, gy)};
  b.CreateBr(header);
  b.SetInsertPoint(header);
  llvm::PHINode* id = b.CreatePHI(b.getInt64Ty(), 2, "pid");
  id->addIncoming(begin, start);
  llvm::PHINode* coord[3];
  for (int a = 0; a < 3; ++a) {
    coord[a] = b.CreatePHI(b.getInt64Ty(), 2, fmt::format("pid.{}", "xyz"[a]));
    coord[a]->addIncoming(first[a], start);
  }
  b.CreateCondBr(b.CreateICmpSLT(id, end), body, exit);
  b.SetInsertPoint(body);
  program_linear_id = id;
  if (checked)
    skip_programs_after_violation(id);
  for (int a = 0; a < 3; ++a)
    program_id[a] = b.CreateTrunc(coord[a], b.getInt32Ty(), fmt::format("pid.{}", "xyz"[a]));
  lower_block(fn.body);
  if (!b.GetInsertBlock()->getTerminator())
    b.CreateBr(program_latch);
  b.SetInsertPoint(program_latch);
  id->addIncoming(b.CreateAdd(id, i64(1)), program_latch);
  llvm::Value* next_x = b.CreateAdd(coord[0], i64(1));
  llvm::Value* wrap_x = b.CreateICmpEQ(next_x, gx);
  llvm::Value* next_y = b.CreateAdd(coord[1], b.CreateZExt(wrap_x, b.getInt64Ty()));
  llvm::Value* wrap_y = b.CreateICmpEQ(next_y, gy);
  coord[0]->addIncoming(b.CreateSelect(wrap_x, i64(0), next_x), program_latch);
  coord[1]->addIncoming(b.CreateSelect(wrap_y, i64(0), next_y), program_latch);
  coord[2]->addIncoming(b.CreateAdd(coord[2], b.CreateZExt(wrap_y, b.getInt64Ty())), program_latch);
  b.CreateBr(header);
  b.SetInsertPoint(exit);
  b.CreateRetVoid();
  // Blocks left empty after a `return` (no predecessors) still need a terminator.
  for (llvm::BasicBlock& bb : *llfn)
    if (!bb.getTerminator()) {
      b.SetInsertPoint(&bb);
      b.CreateUnreachable();
    }
  return llfn;
}

} // namespace tessel::codegen::cpu::detail
