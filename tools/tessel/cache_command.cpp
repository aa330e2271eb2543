// `tessel cache stats|list|clear|verify`: look into and manage the on-disk kernel cache
// (jit/disk_cache.h) of this user, configured by the same environment variables as the library.
#include "jit/disk_cache.h"

#include <cstdio>
#include <cstring>
#include <ctime>
#include <string>

namespace {

using tessel::jit::DiskCache;

std::string human_bytes(int64_t n) {
  const char* units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
  double v = double(n);
  int u = 0;
  while (v >= 1024 && u < 4) {
    v /= 1024;
    ++u;
  }
  char buf[32];
  std::snprintf(buf, sizeof buf, u == 0 ? "%.0f %s" : "%.1f %s", v, units[u]);
  return buf;
}

std::string local_time(int64_t seconds) {
  std::time_t t = std::time_t(seconds);
  std::tm tm{};
  localtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%d %H:%M:%S", &tm);
  return buf;
}

void print_cache_usage(std::FILE* out) {
  std::fprintf(
      out, "usage: tessel cache stats|list|clear|verify [--remove]\n"
           "  stats    the cache directory, its size, entry count and size cap\n"
           "  list     one line per entry: key, backend, kernel, size, last use\n"
           "  clear    remove every entry of the user's cache (read-only tiers are kept)\n"
           "  verify   re-check every file of every entry against its checksum; with --remove,\n"
           "           remove the bad ones of the user's cache; read-only tiers' are left in\n"
           "           place (exit status 1 when any is bad)\n"
           "environment: TESSEL_CACHE_DIR  TESSEL_CACHE_READONLY_DIRS\n"
           "             TESSEL_CACHE_MAX_BYTES (0: store nothing)\n"
           "             TESSEL_CACHE_DISABLE=1\n");
}

int cache_stats(DiskCache& cache) {
  const tessel::jit::CacheConfig& c = cache.config();
  int64_t entries = 0, bytes = 0, ro_entries = 0, ro_bytes = 0;
  for (const auto& e : cache.list()) {
    (e.read_only ? ro_entries : entries) += 1;
    (e.read_only ? ro_bytes : bytes) += e.bytes;
  }
  std::printf("cache directory   %s%s\n", c.root.c_str(), c.enabled ? "" : "  (disabled)");
  std::printf("entries           %lld\n", (long long)entries);
  std::printf("size              %s (%lld bytes)\n", human_bytes(bytes).c_str(), (long long)bytes);
  if (c.max_bytes == 0)
    std::printf("size cap          0 B (TESSEL_CACHE_MAX_BYTES=0: nothing is stored; entries "
                "already there are still read)\n");
  else
    std::printf("size cap          %s (TESSEL_CACHE_MAX_BYTES; a larger entry is not stored)\n",
                human_bytes(c.max_bytes).c_str());
  for (const std::string& root : c.read_only_roots)
    std::printf("read-only tier    %s\n", root.c_str());
  if (!c.read_only_roots.empty())
    std::printf("read-only         %lld entries, %s\n", (long long)ro_entries,
                human_bytes(ro_bytes).c_str());
  return 0;
}

int cache_list(DiskCache& cache) {
  auto entries = cache.list();
  if (entries.empty()) {
    std::printf("no entries in %s\n", cache.entries_dir().c_str());
    return 0;
  }
  std::printf("%-16s  %-7s %-24s %10s  %-19s\n", "key", "backend", "kernel", "size", "last used");
  for (const auto& e : entries)
    std::printf("%-16.16s  %-7s %-24s %10s  %-19s%s\n", e.key.c_str(),
                e.backend.empty() ? "?" : e.backend.c_str(),
                e.kernel.empty() ? "(no manifest)" : e.kernel.c_str(), human_bytes(e.bytes).c_str(),
                local_time(e.last_used).c_str(), e.read_only ? "  read-only" : "");
  return 0;
}

int cache_verify(DiskCache& cache, bool remove_bad) {
  size_t total = cache.list().size();
  auto problems = cache.verify(remove_bad);
  for (const auto& p : problems) {
    const char* fate = !remove_bad   ? ""
                       : p.read_only ? " (read-only tier: left in place)"
                                     : " (removed)";
    std::printf("BAD  %s: %s%s\n", p.path.c_str(), p.what.c_str(), fate);
  }
  std::printf("%zu entries checked, %zu bad\n", total, problems.size());
  if (!problems.empty() && !remove_bad)
    std::printf("run `tessel cache verify --remove` to remove them (they are never loaded: each "
                "is detected and rebuilt on use)\n");
  return problems.empty() ? 0 : 1;
}

} // namespace

// Dispatched from main.cpp: argv[0] is "cache".
int run_cache_command(int argc, char** argv) {
  if (argc < 2) {
    print_cache_usage(stderr);
    return 2;
  }
  std::string sub = argv[1];
  DiskCache& cache = DiskCache::instance();
  if (sub == "stats")
    return cache_stats(cache);
  if (sub == "list")
    return cache_list(cache);
  if (sub == "clear") {
    int64_t n = cache.clear();
    std::printf("removed %lld entries from %s\n", (long long)n, cache.entries_dir().c_str());
    return 0;
  }
  if (sub == "verify")
    return cache_verify(cache, argc > 2 && std::strcmp(argv[2], "--remove") == 0);
  if (sub == "help" || sub == "--help") {
    print_cache_usage(stdout);
    return 0;
  }
  std::fprintf(stderr, "tessel cache: unknown subcommand '%s'\n", sub.c_str());
  print_cache_usage(stderr);
  return 2;
}
