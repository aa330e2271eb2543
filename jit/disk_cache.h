// Private: the on-disk kernel cache (DESIGN §6), shared by every process of a user.
//
// Layout: <root>/v1/<key>/ holds one entry — the files of a compiled kernel (CPU object code,
// cubin, PTX, the traced IR) and `manifest.json` (kernel and entry names, numbers such as the
// stack or shared-memory bytes, the key's inputs in plain text, and each file's size and SHA-256).
//
// Crash safety: an entry is written into `<root>/v1/.tmp.<key>.<pid>.<n>`, every file fsync'd, the
// manifest written last, the directory fsync'd, renamed to `<key>` and the parent fsync'd; so a
// reader, a crash or a power loss sees either no entry or a whole one. Entries are never modified
// in place: a bad one is renamed to `.trash.*` and then deleted. Concurrent writers of one key
// race on the rename; the loser discards its copy. Readers open the entry directory once and read
// relative to it, so an entry evicted or replaced while being read is a miss, never a mix.
//
// Corruption (checksum, size, or key mismatch; an unparseable manifest or one that does not match
// its own manifest_sha256; not a directory; not a regular file) is reported once with the
// entry's path, the entry removed (read-only tiers: skipped), and the kernel rebuilt. A cache root
// that cannot be written (a file, no permission, a full disk) turns the cache memory-only with one
// warning. Size cap: TESSEL_CACHE_MAX_BYTES (default 1 GiB); after each store, least recently used
// entries (the entry directory's mtime, touched on each hit) are evicted until under the cap. A cap
// of 0 disables stores (entries already there are still read); an entry larger than the cap is
// not stored. A writer holds a flock on its temporary directory, so that `clear` and trimming
// leave it alone, and re-checks its files before the rename. Every file is opened without
// blocking or following links and must be a regular file (a FIFO is corruption, not a hang).
#pragma once

#include "jit/cache_key.h"

#include <atomic>
#include <cstdint>
#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace tessel::jit {

// What a backend stores for one compiled specialization.
struct CacheEntry {
  std::string kernel;                       // the kernel's name (for listings)
  std::string entry;                        // the symbol / function to load
  std::string backend;                      // "cpu", "cuda"
  std::map<std::string, int64_t> numbers;   // e.g. max_stack_bytes, shared_bytes, registers
  std::map<std::string, std::string> files; // file name -> contents (object.o, kernel.cubin...)
};

// One entry as `tessel cache list` shows it.
struct CacheEntryInfo {
  std::string key;
  std::string path;
  std::string kernel;
  std::string backend;
  int64_t bytes = 0;
  int64_t last_used = 0; // seconds since the epoch
  bool read_only = false;
};

struct CacheProblem {
  std::string path;
  std::string what;
  bool read_only = false; // in a read-only tier: reported, never removed
};

// What this process's cache has done since it started: for tests and the stress benchmark
// (bench/cache: tessel_cache_stress), which report them.
struct CacheCounters {
  int64_t hits = 0;    // lookups answered from disk
  int64_t misses = 0;  // lookups that found no usable entry
  int64_t corrupt = 0; // bad entries found (each time, though warned once per path)
  int64_t stored = 0;  // entries this process published
  int64_t evicted = 0; // entries this process removed to stay under the cap
};

struct CacheConfig {
  std::string root;                         // the user's (writable) cache
  std::vector<std::string> read_only_roots; // searched after it, never written
  int64_t max_bytes = int64_t(1) << 30;
  bool enabled = true;

  // $TESSEL_CACHE_DIR, else $XDG_CACHE_HOME/tessel, else ~/.cache/tessel;
  // TESSEL_CACHE_READONLY_DIRS (':'-separated); TESSEL_CACHE_MAX_BYTES (bytes, or with a K/M/G
  // suffix); TESSEL_CACHE_DISABLE=1.
  static CacheConfig from_environment();
};

class DiskCache {
public:
  explicit DiskCache(CacheConfig config);

  // The process-wide cache, configured from the environment on first use.
  static DiskCache& instance();

  const CacheConfig& config() const { return config_; }
  // The directory holding entries: <root>/v1.
  std::string entries_dir() const;
  bool writable() const { return writable_.load(std::memory_order_relaxed); }

  // The entry for `key` with the files named in `wanted` read and checked (other files' sizes
  // are checked). Searches the user's cache, then the read-only tiers. A bad entry is reported,
  // removed (when writable) and reported as a miss.
  std::optional<CacheEntry> lookup(const CacheKey& key, std::span<const std::string> wanted);

  // Publishes `entry` under `key` (the key's IR is stored as `key.ir`). Never throws: failures
  // are warnings. Returns true when the entry is on disk afterwards (stored by us or another).
  // Stores nothing when max_bytes is 0, or when the entry alone is larger than max_bytes (one
  // warning per process).
  bool store(const CacheKey& key, const CacheEntry& entry);

  // Where the entry `key_hex` is: the user's cache, else the first read-only tier holding it
  // (to say where a hit came from); nullopt when none does.
  std::optional<CacheEntryInfo> find(const std::string& key_hex) const;

  // Removes the entry `key` from the user's cache (e.g. when its code failed to load).
  void remove(const std::string& key_hex, std::string_view why);

  // Management (`tessel cache`).
  std::vector<CacheEntryInfo> list() const;
  std::vector<CacheProblem> verify(bool remove_bad); // every file of every entry
  int64_t clear();                                   // entries removed from the user's cache
  // Removes least recently used entries until the user's cache is under `max_bytes`;
  // returns how many were removed. Also removes abandoned temporary directories.
  int64_t evict_to(int64_t max_bytes);

  CacheCounters counters() const;

private:
  std::optional<CacheEntry> lookup_in(const std::string& dir, const CacheKey& key,
                                      std::span<const std::string> wanted, bool read_only);
  bool ensure_writable();
  bool store_allowed(const CacheEntry& entry, int64_t bytes);
  void disable_writes(const std::string& why);
  void report_bad(const std::string& path, const std::string& why, bool read_only);

  CacheConfig config_;
  std::atomic<bool> writable_{true};
  std::once_flag root_checked_;
  std::mutex warned_mutex_;
  std::set<std::string> warned_; // read-only entries already reported
  std::atomic<uint64_t> temp_counter_{0};
  std::atomic<bool> warned_too_big_{false};
  // The user's cache size as of this process's last scan plus what it stored since (-1: not
  // scanned yet). A store rescans only when this passes the cap, so a cache of many entries
  // costs one directory scan per process, not one per store; what other processes add is seen
  // at the next scan.
  std::atomic<int64_t> estimated_bytes_{-1};
  std::atomic<int64_t> hits_{0}, misses_{0}, corrupt_{0}, stored_{0}, evicted_{0};
};

} // namespace tessel::jit
