// A standalone performance check of the CPU backend (not a test; no timing assertions): vector
// add over 16M floats against a plain -O3 C++ loop, row softmax of 4096 x 4096 f32 against a
// straightforward two-pass C++ softmax, both single-threaded on the same arrays in the same run,
// and the cold compile latency of each kernel. Run:
// build/release/tests/codegen/codegen_cpu_perf_check
#include "tests/codegen/cpu_test_util.h"

#include <algorithm>
#include <chrono>
#include <cstdio>

namespace tessel::test {
namespace {

double now_ms() {
  return std::chrono::duration<double, std::milli>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

template <class F> double best_of(int reps, F&& f) {
  double best = 1e30;
  for (int i = 0; i < reps; ++i) {
    double t0 = now_ms();
    f();
    best = std::min(best, now_ms() - t0);
  }
  return best;
}

__attribute__((noinline)) void plain_add(float* __restrict c, const float* __restrict a,
                                         const float* __restrict b, int64_t n) {
  for (int64_t i = 0; i < n; ++i)
    c[i] = a[i] + b[i];
}

__attribute__((noinline)) void plain_softmax(float* out, const float* in, int rows, int cols) {
  for (int r = 0; r < rows; ++r) {
    const float* x = in + int64_t(r) * cols;
    float* y = out + int64_t(r) * cols;
    float m = -INFINITY;
    for (int j = 0; j < cols; ++j)
      m = std::max(m, x[j]);
    float s = 0;
    for (int j = 0; j < cols; ++j) {
      y[j] = std::exp(x[j] - m);
      s += y[j];
    }
    float inv = 1.0f / s;
    for (int j = 0; j < cols; ++j)
      y[j] *= inv;
  }
}

void report(const char* what, const codegen::cpu::CompiledKernel& k, double wall) {
  const auto& t = k.times();
  std::printf(
      "%-12s cold compile %.1f ms (lower %.1f, O3 %.1f, codegen %.1f, link %.1f), stack %lld B\n",
      what, wall, t.lower_ms, t.optimize_ms, t.codegen_ms, t.link_ms,
      (long long)k.max_stack_bytes());
}

int run() {
  std::printf("host: %s\n", codegen::cpu::host_description().c_str());
  // ---- vector add ----
  constexpr int64_t kBlock = 2048;
  KernelBuilder va("vector_add");
  {
    auto& k = va;
    ir::Value* out = k.arg(k.ptr(DType::f32));
    ir::Value* a = k.arg(k.ptr(DType::f32));
    ir::Value* b = k.arg(k.ptr(DType::f32));
    ir::Value* n = k.arg(k.i32());
    ir::Value* offs =
        k.bin(Opcode::Add, k.splat(k.bin(Opcode::Mul, k.pid(), k.cint(kBlock)), {kBlock}),
              k.arange(kBlock));
    ir::Value* mask = k.cmp(Opcode::CmpLt, offs, k.splat(n, {kBlock}));
    ir::Value* x = k.load(k.addptr(a, offs), mask);
    ir::Value* y = k.load(k.addptr(b, offs), mask);
    k.store(k.addptr(out, offs), k.bin(Opcode::Add, x, y), mask);
    k.ret();
  }
  double t0 = now_ms();
  auto add_kernel = codegen::cpu::compile(va.fn);
  report("vector_add", *add_kernel, now_ms() - t0);

  const int64_t n = int64_t(16) << 20;
  std::vector<float> a(n), b(n), c(n), c_ref(n);
  for (int64_t i = 0; i < n; ++i) {
    a[i] = float(i % 1000) * 0.5f;
    b[i] = float(i % 777) * 0.25f;
  }
  int32_t n32 = int32_t(n);
  float *pa = a.data(), *pb = b.data(), *pc = c.data();
  std::vector<void*> args{&pc, &pa, &pb, &n32};
  std::array<int32_t, 3> grid{int32_t((n + kBlock - 1) / kBlock), 1, 1};
  double t_plain = 0, t_kernel = 0;
  run_on_big_stack([&] {
    for (int round = 0; round < 2; ++round) { // interleave to share thermal/turbo state
      t_plain = best_of(5, [&] { plain_add(c_ref.data(), a.data(), b.data(), n); });
      t_kernel = best_of(5, [&] { add_kernel->entry()(args.data(), grid.data(), 0, grid[0]); });
    }
  });
  bool ok = std::equal(c.begin(), c.end(), c_ref.begin());
  double gb = 3.0 * n * 4 / 1e9;
  std::printf(
      "vector_add 16M f32: plain loop %.2f ms (%.1f GB/s), tessel %.2f ms (%.1f GB/s): %.2fx %s\n",
      t_plain, gb / (t_plain / 1e3), t_kernel, gb / (t_kernel / 1e3), t_plain / t_kernel,
      ok ? "(results equal)" : "(RESULTS DIFFER)");

  // ---- softmax ----
  constexpr int64_t kCols = 4096;
  constexpr int rows = 4096;
  KernelBuilder sm("softmax");
  {
    auto& k = sm;
    const ir::Type* f32 = k.s(DType::f32);
    ir::Value* out = k.arg(k.ptr(DType::f32));
    ir::Value* in = k.arg(k.ptr(DType::f32));
    ir::Value* stride = k.arg(k.i32());
    ir::Value* ncols = k.arg(k.i32());
    ir::Value* row = k.bin(Opcode::Mul, k.pid(), stride);
    ir::Value* cols = k.arange(kCols);
    ir::Value* mask = k.cmp(Opcode::CmpLt, cols, k.splat(ncols, {kCols}));
    ir::Value* offs = k.bin(Opcode::Add, k.splat(row, {kCols}), cols);
    ir::Value* x = k.load(k.addptr(in, offs), mask, k.cfloat(-INFINITY, k.t({kCols}, f32)));
    ir::Value* mx = k.op(Opcode::ReduceMax, {x}, f32, {ir::Attr::of_int(0)});
    ir::Value* num = k.un(Opcode::Exp, k.bin(Opcode::Sub, x, k.splat(mx, {kCols})));
    ir::Value* den = k.op(Opcode::ReduceSum, {num}, f32, {ir::Attr::of_int(0)});
    k.store(k.addptr(out, offs), k.bin(Opcode::Div, num, k.splat(den, {kCols})), mask);
    k.ret();
  }
  t0 = now_ms();
  auto sm_kernel = codegen::cpu::compile(sm.fn);
  report("softmax", *sm_kernel, now_ms() - t0);
  std::vector<float> x(int64_t(rows) * kCols), y(x.size()), y_ref(x.size());
  for (size_t i = 0; i < x.size(); ++i)
    x[i] = float((i * 2654435761u) % 10000) / 1000.0f - 5.0f;
  int32_t stride = kCols, ncols = kCols;
  float *px = x.data(), *py = y.data();
  std::vector<void*> sargs{&py, &px, &stride, &ncols};
  std::array<int32_t, 3> sgrid{rows, 1, 1};
  run_on_big_stack([&] {
    for (int round = 0; round < 2; ++round) {
      t_plain = best_of(3, [&] { plain_softmax(y_ref.data(), x.data(), rows, kCols); });
      t_kernel = best_of(3, [&] { sm_kernel->entry()(sargs.data(), sgrid.data(), 0, rows); });
    }
  });
  double max_err = 0;
  for (size_t i = 0; i < y.size(); ++i)
    max_err = std::max(max_err, double(std::fabs(y[i] - y_ref[i])));
  std::printf(
      "softmax 4096x4096 f32: two-pass C++ %.1f ms, tessel %.1f ms: %.2fx (max abs diff %.2g)\n",
      t_plain, t_kernel, t_plain / t_kernel, max_err);
  return 0;
}

} // namespace
} // namespace tessel::test

int main() { return tessel::test::run(); }
