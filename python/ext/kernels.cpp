// Registered kernels as Python objects and their launches (kernels.h).
#include "ext/kernels.h"

#include "ext/dlpack_import.h"
#include "ext/errors.h"

#include "tessel/error.h"
#include "tessel/jit/registry.h"
#include "tessel/ops/registry.h"

#include <deque>

#include <nanobind/stl/string.h>
#include <nanobind/stl/vector.h>

namespace tessel::python {
namespace {

namespace nb = nanobind;

struct PyKernel {
  RegisteredKernel reg;

  std::vector<std::string> param_names() const {
    std::vector<std::string> names;
    for (const SignatureParam& p : reg.defaults.params)
      names.push_back(p.name);
    return names;
  }
};

// kernel[grid]: a kernel with its grid, called with the arguments.
struct BoundLaunch {
  PyKernel kernel;
  Grid grid;
};

// An int, or anything with __index__ (NumPy's integer scalars).
bool is_index(nb::handle h) { return PyIndex_Check(h.ptr()) && !is_dlpack_tensor(h); }
int64_t index_value(nb::handle h) { return nb::cast<int64_t>(nb::steal(PyNumber_Index(h.ptr()))); }

Grid grid_from(nb::handle g, const std::string& what) {
  std::vector<int64_t> dims;
  if (is_index(g)) {
    dims.push_back(index_value(g));
  } else if (nb::isinstance<nb::tuple>(g) || nb::isinstance<nb::list>(g)) {
    for (nb::handle d : g) {
      if (!is_index(d))
        raise_error(what + ": the grid " + nb::cast<std::string>(nb::repr(g)) +
                    " holds a non-integer; pass an int or a tuple of 1 to 3 ints");
      dims.push_back(index_value(d));
    }
  }
  if (dims.empty() || dims.size() > 3)
    raise_error(what + ": the grid " + nb::cast<std::string>(nb::repr(g)) +
                " is not an int or a tuple of 1 to 3 ints");
  dims.resize(3, 1);
  return Grid(dims[0], dims[1], dims[2]);
}

// One Python argument as a launch argument; tensors are held by `ctx`, their views by `views`
// (ArgValue points at the view, so the deque keeps addresses stable).
detail::ArgValue to_arg(nb::handle a, const std::string& param, CallContext& ctx,
                        std::deque<TensorView>& views) {
  if (PyBool_Check(a.ptr()))
    return detail::to_arg(a.ptr() == Py_True);
  if (PyLong_Check(a.ptr())) {
    int64_t v;
    if (!nb::try_cast<int64_t>(a, v))
      raise_error(ctx.what() + ": " + param + " = " + nb::cast<std::string>(nb::repr(a)) +
                  " does not fit in 64 bits");
    return detail::to_arg(v);
  }
  if (PyFloat_Check(a.ptr()))
    return detail::to_arg(PyFloat_AsDouble(a.ptr()));
  if (is_dlpack_tensor(a)) {
    views.push_back(ctx.take(a, param));
    return detail::to_arg(views.back());
  }
  // Other numbers, such as NumPy's scalars (np.int64, np.float32), by their Python protocols.
  if (PyIndex_Check(a.ptr()))
    return to_arg(nb::steal(PyNumber_Index(a.ptr())), param, ctx, views);
  if (nb::hasattr(a, "__float__"))
    return detail::to_arg(PyFloat_AsDouble(a.ptr()));
  views.push_back(ctx.take(a, param)); // raises: neither a number nor a tensor
  return detail::to_arg(views.back());
}

void launch(const PyKernel& k, Grid grid, nb::args args, nb::kwargs kwargs) {
  std::string what = "kernel '" + k.reg.name + "'";
  LaunchOptions options;
  nb::object stream = nb::none();
  if (kwargs.is_valid())
    for (auto [key, value] : kwargs) {
      std::string name = nb::cast<std::string>(key);
      if (name == "num_warps" || name == "num_stages") {
        int v;
        if (!PyLong_Check(value.ptr()) || !nb::try_cast<int>(value, v))
          raise_error(what + ": " + name + "=" + nb::cast<std::string>(nb::repr(value)) +
                      " is not an int");
        (name == "num_warps" ? options.num_warps : options.num_stages) = v;
      } else if (name == "checked") {
        options.checked = PyObject_IsTrue(value.ptr()) == 1;
      } else if (name == "stream") {
        stream = nb::borrow(value);
      } else {
        raise_error(what + ": unknown keyword argument '" + name +
                    "'; a launch takes num_warps, num_stages, stream and checked");
      }
    }
  std::vector<std::string> names = k.param_names();
  CallContext ctx(what, stream);
  std::deque<TensorView> views;
  std::vector<detail::ArgValue> values;
  for (size_t i = 0; i < args.size(); ++i) {
    std::string param = i < names.size() && !names[i].empty() ? names[i] : std::to_string(i);
    values.push_back(to_arg(args[i], param, ctx, views));
  }
  options.stream = ctx.stream();

  const std::source_location here = std::source_location::current();
  std::string failure;
  {
    nb::gil_scoped_release release;
    try {
      k.reg.kernel().launch_args(grid, options, values, here);
    } catch (const Error& e) {
      failure = e.what();
    }
  }
  if (!failure.empty())
    raise_relocated(failure, here);
}

PyKernel find_kernel(const std::string& name) {
  try {
    return PyKernel{find_registered_kernel(name)};
  } catch (const Error& e) {
    raise_error(std::string("tessel.kernel: ") + e.what() +
                " (tessel.load_library(path) adds a library's kernels)");
  }
}

} // namespace

nb::dict kernel_stats(const Kernel& k) {
  KernelStats s = k.stats();
  nb::dict d;
  d["traces"] = s.traces;
  d["compiles"] = s.compiles;
  d["disk_loads"] = s.disk_loads;
  d["launches"] = s.launches;
  d["last_source"] = kernel_source_name(s.last_source);
  return d;
}

void register_kernels(nb::module_& m) {
  ops::register_kernels(); // the stdlib's kernels are in the registry too

  nb::class_<PyKernel>(m, "Kernel", "A kernel of the registry; kernel[grid](args...) launches it.")
      .def_prop_ro("name", [](const PyKernel& k) { return k.reg.name; })
      .def_prop_ro("summary", [](const PyKernel& k) { return k.reg.summary; })
      .def_prop_ro("library", [](const PyKernel& k) { return k.reg.library; })
      .def_prop_ro("params", &PyKernel::param_names, "The parameter names, in launch order.")
      .def(
          "stats", [](const PyKernel& k) { return kernel_stats(k.reg.kernel()); },
          "Traces, compiles, disk-cache loads and launches of this kernel in this process.")
      .def("__getitem__",
           [](const PyKernel& k, nb::handle grid) {
             return BoundLaunch{k, grid_from(grid, "kernel '" + k.reg.name + "'")};
           })
      .def(
          "launch",
          [](const PyKernel& k, nb::handle grid, nb::args args, nb::kwargs kwargs) {
            launch(k, grid_from(grid, "kernel '" + k.reg.name + "'"), args, kwargs);
          },
          nb::arg("grid"), nb::arg("args"), nb::arg("kwargs"),
          "Kernel::launch(grid, options, args...): the same as kernel[grid](args...).")
      .def("__repr__", [](const PyKernel& k) {
        std::string params;
        for (const std::string& n : k.param_names())
          params += (params.empty() ? "" : ", ") + n;
        return "<tessel.Kernel " + k.reg.name + "(" + params + ")>";
      });
  nb::class_<BoundLaunch>(m, "BoundLaunch", "kernel[grid]: call it with the kernel's arguments.")
      .def("__call__", [](const BoundLaunch& b, nb::args args, nb::kwargs kwargs) {
        launch(b.kernel, b.grid, args, kwargs);
      });

  m.def("kernel", &find_kernel, nb::arg("name"),
        "The registered kernel `name` (tessel::find_registered_kernel).");
  m.def(
      "kernels",
      [] {
        nb::list names;
        for (const RegisteredKernel& k : registered_kernels())
          names.append(k.name);
        return names;
      },
      "The names of the registered kernels, in registration order.");
  m.def(
      "load_library",
      [](const std::string& path) {
        try {
          return load_kernel_library(path);
        } catch (const Error& e) {
          raise_error(std::string("tessel.load_library: ") + e.what());
        }
      },
      nb::arg("path"),
      "dlopens a shared library whose kernels register with TESSEL_REGISTER_KERNEL; returns their "
      "names.");
}

} // namespace tessel::python
