// Block pointers (tessel/lang/block_ptr.h): make_block_ptr checks the pointer against Triton's
// rules and TMA's (tessel/ir/tensor_desc.h) at the user's line; advance adds to the offsets; load
// and store record the same desc_load / desc_store a tensor descriptor does (dsl/desc_ops.h), with
// the dimensions put in memory order (innermost last) and the tile permuted to and from the
// block pointer's order, so that every backend lowers block pointers the way it lowers
// descriptors.
#include "tessel/lang/block_ptr.h"

#include "tessel/ir/tensor_desc.h"
#include "tessel/lang/ops.h"

#include "dsl/desc_ops.h"
#include "dsl/tracer.h"
#include "dsl/type_rules.h"

#include <algorithm>
#include <numeric>

namespace tessel::lang {

using detail::fail;
using detail::shape_str;
using detail::type_str;

namespace {

constexpr const char* kMake = "make_block_ptr";

void check_counts(size_t rank, std::initializer_list<std::pair<const char*, size_t>> counts,
                  const SourceLoc& loc) {
  if (rank < 1 || rank > size_t(ir::kMaxDescRank))
    fail(loc, kMake,
         "block_shape has " + std::to_string(rank) + " dimensions; a block pointer has 1 to " +
             std::to_string(ir::kMaxDescRank) + " (TMA's limit)");
  for (auto [what, n] : counts)
    if (n != rank)
      fail(loc, kMake,
           std::string(what) + " has " + std::to_string(n) + " entries but block_shape has " +
               std::to_string(rank) + "; give one per dimension");
}

void check_order(const std::vector<int64_t>& order, const SourceLoc& loc) {
  std::vector<int64_t> sorted = order;
  std::ranges::sort(sorted);
  for (size_t i = 0; i < sorted.size(); ++i)
    if (sorted[i] != int64_t(i))
      fail(loc, kMake,
           "order " + shape_str(order) + " is not a permutation of the dimensions 0.." +
               std::to_string(order.size() - 1) +
               " (it lists them from the fastest-varying in memory to the slowest)");
}

void check_powers_of_two(const Shape& block, const SourceLoc& loc) {
  for (size_t i = 0; i < block.size(); ++i)
    if (block[i] < 1 || (block[i] & (block[i] - 1)) != 0)
      fail(loc, kMake,
           "block_shape[" + std::to_string(i) + "] = " + std::to_string(block[i]) +
               " is not a power of two (tile shapes are)");
}

// The block pointer's dimensions in memory order, outermost first: memory dim j is the pointer's
// dim order[rank - 1 - j].
std::vector<int64_t> memory_dims(const std::vector<int64_t>& order) {
  return {order.rbegin(), order.rend()};
}

bool is_identity(const std::vector<int64_t>& perm) {
  for (size_t i = 0; i < perm.size(); ++i)
    if (perm[i] != int64_t(i))
      return false;
  return true;
}

template <class T> std::vector<T> permuted(const std::vector<T>& v, const std::vector<int64_t>& p) {
  std::vector<T> out;
  for (int64_t d : p)
    out.push_back(v[size_t(d)]);
  return out;
}

// A TMA rule checked on the box in memory order; when that order is not the pointer's, the
// message says how its indices map back.
void check_memory_rule(const std::optional<std::string>& why, const std::vector<int64_t>& perm,
                       const SourceLoc& loc) {
  if (!why)
    return;
  std::string note;
  if (!is_identity(perm))
    note = " (the indices are in memory order, innermost last: dimensions " + shape_str(perm) +
           " of the block pointer)";
  fail(loc, kMake, *why + note);
}

void check_boundary(int rank, const std::vector<int>& dims, const char* op, const SourceLoc& loc) {
  std::vector<bool> seen(size_t(rank), false);
  for (int d : dims) {
    if (d < 0 || d >= rank)
      fail(loc, op,
           "boundary_check names dimension " + std::to_string(d) + " of a block pointer with " +
               std::to_string(rank) + " dimensions");
    if (seen[size_t(d)])
      fail(loc, op, "boundary_check names dimension " + std::to_string(d) + " twice");
    seen[size_t(d)] = true;
  }
}

// Assigns `to = from` only when they hold different values, so that an unchanged handle does not
// become a carried value of the loop body the assignment is in.
void assign_if_changed(Tensor& to, const Tensor& from, const SourceLoc& loc) {
  if (to.value(loc) != from.value(loc))
    to = from;
}

} // namespace

BlockPtr& BlockPtr::operator=(const BlockPtr& other) {
  if (this == &other)
    return *this;
  const SourceLoc& loc = other.made_;
  if (other.block_ != block_ || other.order_ != order_ || other.dtype_ != dtype_)
    fail(loc, "block pointer assignment",
         "a block pointer keeps its block_shape, order and element type (" + shape_str(block_) +
             ", order " + shape_str(order_) + ", " + std::string(dtype_name(dtype_)) +
             "), but the value assigned has " + shape_str(other.block_) + ", order " +
             shape_str(other.order_) + ", " + std::string(dtype_name(other.dtype_)) +
             "; use another variable");
  assign_if_changed(base_, other.base_, loc);
  for (size_t i = 0; i < block_.size(); ++i) {
    assign_if_changed(shape_[i], other.shape_[i], loc);
    assign_if_changed(strides_[i], other.strides_[i], loc);
    assign_if_changed(offsets_[i], other.offsets_[i], loc);
  }
  made_ = other.made_;
  return *this;
}

BlockPtr make_block_ptr(const Tensor& base, const shape& dims, const strides& steps,
                        const offsets& at, const block_shape& box, const order& memory_order,
                        std::source_location l) {
  const SourceLoc loc = SourceLoc::from(l);
  ir::Value* b = base.value(loc);
  if (!b->type()->is_pointer())
    fail(loc, kMake,
         "base must be a scalar pointer (a Ptr parameter, or one plus a scalar offset), got " +
             type_str(b->type()));
  const DType t = b->type()->pointee()->dtype();
  const Shape& block = box.dims;
  const std::vector<int64_t>& order = memory_order.dims;
  const size_t rank = block.size();
  check_counts(rank,
               {{"shape", dims.dims.size()},
                {"strides", steps.dims.size()},
                {"offsets", at.dims.size()},
                {"order", order.size()}},
               loc);
  check_order(order, loc);
  check_powers_of_two(block, loc);
  if (auto why = ir::check_desc_element(t))
    fail(loc, kMake, *why);
  const std::vector<int64_t> perm = memory_dims(order);
  check_memory_rule(ir::check_desc_block(t, permuted(block, perm)), perm, loc);
  std::vector<Tensor> extents, step_values, offset_values;
  for (size_t i = 0; i < rank; ++i) {
    const Index& extent = dims.dims[i];
    if (!extent.is_tensor && extent.number < 1)
      fail(loc, kMake,
           "shape[" + std::to_string(i) + "] = " + std::to_string(extent.number) +
               " must be at least 1");
    const Index& s = steps.dims[i];
    const bool contiguous = int64_t(i) == order[0];
    if (contiguous && (s.is_tensor || s.number != 1))
      fail(loc, kMake,
           "strides[" + std::to_string(i) +
               "] must be the constant 1: order[0] = " + std::to_string(i) +
               " names the contiguous dimension (TMA and the masked copy read it as consecutive "
               "elements), got " +
               (s.is_tensor ? std::string("a run-time value") : std::to_string(s.number)));
    if (!s.is_tensor && !contiguous) {
      const int j = int(std::ranges::find(perm, int64_t(i)) - perm.begin());
      if (auto why = ir::check_desc_stride(t, j, int(rank), s.number))
        fail(loc, kMake,
             "strides[" + std::to_string(i) + "] = " + std::to_string(s.number) + ": " + *why);
    }
    extents.push_back(detail::desc_extent(extent, kMake, "shape", i, loc));
    step_values.push_back(detail::desc_extent(s, kMake, "strides", i, loc));
    offset_values.push_back(Tensor(detail::desc_coordinate(at.dims[i], i, kMake, loc)));
  }
  return BlockPtr(base, std::move(extents), std::move(step_values), std::move(offset_values), block,
                  order, t, loc);
}

BlockPtr advance(const BlockPtr& p, const std::vector<Index>& deltas, std::source_location l) {
  const SourceLoc loc = SourceLoc::from(l);
  if (int(deltas.size()) != p.rank())
    fail(loc, "advance",
         "takes " + std::to_string(p.rank()) +
             " offsets, one per dimension of the block pointer, got " +
             std::to_string(deltas.size()));
  BlockPtr out = p;
  out.made_ = loc;
  ir::Builder& b = detail::builder_at(loc);
  for (size_t i = 0; i < deltas.size(); ++i) {
    // A constant 0 keeps the handle: that offset is then no carried value of a loop.
    if (!deltas[i].is_tensor && deltas[i].number == 0)
      continue;
    ir::Value* d = detail::desc_coordinate(deltas[i], i, "advance", loc);
    ir::Value* o = p.offsets_[i].value(loc);
    out.offsets_[i].rebind(b.value(ir::Opcode::Add, {o, d}, o->type()));
  }
  return out;
}

Tensor load(const BlockPtr& p, const std::vector<int>& boundary_check, Padding padding,
            std::source_location l) {
  const SourceLoc loc = SourceLoc::from(l);
  check_boundary(p.rank(), boundary_check, "load", loc);
  if (auto why = ir::check_desc_padding(p.dtype_, int64_t(padding)))
    fail(loc, "load", *why);
  const std::vector<int64_t> perm = memory_dims(p.order_);
  const std::vector<Tensor> shape = permuted(p.shape_, perm), strides = permuted(p.strides_, perm);
  const Shape block = permuted(p.block_, perm);
  std::vector<ir::Value*> at;
  for (int64_t d : perm)
    at.push_back(p.offsets_[size_t(d)].value(loc));
  const detail::DescParts parts{p.base_, shape, strides, block, p.dtype_, {.padding = padding}};
  Tensor tile(detail::emit_desc_load(parts, at, loc));
  if (is_identity(perm))
    return tile;
  std::vector<int64_t> inverse(perm.size());
  for (size_t j = 0; j < perm.size(); ++j)
    inverse[size_t(perm[j])] = int64_t(j);
  return permute(tile, inverse, l);
}

void store(const BlockPtr& p, const Tensor& tile, const std::vector<int>& boundary_check,
           std::source_location l) {
  const SourceLoc loc = SourceLoc::from(l);
  check_boundary(p.rank(), boundary_check, "store", loc);
  ir::Value* v = tile.value(loc);
  if (v->type()->is_pointer_like())
    fail(loc, "store", "storing pointers is not supported (tile " + type_str(v->type()) + ")");
  if (!std::ranges::equal(v->type()->dims(), p.block_))
    fail(loc, "store",
         "the tile is " + type_str(v->type()) + " but the block pointer's block_shape is " +
             shape_str(p.block_) + "; store a tile of that shape");
  const std::vector<int64_t> perm = memory_dims(p.order_);
  Tensor value(detail::convert(v, p.dtype_, loc));
  if (!is_identity(perm))
    value = permute(value, perm, l);
  const std::vector<Tensor> shape = permuted(p.shape_, perm), strides = permuted(p.strides_, perm);
  const Shape block = permuted(p.block_, perm);
  std::vector<ir::Value*> at;
  for (int64_t d : perm)
    at.push_back(p.offsets_[size_t(d)].value(loc));
  const detail::DescParts parts{p.base_, shape, strides, block, p.dtype_, {}};
  detail::emit_desc_store(parts, at, value.value(loc), loc);
}

} // namespace tessel::lang
