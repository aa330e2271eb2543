// The simulated device: memory and launches on one process-wide tessel::sim::Device.
#include "runtime/sim_device.h"

#include "tessel/error.h"

#ifdef TESSEL_HAVE_SIM
#include <tessel/sim/sim.h>
#endif

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <mutex>
#include <vector>

namespace tessel::runtime::simdev {

#ifdef TESSEL_HAVE_SIM

struct SimKernel::Parsed {
  std::shared_ptr<const sim::Module> module;
};

namespace {

// The device and the allocations it handed out (for `owns`), under one mutex: the simulator's
// Device is not thread-safe, and a launch holds the lock while it runs.
struct SimState {
  std::mutex mutex;
  sim::Device device;
  std::map<uint64_t, size_t> allocations; // base -> bytes
  BankTally banks;
};

std::atomic<bool> g_used{false};

SimState& state() {
  static SimState* s = [] {
    g_used.store(true, std::memory_order_release);
    return new SimState; // never destroyed: buffers may be freed during static destruction
  }();
  return *s;
}

[[noreturn]] void fail(const std::string& doing, const sim::Error& e) {
  throw Error("simulated device: " + doing + ": " + e.to_string());
}

} // namespace

bool available() { return true; }

uint64_t allocate(size_t bytes) {
  if (bytes == 0)
    return 0;
  SimState& s = state();
  std::lock_guard lock(s.mutex);
  sim::Result<uint64_t> r = s.device.malloc(bytes);
  if (!r.ok())
    fail("allocating " + std::to_string(bytes) + " bytes", r.error());
  s.allocations.emplace(*r, bytes);
  return *r;
}

void release(uint64_t address) noexcept {
  if (address == 0)
    return;
  SimState& s = state();
  std::lock_guard lock(s.mutex);
  s.allocations.erase(address);
  (void)s.device.free(address);
}

void copy_to_device(uint64_t dst, const void* src, size_t bytes) {
  SimState& s = state();
  std::lock_guard lock(s.mutex);
  if (sim::Status st = s.device.memcpy_to_device(dst, src, bytes); !st.ok())
    fail("copying to the device", st.error());
}

void copy_to_host(void* dst, uint64_t src, size_t bytes) {
  SimState& s = state();
  std::lock_guard lock(s.mutex);
  if (sim::Status st = s.device.memcpy_to_host(dst, src, bytes); !st.ok())
    fail("copying from the device", st.error());
}

void copy_on_device(uint64_t dst, uint64_t src, size_t bytes) {
  std::vector<unsigned char> staging(bytes);
  copy_to_host(staging.data(), src, bytes);
  copy_to_device(dst, staging.data(), bytes);
}

void fill(uint64_t dst, unsigned char value, size_t bytes) {
  SimState& s = state();
  std::lock_guard lock(s.mutex);
  if (sim::Status st = s.device.memset(dst, value, bytes); !st.ok())
    fail("filling device memory", st.error());
}

bool owns(const void* p) {
  if (!p || !g_used.load(std::memory_order_acquire))
    return false;
  SimState& s = state();
  std::lock_guard lock(s.mutex);
  uint64_t a = reinterpret_cast<uintptr_t>(p);
  auto it = s.allocations.upper_bound(a);
  if (it == s.allocations.begin())
    return false;
  --it;
  return a < it->first + it->second;
}

std::shared_ptr<const SimKernel> SimKernel::load(const std::string& ptx, const std::string& entry) {
  sim::Result<std::shared_ptr<const sim::Module>> m = sim::parse_module(ptx, entry + ".ptx");
  if (!m.ok())
    throw Error("kernel '" + entry +
                "': the simulator cannot run its PTX: " + m.error().to_string());
  bool found = false;
  for (const sim::KernelInfo& k : sim::module_kernels(**m))
    found = found || k.name == entry;
  if (!found)
    throw Error("kernel '" + entry + "': its PTX has no entry of that name");
  auto k = std::make_shared<SimKernel>();
  auto parsed = std::make_shared<Parsed>();
  parsed->module = std::move(*m);
  k->parsed_ = std::move(parsed);
  k->entry_ = entry;
  return k;
}

namespace {

// TESSEL_SIM_PROFILE=1: one line per launch on stderr (the entry, its thread and warp
// instructions, shared wavefronts and bank conflicts), for figures of a kernel's executed work
// that do not depend on the machine's load; TESSEL_SIM_PROFILE=full adds the per-line profile.
void print_profile(const std::string& entry, const sim::LaunchReport& report) {
  const char* env = std::getenv("TESSEL_SIM_PROFILE");
  if (!env || !*env || std::strcmp(env, "0") == 0)
    return;
  const sim::Profile& p = report.profile;
  std::fprintf(stderr,
               "[sim profile] %s: %llu thread instructions, %llu warp instructions, %llu shared "
               "wavefronts, %llu bank conflicts\n",
               entry.c_str(), static_cast<unsigned long long>(p.thread_instructions),
               static_cast<unsigned long long>(p.warp_instructions),
               static_cast<unsigned long long>(p.total_wavefronts()),
               static_cast<unsigned long long>(p.total_bank_conflicts()));
  if (std::strcmp(env, "full") == 0)
    std::fprintf(stderr, "%s\n", p.to_string().c_str());
}

} // namespace

BankTally bank_tally() {
  SimState& s = state();
  std::lock_guard lock(s.mutex);
  return s.banks;
}

void SimKernel::launch(const LaunchDims& dims, void* const* params) const {
  SimState& s = state();
  sim::Dim3 grid{dims.grid[0], dims.grid[1], dims.grid[2]};
  sim::Dim3 block{dims.block[0], dims.block[1], dims.block[2]};
  sim::Result<sim::LaunchReport> r = [&] {
    std::lock_guard lock(s.mutex);
    sim::Result<sim::LaunchReport> report = s.device.launch_with_param_pointers(
        parsed_->module, entry_, grid, block, dims.shared_bytes, params);
    if (report.ok()) {
      uint64_t conflicts = report->profile.total_bank_conflicts();
      s.banks.wavefronts += report->profile.total_wavefronts();
      s.banks.conflicts += conflicts;
      if (conflicts)
        s.banks.by_kernel[entry_] += conflicts;
    }
    return report;
  }();
  if (!r.ok())
    throw Error("kernel '" + entry_ +
                "' could not be launched on the simulated device: " + r.error().to_string());
  const sim::LaunchReport& report = *r;
  print_profile(entry_, report);
  if (std::string failed = take_debug_output(entry_, report); !failed.empty())
    throw Error(failed);
  if (report.ok())
    return;
  std::string msg = "kernel '" + entry_ +
                    "' failed on the simulated device (TESSEL_DEVICE=sim) "
                    "with " +
                    std::to_string(report.errors.size()) + " error" +
                    (report.errors.size() == 1 ? "" : "s");
  if (report.dropped_errors)
    msg += " (and " + std::to_string(report.dropped_errors) + " more occurrences not listed)";
  msg += ":";
  bool over_budget = false;
  for (const sim::Error& e : report.errors) {
    msg += "\n  " + e.to_string();
    over_budget = over_budget || e.kind == sim::ErrorKind::limit;
  }
  if (over_budget)
    msg +=
        "\n  A tessel launch on the simulated device runs with the simulator's default budget (" +
        std::to_string(sim::LaunchOptions{}.max_warp_instructions) +
        " warp instructions), which tessel::LaunchOptions does not change: look for a loop that "
        "never ends (a while_ whose condition stays true), or run a smaller grid; to run the "
        "kernel's PTX with a larger budget, use `tessel-sim run --max-instructions N` on the "
        "output of `tessel compile --emit ptx`.";
  throw Error(msg);
}

#else // !TESSEL_HAVE_SIM

struct SimKernel::Parsed {};

namespace {
[[noreturn]] void unavailable() {
  throw Error("the simulated device (TESSEL_DEVICE=sim) is not available: tessel was built "
              "without the PTX simulator (configure with -DTESSEL_BUILD_SIM=ON)");
}
} // namespace

bool available() { return false; }
uint64_t allocate(size_t) { unavailable(); }
void release(uint64_t) noexcept {}
void copy_to_device(uint64_t, const void*, size_t) { unavailable(); }
void copy_to_host(void*, uint64_t, size_t) { unavailable(); }
void copy_on_device(uint64_t, uint64_t, size_t) { unavailable(); }
void fill(uint64_t, unsigned char, size_t) { unavailable(); }
bool owns(const void*) { return false; }
std::shared_ptr<const SimKernel> SimKernel::load(const std::string&, const std::string&) {
  unavailable();
}
void SimKernel::launch(const LaunchDims&, void* const*) const { unavailable(); }
BankTally bank_tally() { return {}; }

#endif

} // namespace tessel::runtime::simdev
