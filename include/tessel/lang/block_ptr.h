// Block pointers (Triton's tl.make_block_ptr / tl.advance): a tensor descriptor that carries its
// own offsets, so that a loop can walk it box by box.
//
//   auto a = tl::make_block_ptr(a_ptr, tl::shape{M, K}, tl::strides{lda, 1},
//                               tl::offsets{pid_m * BM, 0}, tl::block_shape{BM, BK},
//                               tl::order{1, 0});
//   tl::for_range(0, K, BK, [&](tl::Int) {
//     acc = tl::dot(tl::load(a, {0, 1}), tl::load(b, {0, 1}), acc);
//     a = tl::advance(a, {0, BK});          // the offsets are carried scalars of the loop
//     b = tl::advance(b, {BK, 0});
//   });
//   tl::store(c, acc, {0, 1});
//
// `order` lists the dimensions from the fastest-varying in memory to the slowest ({1, 0}: row-
// major, {0, 1}: a column-major / transposed view); the dimension order[0] has the constant
// stride 1. A load and a store are a desc_load / desc_store of the same tensor with its
// dimensions in memory order (tessel/lang/tensor_descriptor.h), permuted to and from the
// block pointer's order: on sm_90a they go through TMA where a tensor descriptor would, elsewhere
// they are masked loads and stores. Every dimension is bounds-checked (reads outside read the
// padding, writes outside are skipped), whatever boundary_check lists: Triton leaves an
// unchecked dimension undefined out of bounds, and checking it gives the same results inside.
// docs/language.md "Block pointers".
#pragma once

#include "tessel/lang/tensor_descriptor.h"

#include <cstdint>
#include <initializer_list>
#include <source_location>
#include <vector>

namespace tessel::lang {

// The arguments of make_block_ptr, named as in Triton; a braced list converts to each.
struct shape {
  shape(std::initializer_list<Index> v) : dims(v) {}
  shape(std::vector<Index> v) : dims(std::move(v)) {}
  std::vector<Index> dims;
};
struct strides {
  strides(std::initializer_list<Index> v) : dims(v) {}
  strides(std::vector<Index> v) : dims(std::move(v)) {}
  std::vector<Index> dims;
};
struct offsets {
  offsets(std::initializer_list<Index> v) : dims(v) {}
  offsets(std::vector<Index> v) : dims(std::move(v)) {}
  std::vector<Index> dims;
};
struct block_shape {
  block_shape(std::initializer_list<int64_t> v) : dims(v) {}
  block_shape(Shape v) : dims(std::move(v)) {}
  Shape dims;
};
struct order {
  order(std::initializer_list<int64_t> v) : dims(v) {}
  order(std::vector<int64_t> v) : dims(std::move(v)) {}
  std::vector<int64_t> dims;
};

class BlockPtr {
public:
  using Loc = std::source_location;
  BlockPtr(const BlockPtr&) = default;
  // Assigns only the handles that differ, so that in a loop body `p = tl::advance(p, ...)` makes
  // the offsets (and nothing else) carried values; the block shape, order and element type
  // cannot change (an error).
  BlockPtr& operator=(const BlockPtr& other);

  const Shape& block_shape() const { return block_; }
  const std::vector<int64_t>& order() const { return order_; }
  int rank() const { return int(block_.size()); }
  DType dtype() const { return dtype_; }

private:
  friend BlockPtr make_block_ptr(const Tensor&, const lang::shape&, const lang::strides&,
                                 const lang::offsets&, const lang::block_shape&, const lang::order&,
                                 Loc);
  friend BlockPtr advance(const BlockPtr&, const std::vector<Index>&, Loc);
  friend Tensor load(const BlockPtr&, const std::vector<int>&, Padding, Loc);
  friend void store(const BlockPtr&, const Tensor&, const std::vector<int>&, Loc);
  BlockPtr(const Tensor& base, std::vector<Tensor> shape, std::vector<Tensor> strides,
           std::vector<Tensor> offsets, Shape block, std::vector<int64_t> order, DType dtype,
           SourceLoc made)
      : base_(base), shape_(std::move(shape)), strides_(std::move(strides)),
        offsets_(std::move(offsets)), block_(std::move(block)), order_(std::move(order)),
        dtype_(dtype), made_(made) {}
  Tensor base_;
  std::vector<Tensor> shape_, strides_, offsets_; // one per dimension, in the user's order
  Shape block_;
  std::vector<int64_t> order_;
  DType dtype_ = DType::f32;
  SourceLoc made_; // where this value was made (make_block_ptr or advance), for errors
};

// A block pointer onto the tensor at `base` (a scalar pointer): shape, strides (elements) and the
// offsets of the first box, one per dimension (handles or C++ integers), the box's block_shape
// (powers of two) and the memory order. Mistakes throw tessel::Error at the caller's line.
BlockPtr make_block_ptr(const Tensor& base, const shape& dims, const strides& steps,
                        const offsets& at, const block_shape& box, const order& memory_order,
                        std::source_location loc = std::source_location::current());

// `p` with `deltas` (one per dimension, i32 handles or C++ integers) added to its offsets.
BlockPtr advance(const BlockPtr& p, const std::vector<Index>& deltas,
                 std::source_location loc = std::source_location::current());

// The box at p's offsets, a tile of p.block_shape(). boundary_check names dimensions (each at most
// once, in [0, rank)); every dimension is checked either way (see above). Padding::zero or
// Padding::nan (float elements) is what reads outside the tensor give.
Tensor load(const BlockPtr& p, const std::vector<int>& boundary_check = {},
            Padding padding = Padding::zero,
            std::source_location loc = std::source_location::current());
// Writes `tile` (p.block_shape(); converted to p's element type) to the box at p's offsets.
void store(const BlockPtr& p, const Tensor& tile, const std::vector<int>& boundary_check = {},
           std::source_location loc = std::source_location::current());

} // namespace tessel::lang
