// Dots on tensor cores, executed: DSL dot kernels of each operand type (f16 and bf16 into f32, f16
// into f16, f32 as tf32, i8 into i32) at tile shapes from one instruction (16x8x16) to 128x128x32,
// on 1 to 8 warps, compiled for sm_80 and sm_90a, run in the PTX simulator (memcheck and
// racecheck on) against a reference in f64, outputs poisoned first. Each run must use mma.sync
// (and ldmatrix for 16-bit operands) -- or, on sm_90a, wgmma.mma_async for the f16/bf16 tiles
// wgmma takes (docs/gpu_codegen.md, "Hopper: wgmma") -- and have no bank conflicts in the
// simulator's profile.
#include "gpu_test_util.h"
#include "ptx_count.h"

#include "tessel/codegen/gpu.h"
#include "tessel/ir/parser.h"

#include <tessel/sim/sim.h>

#include <fmt/format.h>

#include <bit>
#include <cmath>
#include <cstring>
#include <fstream>
#include <random>
#include <sstream>

namespace tessel::codegen::gpu {
namespace {

namespace tl = tessel::lang;
using sim::KernelArg;

// c[M, N] = a[M, K] . b[K, N], row-major, f32 out (f16/bf16/f32 operands).
const Kernel& dot_f32() {
  static const Kernel k =
      tl::kernel("mma_dot_f32", [](tl::PtrOf<float> c, tl::Ptr a, tl::Ptr b, tl::Const<int> M,
                                   tl::Const<int> N, tl::Const<int> K) {
        auto rm = tl::expand_dims(tl::arange(0, M), 1);
        auto rn = tl::expand_dims(tl::arange(0, N), 0);
        auto rk = tl::arange(0, K);
        auto x = tl::load(a + rm * K + tl::expand_dims(rk, 0));
        auto y = tl::load(b + tl::expand_dims(rk, 1) * N + rn);
        tl::store(c + rm * N + rn, tl::dot(x, y));
      });
  return k;
}

// The same with an f16 accumulator and output.
const Kernel& dot_f16_acc() {
  static const Kernel k =
      tl::kernel("mma_dot_f16_acc", [](tl::Ptr c, tl::Ptr a, tl::Ptr b, tl::Const<int> M,
                                       tl::Const<int> N, tl::Const<int> K) {
        auto rm = tl::expand_dims(tl::arange(0, M), 1);
        auto rn = tl::expand_dims(tl::arange(0, N), 0);
        auto rk = tl::arange(0, K);
        auto x = tl::load(a + rm * K + tl::expand_dims(rk, 0));
        auto y = tl::load(b + tl::expand_dims(rk, 1) * N + rn);
        tl::store(c + rm * N + rn, tl::dot(x, y, tl::zeros({M, N}, DType::f16)));
      });
  return k;
}

// i8 operands, i32 out.
const Kernel& dot_i8() {
  static const Kernel k =
      tl::kernel("mma_dot_i8", [](tl::PtrOf<int32_t> c, tl::Ptr a, tl::Ptr b, tl::Const<int> M,
                                  tl::Const<int> N, tl::Const<int> K) {
        auto rm = tl::expand_dims(tl::arange(0, M), 1);
        auto rn = tl::expand_dims(tl::arange(0, N), 0);
        auto rk = tl::arange(0, K);
        auto x = tl::load(a + rm * K + tl::expand_dims(rk, 0));
        auto y = tl::load(b + tl::expand_dims(rk, 1) * N + rn);
        tl::store(c + rm * N + rn, tl::dot(x, y));
      });
  return k;
}

struct Case {
  DType dtype;  // operands
  bool f16_acc; // f16 accumulator (dot_f16_acc) instead of f32 / i32
  int m, n, k, warps;
};

std::string case_name(const Case& c) {
  return fmt::format("{}{}_{}x{}x{}_w{}", dtype_name(c.dtype), c.f16_acc ? "_f16acc" : "", c.m, c.n,
                     c.k, c.warps);
}

// Operand values: multiples of 1/8 in [-2, 2] for the 16-bit types (exact in f16 and bf16, and so
// are their products and sums in f32), any float for tf32, any i8.
std::vector<double> values(DType t, size_t n, uint32_t seed) {
  std::mt19937 rng(seed);
  std::vector<double> v(n);
  for (double& x : v) {
    if (t == DType::i8)
      x = static_cast<int>(rng() % 256) - 128;
    else if (t == DType::f32)
      x = std::uniform_real_distribution<float>(-2, 2)(rng);
    else
      x = (static_cast<int>(rng() % 33) - 16) / 8.0;
  }
  return v;
}

std::vector<uint8_t> encode(DType t, const std::vector<double>& v) {
  std::vector<uint8_t> out;
  for (double x : v) {
    uint8_t bytes[4];
    size_t n = 0;
    switch (t) {
    case DType::f16: {
      uint16_t h = float_to_half(static_cast<float>(x));
      std::memcpy(bytes, &h, 2);
      n = 2;
      break;
    }
    case DType::bf16: {
      uint16_t h = float_to_bfloat16(static_cast<float>(x));
      std::memcpy(bytes, &h, 2);
      n = 2;
      break;
    }
    case DType::f32: {
      float f = static_cast<float>(x);
      std::memcpy(bytes, &f, 4);
      n = 4;
      break;
    }
    case DType::i8:
      bytes[0] = static_cast<uint8_t>(static_cast<int8_t>(x));
      n = 1;
      break;
    default:
      ADD_FAILURE() << "no encoding";
      break;
    }
    out.insert(out.end(), bytes, bytes + n);
  }
  return out;
}

// f32 rounded to tf32: to nearest, ties away from zero (cvt.rna.tf32.f32).
double tf32(double x) {
  uint32_t bits = std::bit_cast<uint32_t>(static_cast<float>(x));
  return std::bit_cast<float>((bits + 0x1000u) & 0xffffe000u);
}

// f32 truncated to tf32, as wgmma reads an f32 word from shared memory (its top 19 bits).
double tf32_truncated(double x) {
  return std::bit_cast<float>(std::bit_cast<uint32_t>(static_cast<float>(x)) & 0xffffe000u);
}

// The wgmma rule for these cases, written out: sm_90a, f16, bf16, tf32 (f32 cases) or i8 into a
// 32-bit accumulator, whole warpgroups, 64 rows or more per warpgroup (the 8-warp cases are 128
// rows high), K a multiple of the instruction's (16, 8, 32).
bool runs_on_wgmma(const std::string& target, const Case& c) {
  const int k = c.dtype == DType::f32 ? 8 : c.dtype == DType::i8 ? 32 : 16;
  return target == "sm_90a" && !c.f16_acc && c.warps % 4 == 0 && c.m >= 64 * (c.warps / 4) &&
         c.k % k == 0;
}

class MmaSim : public ::testing::TestWithParam<std::tuple<const char*, Case>> {};

TEST_P(MmaSim, MatchesTheReference) {
  TESSEL_REQUIRE_CUDA_TOOLKIT();
  const auto& [target, c] = GetParam();
  const Kernel& kernel = c.dtype == DType::i8 ? dot_i8() : c.f16_acc ? dot_f16_acc() : dot_f32();
  auto module = testing::trace_dsl(kernel, {c.m, c.n, c.k}, c.dtype);
  CompileOptions options;
  options.num_warps = c.warps;
  CompiledKernel ck = compile(*module->functions.front(), parse_target(target), options);
  EXPECT_EQ(ck.resources.spill_stores, 0);
  PtxStats stats = ptx_stats(ck.ptx);
  const bool on_wgmma = runs_on_wgmma(target, c);
  if (on_wgmma) {
    EXPECT_GT(stats.get("wgmma.mma_async"), 0) << ck.ptx;
    EXPECT_EQ(stats.get("mma"), 0);
    EXPECT_EQ(stats.get("ldmatrix"), 0);
  } else {
    EXPECT_GT(stats.get("mma"), 0) << ck.ptx;
    if (c.dtype == DType::f16 || c.dtype == DType::bf16) {
      EXPECT_GT(stats.get("ldmatrix"), 0);
    }
    if (c.dtype == DType::i8) { // a (K contiguous) as b16 pairs; b (N contiguous) paired:
      // ldmatrix.trans and one prmt per register (byte_transpose.h), no byte loads
      EXPECT_GT(count_in_ptx(ck.ptx, "ldmatrix.sync.aligned.m8n8.x4.shared.b16"), 0u) << ck.ptx;
      EXPECT_GT(count_in_ptx(ck.ptx, "ldmatrix.sync.aligned.m8n8.x4.trans.shared.b16"), 0u);
      EXPECT_GT(stats.get("prmt"), 0);
      EXPECT_EQ(count_in_ptx(ck.ptx, "ld.shared.u8"), 0u);
    }
  }

  const auto a = values(c.dtype, size_t(c.m) * c.k, 1), b = values(c.dtype, size_t(c.k) * c.n, 2);
  sim::Device dev;
  auto upload = [&](const std::vector<uint8_t>& bytes) {
    auto p = dev.malloc(bytes.size() + 16);
    EXPECT_TRUE(p.ok());
    EXPECT_TRUE(dev.memcpy_to_device(*p, bytes.data(), bytes.size()).ok());
    return *p;
  };
  const size_t out_bytes = size_t(c.m) * c.n * (c.f16_acc ? 2 : 4);
  const uint64_t da = upload(encode(c.dtype, a)), db = upload(encode(c.dtype, b));
  const uint64_t dc = upload(std::vector<uint8_t>(out_bytes, 0xff)); // poison: NaN / -1
  const std::vector<KernelArg> args = {KernelArg::ptr(dc), KernelArg::ptr(da), KernelArg::ptr(db)};
  auto r = dev.launch(ck.ptx, ck.name, sim::Dim3{1, 1, 1}, sim::Dim3{uint32_t(32 * c.warps), 1, 1},
                      static_cast<uint32_t>(ck.shared_bytes), args);
  ASSERT_TRUE(r.ok()) << r.error().to_string();
  for (const auto& e : r->errors)
    ADD_FAILURE() << e.to_string();
  EXPECT_EQ(r->profile.total_bank_conflicts(), 0u) << r->profile.to_string();

  std::vector<uint8_t> got(out_bytes);
  ASSERT_TRUE(dev.memcpy_to_host(got.data(), dc, out_bytes).ok());
  for (int i = 0; i < c.m; ++i)
    for (int j = 0; j < c.n; ++j) {
      double want = 0, magnitude = 0;
      for (int kk = 0; kk < c.k; ++kk) {
        double x = a[size_t(i) * c.k + kk], y = b[size_t(kk) * c.n + j];
        if (c.dtype == DType::f32) { // mma.sync rounds (cvt.rna), wgmma truncates
          x = on_wgmma ? tf32_truncated(x) : tf32(x);
          y = on_wgmma ? tf32_truncated(y) : tf32(y);
        }
        want += x * y;
        magnitude += std::fabs(x * y);
      }
      const size_t at = size_t(i) * c.n + j;
      double have;
      if (c.f16_acc) {
        uint16_t h;
        std::memcpy(&h, got.data() + 2 * at, 2);
        have = half_to_float(h);
      } else if (c.dtype == DType::i8) {
        int32_t v;
        std::memcpy(&v, got.data() + 4 * at, 4);
        have = v;
      } else {
        float f;
        std::memcpy(&f, got.data() + 4 * at, 4);
        have = f;
      }
      // Exact for i8 and the 16-bit types (see `values`); tf32: f32 sums of exact products.
      const double tol = c.dtype == DType::f32 ? 1e-6 * magnitude : 0;
      ASSERT_NEAR(have, want, tol) << case_name(c) << " at (" << i << ", " << j << ")";
    }
}

// i8 operands with b stored N x K (K contiguous, as a transposed weight): both operands are then
// read with ldmatrix as b16 pairs, no byte reads (docs/gpu_codegen.md, "8-bit operands").
const Kernel& dot_i8_bt() {
  static const Kernel k =
      tl::kernel("mma_dot_i8_bt", [](tl::PtrOf<int32_t> c, tl::Ptr a, tl::Ptr bt, tl::Const<int> M,
                                     tl::Const<int> N, tl::Const<int> K) {
        auto rm = tl::expand_dims(tl::arange(0, M), 1);
        auto rn = tl::expand_dims(tl::arange(0, N), 0);
        auto rk = tl::arange(0, K);
        auto x = tl::load(a + rm * K + tl::expand_dims(rk, 0));
        auto y = tl::load(bt + rn * K + tl::expand_dims(rk, 1)); // y[k][n] = bt[n][k]
        tl::store(c + rm * N + rn, tl::dot(x, y));
      });
  return k;
}

TEST(MmaSimI8, BStoredAlongKIsReadWithLdmatrix) {
  TESSEL_REQUIRE_CUDA_TOOLKIT();
  const int m = 64, n = 64, k = 64, warps = 4;
  auto module = testing::trace_dsl(dot_i8_bt(), {m, n, k}, DType::i8);
  CompileOptions options;
  options.num_warps = warps;
  CompiledKernel ck = compile(*module->functions.front(), parse_target("sm_80"), options);
  EXPECT_EQ(ck.resources.spill_stores, 0);
  EXPECT_GT(ptx_stats(ck.ptx).get("mma"), 0);
  EXPECT_GT(count_in_ptx(ck.ptx, "ldmatrix.sync.aligned.m8n8.x4.shared.b16"), 0u);
  EXPECT_EQ(count_in_ptx(ck.ptx, "ld.shared.u8"), 0u) << ck.ptx;
  const auto a = values(DType::i8, size_t(m) * k, 1), bt = values(DType::i8, size_t(n) * k, 2);
  sim::Device dev;
  auto upload = [&](const std::vector<uint8_t>& bytes) {
    auto p = dev.malloc(bytes.size() + 16);
    EXPECT_TRUE(p.ok());
    EXPECT_TRUE(dev.memcpy_to_device(*p, bytes.data(), bytes.size()).ok());
    return *p;
  };
  const uint64_t da = upload(encode(DType::i8, a)), db = upload(encode(DType::i8, bt));
  const uint64_t dc = upload(std::vector<uint8_t>(size_t(m) * n * 4, 0xff)); // poison: -1
  const std::vector<KernelArg> args = {KernelArg::ptr(dc), KernelArg::ptr(da), KernelArg::ptr(db)};
  auto r = dev.launch(ck.ptx, ck.name, sim::Dim3{1, 1, 1}, sim::Dim3{uint32_t(32 * warps), 1, 1},
                      static_cast<uint32_t>(ck.shared_bytes), args);
  ASSERT_TRUE(r.ok()) << r.error().to_string();
  for (const auto& e : r->errors)
    ADD_FAILURE() << e.to_string();
  EXPECT_EQ(r->profile.total_bank_conflicts(), 0u) << r->profile.to_string();
  std::vector<int32_t> got(size_t(m) * n);
  ASSERT_TRUE(dev.memcpy_to_host(got.data(), dc, got.size() * 4).ok());
  for (int i = 0; i < m; ++i)
    for (int j = 0; j < n; ++j) {
      int64_t want = 0;
      for (int kk = 0; kk < k; ++kk)
        want += int64_t(a[size_t(i) * k + kk]) * int64_t(bt[size_t(j) * k + kk]);
      ASSERT_EQ(got[size_t(i) * n + j], want) << "(" << i << ", " << j << ")";
    }
}

const Case kCases[] = {
    {DType::f16, false, 16, 8, 16, 1},
    {DType::f16, false, 16, 8, 16, 2},
    {DType::f16, false, 32, 32, 32, 4},
    {DType::f16, false, 64, 64, 32, 4},
    {DType::f16, false, 64, 32, 64, 2},
    {DType::f16, false, 128, 128, 32, 8},
    {DType::bf16, false, 16, 8, 16, 1},
    {DType::bf16, false, 64, 64, 32, 4},
    {DType::bf16, false, 128, 64, 16, 8},
    {DType::f16, true, 16, 8, 16, 1},
    {DType::f16, true, 64, 64, 32, 4},
    {DType::f32, false, 16, 8, 8, 1},
    {DType::f32, false, 64, 64, 32, 4},
    {DType::i8, false, 32, 32, 32, 2},
    {DType::i8, false, 64, 64, 64, 4},
    // wgmma on sm_90a: m64n128 (4 k-steps), two m64 along M, n16 (32-byte swizzle of B), n8
    // (B too narrow for N-major: stored K-major), n256 (128 accumulators a thread).
    {DType::f16, false, 64, 128, 64, 4},
    {DType::bf16, false, 128, 64, 32, 4},
    {DType::f16, false, 64, 16, 16, 4},
    {DType::bf16, false, 64, 8, 32, 4},
    {DType::f16, false, 64, 256, 16, 4},
};

INSTANTIATE_TEST_SUITE_P(Tiles, MmaSim,
                         ::testing::Combine(::testing::Values("sm_80", "sm_90a"),
                                            ::testing::ValuesIn(kCases)),
                         [](const auto& info) {
                           return std::string(std::get<0>(info.param)) + "_" +
                                  case_name(std::get<1>(info.param));
                         });

// Column-major operands: a stored K-major (a[k * M + m]) and b N-major (b[n * K + k]). The loads'
// blocked layouts then run along M and K, the buffers are contiguous along those dimensions, and
// ldmatrix reads A with .trans and B without.
// Runs the column-major kernel for `target` and checks it against the product; the PTX checks
// are the caller's.
CompiledKernel run_col_major(const char* target);

TEST(MmaSimColumnMajor, TransposedOperandsUseTheOtherLdmatrix) {
  TESSEL_REQUIRE_CUDA_TOOLKIT();
  CompiledKernel ck = run_col_major("sm_80");
  EXPECT_NE(ck.ptx.find("ldmatrix.sync.aligned.m8n8.x4.trans.shared.b16"), std::string::npos);
  EXPECT_NE(ck.ptx.find("ldmatrix.sync.aligned.m8n8.x4.shared.b16"), std::string::npos);
}

// On sm_90a the same dot runs on wgmma: A stored M-major (imm-trans-a = 1, 128-byte rows along M),
// B K-major (imm-trans-b = 0, 64-byte rows along K).
TEST(MmaSimColumnMajor, TransposedOperandsOnWgmma) {
  TESSEL_REQUIRE_CUDA_TOOLKIT();
  CompiledKernel ck = run_col_major("sm_90a");
  EXPECT_NE(ck.ptx.find("wgmma.mma_async.sync.aligned.m64n32k16.f32.f16.f16"), std::string::npos);
  EXPECT_NE(ck.ptx.find("p, 1, 1, 1, 0;"), std::string::npos) << "trans-a 1, trans-b 0";
  EXPECT_EQ(ck.ptx.find("ldmatrix"), std::string::npos);
}

CompiledKernel run_col_major(const char* target) {
  static const Kernel kernel =
      tl::kernel("mma_col_major", [](tl::PtrOf<float> c, tl::Ptr a, tl::Ptr b, tl::Const<int> M,
                                     tl::Const<int> N, tl::Const<int> K) {
        auto rm = tl::expand_dims(tl::arange(0, M), 1);
        auto rn = tl::expand_dims(tl::arange(0, N), 0);
        auto rk = tl::arange(0, K);
        auto x = tl::load(a + tl::expand_dims(rk, 0) * M + rm);
        auto y = tl::load(b + rn * K + tl::expand_dims(rk, 1));
        tl::store(c + rm * N + rn, tl::dot(x, y));
      });
  const int m = 64, n = 32, k = 32;
  auto module = testing::trace_dsl(kernel, {m, n, k}, DType::f16);
  CompileOptions options;
  options.num_warps = 4;
  CompiledKernel ck = compile(*module->functions.front(), parse_target(target), options);
  EXPECT_EQ(ck.resources.spill_stores, 0);
  const auto a = values(DType::f16, m * k, 10), b = values(DType::f16, k * n, 11);
  sim::Device dev;
  auto upload = [&](const std::vector<uint8_t>& bytes) {
    auto p = dev.malloc(bytes.size() + 16);
    EXPECT_TRUE(p.ok());
    EXPECT_TRUE(dev.memcpy_to_device(*p, bytes.data(), bytes.size()).ok());
    return *p;
  };
  const uint64_t da = upload(encode(DType::f16, a)), db = upload(encode(DType::f16, b));
  const uint64_t dc = upload(std::vector<uint8_t>(m * n * 4, 0xff));
  const std::vector<KernelArg> args = {KernelArg::ptr(dc), KernelArg::ptr(da), KernelArg::ptr(db)};
  auto r = dev.launch(ck.ptx, ck.name, sim::Dim3{1, 1, 1}, sim::Dim3{128, 1, 1},
                      static_cast<uint32_t>(ck.shared_bytes), args);
  if (!r.ok()) {
    ADD_FAILURE() << r.error().to_string();
    return ck;
  }
  for (const auto& e : r->errors)
    ADD_FAILURE() << e.to_string();
  EXPECT_EQ(r->profile.total_bank_conflicts(), 0u) << r->profile.to_string();
  std::vector<float> got(m * n);
  EXPECT_TRUE(dev.memcpy_to_host(got.data(), dc, got.size() * 4).ok());
  for (int i = 0; i < m; ++i)
    for (int j = 0; j < n; ++j) {
      double want = 0;
      for (int p = 0; p < k; ++p)
        want += a[size_t(p) * m + i] * b[size_t(j) * k + p];
      if (got[size_t(i) * n + j] != want) {
        ADD_FAILURE() << target << ": " << got[size_t(i) * n + j] << " at (" << i << ", " << j
                      << "), want " << want;
        return ck;
      }
    }
  return ck;
}

// precision tf32x3: three tf32 mma.sync per product (hi*lo, lo*hi, hi*hi), nearly f32 accuracy.
TEST(MmaSimTf32x3, NearlyF32Accurate) {
  TESSEL_REQUIRE_CUDA_TOOLKIT();
  static const Kernel kernel =
      tl::kernel("mma_tf32x3", [](tl::PtrOf<float> c, tl::Ptr a, tl::Ptr b, tl::Const<int> M,
                                  tl::Const<int> N, tl::Const<int> K) {
        auto rm = tl::expand_dims(tl::arange(0, M), 1);
        auto rn = tl::expand_dims(tl::arange(0, N), 0);
        auto rk = tl::arange(0, K);
        auto x = tl::load(a + rm * K + tl::expand_dims(rk, 0));
        auto y = tl::load(b + tl::expand_dims(rk, 1) * N + rn);
        tl::store(c + rm * N + rn, tl::dot(x, y, tl::Precision::tf32x3));
      });
  const int m = 64, n = 64, k = 32;
  auto module = testing::trace_dsl(kernel, {m, n, k}, DType::f32);
  CompileOptions options;
  options.num_warps = 4;
  CompiledKernel ck = compile(*module->functions.front(), parse_target("sm_80"), options);
  EXPECT_EQ(ck.resources.spill_stores, 0);
  // Per warp (2x2 warps of 32x32): 2 x 4 instructions along M and N, 4 along K, three each.
  EXPECT_EQ(ptx_stats(ck.ptx).get("mma"), 3 * 2 * 4 * 4);
  const auto a = values(DType::f32, m * k, 8), b = values(DType::f32, k * n, 9);
  sim::Device dev;
  auto upload = [&](const std::vector<uint8_t>& bytes) {
    auto p = dev.malloc(bytes.size() + 16);
    EXPECT_TRUE(p.ok());
    EXPECT_TRUE(dev.memcpy_to_device(*p, bytes.data(), bytes.size()).ok());
    return *p;
  };
  const uint64_t da = upload(encode(DType::f32, a)), db = upload(encode(DType::f32, b));
  const uint64_t dc = upload(std::vector<uint8_t>(m * n * 4, 0xff));
  const std::vector<KernelArg> args = {KernelArg::ptr(dc), KernelArg::ptr(da), KernelArg::ptr(db)};
  auto r = dev.launch(ck.ptx, ck.name, sim::Dim3{1, 1, 1}, sim::Dim3{128, 1, 1},
                      static_cast<uint32_t>(ck.shared_bytes), args);
  ASSERT_TRUE(r.ok()) << r.error().to_string();
  for (const auto& e : r->errors)
    ADD_FAILURE() << e.to_string();
  std::vector<float> got(m * n);
  ASSERT_TRUE(dev.memcpy_to_host(got.data(), dc, got.size() * 4).ok());
  double worst = 0, worst_tf32 = 0;
  for (int i = 0; i < m; ++i)
    for (int j = 0; j < n; ++j) {
      double exact = 0, rounded = 0;
      for (int p = 0; p < k; ++p) {
        exact += a[size_t(i) * k + p] * b[size_t(p) * n + j];
        rounded += tf32(a[size_t(i) * k + p]) * tf32(b[size_t(p) * n + j]);
      }
      worst = std::max(worst, std::fabs(got[size_t(i) * n + j] - exact));
      worst_tf32 = std::max(worst_tf32, std::fabs(rounded - exact));
    }
  EXPECT_LT(worst, 1e-5) << "tf32x3 should be close to f32";
  EXPECT_LT(worst * 20, worst_tf32) << "tf32x3 no better than tf32";
}

// A K loop carrying the accumulator (in #mma across iterations), masked ragged edges: f16
// operands of an M x K and K x N matrix, BM x BN x BK tiles, one program per output tile.
const Kernel& looped_f16() {
  static const Kernel k = tl::kernel(
      "mma_looped", [](tl::PtrOf<float> c, tl::Ptr a, tl::Ptr b, tl::Int M, tl::Int N, tl::Int K,
                       tl::Const<int> BM, tl::Const<int> BN, tl::Const<int> BK) {
        auto rm = tl::program_id(0) * BM + tl::arange(0, BM);
        auto rn = tl::program_id(1) * BN + tl::arange(0, BN);
        auto rk = tl::arange(0, BK);
        auto row = tl::expand_dims(rm, 1);
        auto col = tl::expand_dims(rn, 0);
        auto acc = tl::zeros({BM, BN}, tl::f32);
        tl::for_range(0, K, BK, [&](tl::Int k) {
          auto ka = tl::expand_dims(k + rk, 0);
          auto kb = tl::expand_dims(k + rk, 1);
          auto x = tl::load(a + row * K + ka, (row < M) & (ka < K), 0.0);
          auto y = tl::load(b + kb * N + col, (kb < K) & (col < N), 0.0);
          acc = tl::dot(x, y, acc);
        });
        tl::store(c + row * N + col, acc, (row < M) & (col < N));
      });
  return k;
}

TEST(MmaSimLoop, RaggedF16MatmulWithACarriedAccumulator) {
  TESSEL_REQUIRE_CUDA_TOOLKIT();
  const int m = 50, n = 40, k = 88, bm = 32, bn = 32, bk = 32, warps = 4; // 3 K steps, last partial
  std::vector<lang::ParamBinding> bind(9);
  bind[0].dtype = DType::f32;
  bind[1].dtype = bind[2].dtype = DType::f16;
  for (int i = 0; i < 3; ++i)
    bind[i].divisibility = 16;
  for (int i = 3; i < 6; ++i)
    bind[i].divisibility = 1; // 50, 40, 88: not multiples of 16
  for (auto [i, v] : {std::pair{6, bm}, {7, bn}, {8, bk}})
    bind[i].const_int = v;
  auto module = lang::trace(looped_f16().def(), bind);
  ir::PassManager pm(/*verify_each=*/true);
  codegen::add_default_pipeline(pm);
  pm.run(*module);
  CompileOptions options;
  options.num_warps = warps;
  CompiledKernel ck = compile(*module->functions.front(), parse_target("sm_80"), options);
  EXPECT_EQ(ck.resources.spill_stores, 0);
  EXPECT_GT(ptx_stats(ck.ptx).get("ldmatrix"), 0);

  const auto a = values(DType::f16, size_t(m) * k, 3), b = values(DType::f16, size_t(k) * n, 4);
  sim::Device dev;
  auto upload = [&](const std::vector<uint8_t>& bytes) {
    auto p = dev.malloc(bytes.size() + 16);
    EXPECT_TRUE(p.ok());
    EXPECT_TRUE(dev.memcpy_to_device(*p, bytes.data(), bytes.size()).ok());
    return *p;
  };
  const uint64_t da = upload(encode(DType::f16, a)), db = upload(encode(DType::f16, b));
  const uint64_t dc = upload(std::vector<uint8_t>(size_t(m) * n * 4, 0xff));
  const std::vector<KernelArg> args = {KernelArg::ptr(dc), KernelArg::ptr(da), KernelArg::ptr(db),
                                       KernelArg::i32(m),  KernelArg::i32(n),  KernelArg::i32(k)};
  auto r = dev.launch(ck.ptx, ck.name, sim::Dim3{(m + bm - 1) / bm, (n + bn - 1) / bn, 1},
                      sim::Dim3{uint32_t(32 * warps), 1, 1}, static_cast<uint32_t>(ck.shared_bytes),
                      args);
  ASSERT_TRUE(r.ok()) << r.error().to_string();
  for (const auto& e : r->errors)
    ADD_FAILURE() << e.to_string();
  EXPECT_EQ(r->profile.total_bank_conflicts(), 0u) << r->profile.to_string();
  std::vector<float> got(size_t(m) * n);
  ASSERT_TRUE(dev.memcpy_to_host(got.data(), dc, got.size() * 4).ok());
  for (int i = 0; i < m; ++i)
    for (int j = 0; j < n; ++j) {
      double want = 0;
      for (int p = 0; p < k; ++p)
        want += a[size_t(i) * k + p] * b[size_t(p) * n + j];
      ASSERT_EQ(got[size_t(i) * n + j], want) << "(" << i << ", " << j << ")";
    }
}

// The software pipeliner's form, emitted and run: prepare_dot_operands_pipelined.tir (operand A
// already a local_load of a plain #shared buffer, retyped by the pass to the swizzle and #dot_op)
// through prepare-dot-operands, cse, allocate-shared and the emission, against the same product.
TEST(MmaSimPipelinedForm, RetypedLocalLoadOperandRuns) {
  TESSEL_REQUIRE_CUDA_TOOLKIT();
  std::ifstream in(std::string(TESSEL_SOURCE_DIR) +
                   "/tests/gpu/prepare_dot_operands_pipelined.tir");
  ASSERT_TRUE(in) << "source tree not found";
  std::stringstream text;
  text << in.rdbuf();
  auto module = ir::parse_module(text.str(), "prepare_dot_operands_pipelined.tir");
  CompiledKernel ck = compile(*module->functions.front(), parse_target("sm_80"), {}, Stage::Ptx);
  EXPECT_GT(ptx_stats(ck.ptx).get("ldmatrix"), 0);
  const int n = 32;
  const auto a = values(DType::f16, n * n, 5), b = values(DType::f16, n * n, 6);
  sim::Device dev;
  auto upload = [&](const std::vector<uint8_t>& bytes) {
    auto p = dev.malloc(bytes.size() + 16);
    EXPECT_TRUE(p.ok());
    EXPECT_TRUE(dev.memcpy_to_device(*p, bytes.data(), bytes.size()).ok());
    return *p;
  };
  const uint64_t da = upload(encode(DType::f16, a)), db = upload(encode(DType::f16, b));
  const uint64_t dc = upload(std::vector<uint8_t>(n * n * 4, 0xff));
  const std::vector<KernelArg> args = {KernelArg::ptr(dc), KernelArg::ptr(da), KernelArg::ptr(db)};
  auto r = dev.launch(ck.ptx, ck.name, sim::Dim3{1, 1, 1}, sim::Dim3{128, 1, 1},
                      static_cast<uint32_t>(ck.shared_bytes), args);
  ASSERT_TRUE(r.ok()) << r.error().to_string();
  for (const auto& e : r->errors)
    ADD_FAILURE() << e.to_string();
  EXPECT_EQ(r->profile.total_bank_conflicts(), 0u) << r->profile.to_string();
  std::vector<float> got(n * n);
  ASSERT_TRUE(dev.memcpy_to_host(got.data(), dc, got.size() * 4).ok());
  for (int i = 0; i < n; ++i)
    for (int j = 0; j < n; ++j) {
      double want = 0;
      for (int p = 0; p < n; ++p)
        want += a[size_t(i) * n + p] * b[size_t(p) * n + j];
      ASSERT_EQ(got[size_t(i) * n + j], want) << "(" << i << ", " << j << ")";
    }
}

// The matmul sample (a K loop carrying the accumulator) for sm_80 and sm_90a through nvJitLink:
// mma.sync in the loop, ldmatrix for f16 operands (on sm_90a f16 and the f32 sample's tf32 dot
// run on wgmma instead: wgmma_ptx_test.cpp), no spills, no local memory.
TEST(MmaPtx, MatmulSampleRunsOnTensorCores) {
  TESSEL_REQUIRE_CUDA_TOOLKIT();
  for (const char* target : {"sm_80", "sm_90a"})
    for (const std::vector<std::string>& defines :
         {std::vector<std::string>{}, std::vector<std::string>{"DTYPE=f16", "BLOCK_K=32"}}) {
      SCOPED_TRACE(fmt::format("{} {}", target, fmt::join(defines, " ")));
      CompiledKernel k = testing::compile_sample("matmul", target, defines);
      EXPECT_TRUE(k.resources.parsed) << k.info_log;
      EXPECT_EQ(k.resources.spill_stores, 0);
      PtxStats s = ptx_stats(k.ptx);
      EXPECT_EQ(s.get("local"), 0);
      const bool wgmma = std::string(target) == "sm_90a";
      EXPECT_GT(s.get(wgmma ? "wgmma.mma_async" : "mma"), 0);
      EXPECT_EQ(s.get("fma"), 0) << "the dot should not fall back to FMA";
      if (!defines.empty() && !wgmma) {
        EXPECT_GT(s.get("ldmatrix"), 0);
      }
    }
}

} // namespace
} // namespace tessel::codegen::gpu
