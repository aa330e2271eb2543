// Tensor descriptors (Triton's tl.make_tensor_descriptor): a tile-shaped window onto a strided
// tensor in global memory, read and written one box at a time.
//
//   auto desc = tl::make_tensor_descriptor(a, {M, N}, {stride_m, 1}, {64, 64});
//   auto tile = desc.load({pid_m * 64, pid_n * 64});        // or tl::load(desc, {...})
//   desc.store({pid_m * 64, pid_n * 64}, tile * 2.0f);      // or tl::store(desc, {...}, tile)
//
// The tensor has 1 to 5 dimensions, row-major: `shape` and `strides` in elements, the innermost
// stride 1, outer strides a multiple of 16 bytes, the base 16-byte aligned. A load returns the
// box of `block_shape` elements whose first element is at `offsets`; box elements outside
// [0, shape) read as zero (or NaN with Padding::nan), and a store skips them: exactly the
// semantics of the Tensor Memory Accelerator's tile mode, on every backend. Box dimensions are
// powers of two up to 256, and the innermost one spans a multiple of 16 bytes.
//
// On sm_90a a descriptor whose base, shape and strides are kernel parameters or constants is
// copied by TMA (cp.async.bulk.tensor through shared memory and an mbarrier; the tensor map is
// built at launch); the swizzle option picks the shared-memory pattern of the box there and
// changes no result. Elsewhere (the CPU, sm_80) the same ops are masked loads and stores.
// docs/language.md "Tensor descriptors".
#pragma once

#include "tessel/lang/tensor.h"

#include <concepts>
#include <cstdint>
#include <source_location>
#include <utility>
#include <vector>

namespace tessel::lang {

// TMA's shared-memory swizzle of a box: 16-byte chunks XOR-permuted within 32/64/128-byte spans.
enum class Swizzle : uint8_t { none = 0, b32 = 32, b64 = 64, b128 = 128 };
// What a load reads for box elements outside the tensor.
enum class Padding : uint8_t { zero = 0, nan = 1 };

struct DescriptorOptions {
  Swizzle swizzle = Swizzle::none;
  Padding padding = Padding::zero;
};

// A scalar index or extent: a handle (an i32/i64 scalar) or a C++ integer.
struct Index {
  Index(const Tensor& t) : tensor(t), is_tensor(true) {}
  template <std::integral I> Index(I v) : number(static_cast<int64_t>(v)) {}
  template <class S> Index(Const<S> v) : number(static_cast<int64_t>(v.value)) {}
  Tensor tensor;
  bool is_tensor = false;
  int64_t number = 0;
};

class TensorDescriptor {
public:
  using Loc = std::source_location;
  // The box at `offsets` (one per dimension), a tile of block_shape() elements.
  Tensor load(const std::vector<Index>& offsets, Loc loc = Loc::current()) const;
  // Writes `tile` (block_shape(), of the descriptor's element type; other element types are
  // converted) to the box at `offsets`.
  void store(const std::vector<Index>& offsets, const Tensor& tile, Loc loc = Loc::current()) const;

  const Shape& block_shape() const { return block_; }
  int rank() const { return int(block_.size()); }
  DType dtype() const { return dtype_; }

private:
  friend TensorDescriptor make_tensor_descriptor(const Tensor&, const std::vector<Index>&,
                                                 const std::vector<Index>&, const Shape&,
                                                 const DescriptorOptions&, Loc);
  // Members are copy-constructed, never assigned: assigning a handle inside a control-flow body
  // would make it a carried value of that body (control.h).
  TensorDescriptor(const Tensor& base, std::vector<Tensor> shape, std::vector<Tensor> strides,
                   Shape block, DType dtype, DescriptorOptions options)
      : base_(base), shape_(std::move(shape)), strides_(std::move(strides)),
        block_(std::move(block)), dtype_(dtype), options_(options) {}
  Tensor base_;
  std::vector<Tensor> shape_, strides_;
  Shape block_;
  DType dtype_ = DType::f32;
  DescriptorOptions options_;
};

// A descriptor of the tensor at `base` (a scalar pointer, e.g. a Ptr parameter). Mistakes (rank,
// box dimensions, a constant stride TMA cannot take, the swizzle span) throw tessel::Error naming
// the rule and the caller's line.
TensorDescriptor make_tensor_descriptor(const Tensor& base, const std::vector<Index>& shape,
                                        const std::vector<Index>& strides, const Shape& block_shape,
                                        const DescriptorOptions& options = {},
                                        std::source_location loc = std::source_location::current());

// Triton's other spelling: tl::load(desc, offsets), tl::store(desc, offsets, tile).
Tensor load(const TensorDescriptor& desc, const std::vector<Index>& offsets,
            std::source_location loc = std::source_location::current());
void store(const TensorDescriptor& desc, const std::vector<Index>& offsets, const Tensor& tile,
           std::source_location loc = std::source_location::current());

} // namespace tessel::lang
