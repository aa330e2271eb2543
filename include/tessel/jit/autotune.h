// Autotuning: one kernel, a list of configs (values for some of its Const parameters plus
// num_warps and num_stages), and a choice per tuning key, made once and remembered.
//
//   const tessel::Autotuner mm(matmul_kernel,
//       {{{{"BLOCK_M", 128}, {"BLOCK_N", 128}, {"BLOCK_K", 32}}, /*num_warps=*/8,
//       /*num_stages=*/3},
//        {{{"BLOCK_M", 64}, {"BLOCK_N", 64}, {"BLOCK_K", 32}}, 4, 2}},
//       {.key = {"M", "N", "K"},
//        .grid = [](const tessel::TuneConfig& c, const tessel::TuneContext& t) {
//          return tessel::Grid(cdiv(t.value("M"), c.get("BLOCK_M")) * ...); }});
//   mm.launch({}, c, a, b, M, N, K, ...);   // every parameter except the tuned constants
//
// What a call does (docs/runtime.md, "Autotuning and tuning files"):
//  1. The tuning key: (kernel name, shape bucket, dtypes, device name, tessel build id). The
//     bucket is the values of the `key` parameters each rounded up to a power of two (or by
//     AutotuneOptions::bucket); dtypes are the element types of the pointer arguments; the device
//     name is the GPU's ("NVIDIA H200"), "sim sm_80" for the simulated device, "cpu <host CPU>".
//     A key seen before in this process is a table lookup: no compile, no file access.
//  2. A new key is looked up in the read-only tuning files (AutotuneOptions::readonly_files, then
//     TESSEL_TUNING_READONLY_FILES, in order), then in the writable one (TESSEL_TUNING_FILE, else
//     <cache dir>/tuning.tsv). A hit names a config by its values and is used without timing.
//  3. Else the configs are pruned: the op's `prune` callback (any device), then on GPUs (a real
//     one or the simulated device) every remaining config is compiled in parallel on the thread
//     pool and dropped when it cannot run — shared memory over the target's limit, more than 255
//     registers per thread (or more than a block may hold), spills, or a compile error.
//  4. On a CUDA GPU the survivors are timed with the caller's arguments (CUDA events, `warmup`
//     launches, then the median of `repeats`) and the fastest wins; the winner is written to the
//     writable tuning file. Without a GPU (the CPU backend, the simulated device) `heuristic`
//     picks among the survivors (default: the first), and nothing is written — unless
//     `time_on_cpu` asks to time CPU launches by the wall clock, whose winners are written too.
// TESSEL_DUMP=tune prints each decision: the key, every pruned config with its reason, the
// timings or the heuristic, and where the choice came from.
//
// Timing launches the kernel with the caller's arguments several times: a kernel that reads what
// it writes (accumulates into its output) sees its own results; give such a kernel scratch
// outputs for the first call of each key.
#pragma once

#include "tessel/jit/kernel.h"

#include <array>
#include <cstdint>
#include <functional>
#include <memory>
#include <source_location>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace tessel {

// One point of the tuning space: values for named Const parameters, and the GPU launch options.
struct TuneConfig {
  std::vector<std::pair<std::string, int64_t>> values; // {"BLOCK_M", 128}, ...
  int num_warps = 4;
  int num_stages = 2;

  // The value of `name`; throws tessel::Error when the config has none.
  int64_t get(std::string_view name) const;
  // "BLOCK_M=128,BLOCK_N=64,num_warps=4,num_stages=3": how tuning files and dumps name it.
  std::string to_string() const;
};

// What the callbacks see of one call: the key parameters' values and where it runs.
struct TuneContext {
  static constexpr size_t kMaxKey = 8;

  std::span<const std::string> names;     // the key parameters, in AutotuneOptions::key order
  std::array<int64_t, kMaxKey> values{};  // their values in this call
  std::array<int64_t, kMaxKey> buckets{}; // the same, bucketed
  DeviceKind device = DeviceKind::cpu;

  // The value of key parameter `name`; throws tessel::Error naming the key when it is not one.
  int64_t value(std::string_view name) const;
};

