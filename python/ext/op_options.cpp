// Option conversions that are not one-liners (op_options.h) and tessel.epilogue, the matmul
// epilogue steps as Python values.
#include "ext/op_options.h"

#include "ext/option_tables.h"

#include "tessel/error.h"

#include <cstdio>

#include <nanobind/stl/string.h>

namespace tessel::python {
namespace {

// One matmul epilogue step as Python holds it: what to apply and the tensor it reads (imported
// through DLPack when the matmul runs, with the matmul's stream).
enum class StepKind : uint8_t { bias, row_bias, relu, gelu, silu, residual, scale };

struct EpilogueStep {
  StepKind kind = StepKind::relu;
  nb::object tensor; // bias, row_bias, residual
  ops::GeluApprox approx = ops::GeluApprox::erf;
  float alpha = 1, beta = 0;
};

const char* step_name(StepKind k) {
  switch (k) {
  case StepKind::bias:
    return "bias";
  case StepKind::row_bias:
    return "row_bias";
  case StepKind::relu:
    return "relu";
  case StepKind::gelu:
    return "gelu";
  case StepKind::silu:
    return "silu";
  case StepKind::residual:
    return "residual";
  case StepKind::scale:
    return "scale";
  }
  TESSEL_UNREACHABLE("bad epilogue step");
}

ops::Epilogue to_epilogue(const EpilogueStep& s, CallContext& c, const std::string& arg) {
  switch (s.kind) {
  case StepKind::bias:
    return ops::bias(c.take(s.tensor, arg));
  case StepKind::row_bias:
    return ops::row_bias(c.take(s.tensor, arg));
  case StepKind::relu:
    return ops::relu();
  case StepKind::gelu:
    return ops::gelu(s.approx);
  case StepKind::silu:
    return ops::silu();
  case StepKind::residual:
    return ops::residual(c.take(s.tensor, arg));
  case StepKind::scale:
    return ops::scale(s.alpha, s.beta);
  }
  TESSEL_UNREACHABLE("bad epilogue step");
}

std::string repr(const EpilogueStep& s) {
  std::string r = std::string("tessel.epilogue.") + step_name(s.kind) + "(";
  if (s.kind == StepKind::gelu)
    r += Convert<ops::GeluApprox>::text(s.approx);
  if (s.kind == StepKind::scale)
    r += number_text(s.alpha) + ", " + number_text(s.beta);
  if (s.tensor.is_valid())
    r += "<" + std::string(Py_TYPE(s.tensor.ptr())->tp_name) + ">";
  return r + ")";
}

} // namespace

std::string number_text(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%g", v);
  return buf;
}

void bad_option(CallContext& c, const char* key, nb::handle v, const char* want) {
  std::string got = nb::cast<std::string>(nb::repr(v));
  raise_error(c.what() + ": keyword " + key + "=" + got + " (a " + Py_TYPE(v.ptr())->tp_name +
              "); expected " + want);
}

std::vector<ops::Epilogue> Convert<std::vector<ops::Epilogue>>::from(nb::handle v, CallContext& c,
                                                                     const char* key) {
  if (!nb::isinstance<nb::list>(v) && !nb::isinstance<nb::tuple>(v))
    bad_option(c, key, v, "a list of tessel.epilogue steps");
  std::vector<ops::Epilogue> steps;
  size_t i = 0;
  for (nb::handle item : v) {
    EpilogueStep* s = nullptr;
    if (!nb::try_cast<EpilogueStep*>(item, s) || !s)
      bad_option(c, (std::string(key) + "[" + std::to_string(i) + "]").c_str(), item,
                 "a step made by tessel.epilogue.bias, row_bias, relu, gelu, silu, residual or "
                 "scale");
    steps.push_back(to_epilogue(
        *s, c, std::string(key) + "[" + std::to_string(i) + "] (" + step_name(s->kind) + ")"));
    ++i;
  }
  return steps;
}

std::optional<ops::MatmulConfig>
Convert<std::optional<ops::MatmulConfig>>::from(nb::handle v, CallContext& c, const char* key) {
  if (v.is_none())
    return std::nullopt;
  if (!nb::isinstance<nb::dict>(v))
    bad_option(c, key, v, "a dict of block_m, block_n, block_k, group_m, num_warps, num_stages");
  ops::MatmulConfig config;
  std::pair<const char*, int*> fields[] = {
      {"block_m", &config.block_m},     {"block_n", &config.block_n},
      {"block_k", &config.block_k},     {"group_m", &config.group_m},
      {"num_warps", &config.num_warps}, {"num_stages", &config.num_stages}};
  for (auto [name, value] : nb::borrow<nb::dict>(v)) {
    std::string k = nb::cast<std::string>(nb::str(name));
    int* target = nullptr;
    for (auto& [field, slot] : fields)
      if (k == field)
        target = slot;
    std::string where = std::string(key) + "['" + k + "']";
    if (!target)
      bad_option(c, where.c_str(), name,
                 "a key among block_m, block_n, block_k, group_m, num_warps, num_stages");
    *target = Convert<int>::from(value, c, where.c_str());
  }
  return config;
}

void register_epilogues(nb::module_& m) {
  nb::module_ e = m.def_submodule(
      "epilogue", "Matmul epilogue steps: tessel.matmul(a, b, c, epilogue=[bias(v), gelu()]).");
  nb::class_<EpilogueStep>(e, "Step", "One matmul epilogue step (made by this module's functions).")
      .def("__repr__", &repr);
  auto with_tensor = [](StepKind k) {
    return [k](nb::object t) { return EpilogueStep{k, std::move(t)}; };
  };
  e.def("bias", with_tensor(StepKind::bias), nb::arg("bias"), "acc + bias[col]; bias is [N].");
  e.def("row_bias", with_tensor(StepKind::row_bias), nb::arg("bias"),
        "acc + bias[row]; bias is [M].");
  e.def("residual", with_tensor(StepKind::residual), nb::arg("residual"),
        "acc + residual (broadcast to c's shape; it may be c).");
  e.def(
      "relu", [] { return EpilogueStep{StepKind::relu}; }, "max(acc, 0).");
  e.def(
      "silu", [] { return EpilogueStep{StepKind::silu}; }, "acc * sigmoid(acc).");
  e.def(
      "gelu",
      [](nb::handle approximate) {
        CallContext c("tessel.epilogue.gelu", nb::none());
        EpilogueStep s{StepKind::gelu};
        s.approx = Convert<ops::GeluApprox>::from(approximate, c, "approximate");
        return s;
      },
      nb::arg("approximate") = "erf", "GELU, 'erf' or 'tanh'.");
  e.def(
      "scale",
      [](float alpha, float beta) {
        EpilogueStep s{StepKind::scale};
        s.alpha = alpha;
        s.beta = beta;
        return s;
      },
      nb::arg("alpha"), nb::arg("beta") = 0.0f, "alpha * acc + beta * c (c as before the call).");
}

} // namespace tessel::python
