// Autotuner (tessel/jit/autotune.h): the configs checked against the kernel, the tuning key of a
// call, the per-process table of choices, and launches with the chosen config. How a new key is
// decided (tuning files, pruning, timing, the heuristic) is in jit/autotune_search.cpp.
#include "tessel/jit/autotune.h"

#include "jit/autotune_search.h"
#include "jit/signature.h"

#include <fmt/format.h>

#include <algorithm>
#include <mutex>

namespace tessel {

using jit::kMaxParams;
using lang::ParamKind;

int64_t tune_bucket_pow2(int64_t v) {
  if (v <= 1)
    return v;
  int64_t p = 1;
  while (p < v && p < (int64_t(1) << 62))
    p *= 2;
  return p;
}

int64_t TuneConfig::get(std::string_view name) const {
  for (const auto& [n, v] : values)
    if (n == name)
      return v;
  throw Error("autotune config " + to_string() + " has no value for '" + std::string(name) + "'");
}

std::string TuneConfig::to_string() const {
  std::string s;
  for (const auto& [n, v] : values)
    s += n + "=" + std::to_string(v) + ",";
  return s + "num_warps=" + std::to_string(num_warps) + ",num_stages=" + std::to_string(num_stages);
}

int64_t TuneContext::value(std::string_view name) const {
  for (size_t i = 0; i < names.size(); ++i)
    if (names[i] == name)
      return values[i];
  std::string known;
  for (const std::string& n : names)
    known += (known.empty() ? "" : ", ") + n;
  throw Error("autotune: '" + std::string(name) + "' is not a key parameter (the key is " +
              (known.empty() ? std::string("empty") : known) +
              "); add it to AutotuneOptions::key to use its value");
}

const char* tune_source_name(TuneSource s) {
  switch (s) {
  case TuneSource::memory:
    return "memory";
  case TuneSource::file:
    return "file";
  case TuneSource::timed:
    return "timed";
  case TuneSource::heuristic:
    return "heuristic";
  }
  TESSEL_UNREACHABLE("bad TuneSource");
}

namespace {

// The parameter of `def` named `name`, or npos.
size_t param_index(const lang::KernelDef& def, std::string_view name) {
  auto it = std::find(def.param_names.begin(), def.param_names.end(), name);
  return it == def.param_names.end() ? std::string::npos : size_t(it - def.param_names.begin());
}

std::string names_of(const std::vector<std::pair<std::string, int64_t>>& values) {
  std::string s;
  for (const auto& v : values)
    s += (s.empty() ? "" : ", ") + v.first;
  return s;
}

bool same_names(const TuneConfig& a, const TuneConfig& b) {
  if (a.values.size() != b.values.size())
    return false;
  for (size_t i = 0; i < a.values.size(); ++i)
    if (a.values[i].first != b.values[i].first)
      return false;
  return true;
}

} // namespace

// Checks everything the constructor promises; `loc` is the Autotuner's definition.
void jit::AutotunerState::check(const SourceLoc& loc) const {
  const lang::KernelDef& def = kernel.def();
  auto fail = [&](const std::string& what) {
    throw Error(loc, "autotuner for kernel '" + def.name + "': " + what);
  };
  if (def.param_names.empty())
    fail("the kernel has no parameter names; define it with tl::kernel(\"" + def.name +
         "\", \"a, b, ...\", fn) so that configs can name its constants");
  if (configs.empty())
    fail("no configs; give at least one");
  if (!options.grid)
    fail("AutotuneOptions::grid is not set; give a function from (config, context) to the grid");
  if (options.key.size() > TuneContext::kMaxKey)
    fail(fmt::format("{} key parameters; at most {}", options.key.size(), TuneContext::kMaxKey));
  if (options.warmup < 0 || options.repeats < 1)
    fail(fmt::format("warmup {} and repeats {}: need warmup >= 0 and repeats >= 1", options.warmup,
                     options.repeats));
  for (const std::string& k : options.key) {
    size_t p = param_index(def, k);
    if (p == std::string::npos || def.params[p].kind != ParamKind::Int)
      fail("key '" + k + "' is not an Int parameter of the kernel (its parameters are " +
           fmt::format("{}", fmt::join(def.param_names, ", ")) + ")");
  }
  for (size_t i = 0; i < configs.size(); ++i) {
    const TuneConfig& c = configs[i];
    std::string which = fmt::format("config {} ({})", i, c.to_string());
    if (!same_names(c, configs[0]))
      fail(which + " sets " + names_of(c.values) + " but config 0 sets " +
           names_of(configs[0].values) + "; every config sets the same constants, in one order");
    for (const auto& [name, value] : c.values) {
      size_t p = param_index(def, name);
      if (p == std::string::npos || def.params[p].kind != ParamKind::Const)
        fail(which + ": '" + name + "' is not a Const parameter of the kernel");
      if (std::count_if(c.values.begin(), c.values.end(),
                        [&](const auto& v) { return v.first == name; }) > 1)
        fail(which + " sets '" + name + "' twice");
    }
    int w = c.num_warps;
    if (w < 1 || w > 32 || (w & (w - 1)) != 0)
      fail(which + fmt::format(": num_warps must be a power of two from 1 to 32, not {}", w));
    if (c.num_stages < 1 || c.num_stages > 16)
      fail(which + fmt::format(": num_stages must be between 1 and 16, not {}", c.num_stages));
    for (size_t j = 0; j < i; ++j)
      if (configs[j].to_string() == c.to_string())
        fail(which + fmt::format(" is the same as config {}", j));
  }
}

void jit::AutotunerState::index_params() {
  const lang::KernelDef& def = kernel.def();
  tuned_slot.assign(def.params.size(), -1);
  for (size_t v = 0; v < configs[0].values.size(); ++v)
    tuned_slot[param_index(def, configs[0].values[v].first)] = int(v);
  for (const std::string& k : options.key)
    key_params.push_back(param_index(def, k));
  user_args = def.params.size() - configs[0].values.size();
  for (const TuneConfig& c : configs)
    config_text.push_back(c.to_string());
}

void jit::AutotunerState::assemble(std::span<const detail::ArgValue> args, size_t config,
                                   std::span<detail::ArgValue> out) const {
  size_t next = 0;
  for (size_t p = 0; p < tuned_slot.size(); ++p) {
    if (tuned_slot[p] < 0) {
      out[p] = args[next++];
      continue;
    }
    int64_t v = configs[config].values[size_t(tuned_slot[p])].second;
    detail::ArgValue a = detail::to_arg(v);
    out[p] = a;
  }
}

struct Autotuner::Impl {
  explicit Impl(Kernel k) : state(std::move(k)) {}
  jit::AutotunerState state;
  std::mutex mutex; // guards `known` and serialises tuning
  std::vector<std::pair<jit::TuneKey, size_t>> known;
};

Autotuner::Autotuner(Kernel kernel, std::vector<TuneConfig> configs, AutotuneOptions options,
                     std::source_location where)
    : impl_(std::make_unique<Impl>(std::move(kernel))) {
  jit::AutotunerState& s = impl_->state;
  s.configs = std::move(configs);
  s.options = std::move(options);
  s.where = SourceLoc::from(where);
  s.check(s.where);
  s.index_params();
}

Autotuner::~Autotuner() = default;

const Kernel& Autotuner::kernel() const { return impl_->state.kernel; }
std::span<const TuneConfig> Autotuner::configs() const { return impl_->state.configs; }

namespace {

// The config for `args` (the caller's, without the tuned constants), and their signature with
// config 0's constants: the one argument check of a launch.
struct Checked {
  TuneChoice choice;
  jit::SignatureKey signature;
};

Checked check_and_choose(Autotuner::Impl& impl, const LaunchOptions& options,
                         std::span<const detail::ArgValue> args, std::source_location where) {
  const jit::AutotunerState& s = impl.state;
  const SourceLoc site = SourceLoc::from(where);
  const lang::KernelDef& def = s.kernel.def();
  if (args.size() != s.user_args)
    throw Error(site,
                fmt::format("autotuned kernel '{}' takes {} arguments (its parameters "
                            "except the tuned constants {}), got {}",
                            def.name, s.user_args, names_of(s.configs[0].values), args.size()));
  std::array<detail::ArgValue, kMaxParams> full;
  s.assemble(args, 0, full);
  std::span<const detail::ArgValue> all(full.data(), def.params.size());
  jit::SignatureKey sig = jit::signature_of(def, all, options, site); // checks the arguments
  jit::TuneKey key = s.key_of(all, sig);
  std::lock_guard lock(impl.mutex);
  for (const auto& [k, index] : impl.known)
    if (k == key)
      return {{&s.configs[index], index, TuneSource::memory, key.device}, sig};
  TuneChoice c = jit::tune(s, options, all, key, where);
  impl.known.emplace_back(key, c.index);
  return {c, sig};
}

} // namespace

TuneChoice Autotuner::choose_args(const LaunchOptions& options,
                                  std::span<const detail::ArgValue> args,
                                  std::source_location where) const {
  return check_and_choose(*impl_, options, args, where).choice;
}

// Launches with the chosen config. The arguments were checked once (check_and_choose); only the
// tuned constants and the launch options enter the signature anew, so a known key costs one
// argument check, as a plain Kernel::launch does.
void Autotuner::launch_args(const LaunchOptions& options, std::span<const detail::ArgValue> args,
                            std::source_location where) const {
  const jit::AutotunerState& s = impl_->state;
  Checked checked = check_and_choose(*impl_, options, args, where);
  const TuneChoice& c = checked.choice;
  std::array<detail::ArgValue, kMaxParams> full;
  s.assemble(args, c.index, full);
  std::span<const detail::ArgValue> all(full.data(), s.kernel.def().params.size());
  LaunchOptions o = options;
  o.num_warps = c.config->num_warps;
  o.num_stages = c.config->num_stages;
  std::array<size_t, kMaxParams> slots;
  size_t tuned = 0;
  for (size_t p = 0; p < s.tuned_slot.size(); ++p)
    if (s.tuned_slot[p] >= 0)
      slots[tuned++] = p;
  jit::respecialize(s.kernel.def(), all, std::span(slots.data(), tuned), o, checked.signature,
                    SourceLoc::from(where));
  s.kernel.launch_keyed(s.grid_of(c.index, s.context_of(all, c.device)), o, all, checked.signature,
                        where);
}

} // namespace tessel
