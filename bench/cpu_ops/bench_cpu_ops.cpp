// tessel::ops on the CPU backend, each memory-bound op at 4096 x 4096, 8192 x 1024 and
// 32768 x 128 in f32 and bf16, next to a memcpy of the same bytes in the same run
// (bench/RESULTS.md, "tessel::ops on the CPU against PyTorch and Halide"). One line per (op, shape,
// dtype), tab separated, the format bench/cpu_ops/peers.py and bench_cpu_ops_halide print too, so
// that bench/cpu_ops/compare.py can put them side by side:
//
//   impl  op  rows  cols  dtype  min_ms  median_ms  bytes  (bytes: read + written, what a memcpy
//                                                            of bytes / 2 moves)
//
//   TESSEL_CPU_THREADS=2 build/release/bin/bench_cpu_ops [reps] [op...] > tessel.tsv
//
// BENCH_SHAPES=32768x128[,ROWSxCOLS...] runs those shapes instead (one shape for faster A/B runs;
// a small one such as 1024x128 keeps the tensors in cache). Rows a multiple of 64 and columns of
// 128, as mean_pool and rotary view them.
// BENCH_CLOCK=cpu times the process's CPU time (all threads) instead of the wall clock: for A/B
// comparisons of two tessel builds on a loaded machine, where waiting for a core is most of a
// wall-clock figure (not comparable with the peers' wall-clock figures).
#include "tessel/tessel.h"

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <functional>
#include <random>
#include <string>
#include <thread>
#include <vector>

namespace ops = tessel::ops;
using tessel::DType;
using tessel::TensorView;

namespace {

namespace tl = tessel::lang;

// Dropout as a user kernel fusing ops::dsl::dropout, which evaluates Philox once per element
// (the op shares one evaluation between four): the figure of what the sharing saves.
const tessel::Kernel& dropout_per_element() {
  static const tessel::Kernel k = tl::kernel(
      "bench_dropout_per_element", "y, x, n, p, BLOCK",
      [](tl::Ptr y, tl::Ptr x, tl::Int n, tl::Float p, tl::Const<int> BLOCK) {
        auto i = tl::program_id(0) * BLOCK + tl::arange(0, BLOCK);
        auto m = i < n;
        tl::store(y + i, ops::dsl::dropout(tl::load(x + i, m), tl::scalar(1, DType::i64), i, p), m);
      });
  return k;
}

using Clock = std::chrono::steady_clock;

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
  f(); // warm-up: compiles (or loads from the kernel cache), faults the pages in
  std::vector<double> t;
  for (int i = 0; i < reps; ++i) {
    double t0 = now_ms();
    f();
    t.push_back(now_ms() - t0);
  }
  std::sort(t.begin(), t.end());
  return {t.front(), t[t.size() / 2]};
}

// A host buffer of `n` elements of `t`: f32 and bf16 filled with values in [-2, 2] (bf16
// rounded), other dtypes zero (outputs, or filled by the caller). 64-byte aligned, as PyTorch's
// CPU allocator and Halide's buffers are: a std::vector's large allocation sits 16 bytes past a
// page, so every 64-byte vector access of a row would straddle two cache lines.
struct Buffer {
  static constexpr size_t kAlign = 64;
  std::vector<unsigned char> storage;
  unsigned char* data;
  size_t bytes;
  DType dtype;
  Buffer(DType t, int64_t n, unsigned seed)
      : storage(size_t(n) * tessel::dtype_bytes(t) + kAlign), bytes(storage.size() - kAlign),
        dtype(t) {
    data = storage.data() + (kAlign - reinterpret_cast<uintptr_t>(storage.data()) % kAlign);
    std::mt19937 gen(seed);
    std::uniform_real_distribution<float> d(-2, 2);
    for (int64_t i = 0; i < n && (t == DType::f32 || t == DType::bf16); ++i) {
      float v = d(gen);
      if (t == DType::f32)
        std::memcpy(data + size_t(i) * 4, &v, 4);
      else {
        uint16_t b = tessel::float_to_bfloat16(v);
        std::memcpy(data + size_t(i) * 2, &b, 2);
      }
    }
  }
  TensorView view(std::initializer_list<int64_t> shape) { return TensorView(data, dtype, shape); }
  size_t size() const { return bytes; }
};

