// tessel.cache_stats() and tessel.doctor(): what the kernel cache holds and what the machine has.
#pragma once

#include <nanobind/nanobind.h>

namespace tessel::python {

void register_info(nanobind::module_& m);

} // namespace tessel::python
