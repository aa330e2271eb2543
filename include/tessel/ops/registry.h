// The stdlib's entries in the kernel registry (tessel/jit/registry.h), so that `tessel compile
// rms_norm --target sm_90a --emit ptx|stats` inspects an op's kernel. docs/stdlib.md lists the
// names and their default specializations.
#pragma once

namespace tessel::ops {

// Registers every stdlib op kernel under the name of the tessel::ops function that launches it
// (`rms_norm`, `rms_norm_backward`, ...; `ops.softmax` and `ops.layer_norm`, whose plain names
// the samples hold), each specialized as the op launches it for rows of 1024 f32 columns.
// Registered explicitly (libtessel has no static constructors), once; later calls do nothing.
void register_kernels();

} // namespace tessel::ops
