// Tracing: turns a kernel lambda into a tile-IR module for one specialization.
//
// A KernelDef is what tl::kernel() learns from the lambda's signature: one ParamSpec per parameter
// and a type-erased body that calls the lambda with handles. A ParamBinding is what one launch
// fixes about a parameter: a pointer's element type and alignment, an integer's divisibility (and
// whether it equals 1), a Const's value. trace() runs the body once with handles bound to those
// and returns the verified IR.
#pragma once

#include "tessel/lang/tensor.h"

#include <cstdint>
#include <functional>
#include <limits>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <tuple>
#include <type_traits>
#include <vector>

namespace tessel::ir {
struct Module;
}

namespace tessel::lang {

enum class ParamKind : uint8_t { Ptr, Int, Float, Const };

struct ParamSpec {
  ParamKind kind;
  DType dtype = DType::i32; // Ptr: element type when fixed; Int: i32; Float: f32 (Float64: f64);
                            // Const: value type
  bool dtype_fixed = false; // PtrOf<T>
  // Const<integral>: the C++ type's range, checked at launch.
  int64_t const_min = INT64_MIN, const_max = INT64_MAX;
  // Const<T>: T as the user wrote it ("int8_t"), for messages; null for the other kinds.
  const char* cpp_type = nullptr;
  // Const<Enum>: launches must pass a value of the enum named cpp_type.
  bool is_enum = false;
};

const char* param_kind_name(ParamKind k); // "Ptr", "Int", ...

struct ParamBinding {
  DType dtype = DType::i32; // Ptr: the element type of the launch argument
  int64_t divisibility = 1; // Ptr: byte alignment known (16 or 1); Int: 16 or 1
  bool equals_one = false;  // Int: the value is 1 (traced as the constant 1)
  int64_t const_int = 0;    // Const<integral>
  double const_float = 0;   // Const<floating>
};

struct KernelDef {
  std::string name;
  std::vector<ParamSpec> params;
  // The parameters' names, one per parameter, when the kernel was defined with them
  // (tl::kernel(name, "out, in, n", fn)); empty otherwise. Launch errors and recompile logs use
  // them.
  std::vector<std::string> param_names;
  std::function<void(std::span<const ParamBinding>)> body;
};

// Traces `def` for `bindings` (one per parameter) and verifies the result. Errors in the kernel
// (shapes, types) throw tessel::Error naming the user's source line.
std::unique_ptr<ir::Module> trace(const KernelDef& def, std::span<const ParamBinding> bindings);

namespace detail {

// Handle for parameter `index` of the kernel being traced (the tracer knows its IR argument).
Tensor param_handle(size_t index, ParamKind kind, const ParamBinding& binding);

template <class T> inline constexpr bool kNotAParam = false;

// A parameter type that is not a handle: one static_assert that says what to write instead
// (instead of pages of errors about an incomplete ParamTraits). make() is declared only, so that
// nothing after the assertion fails to compile.
template <class T> struct ParamTraits {
  static_assert(!std::is_pointer_v<T>,
                "tessel: a kernel parameter cannot be a C++ pointer; use tl::Ptr (element type "
                "from the launch argument) or tl::PtrOf<T>");
  static_assert(!std::is_integral_v<T>,
                "tessel: a kernel parameter cannot be a plain C++ integer; use tl::Int for a "
                "run-time i32 or tl::Const<int> for a compile-time value");
  static_assert(!std::is_floating_point_v<T>,
                "tessel: a kernel parameter cannot be a plain C++ float; use tl::Float for a "
                "run-time f32 or tl::Const<float> for a compile-time value");
  static_assert(std::is_pointer_v<T> || std::is_arithmetic_v<T> || kNotAParam<T>,
                "tessel: a kernel parameter must be tl::Ptr, tl::PtrOf<T>, tl::Int, tl::Float or "
                "tl::Const<T>");
  static ParamSpec spec() { return {}; }
  static T make(size_t, const ParamBinding&);
};

// An enum type's name as the compiler spells it ("Mode", "app::Mode"), for launch messages and
// the check that a Const<Mode> gets a Mode: read from __PRETTY_FUNCTION__ ("... [T = Mode]" in
// clang, "[with T = Mode]" in GCC), kept in a static of this instantiation.
template <class T> const char* enum_type_name() {
  const std::string_view f = __PRETTY_FUNCTION__; // this function's, naming T (not a lambda's)
  static const std::string name = [f] {
    const size_t begin = f.find("T = ") + 4;
    return std::string(f.substr(begin, f.find_first_of(";]", begin) - begin));
  }();
  return name.c_str();
}

// The C++ spelling of a Const's integer or floating-point type, for launch messages.
template <class T> constexpr const char* cpp_type_name() {
  if constexpr (std::is_same_v<T, bool>)
    return "bool";
  else if constexpr (std::is_same_v<T, char>)
    return "char";
  else if constexpr (std::is_same_v<T, int8_t>)
    return "int8_t";
  else if constexpr (std::is_same_v<T, uint8_t>)
    return "uint8_t";
  else if constexpr (std::is_same_v<T, int16_t>)
    return "int16_t";
  else if constexpr (std::is_same_v<T, uint16_t>)
    return "uint16_t";
  else if constexpr (std::is_same_v<T, int>)
    return "int";
  else if constexpr (std::is_same_v<T, unsigned>)
    return "unsigned";
  else if constexpr (std::is_same_v<T, int64_t>)
    return "int64_t";
  else if constexpr (std::is_same_v<T, uint64_t>)
    return "uint64_t";
  else if constexpr (std::is_same_v<T, float>)
    return "float";
  else if constexpr (std::is_same_v<T, double>)
    return "double";
  else if constexpr (std::is_floating_point_v<T>)
    return "a floating-point type";
  else if constexpr (std::is_signed_v<T>)
    return sizeof(T) > 4 ? "a 64-bit integer" : "an integer";
  else
    return sizeof(T) > 4 ? "a 64-bit unsigned integer" : "an unsigned integer";
}

template <> struct ParamTraits<Ptr> {
  static ParamSpec spec() { return {ParamKind::Ptr, DType::f32, false}; }
  static Ptr make(size_t i, const ParamBinding& b) {
    return Ptr(param_handle(i, ParamKind::Ptr, b));
  }
};
template <Element T> struct ParamTraits<PtrOf<T>> {
  static ParamSpec spec() { return {ParamKind::Ptr, dtype_of_v<T>, true}; }
  static PtrOf<T> make(size_t i, const ParamBinding& b) {
    PtrOf<T> p;
    p.assign(param_handle(i, ParamKind::Ptr, b).value());
    return p;
  }
};
template <> struct ParamTraits<Int> {
  static ParamSpec spec() { return {ParamKind::Int, DType::i32, true}; }
  static Int make(size_t i, const ParamBinding& b) {
    return Int(param_handle(i, ParamKind::Int, b));
  }
};
template <> struct ParamTraits<Float> {
  static ParamSpec spec() { return {ParamKind::Float, DType::f32, true}; }
  static Float make(size_t i, const ParamBinding& b) {
    return Float(param_handle(i, ParamKind::Float, b));
  }
};
template <> struct ParamTraits<Float64> {
  static ParamSpec spec() { return {ParamKind::Float, DType::f64, true}; }
  static Float64 make(size_t i, const ParamBinding& b) {
    return Float64(param_handle(i, ParamKind::Float, b));
  }
};
template <class T> struct ParamTraits<Const<T>> {
  static ParamSpec spec() {
    if constexpr (std::is_enum_v<T>) {
      using U = std::underlying_type_t<T>;
      ParamSpec p = ParamTraits<Const<U>>::spec();
      p.cpp_type = enum_type_name<T>();
      p.is_enum = true;
      return p;
    } else if constexpr (std::is_same_v<T, bool>) {
      return {ParamKind::Const, DType::i1, true, 0, 1, "bool"};
    } else if constexpr (std::is_integral_v<T>) {
      constexpr auto hi = std::numeric_limits<T>::max();
      ParamSpec p{ParamKind::Const, sizeof(T) > 4 ? DType::i64 : DType::i32, true};
      p.const_min = int64_t(std::numeric_limits<T>::min());
      p.const_max = uint64_t(hi) > uint64_t(INT64_MAX) ? INT64_MAX : int64_t(hi);
      p.cpp_type = cpp_type_name<T>();
      return p;
    } else {
      ParamSpec p{ParamKind::Const, sizeof(T) > 4 ? DType::f64 : DType::f32, true};
      p.cpp_type = cpp_type_name<T>();
      return p;
    }
  }
  static Const<T> make(size_t, const ParamBinding& b) {
    if constexpr (std::is_integral_v<T> || std::is_enum_v<T>)
      return Const<T>{static_cast<T>(b.const_int)};
    else
      return Const<T>{static_cast<T>(b.const_float)};
  }
};

template <class T> using ParamType = std::remove_cvref_t<T>;

template <class F> struct LambdaSignature : LambdaSignature<decltype(&F::operator())> {};
template <class C, class R, class... A> struct LambdaSignature<R (C::*)(A...) const> {
  using Params = std::tuple<ParamType<A>...>;
};
template <class C, class R, class... A> struct LambdaSignature<R (C::*)(A...)> {
  using Params = std::tuple<ParamType<A>...>;
};

template <class F, class... P, size_t... I>
KernelDef make_kernel_def_impl(std::string name, F fn, std::tuple<P...>*,
                               std::index_sequence<I...>) {
  KernelDef def;
  def.name = std::move(name);
  def.params = {ParamTraits<P>::spec()...};
  def.body = [fn](std::span<const ParamBinding> b) { fn(ParamTraits<P>::make(I, b[I])...); };
  return def;
}

template <class F> KernelDef make_kernel_def(std::string name, F fn) {
  using Params = typename LambdaSignature<F>::Params;
  return make_kernel_def_impl(std::move(name), std::move(fn), static_cast<Params*>(nullptr),
                              std::make_index_sequence<std::tuple_size_v<Params>>{});
}

} // namespace detail
} // namespace tessel::lang
