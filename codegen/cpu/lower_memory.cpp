// Loads and stores of the CPU lowering. A load is always stored into a stack array at its place
// in program order (so later stores cannot change what it read); its pointer, mask and `other`
// operands are usually lazy, so the loop reads contiguous addresses. Masked elements branch
// around the memory access (masked-off addresses are never touched, ir.h); LLVM's vectorizer
// if-converts the branch into masked vector loads and stores. In checked mode each executed
// access is bounds-checked first (lower_checks.cpp), and no load is fused.
#include "codegen/cpu/lowering.h"

#include <cstdint>
#include <optional>
#include <unordered_set>

namespace tessel::codegen::cpu::detail {

namespace {

// Emits `access` only where `mask` holds; returns the block the builder continues in.
void guarded(Lowering& l, llvm::Value* mask, const std::function<void()>& access,
             const std::function<void(llvm::BasicBlock* from_access, llvm::BasicBlock* from_skip)>&
                 join = nullptr) {
  llvm::BasicBlock* skip_from = l.b.GetInsertBlock();
  auto* then = llvm::BasicBlock::Create(l.ctx, "masked", l.llfn);
  auto* cont = llvm::BasicBlock::Create(l.ctx, "masked.cont", l.llfn);
  l.b.CreateCondBr(mask, then, cont);
  l.b.SetInsertPoint(then);
  access();
  llvm::BasicBlock* access_end = l.b.GetInsertBlock();
  l.b.CreateBr(cont);
  l.b.SetInsertPoint(cont);
  if (join)
    join(access_end, skip_from);
}

const ir::Op* defined_by(const ir::Value* v, ir::Opcode opcode) {
  const ir::Op* op = v->defining_op();
  return op && op->opcode() == opcode ? op : nullptr;
}

// The scalar a tile repeats (splat, or a broadcast of a scalar), else null.
const ir::Value* repeated_scalar(const ir::Value* v) {
  const ir::Op* op = defined_by(v, ir::Opcode::Splat);
  if (!op)
    op = defined_by(v, ir::Opcode::Broadcast);
  return op && op->operand(0)->type()->rank() == 0 ? op->operand(0) : nullptr;
}

// The column mask of nearly every row kernel: `s + arange(start, end) < n` (i32 elements, s and
// n scalars, s optional).
struct AffineMask {
  const ir::Value* offset; // s, or null
  const ir::Value* n;
  int64_t start, end;
};

std::optional<AffineMask> match_affine_mask(const ir::Value* mask) {
  const ir::Op* cmp = defined_by(mask, ir::Opcode::CmpLt);
  if (!cmp || mask->type()->rank() != 1 ||
      cmp->operand(0)->type()->element()->dtype() != DType::i32)
    return std::nullopt;
  const ir::Value* n = repeated_scalar(cmp->operand(1));
  const ir::Value* offset = nullptr;
  const ir::Op* range = defined_by(cmp->operand(0), ir::Opcode::Arange);
  if (const ir::Op* add = defined_by(cmp->operand(0), ir::Opcode::Add); add && !range)
    for (int i : {0, 1})
      if (defined_by(add->operand(i), ir::Opcode::Arange) && repeated_scalar(add->operand(1 - i))) {
        range = add->operand(i)->defining_op();
        offset = repeated_scalar(add->operand(1 - i));
      }
  if (!n || !range)
    return std::nullopt;
  return AffineMask{offset, n, range->int_attr("start"), range->int_attr("end")};
}

// Whether every element of an affine mask holds, in closed form. Its elements all hold exactly
// when the largest, s + end - 1, is below n (and the smallest, s + start, does not leave i32), so
// one comparison in 64 bits replaces a loop over the block — in which LLVM widened the i32
// compares to 64-bit ones on the loop's i64 index (vpcmpgtq, 8 lanes), a cost paid again for
// every masked load and store of a row.
llvm::Value* affine_mask_all_true(Lowering& l, const AffineMask& m) {
  auto& b = l.b;
  auto wide = [&](const ir::Value* v) { return b.CreateSExt(l.element(v, {}), b.getInt64Ty()); };
  llvm::Value* s = m.offset ? wide(m.offset) : b.getInt64(0);
  llvm::Value* lo = b.CreateAdd(s, b.getInt64(m.start));
  llvm::Value* hi = b.CreateAdd(s, b.getInt64(m.end - 1));
  return b.CreateAnd(b.CreateICmpSLT(hi, wide(m.n)), b.CreateICmpSGE(lo, b.getInt64(INT32_MIN)),
                     "mask.affine.full");
}

// Whether every element of a leaf mask holds: in closed form where it is affine, a scalar as
// itself, else by a loop over its own elements.
llvm::Value* leaf_all_true(Lowering& l, const ir::Value* mask) {
  if (mask->type()->rank() == 0)
    return l.element(mask, {});
  if (std::optional<AffineMask> affine = match_affine_mask(mask))
    return affine_mask_all_true(l, *affine);
  auto& b = l.b;
  llvm::Value* slot;
  {
    llvm::IRBuilder<> eb(l.entry_block, l.entry_block->begin());
    slot = eb.CreateAlloca(b.getInt1Ty());
  }
  b.CreateStore(b.getTrue(), slot);
  l.loop_nest(mask->type()->dims(), [&](const Index& idx) {
    b.CreateStore(b.CreateAnd(b.CreateLoad(b.getInt1Ty(), slot), l.element(mask, idx)), slot);
  });
  return b.CreateLoad(b.getInt1Ty(), slot);
}

// Whether every element of `mask` holds. An `and` holds everywhere when both operands do, and a
// splat, broadcast, expand_dims, reshape or permute when its source does (each source element
// appears in it): so a 2-d tile mask `rows < M & cols < N`, the and of a [BM, 1] and a [1, BN]
// mask broadcast, costs BM + BN evaluations instead of a loop over all BM * BN elements.
llvm::Value* mask_all_true(Lowering& l, const ir::Value* mask) {
  if (l.is_known_true_mask(mask))
    return l.b.getTrue();
  const ir::Op* op = mask->defining_op();
  if (mask->type()->rank() == 0 || !op)
    return leaf_all_true(l, mask);
  switch (op->opcode()) {
  case ir::Opcode::And:
    if (op->operand(0)->type()->element()->is_bool() &&
        op->operand(1)->type()->element()->is_bool())
      return l.b.CreateAnd(mask_all_true(l, op->operand(0)), mask_all_true(l, op->operand(1)));
    return leaf_all_true(l, mask);
  case ir::Opcode::Splat:
  case ir::Opcode::Broadcast:
  case ir::Opcode::ExpandDims:
  case ir::Opcode::Reshape:
  case ir::Opcode::Permute:
  case ir::Opcode::ConvertLayout:
    return mask_all_true(l, op->operand(0));
  default:
    return leaf_all_true(l, mask);
  }
}

// The masks that evaluating `v` lazily computes per element, not yet known to hold; each value
// of the expression is visited once. Always the affine ones (where selects, fused loads' masks);
// with `load_masks` also the mask of every fused load, whatever its form (a dot's operand tile,
// `rows < M & k < K`, is read through one).
void collect_lazy_masks(const Lowering& l, const ir::Value* v, bool load_masks,
                        std::vector<const ir::Value*>& out,
                        std::unordered_set<const ir::Value*>& seen) {
  if (v->type()->rank() == 0 || l.rep(v).kind != Rep::Kind::Lazy || !seen.insert(v).second)
    return;
  if (match_affine_mask(v)) {
    if (!l.is_known_true_mask(v))
      out.push_back(v);
    return;
  }
  const ir::Op* op = v->defining_op();
  const ir::Value* load_mask =
      load_masks && op->opcode() == ir::Opcode::Load && op->num_operands() > 1 ? op->operand(1)
                                                                               : nullptr;
  if (load_mask && !l.is_known_true_mask(load_mask) &&
      std::find(out.begin(), out.end(), load_mask) == out.end())
    out.push_back(load_mask);
  for (const ir::Value* operand : op->operands())
    if (operand != load_mask)
      collect_lazy_masks(l, operand, load_masks, out, seen);
}

// The masks in the lazy expressions of `roots` (null entries skipped), each once.
std::vector<const ir::Value*> lazy_masks_of(const Lowering& l,
                                            std::initializer_list<const ir::Value*> roots,
                                            bool load_masks = false) {
  std::vector<const ir::Value*> masks;
  std::unordered_set<const ir::Value*> seen;
  for (const ir::Value* r : roots)
    if (r)
      collect_lazy_masks(l, r, load_masks, masks, seen);
  return masks;
}

// Emits `emit(/*masked=*/false)` where `mask` (when given) holds for every element and every one
// of `lazy` holds, else `emit(/*masked=*/true)`. The fast copy sees them all as known
// true: a fused load there reads unguarded, and a mask's elements are the constant true.
void with_full_mask_fast_path(Lowering& l, const ir::Value* mask,
                              std::span<const ir::Value* const> lazy,
                              const std::function<void(bool masked)>& emit) {
  auto& b = l.b;
  llvm::Value* all = mask ? mask_all_true(l, mask) : nullptr;
  for (const ir::Value* m : lazy) {
    if (m == mask)
      continue;
    llvm::Value* one = mask_all_true(l, m);
    all = all ? b.CreateAnd(all, one) : one;
  }
  if (!all) {
    emit(false);
    return;
  }
  auto* fast = llvm::BasicBlock::Create(l.ctx, "mask.full", l.llfn);
  auto* slow = llvm::BasicBlock::Create(l.ctx, "mask.partial", l.llfn);
  auto* join = llvm::BasicBlock::Create(l.ctx, "mask.join", l.llfn);
  b.CreateCondBr(all, fast, slow);
  b.SetInsertPoint(fast);
  size_t known = l.known_true_masks.size();
  if (mask)
    l.known_true_masks.push_back(mask);
  l.known_true_masks.insert(l.known_true_masks.end(), lazy.begin(), lazy.end());
  emit(false);
  l.known_true_masks.resize(known);
  b.CreateBr(join);
  b.SetInsertPoint(slow);
  emit(mask != nullptr);
  b.CreateBr(join);
  b.SetInsertPoint(join);
}

} // namespace

void Lowering::with_lazy_masks_fast_path(std::initializer_list<const ir::Value*> roots,
                                         const std::function<void()>& emit, bool load_masks) {
  std::vector<const ir::Value*> lazy = lazy_masks_of(*this, roots, load_masks);
  with_full_mask_fast_path(*this, nullptr, lazy, [&](bool) { emit(); });
}

bool Lowering::is_known_true_mask(const ir::Value* mask) const {
  return std::find(known_true_masks.begin(), known_true_masks.end(), mask) !=
         known_true_masks.end();
}

namespace {

bool writes_memory(const ir::Op& op) {
  // Regions may hold stores; look no further.
  return op.opcode() == ir::Opcode::Store || op.has(ir::ATOMIC) || op.num_regions() > 0;
}

} // namespace

// The loaded value may be read several times, through a DAG of lazy ops (gelu's `x * cdf(x)`), as
// long as the whole DAG ends in one op of the same block: re-reading the addresses there (once per
// element and basic block: the element cache) sees what the load would have seen when no memory
// write comes between the load and that op. A lazy value of the DAG that is stored on its own
// (should_store) reads them once more, also in that stretch. Before session 9 only single-use
// chains were fused, and the f32 activations copied each input block to the stack first.
bool Lowering::can_fuse_load(const ir::Op& load) {
  const ir::Value* loaded = load.result();
  // Lazy code creates no blocks, and a bounds check branches.
  if (loaded->type()->rank() == 0 || checked)
    return false;
  // 16-bit (and narrower) elements read several times keep their copy: at 4096 x 4096 bf16,
  // from DRAM, fusing them cost silu, silu_backward and gelu_tanh 10-35 % more CPU time (and
  // saved ~8 % at 8192 x 1024, from L3; bench/RESULTS.md, "Session 9, activations").
  const ir::Type* elem = loaded->type()->element();
  const bool narrow = !elem->is_pointer() && dtype_bytes(elem->dtype()) < 4;
  const ir::Block& block = *load.parent_block();
  std::unordered_set<const ir::Value*> dag{loaded};
  const ir::Op* sink = nullptr; // the one op that evaluates the DAG
  bool after_load = false;
  for (const auto& op : block.ops()) {
    if (op.get() == &load) {
      after_load = true;
      continue;
    }
    if (!after_load)
      continue;
    bool reads_dag = false;
    for (const ir::Value* operand : op->operands())
      reads_dag = reads_dag || dag.count(operand) > 0;
    if (reads_dag && can_be_lazy(op->opcode()) && op->num_results() == 1 &&
        op->result()->type()->rank() != 0) {
      dag.insert(op->result());
      continue;
    }
    if (reads_dag) {
      if (sink) // a second consumer: the first may have written memory, or be a reduction
        return false;
      sink = op.get();
      continue;
    }
    if (!sink && writes_memory(*op))
      return false;
  }
  if (!sink || sink->opcode() == ir::Opcode::Load) // an address from loaded values: keep order
    return false;
  for (const ir::Value* v : dag) {
    const UseInfo& u = uses_[v];
    if (u.outside_block)
      return false;
    if (u.count > 1 && narrow)
      return false;
  }
  return true;
}

llvm::Value* Lowering::fused_load_element(const ir::Op& op, const Index& idx) {
  auto at = [&](const ir::Value* v) { return element(v, v->type()->rank() == 0 ? Index{} : idx); };
  const ir::Type* elem = op.result()->type()->element();
  llvm::Value* p = at(op.operand(0));
  const ir::Value* mask = op.num_operands() > 1 ? op.operand(1) : nullptr;
  if (!mask || is_known_true_mask(mask))
    return load_element(p, elem);
  // No branches in lazy code: masked-off elements read a stack slot instead of their address.
  llvm::Value* m = at(mask);
  llvm::Value* dummy;
  {
    llvm::IRBuilder<> eb(entry_block, entry_block->begin());
    dummy = eb.CreateAlloca(b.getInt64Ty());
    eb.CreateStore(b.getInt64(0), dummy);
  }
  llvm::Value* v = load_element(b.CreateSelect(m, p, dummy), elem);
  llvm::Value* other =
      op.num_operands() > 2 ? at(op.operand(2)) : llvm::Constant::getNullValue(v->getType());
  return b.CreateSelect(m, v, other);
}

void Lowering::lower_load(const ir::Op& op) {
  if (op.num_operands() < 1 || op.num_operands() > 3)
    unsupported(op, "expects `load ptr [, mask [, other]]`");
  const ir::Value* ptr = op.operand(0);
  const ir::Value* mask = op.num_operands() > 1 ? op.operand(1) : nullptr;
  const ir::Value* other = op.num_operands() > 2 ? op.operand(2) : nullptr;
  const ir::Type* rt = op.result()->type();
  const ir::Type* elem = rt->element();
  if (!ptr->type()->is_pointer_like())
    unsupported(op, "the address operand is not a pointer");
  if (can_fuse_load(op)) {
    reps_[op.result()] = Rep{Rep::Kind::Lazy, nullptr, nullptr};
    return;
  }

  // One element, in the compute type, or with `raw` in the storage type (what the stack array
  // holds: a bf16 or f16 load is copied as its bits rather than widened and rounded back).
  auto one = [&](const Index& idx, bool masked, bool raw) -> llvm::Value* {
    auto at = [&](const ir::Value* v) {
      return element(v, v->type()->rank() == 0 ? Index{} : idx);
    };
    auto read = [&](llvm::Value* p) {
      return raw ? b.CreateLoad(storage_type(elem), p) : load_element(p, elem);
    };
    llvm::Value* p = at(ptr);
    if (!masked) {
      check_access(op, p, elem, /*is_store=*/false);
      return read(p);
    }
    llvm::Value* fallback = other ? at(other) : llvm::Constant::getNullValue(compute_type(elem));
    if (raw)
      fallback = to_storage(fallback, elem);
    llvm::Value* m = at(mask);
    llvm::Value* loaded = nullptr;
    llvm::Value* out = nullptr;
    guarded(
        *this, m,
        [&] {
          check_access(op, p, elem, /*is_store=*/false);
          loaded = read(p);
        },
        [&](llvm::BasicBlock* from_access, llvm::BasicBlock* from_skip) {
          llvm::PHINode* phi = b.CreatePHI(fallback->getType(), 2);
          phi->addIncoming(loaded, from_access);
          phi->addIncoming(fallback, from_skip);
          out = phi;
        });
    return out;
  };

  if (rt->rank() == 0) {
    set_scalar(op.result(), one({}, mask != nullptr, /*raw=*/false));
    return;
  }
  llvm::Value* storage = new_array(rt);
  auto fill = [&](bool masked) {
    loop_nest(rt->dims(), [&](const Index& idx) {
      b.CreateStore(one(idx, masked, /*raw=*/true), element_address(storage, rt, idx));
    });
  };
  with_full_mask_fast_path(*this, mask, lazy_masks_of(*this, {ptr, other}), fill);
  set_stored(op.result(), storage);
}

void Lowering::lower_store(const ir::Op& op) {
  if (op.num_operands() < 2 || op.num_operands() > 3)
    unsupported(op, "expects `store ptr, value [, mask]`");
  const ir::Value* ptr = op.operand(0);
  const ir::Value* value = op.operand(1);
  const ir::Value* mask = op.num_operands() > 2 ? op.operand(2) : nullptr;
  if (!ptr->type()->is_pointer_like())
    unsupported(op, "the address operand is not a pointer");
  const ir::Type* elem = ptr->type()->element()->pointee();
  auto write = [&](bool masked) {
    loop_nest(ptr->type()->dims(), [&](const Index& idx) {
      auto at = [&](const ir::Value* v) {
        return element(v, v->type()->rank() == 0 ? Index{} : idx);
      };
      // Value and address are computed unconditionally (they never trap); only the access is
      // predicated, which keeps the loop body simple for the vectorizer.
      llvm::Value* p = at(ptr);
      llvm::Value* v = at(value);
      auto access = [&] {
        check_access(op, p, elem, /*is_store=*/true);
        store_element(v, p, elem);
      };
      if (!masked) {
        access();
        return;
      }
      guarded(*this, at(mask), access);
    });
  };
  if (ptr->type()->rank() == 0) {
    write(mask != nullptr);
    return;
  }
  with_full_mask_fast_path(*this, mask, lazy_masks_of(*this, {ptr, value}), write);
}

} // namespace tessel::codegen::cpu::detail