struct Shape {
  int64_t rows, cols;
};

// One op at one shape and dtype: its run and the bytes it reads and writes.
struct Op {
  const char* name;
  std::function<void()> run;
  double bytes;
};

// mean_pool sees the rows as [rows / kPoolSeq, kPoolSeq, cols] (sentences of kPoolSeq tokens,
// padded: sentence b has kPoolSeq - 16 + b % 17 real tokens); rotary as [1, rows, cols / 128, 128]
// (head_dim 128, the rows are positions).
constexpr int64_t kPoolSeq = 64, kHeadDim = 128, kPairs = kHeadDim / 2;

// The tensors every op draws from (allocated once per shape and dtype).
struct Tensors {
  Shape s;
  DType t;
  Buffer x, x2, dy, y, y2, w, b, stats, stats2, f32row, labels, idx, q8, qf8, mask, pos, cos, sin;
  Tensors(Shape sh, DType dt)
      : s(sh), t(dt), x(dt, sh.rows * sh.cols, 1), x2(dt, sh.rows * sh.cols, 2),
        dy(dt, sh.rows * sh.cols, 3), y(dt, sh.rows * sh.cols, 4), y2(dt, sh.rows * sh.cols, 5),
        w(dt, sh.cols, 6), b(dt, sh.cols, 7), stats(DType::f32, sh.rows, 8),
        stats2(DType::f32, sh.rows, 9), f32row(DType::f32, sh.cols, 10),
        labels(DType::i32, sh.rows, 11), idx(DType::i32, sh.rows * 8, 12),
        q8(DType::i8, sh.rows * sh.cols, 13), qf8(DType::f8e4m3, sh.rows * sh.cols, 14),
        mask(DType::i32, sh.rows, 15), pos(DType::i32, sh.rows, 18), cos(dt, sh.rows * kPairs, 16),
        sin(dt, sh.rows * kPairs, 17) {
    auto* l = reinterpret_cast<int32_t*>(labels.data);
    for (int64_t r = 0; r < sh.rows; ++r)
      l[r] = int32_t((r * 7919) % sh.cols);
    auto* m = reinterpret_cast<int32_t*>(mask.data);
    auto* p = reinterpret_cast<int32_t*>(pos.data);
    for (int64_t r = 0; r < sh.rows; ++r) {
      m[r] = r % kPoolSeq < kPoolSeq - 16 + (r / kPoolSeq) % 17 ? 1 : 0;
      p[r] = int32_t(r);
    }
  }
  TensorView m(Buffer& buf) { return buf.view({s.rows, s.cols}); }
  TensorView vec(Buffer& buf) { return buf.view({s.cols}); }
  TensorView rows(Buffer& buf) { return buf.view({s.rows}); }
  int64_t sentences() const { return s.rows / kPoolSeq; }
  TensorView pooled_x() { return x.view({sentences(), kPoolSeq, s.cols}); }
  TensorView pool_mask() { return mask.view({sentences(), kPoolSeq}); }
  TensorView pooled_y() { return y.view({sentences(), s.cols}); }
  TensorView heads(Buffer& buf) { return buf.view({1, s.rows, s.cols / kHeadDim, kHeadDim}); }
  TensorView table(Buffer& buf) { return buf.view({s.rows, kPairs}); }
};

