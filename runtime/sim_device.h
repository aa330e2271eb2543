// Private: the simulated GPU device (DeviceKind::sim) — one process-wide tessel::sim::Device
// (the PTX simulator of sim/) behind a mutex, used by DeviceBuffer for memory and by
// Kernel::launch for kernels compiled to PTX. Every function throws tessel::Error when tessel
// was built without sim/ (TESSEL_BUILD_SIM=OFF).
//
// A simulated launch runs with memcheck and racecheck on; any finding (an out-of-bounds or
// misaligned access, a shared-memory race, a barrier deadlock) is a tessel::Error that lists
// each one with the kernel, PTX line, source line, thread, block and address: a bug in a user's
// kernel is never silent on this device.
#pragma once

#include "tessel/runtime/cuda_module.h"

#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <string>

namespace tessel::sim {
struct LaunchReport;
}

namespace tessel::runtime::simdev {

// True when tessel was built with the simulator.
bool available();

// Device memory. `release` of 0 does nothing.
uint64_t allocate(size_t bytes);
void release(uint64_t address) noexcept;
void copy_to_device(uint64_t dst, const void* src, size_t bytes);
void copy_to_host(void* dst, uint64_t src, size_t bytes);
void copy_on_device(uint64_t dst, uint64_t src, size_t bytes);
void fill(uint64_t dst, unsigned char value, size_t bytes);
// Whether `p` is inside a live simulated allocation (a sim address passed as a host pointer).
// No lock and no work unless the process has allocated simulated memory.
bool owns(const void* p);

// The simulator's shared-memory bank profile summed over every launch of the process (per
// kernel entry): tests read it before and after a run to assert that the kernels they ran took
// no more wavefronts than their accesses need.
struct BankTally {
  uint64_t wavefronts = 0;
  uint64_t conflicts = 0;                    // wavefronts beyond the conflict-free minimum
  std::map<std::string, uint64_t> by_kernel; // conflicts per entry (entries with conflicts)
};
BankTally bank_tally();

// A kernel's PTX, parsed once, launchable many times.
// Writes what a launch's device_prints printed (sim_debug_output.cpp: one block per program and
// print, in coordinate order) to the device output, and returns the message of its failed
// device_asserts ("" when none failed).
std::string take_debug_output(const std::string& kernel, const sim::LaunchReport& report);

class SimKernel {
public:
  // Throws tessel::Error for PTX the simulator cannot parse or an entry it does not contain.
  static std::shared_ptr<const SimKernel> load(const std::string& ptx, const std::string& entry);
  // `params[i]` points at the value of parameter i (the cuLaunchKernel convention). Runs to
  // completion; throws tessel::Error for a bad launch and for every finding of the checkers.
  void launch(const LaunchDims& dims, void* const* params) const;
  const std::string& entry() const { return entry_; }

  struct Parsed;

private:
  std::shared_ptr<const Parsed> parsed_;
  std::string entry_;
};

} // namespace tessel::runtime::simdev
