// Types of the tile IR, uniqued in a Context so that type equality is pointer equality.
//
// A type is one of:
//   scalar   i1 i8 i16 i32 i64 f16 bf16 f32 f64   (integers are signed; i1 is a boolean)
//   pointer  ptr<T> or ptr<T, AS>                  (T a scalar; AS the address space, 1 = global)
//   tensor   tensor<D0xD1x...xE>                   (E a scalar or pointer; every Di a power of two)
// A scalar or pointer is the rank-0 case of a tensor: ops that take tensors take them too.
#pragma once

#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <unordered_set>
#include <vector>

namespace tessel::ir {

enum class ScalarKind : uint8_t { I1, I8, I16, I32, I64, F16, BF16, F32, F64 };

const char* scalar_kind_name(ScalarKind k); // "i1", "f16", ...
unsigned scalar_kind_bits(ScalarKind k);
bool scalar_kind_is_float(ScalarKind k);

class Type {
public:
  enum class Kind : uint8_t { Scalar, Pointer, Tensor };

  Kind kind() const { return kind_; }
  bool is_scalar() const { return kind_ == Kind::Scalar; }
  bool is_pointer() const { return kind_ == Kind::Pointer; }
  bool is_tensor() const { return kind_ == Kind::Tensor; }

  // Scalar only.
  ScalarKind scalar_kind() const;
  // Pointer only.
  const Type* pointee() const;
  unsigned address_space() const;
  // Tensor only.
  const std::vector<int64_t>& shape() const;

  // The element type: the tensor's element, or the type itself for scalars and pointers.
  const Type* element() const { return is_tensor() ? element_ : this; }
  // The shape: empty for scalars and pointers.
  std::span<const int64_t> dims() const;
  size_t rank() const { return dims().size(); }
  int64_t num_elements() const;

  // Queries on the element type.
  bool is_float() const; // element is f16, bf16, f32 or f64
  bool is_integer() const; // element is i1 ... i64
  bool is_bool() const;  // element is i1
  bool is_pointer_like() const { return element()->is_pointer(); }
  unsigned element_bits() const; // pointers are 64 bits

  std::string str() const;

private:
  friend class Context;
  Type() = default;
  Kind kind_ = Kind::Scalar;
  ScalarKind scalar_ = ScalarKind::I32;
  const Type* element_ = nullptr; // pointee for pointers, element for tensors
  unsigned address_space_ = 0;
  std::vector<int64_t> shape_;
};

// Owns and uniques types and interned strings (file names of locations). Not thread-safe: a
// Context belongs to one Module, and a Module is built and transformed by one thread at a time.
class Context {
public:
  Context();
  Context(const Context&) = delete;
  Context& operator=(const Context&) = delete;

  const Type* scalar(ScalarKind k) const { return scalars_[static_cast<size_t>(k)]; }
  const Type* i1() const { return scalar(ScalarKind::I1); }
  const Type* i32() const { return scalar(ScalarKind::I32); }
  const Type* i64() const { return scalar(ScalarKind::I64); }
  const Type* f32() const { return scalar(ScalarKind::F32); }
  const Type* pointer(const Type* pointee, unsigned address_space = 1);
  // Requires: every dim a power of two >= 1, element a scalar or pointer. An empty shape gives
  // the element itself.
  const Type* tensor(std::span<const int64_t> shape, const Type* element);
  const Type* tensor(std::initializer_list<int64_t> shape, const Type* element) {
    return tensor(std::span<const int64_t>(shape.begin(), shape.size()), element);
  }
  // `like`'s shape with another element type.
  const Type* with_element(const Type* like, const Type* element);

  const char* intern(std::string_view s);

private:
  std::vector<const Type*> scalars_;
  Type& new_type();
  std::vector<std::unique_ptr<Type>> storage_;
  std::map<std::pair<const Type*, unsigned>, const Type*> pointers_;
  std::map<std::pair<std::vector<int64_t>, const Type*>, const Type*> tensors_;
  std::unordered_set<std::string> strings_;
};

bool is_power_of_two(int64_t v);

} // namespace tessel::ir
