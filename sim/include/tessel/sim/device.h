// The simulated device: a global memory with allocations, and launches of PTX kernels that
// run on the CPU warp by warp with memory checking, race checking and bank-conflict
// accounting. A launch returns a `LaunchReport` (errors found while running plus the
// profile); bad input (malformed PTX, unknown entry, wrong arguments) is an `Error`.
//
// Addresses handed out by `malloc` are 64-bit generic addresses, as on a GPU; kernels see
// them through their pointer arguments. CTAs run one after another in linear block order,
// so a launch is deterministic.
#pragma once

#include <tessel/sim/error.h>
#include <tessel/sim/profile.h>

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace tessel::sim {

struct Module; // a parsed PTX module, see module.h (a struct, as defined in src/ptx_module.h)

// One kernel argument: the bytes of a `.param`, checked against its declared size.
struct KernelArg {
  std::vector<uint8_t> bytes;

  template <typename T> static KernelArg of(const T& value) {
    KernelArg arg;
    arg.bytes.resize(sizeof(T));
    std::memcpy(arg.bytes.data(), &value, sizeof(T));
    return arg;
  }
  static KernelArg i32(int32_t v) { return of(v); }
  static KernelArg u32(uint32_t v) { return of(v); }
  static KernelArg i64(int64_t v) { return of(v); }
  static KernelArg u64(uint64_t v) { return of(v); }
  static KernelArg f32(float v) { return of(v); }
  static KernelArg f64(double v) { return of(v); }
  static KernelArg ptr(uint64_t device_address) { return of(device_address); }
};

struct LaunchOptions {
  bool racecheck = true;                          // shared and global hazards (vector clocks)
  bool check_uninitialized = true;                // reads of never-written shared/local bytes
  uint64_t max_warp_instructions = 2'000'000'000; // guards against endless loops
  size_t max_errors = 64;                         // further errors are counted, not kept
};

// What one thread's vprintf (device-side printf) wrote.
struct PrintfRecord {
  Dim3 block, thread;
  std::string format; // the format string the kernel passed
  std::string text;   // the formatted text
};

struct LaunchReport {
  // Every vprintf of the launch, in execution order (CTAs run one after another).
  std::vector<PrintfRecord> printf_output;
  std::vector<Error> errors;   // distinct errors (one per instruction and kind), at most
                               // LaunchOptions::max_errors
  uint64_t dropped_errors = 0; // further occurrences, and errors beyond the cap
  Profile profile;
  bool ok() const { return errors.empty(); }
};

struct DeviceLimits {
  uint32_t max_threads_per_block = 1024;
  Dim3 max_block{1024, 1024, 64};
  Dim3 max_grid{2147483647u, 65535, 65535};
  uint32_t max_static_shared = 48 * 1024;
  uint32_t max_shared_per_block = 227 * 1024; // static + dynamic (sm_90 opt-in limit)
};

class Device {
public:
  explicit Device(DeviceLimits limits = {});
  ~Device();
  Device(const Device&) = delete;
  Device& operator=(const Device&) = delete;

  Result<uint64_t> malloc(size_t bytes);
  Status free(uint64_t address);
  Status memcpy_to_device(uint64_t dst, const void* src, size_t bytes);
  Status memcpy_to_host(void* dst, uint64_t src, size_t bytes);
  Status memset(uint64_t dst, int value, size_t bytes);

  // Parses `ptx` (cached by its text) and runs `entry`.
  Result<LaunchReport> launch(std::string_view ptx, std::string_view entry, Dim3 grid, Dim3 block,
                              uint32_t dynamic_smem, std::span<const KernelArg> args,
                              const LaunchOptions& options = {});
  Result<LaunchReport> launch(const std::shared_ptr<const Module>& module, std::string_view entry,
                              Dim3 grid, Dim3 block, uint32_t dynamic_smem,
                              std::span<const KernelArg> args, const LaunchOptions& options = {});
  // As cuLaunchKernel: `params[i]` points at the value of parameter i, whose size is taken
  // from the kernel's declaration (for a runtime that holds arguments as `void**`).
  Result<LaunchReport> launch_with_param_pointers(const std::shared_ptr<const Module>& module,
                                                  std::string_view entry, Dim3 grid, Dim3 block,
                                                  uint32_t dynamic_smem, void* const* params,
                                                  const LaunchOptions& options = {});

  const DeviceLimits& limits() const { return limits_; }

  struct State; // implementation

private:
  DeviceLimits limits_;
  std::unique_ptr<State> state_;
};

} // namespace tessel::sim
