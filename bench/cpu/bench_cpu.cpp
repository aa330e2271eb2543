// CPU-backend figures for the foundation: cold compile latency of softmax and layer_norm (by
// stage), host overhead of a launch of an already compiled empty kernel, throughput of vector
// add and softmax against plain -O3 -march=native C++ loops over the same arrays in the same run,
// `tl::dot` (the matmul sample) per operand type and tile shape: cold compile and run time, and
// softmax rows whose block is partly masked (the -inf `other` lanes go through exp).
//
//   build/release/bin/bench_cpu            (TESSEL_CPU_THREADS=1 for single-threaded figures)
//   build/release/bin/bench_cpu dot        (only the tl::dot section)
//   build/release/bin/bench_cpu softmax    (only the masked-softmax section)
//   build/release/bin/bench_cpu compile    (only the cold-compile section)
//   build/release/bin/bench_cpu math       (only y = f(x) for exp, log, log2, tanh, erf)
#include "tessel/samples/samples.h"
#include "tessel/tessel.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <functional>
#include <random>
#include <string>
#include <vector>

namespace tl = tessel::lang;
namespace samples = tessel::samples;

namespace {

using Clock = std::chrono::steady_clock;

double ms_since(Clock::time_point t) {
  return std::chrono::duration<double, std::milli>(Clock::now() - t).count();
}

template <class F> double median_ms(int reps, F&& f) {
  std::vector<double> t;
  for (int i = 0; i < reps; ++i) {
    auto t0 = Clock::now();
    f();
    t.push_back(ms_since(t0));
  }
  std::sort(t.begin(), t.end());
  return t[t.size() / 2];
}

template <class F> double best_ms(int reps, F&& f) {
  double best = 1e300;
  for (int i = 0; i < reps; ++i) {
    auto t0 = Clock::now();
    f();
    best = std::min(best, ms_since(t0));
  }
  return best;
}

// A kernel object with the same body as the sample, but its own (empty) specialization table, so
// that its first launch traces and compiles from scratch.
tessel::Kernel fresh(const tessel::Kernel& k) { return tessel::Kernel(k.def()); }

void cold_compile() {
  std::printf("== cold compile (trace + passes + LLVM O3 + object code + ORC), median of 7 ==\n");
  std::printf("%-11s %8s %8s %8s %8s %8s %8s %8s\n", "kernel", "total", "trace", "passes", "lower",
              "O3", "codegen", "link");
  const int64_t rows = 4, cols = 1000;
  std::vector<float> x(rows * cols, 1.0f), y(rows * cols), w(cols, 1.0f), b(cols, 0.0f);
  struct Case {
    const char* name;
    const tessel::Kernel& kernel;
    std::function<void(const tessel::Kernel&)> launch;
  };
  std::vector<Case> cases = {
      {"softmax", samples::softmax(),
       [&](const tessel::Kernel& k) {
         k.launch({rows}, {}, y.data(), x.data(), cols, cols, 1024);
       }},
      {"layer_norm", samples::layer_norm(),
       [&](const tessel::Kernel& k) {
         k.launch({rows}, {}, y.data(), x.data(), w.data(), b.data(), cols, cols, 1e-5f, 1024);
       }},
  };
  for (const Case& c : cases) {
    std::vector<tessel::CompileTimes> all;
    for (int i = 0; i < 7; ++i) {
      tessel::Kernel k = fresh(c.kernel);
      c.launch(k);
      all.push_back(k.last_compile_times());
    }
    std::sort(all.begin(), all.end(),
              [](const auto& p, const auto& q) { return p.total_ms() < q.total_ms(); });
    const tessel::CompileTimes& m = all[all.size() / 2];
    std::printf("%-11s %6.1fms %6.1fms %6.1fms %6.1fms %6.1fms %6.1fms %6.1fms\n", c.name,
                m.total_ms(), m.trace_ms, m.passes_ms, m.lower_ms, m.optimize_ms, m.codegen_ms,
                m.link_ms);
  }
}

void launch_overhead() {
  std::printf("\n== host overhead of a launch of a compiled, empty kernel ==\n");
  tessel::Kernel empty = tl::kernel("empty", [](tl::Ptr, tl::Int) {});
  float dummy[4];
  empty.launch({1}, {}, dummy, 3); // compile
  const int n = 2'000'000;
  double best_ns = 1e300;
  for (int rep = 0; rep < 5; ++rep) {
    auto t0 = Clock::now();
    for (int i = 0; i < n; ++i)
      empty.launch({1}, {}, dummy, i);
    best_ns = std::min(best_ns, ms_since(t0) * 1e6 / n);
  }
  std::printf("grid {1}: %.0f ns per launch (argument checks, signature lookup, packing, call)\n",
              best_ns);
  const int n2 = 20'000;
  double pool_ns = 1e300;
  for (int rep = 0; rep < 5; ++rep) {
    auto t0 = Clock::now();
    for (int i = 0; i < n2; ++i)
      empty.launch({64}, {}, dummy, i);
    pool_ns = std::min(pool_ns, ms_since(t0) * 1e6 / n2);
  }
  std::printf("grid {64}: %.0f ns per launch (the same plus waking the thread pool)\n", pool_ns);
}

__attribute__((noinline)) void plain_add(const float* a, const float* b, float* out, int64_t n) {
  for (int64_t i = 0; i < n; ++i)
    out[i] = a[i] + b[i];
}

__attribute__((noinline)) void plain_softmax(const float* in, float* out, int64_t rows,
                                             int64_t cols) {
  for (int64_t r = 0; r < rows; ++r) {
    const float* x = in + r * cols;
    float* y = out + r * cols;
    float m = -INFINITY;
    for (int64_t c = 0; c < cols; ++c)
      m = std::max(m, x[c]);
    float s = 0;
    for (int64_t c = 0; c < cols; ++c) {
      y[c] = std::exp(x[c] - m);
      s += y[c];
    }
    for (int64_t c = 0; c < cols; ++c)
      y[c] /= s;
  }
}

void throughput() {
  std::printf("\n== throughput against plain C++ (-O3 -march=native, one thread), best of 7 ==\n");
  const char* threads = std::getenv("TESSEL_CPU_THREADS");
  std::printf("tessel runs on %s thread(s) of its pool; the C++ loop on one\n",
              threads ? threads : "all hardware");
  const int64_t n = 16 << 20;
  std::vector<float> a(n), b(n), out(n);
  std::mt19937 rng(1);
  std::uniform_real_distribution<float> d(-1, 1);
  for (int64_t i = 0; i < n; ++i) {
    a[size_t(i)] = d(rng);
    b[size_t(i)] = d(rng);
  }
  const int block = 4096;
  auto tessel_add = [&] {
    samples::vector_add().launch({(n + block - 1) / block}, {}, out.data(), a.data(), b.data(), n,
                                 block);
  };
  tessel_add();
  double t_plain = best_ms(7, [&] { plain_add(a.data(), b.data(), out.data(), n); });
  double t_tessel = best_ms(7, tessel_add);
  double gbs = 3.0 * 4 * double(n) / 1e9;
  std::printf("vector_add 16M f32: plain %.2f ms (%.1f GB/s), tessel %.2f ms (%.1f GB/s): %.2fx\n",
              t_plain, gbs / (t_plain / 1e3), t_tessel, gbs / (t_tessel / 1e3), t_plain / t_tessel);

  const int64_t rows = 4096, cols = 4096;
  std::vector<float> x(size_t(rows * cols)), y(size_t(rows * cols));
  for (float& v : x)
    v = d(rng) * 4;
  auto tessel_softmax = [&] {
    samples::softmax().launch({rows}, {}, y.data(), x.data(), cols, cols, int(cols));
  };
  tessel_softmax();
  double s_plain = best_ms(7, [&] { plain_softmax(x.data(), y.data(), rows, cols); });
  double s_tessel = best_ms(7, tessel_softmax);
  std::printf("softmax 4096x4096 f32: plain two-pass %.2f ms, tessel %.2f ms: %.2fx\n", s_plain,
              s_tessel, s_plain / s_tessel);
}

// The matmul sample's operands as `T` (f16, bf16 or f32), accumulated and stored in f32.
template <class T> struct MatmulOperands {
  std::vector<T> a, b;
  std::vector<float> c;
  MatmulOperands(int64_t m, int64_t n, int64_t k)
      : a(size_t(m * k)), b(size_t(k * n)), c(size_t(m * n)) {
    std::mt19937 rng(7);
    std::uniform_real_distribution<float> d(-1, 1);
    for (T& v : a)
      v = T(d(rng));
    for (T& v : b)
      v = T(d(rng));
  }
};

struct DotTile {
  int bm, bn, bk;
};

// CPU time of the whole process (all threads), in ms: on a loaded machine it counts only the time
// the work was scheduled, so it is steadier than wall time for single-threaded figures.
double process_cpu_ms() {
  timespec t;
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
  return double(t.tv_sec) * 1e3 + double(t.tv_nsec) / 1e6;
}

struct MinMedian {
  std::vector<double> v;
  void add(double x) { v.push_back(x); }
  double min() { return *std::min_element(v.begin(), v.end()); }
  double median() {
    std::sort(v.begin(), v.end());
    return v[v.size() / 2];
  }
};

// One line per (operand type, tile): the cold compile of the first launch (Kernel's
// last_compile_times total and its O3 share, and the process CPU time of that launch, which
// includes one run of the kernel; min and median of 5 fresh kernels) and the run time of C = A @ B
// at 512x512x512 with that tile (wall and process CPU time, min and median of 7 warm launches).
template <class T> void dot_case(const char* type, DotTile t) {
  const int64_t m = 512, n = 512, k = 512;
  MatmulOperands<T> x(m, n, k);
  auto launch = [&](const tessel::Kernel& kernel) {
    kernel.launch({(m / t.bm) * (n / t.bn)}, {}, x.c.data(), x.a.data(), x.b.data(), m, n, k, k, 1,
                  n, 1, n, 1, t.bm, t.bn, t.bk, /*GROUP_M=*/8);
  };
  MinMedian total, o3, compile_cpu;
  for (int i = 0; i < 5; ++i) {
    tessel::Kernel fresh_kernel = fresh(samples::matmul());
    double c0 = process_cpu_ms();
    launch(fresh_kernel);
    compile_cpu.add(process_cpu_ms() - c0);
    total.add(fresh_kernel.last_compile_times().total_ms());
    o3.add(fresh_kernel.last_compile_times().optimize_ms);
  }
  launch(samples::matmul());
  MinMedian run, run_cpu;
  for (int i = 0; i < 7; ++i) {
    double c0 = process_cpu_ms();
    auto t0 = Clock::now();
    launch(samples::matmul());
    run.add(ms_since(t0));
    run_cpu.add(process_cpu_ms() - c0);
  }
  double gflop = 2.0 * double(m) * double(n) * double(k) / 1e9;
  std::printf(
      "%-5s %3dx%3dx%3d %7.1f %7.1f %6.1f %6.1f %7.1f %7.1f | %6.2f %6.2f %6.2f %6.2f %6.1f\n",
      type, t.bm, t.bn, t.bk, total.min(), total.median(), o3.min(), o3.median(), compile_cpu.min(),
      compile_cpu.median(), run.min(), run.median(), run_cpu.min(), run_cpu.median(),
      gflop / (run_cpu.min() / 1e3));
}

void dot_matmul() {
  std::printf("\n== tl::dot: matmul sample, f32 accumulation, tiles BMxBNxBK; min and median ==\n");
  std::printf("compile: first launch of 5 fresh kernels (ms; cpu: process CPU time of that launch, "
              "one run included); run: 512x512x512, 7 warm launches (ms; GFLOP per CPU-second from "
              "the min CPU time)\n");
  std::printf("%-5s %11s %7s %7s %6s %6s %7s %7s | %6s %6s %6s %6s %6s\n", "type", "tile", "total",
              "(med)", "O3", "(med)", "cpu", "(med)", "wall", "(med)", "cpu", "(med)", "GF/s");
  for (DotTile t : {DotTile{32, 32, 16}, DotTile{64, 64, 32}, DotTile{128, 128, 32}}) {
    dot_case<tessel::half>("f16", t);
    dot_case<tessel::bfloat16>("bf16", t);
    dot_case<float>("f32", t);
  }
}

// The softmax sample on 4096 rows of `cols` columns with BLOCK = 1024: every width but 1024 has
// masked lanes, whose -inf `other` values go through exp (libmvec's vector expf took a scalar
// path for those; tessel's own exp has none). Wall and process CPU time of a launch, min and
// median of 9, and CPU ns per element.
void masked_softmax() {
  std::printf("\n== softmax 4096 rows, BLOCK 1024 (masked partial blocks), f32; min and median of "
              "9 ==\n");
  std::printf("%6s %8s %8s %8s %8s %10s\n", "cols", "wall", "(med)", "cpu", "(med)", "cpu ns/el");
  const int64_t rows = 4096;
  std::mt19937 rng(3);
  std::uniform_real_distribution<float> d(-4, 4);
  for (int64_t cols : {513, 781, 1023, 1024}) {
    std::vector<float> x(size_t(rows * cols)), y(size_t(rows * cols));
    for (float& v : x)
      v = d(rng);
    auto launch = [&] {
      samples::softmax().launch({rows}, {}, y.data(), x.data(), cols, cols, 1024);
    };
    launch();
    MinMedian wall, cpu;
    for (int i = 0; i < 9; ++i) {
      double c0 = process_cpu_ms();
      auto t0 = Clock::now();
      launch();
      wall.add(ms_since(t0));
      cpu.add(process_cpu_ms() - c0);
    }
    double cpu_min = cpu.min();
    std::printf("%6lld %7.2fms %7.2fms %7.2fms %7.2fms %10.2f\n", static_cast<long long>(cols),
                wall.min(), wall.median(), cpu_min, cpu.median(),
                cpu_min * 1e6 / double(rows * cols));
  }
}

// out = f(in) for the captureless lambda F.
template <class F> tessel::Kernel unary_kernel(const char* name, F) {
  return tl::kernel(name, "out, in, n, BLOCK",
                    [](tl::Ptr out, tl::Ptr in, tl::Int n, tl::Const<int> BLOCK) {
                      auto offs = tl::program_id(0) * BLOCK + tl::arange(0, BLOCK);
                      auto mask = offs < n;
                      tl::store(out + offs, F{}(tl::load(in + offs, mask)), mask);
                    });
}

// One f32 math function over 16M elements (BLOCK 4096): tanh and erf were scalar libm calls
// before tessel's own routines; exp, log and log2 went through libmvec.
void unary_math() {
  std::printf("\n== y = f(x), 16M f32, BLOCK 4096; min and median of 7 ==\n");
  std::printf("%-5s %8s %8s %8s %8s %10s\n", "f", "wall", "(med)", "cpu", "(med)", "cpu ns/el");
  const int64_t n = 16 << 20;
  std::vector<float> x(static_cast<size_t>(n)), y(static_cast<size_t>(n));
  std::mt19937 rng(4);
  std::uniform_real_distribution<float> d(-4, 4);
  for (float& v : x)
    v = std::fabs(d(rng)) + 1e-3f; // positive, so that log and log2 take their ordinary path
  auto run = [&](const char* name, tessel::Kernel k) {
    const int block = 4096;
    auto launch = [&] { k.launch({n / block}, {}, y.data(), x.data(), n, block); };
    launch();
    MinMedian wall, cpu;
    for (int i = 0; i < 7; ++i) {
      double c0 = process_cpu_ms();
      auto t0 = Clock::now();
      launch();
      wall.add(ms_since(t0));
      cpu.add(process_cpu_ms() - c0);
    }
    double cpu_min = cpu.min();
    std::printf("%-5s %7.2fms %7.2fms %7.2fms %7.2fms %10.2f\n", name, wall.min(), wall.median(),
                cpu_min, cpu.median(), cpu_min * 1e6 / double(n));
  };
  run("exp", unary_kernel("exp", [](const tl::Tensor& v) { return tl::exp(v); }));
  run("log", unary_kernel("log", [](const tl::Tensor& v) { return tl::log(v); }));
  run("log2", unary_kernel("log2", [](const tl::Tensor& v) { return tl::log2(v); }));
  run("tanh", unary_kernel("tanh", [](const tl::Tensor& v) { return tl::tanh(v); }));
  run("erf", unary_kernel("erf", [](const tl::Tensor& v) { return tl::erf(v); }));
}

} // namespace

int main(int argc, char** argv) {
  // Cold compiles must compile: keep the disk cache out of it (bench/cache measures warm starts).
  ::setenv("TESSEL_CACHE_DISABLE", "1", /*overwrite=*/0);
  std::printf("%s\n\n", tessel::build_id().c_str());
  // `bench_cpu dot` runs only the tl::dot section.
  if (argc > 1 && std::string(argv[1]) == "dot") {
    dot_matmul();
    return 0;
  }
  if (argc > 1 && std::string(argv[1]) == "compile") {
    cold_compile();
    return 0;
  }
  if (argc > 1 && std::string(argv[1]) == "softmax") {
    masked_softmax();
    return 0;
  }
  if (argc > 1 && std::string(argv[1]) == "math") {
    unary_math();
    return 0;
  }
  cold_compile();
  launch_overhead();
  throughput();
  masked_softmax();
  unary_math();
  dot_matmul();
  return 0;
}