// The ops with a saved-statistics or gated-pair variant and the quantizers, after make_ops' first
// list (issue 12's remaining forward and backward ops).
std::vector<Op> more_ops(Tensors& T) {
  const double e = double(tessel::dtype_bytes(T.t)), n = double(T.s.rows * T.s.cols);
  const double rows4 = 4.0 * T.s.rows, table = 2.0 * double(T.s.rows * kPairs) * e;
  const double pool = double(T.sentences() * kPoolSeq) * 4 + double(T.sentences() * T.s.cols) * e;
  using ops::QuantGranularity;
  auto quant = [&T](DType q, QuantGranularity g) {
    return [&T, q, g] {
      Buffer& out = q == DType::i8 ? T.q8 : T.qf8;
      TensorView scales = g == QuantGranularity::per_tensor ? T.stats.view({1}) : T.rows(T.stats);
      ops::quantize(T.m(T.x), out.view({T.s.rows, T.s.cols}), scales,
                    {.dtype = q, .granularity = g});
    };
  };
  return {
      {"log_softmax_backward", [&T] { ops::log_softmax_backward(T.m(T.y), T.m(T.dy), T.m(T.y2)); },
       3 * n * e},
      {"add_layer_norm",
       [&T] {
         ops::add_layer_norm(T.m(T.x), T.m(T.x2), T.vec(T.w), T.vec(T.b), T.m(T.y), T.m(T.y2),
                             T.rows(T.stats), T.rows(T.stats2));
       },
       4 * n * e + 2 * rows4},
      {"silu_backward", [&T] { ops::silu_backward(T.m(T.x), T.m(T.dy), T.m(T.y)); }, 3 * n * e},
      {"swiglu_backward",
       [&T] { ops::swiglu_backward(T.m(T.x), T.m(T.x2), T.m(T.dy), T.m(T.y), T.m(T.y2)); },
       5 * n * e},
      {"geglu", [&T] { ops::geglu(T.m(T.x), T.m(T.x2), T.m(T.y)); }, 3 * n * e},
      {"geglu_backward",
       [&T] { ops::geglu_backward(T.m(T.x), T.m(T.x2), T.m(T.dy), T.m(T.y), T.m(T.y2)); },
       5 * n * e},
      {"dropout_backward",
       [&T] { ops::dropout_backward(T.m(T.dy), T.m(T.y), {.p = 0.1f, .seed = 1}); }, 2 * n * e},
      {"mean_pool", [&T] { ops::mean_pool(T.pooled_x(), T.pool_mask(), T.pooled_y()); },
       n * e + pool},
      {"rotary",
       [&T] { ops::rotary_embedding(T.heads(T.x), T.table(T.cos), T.table(T.sin), T.heads(T.y)); },
       2 * n * e + table},
      {"rotary_backward",
       [&T] {
         ops::rotary_embedding_backward(T.heads(T.dy), T.table(T.cos), T.table(T.sin),
                                        T.heads(T.y));
       },
       2 * n * e + table},
      {"rotary_positions",
       [&T] { ops::rotary_embedding_from_positions(T.heads(T.x), T.rows(T.pos), T.heads(T.y)); },
       2 * n * e + rows4},
      {"quantize_int8", quant(DType::i8, QuantGranularity::per_token), n * e + n + rows4},
      {"quantize_int8_tensor", quant(DType::i8, QuantGranularity::per_tensor), n * e + n + 4},
      {"quantize_fp8", quant(DType::f8e4m3, QuantGranularity::per_token), n * e + n + rows4},
      {"dequantize_int8", [&T] { ops::dequantize(T.m(T.q8), T.rows(T.stats), T.m(T.y)); },
       n * e + n + rows4},
  };
}

