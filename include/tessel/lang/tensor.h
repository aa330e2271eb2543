// Tile handles: what a kernel's C++ code manipulates while it is traced.
//
// A Tensor stands for an SSA value of the tile IR: a whole tile (tensor<128x64xf32>), or a scalar
// (a 0-d tensor: program ids, loop counters, integer arguments). Operations on handles record IR
// ops; nothing is computed while tracing. Handles are cheap to copy and may be reassigned:
// inside tl::for_range / tl::if_ / tl::while_ bodies, reassigning a handle that was created
// outside the body makes it a loop-carried value or a branch result (see control.h).
//
// Kernel parameters are handles too: Ptr (element type from the launch argument), PtrOf<T>
// (element type fixed), Int (an i32 scalar, specialised on ==1 and divisibility by 16), Float
// (an f32 scalar) and Const<T> (a compile-time value; the kernel is traced once per value).
//
// Every operation takes the caller's std::source_location; operators get it through At<> (an
// implicit conversion that captures the location of the expression that converts).
#pragma once

#include "tessel/dtype.h"
#include "tessel/error.h"

#include <concepts>
#include <cstdint>
#include <source_location>
#include <type_traits>
#include <vector>

namespace tessel::ir {
class Value;
}

namespace tessel::lang {

using tessel::DType;
using tessel::i1, tessel::i8, tessel::i16, tessel::i32, tessel::i64, tessel::f16, tessel::bf16,
    tessel::f32, tessel::f64, tessel::u8, tessel::u16, tessel::u32, tessel::u64, tessel::f8e4m3,
    tessel::f8e5m2;
using Shape = std::vector<int64_t>;

class Tensor {
public:
  Tensor() = default;
  Tensor(const Tensor& other);
  Tensor(Tensor&& other) noexcept;
  // Reassignment. Inside a control-flow body, assigning a handle created outside the body makes
  // it a carried value / branch result of that body.
  Tensor& operator=(const Tensor& other);
  Tensor& operator=(Tensor&& other);
  ~Tensor() = default;

  // The element type; for a tensor of pointers, the pointee's type.
  // The location is where the handle is asked (for the error when it is not valid there).
  using Loc = std::source_location;
  DType dtype(Loc loc = Loc::current()) const;
  bool is_pointer(Loc loc = Loc::current()) const;
  Shape shape(Loc loc = Loc::current()) const;
  int rank(Loc loc = Loc::current()) const;
  bool is_scalar(Loc loc = Loc::current()) const { return rank(loc) == 0; }
  bool valid() const { return value_ != nullptr; }

  // A handle has no C++ truth value: its value is computed on the device, long after tracing.
  // `if (x < n)`, `while (x)`, `x && y` and `c ? a : b` on handles fail here, with the fix.
  template <class B>
  requires std::same_as<B, bool>
  explicit operator B() const {
    static_assert(!std::same_as<B, bool>,
                  "tessel: a tile handle cannot be a C++ condition (if, while, &&, ||, ?:): its "
                  "value exists only on the device. Use tl::if_(cond, [&] { ... }) or "
                  "tl::while_ for a run-time branch, tl::where(cond, a, b) to choose per "
                  "element, & and | to combine masks, and if constexpr / Const<> parameters "
                  "for a compile-time choice");
    return false;
  }

  // Converts elements to `t` (round to nearest even for narrower floats; see ir.h for the rest).
  Tensor to(DType t, std::source_location loc = std::source_location::current()) const;

