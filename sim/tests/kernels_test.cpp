// Validation of the simulator on PTX that nvcc produces from the CUDA kernels in kernels/:
// each kernel runs on random data and is compared with a CPU reference, for sm_80 and sm_90.
// Bank-conflict counts are compared with the values the bank rules predict (derived in the
// comments), and the planted bugs must be reported.
#include "sim_test_util.h"

#include <cmath>
#include <cstring>
#include <random>

namespace tessel::sim::testing {
namespace {

class Kernels : public ::testing::TestWithParam<int> {};

TEST_P(Kernels, VectorAdd) {
  SIM_LOAD_PTX(ptx, "basic", GetParam());
  const int n = 1000;
  std::mt19937 rng(1);
  std::uniform_real_distribution<float> dist(-10, 10);
  std::vector<float> a(n), b(n);
  for (int i = 0; i < n; ++i)
    a[i] = dist(rng), b[i] = dist(rng);
  Device dev;
  uint64_t pa = upload(dev, a), pb = upload(dev, b), pc = *dev.malloc(n * 4);
  std::vector<KernelArg> args = {KernelArg::ptr(pa), KernelArg::ptr(pb), KernelArg::ptr(pc),
                                 KernelArg::i32(n)};
  auto r = dev.launch(ptx, "vector_add", {8, 1, 1}, {128, 1, 1}, 0, args);
  ASSERT_TRUE(r.ok()) << r.error().to_string();
  EXPECT_TRUE(r->ok()) << errors_text(*r);
  auto c = download<float>(dev, pc, n);
  for (int i = 0; i < n; ++i)
    ASSERT_EQ(c[i], a[i] + b[i]) << i;
  EXPECT_GT(r->profile.thread_instructions, uint64_t(n * 10));
}

TEST_P(Kernels, BlockReduceWithShuffles) {
  SIM_LOAD_PTX(ptx, "basic", GetParam());
  const int n = 5000, blocks = 4, threads = 256;
  std::mt19937 rng(2);
  std::uniform_real_distribution<float> dist(0, 1);
  std::vector<float> in(n);
  for (auto& v : in)
    v = dist(rng);
  Device dev;
  uint64_t pin = upload(dev, in), pout = *dev.malloc(blocks * 4);
  std::vector<KernelArg> args = {KernelArg::ptr(pin), KernelArg::ptr(pout), KernelArg::i32(n)};
  auto r = dev.launch(ptx, "block_reduce", {blocks, 1, 1}, {threads, 1, 1}, 0, args);
  ASSERT_TRUE(r.ok()) << r.error().to_string();
  EXPECT_TRUE(r->ok()) << errors_text(*r);
  auto out = download<float>(dev, pout, blocks);
  for (int b = 0; b < blocks; ++b) {
    double ref = 0;
    for (int i = b * threads; i < n; i += blocks * threads)
      for (int t = 0; t < threads && i + t < n; ++t)
        ref += in[i + t];
    EXPECT_NEAR(out[b], ref, 1e-3 * std::abs(ref)) << "block " << b;
  }
}

TEST_P(Kernels, HistogramWithSharedAndGlobalAtomics) {
  SIM_LOAD_PTX(ptx, "basic", GetParam());
  const int n = 10000;
  std::mt19937 rng(3);
  std::vector<uint8_t> data(n);
  for (auto& v : data)
    v = static_cast<uint8_t>(rng() % 256);
  Device dev;
  uint64_t pd = upload(dev, data), pb = *dev.malloc(256 * 4);
  ASSERT_TRUE(dev.memset(pb, 0, 256 * 4).ok());
  std::vector<KernelArg> args = {KernelArg::ptr(pd), KernelArg::i32(n), KernelArg::ptr(pb)};
  auto r = dev.launch(ptx, "histogram", {8, 1, 1}, {256, 1, 1}, 0, args);
  ASSERT_TRUE(r.ok()) << r.error().to_string();
  EXPECT_TRUE(r->ok()) << errors_text(*r);
  auto bins = download<uint32_t>(dev, pb, 256);
  std::vector<uint32_t> ref(256, 0);
  for (auto v : data)
    ++ref[v];
  EXPECT_EQ(bins, ref);
}

int divergent_reference(int x) {
  int acc = 0;
  if (x % 3 == 0) {
    for (int k = 0; k < (x & 15); ++k)
      acc += k * x;
  } else if (x % 3 == 1) {
    int k = x;
    while (k > 1) {
      k = (k & 1) ? 3 * k + 1 : k / 2;
      ++acc;
      if (acc > 50)
        break;
    }
  } else {
    acc = -x;
    if (x & 4)
      acc *= 2;
  }
  return acc;
}

TEST_P(Kernels, DivergentBranchesAndLoops) {
  SIM_LOAD_PTX(ptx, "basic", GetParam());
  const int n = 300; // the last warp is partial and exits early
  std::mt19937 rng(4);
  std::vector<int> in(n);
  for (auto& v : in)
    v = static_cast<int>(rng() % 1000);
  Device dev;
  uint64_t pin = upload(dev, in), pout = *dev.malloc(n * 4), pv = *dev.malloc(16 * 4);
  ASSERT_TRUE(dev.memset(pv, 0xff, 16 * 4).ok());
  std::vector<KernelArg> args = {KernelArg::ptr(pin), KernelArg::ptr(pout), KernelArg::ptr(pv),
                                 KernelArg::i32(n)};
  auto r = dev.launch(ptx, "divergent", {3, 1, 1}, {128, 1, 1}, 0, args);
  ASSERT_TRUE(r.ok()) << r.error().to_string();
  EXPECT_TRUE(r->ok()) << errors_text(*r);
  auto out = download<int>(dev, pout, n);
  auto votes = download<int>(dev, pv, 16);
  for (int i = 0; i < n; ++i)
    ASSERT_EQ(out[i], divergent_reference(in[i])) << "element " << i;
  // Each warp's lane 0 stores the number of its live lanes with acc > 10: the ballot sees
  // exactly the lanes that reconverged after the branches (all that did not exit).
  for (int w = 0; w < (n + 31) / 32; ++w) {
    int count = 0;
    for (int i = w * 32; i < std::min(n, w * 32 + 32); ++i)
      count += divergent_reference(in[i]) > 10;
    EXPECT_EQ(votes[w], count) << "warp " << w;
  }
}

// Transpose of a 64x64 matrix with 32x32 tiles, block (32, 8): 4 CTAs of 8 warps; every warp
// does 4 shared stores (row-wise, tile[ty+j][tx]) and 4 shared loads (column-wise,
// tile[tx][ty+j]), so 4*8*4 = 128 store requests and 128 load requests in all.
// Naive tile[32][32] of floats: a store's 32 lanes touch 32 consecutive words (banks
// tx % 32: all distinct) -> 1 wavefront. A load's lane tx reads word tx*32 + c, whose bank
// is (tx*32 + c) % 32 = c for every lane: 32 distinct words in one bank -> 32 wavefronts.
// So stores: 128 wavefronts, 0 conflicts; loads: 128*32 = 4096 wavefronts, 128*31 = 3968
// conflicts. Padded tile[32][33]: the load's bank is (tx*33 + c) % 32 = (tx + c) % 32, all
// distinct -> 1 wavefront: 128 wavefronts and 0 conflicts for loads as for stores.
void run_transpose(const std::string& ptx, const char* kernel, SharedTotals expect_ld,
                   SharedTotals expect_st) {
  const int w = 64, h = 64;
  std::vector<float> in(w * h);
  for (int i = 0; i < w * h; ++i)
    in[i] = static_cast<float>(i);
  Device dev;
  uint64_t pin = upload(dev, in), pout = *dev.malloc(w * h * 4);
  std::vector<KernelArg> args = {KernelArg::ptr(pin), KernelArg::ptr(pout), KernelArg::i32(w),
                                 KernelArg::i32(h)};
  auto r = dev.launch(ptx, kernel, {2, 2, 1}, {32, 8, 1}, 0, args);
  ASSERT_TRUE(r.ok()) << r.error().to_string();
  EXPECT_TRUE(r->ok()) << errors_text(*r);
  auto out = download<float>(dev, pout, w * h);
  for (int y = 0; y < h; ++y)
    for (int x = 0; x < w; ++x)
      ASSERT_EQ(out[x * h + y], in[y * w + x]) << x << "," << y;
  SharedTotals ld = shared_totals(r->profile, "ld.shared"),
               st = shared_totals(r->profile, "st.shared");
  EXPECT_EQ(ld.requests, expect_ld.requests);
  EXPECT_EQ(ld.wavefronts, expect_ld.wavefronts);
  EXPECT_EQ(ld.ideal, expect_ld.ideal);
  EXPECT_EQ(st.requests, expect_st.requests);
  EXPECT_EQ(st.wavefronts, expect_st.wavefronts);
  EXPECT_EQ(st.ideal, expect_st.ideal);
}

TEST_P(Kernels, TransposeNaiveHas31ConflictsPerLoad) {
  SIM_LOAD_PTX(ptx, "transpose", GetParam());
  run_transpose(ptx, "transpose_naive", {128, 4096, 128}, {128, 128, 128});
}

TEST_P(Kernels, TransposePaddedIsConflictFree) {
  SIM_LOAD_PTX(ptx, "transpose", GetParam());
  run_transpose(ptx, "transpose_padded", {128, 128, 128}, {128, 128, 128});
}

TEST_P(Kernels, DoubleBufferedCpAsyncCopy) {
  SIM_LOAD_PTX(ptx, "cp_async", GetParam());
  const int threads = 64, tiles = 5, blocks = 3;
  const int n = blocks * tiles * threads * 4;
  std::vector<float> in(n);
  for (int i = 0; i < n; ++i)
    in[i] = static_cast<float>(i) * 0.5f;
  Device dev;
  uint64_t pin = upload(dev, in), pout = *dev.malloc(n * 4);
  std::vector<KernelArg> args = {KernelArg::ptr(pin), KernelArg::ptr(pout), KernelArg::i32(tiles)};
  auto r =
      dev.launch(ptx, "pipelined_copy", {blocks, 1, 1}, {threads, 1, 1}, 2 * threads * 16, args);
  ASSERT_TRUE(r.ok()) << r.error().to_string();
  EXPECT_TRUE(r->ok()) << errors_text(*r);
  auto out = download<float>(dev, pout, n);
  for (int i = 0; i < n; ++i)
    ASSERT_EQ(out[i], 2 * in[i]) << i;
}

TEST_P(Kernels, CpAsyncReadBeforeWaitIsReported) {
  SIM_LOAD_PTX(ptx, "cp_async", GetParam());
  std::vector<float> in(128, 1.0f);
  Device dev;
  uint64_t pin = upload(dev, in), pout = *dev.malloc(128 * 4);
  std::vector<KernelArg> args = {KernelArg::ptr(pin), KernelArg::ptr(pout)};
  auto r = dev.launch(ptx, "early_read", {1, 1, 1}, {32, 1, 1}, 0, args);
  ASSERT_TRUE(r.ok()) << r.error().to_string();
  const Error* e = find_error(*r, ErrorKind::sync);
  ASSERT_NE(e, nullptr) << errors_text(*r);
  EXPECT_NE(e->message.find("cp.async"), std::string::npos) << e->to_string();
}

TEST_P(Kernels, OutOfBoundsWriteIsReported) {
  SIM_LOAD_PTX(ptx, "bugs", GetParam());
  const int n = 100;
  Device dev;
  uint64_t p = *dev.malloc(n * 4);
  std::vector<KernelArg> args = {KernelArg::ptr(p), KernelArg::i32(n)};
  auto r = dev.launch(ptx, "oob_write", {2, 1, 1}, {64, 1, 1}, 0, args);
  ASSERT_TRUE(r.ok()) << r.error().to_string();
  ASSERT_EQ(r->errors.size(), 1u) << errors_text(*r);
  const Error& e = r->errors[0];
  EXPECT_EQ(e.kind, ErrorKind::memcheck);
  EXPECT_EQ(e.kernel, "oob_write");
  EXPECT_TRUE(e.has_address);
  EXPECT_EQ(e.address, p + n * 4);
  EXPECT_TRUE(e.has_thread);
  EXPECT_EQ(e.block.x, 1u); // i = 100 = 1 * 64 + 36
  EXPECT_EQ(e.thread.x, 36u);
  EXPECT_GT(e.ptx_line, 0);
  EXPECT_EQ(e.source_line, 6); // the store in bugs.cu
  EXPECT_NE(e.source_file.find("bugs.cu"), std::string::npos);
  EXPECT_NE(e.to_string().find("out-of-bounds"), std::string::npos) << e.to_string();
}

// nvcc's cuda::barrier PTX (mbarrier.init/arrive/try_wait with a token, nanosleep backoff):
// warp 0 produces `rounds` rows, warps 1..3 sum them; clean under racecheck.
TEST_P(Kernels, MbarrierRingFromCudaBarrier) {
  SIM_LOAD_PTX(ptx, "mbarrier", GetParam());
  const int rounds = 5;
  std::mt19937 rng(11);
  std::vector<int32_t> in(rounds * 32);
  for (auto& v : in)
    v = static_cast<int32_t>(rng() % 1000);
  Device dev;
  uint64_t pin = upload(dev, in), pout = *dev.malloc(96 * 4);
  std::vector<int32_t> poison(96, -1);
  ASSERT_TRUE(dev.memcpy_to_device(pout, poison.data(), 96 * 4).ok());
  std::vector<KernelArg> args = {KernelArg::ptr(pin), KernelArg::ptr(pout), KernelArg::i32(rounds)};
  auto r = dev.launch(ptx, "ring", {1, 1, 1}, {128, 1, 1}, 0, args);
  ASSERT_TRUE(r.ok()) << r.error().to_string();
  EXPECT_TRUE(r->errors.empty()) << errors_text(*r);
  std::vector<int32_t> out(96);
  ASSERT_TRUE(dev.memcpy_to_host(out.data(), pout, 96 * 4).ok());
  for (int t = 0; t < 96; ++t) {
    int32_t want = 0;
    for (int k = 0; k < rounds; ++k)
      want += in[k * 32 + t % 32];
    EXPECT_EQ(out[t], want) << "consumer thread " << t;
  }
}

TEST_P(Kernels, SharedRaceIsReported) {
  SIM_LOAD_PTX(ptx, "bugs", GetParam());
  std::vector<float> in(256, 1.0f);
  Device dev;
  uint64_t pin = upload(dev, in), pout = *dev.malloc(256 * 4);
  std::vector<KernelArg> args = {KernelArg::ptr(pin), KernelArg::ptr(pout)};
  auto r = dev.launch(ptx, "shared_race", {2, 1, 1}, {128, 1, 1}, 0, args);
  ASSERT_TRUE(r.ok()) << r.error().to_string();
  const Error* e = find_error(*r, ErrorKind::racecheck);
  ASSERT_NE(e, nullptr) << errors_text(*r);
  EXPECT_NE(e->message.find("hazard"), std::string::npos);
  EXPECT_EQ(e->kernel, "shared_race");
}

template <typename Convert>
void run_gemm(const std::string& ptx, const char* kernel, Convert to_bits,
              float (*from_bits)(uint16_t)) {
  const int M = 64, N = 32, K = 64;
  std::mt19937 rng(5);
  std::uniform_real_distribution<float> dist(-1, 1);
  std::vector<uint16_t> a(M * K), bt(N * K);
  for (auto& v : a)
    v = to_bits(dist(rng));
  for (auto& v : bt)
    v = to_bits(dist(rng));
  Device dev;
  uint64_t pa = upload(dev, a), pb = upload(dev, bt), pc = *dev.malloc(M * N * 4);
  std::vector<KernelArg> args = {KernelArg::ptr(pa), KernelArg::ptr(pb), KernelArg::ptr(pc),
                                 KernelArg::i32(M),  KernelArg::i32(N),  KernelArg::i32(K)};
  auto r = dev.launch(ptx, kernel, {N / 16, M / 32, 1}, {128, 1, 1}, 0, args);
  ASSERT_TRUE(r.ok()) << r.error().to_string();
  EXPECT_TRUE(r->ok()) << errors_text(*r);
  auto c = download<float>(dev, pc, M * N);
  for (int i = 0; i < M; ++i)
    for (int j = 0; j < N; ++j) {
      double ref = 0;
      for (int k = 0; k < K; ++k)
        ref += double(from_bits(a[i * K + k])) * from_bits(bt[j * K + k]);
      ASSERT_NEAR(c[i * N + j], ref, 1e-4) << i << "," << j;
    }
  // ldmatrix rows are 48 bytes apart (16 halves + 8 of padding): the 8 rows of a matrix start
  // at words 0, 12, 24, 36, 48, 60, 72, 84 and cover banks {0-3, 12-15, 24-27, 4-7, 16-19,
  // 28-31, 8-11, 20-23}: all distinct, so each 8x8 matrix is one conflict-free wavefront.
  SharedTotals lm = shared_totals(r->profile, "ldmatrix");
  EXPECT_GT(lm.requests, 0u);
  EXPECT_EQ(lm.wavefronts, lm.ideal);
}

TEST_P(Kernels, WarpGemmLdmatrixMmaF16) {
  SIM_LOAD_PTX(ptx, "mma", GetParam());
  run_gemm(
      ptx, "gemm_f16", [](float f) { return half_bits(f); }, half_value);
}

TEST_P(Kernels, WarpGemmLdmatrixMmaBf16) {
  SIM_LOAD_PTX(ptx, "mma", GetParam());
  run_gemm(
      ptx, "gemm_bf16", [](float f) { return bf16_bits(f); }, bf16_value);
}

INSTANTIATE_TEST_SUITE_P(Arch, Kernels, ::testing::Values(80, 90),
                         [](const auto& info) { return "sm_" + std::to_string(info.param); });

} // namespace
} // namespace tessel::sim::testing
