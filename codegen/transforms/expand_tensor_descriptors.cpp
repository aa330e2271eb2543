//===- expand-tensor-descriptors: desc_load / desc_store as masked load / store ---------------===//
//
// Where a target has no Tensor Memory Accelerator (the CPU, sm_80..sm_89), and for descriptors
// assign-tensor-maps left without a `tmap` (codegen/gpu/tensor_maps.cpp), a tensor descriptor's
// box is an ordinary tile of pointers with a mask, built the way a user would write it:
//   idx_d  = offsets[d] + arange(0, block[d])                     (one per dimension)
//   in_d   = idx_d >= 0 & idx_d < shape[d]
//   ptrs   = base + sum_d expand(idx_d) * strides[d]              (the innermost stride is 1)
//   load(ptrs, and_d expand(in_d), other = 0 or NaN) / store(ptrs, tile, and_d expand(in_d))
// which is TMA's tile mode exactly: elements outside the tensor read as the padding and are not
// written. Indices are i32 unless a shape or stride is i64. The per-dimension vectors stay 1-D
// until they are expanded and broadcast, so the axis analysis sees the contiguous innermost
// dimension (vectorized accesses on the GPU) and canonicalize folds constant offsets.
//
//===----------------------------------------------------------------------------------------===//
#include "codegen/transforms/passes.h"

#include "tessel/ir/builder.h"
#include "tessel/ir/tensor_desc.h"

#include <cmath>
#include <limits>
#include <vector>

namespace tessel::codegen {
namespace {

using namespace ir;

bool wants_i64(const DescOperands& d) {
  for (std::span<Value* const> values : {d.shape, d.strides})
    for (const Value* v : values)
      if (v->type()->dtype() == DType::i64 || v->type()->dtype() == DType::u64)
        return true;
  return false;
}

class Expander {
public:
  Expander(Builder& b, const Op& op)
      : b_(b), d_(desc_operands(op)), block_(op.attr("block").ints),
        index_(b.ctx().scalar(wants_i64(d_) ? DType::i64 : DType::i32)) {}

  // The pointer tile of the box and its in-bounds mask.
  std::pair<Value*, Value*> pointers_and_mask() {
    const size_t rank = block_.size();
    Value *offset = nullptr, *mask = nullptr;
    for (size_t dim = 0; dim < rank; ++dim) {
      Value* idx = indices(dim);
      Value* in = in_bounds(dim, idx);
      Value* term = dim + 1 == rank ? idx : mul(idx, splat(as_index(d_.strides[dim]), dim));
      term = expand(term, dim);
      in = expand(in, dim);
      offset = offset ? binary(Opcode::Add, offset, term) : term;
      mask = mask ? binary(Opcode::And, mask, in) : in;
    }
    const Type* ptr = d_.base->type();
    Value* ptrs = b_.value(Opcode::Splat, {d_.base}, b_.ctx().tensor(block_, ptr));
    return {b_.value(Opcode::AddPtr, {ptrs, offset}, ptrs->type()), mask};
  }

private:
  const Type* vec(size_t dim, const Type* elem) { return b_.ctx().tensor({block_[dim]}, elem); }
  Value* as_index(Value* v) {
    return v->type() == index_ ? v : b_.value(Opcode::Cast, {v}, index_);
  }
  Value* splat(Value* scalar, size_t dim) {
    return b_.value(Opcode::Splat, {scalar}, vec(dim, scalar->type()));
  }
  Value* mul(Value* a, Value* c) { return b_.value(Opcode::Mul, {a, c}, a->type()); }
  Value* binary(Opcode code, Value* a, Value* c) { return b_.value(code, {a, c}, a->type()); }

  // offsets[dim] + arange(0, block[dim]), in the index type.
  Value* indices(size_t dim) {
    Value* r = b_.value(Opcode::Arange, {}, vec(dim, b_.ctx().i32()),
                        {Attr::of_int(0), Attr::of_int(block_[dim])});
    Value* v = b_.value(Opcode::Add, {r, splat(d_.offsets[dim], dim)}, r->type());
    return index_ == b_.ctx().i32() ? v : b_.value(Opcode::Cast, {v}, vec(dim, index_));
  }
  Value* in_bounds(size_t dim, Value* idx) {
    const Type* i1 = vec(dim, b_.ctx().i1());
    Value* lo = b_.value(Opcode::CmpGe, {idx, b_.constant(idx->type(), 0)}, i1);
    Value* hi = b_.value(Opcode::CmpLt, {idx, splat(as_index(d_.shape[dim]), dim)}, i1);
    return b_.value(Opcode::And, {lo, hi}, i1);
  }
  // A 1-D vector along `dim` expanded (size-1 axes around it) and broadcast to the box.
  Value* expand(Value* v, size_t dim) {
    const size_t rank = block_.size();
    std::vector<int64_t> dims{block_[dim]};
    for (size_t k = 0; k < dim; ++k) {
      dims.insert(dims.begin(), 1);
      v = b_.value(Opcode::ExpandDims, {v}, b_.ctx().tensor(dims, v->type()->element()),
                   {Attr::of_int(0)});
    }
    while (dims.size() < rank) {
      dims.push_back(1);
      v = b_.value(Opcode::ExpandDims, {v}, b_.ctx().tensor(dims, v->type()->element()),
                   {Attr::of_int(int64_t(dims.size()) - 1)});
    }
    if (rank == 1)
      return v;
    return b_.value(Opcode::Broadcast, {v}, b_.ctx().tensor(block_, v->type()->element()));
  }

  Builder& b_;
  DescOperands d_;
  std::vector<int64_t> block_;
  const Type* index_;
};

void expand_load(Builder& b, Op& op, Block& body) {
  auto [ptrs, mask] = Expander(b, op).pointers_and_mask();
  const Type* r = op.result()->type();
  const bool nan = op.attr("padding").i == 1;
  Value* other = b.constant(r, nan ? std::numeric_limits<double>::quiet_NaN() : 0.0);
  Value* loaded = b.value(Opcode::Load, {ptrs, mask, other}, r);
  replace_all_uses(body, op.result(), loaded);
}

void expand_store(Builder& b, Op& op) {
  auto [ptrs, mask] = Expander(b, op).pointers_and_mask();
  b.create(Opcode::Store, {ptrs, desc_operands(op).tile, mask}, std::span<const Type* const>{});
}

void expand(Module& module, PassStats& stats) {
  for (auto& f : module.functions) {
    std::vector<Op*> ops;
    walk(f->body, [&](Op& op) {
      if ((op.opcode() == Opcode::DescLoad || op.opcode() == Opcode::DescStore) &&
          op.attr("tmap").kind == Attr::Kind::None)
        ops.push_back(&op);
    });
    Builder b(module.ctx);
    for (Op* op : ops) {
      b.set_insertion_point_before(*op);
      b.set_location(op->loc);
      const bool is_load = op->opcode() == Opcode::DescLoad;
      if (is_load)
        expand_load(b, *op, f->body);
      else
        expand_store(b, *op);
      op->parent_block()->erase(op);
      ++stats[is_load ? "loads" : "stores"];
    }
  }
}

} // namespace

PassInfo expand_tensor_descriptors_pass() {
  return {"expand-tensor-descriptors",
          "Rewrites desc_load / desc_store without a tensor map (tmap) into masked load / store "
          "of the box.",
          expand};
}

} // namespace tessel::codegen
