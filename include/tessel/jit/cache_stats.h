// A summary of the on-disk kernel cache (docs/runtime.md) for programs that report on it, such as
// Python's `tessel.cache_stats()`; `tessel cache stats` prints the same figures.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace tessel {

struct DiskCacheStats {
  std::string directory; // the user's cache (TESSEL_CACHE_DIR, XDG_CACHE_HOME, ~/.cache)
  bool enabled = true;   // false under TESSEL_CACHE_DISABLE=1 (memory-only)
  bool writable = true;  // false when the directory cannot be written (memory-only)
  int64_t entries = 0;   // in the user's cache
  int64_t bytes = 0;
  int64_t max_bytes = 0;                   // TESSEL_CACHE_MAX_BYTES
  std::vector<std::string> read_only_dirs; // TESSEL_CACHE_READONLY_DIRS
  int64_t read_only_entries = 0;
  int64_t read_only_bytes = 0;
};

// Scans the cache directories (one directory listing per tier). Never throws.
DiskCacheStats disk_cache_stats();

} // namespace tessel
