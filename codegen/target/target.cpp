// Target descriptions: the SM versions tessel compiles for, their PTX versions and limits, and the
// parser of target names. Everything SM-specific that codegen needs is decided here.
#include "tessel/codegen/target.h"

#include "tessel/error.h"

#include <fmt/format.h>

namespace tessel::codegen {

namespace {

struct SmInfo {
  int sm;
  bool arch_specific;
  // The PTX version emitted: the first that supports the SM (PTX ISA, "Release notes"), raised
  // to 7.8 so that every target gets the same instruction forms from LLVM's NVPTX backend; 8.1 on
  // sm_89, the first with its fp8 cvt (e4m3x2/e5m2x2; sm_90 has them from 7.8).
  int ptx_version;
  int64_t max_shared_bytes;
};

// The table of supported GPUs. Shared memory per block with the opt-in attribute: 163 KiB on
// sm_80, 99 KiB on sm_86 and sm_89, 227 KiB on sm_90.
constexpr SmInfo kSms[] = {
    {80, false, 78, 163 * 1024}, {86, false, 78, 99 * 1024}, {89, false, 81, 99 * 1024},
    {90, false, 80, 227 * 1024}, {90, true, 80, 227 * 1024},
};

const SmInfo* find_sm(int sm, bool arch_specific) {
  for (const SmInfo& s : kSms)
    if (s.sm == sm && s.arch_specific == arch_specific)
      return &s;
  return nullptr;
}

std::string joined_names() {
  std::string out;
  for (const std::string& n : valid_target_names())
    out += (out.empty() ? "" : ", ") + n;
  return out;
}

} // namespace

Target Target::cpu() { return Target(); }

Target Target::nvptx(int sm, bool arch_specific) {
  const SmInfo* info = find_sm(sm, arch_specific);
  if (!info)
    throw Error(fmt::format("unsupported NVPTX target sm_{}{}; valid targets: {}", sm,
                            arch_specific ? "a" : "", joined_names()));
  Target t;
  t.kind_ = TargetKind::nvptx;
  t.sm_ = sm;
  t.arch_specific_ = arch_specific;
  t.ptx_version_ = info->ptx_version;
  t.limits_.max_shared_bytes = info->max_shared_bytes;
  t.limits_.max_static_shared_bytes = 48 * 1024;
  t.limits_.max_registers_per_thread = 255;
  t.limits_.max_registers_per_block = 64 * 1024;
  t.limits_.max_threads_per_block = 1024;
  t.limits_.max_grid = {(int64_t(1) << 31) - 1, 65535, 65535};
  return t;
}

std::string Target::name() const {
  if (kind_ == TargetKind::cpu)
    return "cpu";
  return fmt::format("sm_{}{}", sm_, arch_specific_ ? "a" : "");
}

std::string Target::llvm_features() const {
  if (kind_ == TargetKind::cpu)
    return "";
  return fmt::format("+ptx{}", ptx_version_);
}

const std::vector<std::string>& valid_target_names() {
  static const std::vector<std::string> names = [] {
    std::vector<std::string> out{"cpu"};
    for (const SmInfo& s : kSms)
      out.push_back(fmt::format("sm_{}{}", s.sm, s.arch_specific ? "a" : ""));
    return out;
  }();
  return names;
}

Target parse_target(std::string_view text) {
  std::string_view t = text;
  if (t == "cpu" || t == "host")
    return Target::cpu();
  if (t.starts_with("nvptx-"))
    t.remove_prefix(6);
  if (t.starts_with("sm_")) {
    std::string_view digits = t.substr(3);
    bool arch_specific = !digits.empty() && digits.back() == 'a';
    if (arch_specific)
      digits.remove_suffix(1);
    int sm = 0;
    bool ok = !digits.empty() && digits.size() <= 3;
    for (char c : digits) {
      ok = ok && c >= '0' && c <= '9';
      sm = sm * 10 + (c - '0');
    }
    if (ok && find_sm(sm, arch_specific))
      return Target::nvptx(sm, arch_specific);
  }
  throw Error(fmt::format("unsupported target '{}'; valid targets: {}", text, joined_names()));
}

Target Target::parse(std::string_view text) { return parse_target(text); }

} // namespace tessel::codegen
