// Every tessel::ops operator as a Python function (the table: ops.def).
#pragma once

#include <nanobind/nanobind.h>

namespace tessel::python {

// Defines tessel._tessel.softmax, .rms_norm, ... and `op_names` (the table's names in order).
void register_ops(nanobind::module_& m);

} // namespace tessel::python
