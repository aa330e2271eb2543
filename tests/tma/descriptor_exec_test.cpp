// Tensor-descriptor kernels run on every backend — the CPU, and the simulated device compiled for
// sm_80 and for sm_90a — against plain C++ references: a 2-D copy, a copy shifted by negative
// offsets, a tiled transpose, a 3-D f16 elementwise kernel and NaN padding. Every shape is ragged
// (boxes hang over the tensor's end), rows are padded so that the outer strides are multiples of
// 16 bytes, and outputs are poisoned first: the padding columns beyond `n` must keep the poison
// (stores are clipped) and out-of-bounds box elements must read as zero (or NaN).
#include "device/backend_buffers.h"
#include "runtime/sim_device.h"
#include "tessel/tessel.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstdlib>
#include <random>
#include <string>
#include <vector>

namespace tessel::testing {
namespace {

namespace tl = tessel::lang;

constexpr float kPoison = -12345.0f;

// Where a test runs: the CPU, or the simulated device compiled for one GPU target.
struct Backend {
  DeviceKind where;
  const char* sim_target; // TESSEL_SIM_TARGET for the simulated device
  std::string name() const { return where == DeviceKind::cpu ? "cpu" : std::string(sim_target); }
};

std::vector<Backend> backends() {
  std::vector<Backend> out{{DeviceKind::cpu, ""}};
  for (DeviceKind k : cpu_and_sim())
    if (k == DeviceKind::sim) {
      out.push_back({DeviceKind::sim, "sm_80"});
      out.push_back({DeviceKind::sim, "sm_90a"});
    }
  return out;
}

class DescriptorExec : public ::testing::TestWithParam<Backend> {
protected:
  void SetUp() override {
    if (GetParam().where == DeviceKind::sim)
      setenv("TESSEL_SIM_TARGET", GetParam().sim_target, /*overwrite=*/1);
  }
  void TearDown() override { unsetenv("TESSEL_SIM_TARGET"); }
  LaunchOptions options() const { return on(GetParam().where); }
};

std::vector<float> random_floats(size_t n, uint32_t seed) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> u(-4.0f, 4.0f);
  std::vector<float> v(n);
  for (float& x : v)
    x = u(rng);
  return v;
}

int64_t cdiv(int64_t a, int64_t b) { return (a + b - 1) / b; }

// out = in through two descriptors of the same [m, n] tensor with row stride ld. A new Kernel per
// test (from before TESSEL_SIM_TARGET was part of a kernel's key: tests/jit/sim_target_key_test).
Kernel copy_kernel() {
  return tl::kernel("desc_copy", "out, in, m, n, ld, BM, BN",
                    [](tl::Ptr out, tl::Ptr in, tl::Int m, tl::Int n, tl::Int ld, tl::Const<int> BM,
                       tl::Const<int> BN) {
                      auto src = tl::make_tensor_descriptor(in, {m, n}, {ld, 1}, {BM, BN});
                      auto dst = tl::make_tensor_descriptor(out, {m, n}, {ld, 1}, {BM, BN});
                      auto r = tl::program_id(0) * BM, c = tl::program_id(1) * BN;
                      dst.store({r, c}, src.load({r, c}));
                    });
}

TEST_P(DescriptorExec, RaggedCopy) {
  const int64_t m = 77, n = 45, ld = 48, bm = 16, bn = 32; // 48 f32 = 192 bytes per row
  auto in_host = random_floats(size_t(m * ld), 1);
  Buffer<float> in(GetParam().where, in_host);
  Buffer<float> out(GetParam().where, std::vector<float>(size_t(m * ld), kPoison));
  if (GetParam().where == DeviceKind::sim) { // the same specialization goes through TMA on sm_90a
    CompileResult r = copy_kernel().compile(
        Target::parse(GetParam().sim_target),
        Signature::from_args(out.view(), in.view(), int(m), int(n), int(ld), int(bm), int(bn)));
    EXPECT_EQ(r.tensor_maps, std::string(GetParam().sim_target) == "sm_90a" ? 2 : 0);
  }
  const runtime::simdev::BankTally before = runtime::simdev::bank_tally();
  copy_kernel().launch({cdiv(m, bm), cdiv(n, bn)}, options(), out.view(), in.view(), int(m), int(n),
                       int(ld), int(bm), int(bn));
  // The box is read and written in 16-byte runs per thread: no bank conflicts.
  const runtime::simdev::BankTally after = runtime::simdev::bank_tally();
  EXPECT_EQ(after.conflicts, before.conflicts);
  std::vector<float> got = out.read();
  for (int64_t i = 0; i < m; ++i)
    for (int64_t j = 0; j < ld; ++j) {
      const float want = j < n ? in_host[size_t(i * ld + j)] : kPoison;
      ASSERT_EQ(got[size_t(i * ld + j)], want) << "at (" << i << ", " << j << ")";
    }
}

// out[i, j] = in[i - 3, j - 5], zero where that falls outside: loads at negative offsets.
TEST_P(DescriptorExec, ShiftedCopyReadsZeroOutside) {
  const int64_t m = 40, n = 29, ld = 32;
  auto k = tl::kernel("desc_shift", [](tl::Ptr out, tl::Ptr in, tl::Int m, tl::Int n, tl::Int ld) {
    auto src = tl::make_tensor_descriptor(in, {m, n}, {ld, 1}, {16, 16});
    auto dst = tl::make_tensor_descriptor(out, {m, n}, {ld, 1}, {16, 16});
    auto r = tl::program_id(0) * 16, c = tl::program_id(1) * 16;
    dst.store({r, c}, src.load({r - 3, c - 5}));
  });
  auto in_host = random_floats(size_t(m * ld), 2);
  Buffer<float> in(GetParam().where, in_host);
  Buffer<float> out(GetParam().where, std::vector<float>(size_t(m * ld), kPoison));
  k.launch({cdiv(m, 16), cdiv(n, 16)}, options(), out.view(), in.view(), int(m), int(n), int(ld));
  std::vector<float> got = out.read();
  for (int64_t i = 0; i < m; ++i)
    for (int64_t j = 0; j < ld; ++j) {
      float want = kPoison;
      if (j < n)
        want = i >= 3 && j >= 5 ? in_host[size_t((i - 3) * ld + (j - 5))] : 0.0f;
      ASSERT_EQ(got[size_t(i * ld + j)], want) << "at (" << i << ", " << j << ")";
    }
}

// out [n, m] = transpose of in [m, n], one 32x32 box per program.
TEST_P(DescriptorExec, TiledTranspose) {
  const int64_t m = 70, n = 53, ld_in = 56, ld_out = 72;
  auto k = tl::kernel("desc_transpose", [](tl::Ptr out, tl::Ptr in, tl::Int m, tl::Int n,
                                           tl::Int ld_in, tl::Int ld_out) {
    auto src = tl::make_tensor_descriptor(in, {m, n}, {ld_in, 1}, {32, 32});
    auto dst = tl::make_tensor_descriptor(out, {n, m}, {ld_out, 1}, {32, 32});
    auto r = tl::program_id(0) * 32, c = tl::program_id(1) * 32;
    dst.store({c, r}, tl::trans(src.load({r, c})));
  });
  auto in_host = random_floats(size_t(m * ld_in), 3);
  Buffer<float> in(GetParam().where, in_host);
  Buffer<float> out(GetParam().where, std::vector<float>(size_t(n * ld_out), kPoison));
  k.launch({cdiv(m, 32), cdiv(n, 32)}, options(), out.view(), in.view(), int(m), int(n), int(ld_in),
           int(ld_out));
  std::vector<float> got = out.read();
  for (int64_t i = 0; i < n; ++i)
    for (int64_t j = 0; j < ld_out; ++j) {
      const float want = j < m ? in_host[size_t(j * ld_in + i)] : kPoison;
      ASSERT_EQ(got[size_t(i * ld_out + j)], want) << "at (" << i << ", " << j << ")";
    }
}

// out = (a + b) * 0.5 over a [d0, d1, d2] f16 tensor with padded rows, boxes of [2, 8, 32].
TEST_P(DescriptorExec, ElementwiseF16In3D) {
  const int64_t d0 = 5, d1 = 13, d2 = 50, ld2 = 56, ld1 = d1 * ld2; // 112-byte rows
  auto k = tl::kernel("desc_axpy3d", [](tl::Ptr out, tl::Ptr a, tl::Ptr b, tl::Int d0, tl::Int d1,
                                        tl::Int d2, tl::Int ld1, tl::Int ld2) {
    auto da = tl::make_tensor_descriptor(a, {d0, d1, d2}, {ld1, ld2, 1}, {2, 8, 32});
    auto db = tl::make_tensor_descriptor(b, {d0, d1, d2}, {ld1, ld2, 1}, {2, 8, 32});
    auto dout = tl::make_tensor_descriptor(out, {d0, d1, d2}, {ld1, ld2, 1}, {2, 8, 32});
    std::vector<tl::Index> at{tl::program_id(0) * 2, tl::program_id(1) * 8, tl::program_id(2) * 32};
    auto x = da.load(at).to(tl::f32), y = tl::load(db, at).to(tl::f32);
    tl::store(dout, at, (x + y) * 0.5f);
  });
  const size_t size = size_t(d0 * ld1);
  auto fa = random_floats(size, 4), fb = random_floats(size, 5);
  std::vector<half> ha(size), hb(size);
  for (size_t i = 0; i < size; ++i) {
    ha[i] = half(fa[i]);
    hb[i] = half(fb[i]);
  }
  Buffer<half> a(GetParam().where, ha), b(GetParam().where, hb);
  Buffer<half> out(GetParam().where, std::vector<half>(size, half(kPoison)));
  k.launch({cdiv(d0, 2), cdiv(d1, 8), cdiv(d2, 32)}, options(), out.view(), a.view(), b.view(),
           int(d0), int(d1), int(d2), int(ld1), int(ld2));
  std::vector<half> got = out.read();
  for (int64_t i = 0; i < d0; ++i)
    for (int64_t j = 0; j < d1; ++j)
      for (int64_t l = 0; l < ld2; ++l) {
        const size_t e = size_t(i * ld1 + j * ld2 + l);
        const float want = l < d2 ? float(half((float(ha[e]) + float(hb[e])) * 0.5f)) : kPoison;
        ASSERT_EQ(float(got[e]), float(half(want))) << "at (" << i << ", " << j << ", " << l << ")";
      }
}

// out[i] = sum of in[i, :] over boxes of [16, 32] that a run-time loop walks along the row: the
// same desc_load (its shared box and mbarrier) runs once per iteration.
TEST_P(DescriptorExec, LoopOverBoxesSumsRows) {
  const int64_t m = 20, n = 100, ld = 104;
  auto k =
      tl::kernel("desc_row_sum", [](tl::Ptr out, tl::Ptr in, tl::Int m, tl::Int n, tl::Int ld) {
        auto src = tl::make_tensor_descriptor(in, {m, n}, {ld, 1}, {16, 32});
        auto r = tl::program_id(0) * 16;
        tl::Tensor acc = tl::zeros({16}, tl::f32);
        tl::for_range(0, n, 32, [&](tl::Int c) { acc = acc + tl::sum(src.load({r, c}), 1); });
        auto rows = r + tl::arange(0, 16);
        tl::store(out + rows, acc, rows < m);
      });
  auto in_host = random_floats(size_t(m * ld), 7);
  Buffer<float> in(GetParam().where, in_host);
  Buffer<float> out(GetParam().where, std::vector<float>(size_t(32), kPoison));
  k.launch({cdiv(m, 16)}, options(), out.view(), in.view(), int(m), int(n), int(ld));
  std::vector<float> got = out.read();
  for (int64_t i = 0; i < 32; ++i) {
    if (i >= m) {
      ASSERT_EQ(got[size_t(i)], kPoison) << "row " << i;
      continue;
    }
    double want = 0;
    for (int64_t j = 0; j < n; ++j)
      want += in_host[size_t(i * ld + j)];
    ASSERT_NEAR(got[size_t(i)], want, 1e-3) << "row " << i;
  }
}

// Padding::nan: box elements past the end read as NaN (stored whole with a plain store).
TEST_P(DescriptorExec, NanPadding) {
  const int64_t n = 100;
  auto k = tl::kernel("desc_nan_pad", [](tl::Ptr out, tl::Ptr in, tl::Int n) {
    auto d = tl::make_tensor_descriptor(in, {n}, {1}, {64}, {.padding = tl::Padding::nan});
    auto base = tl::program_id(0) * 64;
    tl::store(out + base + tl::arange(0, 64), d.load({base}));
  });
  auto in_host = random_floats(size_t(n), 6);
  Buffer<float> in(GetParam().where, in_host);
  Buffer<float> out(GetParam().where, std::vector<float>(128, kPoison));
  k.launch({2}, options(), out.view(), in.view(), int(n));
  std::vector<float> got = out.read();
  for (int64_t i = 0; i < 128; ++i) {
    if (i < n) {
      ASSERT_EQ(got[size_t(i)], in_host[size_t(i)]) << "at " << i;
    } else {
      ASSERT_TRUE(std::isnan(got[size_t(i)])) << "at " << i << ": " << got[size_t(i)];
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Backends, DescriptorExec, ::testing::ValuesIn(backends()),
                         [](const auto& info) { return info.param.name(); });

} // namespace
} // namespace tessel::testing
