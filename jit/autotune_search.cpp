// The decision for a new tuning key (jit/autotune_search.h), in the order autotune.h gives:
// tuning files, the op's prune callback, static pruning of compiled GPU configs, then timing (a
// CUDA GPU; the CPU with time_on_cpu) or the heuristic. Every step adds a line to the report that
// TESSEL_DUMP=tune prints, so a surprising choice can be explained from the dump alone.
#include "jit/autotune_search.h"

#include "jit/autotune_file.h"
#include "jit/gpu_compiler.h"
#include "jit/thread_pool.h"
#include "tessel/codegen/target.h"
#include "tessel/jit/compile.h"
#include "tessel/runtime/device.h"
#include "tessel/runtime/stream.h"
#include "tessel/support/dump.h"

#include <fmt/format.h>
#include <llvm/ADT/StringRef.h>
#include <llvm/TargetParser/Host.h>

#include <algorithm>
#include <chrono>
#include <optional>

namespace tessel::jit {
namespace {

// One config under consideration: why it was dropped ("" while it is in), its time when timed.
struct Candidate {
  size_t index = 0;
  std::string pruned;
  double ms = -1;
};

std::string bucket_text(const AutotunerState& s, const TuneKey& key) {
  std::string t;
  for (size_t i = 0; i < s.options.key.size(); ++i)
    t += fmt::format("{}{}={}", t.empty() ? "" : ",", s.options.key[i], key.buckets[i]);
  return t.empty() ? "-" : t;
}

std::string dtypes_text(const TuneKey& key) {
  std::string t;
  for (size_t i = 0; i < key.num_dtypes; ++i)
    t += std::string(t.empty() ? "" : ",") + dtype_name(key.dtypes[i]);
  return t.empty() ? "-" : t;
}

std::string values_text(const AutotunerState& s, const TuneContext& c) {
  std::string t;
  for (size_t i = 0; i < s.options.key.size(); ++i)
    t += fmt::format("{}{}={}", t.empty() ? "" : " ", s.options.key[i], c.values[i]);
  return t.empty() ? "(no key parameters)" : t;
}

// The kernel's arguments for config `config`: `all` with the tuned constants replaced.
void set_config(const AutotunerState& s, size_t config, std::span<detail::ArgValue> all) {
  for (size_t p = 0; p < s.tuned_slot.size(); ++p)
    if (s.tuned_slot[p] >= 0)
      all[p] = detail::to_arg(s.configs[config].values[size_t(s.tuned_slot[p])].second);
}

// The config an entry of the tuning files names for `id`: searched in the read-only files in
// order, then the writable one. A config that is not (or no longer) among the kernel's is
// skipped with a warning: a file must never hand out a config the kernel does not have.
std::optional<size_t> from_files(const AutotunerState& s, const std::string& id,
                                 std::string& report) {
  std::vector<std::string> files = s.options.readonly_files;
  for (std::string& f : readonly_tuning_files())
    files.push_back(std::move(f));
  if (std::string w = writable_tuning_file(); !w.empty())
    files.push_back(w);
  for (const std::string& file : files) {
    std::optional<TuningEntries> entries = read_tuning_file(file);
    if (!entries)
      continue;
    auto it = entries->find(id);
    if (it == entries->end())
      continue;
    auto c = std::find(s.config_text.begin(), s.config_text.end(), it->second.config);
    if (c == s.config_text.end()) {
      support::warn("tuning file " + file + ": the entry for kernel '" + s.kernel.name() +
                    "' names config " + it->second.config +
                    ", which is not one of the kernel's configs; ignored");
      continue;
    }
    report += fmt::format("  from tuning file {} ({})\n", file, it->second.how);
    return size_t(c - s.config_text.begin());
  }
  return std::nullopt;
}

struct CompileJob {
  const AutotunerState* s;
  const Target* target;
  std::span<const detail::ArgValue> all;
  std::vector<Candidate*> todo;
};

void compile_range(void* ctx, int64_t begin, int64_t end) {
  auto* job = static_cast<CompileJob*>(ctx);
  for (int64_t i = begin; i < end; ++i) {
    Candidate& c = *job->todo[size_t(i)];
    const TuneConfig& cfg = job->s->configs[c.index];
    std::array<detail::ArgValue, kMaxParams> args;
    std::copy(job->all.begin(), job->all.end(), args.begin());
    set_config(*job->s, c.index, std::span(args.data(), job->all.size()));
    CompileOptions o;
    o.num_warps = cfg.num_warps;
    o.num_stages = cfg.num_stages;
    try { // exceptions must not escape a thread-pool job
      CompileResult r = job->s->kernel.compile(
          *job->target, Signature::from_arg_values(std::span(args.data(), job->all.size())), o);
      c.pruned = resource_problem(r, *job->target, cfg.num_warps);
    } catch (const std::exception& e) {
      c.pruned = std::string("does not compile: ") + e.what();
    }
  }
}

// Compiles the remaining configs for the call's GPU target in parallel (each lands in the disk
// cache, so the winner's launch loads it) and drops those whose resources do not fit.
void prune_by_resources(const AutotunerState& s, const TuneKey& key,
                        std::span<const detail::ArgValue> all, std::vector<Candidate>& cands,
                        const SourceLoc& where, std::string& report) {
  const Target target = key.device == DeviceKind::sim
                            ? sim_target(s.kernel.name(), where)
                            : cuda_target(s.kernel.name(), key.device_index, where);
  CompileJob job{&s, &target, all, {}};
  for (Candidate& c : cands)
    if (c.pruned.empty())
      job.todo.push_back(&c);
  auto t0 = std::chrono::steady_clock::now();
  ThreadPool::instance().run(int64_t(job.todo.size()), 1, &compile_range, &job,
                             /*caller_helps=*/true);
  double ms =
      std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
  report += fmt::format("  compiled {} configs for {} in parallel ({:.0f} ms)\n", job.todo.size(),
                        target.name(), ms);
}

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

// The median time of `repeats` launches of config `index` after `warmup` ones: CUDA events on
// the launch's stream, or the wall clock around each (synchronous) CPU launch.
double time_config(const AutotunerState& s, const LaunchOptions& options, const TuneKey& key,
                   std::span<const detail::ArgValue> all, size_t index, const TuneContext& ctx,
                   std::source_location where) {
  std::array<detail::ArgValue, kMaxParams> args;
  std::copy(all.begin(), all.end(), args.begin());
  std::span<const detail::ArgValue> a(args.data(), all.size());
  set_config(s, index, std::span(args.data(), all.size()));
  LaunchOptions o = options;
  o.num_warps = s.configs[index].num_warps;
  o.num_stages = s.configs[index].num_stages;
  Grid grid = s.grid_of(index, ctx);
  std::vector<double> times;
  if (key.device == DeviceKind::cuda) {
    runtime::Stream stream = options.stream
                                 ? runtime::Stream::wrap(options.stream->handle(), key.device_index)
                                 : runtime::Stream::default_stream(key.device_index);
    o.stream = &stream;
    runtime::Event start(key.device_index), stop(key.device_index);
    for (int i = 0; i < s.options.warmup; ++i)
      s.kernel.launch_args(grid, o, a, where);
    for (int i = 0; i < s.options.repeats; ++i) {
      start.record(stream);
      s.kernel.launch_args(grid, o, a, where);
      stop.record(stream);
      times.push_back(double(stop.elapsed_ms_since(start)));
    }
    return median(times);
  }
  for (int i = 0; i < s.options.warmup; ++i)
    s.kernel.launch_args(grid, o, a, where);
  for (int i = 0; i < s.options.repeats; ++i) {
    auto t0 = std::chrono::steady_clock::now();
    s.kernel.launch_args(grid, o, a, where);
    times.push_back(
        std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count());
  }
  return median(times);
}

// Times every remaining config; one that fails to launch is dropped with the error.
void time_all(const AutotunerState& s, const LaunchOptions& options, const TuneKey& key,
              std::span<const detail::ArgValue> all, const TuneContext& ctx,
              std::vector<Candidate>& cands, std::source_location where) {
  for (Candidate& c : cands) {
    if (!c.pruned.empty())
      continue;
    try {
      c.ms = time_config(s, options, key, all, c.index, ctx, where);
    } catch (const Error& e) {
      c.pruned = std::string("launch failed: ") + e.what();
    }
  }
}

std::string candidates_text(const AutotunerState& s, const std::vector<Candidate>& cands) {
  std::string t;
  for (const Candidate& c : cands) {
    std::string state = !c.pruned.empty() ? "pruned: " + c.pruned
                        : c.ms >= 0
                            ? fmt::format("{:.4f} ms (median of {})", c.ms, s.options.repeats)
                            : std::string("fits");
    t += fmt::format("  config {} {}: {}\n", c.index, s.config_text[c.index], state);
  }
  return t;
}

[[noreturn]] void throw_none_fits(const AutotunerState& s, const std::vector<Candidate>& cands,
                                  const std::string& values, const SourceLoc& where) {
  throw Error(where, "autotuned kernel '" + s.kernel.name() + "': no config can run " + values +
                         ":\n" + candidates_text(s, cands) +
                         "add a config that fits (smaller blocks, fewer stages or warps)");
}

// The pick when nothing is timed: the op's heuristic over the fitting configs, or the first.
size_t pick_by_heuristic(const AutotunerState& s, const std::vector<Candidate>& cands,
                         const TuneContext& ctx, const SourceLoc& where) {
  std::vector<TuneConfig> fitting;
  std::vector<size_t> index;
  for (const Candidate& c : cands)
    if (c.pruned.empty()) {
      fitting.push_back(s.configs[c.index]);
      index.push_back(c.index);
    }
  size_t pick = s.options.heuristic ? s.options.heuristic(fitting, ctx) : 0;
  if (pick >= fitting.size())
    throw Error(where,
                fmt::format("autotuned kernel '{}': the heuristic '{}' returned {}, but "
                            "only {} configs fit; return an index into `fitting`",
                            s.kernel.name(), s.options.heuristic_name, pick, fitting.size()));
  return index[pick];
}

bool timed_on(const AutotunerState& s, DeviceKind d) {
  return d == DeviceKind::cuda || (d == DeviceKind::cpu && s.options.time_on_cpu);
}

} // namespace

std::string resource_problem(const CompileResult& r, const Target& target, int num_warps) {
  const codegen::TargetLimits& lim = target.limits();
  int64_t shared = r.shared_bytes + r.resources.static_shared_bytes;
  if (shared > lim.max_shared_bytes)
    return fmt::format("needs {} bytes of shared memory, {} allows {}", shared, target.name(),
                       lim.max_shared_bytes);
  if (r.resources.registers > lim.max_registers_per_thread)
    return fmt::format("needs {} registers per thread, at most {}", r.resources.registers,
                       lim.max_registers_per_thread);
  if (int64_t(r.resources.registers) * num_warps * 32 > lim.max_registers_per_block)
    return fmt::format("{} registers x {} threads exceed the {} registers of a block",
                       r.resources.registers, num_warps * 32, lim.max_registers_per_block);
  if (r.resources.spill_stores + r.resources.spill_loads > 0)
    return fmt::format("spills ({} bytes stored, {} loaded)", r.resources.spill_stores,
                       r.resources.spill_loads);
  return "";
}

std::string tune_device_name(DeviceKind d, int ordinal) {
  switch (d) {
  case DeviceKind::cpu: {
    static const std::string cpu = "cpu " + llvm::sys::getHostCPUName().str();
    return cpu;
  }
  case DeviceKind::sim:
    return "sim " + runtime::sim_target_name();
  case DeviceKind::cuda:
    return runtime::Device::get(ordinal).properties().name;
  }
  TESSEL_UNREACHABLE("bad DeviceKind");
}

TuneKey AutotunerState::key_of(std::span<const detail::ArgValue> all,
                               const SignatureKey& sig) const {
  TuneKey k;
  for (size_t i = 0; i < key_params.size(); ++i) {
    int64_t v = all[key_params[i]].i;
    k.buckets[i] = options.bucket ? options.bucket(v) : tune_bucket_pow2(v);
  }
  for (const detail::ArgValue& a : all)
    if (a.kind == detail::ArgValue::Kind::Pointer)
      k.dtypes[k.num_dtypes++] = a.dtype;
  k.device = sig.device;
  k.device_index = sig.device_index;
  return k;
}

TuneContext AutotunerState::context_of(std::span<const detail::ArgValue> all,
                                       DeviceKind device) const {
  TuneContext c;
  c.names = options.key;
  for (size_t i = 0; i < key_params.size(); ++i) {
    c.values[i] = all[key_params[i]].i;
    c.buckets[i] = options.bucket ? options.bucket(c.values[i]) : tune_bucket_pow2(c.values[i]);
  }
  c.device = device;
  return c;
}

Grid AutotunerState::grid_of(size_t config, const TuneContext& context) const {
  return options.grid(configs[config], context);
}

TuneChoice tune(const AutotunerState& s, const LaunchOptions& options,
                std::span<const detail::ArgValue> all, const TuneKey& key,
                std::source_location where) {
  const SourceLoc site = SourceLoc::from(where);
  const TuneContext ctx = s.context_of(all, key.device);
  TuningEntry entry{s.kernel.name(),
                    bucket_text(s, key),
                    dtypes_text(key),
                    tune_device_name(key.device, key.device_index),
                    "",
                    ""};
  std::string report =
      fmt::format("autotune {}: {} -> key {} | {} | {} | {}\n", s.kernel.name(),
                  values_text(s, ctx), entry.key, entry.dtypes, entry.device, tuning_build_id());
  auto finish = [&](size_t index, TuneSource source, const std::string& why) {
    report += fmt::format("  chosen: config {} {} ({})\n", index, s.config_text[index], why);
    if (support::dump_enabled("tune"))
      support::dump("tune", s.kernel.name(), report);
    return TuneChoice{&s.configs[index], index, source, key.device};
  };
  if (std::optional<size_t> hit = from_files(s, entry.id(), report))
    return finish(*hit, TuneSource::file, "tuning file");

  std::vector<Candidate> cands(s.configs.size());
  for (size_t i = 0; i < cands.size(); ++i) {
    cands[i].index = i;
    if (s.options.prune)
      cands[i].pruned = s.options.prune(s.configs[i], ctx);
  }
  if (key.device != DeviceKind::cpu)
    prune_by_resources(s, key, all, cands, site, report);
  auto fits = [](const Candidate& c) { return c.pruned.empty(); };
  if (std::none_of(cands.begin(), cands.end(), fits))
    throw_none_fits(s, cands, values_text(s, ctx), site);

  if (!timed_on(s, key.device)) {
    size_t pick = pick_by_heuristic(s, cands, ctx, site);
    report += candidates_text(s, cands);
    return finish(pick, TuneSource::heuristic,
                  "heuristic '" + s.options.heuristic_name + "'; nothing is timed on " +
                      device_kind_name(key.device));
  }
  time_all(s, options, key, all, ctx, cands, where);
  report += candidates_text(s, cands);
  if (std::none_of(cands.begin(), cands.end(), fits))
    throw_none_fits(s, cands, values_text(s, ctx), site);
  const Candidate* best = nullptr;
  for (const Candidate& c : cands)
    if (fits(c) && (!best || c.ms < best->ms))
      best = &c;
  entry.config = s.config_text[best->index];
  entry.how = fmt::format("timed {:.4f} ms (median of {})", best->ms, s.options.repeats);
  std::string file = writable_tuning_file();
  bool stored = !file.empty() && store_tuning_entry(file, entry);
  return finish(best->index, TuneSource::timed,
                "fastest; " + (stored ? "written to " + file : std::string("not written")));
}

} // namespace tessel::jit
