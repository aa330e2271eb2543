// The generated PTX, executed: each sample kernel compiled for sm_90a and sm_80 runs in the PTX
// simulator (sim/) on real data, with memcheck and racecheck on, and its output is compared with
// a plain C++ reference. This checks the layouts, masks, vector accesses, shuffles, barriers and
// shared-memory exchanges of the GPU path on a machine without a GPU. Shared-memory bank
// conflicts of each run are reported and must be zero: bank_conflicts_test.cpp proves every
// shared access of these kernels conflict-free, and the simulator confirms it.
#include "gpu_test_util.h"
#include "test_kernels.h"

#include <tessel/sim/sim.h>

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <random>

namespace tessel::codegen::gpu {
namespace {

using sim::KernelArg;

constexpr const char* kProvenFree = "bank conflicts where bank_conflicts_test.cpp proves none";

class Sim {
public:
  uint64_t upload(const std::vector<float>& v) {
    auto a = dev_.malloc(v.size() * 4 + 16);
    EXPECT_TRUE(a.ok());
    EXPECT_TRUE(dev_.memcpy_to_device(*a, v.data(), v.size() * 4).ok());
    return *a;
  }
  std::vector<float> download(uint64_t a, size_t n) {
    std::vector<float> v(n);
    EXPECT_TRUE(dev_.memcpy_to_host(v.data(), a, n * 4).ok());
    return v;
  }
  // Runs and returns the total bank conflicts.
  uint64_t run(const CompiledKernel& k, sim::Dim3 grid, std::vector<KernelArg> args) {
    auto r = dev_.launch(k.ptx, k.name, grid, sim::Dim3{uint32_t(32 * k.num_warps), 1, 1},
                         static_cast<uint32_t>(k.shared_bytes), args);
    EXPECT_TRUE(r.ok()) << (r.ok() ? "" : r.error().to_string());
    if (!r.ok())
      return 0;
    for (const auto& e : r->errors)
      ADD_FAILURE() << k.name << ": " << e.to_string();
    std::printf("[ sim      ] %s: %llu shared wavefronts, %llu bank conflicts\n", k.name.c_str(),
                static_cast<unsigned long long>(r->profile.total_wavefronts()),
                static_cast<unsigned long long>(r->profile.total_bank_conflicts()));
    if (std::getenv("TESSEL_SIM_PROFILE"))
      std::printf("%s\n", r->profile.to_string().c_str());
    return r->profile.total_bank_conflicts();
  }

private:
  sim::Device dev_;
};

std::vector<float> random_vector(size_t n, uint32_t seed, float lo = -2, float hi = 2) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> d(lo, hi);
  std::vector<float> v(n);
  for (float& x : v)
    x = d(rng);
  return v;
}

void expect_close(const std::vector<float>& got, const std::vector<float>& want, float tol) {
  ASSERT_EQ(got.size(), want.size());
  for (size_t i = 0; i < got.size(); ++i)
    ASSERT_NEAR(got[i], want[i], tol * (1 + std::fabs(want[i]))) << "at " << i;
}

class SimOnTarget : public ::testing::TestWithParam<const char*> {};

TEST_P(SimOnTarget, VectorAdd) {
  const int n = 2992; // divisible by 16, as specialized; the last program is partly masked
  CompiledKernel k = testing::compile_sample("vector_add", GetParam(), {}, Stage::Ptx);
  Sim s;
  auto a = random_vector(n, 1), b = random_vector(n, 2);
  uint64_t da = s.upload(a), db = s.upload(b), dout = s.upload(std::vector<float>(n + 64, 7.f));
  EXPECT_EQ(
      s.run(k, {3, 1, 1},
            {KernelArg::ptr(dout), KernelArg::ptr(da), KernelArg::ptr(db), KernelArg::i32(n)}),
      0u)
      << kProvenFree;
  auto out = s.download(dout, n + 64);
  for (int i = 0; i < n; ++i)
    ASSERT_EQ(out[i], a[i] + b[i]) << i;
  for (int i = n; i < n + 64; ++i)
    ASSERT_EQ(out[i], 7.f) << "masked-off element " << i << " was written";
}

TEST_P(SimOnTarget, Softmax) {
  const int rows = 3, cols = 784;
  CompiledKernel k = testing::compile_sample("softmax", GetParam(), {}, Stage::Ptx);
  Sim s;
  auto x = random_vector(rows * cols, 3, -5, 5);
  uint64_t dx = s.upload(x), dout = s.upload(std::vector<float>(rows * cols));
  EXPECT_EQ(
      s.run(k, {rows, 1, 1},
            {KernelArg::ptr(dout), KernelArg::ptr(dx), KernelArg::i32(cols), KernelArg::i32(cols)}),
      0u)
      << kProvenFree;
  auto out = s.download(dout, rows * cols);
  std::vector<float> want(rows * cols);
  for (int r = 0; r < rows; ++r) {
    float m = -INFINITY, sum = 0;
    for (int c = 0; c < cols; ++c)
      m = std::max(m, x[r * cols + c]);
    for (int c = 0; c < cols; ++c)
      sum += std::exp(x[r * cols + c] - m);
    for (int c = 0; c < cols; ++c)
      want[r * cols + c] = std::exp(x[r * cols + c] - m) / sum;
  }
  expect_close(out, want, 1e-5f);
}

TEST_P(SimOnTarget, LayerNorm) {
  const int rows = 2, n = 528;
  CompiledKernel k = testing::compile_sample("layer_norm", GetParam(), {}, Stage::Ptx);
  Sim s;
  auto x = random_vector(rows * n, 4), w = random_vector(n, 5), bias = random_vector(n, 6);
  uint64_t dx = s.upload(x), dw = s.upload(w), db = s.upload(bias),
           dy = s.upload(std::vector<float>(rows * n));
  const float eps = 1e-5f;
  EXPECT_EQ(s.run(k, {rows, 1, 1},
                  {KernelArg::ptr(dy), KernelArg::ptr(dx), KernelArg::ptr(dw), KernelArg::ptr(db),
                   KernelArg::i32(n), KernelArg::i32(n), KernelArg::f32(eps)}),
            0u)
      << kProvenFree;
  auto y = s.download(dy, rows * n);
  std::vector<float> want(rows * n);
  for (int r = 0; r < rows; ++r) {
    double mean = 0, var = 0;
    for (int c = 0; c < n; ++c)
      mean += x[r * n + c];
    mean /= n;
    for (int c = 0; c < n; ++c)
      var += (x[r * n + c] - mean) * (x[r * n + c] - mean);
    var /= n;
    for (int c = 0; c < n; ++c)
      want[r * n + c] =
          static_cast<float>((x[r * n + c] - mean) / std::sqrt(var + eps) * w[c] + bias[c]);
  }
  expect_close(y, want, 1e-4f);
}

TEST_P(SimOnTarget, Matmul) {
  const int M = 64, N = 64, K = 32;
  CompiledKernel k = testing::compile_sample("matmul", GetParam(), {}, Stage::Ptx);
  Sim s;
  auto a = random_vector(M * K, 7), b = random_vector(K * N, 8);
  uint64_t da = s.upload(a), db = s.upload(b), dc = s.upload(std::vector<float>(M * N));
  EXPECT_EQ(s.run(k, {1, 1, 1},
                  {KernelArg::ptr(dc), KernelArg::ptr(da), KernelArg::ptr(db), KernelArg::i32(M),
                   KernelArg::i32(N), KernelArg::i32(K), KernelArg::i32(K), KernelArg::i32(1),
                   KernelArg::i32(N), KernelArg::i32(1), KernelArg::i32(N), KernelArg::i32(1)}),
            0u)
      << kProvenFree;
  auto c = s.download(dc, M * N);
  // f32 dots run as tf32 on the GPU by default (docs/gpu_codegen.md): on mma.sync the operands
  // are rounded to tf32 (nearest, ties away), on sm_90a's wgmma truncated (the tensor cores read
  // the top 19 bits of the f32 words in shared memory); the products summed in f32.
  const bool truncates = std::string(GetParam()) == "sm_90a";
  auto tf32 = [truncates](float x) {
    const uint32_t bits = std::bit_cast<uint32_t>(x);
    return std::bit_cast<float>((truncates ? bits : bits + 0x1000u) & 0xffffe000u);
  };
  std::vector<float> want(M * N);
  for (int i = 0; i < M; ++i)
    for (int j = 0; j < N; ++j) {
      float acc = 0;
      for (int kk = 0; kk < K; ++kk)
        acc += tf32(a[i * K + kk]) * tf32(b[kk * N + j]);
      want[i * N + j] = acc;
    }
  expect_close(c, want, 1e-4f);
}

namespace tl = tessel::lang;

CompiledKernel build(const Kernel& k, std::vector<int64_t> consts, const char* target) {
  auto module = testing::trace_dsl(k, std::move(consts));
  return compile(*module->functions.front(), parse_target(target), {}, Stage::Ptx);
}

TEST_P(SimOnTarget, ReductionsAndArgReductions) {
  const Kernel& k = testing::reduce_rows_kernel();
  const int R = 32, C = 128;
  CompiledKernel ck = build(k, {R, C}, GetParam());
  Sim s;
  auto x = random_vector(R * C, 9);
  x[5 * C + 17] = x[5 * C + 99] = 10.f; // a tie: the first index wins
  uint64_t dx = s.upload(x), dout = s.upload(std::vector<float>(R + C)),
           didx = s.upload(std::vector<float>(R));
  EXPECT_EQ(s.run(ck, {1, 1, 1}, {KernelArg::ptr(dout), KernelArg::ptr(didx), KernelArg::ptr(dx)}),
            0u)
      << kProvenFree;
  auto out = s.download(dout, R + C), idx = s.download(didx, R);
  for (int r = 0; r < R; ++r) {
    auto row = x.begin() + r * C;
    auto mx = std::max_element(row, row + C), mn = std::min_element(row, row + C);
    EXPECT_EQ(out[r], *mx + *mn) << r;
    EXPECT_EQ(idx[r], float((mx - row) * 1000 + (mn - row))) << r;
  }
  EXPECT_EQ(idx[5], 17000.f + float(std::min_element(x.begin() + 5 * C, x.begin() + 6 * C) -
                                    (x.begin() + 5 * C)));
  for (int c = 0; c < C; ++c) {
    float sum = 0;
    for (int r = 0; r < R; ++r)
      sum += x[r * C + c];
    EXPECT_NEAR(out[R + c], sum, 1e-4f) << c;
  }
}

TEST_P(SimOnTarget, ScanAndCustomCombine) {
  const Kernel& k = testing::scan_kernel();
  const int B = 64;
  CompiledKernel ck = build(k, {B}, GetParam());
  Sim s;
  auto x = random_vector(B, 10);
  uint64_t dx = s.upload(x), dout = s.upload(std::vector<float>(B + 1));
  EXPECT_EQ(s.run(ck, {1, 1, 1}, {KernelArg::ptr(dout), KernelArg::ptr(dx)}), 0u) << kProvenFree;
  auto out = s.download(dout, B + 1);
  float run = 0;
  for (int i = 0; i < B; ++i) {
    run += x[i];
    EXPECT_NEAR(out[i], run, 1e-5f) << i;
  }
  EXPECT_EQ(out[B], *std::max_element(x.begin(), x.end()));
}

CompiledKernel build_warps(const Kernel& k, std::vector<int64_t> consts, const char* target,
                           DType dtype, int num_warps) {
  auto module = testing::trace_dsl(k, std::move(consts), dtype);
  CompileOptions options;
  options.num_warps = num_warps;
  return compile(*module->functions.front(), parse_target(target), options, Stage::Ptx);
}

// Inclusive prefix sums of `x` (rows x cols, row-major) along `axis`, in double.
std::vector<double> prefix_sums(const std::vector<float>& x, int rows, int cols, int axis) {
  std::vector<double> out(x.size());
  for (int r = 0; r < rows; ++r)
    for (int c = 0; c < cols; ++c) {
      const int i = r * cols + c, prev = axis == 1 ? i - 1 : i - cols;
      const bool first = axis == 1 ? c == 0 : r == 0;
      out[i] = x[i] + (first ? 0.0 : out[prev]);
    }
  return out;
}

// Parallel scans (in-thread runs, shfl.sync.up across lanes, warps' totals through shared
// memory): long f32 rows, both axes of 2-D tiles, 4 and 8 warps, against a C++ reference, with
// memcheck, racecheck and zero bank conflicts.
TEST_P(SimOnTarget, ParallelScans) {
  struct Case {
    int rows, cols, warps;
  };
  for (const Case& c : std::vector<Case>{{1, 4096, 4},
                                         {1, 4096, 8},
                                         {1, 64, 4},
                                         {1, 32, 4},
                                         {64, 64, 4},
                                         {16, 256, 4},
                                         {16, 256, 8},
                                         {128, 8, 4}}) {
    SCOPED_TRACE(::testing::Message() << c.rows << "x" << c.cols << " num_warps=" << c.warps);
    const bool one_d = c.rows == 1;
    CompiledKernel ck =
        one_d ? build_warps(testing::scan_1d_kernel(), {c.cols}, GetParam(), DType::f32, c.warps)
              : build_warps(testing::scan_2d_kernel(), {c.rows, c.cols}, GetParam(), DType::f32,
                            c.warps);
    const size_t n = size_t(c.rows) * c.cols;
    Sim s;
    auto x = random_vector(n, 30 + c.cols);
    x[0] = -0.0f; // a leading -0.0 survives (nothing is added before the first element)
    uint64_t dx = s.upload(x), dout = s.upload(std::vector<float>(2 * n));
    EXPECT_EQ(s.run(ck, {1, 1, 1}, {KernelArg::ptr(dout), KernelArg::ptr(dx)}), 0u) << kProvenFree;
    auto out = s.download(dout, 2 * n);
    EXPECT_TRUE(std::signbit(out[0])) << "-0.0 + nothing must stay -0.0";
    for (int axis : one_d ? std::vector<int>{1} : std::vector<int>{1, 0}) {
      auto want = prefix_sums(x, c.rows, c.cols, axis);
      const size_t at = axis == 1 ? 0 : n;
      for (size_t i = 0; i < n; ++i)
        ASSERT_NEAR(out[at + i], want[i], 1e-4 * (1 + std::fabs(want[i])))
            << "axis " << axis << " at " << i;
    }
  }
}

// f16/bf16 scans accumulate in f32 and round once.
TEST_P(SimOnTarget, ParallelHalfScans) {
  for (DType d : {DType::f16, DType::bf16}) {
    const int B = 1024;
    CompiledKernel ck = build_warps(testing::scan_1d_kernel(), {B}, GetParam(), d, 4);
    auto to_bits = [&](float f) {
      return d == DType::f16 ? float_to_half(f) : float_to_bfloat16(f);
    };
    auto from_bits = [&](uint16_t h) {
      return d == DType::f16 ? half_to_float(h) : bfloat16_to_float(h);
    };
    std::vector<uint16_t> in;
    std::vector<float> xs;
    for (float v : random_vector(B, 40, -2, 2)) {
      in.push_back(to_bits(v));
      xs.push_back(from_bits(in.back()));
    }
    Sim s;
    std::vector<float> words(B / 2 + 4);
    std::memcpy(words.data(), in.data(), B * 2);
    uint64_t dx = s.upload(words), dout = s.upload(std::vector<float>(B / 2 + 4));
    EXPECT_EQ(s.run(ck, {1, 1, 1}, {KernelArg::ptr(dout), KernelArg::ptr(dx)}), 0u) << kProvenFree;
    std::vector<float> got_words = s.download(dout, B / 2);
    std::vector<uint16_t> got(B);
    std::memcpy(got.data(), got_words.data(), B * 2);
    auto want = prefix_sums(xs, 1, B, 1);
    // One rounding of a sum accumulated in f32: within one unit in the last place of the type.
    const double ulp = d == DType::f16 ? 0x1p-10 : 0x1p-7;
    for (int i = 0; i < B; ++i)
      ASSERT_NEAR(from_bits(got[i]), want[i], ulp * std::fabs(want[i]) + 1e-3)
          << (d == DType::f16 ? "f16" : "bf16") << " at " << i;
  }
}

TEST_P(SimOnTarget, ControlFlowWithCarriedTensors) {
  const Kernel& k = testing::control_kernel();
  const int B = 256, n = 1040;
  CompiledKernel ck = build(k, {B}, GetParam());
  Sim s;
  auto x = random_vector(n, 11);
  uint64_t dx = s.upload(x), dout = s.upload(std::vector<float>(B));
  EXPECT_EQ(s.run(ck, {1, 1, 1}, {KernelArg::ptr(dout), KernelArg::ptr(dx), KernelArg::i32(n)}), 0u)
      << kProvenFree;
  auto out = s.download(dout, B);
  std::vector<float> acc(B, 0.f);
  for (int i = 0; i < n; i += B)
    for (int j = 0; j < B; ++j)
      if (i + j < n)
        acc[j] += x[i + j];
  float total = 0;
  for (float v : acc)
    total += v;
  for (int j = 0; j < B; ++j) {
    float v = total > 0 ? acc[j] * 2 : -acc[j];
    v += (n + 255) / 256; // the while loop runs ceil(n / 256) times
    EXPECT_NEAR(out[j], v, 1e-4f) << j;
  }
}

// The packed f16x2/bf16x2 arithmetic, executed: every op exactly rounded, as ir.h specifies.
TEST_P(SimOnTarget, PackedHalfArithmetic) {
  const int B = 256;
  for (DType d : {DType::f16, DType::bf16}) {
    auto module = testing::trace_dsl(testing::half_arith_kernel(), {B}, d);
    CompiledKernel ck =
        compile(*module->functions.front(), parse_target(GetParam()), {}, Stage::Ptx);
    auto to_bits = [&](float f) {
      return d == DType::f16 ? float_to_half(f) : float_to_bfloat16(f);
    };
    auto from_bits = [&](uint16_t h) {
      return d == DType::f16 ? half_to_float(h) : bfloat16_to_float(h);
    };
    auto round = [&](double v) { return from_bits(to_bits(static_cast<float>(v))); };
    std::vector<uint16_t> in[3];
    for (int i = 0; i < 3; ++i)
      for (float v : random_vector(B, 20 + i, -4, 4))
        in[i].push_back(to_bits(v));
    std::vector<uint16_t> out(B);
    std::vector<uint32_t> packed;
    Sim s;
    uint64_t dev[4];
    for (int i = 0; i < 4; ++i) {
      std::vector<float> words(B / 2 + 4);
      if (i > 0)
        std::memcpy(words.data(), in[i - 1].data(), B * 2);
      dev[i] = s.upload(words);
    }
    EXPECT_EQ(s.run(ck, {1, 1, 1},
                    {KernelArg::ptr(dev[0]), KernelArg::ptr(dev[1]), KernelArg::ptr(dev[2]),
                     KernelArg::ptr(dev[3])}),
              0u);
    std::vector<float> words = s.download(dev[0], B / 2);
    std::memcpy(out.data(), words.data(), B * 2);
    for (int i = 0; i < B; ++i) {
      const double x = from_bits(in[0][i]), y = from_bits(in[1][i]), z = from_bits(in[2][i]);
      const float f = round(x * y + z);                   // fma: one rounding
      const float p = round(round(x * y) - std::fabs(z)); // mul, abs, sub
      // contract-fma (fp_fusion, on by default) makes f + p * -x one fma: the f16/bf16 fma rule,
      // the exact value rounded to f32 and then to the element type (exact in double here).
      const float want = round(round(f + double(p) * -x) + y);
      ASSERT_EQ(from_bits(out[i]), want) << (d == DType::f16 ? "f16" : "bf16") << " at " << i;
    }
  }
}

// f32 -> f16 / bf16 on register pairs (8 per thread here), one cvt.rn.f16x2.f32 /
// cvt.rn.bf16x2.f32 per pair on sm_80+: each value rounded once to nearest even, as the host's
// conversion does, over the whole f32 range (overflow to infinity, subnormal and zero results) and
// at the halfway points, signed zeros, infinities; NaN stays NaN.
TEST_P(SimOnTarget, NarrowsF32InPairs) {
  const int B = 1024;
  std::vector<float> x = {1 + 0x1p-11f, 1 + 3 * 0x1p-11f,
                          1 + 0x1p-8f,  1 + 3 * 0x1p-8f,
                          65504,        65519,
                          65520,        -65536,
                          0x1p-24f,     0x1p-25f,
                          3 * 0x1p-26f, 0x1p-14f - 0x1p-25f,
                          -0.0f,        0.0f,
                          INFINITY,     -INFINITY,
                          NAN,          -NAN,
                          3.4e38f,      1e-40f,
                          -1e-45f,      0x1p-133f,
                          0x1p-126f,    -0x1.fffffep127f};
  std::mt19937 rng(77);
  std::uniform_int_distribution<int> exponent(-150, 128);
  std::uniform_real_distribution<float> mantissa(1, 2);
  while (x.size() < size_t(B)) {
    const float v = std::ldexp(mantissa(rng), x.size() % 2 ? exponent(rng) : exponent(rng) / 5);
    x.push_back(x.size() % 3 ? v : -v);
  }
  for (DType d : {DType::f16, DType::bf16}) {
    const Kernel k = tl::kernel(
        d == DType::f16 ? "narrow_f16" : "narrow_bf16",
        [d](tl::Ptr out, tl::PtrOf<float> in, tl::Const<int> n) {
          auto offs = tl::arange(0, n);
          tl::store(out + offs, tl::load(in + offs).to(d == DType::f16 ? tl::f16 : tl::bf16));
        });
    auto module = testing::trace_dsl(k, {B}, d);
    CompiledKernel ck =
        compile(*module->functions.front(), parse_target(GetParam()), {}, Stage::Ptx);
    EXPECT_NE(ck.ptx.find(d == DType::f16 ? "cvt.rn.f16x2.f32" : "cvt.rn.bf16x2.f32"),
              std::string::npos)
        << ck.ptx;
    Sim s;
    std::vector<float> poison(B / 2 + 4);
    std::memset(poison.data(), 0xA5, poison.size() * 4);
    uint64_t din = s.upload(x), dout = s.upload(poison);
    EXPECT_EQ(s.run(ck, {1, 1, 1}, {KernelArg::ptr(dout), KernelArg::ptr(din)}), 0u);
    std::vector<float> words = s.download(dout, B / 2);
    std::vector<uint16_t> got(B);
    std::memcpy(got.data(), words.data(), B * 2);
    for (int i = 0; i < B; ++i) {
      const uint16_t want = d == DType::f16 ? float_to_half(x[i]) : float_to_bfloat16(x[i]);
      const float back = d == DType::f16 ? half_to_float(got[i]) : bfloat16_to_float(got[i]);
      if (std::isnan(x[i]))
        EXPECT_TRUE(std::isnan(back)) << i;
      else
        ASSERT_EQ(got[i], want) << (d == DType::f16 ? "f16" : "bf16") << " of " << x[i] << " at "
                                << i;
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Gpu, SimOnTarget, ::testing::Values("sm_80", "sm_90a"));

} // namespace
} // namespace tessel::codegen::gpu
