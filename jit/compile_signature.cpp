// Signatures of the compile API: building them (by hand or from example arguments, with the
// facts a launch derives — jit/signature.cpp), printing them, checking them against a kernel's
// parameters, and `-D NAME=VALUE` overrides.
#include "jit/compile_signature.h"

#include <fmt/format.h>

#include <cmath>

namespace tessel {

using Kind = SignatureParam::Kind;
using lang::ParamKind;

SignatureParam SignatureParam::pointer(DType element, int alignment, std::string name) {
  SignatureParam p;
  p.kind = Kind::pointer;
  p.dtype = element;
  p.alignment = alignment;
  p.name = std::move(name);
  return p;
}

SignatureParam SignatureParam::integer(int divisibility, std::string name) {
  SignatureParam p;
  p.kind = Kind::integer;
  p.divisibility = divisibility;
  p.name = std::move(name);
  return p;
}

SignatureParam SignatureParam::integer_one(std::string name) {
  SignatureParam p = integer(/*divisibility=*/1, std::move(name));
  p.equals_one = true;
  return p;
}

SignatureParam SignatureParam::floating(std::string name) {
  SignatureParam p;
  p.kind = Kind::floating;
  p.dtype = DType::f32;
  p.name = std::move(name);
  return p;
}

SignatureParam SignatureParam::constant(int64_t value, std::string name) {
  SignatureParam p;
  p.kind = Kind::constant;
  p.has_value = true;
  p.int_value = value;
  p.float_value = double(value);
  p.name = std::move(name);
  return p;
}

SignatureParam SignatureParam::constant_float(double value, std::string name) {
  SignatureParam p = constant(0, std::move(name));
  p.dtype = DType::f32;
  p.int_value = int64_t(value);
  p.float_value = value;
  return p;
}

bool SignatureParam::operator==(const SignatureParam& o) const {
  return kind == o.kind && dtype == o.dtype && alignment == o.alignment &&
         divisibility == o.divisibility && equals_one == o.equals_one && has_value == o.has_value &&
         int_value == o.int_value &&
         (float_value == o.float_value || (std::isnan(float_value) && std::isnan(o.float_value)));
}

std::string SignatureParam::to_string() const {
  std::string s = name.empty() ? "" : name + ": ";
  switch (kind) {
  case Kind::pointer:
    return s + "*" + dtype_name(dtype) + (alignment >= 16 ? " align 16" : " align any");
  case Kind::integer:
    if (has_value)
      return s + dtype_name(dtype) + " = " + std::to_string(int_value);
    if (equals_one)
      return s + "i32 == 1";
    return s + (divisibility >= 16 ? "i32 div 16" : "i32");
  case Kind::floating:
    return s + dtype_name(dtype) + (has_value ? fmt::format(" = {}", float_value) : "");
  case Kind::constant:
    if (dtype_is_float(dtype))
      return s + fmt::format("const {} = {}", dtype_name(dtype), float_value);
    return s + fmt::format("const {} = {}", dtype_name(dtype), int_value);
  }
  TESSEL_UNREACHABLE("bad SignatureParam::Kind");
}

Signature Signature::from_arg_values(std::span<const detail::ArgValue> args) {
  Signature sig;
  for (const detail::ArgValue& a : args) {
    SignatureParam p;
    p.dtype = a.dtype;
    switch (a.kind) {
    case detail::ArgValue::Kind::Pointer:
      p.kind = Kind::pointer;
      p.alignment = reinterpret_cast<uintptr_t>(a.ptr) % 16 == 0 ? 16 : 1;
      break;
    case detail::ArgValue::Kind::Int:
      p.kind = Kind::integer;
      p.has_value = true;
      p.int_value = a.i;
      p.float_value = double(a.i);
      p.divisibility = a.i % 16 == 0 ? 16 : 1;
      p.equals_one = a.i == 1;
      break;
    case detail::ArgValue::Kind::Float:
      p.kind = Kind::floating;
      p.has_value = true;
      p.float_value = a.f;
      p.int_value = int64_t(a.f);
      break;
    }
    sig.params.push_back(std::move(p));
  }
  return sig;
}

std::string Signature::to_string() const {
  std::string s = "(";
  for (size_t i = 0; i < params.size(); ++i)
    s += (i ? ", " : "") + params[i].to_string();
  return s + ")";
}

namespace {

std::string kind_text(const lang::ParamSpec& p) {
  if (p.kind == ParamKind::Ptr && p.dtype_fixed)
    return std::string("PtrOf<") + dtype_name(p.dtype) + ">";
  if (p.kind == ParamKind::Const)
    return std::string("Const<") + dtype_name(p.dtype) + ">";
  return lang::param_kind_name(p.kind);
}

std::string given_text(const SignatureParam& s) {
  switch (s.kind) {
  case Kind::pointer:
    return "a pointer";
  case Kind::integer:
    return s.has_value ? "the integer " + std::to_string(s.int_value) : "a run-time integer";
  case Kind::floating:
    return "a floating-point number";
  case Kind::constant:
    return "a constant";
  }
  TESSEL_UNREACHABLE("bad SignatureParam::Kind");
}

[[noreturn]] void bad_param(const lang::KernelDef& def, size_t i, const SignatureParam& s,
                            const std::string& why) {
  std::string who = s.name.empty() ? "" : s.name + ", ";
  throw Error(fmt::format("kernel '{}': signature parameter {} ({}{}): {}", def.name, i, who,
                          kind_text(def.params[i]), why));
}

// Resolves one parameter: returns the normalised SignatureParam and fills `b`.
SignatureParam resolve_pointer(const lang::KernelDef& def, size_t i, const SignatureParam& s,
                               lang::ParamBinding& b) {
  const lang::ParamSpec& p = def.params[i];
  if (s.kind != Kind::pointer)
    bad_param(def, i, s,
              "the kernel takes a pointer, the signature gives " + given_text(s) +
                  "; use SignatureParam::pointer(dtype)");
  if (p.dtype_fixed && s.dtype != p.dtype)
    bad_param(def, i, s,
              fmt::format("the kernel takes elements of type {}, the signature gives "
                          "{}",
                          dtype_name(p.dtype), dtype_name(s.dtype)));
  if (s.alignment < 1)
    bad_param(def, i, s, fmt::format("alignment {} is not a byte count; use 16 or 1", s.alignment));
  SignatureParam r = SignatureParam::pointer(s.dtype, s.alignment % 16 == 0 ? 16 : 1, s.name);
  b.dtype = r.dtype;
  b.divisibility = r.alignment;
  return r;
}

SignatureParam resolve_int(const lang::KernelDef& def, size_t i, const SignatureParam& s,
                           lang::ParamBinding& b) {
  if (s.kind != Kind::integer)
    bad_param(def, i, s,
              "the kernel takes a run-time integer, the signature gives " + given_text(s) +
                  "; use SignatureParam::integer(divisibility)");
  if (s.has_value && (s.int_value < INT32_MIN || s.int_value > INT32_MAX))
    bad_param(def, i, s, "value " + std::to_string(s.int_value) + " does not fit in i32");
  if (!s.has_value && s.divisibility < 1)
    bad_param(def, i, s, fmt::format("divisibility {} must be 16 or 1", s.divisibility));
  bool one = s.has_value ? s.int_value == 1 : s.equals_one;
  int64_t div = s.has_value ? s.int_value : s.divisibility;
  SignatureParam r = one ? SignatureParam::integer_one(s.name)
                         : SignatureParam::integer(div % 16 == 0 ? 16 : 1, s.name);
  b.dtype = DType::i32;
  b.equals_one = r.equals_one;
  b.divisibility = r.divisibility;
  return r;
}

SignatureParam resolve_float(const lang::KernelDef& def, size_t i, const SignatureParam& s,
                             lang::ParamBinding& b) {
  if (s.kind != Kind::floating && s.kind != Kind::integer)
    bad_param(def, i, s,
              "the kernel takes a run-time float, the signature gives " + given_text(s) +
                  "; use SignatureParam::floating()");
  b.dtype = def.params[i].dtype; // f32, or f64 for tl::Float64
  SignatureParam r = SignatureParam::floating(s.name);
  r.dtype = b.dtype;
  return r;
}

SignatureParam resolve_const(const lang::KernelDef& def, size_t i, const SignatureParam& s,
                             lang::ParamBinding& b) {
  const lang::ParamSpec& p = def.params[i];
  if (s.kind == Kind::pointer || !s.has_value)
    bad_param(def, i, s,
              "a compile-time constant needs its value, the signature gives " + given_text(s) +
                  "; use SignatureParam::constant(value)");
  bool float_value =
      s.kind == Kind::floating || (s.kind == Kind::constant && dtype_is_float(s.dtype));
  SignatureParam r = s;
  r.kind = Kind::constant;
  r.dtype = p.dtype;
  if (dtype_is_float(p.dtype)) {
    r.int_value = int64_t(s.float_value);
  } else {
    if (float_value)
      bad_param(def, i, s,
                fmt::format("an integer constant cannot take the floating-point value "
                            "{}",
                            s.float_value));
    if (s.int_value < p.const_min || s.int_value > p.const_max)
      bad_param(def, i, s,
                fmt::format("value {} is outside the range of its C++ type ({} to {})", s.int_value,
                            p.const_min, p.const_max));
    r.float_value = double(s.int_value);
  }
  r.alignment = 16;
  r.divisibility = 16;
  r.equals_one = false;
  b.dtype = p.dtype;
  b.const_int = r.int_value;
  b.const_float = r.float_value;
  return r;
}

std::string kinds_text(const lang::KernelDef& def) {
  std::string s;
  for (const lang::ParamSpec& p : def.params)
    s += (s.empty() ? "" : ", ") + kind_text(p);
  return "(" + s + ")";
}

} // namespace

namespace jit {

ResolvedSignature resolve_signature(const lang::KernelDef& def, const Signature& signature) {
  if (signature.params.size() != def.params.size())
    throw Error(fmt::format("kernel '{}' takes {} parameters {} but the signature has {}: give "
                            "one SignatureParam (or example argument) per parameter, in order",
                            def.name, def.params.size(), kinds_text(def), signature.params.size()));
  ResolvedSignature r;
  r.bindings.resize(def.params.size());
  for (size_t i = 0; i < def.params.size(); ++i) {
    const SignatureParam& s = signature.params[i];
    lang::ParamBinding& b = r.bindings[i];
    switch (def.params[i].kind) {
    case ParamKind::Ptr:
      r.signature.params.push_back(resolve_pointer(def, i, s, b));
      break;
    case ParamKind::Int:
      r.signature.params.push_back(resolve_int(def, i, s, b));
      break;
    case ParamKind::Float:
      r.signature.params.push_back(resolve_float(def, i, s, b));
      break;
    case ParamKind::Const:
      r.signature.params.push_back(resolve_const(def, i, s, b));
      break;
    }
  }
  return r;
}

} // namespace jit
} // namespace tessel
