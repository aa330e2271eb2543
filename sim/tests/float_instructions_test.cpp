// Floating-point instruction semantics: division and the approximate functions (computed to
// within an ulp of the exact value), packed bf16x2 fma, set, abs/neg, f64, and f16
// accumulators of mma.sync m16n8k8.
#include "ptx_snippet.h"

#include <cmath>

namespace tessel::sim::testing {
namespace {

float run_unary(const std::string& inst, float x) {
  auto r = run_snippet("mov.b32 %f1, %r2; " + inst + " %f2, %f1; mov.b32 %r1, %f2;", {fbits(x)});
  return bitsf(r.out[0]);
}

TEST(FloatInstructions, ApproximateFunctionsAreWithinAnUlp) {
  struct Case {
    const char* inst;
    double (*ref)(double);
  };
  const Case cases[] = {
      {"sqrt.rn.f32", [](double x) { return std::sqrt(x); }},
      {"sqrt.approx.f32", [](double x) { return std::sqrt(x); }},
      {"rsqrt.approx.f32", [](double x) { return 1 / std::sqrt(x); }},
      {"rcp.rn.f32", [](double x) { return 1 / x; }},
      {"rcp.approx.ftz.f32", [](double x) { return 1 / x; }},
      {"ex2.approx.ftz.f32", [](double x) { return std::exp2(x); }},
      {"lg2.approx.f32", [](double x) { return std::log2(x); }},
      {"sin.approx.f32", [](double x) { return std::sin(x); }},
      {"cos.approx.f32", [](double x) { return std::cos(x); }},
      {"tanh.approx.f32", [](double x) { return std::tanh(x); }},
  };
  for (const Case& c : cases)
    for (float x : {0.25f, 1.0f, 3.7f, 10.5f}) {
      float got = run_unary(c.inst, x);
      float ref = static_cast<float>(c.ref(x));
      EXPECT_LE(std::fabs(got - ref), std::fabs(ref) * 1.2e-7f) << c.inst << " " << x;
    }
  EXPECT_EQ(run_unary("abs.f32", -2.5f), 2.5f);
  EXPECT_EQ(run_unary("neg.f32", 2.5f), -2.5f);
  // div.rn is correctly rounded; div.full/approx are computed the same way here.
  auto r = run_snippet("mov.f32 %f1, 0f3F800000; mov.f32 %f2, 0f40400000; div.rn.f32 %f3, %f1, "
                       "%f2; mov.b32 %r1, %f3;",
                       {});
  EXPECT_EQ(bitsf(r.out[0]), 1.0f / 3.0f);
  r = run_snippet("mov.f32 %f1, 0f3F800000; mov.f32 %f2, 0f40400000; div.full.f32 %f3, %f1, %f2; "
                  "mov.b32 %r1, %f3;",
                  {});
  EXPECT_EQ(bitsf(r.out[0]), 1.0f / 3.0f);
}

TEST(FloatInstructions, SaturationAndFlushToZero) {
  auto r = run_snippet("mov.f32 %f1, 0f40000000; add.sat.f32 %f2, %f1, %f1; mov.b32 %r1, %f2;", {});
  EXPECT_EQ(bitsf(r.out[0]), 1.0f);
  // 2^-130 is subnormal in f32: .ftz flushes it to zero.
  r = run_snippet("mov.b32 %f1, %r2; add.ftz.f32 %f2, %f1, 0f00000000; mov.b32 %r1, %f2;",
                  {0x00080000u});
  EXPECT_EQ(r.out[0], 0u);
  r = run_snippet("mov.b32 %f1, %r2; add.f32 %f2, %f1, 0f00000000; mov.b32 %r1, %f2;",
                  {0x00080000u});
  EXPECT_EQ(r.out[0], 0x00080000u);
}

TEST(FloatInstructions, PackedBf16AndF64) {
  // fma.rn.bf16x2 {1.5, -2} * {2, 0.5} + {0.25, 1}: low = 3.25 (0x4050), high = 0 (0x0000).
  auto r = run_snippet("mov.b32 %r3, 0xc0003fc0; mov.b32 %r4, 0x3f004000; mov.b32 %r5, 0x3f803e80; "
                       "fma.rn.bf16x2 %r1, %r3, %r4, %r5;",
                       {});
  EXPECT_EQ(r.out[0], 0x00004050u);
  // f64: (0.1 + 0.2) converted to f32.
  r = run_snippet("mov.f64 %fd1, 0d3FB999999999999A; mov.f64 %fd2, 0d3FC999999999999A; add.f64 "
                  "%fd3, %fd1, %fd2; "
                  "cvt.rn.f32.f64 %f1, %fd3; mov.b32 %r1, %f1;",
                  {});
  EXPECT_EQ(bitsf(r.out[0]), static_cast<float>(0.1 + 0.2));
  // set.lt.u32.f32 gives all ones or zero; set.lt.f32.f32 gives 1.0 or 0.0.
  r = run_snippet("mov.f32 %f1, 0f3F800000; mov.f32 %f2, 0f40000000; set.lt.u32.f32 %r1, %f1, %f2;",
                  {});
  EXPECT_EQ(r.out[0], 0xffffffffu);
  r = run_snippet("mov.f32 %f1, 0f3F800000; mov.f32 %f2, 0f40000000; set.gt.f32.f32 %f3, %f1, %f2; "
                  "mov.b32 %r1, %f3;",
                  {});
  EXPECT_EQ(r.out[0], 0u);
  // setp on f16x2 writes the low half's result to p and the high half's to q.
  r = run_snippet(
      "mov.b32 %r3, 0x3c004000; mov.b32 %r4, 0x3c003c00; setp.gt.f16x2 %p1|%p2, %r3, %r4; "
      "selp.u32 %r5, 1, 0, %p1; selp.u32 %r6, 2, 0, %p2; or.b32 %r1, %r5, %r6;",
      {});
  EXPECT_EQ(r.out[0], 1u); // low: 2 > 1; high: 1 > 1 is false
}

TEST(FloatInstructions, MmaM16n8k8F16WithF16Accumulator) {
  // A = all 1.0 (0x3c00 pairs), B[k][n] = 0.5, C = 1.0: D = 8 * 0.5 + 1 = 5.0 (0x4500) everywhere.
  std::string body = R"(
  mov.b32 %r3, 0x3c003c00;
  mov.b32 %r4, 0x38003800;
  mma.sync.aligned.m16n8k8.row.col.f16.f16.f16.f16 {%r5, %r6}, {%r3, %r3}, {%r4}, {%r3, %r3};
  xor.b32 %r1, %r5, %r6;
  xor.b32 %r1, %r1, %r5;
)";
  auto r = run_snippet(body, {});
  ASSERT_TRUE(r.report.ok()) << errors_text(r.report);
  for (uint32_t l = 0; l < 32; ++l)
    EXPECT_EQ(r.out[l], 0x45004500u) << l;
  // mma on a diverged warp is reported: .aligned needs all 32 lanes.
  r = run_snippet("setp.lt.u32 %p1, %r0, 16; @%p1 bra SKIP; " + body + " SKIP:", {});
  const Error* e = find_error(r.report, ErrorKind::sync);
  ASSERT_NE(e, nullptr);
  EXPECT_NE(e->message.find("all 32 must"), std::string::npos) << e->to_string();
}

TEST(FloatInstructions, TestpClassifies) {
  struct Case {
    const char* cls;
    uint32_t bits;
    uint32_t expect;
  };
  const Case cases[] = {
      {"finite", 0x3f800000u, 1},    {"finite", 0x7f800000u, 0},     {"infinite", 0xff800000u, 1},
      {"number", 0x7fc00000u, 0},    {"notanumber", 0x7fc00000u, 1}, {"normal", 0x00000001u, 0},
      {"subnormal", 0x00000001u, 1}, {"normal", 0x3f800000u, 1},
  };
  for (const Case& c : cases) {
    auto r = run_snippet(std::string("mov.b32 %f1, %r2; testp.") + c.cls +
                             ".f32 %p1, %f1; selp.u32 %r1, 1, 0, %p1;",
                         {c.bits});
    EXPECT_EQ(r.out[0], c.expect) << c.cls << " " << c.bits;
  }
}

TEST(FloatInstructions, MatchSync) {
  // Values tid % 3: match.any gives each lane the mask of lanes with its residue.
  auto r = run_snippet("rem.u32 %r3, %r0, 3; match.any.sync.b32 %r1, %r3, -1;", {});
  for (uint32_t l = 0; l < 32; ++l) {
    uint32_t m = 0;
    for (uint32_t k = 0; k < 32; ++k)
      m |= uint32_t(k % 3 == l % 3) << k;
    EXPECT_EQ(r.out[l], m) << l;
  }
  r = run_snippet(
      "match.all.sync.b32 %r3|%p1, 7, -1; selp.u32 %r4, 1, 0, %p1; add.u32 %r1, %r3, %r4;", {});
  EXPECT_EQ(r.out[0], 0u); // 0xffffffff + 1 wraps to 0: all lanes equal
}

} // namespace
} // namespace tessel::sim::testing
