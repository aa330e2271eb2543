// Types of the tile IR, uniqued in a Context so that type equality is pointer equality.
//
// A type is one of:
//   scalar   i1 i8 i16 i32 i64 f16 bf16 f32 f64   (i-integers are signed; i1 is a boolean)
//            u8 u16 u32 u64 f8e4m3 f8e5m2          (unsigned integers; fp8, a storage and
//                                                   conversion format: docs/semantics.md)
//   pointer  ptr<T> or ptr<T, AS>                  (T a scalar; AS the address space, 1 = global)
//   tensor   tensor<D0xD1x...xE>                   (E a scalar or pointer; every Di a power of two)
//            tensor<D0x...xE, #kind<...>>          (the same with a layout, from assign-layouts on)
// A layout (LayoutAttr) says which register/lane/warp/block of a GPU program holds which element:
// the bases of a linear layout (codegen/gpu/linear_layout.h explains them), written per input dim
// as lists of basis images, one coordinate per tensor dim, e.g. for a tensor<4x64xf32>
//     #blocked<register=[[0,1],[0,2]], lane=[[0,4],[0,8],[0,16],[0,32],[1,0]], warp=[[2,0]]>
// and for rank 1 the images are plain integers: #blocked<register=[1,2], lane=[4,8,16,32,64]>.
// Input dims without bases are omitted. The kind (blocked, slice, shared, linear, mma, dot_op)
// names where the layout came from; two layouts are equal only when kind and bases are. `mma` is
// the accumulator of a tensor-core dot (mma.sync fragments tiled over warps), `dot_op` an operand
// of one in the fragment layout its instruction reads (codegen/gpu/mma_layout.h). A scalar or
// pointer is the rank-0 case of a tensor: ops that take tensors take them too.
#pragma once

#include "tessel/dtype.h"

#include <array>
#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <tuple>
#include <unordered_set>
#include <vector>

namespace tessel::ir {

// What a layout was made as; the bases alone say what it is.
enum class LayoutKind : uint8_t { Blocked, Slice, Shared, Linear, Mma, DotOperand };
const char*
layout_kind_name(LayoutKind k); // "blocked", "slice", "shared", "linear", "mma", "dot_op"

// The layout of a tensor type (see above), uniqued in a Context. The IR does not interpret it;
// codegen/gpu converts it to and from its LinearLayout.
class LayoutAttr {
public:
  // The hardware input dims, in their bit order (codegen's InDim has the same order).
  static constexpr int kNumInDims = 4;
  static const char* in_dim_name(int d); // "register", "lane", "warp", "block"
  using Basis = std::vector<int32_t>;    // one coordinate per tensor dim
  using Bases = std::array<std::vector<Basis>, kNumInDims>;

  LayoutKind kind() const { return kind_; }
  const Bases& bases() const { return bases_; }
  // Why `shape` cannot carry this layout (a basis with the wrong number of coordinates or a
  // coordinate outside [0, dim)); nullopt when it can.
  std::optional<std::string> mismatch(std::span<const int64_t> shape) const;
  std::string str() const; // "#blocked<register=[...], lane=[...]>"

private:
  friend class Context;
  LayoutAttr() = default;
  LayoutKind kind_ = LayoutKind::Linear;
  Bases bases_;
};

class Type {
public:
  enum class Kind : uint8_t { Scalar, Pointer, Tensor };

  Kind kind() const { return kind_; }
  bool is_scalar() const { return kind_ == Kind::Scalar; }
  bool is_pointer() const { return kind_ == Kind::Pointer; }
  bool is_tensor() const { return kind_ == Kind::Tensor; }

  // Scalar only: its element type (tessel::DType is the IR's list of scalar types).
  DType dtype() const;
  // Pointer only.
  const Type* pointee() const;
  unsigned address_space() const;
  // Tensor only.
  const std::vector<int64_t>& shape() const;
  // Tensor or not: the layout, null until assign-layouts sets one (always null for rank 0).
  const LayoutAttr* layout() const { return layout_; }

  // The element type: the tensor's element, or the type itself for scalars and pointers.
  const Type* element() const { return is_tensor() ? element_ : this; }
  // The shape: empty for scalars and pointers.
  std::span<const int64_t> dims() const;
  size_t rank() const { return dims().size(); }
  int64_t num_elements() const;

  // Queries on the element type.
  bool is_float() const;    // element is f16, bf16, f32, f64, f8e4m3 or f8e5m2
  bool is_integer() const;  // element is i1 ... i64 or u8 ... u64
  bool is_unsigned() const; // element is u8 ... u64
  bool is_fp8() const;      // element is f8e4m3 or f8e5m2 (only cast, select and memory ops)
  bool is_bool() const;     // element is i1
  bool is_pointer_like() const { return element()->is_pointer(); }
  unsigned element_bits() const; // pointers are 64 bits

  std::string str() const;

private:
  friend class Context;
  Type() = default;
  Kind kind_ = Kind::Scalar;
  DType dtype_ = DType::i32;
  const Type* element_ = nullptr; // pointee for pointers, element for tensors
  unsigned address_space_ = 0;
  std::vector<int64_t> shape_;
  const LayoutAttr* layout_ = nullptr;
};

// Owns and uniques types and interned strings (file names of locations). Not thread-safe: a
// Context belongs to one Module, and a Module is built and transformed by one thread at a time.
class Context {
public:
  Context();
  Context(const Context&) = delete;
  Context& operator=(const Context&) = delete;

  const Type* scalar(DType k) const { return scalars_[static_cast<size_t>(k)]; }
  const Type* i1() const { return scalar(DType::i1); }
  const Type* i32() const { return scalar(DType::i32); }
  const Type* i64() const { return scalar(DType::i64); }
  const Type* f32() const { return scalar(DType::f32); }
  const Type* pointer(const Type* pointee, unsigned address_space = 1);
  // Requires: every dim a power of two >= 1, element a scalar or pointer. An empty shape gives
  // the element itself.
  // `layout` may be null; a layout that does not fit the shape is allowed here and rejected by
  // the verifier (so that the parser can report it as a verify error, not crash).
  const Type* tensor(std::span<const int64_t> shape, const Type* element,
                     const LayoutAttr* layout = nullptr);
  const Type* tensor(std::initializer_list<int64_t> shape, const Type* element,
                     const LayoutAttr* layout = nullptr) {
    return tensor(std::span<const int64_t>(shape.begin(), shape.size()), element, layout);
  }
  // `like`'s shape and layout with another element type.
  const Type* with_element(const Type* like, const Type* element);
  // `like` with another layout (null: none). Rank 0 types are returned unchanged.
  const Type* with_layout(const Type* like, const LayoutAttr* layout);
  const LayoutAttr* layout(LayoutKind kind, LayoutAttr::Bases bases);

  const char* intern(std::string_view s);

private:
  std::vector<const Type*> scalars_;
  Type& new_type();
  std::vector<std::unique_ptr<Type>> storage_;
  std::map<std::pair<const Type*, unsigned>, const Type*> pointers_;
  std::map<std::tuple<std::vector<int64_t>, const Type*, const LayoutAttr*>, const Type*> tensors_;
  std::map<std::pair<LayoutKind, LayoutAttr::Bases>, std::unique_ptr<LayoutAttr>> layouts_;
  std::unordered_set<std::string> strings_;
};

bool is_power_of_two(int64_t v);

} // namespace tessel::ir
