// Private: launch arguments against a kernel's parameters — checking them, the specialization key
// they select, the bindings that trace that specialization, and packing them for the backend.
#pragma once

#include "runtime/tensor_map.h"
#include "tessel/codegen/target.h"
#include "tessel/jit/kernel.h"

#include <array>
#include <cstdint>
#include <span>
#include <string>

namespace tessel::jit {

// Parameters per kernel: the launch fast path keeps fixed arrays of this size on the stack (no
// allocation per launch). 64 leaves room for the widest stdlib kernel (attention with varlen,
// dropout and its strides) with a margin.
inline constexpr size_t kMaxParams = 64;
inline constexpr size_t kMaxTensorMaps = 8; // codegen/gpu/tensor_maps.cpp gives at most as many

// One word per parameter: what the compiled code depends on (see signature.cpp), and where it
// runs: the device of the pointer arguments, and for a GPU launch the device index, num_warps,
// num_stages and, on the simulated device, its target (TESSEL_SIM_TARGET) (`launch`, 0 for the
// CPU).
struct SignatureKey {
  std::array<uint64_t, kMaxParams> words{};
  size_t size = 0;
  uint64_t launch = 0;
  DeviceKind device = DeviceKind::cpu;
  int device_index = 0;
  bool operator==(const SignatureKey& o) const {
    if (size != o.size || launch != o.launch)
      return false;
    for (size_t i = 0; i < size; ++i)
      if (words[i] != o.words[i])
        return false;
    return true;
  }
};

// The bit of SignatureKey::launch of a launch with LaunchOptions::fp_fusion off (any device).
inline constexpr uint64_t kNoFpFusion = uint64_t(1) << 61;
// The bit of SignatureKey::launch of a debug launch (LaunchOptions::debug or TESSEL_DEBUG=1): its
// device_asserts are compiled in (any device; jit/checked_launch.h).
inline constexpr uint64_t kDebugLaunch = uint64_t(1) << 60;

// "parameter 'n' (Int)" when the kernel's parameters have names, else "parameter 3 (Int)".
std::string param_desc(const lang::KernelDef& def, size_t i);

// Checks count and kinds of `args` against `def` (throwing tessel::Error that names `where`, the
// launch's call site, and the parameter) and computes the key. Pointer arguments must not be null
// and must agree on their device; `options` (num_warps, num_stages) enter the key of a GPU launch.
SignatureKey signature_of(const lang::KernelDef& def, std::span<const detail::ArgValue> args,
                          const LaunchOptions& options = {}, const SourceLoc& where = {});
// `key` — signature_of's for `args` — after the Const parameters at `slots` took new values
// in `args` and the launch options changed to `options`: the key of the autotuner's chosen
// config, without checking the other arguments a second time.
void respecialize(const lang::KernelDef& def, std::span<const detail::ArgValue> args,
                  std::span<const size_t> slots, const LaunchOptions& options, SignatureKey& key,
                  const SourceLoc& where = {});
void bindings_for(const lang::KernelDef& def, std::span<const detail::ArgValue> args,
                  std::array<lang::ParamBinding, kMaxParams>& out);
std::array<int32_t, 3> check_grid(const lang::KernelDef& def, const Grid& grid,
                                  const SourceLoc& where = {});
// A GPU launch's grid (as check_grid returned it) against the programs `target` allows per axis
// (y and z: 65535): a tessel::Error naming the axis, the grid and the limit, before any driver
// call or simulated launch.
void check_gpu_grid(const lang::KernelDef& def, const std::array<int32_t, 3>& dims,
                    const codegen::Target& target, const SourceLoc& where = {});

// The backend's argument array: pointers[i] points at the value of the i-th IR argument.
struct PackedArgs {
  union Slot {
    const void* p;
    int32_t i32;
    int64_t i64; // an Int argument typed i64 or u64 (int_arg_type)
    float f32;
    double f64; // a tl::Float64 argument
  };
  std::array<Slot, kMaxParams> slots;
  std::array<void*, kMaxParams> pointers;
  size_t count = 0; // arguments packed (the parameters that are not Const)
  // The tensor maps of TMA descriptors (jit/tensor_map_args.h), after the arguments in `pointers`.
  std::array<runtime::TensorMapBytes, kMaxTensorMaps> tensor_maps;
};
void pack_args(const lang::KernelDef& def, std::span<const detail::ArgValue> args, PackedArgs& out);

// Logs under TESSEL_DUMP=recompile why a new specialization is compiled (what changed in which
// parameter since `previous`, the kernel's latest specialization), and enforces
// TESSEL_MAX_RECOMPILES (an error naming `where`, the launch's call site).
// `recompiles_so_far` counts the specializations compiled after the first.
void note_recompile(const lang::KernelDef& def, const SignatureKey* previous,
                    const SignatureKey& next, size_t recompiles_so_far,
                    const SourceLoc& where = {});
// The reason note_recompile gives: "parameter 'n' (Int): was divisible by 16, now not; ...".
std::string recompile_reason(const lang::KernelDef& def, const SignatureKey& previous,
                             const SignatureKey& next);

} // namespace tessel::jit
