// Private: an Autotuner's state (tessel/jit/autotune.h) and the decision for a new tuning key —
// tuning files first, then pruning (the op's callback; on GPUs the compiled configs' resources),
// then timing or the heuristic, with TESSEL_DUMP=tune saying why.
#pragma once

#include "jit/signature.h"
#include "tessel/jit/autotune.h"
#include "tessel/jit/compile.h"

#include <array>
#include <cstdint>
#include <source_location>
#include <span>
#include <string>
#include <vector>

namespace tessel::jit {

// What selects a config within one process: the buckets of the key values, the pointer
// arguments' dtypes and the device. The kernel name and build are the Autotuner's own, fixed.
struct TuneKey {
  std::array<int64_t, TuneContext::kMaxKey> buckets{};
  std::array<DType, kMaxParams> dtypes{};
  size_t num_dtypes = 0;
  DeviceKind device = DeviceKind::cpu;
  int device_index = 0;
  bool operator==(const TuneKey& o) const = default;
};

struct AutotunerState {
  Kernel kernel;
  std::vector<TuneConfig> configs;
  std::vector<std::string> config_text; // configs[i].to_string()
  AutotuneOptions options;
  SourceLoc where; // the Autotuner's definition
  // Per kernel parameter: the index of its value in every config's `values`, or -1 when the
  // caller passes it.
  std::vector<int> tuned_slot;
  std::vector<size_t> key_params; // the kernel parameter of each key name
  size_t user_args = 0;

  explicit AutotunerState(Kernel k) : kernel(std::move(k)) {}

  void check(const SourceLoc& loc) const;
  void index_params();
  // The kernel's full argument list: the caller's `args` with config `config`'s constants.
  void assemble(std::span<const detail::ArgValue> args, size_t config,
                std::span<detail::ArgValue> out) const;
  TuneKey key_of(std::span<const detail::ArgValue> all, const SignatureKey& sig) const;
  TuneContext context_of(std::span<const detail::ArgValue> all, DeviceKind device) const;
  Grid grid_of(size_t config, const TuneContext& context) const;
};

// The device field of a tuning key: "cpu <LLVM's host CPU name>", "sim sm_80", or the CUDA
// device's name ("NVIDIA H200").
std::string tune_device_name(DeviceKind d, int ordinal);

// Why a config compiled for `target` with `num_warps` warps cannot run there, or "": shared
// memory over the target's limit, more registers per thread than it has (or than a block of
// num_warps warps may hold), or spills.
std::string resource_problem(const CompileResult& r, const Target& target, int num_warps);

// Decides the config for a key not seen before in this process (see autotune.h for the order).
// `all` are the arguments as assembled with config 0. Throws tessel::Error naming `where` (the
// call) when no config fits, listing each config's reason.
TuneChoice tune(const AutotunerState& s, const LaunchOptions& options,
                std::span<const detail::ArgValue> all, const TuneKey& key,
                std::source_location where);

} // namespace tessel::jit
