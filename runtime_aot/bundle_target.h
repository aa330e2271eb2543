// Private: which of a bundle's targets runs on a GPU of a given SM version, and which target the
// JIT fallback compiles for when none does. The rule is jit::cuda_target's (jit/kernel.cpp):
// a cubin for sm_XY runs on GPUs of the same major version and minor >= Y; an arch-specific
// cubin (sm_90a) only on exactly that version.
#pragma once

#include <optional>
#include <string>
#include <vector>

namespace tessel::aot {

// The best of `targets` ("sm_80", "sm_90a", ...) for a GPU of version `sm` (90 for sm_90), or
// nothing when none runs there.
std::optional<std::string> pick_target(const std::vector<std::string>& targets, int sm);

// The target tessel's code generator would choose for version `sm` (sm_90a for 90, else the
// closest of 89, 86, 80 of its major version), or nothing for a GPU it does not support.
std::optional<std::string> jit_target(int sm);

} // namespace tessel::aot
