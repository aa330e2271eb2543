// TESSEL_DUMP / TESSEL_DUMP_DIR handling: the one place where tessel writes diagnostics.
#include "tessel/support/dump.h"

#include <cctype>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <map>
#include <mutex>
#include <string>

namespace tessel::support {
namespace {

struct DumpConfig {
  std::string kinds; // ",ir,llvm," with leading and trailing commas
  std::string dir;
};

const DumpConfig& config() {
  static const DumpConfig cfg = [] {
    DumpConfig c;
    if (const char* d = std::getenv("TESSEL_DUMP"))
      c.kinds = "," + std::string(d) + ",";
    if (const char* d = std::getenv("TESSEL_DUMP_DIR"))
      c.dir = d;
    return c;
  }();
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

bool dump_enabled(std::string_view what) {
  const std::string& k = config().kinds;
  if (k.empty())
    return false;
  return k.find(",all,") != std::string::npos ||
         k.find("," + std::string(what) + ",") != std::string::npos;
}

void dump(std::string_view what, std::string_view title, std::string_view text) {
  std::lock_guard lock(output_mutex());
  if (!config().dir.empty()) {
    // Several specializations of one kernel dump under the same title: number the later ones
    // (<title>.2.<what>, ...) instead of overwriting the first.
    static std::map<std::string, int> written;
    std::string stem = config().dir + "/" + file_safe(title);
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
