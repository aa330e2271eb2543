// The registry of sample kernels and their default specializations (see registry.h): pointers
// f32 and 16-byte aligned, integers divisible by 16, block sizes a typical launch would use.
#include "tessel/samples/registry.h"

#include "tessel/codegen/transforms.h"
#include "tessel/ir/pass.h"
#include "tessel/samples/samples.h"

#include <fmt/format.h>

#include <chrono>

namespace tessel::samples {

namespace {

lang::ParamBinding ptr() {
  return {.dtype = DType::f32, .divisibility = 16};
}
lang::ParamBinding int_div16() {
  return {.dtype = DType::i32, .divisibility = 16};
}
lang::ParamBinding flt() {
  return {.dtype = DType::f32};
}
lang::ParamBinding constant(int64_t v) {
  return {.dtype = DType::i32, .const_int = v};
}

std::string names(const std::vector<RegisteredKernel>& r) {
  std::string s;
  for (const auto& k : r)
    s += (s.empty() ? "" : ", ") + std::string(k.name);
  return s;
}

std::string param_names(const RegisteredKernel& k) {
  std::string s;
  for (const auto& p : k.params)
    s += (s.empty() ? "" : ", ") + std::string(p.name);
  return s;
}

DType parse_dtype(const std::string& v) {
  for (DType t : {DType::i1, DType::i8, DType::i16, DType::i32, DType::i64, DType::f16, DType::bf16,
                  DType::f32, DType::f64})
    if (v == dtype_name(t))
      return t;
  throw Error("unknown element type '" + v + "' (i1, i8, i16, i32, i64, f16, bf16, f32, f64)");
}

// A registry entry: the parameters' names come from the kernel's definition (samples/kernels.cpp
// names them), so only the default bindings are listed here, in parameter order.
RegisteredKernel entry(const char* name, const char* summary, const Kernel& (*kernel)(),
                       std::vector<lang::ParamBinding> bindings) {
  const std::vector<std::string>& names = kernel().def().param_names;
  TESSEL_ASSERT(names.size() == bindings.size(),
                "a registered kernel needs parameter names and one default binding per parameter");
  RegisteredKernel k{name, summary, kernel, {}};
  for (size_t i = 0; i < names.size(); ++i)
    k.params.push_back({names[i].c_str(), bindings[i]}); // the static Kernel keeps the names
  return k;
}

} // namespace

const std::vector<RegisteredKernel>& registry() {
  static const std::vector<RegisteredKernel> r = {
      entry("vector_add", "out[i] = a[i] + b[i]", &vector_add,
            {ptr(), ptr(), ptr(), int_div16(), constant(1024)}),
      entry("softmax", "row-wise softmax, one program per row", &softmax,
            {ptr(), ptr(), int_div16(), int_div16(), constant(1024)}),
      entry("layer_norm", "layer norm forward, one program per row", &layer_norm,
            {ptr(), ptr(), ptr(), ptr(), int_div16(), int_div16(), flt(), constant(1024)}),
      entry("matmul", "C = A @ B, BM x BN tiles, K loop of BK", &matmul,
            {ptr(), ptr(), ptr(), int_div16(), int_div16(), int_div16(), int_div16(), int_div16(),
             int_div16(), constant(64), constant(64), constant(8)}),
  };
  return r;
}

const RegisteredKernel& find_kernel(std::string_view name) {
  for (const auto& k : registry())
    if (name == k.name)
      return k;
  throw Error(fmt::format("unknown kernel '{}'; registered kernels: {}", name, names(registry())));
}

std::vector<lang::ParamBinding> bindings_for(const RegisteredKernel& k,
                                             const std::vector<std::string>& defines) {
  std::vector<lang::ParamBinding> b;
  for (const auto& p : k.params)
    b.push_back(p.binding);
  const auto& specs = k.kernel().def().params;
  for (const std::string& d : defines) {
    size_t eq = d.find('=');
    if (eq == std::string::npos || eq == 0)
      throw Error("a define is NAME=VALUE, not '" + d + "'");
    std::string name = d.substr(0, eq), value = d.substr(eq + 1);
    if (name == "DTYPE") {
      DType t = parse_dtype(value);
      for (size_t i = 0; i < specs.size(); ++i)
        if (specs[i].kind == lang::ParamKind::Ptr && !specs[i].dtype_fixed)
          b[i].dtype = t;
      continue;
    }
    bool align = name.ends_with(".align");
    if (align)
      name.resize(name.size() - 6);
    size_t i = 0;
    while (i < k.params.size() && name != k.params[i].name)
      ++i;
    if (i == k.params.size())
      throw Error(fmt::format("kernel '{}' has no parameter '{}'; its parameters: {} (and DTYPE)",
                              k.name, name, param_names(k)));
    try {
      switch (specs[i].kind) {
      case lang::ParamKind::Ptr:
        if (align)
          b[i].divisibility = value == "any" ? 1 : std::stoll(value);
        else
          b[i].dtype = parse_dtype(value);
        break;
      case lang::ParamKind::Int:
        b[i].equals_one = value == "1";
        b[i].divisibility = value == "any" || value == "1" ? 1 : std::stoll(value);
        break;
      case lang::ParamKind::Float:
        break;
      case lang::ParamKind::Const:
        b[i].const_int = std::stoll(value);
        b[i].const_float = std::stod(value);
        break;
      }
    } catch (const std::logic_error&) {
      throw Error(fmt::format("bad value '{}' for parameter '{}'", value, name));
    }
  }
  return b;
}

std::unique_ptr<ir::Module> trace_kernel(const RegisteredKernel& k,
                                         const std::vector<std::string>& defines, bool optimize,
                                         TraceTimes* times) {
  std::vector<lang::ParamBinding> b = bindings_for(k, defines);
  auto t0 = std::chrono::steady_clock::now();
  std::unique_ptr<ir::Module> module = lang::trace(k.kernel().def(), b);
  auto t1 = std::chrono::steady_clock::now();
  if (optimize) {
    ir::PassManager pm(/*verify_each=*/false);
    codegen::add_default_pipeline(pm);
    pm.run(*module);
  }
  auto t2 = std::chrono::steady_clock::now();
  if (times) {
    times->trace_ms = std::chrono::duration<double, std::milli>(t1 - t0).count();
    times->passes_ms = std::chrono::duration<double, std::milli>(t2 - t1).count();
  }
  return module;
}

} // namespace tessel::samples