std::vector<Op> make_ops(Tensors& T) {
  const double e = double(tessel::dtype_bytes(T.t)), n = double(T.s.rows * T.s.cols);
  const double rows4 = 4.0 * T.s.rows; // one f32 per row
  static float loss_out, dloss_in = 1; // cross_entropy's mean and its gradient
  TensorView loss(&loss_out, {1}), dl(&dloss_in, {1});
  return {
      {"softmax", [&T] { ops::softmax(T.m(T.x), T.m(T.y)); }, 2 * n * e},
      {"log_softmax", [&T] { ops::log_softmax(T.m(T.x), T.m(T.y)); }, 2 * n * e},
      {"softmax_backward", [&T] { ops::softmax_backward(T.m(T.y), T.m(T.dy), T.m(T.y2)); },
       3 * n * e},
      {"rms_norm", [&T] { ops::rms_norm(T.m(T.x), T.vec(T.w), T.m(T.y), T.rows(T.stats)); },
       2 * n * e + rows4},
      {"add_rms_norm",
       [&T] {
         ops::add_rms_norm(T.m(T.x), T.m(T.x2), T.vec(T.w), T.m(T.y), T.m(T.y2), T.rows(T.stats));
       },
       4 * n * e + rows4},
      {"rms_norm_backward",
       [&T] {
         ops::rms_norm_backward(T.m(T.dy), T.m(T.x), T.vec(T.w), T.rows(T.stats), T.m(T.y),
                                T.vec(T.b));
       },
       4 * n * e + rows4},
      {"layer_norm",
       [&T] {
         ops::layer_norm(T.m(T.x), T.vec(T.w), T.vec(T.b), T.m(T.y), T.rows(T.stats),
                         T.rows(T.stats2));
       },
       2 * n * e + 2 * rows4},
      {"layer_norm_backward",
       [&T] {
         ops::layer_norm_backward(T.m(T.dy), T.m(T.x), T.vec(T.w), T.rows(T.stats),
                                  T.rows(T.stats2), T.m(T.y), T.vec(T.f32row), T.vec(T.b));
       },
       4 * n * e + 2 * rows4},
      {"gelu", [&T] { ops::gelu(T.m(T.x), T.m(T.y)); }, 2 * n * e},
      {"gelu_tanh",
       [&T] { ops::gelu(T.m(T.x), T.m(T.y), {.approximate = ops::GeluApproximation::tanh}); },
       2 * n * e},
      {"gelu_backward", [&T] { ops::gelu_backward(T.m(T.x), T.m(T.dy), T.m(T.y)); }, 3 * n * e},
      {"silu", [&T] { ops::silu(T.m(T.x), T.m(T.y)); }, 2 * n * e},
      {"swiglu", [&T] { ops::swiglu(T.m(T.x), T.m(T.x2), T.m(T.y)); }, 3 * n * e},
      {"add", [&T] { ops::add(T.m(T.x), T.m(T.x2), T.m(T.y)); }, 3 * n * e},
      {"mul_row", [&T] { ops::mul(T.m(T.x), T.vec(T.w), T.m(T.y)); }, 2 * n * e},
      {"dropout", [&T] { ops::dropout(T.m(T.x), T.m(T.y), {.p = 0.1f, .seed = 1}); }, 2 * n * e},
      {"dropout_per_element",
       [&T] {
         int64_t n = T.s.rows * T.s.cols;
         tessel::LaunchOptions cpu;
         cpu.device = tessel::DeviceKind::cpu;
         dropout_per_element().launch({(n + 1023) / 1024}, cpu, T.m(T.y), T.m(T.x), n, 0.1f, 1024);
       },
       2 * n * e},
      {"cross_entropy",
       [&T, loss] { ops::cross_entropy(T.m(T.x), T.rows(T.labels), T.rows(T.stats), loss); },
       n * e + 2 * rows4},
      {"cross_entropy_backward",
       [&T, dl] { ops::cross_entropy_backward(T.m(T.x), T.rows(T.labels), dl, T.m(T.y)); },
       2 * n * e + rows4},
      {"l2_normalize", [&T] { ops::l2_normalize(T.m(T.x), T.m(T.y)); }, 2 * n * e},
      {"argmax", [&T] { ops::argmax(T.m(T.x), T.rows(T.labels)); }, n * e + rows4},
      {"topk8",
       [&T] {
         ops::topk(T.m(T.x), T.y.view({T.s.rows, 8}), T.idx.view({T.s.rows, 8}), 8);
       },
       n * e + T.s.rows * 8 * (e + 4)},
  };
}

