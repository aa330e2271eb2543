// Tuning files (jit/autotune_file.h): parse, format, read with one warning per bad file, and
// read-modify-write under a lock with an atomic rename.
#include "jit/autotune_file.h"

#include "jit/disk_cache.h"
#include "tessel/support/dump.h"
#include "tessel/version.h"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <mutex>
#include <set>

namespace tessel::jit {
namespace {

constexpr std::string_view kMagic = "tessel-tuning 1";
constexpr size_t kFields = 6;

// One warning per file and process: a bad file read on every new key would otherwise repeat it.
void warn_once(const std::string& path, const std::string& why) {
  static std::mutex m;
  static std::set<std::string> warned;
  {
    std::lock_guard lock(m);
    if (!warned.insert(path).second)
      return;
  }
  support::warn("tuning file " + path + ": " + why);
}

std::vector<std::string_view> split(std::string_view line, char sep) {
  std::vector<std::string_view> out;
  while (true) {
    size_t at = line.find(sep);
    out.push_back(line.substr(0, at));
    if (at == std::string_view::npos)
      return out;
    line.remove_prefix(at + 1);
  }
}

bool is_comment(std::string_view line) { return line.empty() || line[0] == '#'; }

std::optional<TuningEntry> parse_entry(std::string_view line, size_t number, std::string& error) {
  std::vector<std::string_view> f = split(line, '\t');
  if (f.size() != kFields) {
    error = "line " + std::to_string(number) + " has " + std::to_string(f.size()) +
            " tab-separated fields, an entry has " + std::to_string(kFields);
    return std::nullopt;
  }
  for (size_t i = 0; i + 1 < kFields; ++i)
    if (f[i].empty()) {
      error = "line " + std::to_string(number) + " has an empty field " + std::to_string(i + 1);
      return std::nullopt;
    }
  return TuningEntry{std::string(f[0]), std::string(f[1]), std::string(f[2]),
                     std::string(f[3]), std::string(f[4]), std::string(f[5])};
}

// A file descriptor closed on scope exit.
struct Fd {
  int fd = -1;
  explicit Fd(int f) : fd(f) {}
  ~Fd() {
    if (fd >= 0)
      ::close(fd);
  }
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
};

int write_all(int fd, std::string_view data) {
  while (!data.empty()) {
    ssize_t n = ::write(fd, data.data(), data.size());
    if (n < 0 && errno == EINTR)
      continue;
    if (n < 0)
      return errno;
    data.remove_prefix(size_t(n));
  }
  return ::fsync(fd) == 0 ? 0 : errno;
}

// Reads a regular file without following a link or blocking on a FIFO. 0, ENOENT, or an errno
// (EINVAL for something that is not a regular file).
int read_regular_file(const std::string& path, std::string& out) {
  Fd fd(::open(path.c_str(), O_RDONLY | O_NONBLOCK | O_NOFOLLOW | O_CLOEXEC));
  if (fd.fd < 0)
    return errno;
  struct stat st {};
  if (::fstat(fd.fd, &st) != 0)
    return errno;
  if (!S_ISREG(st.st_mode))
    return EINVAL;
  out.clear();
  char buf[8192];
  for (;;) {
    ssize_t n = ::read(fd.fd, buf, sizeof buf);
    if (n < 0 && errno == EINTR)
      continue;
    if (n < 0)
      return errno;
    if (n == 0)
      return 0;
    out.append(buf, size_t(n));
  }
}

std::string errno_text(int err) {
  return err == EINVAL ? std::string("not a regular file") : std::string(std::strerror(err));
}

} // namespace

std::string TuningEntry::id() const { return kernel + '\t' + key + '\t' + dtypes + '\t' + device; }

const std::string& tuning_build_id() {
  static const std::string id = build_id();
  return id;
}

std::optional<TuningEntries> parse_tuning_file(std::string_view text, const std::string& build,
                                               std::string& error) {
  std::vector<std::string_view> lines = split(text, '\n');
  if (lines.empty() || lines[0] != kMagic) {
    error = "not a tessel tuning file (its first line is not '" + std::string(kMagic) + "')";
    return std::nullopt;
  }
  if (lines.size() < 2 || !lines[1].starts_with("build\t")) {
    error = "line 2 is not the 'build<TAB>...' line";
    return std::nullopt;
  }
  std::string_view written_by = lines[1].substr(6);
  if (written_by != build) {
    error = "written by another tessel build ('" + std::string(written_by) + "'; this is '" +
            build + "'); tune again, or ship a file made by this build";
    return std::nullopt;
  }
  TuningEntries entries;
  for (size_t i = 2; i < lines.size(); ++i) {
    if (is_comment(lines[i]))
      continue;
    std::optional<TuningEntry> e = parse_entry(lines[i], i + 1, error);
    if (!e)
      return std::nullopt;
    std::string id = e->id();
    entries[id] = std::move(*e);
  }
  return entries;
}

std::string format_tuning_file(const TuningEntries& entries, const std::string& build) {
  std::string s = std::string(kMagic) + "\nbuild\t" + build +
                  "\n# kernel\tkey\tdtypes\tdevice\tconfig\thow (docs/runtime.md, \"Autotuning "
                  "and tuning files\")\n";
  for (const auto& [id, e] : entries)
    s += id + '\t' + e.config + '\t' + e.how + '\n';
  return s;
}

std::optional<TuningEntries> read_tuning_file(const std::string& path) {
  std::string text;
  if (int err = read_regular_file(path, text); err == ENOENT)
    return TuningEntries{};
  else if (err != 0) {
    warn_once(path, "cannot be read (" + errno_text(err) + "); ignored");
    return std::nullopt;
  }
  std::string error;
  std::optional<TuningEntries> entries = parse_tuning_file(text, tuning_build_id(), error);
  if (!entries)
    warn_once(path, error + "; ignored");
  return entries;
}

bool store_tuning_entry(const std::string& path, const TuningEntry& entry) {
  static std::atomic<uint64_t> counter{0};
  auto fail = [&](const std::string& what, int err) {
    warn_once(path + " (write)",
              what + " (" + errno_text(err) + "); tuning results stay in this process only");
    return false;
  };
  std::error_code ec;
  std::filesystem::path parent = std::filesystem::path(path).parent_path();
  if (!parent.empty())
    std::filesystem::create_directories(parent, ec);
  Fd lock(::open((path + ".lock").c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644));
  if (lock.fd < 0)
    return fail("cannot create the lock file " + path + ".lock", errno);
  while (::flock(lock.fd, LOCK_EX) != 0)
    if (errno != EINTR)
      return fail("cannot lock " + path + ".lock", errno);
  // Under the lock: what other writers stored meanwhile is kept. A corrupt or stale file is
  // replaced (read_tuning_file has warned about it).
  TuningEntries entries = read_tuning_file(path).value_or(TuningEntries{});
  entries[entry.id()] = entry;
  std::string temp =
      path + ".tmp." + std::to_string(::getpid()) + "." + std::to_string(counter.fetch_add(1));
  {
    Fd out(::open(temp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644));
    if (out.fd < 0)
      return fail("cannot create " + temp, errno);
    if (int err = write_all(out.fd, format_tuning_file(entries, tuning_build_id())); err != 0) {
      ::unlink(temp.c_str());
      return fail("cannot write " + temp, err);
    }
  }
  if (::rename(temp.c_str(), path.c_str()) != 0) {
    int err = errno;
    ::unlink(temp.c_str());
    return fail("cannot rename " + temp + " to " + path, err);
  }
  Fd dir(::open(parent.empty() ? "." : parent.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (dir.fd >= 0)
    (void)::fsync(dir.fd);
  return true;
}

std::string writable_tuning_file() {
  if (const char* f = std::getenv("TESSEL_TUNING_FILE"); f && *f)
    return f;
  CacheConfig c = CacheConfig::from_environment();
  if (!c.enabled || c.root.empty())
    return "";
  return c.root + "/tuning.tsv";
}

std::vector<std::string> readonly_tuning_files() {
  std::vector<std::string> out;
  if (const char* list = std::getenv("TESSEL_TUNING_READONLY_FILES"))
    for (std::string_view item : split(list, ':'))
      if (!item.empty())
        out.emplace_back(item);
  return out;
}

} // namespace tessel::jit