  // Internal: the IR value this handle stands for. Throws tessel::Error (at `use`) when the
  // handle is empty or was made by another trace than the one running.
  explicit Tensor(ir::Value* v);
  ir::Value* value() const { return value(SourceLoc{}); }
  ir::Value* value(const SourceLoc& use) const;
  void assign(ir::Value* v);                // reassignment with the same bookkeeping as operator=
  void rebind(ir::Value* v) { value_ = v; } // internal: no reassignment bookkeeping

private:
  ir::Value* value_ = nullptr;
  // The trace that made value_ (see dsl/tracer.h): a handle kept from an earlier trace points
  // into a freed module, so every use checks it. 0 for an empty handle.
  uint64_t trace_ = 0;
  int depth_ = 0; // control-flow nesting depth at which the handle was created
};

// A value together with the source location of the expression that produced the conversion.
template <class T> struct At {
  const T& value;
  SourceLoc loc;
  At(const T& v, std::source_location l = std::source_location::current())
      : value(v), loc(SourceLoc::from(l)) {}
};

// ---- kernel parameter handles -------------------------------------------------------------------

// A pointer whose element type comes from the launch argument.
class Ptr : public Tensor {
public:
  using Tensor::Tensor;
  using Tensor::operator=;
  Ptr(const Tensor& t) : Tensor(t) {}
};

// A pointer to T (checked at launch).
template <Element T> class PtrOf : public Ptr {
public:
  using Ptr::Ptr;
  using Tensor::operator=;
};

// A 32-bit integer scalar argument.
class Int : public Tensor {
public:
  using Tensor::Tensor;
  using Tensor::operator=;
  Int(const Tensor& t) : Tensor(t) {}
};

// A 32-bit float scalar argument (Triton's default for a float argument: fp32).
class Float : public Tensor {
public:
  using Tensor::Tensor;
  using Tensor::operator=;
  Float(const Tensor& t) : Tensor(t) {}
};

// A 64-bit float scalar argument: the launch value is passed as a double, not rounded to f32.
class Float64 : public Tensor {
public:
  using Tensor::Tensor;
  using Tensor::operator=;
  Float64(const Tensor& t) : Tensor(t) {}
};

// A compile-time constant parameter: the kernel is traced once per value, and the value is a
// plain C++ value inside the kernel (usable in `if constexpr`-like logic, shapes, loop bounds).
// T may be an enum (Const<Mode>): the kernel is specialised by the enumerator's value, and a launch
// must pass a value of that enum type.
template <class T> struct Const {
  static_assert(std::is_integral_v<T> || std::is_floating_point_v<T> || std::is_enum_v<T>,
                "Const<T> holds an integer, bool, enum or floating-point compile-time value");
  T value;
  constexpr operator T() const { return value; }
};

template <class T>
concept Scalar = std::is_arithmetic_v<T>;

// ---- operators
// ------------------------------------------------------------------------------------ Tensor (op)
// Tensor broadcasts with NumPy rules and promotes element types (float beats integer, wider beats
// narrower, f16 with bf16 gives f32). A C++ scalar takes the tensor's element type (a
// floating-point scalar with an integer tensor gives f32). Integer / and % follow C.

enum class BinaryOp : uint8_t {
  Add,
  Sub,
  Mul,
  Div,
  Rem,
  And,
  Or,
  Xor,
  Shl,
  Shr,
  Lt,
  Le,
  Gt,
  Ge,
  Eq,
  Ne
};
Tensor binary(BinaryOp op, const Tensor& a, const Tensor& b, SourceLoc loc);
// `s` is a C++ scalar (integral tells whether it was an integer); it takes t's element type.
Tensor binary_scalar(BinaryOp op, const Tensor& t, double s, bool integral, bool scalar_on_left,
                     SourceLoc loc);

#define TESSEL_BINARY_OPERATOR(op, kind)                                                           \
  inline Tensor operator op(At<Tensor> a, const Tensor& b) {                                       \
    return binary(BinaryOp::kind, a.value, b, a.loc);                                              \
  }                                                                                                \
  template <Scalar S> Tensor operator op(At<Tensor> a, S b) {                                      \
    return binary_scalar(BinaryOp::kind, a.value, static_cast<double>(b), std::is_integral_v<S>,   \
                         false, a.loc);                                                            \
  }                                                                                                \
  template <Scalar S> Tensor operator op(S a, At<Tensor> b) {                                      \
    return binary_scalar(BinaryOp::kind, b.value, static_cast<double>(a), std::is_integral_v<S>,   \
                         true, b.loc);                                                             \
  }                                                                                                \
  template <class S> Tensor operator op(At<Tensor> a, Const<S> b) {                                \
    return binary_scalar(BinaryOp::kind, a.value, static_cast<double>(b.value),                    \
                         std::is_integral_v<S>, false, a.loc);                                     \
  }                                                                                                \
  template <class S> Tensor operator op(Const<S> a, At<Tensor> b) {                                \
    return binary_scalar(BinaryOp::kind, b.value, static_cast<double>(a.value),                    \
                         std::is_integral_v<S>, true, b.loc);                                      \
  }
TESSEL_BINARY_OPERATOR(+, Add)
TESSEL_BINARY_OPERATOR(-, Sub)
TESSEL_BINARY_OPERATOR(*, Mul)
TESSEL_BINARY_OPERATOR(/, Div)
TESSEL_BINARY_OPERATOR(%, Rem)
TESSEL_BINARY_OPERATOR(&, And)
TESSEL_BINARY_OPERATOR(|, Or)
TESSEL_BINARY_OPERATOR(^, Xor)
TESSEL_BINARY_OPERATOR(<<, Shl)
TESSEL_BINARY_OPERATOR(>>, Shr)
TESSEL_BINARY_OPERATOR(<, Lt)
TESSEL_BINARY_OPERATOR(<=, Le)
TESSEL_BINARY_OPERATOR(>, Gt)
TESSEL_BINARY_OPERATOR(>=, Ge)
TESSEL_BINARY_OPERATOR(==, Eq)
TESSEL_BINARY_OPERATOR(!=, Ne)
#undef TESSEL_BINARY_OPERATOR

Tensor operator-(At<Tensor> a);
Tensor operator~(At<Tensor> a); // bitwise not (logical not on i1)
// Logical not: a == 0. It takes the handle itself, not At<Tensor>: the explicit bool conversion
// above would make the built-in `!` an equal match, so this one cannot report a line.
Tensor operator!(const Tensor& a);

// The left side of a compound assignment, with the location of the expression.
struct AtMut {
  Tensor& value;
  SourceLoc loc;
  AtMut(Tensor& v, std::source_location l = std::source_location::current())
      : value(v), loc(SourceLoc::from(l)) {}
};

#define TESSEL_COMPOUND_ASSIGNMENT(op, kind)                                                       \
  inline Tensor& operator op(AtMut a, const Tensor& b) {                                           \
    return a.value = binary(BinaryOp::kind, a.value, b, a.loc);                                    \
  }                                                                                                \
  template <Scalar S> Tensor& operator op(AtMut a, S b) {                                          \
    return a.value = binary_scalar(BinaryOp::kind, a.value, static_cast<double>(b),                \
                                   std::is_integral_v<S>, false, a.loc);                           \
  }
TESSEL_COMPOUND_ASSIGNMENT(+=, Add)
TESSEL_COMPOUND_ASSIGNMENT(-=, Sub)
TESSEL_COMPOUND_ASSIGNMENT(*=, Mul)
TESSEL_COMPOUND_ASSIGNMENT(/=, Div)
TESSEL_COMPOUND_ASSIGNMENT(%=, Rem)
TESSEL_COMPOUND_ASSIGNMENT(&=, And)
TESSEL_COMPOUND_ASSIGNMENT(|=, Or)
TESSEL_COMPOUND_ASSIGNMENT(^=, Xor)
TESSEL_COMPOUND_ASSIGNMENT(<<=, Shl)
TESSEL_COMPOUND_ASSIGNMENT(>>=, Shr)
#undef TESSEL_COMPOUND_ASSIGNMENT

} // namespace tessel::lang