// memcpy of `half` bytes (2 * half of traffic) on one thread (memcpy1) and on two threads, each
// copying one half (memcpy2): the ops run on two, and one core alone may not reach the bandwidth.
Times time_memcpy(size_t half, int reps, int threads) {
  std::vector<unsigned char> a(half, 1), b(half, 0);
  return time_runs(reps, [&] {
    if (threads == 1) {
      std::memcpy(b.data(), a.data(), half);
      return;
    }
    size_t mid = half / 2;
    std::thread t([&] { std::memcpy(b.data(), a.data(), mid); });
    std::memcpy(b.data() + mid, a.data() + mid, half - mid);
    t.join();
  });
}

// The shapes to run: BENCH_SHAPES=ROWSxCOLS[,ROWSxCOLS...] when set (any shape: 1024x128 keeps a
// row op's tensors in cache, which shows its own per-row cost without the memory traffic), else
// the three of the table.
std::vector<Shape> shapes_to_run() {
  const char* list = std::getenv("BENCH_SHAPES");
  if (list == nullptr || *list == '\0')
    return {{4096, 4096}, {8192, 1024}, {32768, 128}};
  std::vector<Shape> out;
  for (const char* p = list; *p != '\0';) {
    char* end = nullptr;
    long long rows = std::strtoll(p, &end, 10);
    long long cols = *end == 'x' ? std::strtoll(end + 1, &end, 10) : 0;
    if (rows <= 0 || cols <= 0 || (*end != ',' && *end != '\0')) {
      std::fprintf(stderr, "BENCH_SHAPES='%s': expected ROWSxCOLS[,ROWSxCOLS...]\n", list);
      std::exit(2);
    }
    out.push_back({rows, cols});
    p = *end == ',' ? end + 1 : end;
  }
  return out;
}

// BENCH_ONLY=8192x1024:bf16,4096x4096 limits the run to those shapes (and dtypes): for profiling
// one op with perf, where the other shapes' kernels would share the profile.
bool selected(Shape s, DType t) {
  const char* only = std::getenv("BENCH_ONLY");
  if (only == nullptr || *only == 0)
    return true;
  std::string shape = std::to_string(s.rows) + "x" + std::to_string(s.cols);
  std::string with_dtype = shape + ":" + tessel::dtype_name(t);
  std::string list = std::string(",") + only + ",";
  return list.find("," + shape + ",") != std::string::npos ||
         list.find("," + with_dtype + ",") != std::string::npos;
}

} // namespace

int main(int argc, char** argv) {
  int reps = argc > 1 ? std::atoi(argv[1]) : 7;
  std::vector<std::string> only(argv + std::min(argc, 2), argv + argc);
  const std::vector<Shape> shapes = shapes_to_run();
  std::printf("impl\top\trows\tcols\tdtype\tmin_ms\tmedian_ms\tbytes\n");
  for (Shape s : shapes)
    for (DType t : {DType::f32, DType::bf16}) {
      if (!selected(s, t))
        continue;
      Tensors T(s, t);
      std::vector<Op> all = make_ops(T), more = more_ops(T);
      all.insert(all.end(), more.begin(), more.end());
      for (const Op& op : all) {
        if (!only.empty() && std::find(only.begin(), only.end(), op.name) == only.end())
          continue;
        Times tm = time_runs(reps, op.run);
        std::printf("tessel\t%s\t%lld\t%lld\t%s\t%.3f\t%.3f\t%.0f\n", op.name, (long long)s.rows,
                    (long long)s.cols, tessel::dtype_name(t), tm.min_ms, tm.median_ms, op.bytes);
        std::fflush(stdout);
      }
      // The copy of one tensor of this shape and dtype: 2 * its bytes of traffic.
      size_t bytes = size_t(s.rows * s.cols) * tessel::dtype_bytes(t);
      for (int threads : {1, 2}) {
        Times tm = time_memcpy(bytes, reps, threads);
        std::printf("memcpy%d\tcopy\t%lld\t%lld\t%s\t%.3f\t%.3f\t%.0f\n", threads,
                    (long long)s.rows, (long long)s.cols, tessel::dtype_name(t), tm.min_ms,
                    tm.median_ms, 2.0 * double(bytes));
      }
    }
}
