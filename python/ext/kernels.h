// C++ kernels from Python: the kernel registry (tessel/jit/registry.h) by name, launched with the
// syntax of Kernel::launch:
//
//   tessel.load_library("libmine.so")             # kernels registered with TESSEL_REGISTER_KERNEL
//   scale = tessel.kernel("scale")
//   scale[(n + 1023) // 1024](out, x, 2.0, n, 1024, num_warps=4)   # or scale.launch(grid, ...)
//
// Arguments, in the kernel's parameter order: tensors (DLPack, as for the ops) for Ptr
// parameters, ints for Int and integer Const parameters, floats for Float; bools as bools.
// Keywords: num_warps, num_stages, stream, checked (LaunchOptions). Launch errors are tessel.Error
// naming the Python caller's line, the kernel and the parameter.
#pragma once

#include <nanobind/nanobind.h>

namespace tessel {
class Kernel;
}

namespace tessel::python {

void register_kernels(nanobind::module_& m);
// {"traces", "compiles", "disk_loads", "launches", "last_source"} of `k` in this process.
nanobind::dict kernel_stats(const Kernel& k);

} // namespace tessel::python
