// `-D NAME=VALUE` defines on a compile signature (tessel/jit/compile.h: apply_defines): how
// `tessel compile` changes a registered kernel's default specialization.
#include "jit/compile_signature.h"

#include <fmt/format.h>

namespace tessel {
namespace {

using Kind = SignatureParam::Kind;

std::string param_names(const Signature& sig) {
  std::string s;
  for (const SignatureParam& p : sig.params)
    s += (s.empty() ? "" : ", ") + p.name;
  return s;
}

DType parse_dtype(const std::string& v) {
  for (DType t : {DType::i1, DType::i8, DType::i16, DType::i32, DType::i64, DType::f16, DType::bf16,
                  DType::f32, DType::f64, DType::u8, DType::u16, DType::u32, DType::u64,
                  DType::f8e4m3, DType::f8e5m2})
    if (v == dtype_name(t))
      return t;
  throw Error("unknown element type '" + v +
              "' (i1, i8, i16, i32, i64, u8, u16, u32, u64, f16, bf16, f32, f64, f8e4m3, f8e5m2)");
}

// "16" -> 16, "any" -> 1; anything else not a positive number throws std::logic_error.
int parse_known_divisor(const std::string& v) {
  if (v == "any")
    return 1;
  size_t used = 0;
  long long n = std::stoll(v, &used);
  if (used != v.size() || n < 1 || n > INT32_MAX)
    throw std::invalid_argument(v);
  return int(n);
}

void apply_one(const lang::ParamSpec& spec, SignatureParam& p, bool align,
               const std::string& value) {
  switch (p.kind) {
  case Kind::pointer:
    if (align)
      p.alignment = parse_known_divisor(value) % 16 == 0 ? 16 : 1;
    else if (spec.dtype_fixed && parse_dtype(value) != spec.dtype)
      throw Error(fmt::format("parameter '{}' is PtrOf<{}>: its element type is fixed", p.name,
                              dtype_name(spec.dtype)));
    else
      p.dtype = parse_dtype(value);
    return;
  case Kind::integer:
    p.equals_one = value == "1";
    p.divisibility = p.equals_one ? 1 : (parse_known_divisor(value) % 16 == 0 ? 16 : 1);
    return;
  case Kind::floating:
    throw Error(fmt::format("parameter '{}' is a run-time float: nothing about it is "
                            "specialised, so it takes no define",
                            p.name));
  case Kind::constant: {
    size_t used = 0;
    if (dtype_is_float(p.dtype)) {
      p.float_value = std::stod(value, &used);
      p.int_value = int64_t(p.float_value);
    } else {
      p.int_value = std::stoll(value, &used);
      p.float_value = double(p.int_value);
    }
    if (used != value.size())
      throw std::invalid_argument(value);
    return;
  }
  }
  TESSEL_UNREACHABLE("bad SignatureParam::Kind");
}

} // namespace

Signature apply_defines(const Kernel& kernel, Signature signature,
                        const std::vector<std::string>& defines) {
  const lang::KernelDef& def = kernel.def();
  Signature sig = jit::resolve_signature(def, jit::with_param_names(def, signature)).signature;
  for (const std::string& d : defines) {
    size_t eq = d.find('=');
    if (eq == std::string::npos || eq == 0)
      throw Error("a define is NAME=VALUE, not '" + d + "'");
    std::string name = d.substr(0, eq), value = d.substr(eq + 1);
    if (name == "DTYPE") {
      DType t = parse_dtype(value);
      for (size_t i = 0; i < def.params.size(); ++i)
        if (def.params[i].kind == lang::ParamKind::Ptr && !def.params[i].dtype_fixed)
          sig.params[i].dtype = t;
      continue;
    }
    bool align = name.ends_with(".align");
    if (align)
      name.resize(name.size() - 6);
    size_t i = 0;
    while (i < sig.params.size() && (sig.params[i].name.empty() || name != sig.params[i].name))
      ++i;
    if (i == sig.params.size() || (align && sig.params[i].kind != Kind::pointer))
      throw Error(fmt::format("kernel '{}' has no {}parameter '{}'; its parameters: {} (and DTYPE)",
                              def.name, align ? "pointer " : "", name, param_names(sig)));
    try {
      apply_one(def.params[i], sig.params[i], align, value);
    } catch (const std::logic_error&) {
      throw Error(fmt::format("bad value '{}' for parameter '{}'", value, name));
    }
  }
  return jit::resolve_signature(def, sig).signature;
}

} // namespace tessel
