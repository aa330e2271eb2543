// The driver of the NVPTX lowering: the kernel's signature and entry, registers of values, thread
// coordinates of layouts, shared scratch, line info, and the dispatch over opcodes.
#include "codegen/gpu/lower_mma_sp.h"
#include "codegen/gpu/lowering.h"
#include "codegen/gpu/warp_specialize.h"
#include "codegen/gpu/wgmma_in_flight.h"

#include "tessel/codegen/gpu.h"

#include "tessel/ir/printer.h"

#include <llvm/IR/InlineAsm.h>
#include <llvm/IR/IntrinsicsNVPTX.h>
#include <llvm/IR/MDBuilder.h>

#include <fmt/format.h>

#include <algorithm>
#include <bit>
#include <filesystem>

namespace tessel::codegen::gpu::detail {

using ir::Opcode;

Lowering::Lowering(llvm::LLVMContext& c, llvm::Module& m, const ir::Function& f, const Target& t,
                   int num_warps, bool line_info)
    : ctx(c), module(m), fn(f), target(t), b(c), prologue_(c), num_warps_(num_warps),
      line_info_(line_info) {
  TESSEL_ASSERT(f.shared_bytes >= 0, "the kernel has not been through allocate-shared");
  shared_bytes_ = f.shared_bytes;
}

llvm::Type* Lowering::reg_type(const ir::Type* e) {
  if (e->is_pointer())
    return llvm::PointerType::get(ctx,
                                  e->address_space() == 3 ? 3 : (e->address_space() == 1 ? 1 : 0));
  switch (e->dtype()) {
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
    return b.getHalfTy();
  case DType::bf16:
    return b.getBFloatTy();
  case DType::f32:
    return b.getFloatTy();
  case DType::f64:
    return b.getDoubleTy();
  }
  TESSEL_UNREACHABLE("bad scalar kind");
}

llvm::Type* Lowering::mem_type(const ir::Type* e) {
  return e->is_bool() ? b.getInt8Ty() : reg_type(e);
}

llvm::Value* Lowering::to_mem(llvm::Value* v, const ir::Type* e) {
  return e->is_bool() ? b.CreateZExt(v, b.getInt8Ty()) : v;
}

llvm::Value* Lowering::from_mem(llvm::Value* v, const ir::Type* e) {
  return e->is_bool() ? b.CreateICmpNE(v, b.getInt8(0)) : v;
}

const Vals& Lowering::vals(const ir::Value* v) const {
  auto it = vals_.find(v);
  TESSEL_ASSERT(it != vals_.end(), "value used before it was lowered");
  return it->second;
}

void Lowering::set_vals(const ir::Value* v, Vals vs) {
  if (v->type()->rank() != 0)
    TESSEL_ASSERT(static_cast<int64_t>(vs.size()) == layout(v).in_size(InDim::Register),
                  "register count does not match the layout");
  vals_[v] = std::move(vs);
}

// The layout in `v`'s type (assign-layouts wrote it), as a LinearLayout made once per type.
const LinearLayout& Lowering::layout(const ir::Value* v) const {
  const ir::Type* t = v->type();
  TESSEL_ASSERT(t->layout(), "tensor value without a layout (assign-layouts runs first)");
  auto it = layouts_.find(t);
  if (it == layouts_.end())
    it = layouts_.emplace(t, from_attr(*t->layout(), t->dims())).first;
  return it->second;
}

Vals Lowering::vals_in(const ir::Value* v, const LinearLayout& want) {
  if (v->type()->rank() == 0)
    return Vals(want.in_size(InDim::Register), scalar(v));
  return convert(vals(v), v->type()->element(), layout(v), want);
}

std::vector<int32_t> Lowering::reg_coord(const LinearLayout& l, int32_t reg) {
  return l.apply(reg, 0, 0, 0);
}

std::map<std::vector<int32_t>, int32_t> Lowering::reg_index(const LinearLayout& l) {
  std::map<std::vector<int32_t>, int32_t> m;
  for (int32_t r = 0; r < l.in_size(InDim::Register); ++r)
    m.try_emplace(reg_coord(l, r), r);
  return m;
}

namespace {

// How many input bits from `first` on map to `c`, 2c, 4c, ... along `dim`, `c` a power of two
// (blocked layouts: a thread's lanes and warps walk a dim in order). Such a run is one field of
// the id, shifted into place, instead of one bit test per basis (fewer instructions for LLVM to
// fold: the softmax sample's column index is 5 PTX instructions instead of 9).
int doubling_run(const LinearLayout& l, InDim in, int first, int dim) {
  const int32_t c = l.basis(in, first)[dim];
  if (c <= 0 || (c & (c - 1)) != 0)
    return 1;
  int run = 1;
  while (first + run < l.in_bits(in) && run < 31 &&
         int64_t(l.basis(in, first + run)[dim]) == int64_t(c) << run)
    ++run;
  return run;
}

// Bits [first, first + run) of `id` times `c`: a field shifted into place when `c` is a power of
// two (doubling_run), else one bit (run == 1) times `c`.
llvm::Value* run_term(llvm::IRBuilder<>& b, llvm::Value* id, int first, int run, int32_t c) {
  llvm::Value* field = b.CreateAnd(b.CreateLShr(id, first), (1u << run) - 1);
  if ((c & (c - 1)) != 0)
    return b.CreateMul(field, b.getInt32(c));
  return b.CreateShl(field, std::countr_zero(uint32_t(c)));
}

// True when a dot of `f` reads its operands from shared buffers (wgmma).
bool reads_shared_operands(const ir::Function& f) {
  bool found = false;
  ir::walk(f.body, [&](const ir::Op& op) {
    const ir::LayoutAttr* b =
        op.opcode() == ir::Opcode::Dot ? op.operand(1)->type()->layout() : nullptr;
    found = found || (b && b->kind() == ir::LayoutKind::Shared); // b: a may be registers
  });
  return found;
}

} // namespace

llvm::Value* Lowering::thread_part(const LinearLayout& l, InDim in, int dim) {
  auto key = std::make_pair(l.str() + (in == InDim::Lane ? "|lane" : "|warp"), dim);
  auto it = coord_cache_.find(key);
  if (it != coord_cache_.end())
    return it->second;
  llvm::Value* id = in == InDim::Lane ? lane_ : warp_;
  llvm::Value* acc = nullptr;
  for (int i = 0; i < l.in_bits(in);) {
    const int32_t c = l.basis(in, i)[dim];
    if (c == 0) {
      ++i;
      continue;
    }
    const int run = doubling_run(l, in, i, dim);
    llvm::Value* term = run_term(prologue_, id, i, run, c);
    acc = acc ? prologue_.CreateXor(acc, term) : term;
    i += run;
  }
  return coord_cache_[key] = acc ? acc : prologue_.getInt32(0);
}

llvm::Value* Lowering::coordinate(const LinearLayout& l, int32_t reg, int dim) {
  int32_t r = reg_coord(l, reg)[dim];
  llvm::Value* t =
      prologue_.CreateXor(thread_part(l, InDim::Lane, dim), thread_part(l, InDim::Warp, dim));
  // Blocked layouts give registers and threads disjoint bits; xor is then an add, which LLVM
  // folds into address offsets.
  if (l.is_dim_separable())
    return b.CreateAdd(t, b.getInt32(r), "", /*HasNUW=*/true, /*HasNSW=*/true);
  return b.CreateXor(t, b.getInt32(r));
}

llvm::Value* Lowering::owner_predicate(const LinearLayout& l, const std::vector<int>& ignore_warp) {
  llvm::Value* owner = nullptr;
  for (InDim in : {InDim::Lane, InDim::Warp})
    for (int i = 0; i < l.in_bits(in); ++i) {
      const auto& basis = l.basis(in, i);
      if (std::any_of(basis.begin(), basis.end(), [](int32_t c) { return c != 0; }))
        continue;
      if (in == InDim::Warp &&
          std::find(ignore_warp.begin(), ignore_warp.end(), i) != ignore_warp.end())
        continue;
      llvm::Value* id = in == InDim::Lane ? lane_ : warp_;
      llvm::Value* zero = b.CreateICmpEQ(b.CreateAnd(id, 1u << i), b.getInt32(0));
      owner = owner ? b.CreateAnd(owner, zero) : zero;
    }
  return owner;
}

void Lowering::only_if(llvm::Value* pred, const std::function<void()>& body) {
  if (!pred) {
    body();
    return;
  }
  llvm::BasicBlock* then = llvm::BasicBlock::Create(ctx, "owner", llfn);
  llvm::BasicBlock* join = llvm::BasicBlock::Create(ctx, "owner.join", llfn);
  b.CreateCondBr(pred, then, join);
  b.SetInsertPoint(then);
  body();
  b.CreateBr(join);
  b.SetInsertPoint(join);
}

void Lowering::barrier() {
  b.CreateCall(llvm::Intrinsic::getDeclaration(&module, llvm::Intrinsic::nvvm_barrier0));
}

llvm::Value* Lowering::shared_index(const LinearLayout& l, int32_t reg, const Swizzle& s) {
  llvm::Value* index = b.getInt32(0);
  int64_t stride = 1;
  for (int d = l.rank() - 1; d >= 0; --d) {
    index = b.CreateAdd(
        index, b.CreateMul(coordinate(l, reg, d), b.getInt32(static_cast<int32_t>(stride))));
    stride *= l.out_shape()[d];
  }
  // i ^ sum over row bits of (bit set ? mask : 0), each term from the unswizzled index (the
  // masks leave the row bits alone).
  llvm::Value* x = nullptr;
  for (const auto& [bit, mask] : s.masks) {
    llvm::Value* term = b.CreateMul(b.CreateAnd(b.CreateLShr(index, bit), 1),
                                    b.getInt32(static_cast<int32_t>(mask)));
    x = x ? b.CreateXor(x, term) : term;
  }
  return x ? b.CreateXor(index, x) : index;
}

void Lowering::store_shared(llvm::Type* mt, llvm::Value* base, llvm::Value* index,
                            std::span<llvm::Value* const> xs) {
  const uint64_t elem_bytes = module.getDataLayout().getTypeStoreSize(mt);
  llvm::Value* ptr = b.CreateGEP(mt, base, index);
  if (xs.size() == 1) {
    b.CreateAlignedStore(xs[0], ptr, llvm::Align(elem_bytes));
    return;
  }
  llvm::Type* vt = llvm::FixedVectorType::get(mt, static_cast<unsigned>(xs.size()));
  llvm::Value* v = llvm::PoisonValue::get(vt);
  for (size_t i = 0; i < xs.size(); ++i)
    v = b.CreateInsertElement(v, xs[i], b.getInt32(static_cast<uint32_t>(i)));
  b.CreateAlignedStore(v, ptr, llvm::Align(elem_bytes * xs.size()));
}

// Predicated rather than branched: a branch splits the kernel into blocks, and LLVM's code
// generation then recomputes masks and addresses (sunk compares, re-extended offsets) in the block
// after it; the predicated store keeps one block, as Triton's reductions do.
void Lowering::store_shared_if(llvm::Value* pred, llvm::Type* mt, llvm::Value* base,
                               llvm::Value* index, std::span<llvm::Value* const> xs) {
  const bool word = mt->isFloatTy() || mt->isIntegerTy(32);
  const size_t n = xs.size();
  if (!pred || !word || (n != 1 && n != 2 && n != 4)) {
    only_if(pred, [&] { store_shared(mt, base, index, xs); });
    return;
  }
  const char* constraint = mt->isFloatTy() ? "f" : "r";
  std::string list;
  for (size_t i = 0; i < n; ++i)
    list += fmt::format("{}${}", i ? ", " : "", i + 2);
  const std::string text = fmt::format("@$0 st.shared{}.b32 [$1], {};",
                                       n == 4   ? ".v4"
                                       : n == 2 ? ".v2"
                                                : "",
                                       n == 1 ? list : "{" + list + "}");
  std::string constraints = "b,l";
  llvm::Value* ptr = b.CreateGEP(mt, base, index);
  std::vector<llvm::Type*> types{b.getInt1Ty(), ptr->getType()};
  std::vector<llvm::Value*> args{pred, ptr};
  for (llvm::Value* x : xs) {
    constraints += fmt::format(",{}", constraint);
    types.push_back(mt);
    args.push_back(x);
  }
  constraints += ",~{memory}";
  auto* fn = llvm::InlineAsm::get(llvm::FunctionType::get(b.getVoidTy(), types, false), text,
                                  constraints, /*hasSideEffects=*/true);
  b.CreateCall(fn, args);
}

Vals Lowering::load_shared(llvm::Type* mt, llvm::Value* base, llvm::Value* index, int n) {
  const uint64_t elem_bytes = module.getDataLayout().getTypeStoreSize(mt);
  llvm::Value* ptr = b.CreateGEP(mt, base, index);
  if (n == 1)
    return {b.CreateAlignedLoad(mt, ptr, llvm::Align(elem_bytes))};
  llvm::Type* vt = llvm::FixedVectorType::get(mt, static_cast<unsigned>(n));
  const uint64_t bytes = elem_bytes * n;
  if (elem_bytes == 2 && !mt->isHalfTy() && bytes >= 8) {
    // NVPTX splits a <4 x bfloat> or <8 x bfloat> load into 32-bit loads, and 32-bit loads at an
    // 8- or 16-byte stride between lanes take two wavefronts where one vector load takes its
    // minimum (the simulator found them in the bf16 attention backward's ring reads; f16's
    // <4 x half> stays one load). So the bytes are loaded as 32-bit words, each word split into
    // its two elements (a bitcast of the whole vector would be folded back into the bf16 load).
    const unsigned words = static_cast<unsigned>(bytes / 4);
    llvm::Value* w = b.CreateAlignedLoad(llvm::FixedVectorType::get(b.getInt32Ty(), words), ptr,
                                         llvm::Align(bytes));
    Vals out;
    llvm::Type* pair = llvm::FixedVectorType::get(mt, 2);
    for (unsigned i = 0; i < words; ++i) {
      llvm::Value* two = b.CreateBitCast(b.CreateExtractElement(w, b.getInt32(i)), pair);
      out.push_back(b.CreateExtractElement(two, b.getInt32(0)));
      out.push_back(b.CreateExtractElement(two, b.getInt32(1)));
    }
    return out;
  }
  llvm::Value* v = b.CreateAlignedLoad(vt, ptr, llvm::Align(bytes));
  Vals out;
  for (int i = 0; i < n; ++i)
    out.push_back(b.CreateExtractElement(v, b.getInt32(static_cast<uint32_t>(i))));
  return out;
}

void Lowering::record_accesses(const AccessSide& side, const Swizzle& s, int64_t elem_bytes,
                               const std::string& what) {
  for (SharedAccess& a : enumerate_accesses(side, s, elem_bytes, what))
    shared_accesses_.push_back(std::move(a));
}

// The op being lowered borrows the scratch allocate-shared planned for it (scratch_offset,
// scratch_bytes); the emission decides nothing about shared memory, and the barrier an op needs
// before its first write is a `barrier` op allocate-shared put before it. Only an op that
// borrows its scratch twice orders its own second use after its first.
llvm::Value* Lowering::scratch(int64_t bytes) {
  TESSEL_ASSERT(current_op_, "scratch requested outside an op");
  const ir::Attr& planned = current_op_->attr("scratch_bytes");
  TESSEL_ASSERT(planned.kind == ir::Attr::Kind::Int && planned.i >= bytes,
                "scratch beyond allocate-shared's plan");
  const int64_t offset = current_op_->int_attr("scratch_offset");
  TESSEL_ASSERT(offset + bytes <= shared_bytes_, "scratch beyond the kernel's shared(N)");
  if (scratch_user_ == current_op_)
    barrier();
  scratch_user_ = current_op_;
  return offset == 0 ? smem_
                     : b.CreateGEP(b.getInt8Ty(), smem_, b.getInt32(static_cast<int32_t>(offset)));
}

[[noreturn]] void Lowering::unsupported(const ir::Op& op, std::string_view why) {
  throw Error(op.loc, fmt::format("the NVPTX backend cannot lower `{}`: {}\n  {}", op.name(), why,
                                  ir::print_op(op)));
}

void Lowering::set_location(const ir::Op& op) {
  if (!dib_ || !op.loc.known())
    return;
  b.SetCurrentDebugLocation(llvm::DILocation::get(ctx, op.loc.line, op.loc.column, subprogram_));
}

namespace {

// The kernel's trailing tensor-map parameters: one past the largest `tmap` of its TMA ops. The
// launch builds them from the IR before the GPU passes (tensor_map_params), where every one is a
// descriptor op; here a TMA ring may have replaced a desc_load by its async_tma_loads.
size_t tensor_map_count(const ir::Function& fn) {
  int64_t n = 0;
  ir::walk(fn.body, [&](const ir::Op& op) {
    const ir::Opcode o = op.opcode();
    if (o != Opcode::DescLoad && o != Opcode::DescStore && o != Opcode::AsyncTmaLoad)
      return;
    if (const ir::Attr& t = op.attr("tmap"); t.kind == ir::Attr::Kind::Int)
      n = std::max(n, t.i + 1);
  });
  return size_t(n);
}

} // namespace

llvm::Function* Lowering::run() {
  check_wgmma_in_flight(fn); // no accumulator read while its wgmma may still run
  // Signature: one parameter per kernel argument, then the tensor maps of TMA descriptors
  // (128 bytes each, passed by value: `.param .align 64 .b8 [128]`, read in place by name).
  std::vector<llvm::Type*> params;
  for (size_t i = 0; i < fn.body.num_args(); ++i)
    params.push_back(reg_type(fn.body.arg(i)->type()));
  const size_t tensor_maps = tensor_map_count(fn);
  llvm::Type* tensor_map = llvm::ArrayType::get(b.getInt8Ty(), 128);
  for (size_t i = 0; i < tensor_maps; ++i)
    params.push_back(b.getPtrTy());
  auto* fty = llvm::FunctionType::get(b.getVoidTy(), params, false);
  llfn = llvm::Function::Create(fty, llvm::Function::ExternalLinkage, fn.name, module);
  llfn->setCallingConv(llvm::CallingConv::PTX_Kernel);
  for (size_t i = 0; i < fn.body.num_args(); ++i) {
    llvm::Argument* a = llfn->getArg(static_cast<unsigned>(i));
    if (fn.body.arg(i)->type()->is_pointer()) {
      a->addAttr(llvm::Attribute::NoUndef);
      int64_t align = i < fn.arg_divisibility.size() ? fn.arg_divisibility[i] : 1;
      if (align > 1)
        a->addAttr(
            llvm::Attribute::getWithAlignment(ctx, llvm::Align(std::min<int64_t>(align, 4096))));
    }
  }
  for (size_t i = 0; i < tensor_maps; ++i) {
    llvm::Argument* a = llfn->getArg(static_cast<unsigned>(fn.body.num_args() + i));
    a->addAttr(llvm::Attribute::getWithByValType(ctx, tensor_map));
    a->addAttr(llvm::Attribute::getWithAlignment(ctx, llvm::Align(64)));
  }
  // A warp-specialized kernel launches its producer warpgroup on top of the layouts' warps.
  const int threads = (num_warps_ + producer_warps(fn)) * 32;
  llvm::NamedMDNode* annotations = module.getOrInsertNamedMetadata("nvvm.annotations");
  llvm::Metadata* kernel_md[] = {llvm::ValueAsMetadata::get(llfn),
                                 llvm::MDString::get(ctx, "kernel"),
                                 llvm::ConstantAsMetadata::get(b.getInt32(1))};
  annotations->addOperand(llvm::MDNode::get(ctx, kernel_md));
  llvm::Metadata* ntid_md[] = {llvm::ValueAsMetadata::get(llfn),
                               llvm::MDString::get(ctx, "maxntidx"),
                               llvm::ConstantAsMetadata::get(b.getInt32(threads))};
  annotations->addOperand(llvm::MDNode::get(ctx, ntid_md));

  // Line info: a compile unit in the kernel's first source file, directives only (like nvcc
  // -lineinfo).
  if (line_info_) {
    const char* file = "";
    ir::walk(fn.body, [&](const ir::Op& op) {
      if (!*file && op.loc.known() && op.loc.file && *op.loc.file)
        file = op.loc.file;
    });
    if (*file) {
      dib_ = std::make_unique<llvm::DIBuilder>(module);
      std::filesystem::path p(file);
      llvm::DIFile* difile = dib_->createFile(p.filename().string(), p.parent_path().string());
      auto* cu = dib_->createCompileUnit(llvm::dwarf::DW_LANG_C_plus_plus_14, difile, "tessel",
                                         /*isOptimized=*/true, "", 0, llvm::StringRef(),
                                         llvm::DICompileUnit::DebugDirectivesOnly);
      auto* sty = dib_->createSubroutineType(dib_->getOrCreateTypeArray({}));
      subprogram_ = dib_->createFunction(
          cu, fn.name, fn.name, difile, 0, sty, 0, llvm::DINode::FlagZero,
          llvm::DISubprogram::SPFlagDefinition | llvm::DISubprogram::SPFlagOptimized);
      llfn->setSubprogram(subprogram_);
      module.addModuleFlag(llvm::Module::Warning, "Debug Info Version",
                           llvm::DEBUG_METADATA_VERSION);
      module.addModuleFlag(llvm::Module::Warning, "Dwarf Version", 2);
    }
  }

  smem_ = new llvm::GlobalVariable(module, llvm::ArrayType::get(b.getInt8Ty(), 0), false,
                                   llvm::GlobalValue::ExternalLinkage, nullptr, "global_smem",
                                   nullptr, llvm::GlobalValue::NotThreadLocal, 3);
  // wgmma's buffers and TMA boxes sit at multiples of 1024 bytes (allocate_shared.cpp); so does
  // their base, so swizzles follow the hardware's pattern on absolute addresses.
  smem_->setAlignment(llvm::Align(reads_shared_operands(fn) || tensor_maps ? 1024 : 16));

  llvm::BasicBlock* entry = llvm::BasicBlock::Create(ctx, "entry", llfn);
  llvm::BasicBlock* body = llvm::BasicBlock::Create(ctx, "body", llfn);
  exit_block = llvm::BasicBlock::Create(ctx, "exit", llfn);
  prologue_.SetInsertPoint(entry);
  llvm::Value* tid = prologue_.CreateCall(
      llvm::Intrinsic::getDeclaration(&module, llvm::Intrinsic::nvvm_read_ptx_sreg_tid_x));
  lane_ = prologue_.CreateAnd(tid, 31, "lane");
  warp_ = prologue_.CreateLShr(tid, 5, "warp");
  llvm::BranchInst* to_body = prologue_.CreateBr(body);
  prologue_.SetInsertPoint(to_body);
  b.SetInsertPoint(exit_block);
  b.CreateRetVoid();
  b.SetInsertPoint(body);
  for (size_t i = 0; i < fn.body.num_args(); ++i)
    set_vals(fn.body.arg(i), {llfn->getArg(static_cast<unsigned>(i))});
  lower_block(fn.body);
  if (!b.GetInsertBlock()->getTerminator())
    b.CreateBr(exit_block);
  if (dib_)
    dib_->finalize();
  return llfn;
}

void Lowering::lower_block(const ir::Block& block) {
  for (const auto& op : block.ops())
    lower_op(*op);
}

void Lowering::lower_op(const ir::Op& op) {
  set_location(op);
  // Ops of a region (a loop body, a reduction's combiner) restore the enclosing op on return.
  struct CurrentOp {
    const ir::Op*& slot;
    const ir::Op* saved;
    ~CurrentOp() { slot = saved; }
  } current{current_op_, current_op_};
  current_op_ = &op;
  switch (ir::family_of(op.opcode())) {
  case ir::OpFamily::Source:
  case ir::OpFamily::Shape:
    return lower_shape_op(op);
  case ir::OpFamily::Elementwise:
    return lower_elementwise(op);
  case ir::OpFamily::Memory:
    if (op.has(ir::ATOMIC))
      return lower_atomic(op);
    if (op.has(ir::DEBUG_OP))
      return lower_debug(op); // lower_debug.cpp
    if (op.opcode() == Opcode::Load)
      return lower_load(op);
    if (op.opcode() == Opcode::Store)
      return lower_store(op);
    if (op.opcode() == Opcode::DescLoad || op.opcode() == Opcode::DescStore)
      return lower_tma(op);     // lower_tma.cpp
    return lower_shared_op(op); // lower_mma.cpp
  case ir::OpFamily::Contraction:
    if (op.opcode() == Opcode::DotSparse)
      return lower_mma_sp(*this, op); // lower_mma_sp.cpp (prepare-dot-operands put it on mma.sp)
    if (layout_kind(op.result()) == ir::LayoutKind::Mma)
      return lower_mma(op); // lower_mma.cpp
    return lower_dot(op);
  case ir::OpFamily::Reduction:
    return lower_reduce(op);
  case ir::OpFamily::Scan:
    return lower_scan(op);
  case ir::OpFamily::Control:
    return lower_control_op(op);
  }
  TESSEL_UNREACHABLE("bad op family");
}

void Lowering::lower_control_op(const ir::Op& op) {
  switch (op.opcode()) {
  case Opcode::For:
    return lower_for(op);
  case Opcode::If:
    return lower_if(op);
  case Opcode::While:
    return lower_while(op);
  case Opcode::Return:
    b.CreateBr(exit_block);
    // Ops after a return are unreachable; give them a block of their own.
    b.SetInsertPoint(llvm::BasicBlock::Create(ctx, "after.return", llfn));
    return;
  case Opcode::Yield:
  case Opcode::Condition:
    unsupported(op, "a terminator outside its region");
  default:
    TESSEL_UNREACHABLE("not a control op");
  }
}

void Lowering::lower_shape_op(const ir::Op& op) {
  const ir::Value* res = op.result();
  const ir::Type* elem = res->type()->element();
  const int64_t n = res->type()->rank() == 0 ? 1 : layout(res).in_size(InDim::Register);
  switch (op.opcode()) {
  case Opcode::Constant:
    set_vals(res, Vals(n, constant_of(elem, op.attrs()[0])));
    return;
  case Opcode::ProgramId:
  case Opcode::NumPrograms: {
    static const llvm::Intrinsic::ID ids[2][3] = {
        {llvm::Intrinsic::nvvm_read_ptx_sreg_ctaid_x, llvm::Intrinsic::nvvm_read_ptx_sreg_ctaid_y,
         llvm::Intrinsic::nvvm_read_ptx_sreg_ctaid_z},
        {llvm::Intrinsic::nvvm_read_ptx_sreg_nctaid_x, llvm::Intrinsic::nvvm_read_ptx_sreg_nctaid_y,
         llvm::Intrinsic::nvvm_read_ptx_sreg_nctaid_z}};
    int which = op.opcode() == Opcode::NumPrograms;
    int axis = static_cast<int>(op.int_attr("axis"));
    set_vals(res,
             {prologue_.CreateCall(llvm::Intrinsic::getDeclaration(&module, ids[which][axis]))});
    return;
  }
  case Opcode::Arange: {
    const LinearLayout& l = layout(res);
    int32_t start = static_cast<int32_t>(op.int_attr("start"));
    Vals vs;
    for (int32_t r = 0; r < n; ++r) {
      llvm::Value* c = coordinate(l, r, 0);
      llvm::Value* v = b.CreateAdd(c, b.getInt32(start));
      vs.push_back(b.CreateSExtOrTrunc(v, reg_type(elem)));
    }
    set_vals(res, std::move(vs));
    return;
  }
  case Opcode::Splat:
    set_vals(res, Vals(n, scalar(op.operand(0))));
    return;
  case Opcode::Broadcast:
  case Opcode::ExpandDims: {
    const LinearLayout& l = layout(res);
    const ir::Value* src = op.operand(0);
    if (src->type()->rank() == 0) {
      set_vals(res, Vals(n, scalar(src)));
      return;
    }
    // The operand in the layout the result's registers can read directly.
    int axis = op.opcode() == Opcode::ExpandDims ? static_cast<int>(op.int_attr("axis")) : -1;
    LinearLayout want = axis >= 0 ? l.slice(axis) : l.unbroadcast(shape_of(src));
    Vals in = vals_in(src, want);
    auto index = reg_index(want);
    std::vector<int32_t> src_shape = shape_of(src);
    Vals vs;
    for (int32_t r = 0; r < n; ++r) {
      std::vector<int32_t> c = reg_coord(l, r);
      if (axis >= 0) {
        c.erase(c.begin() + axis);
      } else {
        for (size_t d = 0; d < c.size(); ++d)
          if (src_shape[d] == 1)
            c[d] = 0;
      }
      auto it = index.find(c);
      TESSEL_ASSERT(it != index.end(), "broadcast source register not found");
      vs.push_back(in[it->second]);
    }
    set_vals(res, std::move(vs));
    return;
  }
  case Opcode::ConvertLayout: // registers, shuffles or shared memory (convert_layout.cpp)
    set_vals(res, vals_in(op.operand(0), layout(res)));
    return;
  case Opcode::Hint: // the operand itself: the axis analysis has read the promise
    if (res->type()->rank() == 0)
      set_vals(res, {scalar(op.operand(0))});
    else
      set_vals(res, vals_in(op.operand(0), layout(res)));
    return;
  case Opcode::Permute: {
    const auto& order = op.attr("order").ints;
    std::vector<int> inverse(order.size());
    for (size_t i = 0; i < order.size(); ++i)
      inverse[order[i]] = static_cast<int>(i);
    set_vals(res, vals_in(op.operand(0), layout(res).permute(inverse)));
    return;
  }
  case Opcode::Reshape: {
    const ir::Value* src = op.operand(0);
    if (res->type()->rank() == 0 || src->type()->rank() == 0) {
      if (src->type()->rank() != 0)
        unsupported(op, "reshape of a tensor to a scalar");
      set_vals(res, Vals(n, scalar(src)));
      return;
    }
    set_vals(res, vals_in(src, layout(res).reshape(shape_of(src))));
    return;
  }
  default:
    break; // lower_op sends only the source and shape families here
  }
  TESSEL_UNREACHABLE("a source or shape op without a lowering");
}

} // namespace tessel::codegen::gpu::detail
