// TESSEL_DUMP / TESSEL_DUMP_DIR handling: the one place where tessel writes diagnostics.
//
// The settings are parsed when first used and again when the variables' values change (a test or
// a program may set them after start-up). A bad setting is not cached: every use throws, so a
// typo in TESSEL_DUMP can never be silently ignored.
#include "tessel/support/dump.h"

#include "tessel/error.h"

#include <array>
#include <cctype>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <mutex>
#include <string>
#include <system_error>

namespace tessel::support {
namespace {

constexpr std::array<std::string_view, 8> kKinds = {"ir",        "llvm", "asm",      "ptx",
                                                    "recompile", "tune", "pipeline", "all"};
constexpr uint32_t kAll = (1u << (kKinds.size() - 1)) - 1;

struct DumpConfig {
  uint32_t kinds = 0; // bit i: kKinds[i]
  std::string dir;
};

std::string valid_kinds() {
  std::string s;
  for (std::string_view k : kKinds)
    s += (s.empty() ? "" : ", ") + std::string(k);
  return s;
}

// The bit of `word`, or 0 when it is not a dump kind.
uint32_t kind_bit(std::string_view word) {
  for (size_t i = 0; i < kKinds.size(); ++i)
    if (word == kKinds[i])
      return kKinds[i] == "all" ? kAll : 1u << i;
  return 0;
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.front())))
    s.remove_prefix(1);
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back())))
    s.remove_suffix(1);
  return s;
}

uint32_t parse_kinds(std::string_view text) {
  uint32_t kinds = 0;
  while (!text.empty()) {
    size_t comma = text.find(',');
    std::string_view word = trim(text.substr(0, comma));
    text = comma == std::string_view::npos ? std::string_view() : text.substr(comma + 1);
    if (word.empty())
      continue;
    uint32_t bit = kind_bit(word);
    if (!bit)
      throw Error("TESSEL_DUMP: unknown dump kind '" + std::string(word) +
                  "'; the valid kinds are " + valid_kinds() +
                  " (comma-separated, e.g. TESSEL_DUMP=ir,recompile)");
    kinds |= bit;
  }
  return kinds;
}

// mkdir -p, so that TESSEL_DUMP_DIR=/tmp/dumps/run1 works without a separate step.
void make_dump_dir(const std::string& dir) {
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (!ec && std::filesystem::is_directory(dir, ec))
    return;
  std::string why = ec ? ec.message() : "it exists and is not a directory";
  throw Error("TESSEL_DUMP_DIR=" + dir + ": cannot create the dump directory (" + why +
              "); set it to a directory tessel can create or write, or unset it to dump to "
              "stderr");
}

DumpConfig parse_config(const std::string& kinds, const std::string& dir) {
  DumpConfig c;
  c.kinds = parse_kinds(kinds);
  c.dir = dir;
  if (c.kinds && !c.dir.empty())
    make_dump_dir(c.dir);
  return c;
}

// The current settings (a copy: another thread may re-parse them).
DumpConfig config() {
  static std::mutex m;
  static bool parsed = false;
  static std::string raw_kinds, raw_dir;
  static DumpConfig cfg;
  const char* k = std::getenv("TESSEL_DUMP");
  const char* d = std::getenv("TESSEL_DUMP_DIR");
  std::string kinds = k ? k : "", dir = d ? d : "";
  std::lock_guard lock(m);
  if (!parsed || kinds != raw_kinds || dir != raw_dir) {
    parsed = false;
    cfg = parse_config(kinds, dir); // throws on a bad setting, leaving `parsed` false
    raw_kinds = kinds;
    raw_dir = dir;
    parsed = true;
  }
  return cfg;
}

std::mutex& output_mutex() {
  static std::mutex m;
  return m;
}

std::string file_safe(std::string_view s) {
  std::string out(s);
  for (char& c : out)
    if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_' || c == '.'))
      c = '_';
  return out;
}

} // namespace

std::span<const std::string_view> dump_kinds() { return kKinds; }

void check_dump_settings() { (void)config(); }

bool dump_enabled(std::string_view what) {
  uint32_t bit = kind_bit(what);
  TESSEL_ASSERT(bit && what != "all", "dump_enabled asks for a kind that is not in kKinds");
  return (config().kinds & bit) != 0;
}

void dump(std::string_view what, std::string_view title, std::string_view text) {
  const DumpConfig cfg = config();
  std::lock_guard lock(output_mutex());
  if (!cfg.dir.empty()) {
    // Several specializations of one kernel dump under the same title: number the later ones
    // (<title>.2.<what>, ...) instead of overwriting the first.
    static std::map<std::string, int> written;
    std::string stem = cfg.dir + "/" + file_safe(title);
    int n = ++written[stem + "." + std::string(what)];
    std::string path = stem + (n > 1 ? "." + std::to_string(n) : "") + "." + std::string(what);
    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    out << text;
    if (out)
      return;
    std::fprintf(stderr, "tessel: warning: cannot write dump file %s; dumping to stderr\n",
                 path.c_str());
  }
  std::fprintf(stderr, "// ----- %.*s: %.*s -----\n%.*s\n", int(what.size()), what.data(),
               int(title.size()), title.data(), int(text.size()), text.data());
}

void warn(std::string_view message) {
  std::lock_guard lock(output_mutex());
  std::fprintf(stderr, "tessel: warning: %.*s\n", int(message.size()), message.data());
}

} // namespace tessel::support
