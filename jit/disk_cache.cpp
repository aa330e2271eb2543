// The on-disk kernel cache: lookup with checks, crash-safe publication, eviction, management.
// See disk_cache.h for the layout and the guarantees.
#include "jit/disk_cache.h"

#include "jit/prebuilt_tier.h"

#include "jit/cache_manifest.h"
#include "tessel/support/dump.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <filesystem>

namespace tessel::jit {
namespace {

namespace fs = std::filesystem;

constexpr const char* kManifestName = "manifest.json";
constexpr const char* kIrName = "key.ir";
// Temporary directories of writers that died are removed after this long.
constexpr int64_t kAbandonedTempSeconds = 3600;

// Closes a file descriptor at scope exit.
class Fd {
public:
  explicit Fd(int fd = -1) : fd_(fd) {}
  ~Fd() {
    if (fd_ >= 0)
      ::close(fd_);
  }
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  int get() const { return fd_; }
  bool ok() const { return fd_ >= 0; }

private:
  int fd_;
};

// read_file_at's answer for a path that names something other than a regular file (a FIFO, a
// device, a directory): reading it could block forever or return garbage.
constexpr int kNotRegularFile = -1;

std::string errno_text(int err) {
  if (err == kNotRegularFile || err == ELOOP)
    return "not a regular file";
  return std::strerror(err);
}

bool is_out_of_space(int err) { return err == ENOSPC || err == EDQUOT; }
bool is_not_writable(int err) { return err == EACCES || err == EPERM || err == EROFS; }

// Writes `data` to a new file `name` in `dirfd` and fsyncs it. Returns 0 or an errno.
int write_file_at(int dirfd, const std::string& name, std::string_view data) {
  Fd fd(::openat(dirfd, name.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644));
  if (!fd.ok())
    return errno;
  const char* p = data.data();
  size_t left = data.size();
  while (left > 0) {
    ssize_t n = ::write(fd.get(), p, left);
    if (n < 0) {
      if (errno == EINTR)
        continue;
      return errno;
    }
    p += n;
    left -= size_t(n);
  }
  if (::fsync(fd.get()) != 0)
    return errno;
  return 0;
}

// Reads the regular file `name` in `dirfd`. Returns 0, an errno, or kNotRegularFile. Opened
// without blocking and without following a symbolic link, then checked with fstat, so that a
// FIFO or a device planted in an entry is an error instead of a hang.
int read_file_at(int dirfd, const std::string& name, std::string& out) {
  Fd fd(::openat(dirfd, name.c_str(), O_RDONLY | O_NONBLOCK | O_NOFOLLOW | O_CLOEXEC));
  if (!fd.ok())
    return errno;
  struct stat st {};
  if (::fstat(fd.get(), &st) != 0)
    return errno;
  if (!S_ISREG(st.st_mode))
    return kNotRegularFile;
  out.resize(size_t(st.st_size));
  size_t got = 0;
  while (got < out.size()) {
    ssize_t n = ::read(fd.get(), out.data() + got, out.size() - got);
    if (n < 0) {
      if (errno == EINTR)
        continue;
      return errno;
    }
    if (n == 0)
      break;
    got += size_t(n);
  }
  out.resize(got);
  return 0;
}

void fsync_dir(const std::string& path) {
  Fd fd(::open(path.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (fd.ok())
    (void)::fsync(fd.get());
}

// Removes a directory tree: renamed out of the way first, so that nobody sees it half deleted.
void remove_entry_dir(const std::string& parent, const std::string& name) {
  static std::atomic<uint64_t> counter{0};
  std::string from = parent + "/" + name;
  std::string trash = parent + "/.trash." + name + "." + std::to_string(::getpid()) + "." +
                      std::to_string(counter++);
  std::error_code ec;
  if (::rename(from.c_str(), trash.c_str()) != 0) {
    fs::remove_all(from, ec);
    return;
  }
  fs::remove_all(trash, ec);
}

// Opens a directory without blocking (the path may name a FIFO) or following a link.
int open_dir(const std::string& path) {
  return ::open(path.c_str(), O_RDONLY | O_DIRECTORY | O_NONBLOCK | O_CLOEXEC);
}

// A writer holds an exclusive flock on its temporary directory until it has renamed it, so that
// `clear` and the trimming of abandoned directories leave live writers alone: a lock dies with
// its process, so a dead writer's directory is free to remove.
bool is_locked_by_live_writer(const std::string& path) {
  Fd fd(open_dir(path));
  if (!fd.ok())
    return false;
  if (::flock(fd.get(), LOCK_EX | LOCK_NB) != 0)
    return errno == EWOULDBLOCK;
  (void)::flock(fd.get(), LOCK_UN);
  return false;
}

int64_t now_seconds() {
  return std::chrono::duration_cast<std::chrono::seconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// Names of the subdirectories (or, with `hidden`, the dot-names) of `dir`, sorted.
std::vector<std::string> list_dir(const std::string& dir, bool hidden) {
  std::vector<std::string> names;
  DIR* d = ::opendir(dir.c_str());
  if (!d)
    return names;
  while (dirent* e = ::readdir(d)) {
    std::string name = e->d_name;
    if (name == "." || name == "..")
      continue;
    if ((name[0] == '.') == hidden)
      names.push_back(std::move(name));
  }
  ::closedir(d);
  std::sort(names.begin(), names.end());
  return names;
}

// Bytes of the regular files in `dir` and its modification time (the last use of the entry).
struct DirUsage {
  int64_t bytes = 0;
  int64_t mtime_ns = 0;
};
DirUsage dir_usage(const std::string& dir) {
  DirUsage u;
  struct stat st {};
  if (::stat(dir.c_str(), &st) != 0)
    return u;
  u.mtime_ns = int64_t(st.st_mtim.tv_sec) * 1000000000 + st.st_mtim.tv_nsec;
  std::error_code ec;
  for (const fs::directory_entry& e : fs::directory_iterator(dir, ec)) {
    std::error_code size_ec;
    uintmax_t n = e.is_regular_file(size_ec) ? e.file_size(size_ec) : 0;
    if (!size_ec)
      u.bytes += int64_t(n);
  }
  return u;
}

// Test hook: TESSEL_CACHE_TEST_PAUSE=<marker> makes a writer create <marker> after the first file
// of an entry and stop there, so that a test can kill it mid-entry (SIGKILL) deterministically.
// With TESSEL_CACHE_TEST_RESUME=<file> as well, the writer goes on once <file> exists, so that a
// test can act on a live writer's temporary directory (`tessel cache clear`) in between.
void maybe_pause_for_test() {
  const char* marker = std::getenv("TESSEL_CACHE_TEST_PAUSE");
  if (!marker || !*marker)
    return;
  { Fd fd(::open(marker, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644)); }
  const char* resume = std::getenv("TESSEL_CACHE_TEST_RESUME");
  if (!resume || !*resume) {
    for (;;)
      ::pause();
  }
  while (::access(resume, F_OK) != 0)
    ::usleep(1000);
}

// Parses "1073741824", "512M", "2G", "64K" (binary units); -1 when malformed.
int64_t parse_bytes(std::string_view text) {
  int64_t value = 0;
  size_t i = 0;
  for (; i < text.size() && text[i] >= '0' && text[i] <= '9'; ++i) {
    if (value > (int64_t(1) << 50))
      return -1;
    value = value * 10 + (text[i] - '0');
  }
  if (i == 0)
    return -1;
  std::string_view suffix = text.substr(i);
  if (suffix.empty() || suffix == "B")
    return value;
  int shift = suffix[0] == 'K' || suffix[0] == 'k'   ? 10
              : suffix[0] == 'M' || suffix[0] == 'm' ? 20
              : suffix[0] == 'G' || suffix[0] == 'g' ? 30
                                                     : -1;
  std::string_view rest = suffix.substr(1);
  if (shift < 0 || !(rest.empty() || rest == "B" || rest == "iB"))
    return -1;
  return value << shift;
}

} // namespace

CacheConfig CacheConfig::from_environment() {
  CacheConfig c;
  const char* dir = std::getenv("TESSEL_CACHE_DIR");
  const char* xdg = std::getenv("XDG_CACHE_HOME");
  const char* home = std::getenv("HOME");
  if (dir && *dir)
    c.root = dir;
  else if (xdg && *xdg)
    c.root = std::string(xdg) + "/tessel";
  else if (home && *home)
    c.root = std::string(home) + "/.cache/tessel";
  else
    c.enabled = false;
  // Unset: the prebuilt tier of an installed tessel, if it has one (jit/prebuilt_tier.h).
  std::string default_tiers =
      std::getenv("TESSEL_CACHE_READONLY_DIRS") ? std::string() : default_readonly_dirs();
  const char* ro = std::getenv("TESSEL_CACHE_READONLY_DIRS");
  if (!ro && !default_tiers.empty())
    ro = default_tiers.c_str();
  if (ro) {
    std::string_view list = ro;
    while (!list.empty()) {
      size_t colon = list.find(':');
      std::string_view item = list.substr(0, colon);
      if (!item.empty())
        c.read_only_roots.emplace_back(item);
      list = colon == std::string_view::npos ? std::string_view() : list.substr(colon + 1);
    }
  }
  if (const char* max = std::getenv("TESSEL_CACHE_MAX_BYTES"); max && *max) {
    int64_t n = parse_bytes(max);
    if (n < 0)
      support::warn(std::string("TESSEL_CACHE_MAX_BYTES='") + max +
                    "' is not a size (bytes, or with a K/M/G suffix); using the default of 1G");
    else
      c.max_bytes = n;
  }
  if (const char* off = std::getenv("TESSEL_CACHE_DISABLE"); off && *off && *off != '0')
    c.enabled = false;
  return c;
}

DiskCache::DiskCache(CacheConfig config) : config_(std::move(config)) {
  if (!config_.enabled)
    writable_ = false;
}

DiskCache& DiskCache::instance() {
  static DiskCache* cache = new DiskCache(CacheConfig::from_environment());
  return *cache;
}

std::string DiskCache::entries_dir() const { return config_.root + "/v1"; }

void DiskCache::disable_writes(const std::string& why) {
  if (writable_.exchange(false))
    support::warn("kernel cache directory '" + config_.root + "' is not usable (" + why +
                  "); caching compiled kernels in memory only. Set TESSEL_CACHE_DIR to a writable "
                  "directory to keep them across runs.");
}

bool DiskCache::ensure_writable() {
  if (!config_.enabled)
    return false;
  std::call_once(root_checked_, [&] {
    std::error_code ec;
    fs::create_directories(entries_dir(), ec);
    if (ec) {
      disable_writes(ec.message());
      return;
    }
    if (::access(entries_dir().c_str(), W_OK | X_OK) != 0)
      disable_writes(errno_text(errno));
  });
  return writable();
}

void DiskCache::report_bad(const std::string& path, const std::string& why, bool read_only) {
  corrupt_.fetch_add(1, std::memory_order_relaxed);
  bool first;
  {
    std::lock_guard lock(warned_mutex_);
    first = warned_.insert(path).second;
  }
  if (read_only) {
    if (first)
      support::warn("kernel cache entry " + path + " is corrupt (" + why +
                    "); ignoring it (read-only cache directory)");
    return;
  }
  // Warned once per path, but removed every time: an entry damaged again later in this process
  // must not stay in the way of the store that follows.
  if (first)
    support::warn("kernel cache entry " + path + " is corrupt (" + why + "); removed, recompiling");
  size_t slash = path.rfind('/');
  remove_entry_dir(path.substr(0, slash), path.substr(slash + 1));
}

std::optional<CacheEntry> DiskCache::lookup(const CacheKey& key,
                                            std::span<const std::string> wanted) {
  if (!config_.enabled)
    return std::nullopt;
  bool writable_root = ensure_writable();
  std::optional<CacheEntry> hit =
      lookup_in(entries_dir(), key, wanted, /*read_only=*/!writable_root);
  for (size_t i = 0; !hit && i < config_.read_only_roots.size(); ++i)
    hit = lookup_in(config_.read_only_roots[i] + "/v1", key, wanted, /*read_only=*/true);
  (hit ? hits_ : misses_).fetch_add(1, std::memory_order_relaxed);
  return hit;
}

CacheCounters DiskCache::counters() const {
  auto get = [](const std::atomic<int64_t>& n) { return n.load(std::memory_order_relaxed); };
  return {get(hits_), get(misses_), get(corrupt_), get(stored_), get(evicted_)};
}

std::optional<CacheEntry> DiskCache::lookup_in(const std::string& dir, const CacheKey& key,
                                               std::span<const std::string> wanted,
                                               bool read_only) {
  const std::string path = dir + "/" + key.hex;
  Fd dfd(open_dir(path));
  if (!dfd.ok()) {
    // Something that is not a directory (a stray file) would otherwise keep the key from ever
    // being cached again without a word: the store's rename cannot replace it.
    struct stat st {};
    if (errno == ENOTDIR && ::lstat(path.c_str(), &st) == 0 && !S_ISDIR(st.st_mode))
      report_bad(path, "it is not a directory", read_only);
    return std::nullopt;
  }
  // An entry moved away (evicted, or removed as bad) by another process while we read it is a
  // miss, not corruption: the path no longer names the directory we opened.
  auto vanished = [&] {
    struct stat opened {
    }, now{};
    if (::fstat(dfd.get(), &opened) != 0 || ::stat(path.c_str(), &now) != 0)
      return true;
    return opened.st_ino != now.st_ino || opened.st_dev != now.st_dev;
  };
  auto bad = [&](const std::string& why) -> std::optional<CacheEntry> {
    if (!vanished())
      report_bad(path, why, read_only);
    return std::nullopt;
  };

  std::string text;
  if (int err = read_file_at(dfd.get(), kManifestName, text))
    return bad(std::string("cannot read manifest.json: ") + errno_text(err));
  std::string error;
  std::optional<Manifest> m = manifest_from_json(text, error);
  if (!m)
    return bad(error);
  if (m->key != key.hex || m->target != key.target || m->options != key.options ||
      m->build != key.build)
    return bad("its manifest describes another key");
  for (const Manifest::File& f : m->files) {
    struct stat st {};
    if (::fstatat(dfd.get(), f.name.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0)
      return bad("file " + f.name + " is missing");
    if (!S_ISREG(st.st_mode))
      return bad("file " + f.name + " is not a regular file");
    if (int64_t(st.st_size) != f.bytes)
      return bad("file " + f.name + " has " + std::to_string(st.st_size) +
                 " bytes, the manifest says " + std::to_string(f.bytes));
  }

  // key.ir is small and no backend reads it, but `verify` checks it: a damaged copy served here
  // would stay damaged after a clean run. Compared with the key's own IR, it also proves that the
  // entry was compiled from this kernel, not one whose IR hashes the same.
  std::string ir;
  if (int err = read_file_at(dfd.get(), kIrName, ir))
    return bad(std::string("cannot read ") + kIrName + ": " + errno_text(err));
  if (ir != key.ir)
    return bad(std::string("the checksum of ") + kIrName + " does not match its manifest");

  CacheEntry entry;
  entry.kernel = m->kernel;
  entry.entry = m->entry;
  entry.backend = m->backend;
  entry.numbers = m->numbers;
  for (const std::string& name : wanted) {
    const Manifest::File* f = m->file(name);
    if (!f)
      return bad("it has no file " + name);
    std::string data;
    if (int err = read_file_at(dfd.get(), name, data))
      return bad("cannot read " + name + ": " + errno_text(err));
    if (int64_t(data.size()) != f->bytes || sha256_hex(data) != f->sha256)
      return bad("the checksum of " + name + " does not match its manifest");
    entry.files[name] = std::move(data);
  }
  if (!read_only)
    (void)::futimens(dfd.get(), nullptr); // last use, for LRU eviction
  return entry;
}

std::optional<CacheEntryInfo> DiskCache::find(const std::string& key_hex) const {
  auto at = [&](const std::string& root, bool read_only) -> std::optional<CacheEntryInfo> {
    CacheEntryInfo info;
    info.key = key_hex;
    info.path = root + "/v1/" + key_hex;
    info.read_only = read_only;
    struct stat st {};
    if (::stat(info.path.c_str(), &st) != 0 || !S_ISDIR(st.st_mode))
      return std::nullopt;
    return info;
  };
  if (config_.enabled) {
    if (auto info = at(config_.root, false))
      return info;
    for (const std::string& root : config_.read_only_roots)
      if (auto info = at(root, true))
        return info;
  }
  return std::nullopt;
}

namespace {

// The manifest of `entry` under `key`: the files are key.ir, then the backend's, by name.
Manifest manifest_for(const CacheKey& key, const CacheEntry& entry) {
  Manifest m;
  m.key = key.hex;
  m.kernel = entry.kernel;
  m.entry = entry.entry;
  m.backend = entry.backend;
  m.created = now_seconds();
  m.numbers = entry.numbers;
  m.target = key.target;
  m.options = key.options;
  m.build = key.build;
  m.files.push_back({kIrName, int64_t(key.ir.size()), sha256_hex(key.ir)});
  for (const auto& [name, data] : entry.files)
    m.files.push_back({name, int64_t(data.size()), sha256_hex(data)});
  return m;
}

// Why the temporary directory `dfd` no longer holds the entry `m` as written (someone emptied or
// changed it, e.g. a `tessel cache clear` of an older tessel), or "" when it does.
std::string temp_dir_damage(int dfd, const Manifest& m, int64_t manifest_bytes) {
  auto check = [&](const std::string& name, int64_t bytes) -> std::string {
    struct stat st {};
    if (::fstatat(dfd, name.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0)
      return name + " is gone";
    if (!S_ISREG(st.st_mode) || int64_t(st.st_size) != bytes)
      return name + " has changed";
    return "";
  };
  for (const Manifest::File& f : m.files)
    if (std::string why = check(f.name, f.bytes); !why.empty())
      return why;
  return check(kManifestName, manifest_bytes);
}

// Writes (and fsyncs) the files of `m` into the directory `dfd`, the manifest last: an entry with
// a manifest is complete (m.files[0] is key.ir: see manifest_for). Returns 0, or an errno with
// `failed` naming the file.
int write_entry_files(int dfd, const Manifest& m, const CacheKey& key, const CacheEntry& entry,
                      const std::string& manifest_text, std::string& failed) {
  for (size_t i = 0; i < m.files.size(); ++i) {
    failed = m.files[i].name;
    std::string_view data = i == 0 ? std::string_view(key.ir) : entry.files.at(failed);
    if (int err = write_file_at(dfd, failed, data))
      return err;
    if (i == 0)
      maybe_pause_for_test();
  }
  failed = kManifestName;
  return write_file_at(dfd, kManifestName, manifest_text);
}

} // namespace

bool DiskCache::store_allowed(const CacheEntry& entry, int64_t bytes) {
  if (config_.max_bytes == 0)
    return false; // TESSEL_CACHE_MAX_BYTES=0: the disk cache is read, never written
  if (bytes <= config_.max_bytes)
    return true;
  // Storing it would evict it at once (and everything else with it).
  if (!warned_too_big_.exchange(true))
    support::warn("kernel cache: the entry of kernel '" + entry.kernel + "' (" +
                  std::to_string(bytes) + " bytes) is larger than TESSEL_CACHE_MAX_BYTES (" +
                  std::to_string(config_.max_bytes) +
                  " bytes); not stored (said once per process). Raise "
                  "TESSEL_CACHE_MAX_BYTES to cache it.");
  return false;
}

bool DiskCache::store(const CacheKey& key, const CacheEntry& entry) {
  if (!ensure_writable())
    return false;
  const Manifest m = manifest_for(key, entry);
  const std::string manifest_text = manifest_to_json(m);
  int64_t stored = int64_t(manifest_text.size());
  for (const Manifest::File& f : m.files)
    stored += f.bytes;
  if (!store_allowed(entry, stored))
    return false;

  const std::string dir = entries_dir();
  const std::string final_path = dir + "/" + key.hex;
  struct stat st {};
  if (::lstat(final_path.c_str(), &st) == 0) {
    if (S_ISDIR(st.st_mode))
      return true; // another process published it meanwhile
    report_bad(final_path, "it is not a directory", /*read_only=*/false);
  }

  const std::string temp_name =
      ".tmp." + key.hex + "." + std::to_string(::getpid()) + "." + std::to_string(temp_counter_++);
  const std::string temp_path = dir + "/" + temp_name;
  if (::mkdir(temp_path.c_str(), 0755) != 0) {
    int err = errno;
    disable_writes("cannot create " + temp_path + ": " + errno_text(err));
    return false;
  }
  auto fail = [&](const std::string& what, int err) {
    std::error_code ec;
    fs::remove_all(temp_path, ec);
    if (is_out_of_space(err) || is_not_writable(err))
      disable_writes(what + ": " + errno_text(err));
    else
      support::warn("kernel cache: " + what + ": " + errno_text(err) + "; entry not stored");
    return false;
  };

  {
    Fd dfd(open_dir(temp_path));
    if (!dfd.ok())
      return fail("cannot open " + temp_path, errno);
    if (::flock(dfd.get(), LOCK_EX) != 0)
      return fail("cannot lock " + temp_path, errno);
    std::string failed_file;
    if (int err = write_entry_files(dfd.get(), m, key, entry, manifest_text, failed_file))
      return fail("cannot write " + temp_path + "/" + failed_file, err);
    if (::fsync(dfd.get()) != 0)
      return fail("cannot sync " + temp_path, errno);
    // The lock keeps this tessel's `clear` away, but not an older tessel's or a user's `rm`:
    // never publish a directory that lost files meanwhile.
    if (std::string why = temp_dir_damage(dfd.get(), m, int64_t(manifest_text.size()));
        !why.empty()) {
      std::error_code ec;
      fs::remove_all(temp_path, ec);
      support::warn("kernel cache: " + why + " in " + temp_path +
                    " while it was being written (a concurrent `tessel cache clear`?); entry "
                    "not stored");
      return false;
    }
    // Renamed while still locked: the lock is on the directory, which becomes the entry.
    if (::rename(temp_path.c_str(), final_path.c_str()) != 0) {
      int err = errno;
      std::error_code ec;
      fs::remove_all(temp_path, ec);
      if (err == ENOTEMPTY || err == EEXIST)
        return true; // a concurrent writer won the race; its entry is as good as ours
      return fail("cannot rename " + temp_path + " to " + final_path, err);
    }
  }
  fsync_dir(dir);
  stored_.fetch_add(1, std::memory_order_relaxed);
  int64_t estimate = estimated_bytes_.load(std::memory_order_relaxed);
  if (estimate >= 0)
    estimate = estimated_bytes_.fetch_add(stored, std::memory_order_relaxed) + stored;
  if (estimate < 0 || estimate > config_.max_bytes)
    evict_to(config_.max_bytes);
  return true;
}

void DiskCache::remove(const std::string& key_hex, std::string_view why) {
  if (!writable())
    return;
  support::warn("kernel cache entry " + entries_dir() + "/" + key_hex + " " + std::string(why) +
                "; removed, recompiling");
  remove_entry_dir(entries_dir(), key_hex);
}

int64_t DiskCache::evict_to(int64_t max_bytes) {
  const std::string dir = entries_dir();
  // Abandoned writers' temporary directories, and trash another process did not finish deleting.
  int64_t now_ns = now_seconds() * 1000000000;
  for (const std::string& name : list_dir(dir, /*hidden=*/true)) {
    bool temp = name.rfind(".tmp.", 0) == 0, trash = name.rfind(".trash.", 0) == 0;
    if (!temp && !trash)
      continue;
    if (now_ns - dir_usage(dir + "/" + name).mtime_ns > kAbandonedTempSeconds * 1000000000 &&
        !is_locked_by_live_writer(dir + "/" + name)) {
      std::error_code ec;
      fs::remove_all(dir + "/" + name, ec);
    }
  }
  struct Item {
    std::string name;
    DirUsage usage;
  };
  std::vector<Item> items;
  int64_t total = 0;
  for (std::string& name : list_dir(dir, /*hidden=*/false)) {
    DirUsage u = dir_usage(dir + "/" + name);
    total += u.bytes;
    items.push_back({std::move(name), u});
  }
  if (total <= max_bytes) {
    estimated_bytes_.store(total, std::memory_order_relaxed);
    return 0;
  }
  // Oldest use first; ties by name so that the order is deterministic.
  std::sort(items.begin(), items.end(), [](const Item& a, const Item& b) {
    return a.usage.mtime_ns != b.usage.mtime_ns ? a.usage.mtime_ns < b.usage.mtime_ns
                                                : a.name < b.name;
  });
  int64_t removed = 0;
  for (const Item& item : items) {
    if (total <= max_bytes)
      break;
    remove_entry_dir(dir, item.name);
    total -= item.usage.bytes;
    ++removed;
  }
  estimated_bytes_.store(total, std::memory_order_relaxed);
  evicted_.fetch_add(removed, std::memory_order_relaxed);
  return removed;
}

std::vector<CacheEntryInfo> DiskCache::list() const {
  std::vector<CacheEntryInfo> out;
  auto scan = [&](const std::string& root, bool read_only) {
    const std::string dir = root + "/v1";
    for (const std::string& name : list_dir(dir, /*hidden=*/false)) {
      CacheEntryInfo info;
      info.key = name;
      info.path = dir + "/" + name;
      info.read_only = read_only;
      DirUsage u = dir_usage(info.path);
      info.bytes = u.bytes;
      info.last_used = u.mtime_ns / 1000000000;
      Fd dfd(open_dir(info.path));
      std::string text, error;
      if (dfd.ok() && read_file_at(dfd.get(), kManifestName, text) == 0) {
        if (std::optional<Manifest> m = manifest_from_json(text, error)) {
          info.kernel = m->kernel;
          info.backend = m->backend;
        }
      }
      out.push_back(std::move(info));
    }
  };
  scan(config_.root, false);
  for (const std::string& root : config_.read_only_roots)
    scan(root, true);
  return out;
}

std::vector<CacheProblem> DiskCache::verify(bool remove_bad) {
  std::vector<CacheProblem> problems;
  auto check = [&](const std::string& root, bool read_only) {
    const std::string dir = root + "/v1";
    for (const std::string& name : list_dir(dir, /*hidden=*/false)) {
      const std::string path = dir + "/" + name;
      auto problem = [&](const std::string& what) {
        problems.push_back({path, what, read_only});
        if (remove_bad && !read_only)
          remove_entry_dir(dir, name);
      };
      Fd dfd(open_dir(path));
      if (!dfd.ok()) {
        problem("not a directory");
        continue;
      }
      std::string text, error;
      if (int err = read_file_at(dfd.get(), kManifestName, text)) {
        problem(std::string("cannot read manifest.json: ") + errno_text(err));
        continue;
      }
      std::optional<Manifest> m = manifest_from_json(text, error);
      if (!m) {
        problem(error);
        continue;
      }
      if (m->key != name) {
        problem("its manifest describes key " + m->key);
        continue;
      }
      std::string what;
      for (const Manifest::File& f : m->files) {
        std::string data;
        if (int err = read_file_at(dfd.get(), f.name, data)) {
          what = "cannot read " + f.name + ": " + errno_text(err);
          break;
        }
        if (int64_t(data.size()) != f.bytes) {
          what = "file " + f.name + " has " + std::to_string(data.size()) +
                 " bytes, the manifest says " + std::to_string(f.bytes);
          break;
        }
        if (sha256_hex(data) != f.sha256) {
          what = "the checksum of " + f.name + " does not match its manifest";
          break;
        }
      }
      if (!what.empty())
        problem(what);
    }
  };
  check(config_.root, false);
  for (const std::string& root : config_.read_only_roots)
    check(root, true);
  return problems;
}

int64_t DiskCache::clear() {
  const std::string dir = entries_dir();
  int64_t removed = 0;
  for (const std::string& name : list_dir(dir, /*hidden=*/false)) {
    remove_entry_dir(dir, name);
    ++removed;
  }
  // A live writer's temporary directory is its own until it renames it; emptying it under the
  // writer would have it publish a hollow entry.
  for (const std::string& name : list_dir(dir, /*hidden=*/true)) {
    if (name.rfind(".tmp.", 0) == 0 && is_locked_by_live_writer(dir + "/" + name))
      continue;
    std::error_code ec;
    fs::remove_all(dir + "/" + name, ec);
  }
  return removed;
}

} // namespace tessel::jit
