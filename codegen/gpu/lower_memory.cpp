// Loads and stores on NVPTX. A tensor access is split into per-thread vectors: the layout gives
// each thread runs of consecutive registers along the contiguous dimension, and the vector width
// (layout_assignment.h) is the run length that alignment, contiguity and the mask allow, up to 16
// bytes. An unmasked vector is an LLVM vector load/store (ld.global.v4.f32); a masked one is
// inline PTX, predicated as a whole: `@%p ld.global.v4.b32` after moving the `other` values into
// the destination registers (what Triton emits), so no branches are needed. The mask reaches the
// PTX as a predicate register and f32 words stay in f32 registers, so nothing converts either.
// Threads that hold replicated copies of an element do not store it; a scalar store is issued by
// thread 0 of warp 0.
#include "codegen/gpu/lowering.h"

#include <llvm/IR/InlineAsm.h>

#include <fmt/format.h>

namespace tessel::codegen::gpu::detail {

namespace {

struct Access {
  llvm::Value* ptr;
  llvm::Value* mask;                // i1 or null
  std::vector<llvm::Value*> values; // store: the elements; load: the `other` values (or empty)
};

} // namespace

// A masked load or store of `count` elements through a branch (scalar accesses, sub-word vectors,
// non-global pointers).
static llvm::Value* branchy_load(Lowering& L, llvm::Type* vty, llvm::Value* ptr, llvm::Value* mask,
                                 llvm::Value* other, uint64_t align) {
  auto& b = L.b;
  if (!mask)
    return b.CreateAlignedLoad(vty, ptr, llvm::Align(align));
  llvm::BasicBlock* from = b.GetInsertBlock();
  llvm::BasicBlock* then = llvm::BasicBlock::Create(L.ctx, "masked.load", L.llfn);
  llvm::BasicBlock* join = llvm::BasicBlock::Create(L.ctx, "masked.join", L.llfn);
  b.CreateCondBr(mask, then, join);
  b.SetInsertPoint(then);
  llvm::Value* v = b.CreateAlignedLoad(vty, ptr, llvm::Align(align));
  b.CreateBr(join);
  b.SetInsertPoint(join);
  llvm::PHINode* phi = b.CreatePHI(vty, 2);
  phi->addIncoming(other, from);
  phi->addIncoming(v, then);
  return phi;
}

static void branchy_store(Lowering& L, llvm::Value* v, llvm::Value* ptr, llvm::Value* mask,
                          uint64_t align) {
  auto& b = L.b;
  if (!mask) {
    b.CreateAlignedStore(v, ptr, llvm::Align(align));
    return;
  }
  llvm::BasicBlock* then = llvm::BasicBlock::Create(L.ctx, "masked.store", L.llfn);
  llvm::BasicBlock* join = llvm::BasicBlock::Create(L.ctx, "masked.join", L.llfn);
  b.CreateCondBr(mask, then, join);
  b.SetInsertPoint(then);
  b.CreateAlignedStore(v, ptr, llvm::Align(align));
  b.CreateBr(join);
  b.SetInsertPoint(join);
}

// The 32-bit word an inline-PTX access moves: f32 elements stay in f32 registers ("f"), so no
// `mov.b32` between the .b32 and .f32 register files surrounds the access; everything else
// (packed f16 pairs, integers) is an i32 word ("r").
struct Word {
  llvm::Type* type;
  const char* constraint;
};

static Word word_of(llvm::IRBuilder<>& b, llvm::Type* mt) {
  if (mt->isFloatTy())
    return {mt, "f"};
  return {b.getInt32Ty(), "r"};
}

// Packs a vector value into `words` 32-bit words of type `wt`.
static std::vector<llvm::Value*> to_words(llvm::IRBuilder<>& b, llvm::Value* vec, int words,
                                          llvm::Type* wt) {
  llvm::Value* w = b.CreateBitCast(vec, llvm::FixedVectorType::get(wt, words));
  std::vector<llvm::Value*> out;
  for (int i = 0; i < words; ++i)
    out.push_back(b.CreateExtractElement(w, b.getInt32(i)));
  return out;
}

static std::string word_list(int first, int n) {
  std::string s;
  for (int i = 0; i < n; ++i)
    s += fmt::format("{}${}", i ? ", " : "", first + i);
  return n == 1 ? s : "{ " + s + " }";
}

static const char* vector_suffix(int words) { return words == 4 ? ".v4" : words == 2 ? ".v2" : ""; }

static llvm::Value* build_vector(llvm::IRBuilder<>& b, llvm::Type* vty,
                                 std::span<llvm::Value* const> els) {
  llvm::Value* v = llvm::PoisonValue::get(vty);
  for (size_t i = 0; i < els.size(); ++i)
    v = b.CreateInsertElement(v, els[i], b.getInt32(static_cast<int>(i)));
  return v;
}

// A masked global load of `words` 32-bit words as one predicated `ld.global`: the mask is a
// predicate operand ("b"), so no selp/setp pair converts it; the `other` words are moved into the
// destination registers first, which the load overwrites where the predicate holds.
static llvm::Value* predicated_global_load(llvm::IRBuilder<>& b, llvm::LLVMContext& ctx,
                                           llvm::Type* vty, Word word, llvm::Value* ptr,
                                           llvm::Value* mask, llvm::Value* other_vec, int words) {
  std::vector<llvm::Value*> other_words = to_words(b, other_vec, words, word.type);
  // $0..$words-1: results; $words: address; $words+1: predicate; then the other words.
  std::string text;
  for (int i = 0; i < words; ++i)
    text += fmt::format("mov.b32 ${}, ${};\n ", i, words + 2 + i);
  text += fmt::format("@${} ld.global{}.b32 {}, [${}];", words + 1, vector_suffix(words),
                      word_list(0, words), words);
  std::string constraints;
  for (int i = 0; i < words; ++i)
    constraints += fmt::format("={},", word.constraint);
  constraints += "l,b";
  for (int i = 0; i < words; ++i)
    constraints += fmt::format(",{}", word.constraint);
  std::vector<llvm::Type*> outs(words, word.type);
  llvm::Type* ret = words == 1 ? word.type : llvm::StructType::get(ctx, outs);
  std::vector<llvm::Type*> arg_types{ptr->getType(), b.getInt1Ty()};
  std::vector<llvm::Value*> args{ptr, mask};
  for (llvm::Value* ow : other_words) {
    arg_types.push_back(word.type);
    args.push_back(ow);
  }
  auto* asm_fn =
      llvm::InlineAsm::get(llvm::FunctionType::get(ret, arg_types, false), text, constraints,
                           /*hasSideEffects=*/true);
  llvm::Value* r = b.CreateCall(asm_fn, args);
  llvm::Value* wv = llvm::PoisonValue::get(llvm::FixedVectorType::get(word.type, words));
  for (int i = 0; i < words; ++i)
    wv = b.CreateInsertElement(wv, words == 1 ? r : b.CreateExtractValue(r, i), b.getInt32(i));
  return b.CreateBitCast(wv, vty);
}

// A masked global store of `words` 32-bit words as one predicated `st.global`.
static void predicated_global_store(llvm::IRBuilder<>& b, Word word, llvm::Value* v,
                                    llvm::Value* ptr, llvm::Value* mask, int words) {
  std::vector<llvm::Value*> ws = to_words(b, v, words, word.type);
  std::string text =
      fmt::format("@$0 st.global{}.b32 [$1], {};", vector_suffix(words), word_list(2, words));
  std::string constraints = "b,l";
  std::vector<llvm::Type*> arg_types{b.getInt1Ty(), ptr->getType()};
  std::vector<llvm::Value*> args{mask, ptr};
  for (llvm::Value* x : ws) {
    constraints += fmt::format(",{}", word.constraint);
    arg_types.push_back(word.type);
    args.push_back(x);
  }
  constraints += ",~{memory}";
  auto* asm_fn = llvm::InlineAsm::get(llvm::FunctionType::get(b.getVoidTy(), arg_types, false),
                                      text, constraints, /*hasSideEffects=*/true);
  b.CreateCall(asm_fn, args);
}

void Lowering::lower_load(const ir::Op& op) {
  const ir::Value* res = op.result();
  const ir::Type* elem = res->type()->element();
  if (elem->is_pointer())
    unsupported(op, "loads of pointers");
  llvm::Type* mt = mem_type(elem);
  const unsigned elem_bytes = std::max(1u, elem->element_bits() / 8);
  const bool has_mask = op.num_operands() > 1;
  const bool has_other = op.num_operands() > 2;
  if (res->type()->rank() == 0) {
    llvm::Value* other =
        has_other ? to_mem(scalar(op.operand(2)), elem) : llvm::Constant::getNullValue(mt);
    llvm::Value* v = branchy_load(*this, mt, scalar(op.operand(0)),
                                  has_mask ? scalar(op.operand(1)) : nullptr, other, elem_bytes);
    set_vals(res, {from_mem(v, elem)});
    return;
  }
  // The pointer's layout is the access's (assign-layouts made it the coalesced anchor).
  const LinearLayout& a = layout(op.operand(0));
  Vals ptrs = vals(op.operand(0));
  Vals masks = has_mask ? vals_in(op.operand(1), a) : Vals();
  Vals others = has_other ? vals_in(op.operand(2), a) : Vals();
  const int w = access_width(op);
  const int n = a.in_size(InDim::Register);
  if (n % w != 0 || a.contiguous_registers(vector_dim(a)) < w)
    unsupported(op, "its `vec` is more than the contiguous registers of its layout");
  const bool global =
      elem->is_pointer() ? false : op.operand(0)->type()->element()->address_space() == 1;
  Vals loaded(n);
  for (int g = 0; g < n; g += w) {
    llvm::Type* vty = llvm::FixedVectorType::get(mt, w);
    std::vector<llvm::Value*> oth;
    for (int i = 0; i < w; ++i)
      oth.push_back(has_other ? to_mem(others[g + i], elem) : llvm::Constant::getNullValue(mt));
    llvm::Value* other_vec = build_vector(b, vty, oth);
    const int bytes = w * static_cast<int>(elem_bytes);
    llvm::Value* v = nullptr;
    if (!has_mask) {
      v = b.CreateAlignedLoad(vty, ptrs[g], llvm::Align(bytes));
    } else if (global && bytes >= 4) {
      v = predicated_global_load(b, ctx, vty, word_of(b, mt), ptrs[g], masks[g], other_vec,
                                 bytes / 4);
    } else {
      v = branchy_load(*this, vty, ptrs[g], masks[g], other_vec, bytes);
    }
    for (int i = 0; i < w; ++i)
      loaded[g + i] = from_mem(b.CreateExtractElement(v, b.getInt32(i)), elem);
  }
  set_vals(res, convert(loaded, elem, a, layout(res)));
}

void Lowering::lower_store(const ir::Op& op) {
  const ir::Value* ptr = op.operand(0);
  const ir::Type* elem = op.operand(1)->type()->element();
  if (elem->is_pointer())
    unsupported(op, "stores of pointers");
  llvm::Type* mt = mem_type(elem);
  const unsigned elem_bytes = std::max(1u, elem->element_bits() / 8);
  const bool has_mask = op.num_operands() > 2;
  if (ptr->type()->rank() == 0) {
    // A scalar is replicated in every thread: only thread 0 of warp 0 stores it, or a
    // read-modify-write (`store(p, load(p) + 1)`) would be applied once per warp.
    llvm::Value* first = b.CreateAnd(b.CreateICmpEQ(lane_id(), b.getInt32(0)),
                                     b.CreateICmpEQ(warp_id(), b.getInt32(0)));
    llvm::Value* mask = has_mask ? b.CreateAnd(scalar(op.operand(2)), first) : first;
    branchy_store(*this, to_mem(scalar(op.operand(1)), elem), scalar(ptr), mask, elem_bytes);
    return;
  }
  const LinearLayout& a = layout(ptr);
  Vals ptrs = vals(ptr);
  Vals values = vals_in(op.operand(1), a);
  Vals masks = has_mask ? vals_in(op.operand(2), a) : Vals();
  // Replicated copies: only the thread whose replicating lane and warp bits are zero stores.
  llvm::Value* owner = owner_predicate(a);
  const int w = access_width(op);
  const int n = a.in_size(InDim::Register);
  if (n % w != 0 || a.contiguous_registers(vector_dim(a)) < w)
    unsupported(op, "its `vec` is more than the contiguous registers of its layout");
  const bool global = ptr->type()->element()->address_space() == 1;
  for (int g = 0; g < n; g += w) {
    llvm::Type* vty = llvm::FixedVectorType::get(mt, w);
    std::vector<llvm::Value*> els;
    for (int i = 0; i < w; ++i)
      els.push_back(to_mem(values[g + i], elem));
    llvm::Value* v = build_vector(b, vty, els);
    llvm::Value* mask = has_mask ? masks[g] : nullptr;
    if (owner)
      mask = mask ? b.CreateAnd(mask, owner) : owner;
    const int bytes = w * static_cast<int>(elem_bytes);
    if (mask && global && bytes >= 4) {
      predicated_global_store(b, word_of(b, mt), v, ptrs[g], mask, bytes / 4);
    } else {
      branchy_store(*this, v, ptrs[g], mask, bytes);
    }
  }
}

} // namespace tessel::codegen::gpu::detail