struct AutotuneOptions {
  // Int parameters whose values select the config (e.g. {"M", "N", "K"}); at most 8.
  std::vector<std::string> key;
  // The grid of a launch with config `c` (required).
  std::function<Grid(const TuneConfig& c, const TuneContext& t)> grid;
  // Rounds one key value to its bucket; default: up to the next power of two (0 and negative
  // values stay as they are).
  std::function<int64_t(int64_t)> bucket;
  // Drops configs before anything is compiled: returns why `c` cannot serve this call, or "".
  std::function<std::string(const TuneConfig& c, const TuneContext& t)> prune;
  // Picks among the configs that fit when nothing is timed: an index into `fitting` (which is in
  // the order of the configs). Default: 0, the first config that fits.
  std::function<size_t(std::span<const TuneConfig> fitting, const TuneContext& t)> heuristic;
  std::string heuristic_name = "first config that fits"; // for TESSEL_DUMP=tune
  // Timing (CUDA; the CPU with time_on_cpu): launches before timing, and timed launches (the
  // median counts).
  int warmup = 2;
  int repeats = 7;
  bool time_on_cpu = false;
  // Shipped tuning files, searched first (before TESSEL_TUNING_READONLY_FILES); never written.
  std::vector<std::string> readonly_files;
};

// What Autotuner::launch takes first: the launch options and the caller's source location (so
// that errors name the caller's file:line, as GridAt does for Kernel::launch). Converts
// implicitly from LaunchOptions and from `{}`.
struct LaunchOptionsAt {
  LaunchOptions options;
  std::source_location where;
  LaunchOptionsAt(const LaunchOptions& o = {},
                  std::source_location w = std::source_location::current())
      : options(o), where(w) {}
};

// Where a call's config came from.
enum class TuneSource : uint8_t {
  memory,    // this process chose it before for this key
  file,      // a tuning file (read-only or writable)
  timed,     // timed now
  heuristic, // picked by the heuristic now
};
const char* tune_source_name(TuneSource s); // "memory", "file", "timed", "heuristic"

struct TuneChoice {
  const TuneConfig* config = nullptr; // one of the Autotuner's configs
  size_t index = 0;                   // its position in the list
  TuneSource source = TuneSource::memory;
  DeviceKind device = DeviceKind::cpu; // where the call runs
};

class Autotuner {
public:
  // Checks the configs against `kernel` (it needs parameter names: tl::kernel(name, "a, b, ...",
  // fn)): every config names the same Const parameters, num_warps a power of two from 1 to 32,
  // num_stages from 1 to 16; `key` names Int parameters; a grid is given. Throws tessel::Error
  // naming `where` otherwise.
  Autotuner(Kernel kernel, std::vector<TuneConfig> configs, AutotuneOptions options,
            std::source_location where = std::source_location::current());
  ~Autotuner();
  Autotuner(const Autotuner&) = delete;
  Autotuner& operator=(const Autotuner&) = delete;

  const Kernel& kernel() const;
  std::span<const TuneConfig> configs() const;

  // Launches the kernel with the config chosen for these arguments: every parameter of the
  // kernel except the tuned constants, in order. `options.num_warps` and `num_stages` come from
  // the config; the rest (stream, device, checked) from `options`.
  template <class... A> void launch(LaunchOptionsAt options, const A&... args) const {
    const detail::ArgValue values[] = {detail::ArgValue(), detail::to_arg(args)...};
    launch_args(options.options, std::span<const detail::ArgValue>(values + 1, sizeof...(A)),
                options.where);
  }
  // The config these arguments select, tuning first when their key is new (which launches the
  // kernel when timing).
  template <class... A> TuneChoice choose(LaunchOptionsAt options, const A&... args) const {
    const detail::ArgValue values[] = {detail::ArgValue(), detail::to_arg(args)...};
    return choose_args(options.options, std::span<const detail::ArgValue>(values + 1, sizeof...(A)),
                       options.where);
  }

  void launch_args(const LaunchOptions& options, std::span<const detail::ArgValue> args,
                   std::source_location where = std::source_location::current()) const;
  TuneChoice choose_args(const LaunchOptions& options, std::span<const detail::ArgValue> args,
                         std::source_location where = std::source_location::current()) const;

  struct Impl;

private:
  std::unique_ptr<Impl> impl_;
};

// Rounds up to the next power of two (the default bucket); values <= 1 stay as they are.
int64_t tune_bucket_pow2(int64_t v);

} // namespace tessel
