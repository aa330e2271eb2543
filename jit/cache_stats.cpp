// The on-disk kernel cache in figures (tessel/jit/cache_stats.h), from jit/disk_cache.h's listing.
#include "tessel/jit/cache_stats.h"

#include "jit/disk_cache.h"

namespace tessel {

DiskCacheStats disk_cache_stats() {
  jit::DiskCache& cache = jit::DiskCache::instance();
  const jit::CacheConfig& c = cache.config();
  DiskCacheStats s;
  s.directory = c.root;
  s.enabled = c.enabled;
  s.writable = c.enabled && cache.writable();
  s.max_bytes = c.max_bytes;
  s.read_only_dirs = c.read_only_roots;
  for (const jit::CacheEntryInfo& e : cache.list()) {
    (e.read_only ? s.read_only_entries : s.entries) += 1;
    (e.read_only ? s.read_only_bytes : s.bytes) += e.bytes;
  }
  return s;
}

} // namespace tessel
