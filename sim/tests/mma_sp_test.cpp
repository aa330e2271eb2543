// Validation of the sparse mma (mma.sp, exec_mma_sp.cpp) on PTX that nvcc produces from
// kernels/mma_sp.cu (sm_80: .sp, sm_90: .sp::ordered_metadata): a 2:4-sparse GEMM against an f64
// reference of the dense product with the pruned A, for m16n8k32 f16/bf16 (sparsity selectors 0
// and 1) and m16n8k16 f16 (selectors 0 and 3); invalid and out-of-order metadata; forms the ISA
// does not define. The compressed A and metadata are built here from the ISA's description, not by
// the code under test.
#include "ptx_snippet.h"

#include <cmath>
#include <random>

namespace tessel::sim::testing {
namespace {

constexpr int M = 64, N = 32, K = 128;

// A 2:4-sparse [M][K] matrix: compressed values Ac[M][K/2], metadata Em[M][K/16] (chunk c of a
// word at bits 4c..4c+3, first kept position low) and the dense matrix with the zeros.
struct Sparse {
  std::vector<uint16_t> ac, em;
  std::vector<double> dense;
};

Sparse make_sparse(uint32_t seed, uint16_t (*to_bits)(float), float (*from_bits)(uint16_t)) {
  static const int kPairs[6][2] = {{0, 1}, {0, 2}, {0, 3}, {1, 2}, {1, 3}, {2, 3}};
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> dist(-1, 1);
  Sparse s;
  s.ac.resize(M * K / 2);
  s.em.assign(M * K / 16, 0);
  s.dense.assign(M * K, 0.0);
  for (int r = 0; r < M; ++r)
    for (int c = 0; c < K / 4; ++c) {
      const int* pair = kPairs[rng() % 6];
      for (int j = 0; j < 2; ++j) {
        uint16_t bits = to_bits(dist(rng));
        s.ac[r * K / 2 + 2 * c + j] = bits;
        s.dense[r * K + 4 * c + pair[j]] = from_bits(bits);
      }
      s.em[r * K / 16 + c / 4] |= uint16_t((pair[0] | pair[1] << 2) << (4 * (c % 4)));
    }
  return s;
}

std::vector<uint16_t> random_bt(uint32_t seed, uint16_t (*to_bits)(float)) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> dist(-1, 1);
  std::vector<uint16_t> bt(N * K);
  for (auto& v : bt)
    v = to_bits(dist(rng));
  return bt;
}

LaunchReport launch(const std::string& ptx, const char* kernel, const Sparse& a,
                    const std::vector<uint16_t>& bt, std::vector<float>& c) {
  Device dev;
  uint64_t pa = upload(dev, a.ac), pe = upload(dev, a.em), pb = upload(dev, bt),
           pc = upload(dev, std::vector<float>(M * N, std::nanf("")));
  std::vector<KernelArg> args = {KernelArg::ptr(pa), KernelArg::ptr(pe), KernelArg::ptr(pb),
                                 KernelArg::ptr(pc), KernelArg::i32(N),  KernelArg::i32(K)};
  auto r = dev.launch(ptx, kernel, {N / 16, M / 32, 1}, {128, 1, 1}, 0, args);
  EXPECT_TRUE(r.ok()) << r.error().to_string();
  if (!r.ok())
    return {};
  c = download<float>(dev, pc, M * N);
  return *r;
}

void expect_product(const std::vector<float>& c, const Sparse& a, const std::vector<uint16_t>& bt,
                    float (*from_bits)(uint16_t)) {
  for (int i = 0; i < M; ++i)
    for (int j = 0; j < N; ++j) {
      double ref = 0;
      for (int k = 0; k < K; ++k)
        ref += a.dense[i * K + k] * from_bits(bt[j * K + k]);
      ASSERT_NEAR(c[i * N + j], ref, 1e-4) << i << "," << j;
    }
}

class MmaSp : public ::testing::TestWithParam<int> {};

void run_gemm(int arch, const char* kernel, int kk, bool bf16) {
  SIM_LOAD_PTX(ptx, "mma_sp", arch);
  auto to_bits = bf16 ? bf16_bits : half_bits;
  auto from_bits = bf16 ? bf16_value : half_value;
  Sparse a = make_sparse(11, to_bits, from_bits);
  std::vector<uint16_t> bt = random_bt(12, to_bits);
  std::vector<float> c;
  LaunchReport r = launch(ptx, kernel, a, bt, c);
  ASSERT_TRUE(r.ok()) << errors_text(r);
  expect_product(c, a, bt, from_bits);
  // One mma.sp per warp tile and k-step: (M/16) * (N/8) * (K/kk) warp executions.
  uint64_t issued = 0;
  for (auto& l : r.profile.lines)
    if (l.opcode.rfind("mma.sp", 0) == 0)
      issued += l.warp_executions;
  EXPECT_EQ(issued, uint64_t(M / 16 * (N / 8) * (K / kk)));
}

TEST_P(MmaSp, GemmF16K32) { run_gemm(GetParam(), "sparse_gemm_f16_k32", 32, false); }
TEST_P(MmaSp, GemmF16K32SelectorOne) {
  run_gemm(GetParam(), "sparse_gemm_f16_k32_sel1", 32, false);
}
TEST_P(MmaSp, GemmBf16K32) { run_gemm(GetParam(), "sparse_gemm_bf16_k32", 32, true); }
TEST_P(MmaSp, GemmF16K16) { run_gemm(GetParam(), "sparse_gemm_f16_k16", 16, false); }
TEST_P(MmaSp, GemmF16K16SelectorThree) {
  run_gemm(GetParam(), "sparse_gemm_f16_k16_sel3", 16, false);
}

// A nibble naming one position twice (0b0101: positions 1 and 1) is undefined behaviour.
TEST_P(MmaSp, InvalidMetadataIsReported) {
  SIM_LOAD_PTX(ptx, "mma_sp", GetParam());
  Sparse a = make_sparse(13, half_bits, half_value);
  // Row 9, chunk 6: word 1 of the row, bits 8..11.
  a.em[9 * K / 16 + 1] = uint16_t((a.em[9 * K / 16 + 1] & ~0x0f00) | 0x0500);
  std::vector<float> c;
  LaunchReport r = launch(ptx, "sparse_gemm_f16_k32", a, random_bt(14, half_bits), c);
  const Error* e = find_error(r, ErrorKind::unsupported);
  ASSERT_NE(e, nullptr) << errors_text(r);
  EXPECT_NE(e->message.find("0b0101 of row 9, chunk 6"), std::string::npos) << e->message;
  EXPECT_NE(e->message.find("names one position twice"), std::string::npos) << e->message;
}

// Positions 1 then 0 (0b0001): the plain .sp form (sm_80 here) places the first value at 1 and
// the second at 0; ::ordered_metadata (sm_90 here) requires increasing positions.
TEST_P(MmaSp, OutOfOrderMetadata) {
  SIM_LOAD_PTX(ptx, "mma_sp", GetParam());
  Sparse a = make_sparse(15, half_bits, half_value);
  const int r = 3, chunk = 5; // word 1 of row 3, bits 4..7
  uint16_t& w = a.em[r * K / 16 + 1];
  w = uint16_t((w & ~0x00f0) | 0x0010);
  for (int p = 0; p < 4; ++p)
    a.dense[r * K + 4 * chunk + p] = 0;
  a.dense[r * K + 4 * chunk + 1] = half_value(a.ac[r * K / 2 + 2 * chunk]);
  a.dense[r * K + 4 * chunk + 0] = half_value(a.ac[r * K / 2 + 2 * chunk + 1]);
  std::vector<uint16_t> bt = random_bt(16, half_bits);
  std::vector<float> c;
  LaunchReport rep = launch(ptx, "sparse_gemm_f16_k32", a, bt, c);
  if (GetParam() == 80) {
    ASSERT_TRUE(rep.ok()) << errors_text(rep);
    expect_product(c, a, bt, half_value);
    return;
  }
  const Error* e = find_error(rep, ErrorKind::unsupported);
  ASSERT_NE(e, nullptr) << errors_text(rep);
  EXPECT_NE(e->message.find("out of order"), std::string::npos) << e->message;
}

INSTANTIATE_TEST_SUITE_P(Arch, MmaSp, ::testing::Values(80, 90),
                         [](const auto& info) { return "sm_" + std::to_string(info.param); });

// Forms outside the ISA's f16/bf16 mma.sp: each refused with what is wrong.
TEST(MmaSpForms, BadFormsAreReported) {
  const char* zero = "  mov.b32 %r3, 0;\n  mov.b32 %r4, 0;\n  mov.b32 %r5, 0;\n"
                     "  mov.b32 %r6, 0;\n  mov.f32 %f0, 0f00000000;\n";
  struct Case {
    const char* inst;
    const char* message;
  };
  const Case cases[] = {
      {"mma.sp.sync.aligned.m16n8k32.row.col.f32.f16.f16.f32 {%f0,%f1,%f2,%f3}, "
       "{%r3,%r4,%r5,%r6}, {%r3,%r4,%r5,%r6}, {%f0,%f0,%f0,%f0}, %r4, 2;",
       "sparsity selector must be an immediate 0 or 1 for m16n8k32"},
      {"mma.sp.sync.aligned.m16n8k16.row.col.f32.f16.f16.f32 {%f0,%f1,%f2,%f3}, "
       "{%r3,%r4,%r5,%r6}, {%r3,%r4}, {%f0,%f0,%f0,%f0}, %r4, 0;",
       "a and b must be braced lists of 2 registers for k16"},
      {"mma.sp.sync.aligned.m16n8k32.row.col.f16.bf16.bf16.f32 {%r7,%r8}, "
       "{%r3,%r4,%r5,%r6}, {%r3,%r4,%r5,%r6}, {%f0,%f0,%f0,%f0}, %r4, 0;",
       "accumulator types .f16 / .f32 are not valid for .bf16 inputs"},
      {"mma.sp.sync.aligned.m16n8k64.row.col.f32.f16.f16.f32 {%f0,%f1,%f2,%f3}, "
       "{%r3,%r4,%r5,%r6}, {%r3,%r4,%r5,%r6}, {%f0,%f0,%f0,%f0}, %r4, 0;",
       "shape m16n8k64 is not supported"},
      {"mma.sp.sync.aligned.m16n8k32.row.col.f32.f16.f16.f32 {%f0,%f1,%f2,0f00000000}, "
       "{%r3,%r4,%r5,%r6}, {%r3,%r4,%r5,%r6}, {%f0,%f0,%f0,%f0}, %r4, 0;",
       "d must name registers"},
  };
  for (const Case& c : cases) {
    SnippetRun run = run_snippet(std::string(zero) + "  " + c.inst + "\n", {});
    const Error* e = find_error(run.report, ErrorKind::unsupported);
    ASSERT_NE(e, nullptr) << c.inst << "\n" << errors_text(run.report);
    EXPECT_NE(e->message.find(c.message), std::string::npos) << e->message;
  }
}

} // namespace
} // namespace tessel::sim::testing
