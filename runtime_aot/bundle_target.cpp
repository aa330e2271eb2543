// Choosing a bundle's target for a GPU (bundle_target.h).
#include "runtime_aot/bundle_target.h"

#include <charconv>

namespace tessel::aot {
namespace {

struct Arch {
  int sm = 0;
  bool specific = false; // "a": runs on exactly this version
};

std::optional<Arch> parse_arch(const std::string& name) {
  if (!name.starts_with("sm_"))
    return std::nullopt;
  Arch a;
  const char* begin = name.data() + 3;
  const char* end = name.data() + name.size();
  auto [p, ec] = std::from_chars(begin, end, a.sm);
  if (ec != std::errc())
    return std::nullopt;
  a.specific = p != end && *p == 'a';
  if (p + (a.specific ? 1 : 0) != end)
    return std::nullopt;
  return a;
}

bool runs_on(const Arch& a, int sm) {
  if (a.specific)
    return a.sm == sm;
  return a.sm / 10 == sm / 10 && a.sm <= sm;
}

} // namespace

std::optional<std::string> pick_target(const std::vector<std::string>& targets, int sm) {
  std::optional<std::string> best;
  Arch best_arch;
  for (const std::string& t : targets) {
    std::optional<Arch> a = parse_arch(t);
    if (!a || !runs_on(*a, sm))
      continue;
    // Prefer the newest version; at equal versions the arch-specific one (sm_90a over sm_90).
    bool better = !best || a->sm > best_arch.sm || (a->sm == best_arch.sm && a->specific);
    if (better) {
      best = t;
      best_arch = *a;
    }
  }
  return best;
}

std::optional<std::string> jit_target(int sm) {
  if (sm == 90)
    return "sm_90a";
  for (int candidate : {89, 86, 80})
    if (candidate / 10 == sm / 10 && candidate <= sm)
      return "sm_" + std::to_string(candidate);
  return std::nullopt;
}

} // namespace tessel::aot
