// The stdlib's entries in the kernel registry (tessel/jit/registry.h), so that `tessel compile
// rms_norm --target sm_90a --emit ptx|stats` inspects an op's kernel. docs/stdlib.md lists the
// names and their default specializations.
#pragma once

#include <string_view>

namespace tessel::ops {

// Registers every stdlib op kernel under the name of the tessel::ops function that launches it
// (`rms_norm`, `rms_norm_backward`, ...; `ops.softmax` and `ops.layer_norm`, whose plain names
// the samples hold), each specialized as the op launches it for rows of 1024 f32 columns.
// Registered explicitly (libtessel has no static constructors), once; later calls do nothing.
void register_kernels();

// The earliest SM version whose GPU can compile the registered stdlib kernel `name` with its
// default specialization (89 for the fp8 tensor-core kernels), 0 when every GPU target can, and
// for names the stdlib does not register. `tessel prebuild` skips earlier targets for it.
int min_sm(std::string_view name);

} // namespace tessel::ops
