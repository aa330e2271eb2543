// Loads and stores on NVPTX. A tensor access is split into per-thread vectors: the layout gives
// each thread runs of consecutive registers along the contiguous dimension, and the vector width
// (layout_assignment.h) is the run length that alignment, contiguity and the mask allow, up to 16
// bytes. An unmasked vector is an LLVM vector load/store (ld.global.v4.f32); a masked one is
// inline PTX, predicated as a whole: `@%p ld.global.v4.b32` after moving the `other` values into
// the destination registers (what Triton emits), so no branches are needed. The mask reaches the
// PTX as a predicate register and f32 words stay in f32 registers, so nothing converts either.
// Threads that hold replicated copies of an element do not store it; a scalar store is issued by
// thread 0 of warp 0. An access with memory modifiers (cache operator, eviction policy, volatile;
// ir/mem_hints.h) is always inline PTX, masked or not, so that they reach the instruction.
#include "codegen/gpu/lowering.h"

#include "tessel/ir/mem_hints.h"

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

// The word an inline-PTX access moves: f32 elements stay in f32 registers ("f"), so no `mov.b32`
// between the .b32 and .f32 register files surrounds the access; everything else (packed f16
// pairs, integers) is an i32 word ("r"). An access of fewer than 4 bytes (only with memory
// modifiers) is one 16-bit register ("h"), read or written as .b16 or .u8.
struct Word {
  llvm::Type* type;
  const char* constraint;
  const char* ptx_type = ".b32";
};

static Word word_of(llvm::IRBuilder<>& b, llvm::Type* mt) {
  if (mt->isFloatTy())
    return {mt, "f"};
  return {b.getInt32Ty(), "r"};
}

// The words of an access of `bytes` bytes of elements `mt`, and how many.
static std::pair<Word, int> words_of(llvm::IRBuilder<>& b, llvm::Type* mt, int bytes) {
  if (bytes >= 4)
    return {word_of(b, mt), bytes / 4};
  return {Word{b.getInt16Ty(), "h", bytes == 2 ? ".b16" : ".u8"}, 1};
}

// Packs a vector value into `words` words of type `wt` (a 1-byte vector widened to i16).
static std::vector<llvm::Value*> to_words(llvm::IRBuilder<>& b, llvm::Value* vec, int words,
                                          llvm::Type* wt) {
  const uint64_t vec_bits = vec->getType()->getPrimitiveSizeInBits();
  if (vec_bits == 8)
    return {b.CreateZExt(b.CreateBitCast(vec, b.getInt8Ty()), wt)};
  llvm::Value* w = b.CreateBitCast(vec, llvm::FixedVectorType::get(wt, words));
  std::vector<llvm::Value*> out;
  for (int i = 0; i < words; ++i)
    out.push_back(b.CreateExtractElement(w, b.getInt32(i)));
  return out;
}

