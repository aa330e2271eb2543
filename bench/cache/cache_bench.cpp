// Benchmark of the kernel cache and of host dispatch:
//  1. warm start from the disk cache in a new process, per sample kernel: the first launch of a
//     kernel in a fresh process whose cache holds it (trace + key + lookup + checks + ORC link +
//     run), against the same with an empty cache (trace + passes + LLVM + link + run);
//  2. host dispatch of a cached kernel: the whole CPU-backend launch of an (almost) empty kernel,
//     signature lookup -> pack -> run, in a loop.
// Usage: tessel_cache_bench [--runs N]   (runs of each child process; the median is reported)
// Each child gets a private TESSEL_CACHE_DIR; nothing outside a temporary directory is touched.
#include "tessel/codegen/cpu.h"
#include "tessel/samples/samples.h"
#include "tessel/tessel.h"

#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <map>
#include <sstream>
#include <string>
#include <vector>

extern char** environ;
namespace tl = tessel::lang;
namespace fs = std::filesystem;

namespace {

using Clock = std::chrono::steady_clock;
double ms_since(Clock::time_point t) {
  return std::chrono::duration<double, std::milli>(Clock::now() - t).count();
}

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v.empty() ? 0 : v[v.size() / 2];
}

// A tiny kernel launched first in each child, so that the per-kernel figures below do not include
// the one-time creation of the process's ORC JIT (reported on its own).
const tessel::Kernel& warmup_kernel() {
  static const tessel::Kernel k = tl::kernel("bench_warmup", [](tl::Ptr out, tl::Const<int> B) {
    tl::store(out + tl::arange(0, B), tl::zeros({B}, tl::f32));
  });
  return k;
}

// Child: launches each kernel once on a small problem and prints
//   <kernel> <first-launch ms> <source> <trace ms> <cache ms> <compile ms> <link ms>
int run_child() {
  std::vector<float> x(64 * 64, 1.0f), y(64 * 64), w(64, 1.0f), b(64, 0.0f);
  auto report = [](const char* name, const tessel::Kernel& k, auto&& launch) {
    auto t0 = Clock::now();
    launch();
    double ms = ms_since(t0);
    tessel::CompileTimes t = k.last_compile_times();
    std::printf("%s %.4f %s %.4f %.4f %.4f %.4f\n", name, ms,
                tessel::kernel_source_name(k.stats().source()), t.trace_ms, t.cache_ms,
                t.passes_ms + t.lower_ms + t.optimize_ms + t.codegen_ms, t.link_ms);
  };
  namespace s = tessel::samples;
  report("(process:first-kernel)", warmup_kernel(),
         [&] { warmup_kernel().launch({1}, {}, y.data(), 16); });
  report("vector_add", s::vector_add(),
         [&] { s::vector_add().launch({4}, {}, y.data(), x.data(), x.data(), 4096, 1024); });
  report("softmax", s::softmax(),
         [&] { s::softmax().launch({64}, {}, y.data(), x.data(), 64, 64, 64); });
  report("layer_norm", s::layer_norm(), [&] {
    s::layer_norm().launch({64}, {}, y.data(), x.data(), w.data(), b.data(), 64, 64, 1e-5f, 64);
  });
  report("matmul", s::matmul(), [&] {
    s::matmul().launch({4}, {}, y.data(), x.data(), x.data(), 64, 64, 64, 64, 1, 64, 1, 64, 1, 32,
                       32, 32, 8);
  });
  return 0;
}

struct ChildRun {
  double wall_ms = 0;
  std::map<std::string, std::vector<std::string>> lines;
};

ChildRun spawn_child(const std::string& self, const std::string& cache_dir) {
  int pipefd[2];
  if (::pipe(pipefd) != 0)
    std::exit(1);
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_adddup2(&actions, pipefd[1], 1);
  posix_spawn_file_actions_addclose(&actions, pipefd[0]);
  std::vector<std::string> env_strings;
  for (char** e = environ; *e; ++e)
    if (std::strncmp(*e, "TESSEL_CACHE", 12) != 0 && std::strncmp(*e, "TESSEL_DUMP", 11) != 0)
      env_strings.emplace_back(*e);
  env_strings.push_back("TESSEL_CACHE_DIR=" + cache_dir);
  std::vector<char*> envp;
  for (auto& s : env_strings)
    envp.push_back(s.data());
  envp.push_back(nullptr);
  std::string arg = "--child";
  char* argv[] = {const_cast<char*>(self.c_str()), arg.data(), nullptr};
  auto t0 = Clock::now();
  pid_t pid = 0;
  if (posix_spawn(&pid, self.c_str(), &actions, nullptr, argv, envp.data()) != 0)
    std::exit(1);
  ::close(pipefd[1]);
  std::string out;
  char buf[4096];
  ssize_t n;
  while ((n = ::read(pipefd[0], buf, sizeof buf)) > 0)
    out.append(buf, size_t(n));
  ::close(pipefd[0]);
  int status = 0;
  ::waitpid(pid, &status, 0);
  ChildRun r;
  r.wall_ms = ms_since(t0);
  posix_spawn_file_actions_destroy(&actions);
  std::istringstream in(out);
  std::string line;
  while (std::getline(in, line)) {
    std::istringstream ls(line);
    std::vector<std::string> f;
    std::string tok;
    while (ls >> tok)
      f.push_back(tok);
    if (f.size() == 7)
      r.lines[f[0]] = f;
  }
  return r;
}

