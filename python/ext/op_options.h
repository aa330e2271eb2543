// Keyword options of the ops: each field of an ops Options struct is a keyword argument of the
// Python function, converted by the field's C++ type (option_tables.h lists the fields).
//
//   tessel.rms_norm(x, w, y, rstd, eps=1e-5)        ->  RmsNormOptions{.eps = 1e-5f}
//   tessel.attention(q, k, v, o, causal=True, lse=lse, layout="bhsd")
//   tessel.matmul(a, b, c, epilogue=[tessel.epilogue.bias(b), tessel.epilogue.gelu()])
//
// An unknown keyword, or a value of the wrong Python type, raises tessel.Error naming the op,
// the keyword and what it takes (for an unknown one, every valid keyword).
#pragma once

#include "ext/dlpack_import.h"
#include "ext/errors.h"

#include "tessel/ops.h"

#include <nanobind/nanobind.h>
#include <nanobind/stl/string.h>

#include <optional>
#include <span>
#include <string>
#include <utility>
#include <vector>

namespace tessel::python {

namespace nb = nanobind;

// What a Python value becomes for a C++ option type: from() converts (raising tessel.Error naming
// `key`), text() prints a default for the generated signature, type is its name there.
template <class T> struct Convert;

std::string number_text(double v);
[[noreturn]] void bad_option(CallContext& c, const char* key, nb::handle v, const char* want);

template <> struct Convert<float> {
  static constexpr const char* type = "float";
  static float from(nb::handle v, CallContext& c, const char* key) {
    if (!PyFloat_Check(v.ptr()) && !(PyLong_Check(v.ptr()) && !PyBool_Check(v.ptr())))
      bad_option(c, key, v, "a float");
    return float(PyFloat_AsDouble(v.ptr()));
  }
  static std::string text(float v) { return number_text(v); }
};

template <class I>
requires std::is_integral_v<I> &&(!std::is_same_v<I, bool>)struct Convert<I> {
  static constexpr const char* type = "int";
  static I from(nb::handle v, CallContext& c, const char* key) {
    if (!PyLong_Check(v.ptr()) || PyBool_Check(v.ptr()))
      bad_option(c, key, v, "an int");
    I out;
    if (!nb::try_cast<I>(v, out))
      bad_option(c, key, v, "an int in the range of its C++ type");
    return out;
  }
  static std::string text(I v) { return std::to_string(v); }
};

template <> struct Convert<bool> {
  static constexpr const char* type = "bool";
  static bool from(nb::handle v, CallContext& c, const char* key) {
    if (!PyBool_Check(v.ptr()))
      bad_option(c, key, v, "True or False");
    return v.ptr() == Py_True;
  }
  static std::string text(bool v) { return v ? "True" : "False"; }
};

// An optional tensor (attention's lse, kv_lens, key_padding_mask; matmul's workspace): None is
// absent (a null view).
template <> struct Convert<TensorView> {
  static constexpr const char* type = "tensor | None";
  static TensorView from(nb::handle v, CallContext& c, const char* key) {
    return v.is_none() ? TensorView{} : c.take(v, key);
  }
  static std::string text(const TensorView&) { return "None"; }
};

// Enums by name: EnumNames<E>::values lists every value with its Python spelling.
template <class E> struct EnumNames;

template <class E>
requires std::is_enum_v<E>
struct Convert<E> {
  static constexpr const char* type = "str";
  static E from(nb::handle v, CallContext& c, const char* key) {
    std::string valid;
    for (const auto& [name, value] : EnumNames<E>::values) {
      if (nb::isinstance<nb::str>(v) && nb::cast<std::string>(v) == name)
        return value;
      valid += std::string(valid.empty() ? "" : ", ") + "'" + name + "'";
    }
    bad_option(c, key, v, ("one of " + valid).c_str());
  }
  static std::string text(E e) {
    for (const auto& [name, value] : EnumNames<E>::values)
      if (value == e)
        return std::string("'") + name + "'";
    return "?";
  }
};

template <> struct Convert<std::vector<ops::Epilogue>> {
  static constexpr const char* type = "list[tessel.epilogue.Step]";
  static std::vector<ops::Epilogue> from(nb::handle v, CallContext& c, const char* key);
  static std::string text(const std::vector<ops::Epilogue>&) { return "[]"; }
};

// matmul's config=: a dict of MatmulConfig's fields (block_m, block_n, block_k, group_m,
// num_warps, num_stages); the ones left out keep MatmulConfig's defaults.
template <> struct Convert<std::optional<ops::MatmulConfig>> {
  static constexpr const char* type = "dict | None";
  static std::optional<ops::MatmulConfig> from(nb::handle v, CallContext& c, const char* key);
  static std::string text(const std::optional<ops::MatmulConfig>&) { return "None"; }
};

// One keyword of an Options struct O.
template <class O> struct OptionField {
  const char* name;
  const char* type;
  void (*set)(O& options, nb::handle value, CallContext& c, const char* key);
  std::string (*default_text)(const O& options);
};

template <auto Member> struct MemberOf;
template <class O, class T, T O::*M> struct MemberOf<M> {
  using Options = O;
  using Type = T;
};

// field<&RmsNormOptions::eps>("eps"): the keyword `eps`, converted as float.
template <auto Member>
constexpr OptionField<typename MemberOf<Member>::Options> field(const char* name) {
  using O = typename MemberOf<Member>::Options;
  using T = typename MemberOf<Member>::Type;
  return {name, Convert<T>::type,
          [](O& o, nb::handle v, CallContext& c, const char* key) {
            o.*Member = Convert<T>::from(v, c, key);
          },
          [](const O& o) { return Convert<T>::text(o.*Member); }};
}

// Every keyword of O (option_tables.h specialises it per Options struct).
template <class O> std::span<const OptionField<O>> option_fields();

// Sets `options` from the keywords left in `kwargs` (stream= and tensor names taken out).
template <class O> void apply_options(O& options, nb::dict kwargs, CallContext& c) {
  auto fields = option_fields<O>();
  for (auto [key, value] : kwargs) {
    std::string k = nb::cast<std::string>(key);
    const OptionField<O>* f = nullptr;
    for (const OptionField<O>& candidate : fields)
      if (k == candidate.name)
        f = &candidate;
    if (!f) {
      std::string valid;
      for (const OptionField<O>& candidate : fields)
        valid += std::string(", ") + candidate.name;
      raise_error(c.what() + ": unknown keyword argument '" + k + "'; it takes the tensors by " +
                  "position or name and the keywords stream" + valid);
    }
    f->set(options, value, c, f->name);
  }
}

// ", block_cols: int = 0" for each keyword, with O's defaults.
template <class O> std::string options_signature() {
  O defaults{};
  std::string s;
  for (const OptionField<O>& f : option_fields<O>())
    s += std::string(", ") + f.name + ": " + f.type + " = " + f.default_text(defaults);
  return s;
}

// tessel.epilogue: bias, row_bias, relu, gelu, silu, residual, scale (matmul's epilogue steps).
void register_epilogues(nb::module_& m);

} // namespace tessel::python
