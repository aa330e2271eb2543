// The Marlin-style int4 layout of W4A16 (Int4Layout::marlin, tessel/ops/quant.h): pack -> unpack
// is the identity bit for bit; every lane's 16 bytes hold its mma.sync.m16n8k16 B fragments (read
// back the way a lop3 dequantiser reads them, against the PTX ISA's fragment table written out
// here, not the packing's map); matmul_w4a16 on marlin-packed weights against the f64 reference of
// the dequantised math on the CPU and the simulated sm_80 device (memcheck and racecheck on) at
// every group size, both modes, M = 1, 16, 70, ragged K; the dequantised weights bit-exact; the
// shape errors; the sm_80 PTX of both layouts (zero spills; figures printed for docs/stdlib.md).
#include "ops_test_util.h"

#include "gpu/gpu_test_util.h"
#include "stdlib/quant/quant_kernels.h"
#include "support/expect_error.h"
#include "tessel/jit/registry.h"
#include "tessel/ops.h"
#include "tessel/ops/registry.h"

#include <fmt/format.h>

#include <cmath>
#include <cstdio>
#include <random>
#include <string>
#include <vector>

namespace tessel::testing {
namespace {

using ops::Int4Layout;
using ops::Int4Mode;

std::vector<DeviceKind> devices() {
  std::vector<DeviceKind> d{DeviceKind::cpu};
  if (sim_device_ready())
    d.push_back(DeviceKind::sim);
  return d;
}

std::vector<double> random_nibbles(size_t n, uint32_t seed) {
  std::mt19937 gen(seed);
  std::uniform_int_distribution<int> d(0, 15);
  std::vector<double> v(n);
  for (double& x : v)
    x = d(gen);
  return v;
}

// The bytes of an i8 tensor's values, as unsigned.
std::vector<uint8_t> bytes_of(TestTensor& t) {
  std::vector<uint8_t> b;
  for (double v : t.values())
    b.push_back(uint8_t(int8_t(v)));
  return b;
}

// c[m, n] = sum_k a[m, k] b[k, n] in f64.
std::vector<double> ref_matmul(const std::vector<double>& a, const std::vector<double>& b,
                               int64_t m, int64_t k, int64_t n) {
  std::vector<double> c(size_t(m * n), 0.0);
  for (int64_t i = 0; i < m; ++i)
    for (int64_t kk = 0; kk < k; ++kk)
      for (int64_t j = 0; j < n; ++j)
        c[size_t(i * n + j)] += a[size_t(i * k + kk)] * b[size_t(kk * n + j)];
  return c;
}

// The weights as the kernel dequantises them, from the nibbles `q` ([K, N]): (q - zero) * scale
// in f32, rounded to `t`.
std::vector<double> dequantised(const std::vector<double>& q, const std::vector<double>& sv,
                                const std::vector<double>* zv, int64_t k, int64_t n, int64_t group,
                                DType t) {
  std::vector<double> w(size_t(k * n));
  for (int64_t r = 0; r < k; ++r)
    for (int64_t c = 0; c < n; ++c) {
      const size_t g = size_t((r / group) * n + c);
      const float z = zv ? float((*zv)[g]) : 8.0f;
      w[size_t(r * n + c)] =
          round_to_dtype(double((float(q[size_t(r * n + c)]) - z) * float(sv[g])), t);
    }
  return w;
}

TEST(Int4Marlin, PackUnpackIsIdentity) {
  for (auto [k, n] : {std::pair<int64_t, int64_t>{16, 64}, {64, 128}, {272, 192}}) {
    const auto nib = random_nibbles(size_t(k * n), uint32_t(k + n));
    TestTensor q(DeviceKind::cpu, DType::i8, {k, n}, nib);
    auto p = TestTensor::poisoned(DeviceKind::cpu, DType::i8, {k / 2, n});
    auto back = TestTensor::poisoned(DeviceKind::cpu, DType::i8, {k, n});
    ops::pack_int4(q.view(), p.view(), Int4Layout::marlin);
    ops::unpack_int4(p.view(), back.view(), Int4Layout::marlin);
    EXPECT_EQ(back.values(), nib) << k << "x" << n;
    // Not the half-split bytes (the layouts differ), and not its inverse either.
    auto h = TestTensor::poisoned(DeviceKind::cpu, DType::i8, {k / 2, n});
    ops::pack_int4(q.view(), h.view());
    EXPECT_NE(bytes_of(h), bytes_of(p)) << k << "x" << n;
  }
}

// PTX ISA, mma.m16n8k16 with .f16 B (col): lane t holds b0, b1 at k = 2 (t % 4) + {0, 1} and b2,
// b3 at k + 8, all in column n = t / 4 of the n8 block. A lop3 dequantiser reads the lane's word
// i (its 16 bytes as 4 little-endian words) as: (w & 0x000f000f) -> {b0, b1} of block 2i,
// (w >> 4) & .. -> {b2, b3}, (w >> 8) & .. -> {b0, b1} of block 2i + 1, (w >> 12) & .. -> {b2, b3}.
TEST(Int4Marlin, LaneHoldsItsMmaFragments) {
  const int64_t k = 32, n = 128;
  const auto nib = random_nibbles(size_t(k * n), 7);
  TestTensor q(DeviceKind::cpu, DType::i8, {k, n}, nib);
  auto p = TestTensor::poisoned(DeviceKind::cpu, DType::i8, {k / 2, n});
  ops::pack_int4(q.view(), p.view(), Int4Layout::marlin);
  const auto bytes = bytes_of(p);
  auto at = [&](int64_t r, int64_t c) { return int(nib[size_t(r * n + c)]); };
  size_t tile = 0;
  for (int64_t kt = 0; kt < k / 16; ++kt)
    for (int64_t nt = 0; nt < n / 64; ++nt, ++tile)
      for (int lane = 0; lane < 32; ++lane)
        for (int i = 0; i < 4; ++i) {
          const size_t off = (tile * 32 + size_t(lane)) * 16 + size_t(i) * 4;
          const uint32_t w = uint32_t(bytes[off]) | uint32_t(bytes[off + 1]) << 8 |
                             uint32_t(bytes[off + 2]) << 16 | uint32_t(bytes[off + 3]) << 24;
          for (int part = 0; part < 4; ++part) {
            const uint32_t pair = (w >> (4 * part)) & 0x000f000fu;
            const int64_t block = 2 * i + part / 2;
            const int64_t row = kt * 16 + 2 * (lane % 4) + (part % 2) * 8;
            const int64_t col = nt * 64 + block * 8 + lane / 4;
            ASSERT_EQ(int(pair & 15), at(row, col)) << "lane " << lane << " word " << i;
            ASSERT_EQ(int(pair >> 16), at(row + 1, col)) << "lane " << lane << " word " << i;
          }
        }
}

struct Case {
  int64_t m, n, k;
  int group;
  Int4Mode mode;
  DType t;
};

void check_matmul(DeviceKind dev, const Case& c) {
  const int64_t g = c.group == ops::kPerChannel ? c.k : c.group;
  const bool asym = c.mode == Int4Mode::asymmetric;
  const std::string what = fmt::format("{} {}x{}x{} group {} {} {}", device_kind_name(dev), c.m,
                                       c.n, c.k, c.group, asym ? "asym" : "sym", dtype_name(c.t));
  const auto wv = rounded(random_values(size_t(c.k * c.n), 71, -1, 1), c.t);
  const auto xv = rounded(random_values(size_t(c.m * c.k), 72, -1, 1), c.t);
  TestTensor w(DeviceKind::cpu, c.t, {c.k, c.n}, wv);
  auto hp = TestTensor::poisoned(DeviceKind::cpu, DType::i8, {c.k / 2, c.n});
  auto hs = TestTensor::poisoned(DeviceKind::cpu, DType::f32, {c.k / g, c.n});
  auto hz = TestTensor::poisoned(DeviceKind::cpu, DType::f32, {c.k / g, c.n});
  ops::quantize_weights_int4(w.view(), c.group, c.mode, Int4Layout::marlin, hp.view(), hs.view(),
                             asym ? hz.view() : TensorView{});
  auto hq = TestTensor::poisoned(DeviceKind::cpu, DType::i8, {c.k, c.n});
  ops::unpack_int4(hp.view(), hq.view(), Int4Layout::marlin);
  const auto sv = hs.values(), zv = hz.values();
  const auto want = ref_matmul(
      xv, dequantised(hq.values(), sv, asym ? &zv : nullptr, c.k, c.n, g, c.t), c.m, c.k, c.n);
  TestTensor p(dev, DType::i8, {c.k / 2, c.n}, hp.values()), s(dev, DType::f32, {c.k / g, c.n}, sv);
  TestTensor z(dev, DType::f32, {c.k / g, c.n}, zv), x(dev, c.t, {c.m, c.k}, xv);
  ops::W4A16Options o;
  o.layout = Int4Layout::marlin;
  for (DType out_t : {DType::f32, c.t}) {
    auto out = TestTensor::poisoned(dev, out_t, {c.m, c.n});
    ops::matmul_w4a16(x.view(), p.view(), s.view(), asym ? z.view() : TensorView{}, out.view(), o);
    expect_close(out.values(), want, out_t == DType::f32 ? 1e-4 : rtol_for(out_t),
                 what + " -> " + dtype_name(out_t));
  }
}

// K = 144 is ragged against a step's 64 weight rows; N = 192 against the CPU's 128 columns.
const std::vector<Case> kCases{
    {1, 64, 128, 32, Int4Mode::symmetric, DType::f16},
    {16, 128, 256, 64, Int4Mode::asymmetric, DType::f16},
    {70, 192, 256, 128, Int4Mode::symmetric, DType::bf16},
    {1, 128, 144, ops::kPerChannel, Int4Mode::asymmetric, DType::bf16},
    {16, 64, 128, ops::kPerChannel, Int4Mode::symmetric, DType::f16},
    {70, 64, 128, 32, Int4Mode::asymmetric, DType::f16},
};

TEST(MatmulW4A16Marlin, AgainstDequantisedReferenceOnTheCpu) {
  for (const Case& c : kCases)
    check_matmul(DeviceKind::cpu, c);
}

// Memcheck and racecheck are on in the simulator (a finding is an error); the shared-memory
// traffic of the dot-operand path (the gathered weight tile and x) takes no conflicting wavefront.
TEST(MatmulW4A16Marlin, AgainstDequantisedReferenceOnTheSimulatedDevice) {
  TESSEL_REQUIRE_SIM_DEVICE();
  SimBankConflicts banks;
  for (const Case& c : kCases)
    if (c.m * c.n * c.k <= 2'000'000)
      check_matmul(DeviceKind::sim, c);
  banks.expect_none("matmul_w4a16 marlin");
}

// One decode-sized product in both layouts on every device: the same weights give the same
// product up to the order of the f32 sums (the marlin kernel takes consecutive rows per step, the
// half-split one rows k and k + K / 2). Under TESSEL_SIM_PROFILE=1 this prints the simulated
// work of both kernels (docs/stdlib.md's figures).
TEST(MatmulW4A16Marlin, SameProductAsHalfSplit) {
  const int64_t m = 16, n = 128, k = 256, g = 128;
  const auto wv = rounded(random_values(size_t(k * n), 75, -1, 1), DType::f16);
  const auto xv = rounded(random_values(size_t(m * k), 76, -1, 1), DType::f16);
  TestTensor w(DeviceKind::cpu, DType::f16, {k, n}, wv);
  std::vector<std::vector<double>> outs;
  for (DeviceKind dev : devices())
    for (Int4Layout layout : {Int4Layout::half_split, Int4Layout::marlin}) {
      auto hp = TestTensor::poisoned(DeviceKind::cpu, DType::i8, {k / 2, n});
      auto hs = TestTensor::poisoned(DeviceKind::cpu, DType::f32, {k / g, n});
      ops::quantize_weights_int4(w.view(), int(g), Int4Mode::symmetric, layout, hp.view(),
                                 hs.view());
      TestTensor p(dev, DType::i8, {k / 2, n}, hp.values()),
          s(dev, DType::f32, {k / g, n}, hs.values());
      TestTensor x(dev, DType::f16, {m, k}, xv);
      auto out = TestTensor::poisoned(dev, DType::f32, {m, n});
      ops::W4A16Options o;
      o.layout = layout;
      ops::matmul_w4a16(x.view(), p.view(), s.view(), {}, out.view(), o);
      outs.push_back(out.values());
    }
  for (size_t i = 1; i < outs.size(); ++i)
    expect_close(outs[i], outs[0], 1e-4, fmt::format("run {} against the CPU half-split", i));
}

// x = I makes the f32 output the dequantised weights themselves: each lands where the packing put
// it, bit for bit, with arbitrary (non-integer) zeros.
TEST(MatmulW4A16Marlin, DequantisedWeightsBitExact) {
  const int64_t k = 64, n = 64, g = 32;
  const auto nib = random_nibbles(size_t(k * n), 81);
  const auto sv = random_values(size_t(k / g * n), 82, 1e-3, 2);
  const auto zv = random_values(size_t(k / g * n), 83, 0, 15);
  std::vector<double> eye(size_t(k * k), 0.0);
  for (int64_t i = 0; i < k; ++i)
    eye[size_t(i * k + i)] = 1.0;
  TestTensor hq(DeviceKind::cpu, DType::i8, {k, n}, nib);
  auto hp = TestTensor::poisoned(DeviceKind::cpu, DType::i8, {k / 2, n});
  ops::pack_int4(hq.view(), hp.view(), Int4Layout::marlin);
  ops::W4A16Options o;
  o.layout = Int4Layout::marlin;
  for (DeviceKind dev : devices())
    for (DType t : {DType::f16, DType::bf16}) {
      TestTensor p(dev, DType::i8, {k / 2, n}, hp.values()), s(dev, DType::f32, {k / g, n}, sv);
      TestTensor z(dev, DType::f32, {k / g, n}, zv), x(dev, t, {k, k}, eye);
      auto out = TestTensor::poisoned(dev, DType::f32, {k, n});
      ops::matmul_w4a16(x.view(), p.view(), s.view(), z.view(), out.view(), o);
      const auto want = dequantised(nib, sv, &zv, k, n, g, t);
      const auto got = out.values();
      for (size_t i = 0; i < got.size(); ++i)
        ASSERT_EQ(got[i], want[i]) << device_kind_name(dev) << " " << dtype_name(t) << ": weight "
                                   << i / n << "," << i % n;
    }
}

TEST(W4A16MarlinErrors, ShapesThatAreNotWholeTiles) {
  std::vector<float> wv(size_t(64 * 40), 0.5f);
  std::vector<int8_t> packed(size_t(32 * 40)), q(size_t(64 * 40), 1);
  std::vector<float> scales(size_t(2 * 40));
  TensorView w(wv.data(), {64, 40}), p(packed.data(), {32, 40}), s(scales.data(), {2, 40});
  expect_error(
      [&] { ops::quantize_weights_int4(w, 32, Int4Mode::symmetric, Int4Layout::marlin, p, s); },
      {"quantize_weights_int4", "marlin", "N of 64"});
  expect_error(
      [&] {
        ops::pack_int4(TensorView(q.data(), {64, 40}), p, Int4Layout::marlin);
      },
      {"pack_int4", "marlin", "N of 64"});
  std::vector<uint16_t> xv(size_t(64), 0);
  std::vector<float> ov(size_t(40));
  TensorView x(xv.data(), DType::f16, {1, 64}), out(ov.data(), {1, 40});
  ops::W4A16Options o;
  o.layout = Int4Layout::marlin;
  expect_error([&] { ops::matmul_w4a16(x, p, s, {}, out, o); },
               {"matmul_w4a16", "marlin", "N of 64"});
}

CompileResult compile_sm80(const Kernel& k, const Signature& sig, int num_warps) {
  CompileOptions options;
  options.num_warps = num_warps;
  options.cache = CacheMode::off;
  return k.compile(Target::parse("sm_80"), sig, options);
}

// Both layouts at the registry's decode tile (16 x 64, 32 packed rows, asymmetric) and the 64-row
// tile, sm_80: zero spills, the f16 mma. The figures (registers, PTX instructions, shared bytes,
// global loads of the weights, lop3/prmt) are printed for docs/stdlib.md.
TEST(W4A16MarlinPtx, UnspilledWithFigures) {
  TESSEL_REQUIRE_CUDA_TOOLKIT();
  ops::register_kernels();
  RegisteredKernel w4 = find_registered_kernel("matmul_w4a16");
  for (int bm : {16, 64})
    for (bool marlin : {false, true}) {
      Signature sig = w4.defaults;
      sig.params[sig.params.size() - 3] = SignatureParam::constant(bm, "BM");
      const Kernel& k = marlin ? ops::detail::w4a16_marlin_kernel() : ops::detail::w4a16_kernel();
      CompileResult r = compile_sm80(k, sig, 4);
      const std::string what = fmt::format("{} BM={}", marlin ? "marlin" : "half_split", bm);
      EXPECT_TRUE(r.resources.parsed) << what;
      EXPECT_EQ(r.resources.spill_stores, 0) << what;
      EXPECT_EQ(r.resources.spill_loads, 0) << what;
      auto st = codegen::gpu::ptx_stats(r.ptx);
      EXPECT_EQ(st.get("local"), 0) << what;
      EXPECT_NE(r.ptx.find("mma.sync.aligned.m16n8k16.row.col.f32.f16.f16.f32"), std::string::npos)
          << what;
      std::printf("%s: registers %d, PTX instructions %lld, shared %lld bytes\n", what.c_str(),
                  r.resources.registers, static_cast<long long>(st.instructions),
                  static_cast<long long>(r.shared_bytes));
      for (const auto& [kind, count] : st.counts)
        std::printf("  %s %lld\n", kind.c_str(), static_cast<long long>(count));
    }
}

} // namespace
} // namespace tessel::testing
