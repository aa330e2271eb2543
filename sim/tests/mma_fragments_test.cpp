// mma.sync with a different value in every fragment element of every lane, for the shapes whose
// A fragment has two registers (m16n8k8 f16, m16n8k16 s8, m16n8k4 tf32): a misplaced element
// changes D. The fragments are packed here from the layouts in the PTX ISA ("Matrix fragments
// for mma.m16n8k8 / k16 / k4"), written out per shape, and D is summed in f64 from the
// matrices; the inputs are small integers, so every sum is exact and D must match exactly.
#include "ptx_snippet.h"

#include <random>

namespace tessel::sim::testing {
namespace {

// f16 bits of an integer in [-4, 4] (sign, exponent 15 + e, 10 mantissa bits).
uint32_t half_of_small_int(int v) {
  static const uint32_t mag[] = {0x0000, 0x3c00, 0x4000, 0x4200, 0x4400}; // 0, 1, 2, 3, 4
  uint32_t b = mag[v < 0 ? -v : v];
  return v < 0 ? b | 0x8000 : b;
}

struct Shape {
  const char* mma;         // the instruction, operands in %r10..%r16 and %r20..%r23
  unsigned K;              // A is 16 x K, B is K x 8
  unsigned elems_per_reg;  // A and B elements packed per 32-bit register
  uint32_t (*pack)(int v); // bits of one element (in the low bits)
  bool integer_d;          // s32 accumulator instead of f32
  // PTX ISA layouts: element e of A register r of lane (g, t) is A[row][col], and element e of
  // the B register is B[k][g].
  void (*a_pos)(unsigned g, unsigned t, unsigned r, unsigned e, unsigned* row, unsigned* col);
  unsigned (*b_k)(unsigned t, unsigned e);
};

uint32_t pack_half(int v) { return half_of_small_int(v); }
uint32_t pack_s8(int v) { return static_cast<uint8_t>(static_cast<int8_t>(v)); }
uint32_t pack_tf32(int v) { return fbits(static_cast<float>(v)); }

// m16n8k8 f16: a0,a1 (register 0) at row g, a2,a3 (register 1) at row g+8; column 2t + e.
void a_pos_k8_f16(unsigned g, unsigned t, unsigned r, unsigned e, unsigned* row, unsigned* col) {
  *row = g + 8 * r;
  *col = 2 * t + e;
}
unsigned b_k_k8_f16(unsigned t, unsigned e) { return 2 * t + e; }
// m16n8k16 s8: a0..a3 at row g, a4..a7 at row g+8; column 4t + e.
void a_pos_k16_s8(unsigned g, unsigned t, unsigned r, unsigned e, unsigned* row, unsigned* col) {
  *row = g + 8 * r;
  *col = 4 * t + e;
}
unsigned b_k_k16_s8(unsigned t, unsigned e) { return 4 * t + e; }
// m16n8k4 tf32: a0 at row g, a1 at row g+8; column t.
void a_pos_k4_tf32(unsigned g, unsigned t, unsigned r, unsigned, unsigned* row, unsigned* col) {
  *row = g + 8 * r;
  *col = t;
}
unsigned b_k_k4_tf32(unsigned t, unsigned) { return t; }

void check_shape(const Shape& s, unsigned seed) {
  std::mt19937 rng(seed);
  std::uniform_int_distribution<int> small(-4, 4);
  int A[16][16], B[16][8], C[16][8];
  for (auto& row : A)
    for (int& v : row)
      v = small(rng);
  for (auto& row : B)
    for (int& v : row)
      v = small(rng);
  for (auto& row : C)
    for (int& v : row)
      v = small(rng) * 10;
  // in[32 * reg + lane]: A registers 0 and 1, the B register 2, C registers 3..6.
  std::vector<uint32_t> in(7 * 32, 0);
  const unsigned bits = 32 / s.elems_per_reg;
  const uint32_t emask = bits == 32 ? 0xffffffffu : (1u << bits) - 1;
  for (unsigned l = 0; l < 32; ++l) {
    const unsigned g = l / 4, t = l % 4;
    for (unsigned e = 0; e < s.elems_per_reg; ++e) {
      for (unsigned r = 0; r < 2; ++r) {
        unsigned row, col;
        s.a_pos(g, t, r, e, &row, &col);
        in[32 * r + l] |= (s.pack(A[row][col]) & emask) << (bits * e);
      }
      in[64 + l] |= (s.pack(B[s.b_k(t, e)][g]) & emask) << (bits * e);
    }
    // C and D (m16n8, 32-bit): c0,c1 at row g, c2,c3 at row g+8; column 2t + (i & 1).
    for (unsigned i = 0; i < 4; ++i) {
      int v = C[g + 8 * (i / 2)][2 * t + i % 2];
      in[32 * (3 + i) + l] = s.integer_d ? static_cast<uint32_t>(v) : fbits(static_cast<float>(v));
    }
  }
  std::string body = R"(
  ld.global.u32 %r10, [%rd5];
  ld.global.u32 %r11, [%rd5+128];
  ld.global.u32 %r12, [%rd5+256];
  ld.global.u32 %r13, [%rd5+384];
  ld.global.u32 %r14, [%rd5+512];
  ld.global.u32 %r15, [%rd5+640];
  ld.global.u32 %r16, [%rd5+768];
)" + std::string(s.mma) +
                     R"(
  mov.u32 %r1, %r20; // the harness stores %r1 to out[tid] last
  st.global.u32 [%rd4+128], %r21;
  st.global.u32 [%rd4+256], %r22;
  st.global.u32 [%rd4+384], %r23;
)";
  Device dev;
  uint64_t pin = upload(dev, in);
  uint64_t pout = *dev.malloc(4 * 32 * 4);
  ASSERT_TRUE(dev.memset(pout, 0xff, 4 * 32 * 4).ok()); // poisoned: every word must be written
  std::vector<KernelArg> args = {KernelArg::ptr(pout), KernelArg::ptr(pin)};
  auto r = dev.launch(snippet_kernel(body), "k", {1, 1, 1}, {32, 1, 1}, 0, args, {});
  ASSERT_TRUE(r.ok()) << r.error().to_string();
  ASSERT_TRUE(r->ok()) << errors_text(*r);
  auto out = download<uint32_t>(dev, pout, 4 * 32);
  for (unsigned l = 0; l < 32; ++l) {
    const unsigned g = l / 4, t = l % 4;
    for (unsigned i = 0; i < 4; ++i) {
      const unsigned row = g + 8 * (i / 2), col = 2 * t + i % 2;
      double want = C[row][col];
      for (unsigned k = 0; k < s.K; ++k)
        want += double(A[row][k]) * double(B[k][col]);
      uint32_t got = out[32 * i + l];
      if (s.integer_d)
        EXPECT_EQ(static_cast<int32_t>(got), static_cast<int32_t>(want)) << s.mma << l << i;
      else
        EXPECT_EQ(bitsf(got), static_cast<float>(want)) << s.mma << " lane " << l << " d" << i;
    }
  }
}

