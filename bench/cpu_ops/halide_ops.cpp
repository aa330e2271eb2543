// Halide 14's softmax and layer norm over the rows of a matrix, for bench/cpu_ops (the peers of
// ops::softmax and ops::layer_norm; bench only). JIT-compiled for the host, scheduled the usual
// way for a row op: rows in parallel (HL_NUM_THREADS threads), each row's reductions vectorized
// by rfactor over 16 lanes, the elementwise passes vectorized by 16, the exponentials of a row
// computed once into a row buffer. f32 math, bf16 or f32 in and out. Prints the lines of
// bench_cpu_ops (impl halide).
//
//   HL_NUM_THREADS=2 build/release/bin/bench_cpu_ops_halide [reps] > halide.tsv
//
// BENCH_CLOCK=cpu times the process's CPU time instead of the wall clock, as bench_cpu_ops does:
// for same-run ratios against tessel's CPU time on a loaded machine (with HL_NUM_THREADS=1 the
// caller runs every row, so no worker's idle spinning is counted).
#include <Halide.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <functional>
#include <random>
#include <string>
#include <vector>

namespace {

using namespace Halide;
using Clock = std::chrono::steady_clock;

constexpr int kLanes = 16;

struct Times {
  double min_ms, median_ms;
};

// Milliseconds since an arbitrary start: wall clock, or with BENCH_CLOCK=cpu the process's CPU
// time.
double now_ms() {
  static const bool cpu = [] {
    const char* c = std::getenv("BENCH_CLOCK");
    return c != nullptr && std::string(c) == "cpu";
  }();
  if (!cpu)
    return std::chrono::duration<double, std::milli>(Clock::now().time_since_epoch()).count();
  timespec ts{};
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return double(ts.tv_sec) * 1e3 + double(ts.tv_nsec) * 1e-6;
}

Times time_runs(int reps, const std::function<void()>& f) {
  f();
  std::vector<double> t;
  for (int i = 0; i < reps; ++i) {
    double t0 = now_ms();
    f();
    t.push_back(now_ms() - t0);
  }
  std::sort(t.begin(), t.end());
  return {t.front(), t[t.size() / 2]};
}

// A reduction over r of a row (y), vectorized: rfactor over kLanes lanes, then the lanes summed.
Func vector_reduce(Func f, RDom r, Func out_at, Var at) {
  RVar ro("ro"), ri("ri");
  Var u("u");
  Func inner = f.update().split(r.x, ro, ri, kLanes, TailStrategy::GuardWithIf).rfactor(ri, u);
  inner.compute_at(out_at, at).vectorize(u);
  inner.update().vectorize(u);
  f.compute_at(out_at, at);
  return inner;
}

Func softmax(ImageParam in, Type out_type, int cols) {
  Var x("x"), y("y");
  RDom r(0, cols);
  Func v("v"), mx("mx"), e("e"), s("s"), out("softmax");
  v(x, y) = cast<float>(in(x, y));
  mx(y) = Float(32).min();
  mx(y) = max(mx(y), v(r, y));
  e(x, y) = exp(v(x, y) - mx(y));
  s(y) = 0.0f;
  s(y) += e(r, y);
  out(x, y) = cast(out_type, e(x, y) / s(y));
  out.parallel(y).vectorize(x, kLanes);
  e.compute_at(out, y).vectorize(x, kLanes);
  vector_reduce(mx, r, out, y);
  vector_reduce(s, r, out, y);
  return out;
}

Func layer_norm(ImageParam in, ImageParam w, ImageParam b, Type out_type, int cols) {
  Var x("x"), y("y");
  RDom r(0, cols);
  Func v("v"), sum("sum"), mean("mean"), sq("sq"), rstd("rstd"), out("layer_norm");
  v(x, y) = cast<float>(in(x, y));
  sum(y) = 0.0f;
  sum(y) += v(r, y);
  mean(y) = sum(y) / float(cols);
  sq(y) = 0.0f;
  sq(y) += (v(r, y) - mean(y)) * (v(r, y) - mean(y));
  rstd(y) = 1.0f / sqrt(sq(y) / float(cols) + 1e-5f);
  out(x, y) = cast(out_type, (v(x, y) - mean(y)) * rstd(y) * cast<float>(w(x)) + cast<float>(b(x)));
  out.parallel(y).vectorize(x, kLanes);
  mean.compute_at(out, y);
  rstd.compute_at(out, y);
  vector_reduce(sum, r, out, y);
  vector_reduce(sq, r, out, y);
  return out;
}

template <class T> Buffer<T> random_buffer(int cols, int rows, unsigned seed) {
  Buffer<T> buf = rows > 0 ? Buffer<T>(cols, rows) : Buffer<T>(cols);
  std::mt19937 gen(seed);
  std::uniform_real_distribution<float> d(-2, 2);
  buf.for_each_value([&](T& v) { v = T(d(gen)); });
  return buf;
}

template <class T> void run(const char* dtype, Type type, int rows, int cols, int reps) {
  ImageParam in(type, 2, "in"), w(type, 1, "w"), b(type, 1, "b");
  Buffer<T> x = random_buffer<T>(cols, rows, 1), y(cols, rows);
  Buffer<T> wb = random_buffer<T>(cols, 0, 2), bb = random_buffer<T>(cols, 0, 3);
  Target target = get_host_target();
  const double e = double(sizeof(T)), n = double(rows) * cols;

  Func sm = softmax(in, type, cols);
  sm.compile_jit(target);
  in.set(x);
  Times t = time_runs(reps, [&] { sm.realize(y); });
  std::printf("halide\tsoftmax\t%d\t%d\t%s\t%.3f\t%.3f\t%.0f\n", rows, cols, dtype, t.min_ms,
              t.median_ms, 2 * n * e);

  Func ln = layer_norm(in, w, b, type, cols);
  ln.compile_jit(target);
  w.set(wb);
  b.set(bb);
  t = time_runs(reps, [&] { ln.realize(y); });
  std::printf("halide\tlayer_norm\t%d\t%d\t%s\t%.3f\t%.3f\t%.0f\n", rows, cols, dtype, t.min_ms,
              t.median_ms, 2 * n * e + 8.0 * rows);
  std::fflush(stdout);
}

} // namespace

int main(int argc, char** argv) {
  int reps = argc > 1 ? std::atoi(argv[1]) : 7;
  const int shapes[][2] = {{4096, 4096}, {8192, 1024}, {32768, 128}};
  std::printf("impl\top\trows\tcols\tdtype\tmin_ms\tmedian_ms\tbytes\n");
  for (const auto& s : shapes) {
    run<float>("f32", Float(32), s[0], s[1], reps);
    run<bfloat16_t>("bf16", BFloat(16), s[0], s[1], reps);
  }
}
