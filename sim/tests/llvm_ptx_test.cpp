// PTX in the style of LLVM 19's NVPTX backend (the code generator tessel uses), checked in
// under ptx/ as produced by `llc-19 -march=nvptx64 -mcpu=sm_80 -mattr=+ptx80 -O3` from small
// LLVM IR kernels: 64-bit shared pointers, `.func` calls with `func_retval0` and call-site
// `.param` blocks, f16x2 arithmetic, vector loads, float atomics, switch lowering, i64
// division. Each is compared with a CPU reference.
#include "sim_test_util.h"

#include <cmath>
#include <cstring>
#include <fstream>
#include <random>
#include <sstream>

namespace tessel::sim::testing {
namespace {

std::string fixture(const std::string& name) {
  std::ifstream f(std::string(TESSEL_SIM_PTX_FIXTURES) + "/" + name);
  std::ostringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

// row_softmax: one CTA per row of n <= 256 values; each warp takes the max of its lanes by
// butterfly shuffles (lanes past n contribute -inf), e = 2^((v - max) * log2 e) goes to shared
// memory, after a barrier every thread sums the n values; out = e / sum, hout = half(out).
TEST(LlvmPtx, RowSoftmax) {
  std::string ptx = fixture("llvm_row_softmax.ptx");
  ASSERT_FALSE(ptx.empty());
  const int n = 200, rows = 3;
  std::mt19937 rng(7);
  std::uniform_real_distribution<float> dist(-4, 4);
  std::vector<float> in(rows * n);
  for (auto& v : in)
    v = dist(rng);
  Device dev;
  uint64_t pin = upload(dev, in), pout = *dev.malloc(rows * n * 4), ph = *dev.malloc(rows * n * 2);
  std::vector<KernelArg> args = {KernelArg::ptr(pin), KernelArg::ptr(pout), KernelArg::ptr(ph),
                                 KernelArg::i32(n)};
  auto r = dev.launch(ptx, "row_softmax", {rows, 1, 1}, {256, 1, 1}, 0, args);
  ASSERT_TRUE(r.ok()) << r.error().to_string();
  EXPECT_TRUE(r->ok()) << errors_text(*r);
  auto out = download<float>(dev, pout, rows * n);
  auto hout = download<uint16_t>(dev, ph, rows * n);
  for (int row = 0; row < rows; ++row) {
    std::vector<float> e(n);
    double sum = 0;
    for (int w = 0; w < 8; ++w) {
      float mx = -INFINITY;
      for (int l = w * 32; l < w * 32 + 32 && l < n; ++l)
        mx = std::max(mx, in[row * n + l]);
      for (int l = w * 32; l < w * 32 + 32 && l < n; ++l) {
        e[l] = std::exp2((in[row * n + l] - mx) * 1.44269502f);
        sum += e[l];
      }
    }
    for (int l = 0; l < n; ++l) {
      float ref = static_cast<float>(e[l] / sum);
      ASSERT_NEAR(out[row * n + l], ref, 1e-6f + 1e-5f * ref) << row << "," << l;
      ASSERT_EQ(hout[row * n + l], half_bits(out[row * n + l])) << row << "," << l;
    }
  }
}

uint64_t mix(uint64_t a, uint64_t b) {
  uint64_t q = a / b, r = a % b;
  int64_t s = static_cast<int64_t>(a) / -7;
  return ((q << 3) ^ r) + static_cast<uint64_t>(s);
}

TEST(LlvmPtx, CallsHalvesAtomicsAndSwitch) {
  std::string ptx = fixture("llvm_misc.ptx");
  ASSERT_FALSE(ptx.empty());
  const int threads = 64;
  std::mt19937 rng(8);
  std::uniform_real_distribution<float> dist(-3, 3);
  std::vector<float> in4(threads * 4);
  for (auto& v : in4)
    v = dist(rng);
  in4[4 * 5 + 3] = NAN; // thread 5 takes the NaN path of the select
  std::vector<uint16_t> hin(threads * 2);
  for (auto& v : hin)
    v = half_bits(dist(rng));
  Device dev;
  uint64_t p4 = upload(dev, in4), ph = upload(dev, hin), pout = *dev.malloc(threads * 4),
           phout = *dev.malloc(threads * 4), pacc = *dev.malloc(8), pl = *dev.malloc(threads * 8);
  ASSERT_TRUE(dev.memset(pacc, 0, 8).ok());
  std::vector<KernelArg> args = {KernelArg::ptr(p4),    KernelArg::ptr(ph),   KernelArg::ptr(pout),
                                 KernelArg::ptr(phout), KernelArg::ptr(pacc), KernelArg::ptr(pl)};
  auto r = dev.launch(ptx, "misc", {2, 1, 1}, {32, 1, 1}, 0, args);
  ASSERT_TRUE(r.ok()) << r.error().to_string();
  EXPECT_TRUE(r->ok()) << errors_text(*r);
  auto out = download<int32_t>(dev, pout, threads);
  auto hout = download<uint16_t>(dev, phout, threads * 2);
  auto acc = download<uint32_t>(dev, pacc, 2);
  auto lout = download<uint64_t>(dev, pl, threads);
  const int table[8] = {11, 22, 33, 44, 55, 66, 77, 77};
  float fsum = 0;
  int32_t imax = 0;
  for (int i = 0; i < threads; ++i) {
    float a = in4[4 * i], b = in4[4 * i + 1], c = in4[4 * i + 2], d = in4[4 * i + 3];
    float s = (a * b + c) + (std::isnan(d) ? -1.0f : d);
    int32_t fk = static_cast<int32_t>(std::trunc(s)) + table[i & 7];
    EXPECT_EQ(out[i], std::min(fk, 100)) << i;
    float lo = half_value(hin[2 * i]), hi = half_value(hin[2 * i + 1]);
    EXPECT_EQ(hout[2 * i], half_bits(half_value(half_bits(lo * 2.0f)) + lo)) << i;
    EXPECT_EQ(hout[2 * i + 1], half_bits(half_value(half_bits(hi * 0.5f)) + hi)) << i;
    fsum += a;
    imax = std::max(imax, fk);
    EXPECT_EQ(lout[i], mix(uint64_t(i) * 1000000007ull, 97)) << i;
  }
  float got;
  std::memcpy(&got, &acc[0], 4);
  EXPECT_EQ(got, fsum); // lanes apply their atomics in order, CTAs one after another
  EXPECT_EQ(static_cast<int32_t>(acc[1]), imax);
}

} // namespace
} // namespace tessel::sim::testing
