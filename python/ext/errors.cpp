// tessel.Error and the Python caller's location (errors.h).
#include "ext/errors.h"

#include "tessel/error.h"

#include <frameobject.h>

namespace tessel::python {
namespace {

PyObject* g_error_type = nullptr; // tessel.Error; lives as long as the module
std::string g_package_dir;        // ".../site-packages/tessel/": frames there are tessel's own

// The package's directory, asked for on first use: an extension's __file__ is set only after its
// module init returns.
const std::string& package_dir() {
  if (g_package_dir.empty()) {
    nb::object init = nb::module_::import_("tessel").attr("__file__");
    g_package_dir =
        nb::cast<std::string>(nb::module_::import_("os.path").attr("dirname")(init)) + "/";
  }
  return g_package_dir;
}

bool in_package(const std::string& file) { return file.rfind(package_dir(), 0) == 0; }

} // namespace

void register_errors(nb::module_& m) {
  g_error_type = PyErr_NewExceptionWithDoc(
      "tessel.Error",
      "A mistake tessel found: a wrong argument (type, dtype, shape, device), a kernel that does "
      "not compile, a launch that cannot run. The message names the call's file:line, the op or "
      "kernel and the argument, what was expected and what came.",
      PyExc_RuntimeError, nullptr);
  m.attr("Error") = nb::handle(g_error_type);
}

std::string python_caller() {
  PyFrameObject* frame = PyEval_GetFrame(); // borrowed
  Py_XINCREF(frame);
  while (frame) {
    PyCodeObject* code = PyFrame_GetCode(frame); // new reference
    std::string file = nb::cast<std::string>(nb::handle(code->co_filename));
    Py_DECREF(code);
    if (!in_package(file)) {
      std::string where = file + ":" + std::to_string(PyFrame_GetLineNumber(frame));
      Py_DECREF(frame);
      return where;
    }
    PyFrameObject* back = PyFrame_GetBack(frame); // new reference
    Py_DECREF(frame);
    frame = back;
  }
  return "";
}

void raise_error(const std::string& message) {
  std::string where = python_caller();
  std::string text = where.empty() ? message : where + ": " + message;
  PyErr_SetString(g_error_type, text.c_str());
  throw nb::python_error();
}

void raise_relocated(const std::string& message, const std::source_location& binding) {
  std::string prefix = SourceLoc::from(binding).str() + ": ";
  if (message.rfind(prefix, 0) == 0)
    raise_error(message.substr(prefix.size()));
  raise_error(message);
}

} // namespace tessel::python