const char* kKernels[] = {"(process:first-kernel)", "vector_add", "softmax", "layer_norm",
                          "matmul"};

void print_table(const char* title, const std::vector<ChildRun>& runs) {
  std::printf("\n%s (median of %zu processes)\n", title, runs.size());
  std::printf("%-24s %-9s %12s %9s %9s %11s %8s\n", "kernel", "source", "first launch", "trace",
              "cache", "LLVM+passes", "link");
  for (const char* k : kKernels) {
    std::vector<double> cols[5];
    std::string source = "?";
    for (const ChildRun& r : runs) {
      auto it = r.lines.find(k);
      if (it == r.lines.end())
        continue;
      source = it->second[2];
      cols[0].push_back(std::atof(it->second[1].c_str()));
      for (int c = 1; c < 5; ++c)
        cols[c].push_back(std::atof(it->second[size_t(c) + 2].c_str()));
    }
    std::printf("%-24s %-9s %9.3f ms %6.3f ms %6.3f ms %8.3f ms %5.3f ms\n", k, source.c_str(),
                median(cols[0]), median(cols[1]), median(cols[2]), median(cols[3]),
                median(cols[4]));
  }
  std::vector<double> wall;
  for (const ChildRun& r : runs)
    wall.push_back(r.wall_ms);
  std::printf("%-24s %9.3f ms (spawn to exit)\n", "whole process", median(wall));
}

void bench_dispatch() {
  const tessel::Kernel empty =
      tl::kernel("bench_empty", [](tl::Ptr out, tl::Int n, tl::Const<int> B) {
        auto offs = tl::arange(0, B);
        tl::store(out + offs, tl::zeros({B}, tl::f32), offs < n);
      });
  float out[16];
  empty.launch({1}, {}, out, 0, 16); // compile (or load) once
  const tessel::Kernel& add = tessel::samples::vector_add();
  float a[16] = {}, b[16] = {};
  add.launch({1}, {}, out, a, b, 16, 16);
  auto per_launch_ns = [](auto&& launch) {
    std::vector<double> batches;
    const int n = 200000;
    for (int rep = 0; rep < 7; ++rep) {
      auto t0 = Clock::now();
      for (int i = 0; i < n; ++i)
        launch();
      batches.push_back(ms_since(t0) * 1e6 / n);
    }
    return median(batches);
  };
  std::printf("\nhost dispatch, CPU backend, cached kernel, one program (median of 7 x 200000)\n");
  std::printf("  empty kernel (masked store of 0 elements): %7.1f ns per launch\n",
              per_launch_ns([&] { empty.launch({1}, {}, out, 0, 16); }));
  std::printf("  vector_add, 16 elements:                   %7.1f ns per launch\n",
              per_launch_ns([&] { add.launch({1}, {}, out, a, b, 16, 16); }));
}

} // namespace

int main(int argc, char** argv) {
  if (argc > 1 && std::strcmp(argv[1], "--child") == 0)
    return run_child();
  int runs = 5;
  if (argc > 2 && std::strcmp(argv[1], "--runs") == 0)
    runs = std::max(1, std::atoi(argv[2]));
  std::string self = fs::canonical("/proc/self/exe").string();
  std::string tmpl = (fs::temp_directory_path() / "tessel-cache-bench-XXXXXX").string();
  if (!::mkdtemp(tmpl.data()))
    return 1;
  std::printf("tessel cache benchmark: %s, host %s\n", tessel::build_id().c_str(),
              tessel::codegen::cpu::host_description().c_str());

  std::vector<ChildRun> cold, warm;
  for (int i = 0; i < runs; ++i) {
    std::string dir = tmpl + "/cold" + std::to_string(i);
    cold.push_back(spawn_child(self, dir)); // empty cache: compiles, stores
    warm.push_back(spawn_child(self, dir)); // the same cache: loads
  }
  print_table("cold start: empty disk cache, compiled now", cold);
  print_table("warm start: new process, kernel in the disk cache", warm);

  ::setenv("TESSEL_CACHE_DIR", (tmpl + "/dispatch").c_str(), 1);
  bench_dispatch();
  std::error_code ec;
  fs::remove_all(tmpl, ec);
  return 0;
}