// The inverse of to_words.
static llvm::Value* from_words(llvm::IRBuilder<>& b, const std::vector<llvm::Value*>& ws,
                               llvm::Type* vty) {
  if (vty->getPrimitiveSizeInBits() == 8)
    return b.CreateBitCast(b.CreateTrunc(ws[0], b.getInt8Ty()), vty);
  const int words = static_cast<int>(ws.size());
  llvm::Value* wv = llvm::PoisonValue::get(llvm::FixedVectorType::get(ws[0]->getType(), words));
  for (int i = 0; i < words; ++i)
    wv = b.CreateInsertElement(wv, ws[i], b.getInt32(i));
  return b.CreateBitCast(wv, vty);
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

// The qualifiers of a global access between `ld`/`st` and the vector suffix, in PTX's order
// (the PTX ISA, "ld"): `.volatile.global`; `.global.cg` (a cache operator);
// `.global.L1::evict_first` (an L1 eviction priority, which PTX does not combine with a cache
// operator, so an access with both keeps the operator); `.L2::cache_hint` when an eviction policy
// also gives an L2 policy.
static std::string access_qualifiers(const ir::MemModifiers& m) {
  if (m.is_volatile)
    return ".volatile.global";
  std::string q = ".global";
  const bool evicts = m.evict != ir::EvictionPolicy::normal;
  if (m.cache != ir::CacheModifier::none)
    q += fmt::format(".{}", ir::cache_modifier_name(m.cache));
  else if (evicts)
    q += m.evict == ir::EvictionPolicy::first ? ".L1::evict_first" : ".L1::evict_last";
  if (evicts)
    q += ".L2::cache_hint";
  return q;
}

// The 64-bit L2 cache policy an evict_first/evict_last access names (as Triton makes it): all of
// the access's lines at that priority. Pure, so LLVM shares one per kernel.
static llvm::Value* l2_policy(llvm::IRBuilder<>& b, ir::EvictionPolicy e) {
  const char* text = e == ir::EvictionPolicy::first
                         ? "createpolicy.fractional.L2::evict_first.b64 $0, 1.0;"
                         : "createpolicy.fractional.L2::evict_last.b64 $0, 1.0;";
  auto* fn = llvm::InlineAsm::get(llvm::FunctionType::get(b.getInt64Ty(), false), text, "=l",
                                  /*hasSideEffects=*/false);
  return b.CreateCall(fn);
}

// An inline-PTX call's operands, numbered in the order they are added after the outputs.
struct AsmOperands {
  std::string constraints;
  std::vector<llvm::Type*> types;
  std::vector<llvm::Value*> args;
  int next;
  int add(llvm::Value* v, const char* constraint) {
    constraints += fmt::format("{}{}", constraints.empty() ? "" : ",", constraint);
    types.push_back(v->getType());
    args.push_back(v);
    return next++;
  }
};

// A global load of `words` words as one `ld.global`: predicated as a whole when masked (the mask
// is a predicate operand ("b"), so no selp/setp pair converts it; the `other` words are moved into
// the destination registers first, which the load overwrites where the predicate holds), with
// the access's memory modifiers.
static llvm::Value* ptx_global_load(llvm::IRBuilder<>& b, llvm::LLVMContext& ctx, llvm::Type* vty,
                                    Word word, llvm::Value* ptr, llvm::Value* mask,
                                    llvm::Value* other_vec, int words,
                                    const ir::MemModifiers& mods) {
  std::string outs;
  for (int i = 0; i < words; ++i)
    outs += fmt::format("{}={}", i ? "," : "", word.constraint);
  AsmOperands in{outs, {}, {}, words};
  const int addr = in.add(ptr, "l");
  const int pred = mask ? in.add(mask, "b") : -1;
  const bool evicts = mods.evict != ir::EvictionPolicy::normal;
  const int policy = evicts ? in.add(l2_policy(b, mods.evict), "l") : -1;
  std::string text;
  if (mask) {
    const char* mov = word.type->isIntegerTy(16) ? "mov.b16" : "mov.b32";
    std::vector<llvm::Value*> other_words = to_words(b, other_vec, words, word.type);
    for (int i = 0; i < words; ++i)
      text += fmt::format("{} ${}, ${};\n ", mov, i, in.add(other_words[i], word.constraint));
  }
  text += fmt::format("{}ld{}{}{} {}, [${}]{};", mask ? fmt::format("@${} ", pred) : "",
                      access_qualifiers(mods), vector_suffix(words), word.ptx_type,
                      word_list(0, words), addr, evicts ? fmt::format(", ${}", policy) : "");
  std::vector<llvm::Type*> out_types(words, word.type);
  llvm::Type* ret = words == 1 ? word.type : llvm::StructType::get(ctx, out_types);
  auto* asm_fn = llvm::InlineAsm::get(llvm::FunctionType::get(ret, in.types, false), text,
                                      in.constraints, /*hasSideEffects=*/true);
  llvm::Value* r = b.CreateCall(asm_fn, in.args);
  std::vector<llvm::Value*> ws;
  for (int i = 0; i < words; ++i)
    ws.push_back(words == 1 ? r : b.CreateExtractValue(r, i));
  return from_words(b, ws, vty);
}

// A global store of `words` words as one `st.global`, predicated as a whole when masked, with
// the access's memory modifiers.
static void ptx_global_store(llvm::IRBuilder<>& b, Word word, llvm::Value* v, llvm::Value* ptr,
                             llvm::Value* mask, int words, const ir::MemModifiers& mods) {
  AsmOperands in{"", {}, {}, 0};
  const int pred = mask ? in.add(mask, "b") : -1;
  const int addr = in.add(ptr, "l");
  const int first = in.next;
  for (llvm::Value* x : to_words(b, v, words, word.type))
    in.add(x, word.constraint);
  const bool evicts = mods.evict != ir::EvictionPolicy::normal;
  const int policy = evicts ? in.add(l2_policy(b, mods.evict), "l") : -1;
  std::string text =
      fmt::format("{}st{}{}{} [${}], {}{};", mask ? fmt::format("@${} ", pred) : "",
                  access_qualifiers(mods), vector_suffix(words), word.ptx_type, addr,
                  word_list(first, words), evicts ? fmt::format(", ${}", policy) : "");
  in.constraints += ",~{memory}";
  auto* asm_fn = llvm::InlineAsm::get(llvm::FunctionType::get(b.getVoidTy(), in.types, false), text,
                                      in.constraints, /*hasSideEffects=*/true);
  b.CreateCall(asm_fn, in.args);
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
  const ir::MemModifiers mods = ir::mem_modifiers(op);
  const bool global = op.operand(0)->type()->element()->address_space() == 1;
  if (res->type()->rank() == 0) {
    llvm::Value* other =
        has_other ? to_mem(scalar(op.operand(2)), elem) : llvm::Constant::getNullValue(mt);
    llvm::Value* mask = has_mask ? scalar(op.operand(1)) : nullptr;
    llvm::Value* v = nullptr;
    if (global && mods.any()) {
      llvm::Type* vty = llvm::FixedVectorType::get(mt, 1);
      auto [word, words] = words_of(b, mt, static_cast<int>(elem_bytes));
      v = ptx_global_load(b, ctx, vty, word, scalar(op.operand(0)), mask,
                          build_vector(b, vty, {&other, 1}), words, mods);
      v = b.CreateExtractElement(v, b.getInt32(0));
    } else {
      v = branchy_load(*this, mt, scalar(op.operand(0)), mask, other, elem_bytes);
    }
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
  Vals loaded(n);
  for (int g = 0; g < n; g += w) {
    llvm::Type* vty = llvm::FixedVectorType::get(mt, w);
    std::vector<llvm::Value*> oth;
    for (int i = 0; i < w; ++i)
      oth.push_back(has_other ? to_mem(others[g + i], elem) : llvm::Constant::getNullValue(mt));
    llvm::Value* other_vec = build_vector(b, vty, oth);
    const int bytes = w * static_cast<int>(elem_bytes);
    llvm::Value* v = nullptr;
    if (global && mods.any()) {
      auto [word, words] = words_of(b, mt, bytes);
      v = ptx_global_load(b, ctx, vty, word, ptrs[g], has_mask ? masks[g] : nullptr, other_vec,
                          words, mods);
    } else if (!has_mask) {
      v = b.CreateAlignedLoad(vty, ptrs[g], llvm::Align(bytes));
    } else if (global && bytes >= 4) {
      v = ptx_global_load(b, ctx, vty, word_of(b, mt), ptrs[g], masks[g], other_vec, bytes / 4,
                          mods);
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
  const ir::MemModifiers mods = ir::mem_modifiers(op);
  const bool global = ptr->type()->element()->address_space() == 1;
  if (ptr->type()->rank() == 0) {
    // A scalar is replicated in every thread: only thread 0 of warp 0 stores it, or a
    // read-modify-write (`store(p, load(p) + 1)`) would be applied once per warp.
    llvm::Value* first = b.CreateAnd(b.CreateICmpEQ(lane_id(), b.getInt32(0)),
                                     b.CreateICmpEQ(warp_id(), b.getInt32(0)));
    llvm::Value* mask = has_mask ? b.CreateAnd(scalar(op.operand(2)), first) : first;
    llvm::Value* v = to_mem(scalar(op.operand(1)), elem);
    if (global && mods.any()) {
      auto [word, words] = words_of(b, mt, static_cast<int>(elem_bytes));
      llvm::Value* vec = build_vector(b, llvm::FixedVectorType::get(mt, 1), {&v, 1});
      ptx_global_store(b, word, vec, scalar(ptr), mask, words, mods);
      return;
    }
    branchy_store(*this, v, scalar(ptr), mask, elem_bytes);
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
    if (global && mods.any()) {
      auto [word, words] = words_of(b, mt, bytes);
      ptx_global_store(b, word, v, ptrs[g], mask, words, mods);
    } else if (mask && global && bytes >= 4) {
      ptx_global_store(b, word_of(b, mt), v, ptrs[g], mask, bytes / 4, mods);
    } else {
      branchy_store(*this, v, ptrs[g], mask, bytes);
    }
  }
}

} // namespace tessel::codegen::gpu::detail
