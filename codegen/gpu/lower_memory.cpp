// Loads and stores on NVPTX. A tensor access is split into per-thread vectors: the layout gives
// each thread runs of consecutive registers along the contiguous dimension, and the vector width
// (layout_assignment.h) is the run length that alignment, contiguity and the mask allow, up to 16
// bytes. An unmasked vector is an LLVM vector load/store (ld.global.v4.f32); a masked one is
// inline PTX, predicated as a whole: `@p ld.global.v4.b32` after moving the `other` values into
// the destination registers (what Triton emits), so no branches are needed. Threads that hold
// replicated copies of an element do not store it; a scalar store is issued by thread 0 of warp 0.
#include "codegen/gpu/lowering.h"

#include <llvm/IR/InlineAsm.h>

#include <fmt/format.h>

namespace tessel::codegen::gpu::detail {

namespace {

struct Access {
  llvm::Value* ptr;
  llvm::Value* mask; // i1 or null
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

// Packs a vector value into `words` 32-bit words.
static std::vector<llvm::Value*> to_words(llvm::IRBuilder<>& b, llvm::Value* vec, int words) {
  llvm::Value* w = b.CreateBitCast(vec, llvm::FixedVectorType::get(b.getInt32Ty(), words));
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

static llvm::Value* build_vector(llvm::IRBuilder<>& b, llvm::Type* vty, std::span<llvm::Value* const> els) {
  llvm::Value* v = llvm::PoisonValue::get(vty);
  for (size_t i = 0; i < els.size(); ++i)
    v = b.CreateInsertElement(v, els[i], b.getInt32(static_cast<int>(i)));
  return v;
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
    llvm::Value* other = has_other ? to_mem(scalar(op.operand(2)), elem) : llvm::Constant::getNullValue(mt);
    llvm::Value* v = branchy_load(*this, mt, scalar(op.operand(0)), has_mask ? scalar(op.operand(1)) : nullptr,
                                  other, elem_bytes);
    set_vals(res, {from_mem(v, elem)});
    return;
  }
  const LinearLayout a = plan.anchor(op);
  const LayoutPlan::Vector vec = plan.vector_of(op, a);
  Vals ptrs = vals_in(op.operand(0), a);
  Vals masks = has_mask ? vals_in(op.operand(1), a) : Vals();
  Vals others = has_other ? vals_in(op.operand(2), a) : Vals();
  const int w = vec.width;
  const int n = a.in_size(InDim::Register);
  const bool global = elem->is_pointer() ? false : op.operand(0)->type()->element()->address_space() == 1;
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
      const int words = bytes / 4;
      std::vector<llvm::Value*> other_words = to_words(b, other_vec, words);
      // $0..$words-1: results; $words: address; $words+1: mask; then the other words.
      std::string text = fmt::format("{{\n .reg .pred p;\n setp.ne.b32 p, ${}, 0;\n", words + 1);
      for (int i = 0; i < words; ++i)
        text += fmt::format(" mov.b32 ${}, ${};\n", i, words + 2 + i);
      text += fmt::format(" @p ld.global{}.b32 {}, [${}];\n}}", vector_suffix(words), word_list(0, words), words);
      std::string constraints;
      for (int i = 0; i < words; ++i)
        constraints += "=r,";
      constraints += "l,r";
      for (int i = 0; i < words; ++i)
        constraints += ",r";
      std::vector<llvm::Type*> outs(words, b.getInt32Ty());
      llvm::Type* ret = words == 1 ? static_cast<llvm::Type*>(b.getInt32Ty()) : llvm::StructType::get(ctx, outs);
      std::vector<llvm::Type*> arg_types{ptrs[g]->getType(), b.getInt32Ty()};
      std::vector<llvm::Value*> args{ptrs[g], b.CreateZExt(masks[g], b.getInt32Ty())};
      for (llvm::Value* ow : other_words) {
        arg_types.push_back(b.getInt32Ty());
        args.push_back(ow);
      }
      auto* asm_fn = llvm::InlineAsm::get(llvm::FunctionType::get(ret, arg_types, false), text,
                                          constraints, /*hasSideEffects=*/true);
      llvm::Value* r = b.CreateCall(asm_fn, args);
      llvm::Value* wv = llvm::PoisonValue::get(llvm::FixedVectorType::get(b.getInt32Ty(), words));
      for (int i = 0; i < words; ++i)
        wv = b.CreateInsertElement(wv, words == 1 ? r : b.CreateExtractValue(r, i), b.getInt32(i));
      v = b.CreateBitCast(wv, vty);
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
  const LinearLayout a = plan.anchor(op);
  const LayoutPlan::Vector vec = plan.vector_of(op, a);
  Vals ptrs = vals_in(ptr, a);
  Vals values = vals_in(op.operand(1), a);
  Vals masks = has_mask ? vals_in(op.operand(2), a) : Vals();
  // Replicated copies: only the thread whose replicating lane and warp bits are zero stores.
  llvm::Value* owner = owner_predicate(a);
  const int w = vec.width;
  const int n = a.in_size(InDim::Register);
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
      const int words = bytes / 4;
      std::vector<llvm::Value*> ws = to_words(b, v, words);
      std::string text = fmt::format("{{\n .reg .pred p;\n setp.ne.b32 p, $0, 0;\n @p st.global{}.b32 [$1], {};\n}}",
                                     vector_suffix(words), word_list(2, words));
      std::string constraints = "r,l";
      std::vector<llvm::Type*> arg_types{b.getInt32Ty(), ptrs[g]->getType()};
      std::vector<llvm::Value*> args{b.CreateZExt(mask, b.getInt32Ty()), ptrs[g]};
      for (llvm::Value* x : ws) {
        constraints += ",r";
        arg_types.push_back(b.getInt32Ty());
        args.push_back(x);
      }
      constraints += ",~{memory}";
      auto* asm_fn = llvm::InlineAsm::get(llvm::FunctionType::get(b.getVoidTy(), arg_types, false),
                                          text, constraints, /*hasSideEffects=*/true);
      b.CreateCall(asm_fn, args);
    } else {
      branchy_store(*this, v, ptrs[g], mask, bytes);
    }
  }
}

} // namespace tessel::codegen::gpu::detail
