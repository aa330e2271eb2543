// A process of the cache stress test (tests/cache/stress.h), in one of two roles:
//
//   cache_stress_worker --kernels M --seed S
//     launches M specializations of one kernel (K = 1..M, in a seeded random order) through the
//     disk cache, checks each output, and prints one line of counts:
//       launches=M wrong=0 disk=D compiled=C hits=.. misses=.. corrupt=.. stored=.. evicted=..
//     Each K computes out[i] = K * x[i] + K, so a wrong entry served for a key (another K's code)
//     shows in the output. Exit 0; 3 when an output is wrong; 2 when a launch threw.
//
//   cache_stress_worker --corrupt DIR --seed S --until FILE [--every-ms MS]
//     damages entries under DIR/v1 until FILE exists (one fault every MS ms on average, default
//     20, at uniformly random gaps from 0 to 2*MS: a flipped byte, a
//     truncated or deleted file, a deleted entry, two entries' names swapped, a manifest replaced
//     by garbage, a file replaced by a FIFO), then prints `faults=N flip=.. truncate=.. ...`.
#include "jit/disk_cache.h"
#include "tessel/tessel.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <random>
#include <string>
#include <vector>

namespace tl = tessel::lang;
namespace fs = std::filesystem;

namespace {

int run_worker(int kernels, uint32_t seed) {
  const tessel::Kernel scale =
      tl::kernel("stress_scale",
                 [](tl::Ptr out, tl::Ptr x, tl::Int n, tl::Const<int> K, tl::Const<int> BLOCK) {
                   auto offs = tl::program_id(0) * BLOCK + tl::arange(0, BLOCK);
                   auto mask = offs < n;
                   auto k = tl::scalar(float(K), tl::f32);
                   tl::store(out + offs, k * tl::load(x + offs, mask) + k, mask);
                 });
  std::vector<int> order(static_cast<size_t>(kernels));
  for (int i = 0; i < kernels; ++i)
    order[size_t(i)] = i + 1;
  std::mt19937 rng(seed);
  std::shuffle(order.begin(), order.end(), rng);
  const int n = 300;
  std::vector<float> x(n), out(n);
  for (int i = 0; i < n; ++i)
    x[size_t(i)] = float(int(rng() % 1000) - 500);
  int wrong = 0;
  for (int k : order) {
    std::fill(out.begin(), out.end(), NAN); // poisoned: a kernel that writes nothing is caught
    try {
      scale.launch({(n + 63) / 64}, {}, out.data(), x.data(), n, k, 64);
    } catch (const std::exception& e) {
      std::fprintf(stderr, "cache_stress_worker: K=%d: %s\n", k, e.what());
      return 2;
    }
    for (int i = 0; i < n; ++i) {
      if (out[size_t(i)] != float(k) * x[size_t(i)] + float(k)) {
        std::fprintf(stderr, "cache_stress_worker: K=%d wrong at %d: %g\n", k, i,
                     double(out[size_t(i)]));
        ++wrong;
        break;
      }
    }
  }
  tessel::KernelStats s = scale.stats();
  tessel::jit::CacheCounters c = tessel::jit::DiskCache::instance().counters();
  std::printf("launches=%d wrong=%d disk=%lld compiled=%lld hits=%lld misses=%lld corrupt=%lld "
              "stored=%lld evicted=%lld\n",
              kernels, wrong, (long long)s.disk_loads, (long long)s.compiled_now(),
              (long long)c.hits, (long long)c.misses, (long long)c.corrupt, (long long)c.stored,
              (long long)c.evicted);
  return wrong ? 3 : 0;
}

// The faults the corrupter injects, in the order of its counts.
enum class Fault { flip, truncate, delete_file, delete_entry, swap, garbage_manifest, fifo };
constexpr std::array<const char*, 7> kFaultNames = {
    "flip", "truncate", "delete_file", "delete_entry", "swap", "garbage_manifest", "fifo"};

std::vector<fs::path> children(const fs::path& dir, bool files) {
  std::vector<fs::path> out;
  std::error_code ec;
  for (const fs::directory_entry& e : fs::directory_iterator(dir, ec)) {
    std::string name = e.path().filename().string();
    if (name.empty() || name[0] == '.')
      continue;
    std::error_code type_ec;
    if (files ? e.is_regular_file(type_ec) : e.is_directory(type_ec))
      out.push_back(e.path());
  }
  std::sort(out.begin(), out.end());
  return out;
}

// Damages `entry` in place (as a disk, a user or another tool might). Returns false when there
// was nothing to damage (the entry vanished meanwhile).
bool inject(Fault fault, const fs::path& entry, const std::vector<fs::path>& entries,
            std::mt19937& rng) {
  std::error_code ec;
  std::vector<fs::path> files = children(entry, /*files=*/true);
  if (files.empty())
    return false;
  const fs::path& file = files[rng() % files.size()];
  switch (fault) {
  case Fault::flip: {
    int fd = ::open(file.c_str(), O_RDWR | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0)
      return false;
    struct stat st {};
    bool done = false;
    if (::fstat(fd, &st) == 0 && st.st_size > 0) {
      off_t at = off_t(rng() % uint64_t(st.st_size));
      unsigned char b = 0;
      if (::pread(fd, &b, 1, at) == 1) {
        b ^= uint8_t(1u << (rng() % 8));
        done = ::pwrite(fd, &b, 1, at) == 1;
      }
    }
    ::close(fd);
    return done;
  }
  case Fault::truncate: {
    uintmax_t size = fs::file_size(file, ec);
    if (ec)
      return false;
    fs::resize_file(file, size ? rng() % size : 0, ec);
    return !ec;
  }
  case Fault::delete_file:
    return fs::remove(file, ec);
  case Fault::delete_entry:
    return fs::remove_all(entry, ec) > 0;
  case Fault::swap: {
    // Renames this entry to another key's name (that key's entry removed first): a reader of the
    // other key then finds a whole, checksummed entry of the wrong kernel.
    const fs::path& other = entries[rng() % entries.size()];
    if (other == entry)
      return false;
    fs::remove_all(other, ec);
    fs::rename(entry, other, ec);
    return !ec;
  }
  case Fault::garbage_manifest: {
    int fd = ::open((entry / "manifest.json").c_str(),
                    O_WRONLY | O_TRUNC | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0)
      return false;
    const char garbage[] = "{\"key\": \"0\", \"files\": [{\"name\": \"object.o\", \"bytes\": -1}";
    bool done = ::write(fd, garbage, sizeof garbage - 1) == ssize_t(sizeof garbage - 1);
    ::close(fd);
    return done;
  }
  case Fault::fifo:
    fs::remove(file, ec);
    return ::mkfifo(file.c_str(), 0644) == 0;
  }
  return false;
}

int run_corrupter(const std::string& root, uint32_t seed, const std::string& until, int every_ms) {
  std::mt19937 rng(seed);
  std::array<long long, kFaultNames.size()> counts{};
  long long total = 0;
  const fs::path dir = fs::path(root) / "v1";
  while (::access(until.c_str(), F_OK) != 0) {
    ::usleep(useconds_t(rng() % uint32_t(2000 * std::max(1, every_ms) + 1)));
    std::vector<fs::path> entries = children(dir, /*files=*/false);
    if (entries.empty())
      continue;
    Fault fault = Fault(rng() % kFaultNames.size());
    if (inject(fault, entries[rng() % entries.size()], entries, rng)) {
      ++counts[size_t(fault)];
      ++total;
    }
  }
  std::printf("faults=%lld", total);
  for (size_t i = 0; i < counts.size(); ++i)
    std::printf(" %s=%lld", kFaultNames[i], counts[i]);
  std::printf("\n");
  return 0;
}

} // namespace

int main(int argc, char** argv) {
  int kernels = 8, every_ms = 20;
  uint32_t seed = 1;
  std::string corrupt, until;
  for (int i = 1; i + 1 < argc; i += 2) {
    if (std::strcmp(argv[i], "--kernels") == 0)
      kernels = std::atoi(argv[i + 1]);
    else if (std::strcmp(argv[i], "--seed") == 0)
      seed = uint32_t(std::strtoul(argv[i + 1], nullptr, 10));
    else if (std::strcmp(argv[i], "--corrupt") == 0)
      corrupt = argv[i + 1];
    else if (std::strcmp(argv[i], "--until") == 0)
      until = argv[i + 1];
    else if (std::strcmp(argv[i], "--every-ms") == 0)
      every_ms = std::atoi(argv[i + 1]);
  }
  if (!corrupt.empty())
    return run_corrupter(corrupt, seed, until, every_ms);
  return run_worker(kernels, seed);
}
