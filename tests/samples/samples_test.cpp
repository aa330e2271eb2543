// Each sample kernel on the CPU backend against its plain C++ reference, for f32, f16 and bf16
// buffers, with sizes that are not multiples of the block, outputs poisoned before the launch.
// Inputs are rounded to the buffer's type first, so the reference sees exactly what the kernel
// sees; the tolerance then covers the kernel's own arithmetic and the final rounding.
#include "samples/reference.h"
#include "support/host_array.h"
#include "support/require_sim_device.h"
#include "tessel/jit/compile.h"
#include "tessel/runtime/device_buffer.h"
#include "tessel/samples/samples.h"

#include <gtest/gtest.h>

#include <bit>
#include <cmath>

using tessel::DType;
using tessel::testing::HostArray;
namespace samples = tessel::samples;
namespace ref = tessel::samples::reference;

namespace {

std::vector<float> to_floats(const HostArray& a) {
  std::vector<float> v(a.size());
  for (size_t i = 0; i < a.size(); ++i)
    v[i] = float(a.get(i));
  return v;
}

void expect_close(const HostArray& got, const std::vector<float>& want, double tol,
                  const std::string& what) {
  int bad = 0;
  for (size_t i = 0; i < got.size() && bad < 5; ++i)
    if (!tessel::testing::close_enough(got.get(i), want[i], tol)) {
      ADD_FAILURE() << what << " at " << i << ": got " << got.get(i) << ", want " << want[i];
      ++bad;
    }
}

// Tolerance for a result that went through f32 math and one rounding to `t`.
double result_tolerance(DType t) {
  return t == DType::f32 ? 2e-6 : tessel::testing::tolerance_for(t, 2);
}

class Samples : public ::testing::TestWithParam<DType> {};

TEST_P(Samples, VectorAdd) {
  const DType t = GetParam();
  for (int64_t n : {1, 1000, 4097}) {
    HostArray a(t, size_t(n)), b(t, size_t(n)), out(t, size_t(n));
    a.fill_random(1, -10, 10);
    b.fill_random(2, -10, 10);
    out.poison();
    const int block = 256;
    samples::vector_add().launch({(n + block - 1) / block}, {}, out.arg(), a.arg(), b.arg(), n,
                                 block);
    std::vector<float> want(static_cast<size_t>(n));
    ref::vector_add(to_floats(a), to_floats(b), want);
    expect_close(out, want, result_tolerance(t), "vector_add n=" + std::to_string(n));
  }
}

TEST_P(Samples, Softmax) {
  const DType t = GetParam();
  for (auto [rows, cols] : {std::pair<int64_t, int64_t>{1, 1}, {7, 100}, {33, 513}}) {
    HostArray x(t, size_t(rows * cols)), y(t, size_t(rows * cols));
    x.fill_random(3, -5, 5);
    y.poison();
    samples::softmax().launch({rows}, {}, y.arg(), x.arg(), cols, cols,
                              int(samples::next_power_of_two(cols)));
    std::vector<float> want(static_cast<size_t>(rows * cols));
    ref::softmax(to_floats(x), want, rows, cols);
    expect_close(y, want, result_tolerance(t) * 4,
                 "softmax " + std::to_string(rows) + "x" + std::to_string(cols));
  }
}

TEST_P(Samples, LayerNorm) {
  const DType t = GetParam();
  for (auto [rows, cols] : {std::pair<int64_t, int64_t>{3, 10}, {17, 300}}) {
    HostArray x(t, size_t(rows * cols)), w(t, size_t(cols)), b(t, size_t(cols)),
        y(t, size_t(rows * cols));
    x.fill_random(4, -3, 3);
    w.fill_random(5, 0.5, 1.5);
    b.fill_random(6, -1, 1);
    y.poison();
    const float eps = 1e-5f;
    samples::layer_norm().launch({rows}, {}, y.arg(), x.arg(), w.arg(), b.arg(), cols, cols, eps,
                                 int(samples::next_power_of_two(cols)));
    std::vector<float> want(static_cast<size_t>(rows * cols));
    ref::layer_norm(to_floats(x), to_floats(w), to_floats(b), want, rows, cols, eps);
    expect_close(y, want, t == DType::f32 ? 2e-5 : result_tolerance(t) * 2,
                 "layer_norm " + std::to_string(rows) + "x" + std::to_string(cols));
  }
}

TEST_P(Samples, Matmul) {
  const DType t = GetParam();
  const int64_t m = 45, n = 70, k = 37;
  HostArray a(t, size_t(m * k)), b(t, size_t(k * n)), c(DType::f32, size_t(m * n));
  a.fill_random(7, -1, 1);
  b.fill_random(8, -1, 1);
  c.poison();
  const int bm = 16, bn = 32, bk = 16, group = 2; // 3 x 3 tiles: a ragged last group
  samples::matmul().launch({((m + bm - 1) / bm) * ((n + bn - 1) / bn)}, {}, c.arg(), a.arg(),
                           b.arg(), m, n, k, k, 1, n, 1, n, 1, bm, bn, bk, group);
  std::vector<float> want(static_cast<size_t>(m * n));
  ref::matmul(to_floats(a), to_floats(b), want, m, n, k);
  expect_close(c, want, 1e-5, "matmul");
}

INSTANTIATE_TEST_SUITE_P(Types, Samples, ::testing::Values(DType::f32, DType::f16, DType::bf16),
                         [](const ::testing::TestParamInfo<DType>& info) {
                           return std::string(tessel::dtype_name(info.param));
                         });

TEST(SamplesInt, VectorAddI32) {
  const int64_t n = 777;
  HostArray a(DType::i32, n), b(DType::i32, n), out(DType::i32, n);
  a.fill_random(9, -1e6, 1e6);
  b.fill_random(10, -1e6, 1e6);
  out.poison();
  samples::vector_add().launch({(n + 127) / 128}, {}, out.arg(), a.arg(), b.arg(), n, 128);
  for (size_t i = 0; i < size_t(n); ++i)
    ASSERT_EQ(out.get(i), a.get(i) + b.get(i)) << i;
}

// The autotuned host entry: on the CPU the heuristic takes the 32 x 32 x 32 config; the f16
// output goes through the kernel's cast; B is read transposed through its strides.
TEST(SamplesMatmul, AutotunedWithOutputCastAndStrides) {
  const int64_t m = 70, n = 45, k = 67;
  HostArray a(DType::f32, size_t(m * k)), bt(DType::f32, size_t(n * k)),
      c(DType::f16, size_t(m * n));
  a.fill_random(11, -1, 1);
  bt.fill_random(12, -1, 1); // B^T, N x K row-major
  c.poison();
  tessel::TensorView b(bt.data(), DType::f32, {k, n});
  b.strides = {1, k}; // B[kk][j] = bt[j * k + kk]
  tessel::TuneChoice choice =
      samples::launch_matmul(tessel::TensorView(a.data(), DType::f32, {m, k}), b,
                             tessel::TensorView(c.data(), DType::f16, {m, n}));
  EXPECT_EQ(choice.config->to_string(),
            "BLOCK_M=32,BLOCK_N=32,BLOCK_K=32,GROUP_M=8,num_warps=4,num_stages=2");
  std::vector<float> bf = to_floats(bt), want(size_t(m * n)), b_rows(size_t(k * n));
  for (int64_t kk = 0; kk < k; ++kk)
    for (int64_t j = 0; j < n; ++j)
      b_rows[size_t(kk * n + j)] = bf[size_t(j * k + kk)];
  ref::matmul(to_floats(a), b_rows, want, m, n, k);
  expect_close(c, want, tessel::testing::tolerance_for(DType::f16, 2), "autotuned matmul");
}

// On the simulated device the autotuner compiles every config the prune leaves (tiles no larger
// than the 64 x 64 bucket) for sm_80, checks their resources, and the heuristic takes the first
// (largest) tile; the result matches the reference at ragged edges.
TEST(SamplesMatmul, AutotunedOnTheSimulatedDevice) {
  REQUIRE_SIM_DEVICE();
  using tessel::runtime::DeviceBuffer;
  const int64_t m = 40, n = 48, k = 40;
  auto a = ref::random_floats(size_t(m * k), 21), b = ref::random_floats(size_t(k * n), 22);
  std::vector<float> c(size_t(m * n), std::nanf("")), want(size_t(m * n));
  auto upload = [](const std::vector<float>& v) {
    DeviceBuffer d = DeviceBuffer::allocate_on(tessel::DeviceKind::sim, v.size() * 4);
    d.copy_from_host(v.data(), v.size() * 4);
    return d;
  };
  DeviceBuffer da = upload(a), db = upload(b), dc = upload(c);
  tessel::TuneChoice choice = samples::launch_matmul(
      da.view(DType::f32, {m, k}), db.view(DType::f32, {k, n}), dc.view(DType::f32, {m, n}));
  EXPECT_EQ(choice.source, tessel::TuneSource::heuristic);
  // Which of the three survivors of the prune fits depends on the code generator (with the FMA
  // dot, the 2-warp 64 x 32 and 32 x 64 tiles spill): the choice is one of them, and its own
  // compile (from the disk cache) has no spills.
  EXPECT_GE(choice.index, 6u) << choice.config->to_string();
  const tessel::TuneConfig& cfg = *choice.config;
  tessel::CompileOptions o;
  o.num_warps = cfg.num_warps;
  o.num_stages = cfg.num_stages;
  tessel::Signature sig = tessel::Signature::from_args(
      dc.view(DType::f32, {m, n}), da.view(DType::f32, {m, k}), db.view(DType::f32, {k, n}), m, n,
      k, k, 1, n, 1, n, 1, cfg.get("BLOCK_M"), cfg.get("BLOCK_N"), cfg.get("BLOCK_K"),
      cfg.get("GROUP_M")); // what the launch passed
  tessel::CompileResult r = samples::matmul().compile(tessel::Target::parse("sm_80"), sig, o);
  EXPECT_EQ(r.resources.spill_stores + r.resources.spill_loads, 0) << cfg.to_string();
  dc.copy_to_host(c.data(), c.size() * 4);
  // f32 dots run as tf32 on the GPU by default (docs/gpu_codegen.md): the reference rounds the
  // operands the same way (to nearest, ties away).
  auto tf32 = [](std::vector<float> v) {
    for (float& x : v)
      x = std::bit_cast<float>((std::bit_cast<uint32_t>(x) + 0x1000u) & 0xffffe000u);
    return v;
  };
  ref::matmul(tf32(a), tf32(b), want, m, n, k);
  EXPECT_LE(ref::compare(c, want).max_abs, 1e-4);
}

TEST(SamplesMatmul, MismatchedShapesAreAnError) {
  std::vector<float> a(12), b(12), c(16);
  try {
    samples::launch_matmul(tessel::TensorView(a.data(), {3, 4}),
                           tessel::TensorView(b.data(), {3, 4}),
                           tessel::TensorView(c.data(), {4, 4}));
    ADD_FAILURE() << "expected an error";
  } catch (const tessel::Error& e) {
    EXPECT_STREQ(e.what(), "samples::launch_matmul: C (4x4) = A (3x4) @ B (3x4) needs A MxK, B "
                           "KxN and C MxN");
  }
}

TEST(Demo, EverySampleIsWithinTolerance) {
  for (const auto& s : samples::demo_samples()) {
    samples::DemoResult r = s.run();
    EXPECT_TRUE(r.ok()) << r.name << ": max abs error " << r.max_abs_error << " > " << r.tolerance;
  }
}

} // namespace
