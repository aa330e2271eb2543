// The op binder: one generic function turns a table line of ops.def into a Python function.
//
//   tessel.rms_norm(x, weight, y, rstd, eps=1e-6, stream=None) -> (y, rstd)
//
// Tensors come by position or by their C++ parameter names, in the C++ order; keywords are the
// Options struct's fields (option_tables.h); stream= is the CUDA stream (dlpack_import.h). The op
// runs with the GIL released and returns its output tensors (the objects passed: outputs are
// caller-allocated, as in C++), one object or a tuple. The signature and docstring each function
// shows (help(tessel.rms_norm)) are generated from the table and the Options defaults.
#include "ext/ops.h"

#include "ext/dlpack_import.h"
#include "ext/errors.h"
#include "ext/option_tables.h"

#include "tessel/error.h"
#include "tessel/ops.h"

#include <array>
#include <memory>
#include <string_view>
#include <utility>

namespace tessel::python {
namespace {

// The number of tensor names in an ops.def parameter string, at compile time.
constexpr size_t count_params(std::string_view params) {
  size_t n = 1;
  for (char ch : params)
    n += ch == ',' || ch == ';';
  return n;
}

// void (*)(const TensorView& x N, const O&, Stream*, std::source_location): an op's C++ type.
template <class O, class Seq> struct OpFnOf;
template <class O, size_t... I> struct OpFnOf<O, std::index_sequence<I...>> {
  template <size_t> using View = const TensorView&;
  using type = void (*)(View<I>..., const O&, runtime::Stream*, std::source_location);
};
template <class O, size_t N> using OpFn = typename OpFnOf<O, std::make_index_sequence<N>>::type;

struct TensorParam {
  std::string name;
  bool output = false;
  bool optional = false;
};

// An ops.def line, parsed once when the module loads.
struct OpSpec {
  std::string name;
  std::vector<TensorParam> params;

  OpSpec(const char* op, std::string_view text) : name(op) {
    bool outputs = false;
    std::string cur;
    auto flush = [&] {
      size_t b = cur.find_first_not_of(' '), e = cur.find_last_not_of(' ');
      std::string n = cur.substr(b, e - b + 1);
      bool opt = n.back() == '?';
      params.push_back({opt ? n.substr(0, n.size() - 1) : n, outputs, opt});
      cur.clear();
    };
    for (char ch : text) {
      if (ch == ',' || ch == ';') {
        flush();
        outputs = outputs || ch == ';';
      } else {
        cur += ch;
      }
    }
    flush();
  }

  // "def rms_norm(x, weight, y, rstd, /, *, eps: float = 1e-06, ..., stream=None)"
  template <class O> std::string signature() const {
    std::string s = "def " + name + "(";
    for (const TensorParam& p : params)
      s += p.name + (p.optional ? "=None" : "") + ", ";
    return s + "*" + options_signature<O>() + ", stream: object = None) -> object";
  }
};

// The tensor objects of a call, in the C++ order: positional first, then by name. Removes the
// names it used from `kwargs`, leaving the options.
std::vector<nb::object> tensor_objects(const OpSpec& op, nb::args args, nb::dict kwargs) {
  size_t n = op.params.size();
  if (args.size() > n)
    raise_error(op.name + ": takes " + std::to_string(n) + " tensors, got " +
                std::to_string(args.size()) + " positional arguments");
  std::vector<nb::object> objs(n);
  for (size_t i = 0; i < args.size(); ++i)
    objs[i] = nb::borrow(args[i]);
  for (size_t i = 0; i < n; ++i) {
    const TensorParam& p = op.params[i];
    if (kwargs.contains(p.name.c_str())) {
      if (objs[i].is_valid())
        raise_error(op.name + ": tensor '" + p.name + "' given by position and by name");
      objs[i] = kwargs[p.name.c_str()];
      PyDict_DelItemString(kwargs.ptr(), p.name.c_str());
    }
    if (!objs[i].is_valid()) {
      if (!p.optional)
        raise_error(op.name + ": tensor '" + p.name + "' is missing; " +
                    (p.output ? "outputs are allocated by the caller (e.g. torch.empty_like)"
                              : "pass it by position or by name"));
      objs[i] = nb::none();
    }
  }
  return objs;
}

template <class O, size_t N, OpFn<O, N> Fn>
nb::object call_op(const OpSpec& op, nb::args args, nb::kwargs kw) {
  nb::dict kwargs = kw.is_valid() ? nb::steal<nb::dict>(PyDict_Copy(kw.ptr())) : nb::dict();
  nb::object stream = nb::none();
  if (kwargs.contains("stream")) {
    stream = kwargs["stream"];
    PyDict_DelItemString(kwargs.ptr(), "stream");
  }
  std::vector<nb::object> objs = tensor_objects(op, args, kwargs);
  CallContext ctx(op.name, stream);
  std::array<TensorView, N> views{};
  for (size_t i = 0; i < N; ++i) {
    if (objs[i].is_none() && !op.params[i].optional)
      raise_error(op.name + ": tensor '" + op.params[i].name + "' is None; pass a tensor");
    if (!objs[i].is_none())
      views[i] = ctx.take(objs[i], op.params[i].name);
  }
  O options{};
  apply_options(options, kwargs, ctx);

  const std::source_location here = std::source_location::current();
  std::string failure;
  {
    nb::gil_scoped_release release;
    try {
      [&]<size_t... I>(std::index_sequence<I...>) { Fn(views[I]..., options, ctx.stream(), here); }
      (std::make_index_sequence<N>{});
    } catch (const Error& e) {
      failure = e.what();
    }
  }
  if (!failure.empty())
    raise_relocated(failure, here);

  std::vector<nb::object> outs;
  for (size_t i = 0; i < N; ++i)
    if (op.params[i].output)
      outs.push_back(objs[i]);
  if (outs.size() == 1)
    return outs[0];
  nb::list list;
  for (nb::object& o : outs)
    list.append(o);
  return nb::tuple(list);
}

template <class O, size_t N, OpFn<O, N> Fn>
void bind_op(nb::module_& m, nb::list& names, const char* name, const char* params,
             const char* summary) {
  auto op = std::make_shared<const OpSpec>(name, params);
  std::string outputs;
  for (const TensorParam& p : op->params)
    if (p.output)
      outputs += (outputs.empty() ? "" : ", ") + p.name;
  std::string doc = std::string(summary) + "\n\ntessel::ops::" + name +
                    " (docs/stdlib.md). Writes and returns " + outputs +
                    ", which the caller allocates.";
  m.def(
      name, [op](nb::args args, nb::kwargs kwargs) { return call_op<O, N, Fn>(*op, args, kwargs); },
      nb::sig(op->signature<O>().c_str()), doc.c_str());
  names.append(name);
}

} // namespace

void register_ops(nb::module_& m) {
  nb::list names;
#define TESSEL_PY_OP(NAME, OPTIONS, PARAMS, SUMMARY)                                               \
  bind_op<ops::OPTIONS, count_params(PARAMS), &ops::NAME>(m, names, #NAME, PARAMS, SUMMARY);
#include "ext/ops.def"
#undef TESSEL_PY_OP
  m.attr("op_names") = nb::tuple(names);
}

} // namespace tessel::python
