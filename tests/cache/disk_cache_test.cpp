// The disk cache in one process: round trip, the key's inputs in the entry, corruption (bit flip,
// truncation, a file from another entry, a bad manifest, a manifest of another key) reported once
// and removed, an unusable root (a file; no permission), read-only tiers, LRU eviction order,
// abandoned temporary directories, and configuration from the environment. Then the findings of
// issue 18: an edited manifest, a live writer's temporary directory under `clear`, a stray file
// at an entry's path, a FIFO for a manifest, and the size-cap rules.
#include "cache/process.h"
#include "jit/cache_manifest.h"
#include "jit/disk_cache.h"

#include <gtest/gtest.h>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <thread>

namespace fs = std::filesystem;
using tessel::jit::CacheConfig;
using tessel::jit::CacheEntry;
using tessel::jit::CacheKey;
using tessel::jit::DiskCache;
using tessel::testing::read_text_file;
using tessel::testing::TempDir;
using tessel::testing::write_text_file;

namespace {

const std::vector<std::string> kObject = {"object.o"};

CacheKey key_for(const std::string& name) {
  return tessel::jit::make_cache_key("func @" + name + "() {}\n", "cpu test-target", "opt_level=3");
}

CacheEntry entry_for(const std::string& name, size_t bytes = 1000) {
  CacheEntry e;
  e.kernel = name;
  e.entry = name;
  e.backend = "cpu";
  e.numbers["max_stack_bytes"] = 4096;
  std::string object(bytes, 'x');
  object.replace(0, name.size(), name);
  e.files["object.o"] = object;
  return e;
}

CacheConfig config_at(const std::string& root, int64_t max_bytes = int64_t(1) << 30) {
  CacheConfig c;
  c.root = root;
  c.max_bytes = max_bytes;
  return c;
}

std::string entry_path(const std::string& root, const CacheKey& key) {
  return root + "/v1/" + key.hex;
}

void set_mtime(const std::string& path, int64_t seconds) {
  timespec times[2] = {{seconds, 0}, {seconds, 0}};
  ASSERT_EQ(::utimensat(AT_FDCWD, path.c_str(), times, 0), 0) << path;
}

// Runs `f` and returns what it wrote to stderr (tessel's warnings).
template <class F> std::string stderr_of(F&& f) {
  ::testing::internal::CaptureStderr();
  f();
  return ::testing::internal::GetCapturedStderr();
}

int count_of(const std::string& text, const std::string& what) {
  int n = 0;
  for (size_t at = text.find(what); at != std::string::npos; at = text.find(what, at + 1))
    ++n;
  return n;
}

TEST(DiskCache, StoresAndFindsAnEntry) {
  TempDir dir;
  DiskCache cache(config_at(dir.path()));
  CacheKey key = key_for("a");
  EXPECT_FALSE(cache.lookup(key, kObject));
  ASSERT_TRUE(cache.store(key, entry_for("a")));
  auto hit = cache.lookup(key, kObject);
  ASSERT_TRUE(hit);
  EXPECT_EQ(hit->entry, "a");
  EXPECT_EQ(hit->backend, "cpu");
  EXPECT_EQ(hit->numbers["max_stack_bytes"], 4096);
  EXPECT_EQ(hit->files["object.o"], entry_for("a").files["object.o"]);
  EXPECT_FALSE(cache.lookup(key_for("b"), kObject));
  // Published entries only: no temporary directory is left behind.
  for (const auto& e : fs::directory_iterator(dir.path() + "/v1"))
    EXPECT_NE(e.path().filename().string()[0], '.') << e.path();
}

TEST(DiskCache, KeyDependsOnEveryInput) {
  CacheKey k = key_for("a");
  EXPECT_EQ(k.hex.size(), 64u);
  EXPECT_EQ(k.hex, key_for("a").hex);
  EXPECT_NE(k.hex, tessel::jit::make_cache_key(k.ir, "cpu other", k.options).hex);
  EXPECT_NE(k.hex, tessel::jit::make_cache_key(k.ir, k.target, "opt_level=2").hex);
  EXPECT_NE(k.hex, tessel::jit::make_cache_key(k.ir + " ", k.target, k.options).hex);
  EXPECT_NE(tessel::jit::compiler_identity().find("tessel "), std::string::npos);
}

TEST(DiskCache, EntryHoldsTheKeyInputsInPlainText) {
  TempDir dir;
  DiskCache cache(config_at(dir.path()));
  CacheKey key = key_for("a");
  ASSERT_TRUE(cache.store(key, entry_for("a")));
  EXPECT_EQ(read_text_file(entry_path(dir.path(), key) + "/key.ir"), key.ir);
  std::string manifest = read_text_file(entry_path(dir.path(), key) + "/manifest.json");
  EXPECT_NE(manifest.find("\"target\": \"cpu test-target\""), std::string::npos) << manifest;
  EXPECT_NE(manifest.find("\"options\": \"opt_level=3\""), std::string::npos) << manifest;
  EXPECT_NE(manifest.find(tessel::jit::compiler_identity()), std::string::npos) << manifest;
  EXPECT_NE(manifest.find(tessel::jit::sha256_hex(entry_for("a").files["object.o"])),
            std::string::npos);
}

// Damages entry "a" with `damage`, then checks that lookup reports it once, removes it, never
// returns it, and that a new store works.
template <class Damage> void expect_detected(Damage damage, const std::string& why) {
  TempDir dir;
  DiskCache cache(config_at(dir.path()));
  CacheKey key = key_for("a");
  ASSERT_TRUE(cache.store(key, entry_for("a")));
  ASSERT_TRUE(cache.store(key_for("b"), entry_for("b")));
  damage(dir.path(), key);
  std::string err = stderr_of([&] { EXPECT_FALSE(cache.lookup(key, kObject)); });
  EXPECT_EQ(count_of(err, "warning"), 1) << err;
  EXPECT_NE(err.find(entry_path(dir.path(), key)), std::string::npos) << err;
  EXPECT_NE(err.find(why), std::string::npos) << err;
  EXPECT_FALSE(fs::exists(entry_path(dir.path(), key)));
  err = stderr_of([&] { EXPECT_FALSE(cache.lookup(key, kObject)); });
  EXPECT_EQ(err, "");
  ASSERT_TRUE(cache.store(key, entry_for("a")));
  auto hit = cache.lookup(key, kObject);
  ASSERT_TRUE(hit);
  EXPECT_EQ(hit->files["object.o"], entry_for("a").files["object.o"]);
  EXPECT_TRUE(cache.lookup(key_for("b"), kObject)); // the other entry is untouched
}

TEST(DiskCache, BitFlipIsDetected) {
  expect_detected(
      [](const std::string& root, const CacheKey& key) {
        std::string path = entry_path(root, key) + "/object.o";
        std::string data = read_text_file(path);
        data[500] ^= 0x10;
        write_text_file(path, data);
      },
      "checksum of object.o");
}

// No backend reads key.ir, but a lookup must still reject a damaged one: otherwise the entry is
// served, never replaced, and `tessel cache verify` keeps reporting it after a clean run.
TEST(DiskCache, BitFlipInTheUnreadKeyIrIsDetected) {
  expect_detected(
      [](const std::string& root, const CacheKey& key) {
        std::string path = entry_path(root, key) + "/key.ir";
        std::string data = read_text_file(path);
        data[2] ^= 0x10;
        write_text_file(path, data);
      },
      "checksum of key.ir");
}

TEST(DiskCache, TruncationIsDetected) {
  expect_detected(
      [](const std::string& root, const CacheKey& key) {
        fs::resize_file(entry_path(root, key) + "/object.o", 100);
      },
      "has 100 bytes");
}

TEST(DiskCache, TruncatedUnreadFileIsDetectedToo) {
  expect_detected(
      [](const std::string& root, const CacheKey& key) {
        fs::resize_file(entry_path(root, key) + "/key.ir", 3);
      },
      "key.ir has 3 bytes");
}

TEST(DiskCache, FileOfAnotherEntryIsDetected) {
  expect_detected(
      [](const std::string& root, const CacheKey& key) {
        fs::copy_file(entry_path(root, key_for("b")) + "/object.o",
                      entry_path(root, key) + "/object.o", fs::copy_options::overwrite_existing);
      },
      "checksum of object.o");
}

TEST(DiskCache, UnparseableManifestIsDetected) {
  expect_detected(
      [](const std::string& root, const CacheKey& key) {
        write_text_file(entry_path(root, key) + "/manifest.json", "{\"format\": 1, \"ke");
      },
      "not JSON");
}

TEST(DiskCache, MissingManifestIsDetected) {
  expect_detected([](const std::string& root,
                     const CacheKey& key) { fs::remove(entry_path(root, key) + "/manifest.json"); },
                  "cannot read manifest.json");
}

TEST(DiskCache, ManifestOfAnotherKeyIsDetected) {
  expect_detected(
      [](const std::string& root, const CacheKey& key) {
        fs::copy_file(entry_path(root, key_for("b")) + "/manifest.json",
                      entry_path(root, key) + "/manifest.json",
                      fs::copy_options::overwrite_existing);
      },
      "another key");
}

TEST(DiskCache, AbandonedTemporaryDirectoryIsNeverLoaded) {
  TempDir dir;
  DiskCache cache(config_at(dir.path()));
  CacheKey key = key_for("a");
  ASSERT_TRUE(cache.store(key, entry_for("a")));
  fs::rename(entry_path(dir.path(), key), dir.path() + "/v1/.tmp." + key.hex + ".1.0");
  EXPECT_FALSE(cache.lookup(key, kObject));
  ASSERT_TRUE(cache.store(key, entry_for("a")));
  EXPECT_TRUE(cache.lookup(key, kObject));
}

TEST(DiskCache, RootThatIsAFileMeansMemoryOnlyWithOneWarning) {
  TempDir dir;
  std::string file = dir.path() + "/not-a-dir";
  write_text_file(file, "x");
  DiskCache cache(config_at(file));
  std::string err = stderr_of([&] {
    EXPECT_FALSE(cache.lookup(key_for("a"), kObject));
    EXPECT_FALSE(cache.store(key_for("a"), entry_for("a")));
    EXPECT_FALSE(cache.store(key_for("b"), entry_for("b")));
    EXPECT_FALSE(cache.lookup(key_for("a"), kObject));
  });
  EXPECT_EQ(count_of(err, "warning"), 1) << err;
  EXPECT_NE(err.find(file), std::string::npos) << err;
  EXPECT_NE(err.find("memory only"), std::string::npos) << err;
  EXPECT_FALSE(cache.writable());
  EXPECT_EQ(read_text_file(file), "x");
}

TEST(DiskCache, RootUnderAFileMeansMemoryOnly) {
  TempDir dir;
  write_text_file(dir.path() + "/file", "x");
  DiskCache cache(config_at(dir.path() + "/file/cache"));
  std::string err = stderr_of([&] { EXPECT_FALSE(cache.store(key_for("a"), entry_for("a"))); });
  EXPECT_EQ(count_of(err, "warning"), 1) << err;
}

TEST(DiskCache, UnwritableRootMeansMemoryOnlyButStillReads) {
  if (::geteuid() == 0)
    GTEST_SKIP() << "running as root: permissions do not stop root from writing";
  TempDir dir;
  CacheKey key = key_for("a");
  {
    DiskCache writer(config_at(dir.path()));
    ASSERT_TRUE(writer.store(key, entry_for("a")));
  }
  fs::permissions(dir.path() + "/v1", fs::perms::owner_read | fs::perms::owner_exec);
  DiskCache cache(config_at(dir.path()));
  std::string err = stderr_of([&] {
    EXPECT_TRUE(cache.lookup(key, kObject));
    EXPECT_FALSE(cache.store(key_for("b"), entry_for("b")));
  });
  EXPECT_EQ(count_of(err, "warning"), 1) << err;
}

TEST(DiskCache, ReadOnlyTierIsSearchedAfterTheUsersCacheAndNeverWritten) {
  TempDir user, tier;
  CacheKey a = key_for("a"), b = key_for("b");
  {
    DiskCache prebuilt(config_at(tier.path()));
    ASSERT_TRUE(prebuilt.store(a, entry_for("a")));
    ASSERT_TRUE(prebuilt.store(b, entry_for("b")));
  }
  set_mtime(entry_path(tier.path(), a), 1000);
  CacheConfig config = config_at(user.path());
  config.read_only_roots = {tier.path()};
  DiskCache cache(config);
  ASSERT_TRUE(cache.lookup(a, kObject));
  struct stat st {};
  ASSERT_EQ(::stat(entry_path(tier.path(), a).c_str(), &st), 0);
  EXPECT_EQ(st.st_mtim.tv_sec, 1000) << "a hit in a read-only tier must not touch it";

  // A corrupt entry in the tier is reported once and skipped, not removed.
  fs::resize_file(entry_path(tier.path(), b) + "/object.o", 10);
  std::string err = stderr_of([&] {
    EXPECT_FALSE(cache.lookup(b, kObject));
    EXPECT_FALSE(cache.lookup(b, kObject));
  });
  EXPECT_EQ(count_of(err, "warning"), 1) << err;
  EXPECT_NE(err.find("read-only"), std::string::npos) << err;
  EXPECT_TRUE(fs::exists(entry_path(tier.path(), b)));

  // New entries go to the user's cache.
  ASSERT_TRUE(cache.store(b, entry_for("b")));
  EXPECT_TRUE(fs::exists(entry_path(user.path(), b)));
  EXPECT_TRUE(cache.lookup(b, kObject));
  EXPECT_EQ(fs::file_size(entry_path(tier.path(), b) + "/object.o"), 10u);
}

TEST(DiskCache, EvictsLeastRecentlyUsedFirst) {
  TempDir dir;
  DiskCache cache(config_at(dir.path()));
  const char* names[] = {"a", "b", "c", "d"};
  for (int i = 0; i < 4; ++i) {
    ASSERT_TRUE(cache.store(key_for(names[i]), entry_for(names[i])));
    set_mtime(entry_path(dir.path(), key_for(names[i])), 1000 * (i + 1));
  }
  ASSERT_TRUE(cache.lookup(key_for("a"), kObject)); // a is now the most recently used
  int64_t total = 0, bytes_a = 0, bytes_d = 0;
  for (const auto& info : cache.list()) {
    total += info.bytes;
    if (info.key == key_for("a").hex)
      bytes_a = info.bytes;
    if (info.key == key_for("d").hex)
      bytes_d = info.bytes;
  }
  EXPECT_EQ(cache.evict_to(total - 1), 1); // b, the least recently used
  EXPECT_FALSE(fs::exists(entry_path(dir.path(), key_for("b"))));
  EXPECT_TRUE(fs::exists(entry_path(dir.path(), key_for("c"))));
  EXPECT_EQ(cache.evict_to(bytes_a + bytes_d), 1); // then c
  EXPECT_FALSE(fs::exists(entry_path(dir.path(), key_for("c"))));
  EXPECT_TRUE(cache.lookup(key_for("a"), kObject));
  EXPECT_TRUE(cache.lookup(key_for("d"), kObject));
}

TEST(DiskCache, StoreEvictsToTheSizeCap) {
  TempDir dir;
  int64_t one_entry = 0;
  {
    DiskCache probe(config_at(dir.path() + "/probe"));
    ASSERT_TRUE(probe.store(key_for("a"), entry_for("a", 4000)));
    one_entry = probe.list().at(0).bytes;
  }
  // Room for two entries of this size, not three.
  DiskCache cache(config_at(dir.path() + "/capped", 2 * one_entry + one_entry / 2));
  ASSERT_TRUE(cache.store(key_for("a"), entry_for("a", 4000)));
  set_mtime(entry_path(dir.path() + "/capped", key_for("a")), 1000);
  ASSERT_TRUE(cache.store(key_for("b"), entry_for("b", 4000)));
  set_mtime(entry_path(dir.path() + "/capped", key_for("b")), 2000);
  ASSERT_TRUE(cache.store(key_for("c"), entry_for("c", 4000)));
  EXPECT_FALSE(cache.lookup(key_for("a"), kObject));
  EXPECT_TRUE(cache.lookup(key_for("b"), kObject));
  EXPECT_TRUE(cache.lookup(key_for("c"), kObject));
}

TEST(DiskCache, VerifyReportsBadEntriesAndClearRemovesAll) {
  TempDir dir;
  DiskCache cache(config_at(dir.path()));
  ASSERT_TRUE(cache.store(key_for("a"), entry_for("a")));
  ASSERT_TRUE(cache.store(key_for("b"), entry_for("b")));
  EXPECT_TRUE(cache.verify(false).empty());
  std::string path = entry_path(dir.path(), key_for("b")) + "/key.ir";
  std::string data = read_text_file(path);
  data[0] ^= 1;
  write_text_file(path, data);
  auto problems = cache.verify(/*remove_bad=*/true);
  ASSERT_EQ(problems.size(), 1u);
  EXPECT_EQ(problems[0].path, entry_path(dir.path(), key_for("b")));
  EXPECT_NE(problems[0].what.find("key.ir"), std::string::npos);
  EXPECT_FALSE(fs::exists(entry_path(dir.path(), key_for("b"))));
  EXPECT_EQ(cache.list().size(), 1u);
  EXPECT_EQ(cache.clear(), 1);
  EXPECT_TRUE(cache.list().empty());
}

TEST(CacheConfig, LocationFromTheEnvironment) {
  auto with_env = [](const char* dir, const char* xdg, const char* home) {
    auto set = [](const char* name, const char* v) {
      if (v)
        ::setenv(name, v, 1);
      else
        ::unsetenv(name);
    };
    set("TESSEL_CACHE_DIR", dir);
    set("XDG_CACHE_HOME", xdg);
    set("HOME", home);
    return CacheConfig::from_environment().root;
  };
  const char* saved_home = std::getenv("HOME");
  std::string home = saved_home ? saved_home : "";
  EXPECT_EQ(with_env("/c/dir", "/xdg", "/home/u"), "/c/dir");
  EXPECT_EQ(with_env(nullptr, "/xdg", "/home/u"), "/xdg/tessel");
  EXPECT_EQ(with_env(nullptr, nullptr, "/home/u"), "/home/u/.cache/tessel");
  ::setenv("TESSEL_CACHE_READONLY_DIRS", "/ro/one::/ro/two", 1);
  ::setenv("TESSEL_CACHE_MAX_BYTES", "512M", 1);
  CacheConfig c = CacheConfig::from_environment();
  EXPECT_EQ(c.read_only_roots, (std::vector<std::string>{"/ro/one", "/ro/two"}));
  EXPECT_EQ(c.max_bytes, int64_t(512) << 20);
  ::setenv("TESSEL_CACHE_MAX_BYTES", "lots", 1);
  std::string err =
      stderr_of([&] { EXPECT_EQ(CacheConfig::from_environment().max_bytes, 1 << 30); });
  EXPECT_NE(err.find("TESSEL_CACHE_MAX_BYTES"), std::string::npos);
  ::unsetenv("TESSEL_CACHE_READONLY_DIRS");
  ::unsetenv("TESSEL_CACHE_MAX_BYTES");
  if (saved_home)
    ::setenv("HOME", home.c_str(), 1);
}

// Replaces the first `from` in `path` by `to` (same length or not; the JSON stays valid).
void edit_file(const std::string& path, const std::string& from, const std::string& to) {
  std::string text = read_text_file(path);
  size_t at = text.find(from);
  ASSERT_NE(at, std::string::npos) << from << " not in " << text;
  text.replace(at, from.size(), to);
  write_text_file(path, text);
}

// Issue 18.1: a digit changed inside valid JSON is caught by manifest_sha256.
TEST(DiskCache, EditedNumberInTheManifestIsDetected) {
  expect_detected(
      [](const std::string& root, const CacheKey& key) {
        edit_file(entry_path(root, key) + "/manifest.json", "\"max_stack_bytes\": 4096",
                  "\"max_stack_bytes\": 4095");
      },
      "does not match its manifest_sha256");
}

TEST(DiskCache, EditedEntryNameInTheManifestIsDetected) {
  expect_detected(
      [](const std::string& root, const CacheKey& key) {
        edit_file(entry_path(root, key) + "/manifest.json", "\"entry\": \"a\"", "\"entry\": \"b\"");
      },
      "does not match its manifest_sha256");
}

TEST(DiskCache, ManifestWithoutItsChecksumIsDetected) {
  expect_detected(
      [](const std::string& root, const CacheKey& key) {
        std::string path = entry_path(root, key) + "/manifest.json";
        std::string text = read_text_file(path);
        // The printer sorts keys, so the checksum's line is followed by others and ends in ','.
        size_t at = text.find("\n  \"manifest_sha256\"");
        ASSERT_NE(at, std::string::npos) << text;
        text.erase(at, text.find('\n', at + 1) - at);
        write_text_file(path, text);
      },
      "has no manifest_sha256");
}

TEST(DiskCache, VerifyFlagsAnEditedManifest) {
  TempDir dir;
  DiskCache cache(config_at(dir.path()));
  ASSERT_TRUE(cache.store(key_for("a"), entry_for("a")));
  edit_file(entry_path(dir.path(), key_for("a")) + "/manifest.json", "4096", "8192");
  auto problems = cache.verify(/*remove_bad=*/false);
  ASSERT_EQ(problems.size(), 1u);
  EXPECT_NE(problems[0].what.find("manifest_sha256"), std::string::npos) << problems[0].what;
}

TEST(CacheManifest, ChecksumRoundTrips) {
  tessel::jit::Manifest m;
  m.key = "k";
  m.kernel = m.entry = "softmax";
  m.backend = "cuda";
  m.created = 1732480000;
  m.numbers = {{"shared_bytes", 2048}, {"num_warps", 4}};
  m.files = {{"kernel.cubin", 10, "abc"}};
  m.target = "nvptx sm_80";
  m.options = "num_warps=4";
  m.build = "tessel test";
  std::string error;
  auto back = tessel::jit::manifest_from_json(tessel::jit::manifest_to_json(m), error);
  ASSERT_TRUE(back) << error;
  EXPECT_EQ(back->numbers, m.numbers);
  std::string text = tessel::jit::manifest_to_json(m);
  text.replace(text.find("2048"), 4, "2043");
  EXPECT_FALSE(tessel::jit::manifest_from_json(text, error));
  EXPECT_NE(error.find("manifest_sha256"), std::string::npos) << error;
}

// Runs cache.store(key, entry) on a thread that the test hook stops after the entry's first file;
// `between` runs while it is stopped. Returns what store returned.
template <class Between>
bool store_with_pause(DiskCache& cache, const CacheKey& key, const CacheEntry& entry,
                      const std::string& work, Between between) {
  const std::string marker = work + "/paused", resume = work + "/resume";
  ::setenv("TESSEL_CACHE_TEST_PAUSE", marker.c_str(), 1);
  ::setenv("TESSEL_CACHE_TEST_RESUME", resume.c_str(), 1);
  bool stored = false;
  std::thread writer([&] { stored = cache.store(key, entry); });
  while (!fs::exists(marker))
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  between();
  write_text_file(resume, "");
  writer.join();
  ::unsetenv("TESSEL_CACHE_TEST_PAUSE");
  ::unsetenv("TESSEL_CACHE_TEST_RESUME");
  return stored;
}

std::vector<std::string> temp_dirs(const std::string& root) {
  std::vector<std::string> out;
  for (const auto& e : fs::directory_iterator(root + "/v1"))
    if (e.path().filename().string().rfind(".tmp.", 0) == 0)
      out.push_back(e.path().string());
  return out;
}

// Issue 18.2: `clear` leaves a live writer's (flock'd) temporary directory alone.
TEST(DiskCache, ClearLeavesALiveWritersTemporaryDirectory) {
  TempDir dir, work;
  DiskCache cache(config_at(dir.path()));
  ASSERT_TRUE(cache.store(key_for("b"), entry_for("b")));
  // An abandoned temporary directory (its writer died: no lock) is removed by the same clear.
  fs::create_directories(dir.path() + "/v1/.tmp." + key_for("c").hex + ".1.0");
  CacheKey key = key_for("a");
  int64_t cleared = -1;
  bool stored = store_with_pause(cache, key, entry_for("a"), work.path(), [&] {
    cleared = cache.clear();
    std::vector<std::string> temps = temp_dirs(dir.path());
    ASSERT_EQ(temps.size(), 1u);
    EXPECT_TRUE(fs::exists(temps[0] + "/key.ir"));
  });
  EXPECT_EQ(cleared, 1);
  EXPECT_TRUE(stored);
  auto hit = cache.lookup(key, kObject);
  ASSERT_TRUE(hit);
  EXPECT_EQ(hit->files["object.o"], entry_for("a").files["object.o"]);
  EXPECT_TRUE(cache.verify(false).empty());
  EXPECT_TRUE(temp_dirs(dir.path()).empty());
}

// Issue 18.2: a writer whose temporary directory was emptied anyway (by a tool that ignores the
// lock) does not publish it.
TEST(DiskCache, WriterDoesNotPublishAnEmptiedTemporaryDirectory) {
  TempDir dir, work;
  DiskCache cache(config_at(dir.path()));
  CacheKey key = key_for("a");
  bool stored = true;
  std::string err = stderr_of([&] {
    stored = store_with_pause(cache, key, entry_for("a"), work.path(), [&] {
      for (const std::string& temp : temp_dirs(dir.path()))
        for (const auto& e : fs::directory_iterator(temp))
          fs::remove(e.path());
    });
  });
  EXPECT_FALSE(stored);
  EXPECT_EQ(count_of(err, "warning"), 1) << err;
  EXPECT_NE(err.find("key.ir is gone"), std::string::npos) << err;
  EXPECT_NE(err.find("entry not stored"), std::string::npos) << err;
  EXPECT_FALSE(fs::exists(entry_path(dir.path(), key)));
  EXPECT_TRUE(temp_dirs(dir.path()).empty());
  ASSERT_TRUE(cache.store(key, entry_for("a")));
  EXPECT_TRUE(cache.lookup(key, kObject));
}

// Issue 18.3: a regular file where an entry's directory belongs is reported once, removed, and
// the key cached again.
TEST(DiskCache, StrayFileAtAnEntryPathIsReportedAndReplaced) {
  TempDir dir;
  DiskCache cache(config_at(dir.path()));
  CacheKey key = key_for("a");
  ASSERT_TRUE(cache.store(key_for("b"), entry_for("b")));
  write_text_file(entry_path(dir.path(), key), "stray");
  std::string err = stderr_of([&] { EXPECT_FALSE(cache.lookup(key, kObject)); });
  EXPECT_EQ(count_of(err, "warning"), 1) << err;
  EXPECT_NE(err.find(entry_path(dir.path(), key) + " is corrupt (it is not a directory)"),
            std::string::npos)
      << err;
  EXPECT_FALSE(fs::exists(entry_path(dir.path(), key)));
  ASSERT_TRUE(cache.store(key, entry_for("a")));
  EXPECT_TRUE(cache.lookup(key, kObject));
}

TEST(DiskCache, StoreReplacesAStrayFileAtTheEntryPath) {
  TempDir dir;
  DiskCache cache(config_at(dir.path()));
  CacheKey key = key_for("a");
  fs::create_directories(dir.path() + "/v1");
  write_text_file(entry_path(dir.path(), key), "stray"); // appears after the lookup missed
  std::string err = stderr_of([&] { EXPECT_TRUE(cache.store(key, entry_for("a"))); });
  EXPECT_EQ(count_of(err, "warning"), 1) << err;
  EXPECT_NE(err.find("not a directory"), std::string::npos) << err;
  EXPECT_TRUE(fs::is_directory(entry_path(dir.path(), key)));
  EXPECT_TRUE(cache.lookup(key, kObject));
}

TEST(DiskCache, StrayFileInAReadOnlyTierIsReportedOnceAndKept) {
  TempDir user, tier;
  CacheKey key = key_for("a");
  fs::create_directories(tier.path() + "/v1");
  write_text_file(entry_path(tier.path(), key), "stray");
  CacheConfig config = config_at(user.path());
  config.read_only_roots = {tier.path()};
  DiskCache cache(config);
  std::string err = stderr_of([&] {
    EXPECT_FALSE(cache.lookup(key, kObject));
    EXPECT_FALSE(cache.lookup(key, kObject));
  });
  EXPECT_EQ(count_of(err, "warning"), 1) << err;
  EXPECT_NE(err.find("read-only"), std::string::npos) << err;
  EXPECT_EQ(read_text_file(entry_path(tier.path(), key)), "stray");
}

// Issue 18.4: a FIFO for a manifest (or a file) is corruption, found without blocking.
TEST(DiskCache, FifoManifestIsCorruptionNotAHang) {
  expect_detected(
      [](const std::string& root, const CacheKey& key) {
        std::string path = entry_path(root, key) + "/manifest.json";
        fs::remove(path);
        ASSERT_EQ(::mkfifo(path.c_str(), 0644), 0);
      },
      "cannot read manifest.json: not a regular file");
}

TEST(DiskCache, FifoObjectFileIsCorruptionNotAHang) {
  expect_detected(
      [](const std::string& root, const CacheKey& key) {
        std::string path = entry_path(root, key) + "/object.o";
        fs::remove(path);
        ASSERT_EQ(::mkfifo(path.c_str(), 0644), 0);
      },
      "file object.o is not a regular file");
}

TEST(DiskCache, VerifyReportsAFifoManifestWithoutBlocking) {
  TempDir dir;
  DiskCache cache(config_at(dir.path()));
  ASSERT_TRUE(cache.store(key_for("a"), entry_for("a")));
  std::string path = entry_path(dir.path(), key_for("a")) + "/manifest.json";
  fs::remove(path);
  ASSERT_EQ(::mkfifo(path.c_str(), 0644), 0);
  auto problems = cache.verify(false);
  ASSERT_EQ(problems.size(), 1u);
  EXPECT_NE(problems[0].what.find("not a regular file"), std::string::npos) << problems[0].what;
  EXPECT_EQ(cache.list().size(), 1u); // list reads the manifest too, and does not block
}

// Issue 18.5 (the library's half; the CLI's text is in cli_test.cpp).
TEST(DiskCache, VerifyRemoveLeavesReadOnlyTierEntries) {
  TempDir user, tier;
  CacheKey key = key_for("a");
  {
    DiskCache prebuilt(config_at(tier.path()));
    ASSERT_TRUE(prebuilt.store(key, entry_for("a")));
  }
  fs::resize_file(entry_path(tier.path(), key) + "/object.o", 10);
  CacheConfig config = config_at(user.path());
  config.read_only_roots = {tier.path()};
  DiskCache cache(config);
  auto problems = cache.verify(/*remove_bad=*/true);
  ASSERT_EQ(problems.size(), 1u);
  EXPECT_TRUE(problems[0].read_only);
  EXPECT_TRUE(fs::exists(entry_path(tier.path(), key)));
}

// Issue 18.6: a cap of 0 stores nothing (and keeps reading what is there).
TEST(DiskCache, ZeroCapStoresNothing) {
  TempDir dir;
  CacheKey old_key = key_for("old");
  {
    DiskCache writer(config_at(dir.path()));
    ASSERT_TRUE(writer.store(old_key, entry_for("old")));
  }
  DiskCache cache(config_at(dir.path(), 0));
  std::string err = stderr_of([&] { EXPECT_FALSE(cache.store(key_for("a"), entry_for("a"))); });
  EXPECT_EQ(err, "");
  EXPECT_FALSE(fs::exists(entry_path(dir.path(), key_for("a"))));
  EXPECT_TRUE(cache.lookup(old_key, kObject));
  EXPECT_TRUE(temp_dirs(dir.path()).empty());
}

// Issue 18.6: an entry larger than the cap is not stored (it would evict itself and every other
// entry), with one warning per process; the entries already there stay.
TEST(DiskCache, EntryLargerThanTheCapIsNotStoredWithOneWarning) {
  TempDir dir;
  CacheKey small = key_for("small");
  DiskCache cache(config_at(dir.path(), 3000));
  ASSERT_TRUE(cache.store(small, entry_for("small", 100)));
  std::string err = stderr_of([&] {
    EXPECT_FALSE(cache.store(key_for("a"), entry_for("a", 5000)));
    EXPECT_FALSE(cache.store(key_for("b"), entry_for("b", 5000)));
  });
  EXPECT_EQ(count_of(err, "warning"), 1) << err;
  EXPECT_NE(err.find("larger than TESSEL_CACHE_MAX_BYTES (3000 bytes); not stored"),
            std::string::npos)
      << err;
  EXPECT_FALSE(fs::exists(entry_path(dir.path(), key_for("a"))));
  EXPECT_TRUE(cache.lookup(small, kObject));
}

TEST(DiskCache, FindSaysWhichTierHoldsAnEntry) {
  TempDir user, tier;
  {
    DiskCache prebuilt(config_at(tier.path()));
    ASSERT_TRUE(prebuilt.store(key_for("t"), entry_for("t")));
  }
  CacheConfig config = config_at(user.path());
  config.read_only_roots = {tier.path()};
  DiskCache cache(config);
  ASSERT_TRUE(cache.store(key_for("u"), entry_for("u")));
  auto in_user = cache.find(key_for("u").hex);
  ASSERT_TRUE(in_user);
  EXPECT_FALSE(in_user->read_only);
  auto in_tier = cache.find(key_for("t").hex);
  ASSERT_TRUE(in_tier);
  EXPECT_TRUE(in_tier->read_only);
  EXPECT_EQ(in_tier->path, entry_path(tier.path(), key_for("t")));
  EXPECT_FALSE(cache.find(key_for("none").hex));
}

} // namespace