TEST(MmaFragments, EveryElementLandsInItsPlaceForTwoRegisterAShapes) {
  const Shape k8_f16 = {"  mov.b32 %f1, %r13;\n  mov.b32 %f2, %r14;\n  mov.b32 %f3, %r15;\n"
                        "  mov.b32 %f4, %r16;\n"
                        "  mma.sync.aligned.m16n8k8.row.col.f32.f16.f16.f32 {%f8,%f9,%f10,%f11}, "
                        "{%r10,%r11}, {%r12}, {%f1,%f2,%f3,%f4};\n"
                        "  mov.b32 %r20, %f8;\n  mov.b32 %r21, %f9;\n  mov.b32 %r22, %f10;\n"
                        "  mov.b32 %r23, %f11;",
                        8,
                        2,
                        pack_half,
                        false,
                        a_pos_k8_f16,
                        b_k_k8_f16};
  const Shape k16_s8 = {"  mma.sync.aligned.m16n8k16.row.col.s32.s8.s8.s32 {%r20,%r21,%r22,%r23}, "
                        "{%r10,%r11}, {%r12}, {%r13,%r14,%r15,%r16};",
                        16,
                        4,
                        pack_s8,
                        true,
                        a_pos_k16_s8,
                        b_k_k16_s8};
  const Shape k4_tf32 = {
      "  mov.b32 %f1, %r13;\n  mov.b32 %f2, %r14;\n  mov.b32 %f3, %r15;\n"
      "  mov.b32 %f4, %r16;\n"
      "  mma.sync.aligned.m16n8k4.row.col.f32.tf32.tf32.f32 {%f8,%f9,%f10,%f11}, "
      "{%r10,%r11}, {%r12}, {%f1,%f2,%f3,%f4};\n"
      "  mov.b32 %r20, %f8;\n  mov.b32 %r21, %f9;\n  mov.b32 %r22, %f10;\n"
      "  mov.b32 %r23, %f11;",
      4,
      1,
      pack_tf32,
      false,
      a_pos_k4_tf32,
      b_k_k4_tf32};
  for (unsigned seed : {1u, 2u, 3u}) {
    check_shape(k8_f16, seed);
    check_shape(k16_s8, seed);
    check_shape(k4_tf32, seed);
  }
}

TEST(MmaFragments, F16SubnormalAndLargestNormalInputs) {
  // A = 2^-24 everywhere (f16 0x0001, the smallest subnormal), B = 65504 (0x7bff, the largest
  // normal), C = 0: every D element of m16n8k8 is 8 * 65504 * 2^-24, exact in f32; with A
  // negative (0x8001) it is the negative of that.
  for (uint32_t a_bits : {0x00010001u, 0x80018001u}) {
    std::string body = "  mov.u32 %r10, " + std::to_string(a_bits) + R"(;
  mov.u32 %r12, 0x7bff7bff;
  mov.f32 %f1, 0f00000000;
  mma.sync.aligned.m16n8k8.row.col.f32.f16.f16.f32 {%f8,%f9,%f10,%f11}, {%r10,%r10}, {%r12}, {%f1,%f1,%f1,%f1};
  mov.b32 %r1, %f11;
)";
    auto r = run_snippet(body, {});
    ASSERT_TRUE(r.report.ok()) << errors_text(r.report);
    const double want = (a_bits & 0x8000u ? -8.0 : 8.0) * 65504.0 / 16777216.0;
    for (uint32_t l = 0; l < 32; ++l)
      EXPECT_EQ(bitsf(r.out[l]), static_cast<float>(want)) << a_bits << " lane " << l;
  }
}

} // namespace
} // namespace tessel::sim::testing
