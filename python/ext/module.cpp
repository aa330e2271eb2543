// tessel._tessel: the extension module of the Python package (python/README.md). Each part
// registers itself; src/tessel/__init__.py re-exports them as `tessel`.
#include "ext/errors.h"
#include "ext/info.h"
#include "ext/kernels.h"
#include "ext/op_options.h"
#include "ext/ops.h"

NB_MODULE(_tessel, m) {
  m.doc() = "tessel's fused ops and registered C++ kernels on DLPack tensors";
  tessel::python::register_errors(m);
  tessel::python::register_epilogues(m);
  tessel::python::register_ops(m);
  tessel::python::register_kernels(m);
  tessel::python::register_info(m);
}
