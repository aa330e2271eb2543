// The bank-conflict proof: for every kernel the samples and the reduction tests compile to, every
// warp-wide shared-memory access the lowering emits (layout conversions and cross-warp reduction
// scratch, listed in CompiledKernel::shared_accesses with each lane's byte offset) is enumerated
// lane by lane and shown to need one wavefront per phase — one per 128 bytes moved: 32 lanes at
// once for accesses of up to 4 bytes, 16 lanes for 8 bytes, 8 lanes for 16 bytes, and no bank
// asked for two distinct 4-byte words within a phase. The counting here is written independently
// of codegen/gpu/swizzle.cpp; sim_run_test.cpp checks the same kernels in the simulator. The
// tensor-core path (operand staging, ldmatrix, the accumulator's epilogue) is proved the same way,
// and its swizzle once more from the formula alone; mma_sim_test.cpp runs those kernels.
#include "gpu_test_util.h"
#include "test_kernels.h"

#include <fmt/format.h>

#include <cstdio>
#include <cstdlib>
#include <set>

namespace tessel::codegen::gpu {
namespace {

namespace tl = tessel::lang;

// Wavefronts beyond one per active phase.
int conflicts(const SharedAccess& a) {
  const uint32_t lanes = a.bytes <= 4 ? 32 : 128 / a.bytes;
  int extra = 0;
  for (uint32_t phase = 0; phase < 32 / lanes; ++phase) {
    std::array<std::set<uint32_t>, 32> words; // distinct words asked of each bank
    bool active = false;
    for (uint32_t lane = phase * lanes; lane < (phase + 1) * lanes; ++lane) {
      if (!(a.active >> lane & 1))
        continue;
      active = true;
      for (uint32_t byte = 0; byte < a.bytes; byte += 4) {
        const uint32_t word = (a.offsets[lane] + byte) / 4;
        words[word % 32].insert(word);
      }
    }
    size_t most = 0;
    for (const auto& w : words)
      most = std::max(most, w.size());
    if (active)
      extra += static_cast<int>(most) - 1;
  }
  return extra;
}

std::string lanes_of(const SharedAccess& a) {
  std::string s;
  for (int lane = 0; lane < 32; ++lane)
    if (a.active >> lane & 1)
      s += fmt::format(" {}:{}", lane, a.offsets[lane]);
  return s;
}

void expect_conflict_free(const CompiledKernel& k, size_t at_least) {
  EXPECT_GE(k.shared_accesses.size(), at_least)
      << k.name << ": fewer shared accesses than expected";
  for (const SharedAccess& a : k.shared_accesses) {
    if (std::getenv("TESSEL_PRINT_ACCESSES"))
      std::printf("%s %s %s %u bytes:%s\n", k.name.c_str(), a.what.c_str(), a.store ? "st" : "ld",
                  a.bytes, lanes_of(a).c_str());
    EXPECT_EQ(a.bytes & (a.bytes - 1), 0u) << "access width " << a.bytes;
    for (int lane = 0; lane < 32; ++lane) {
      if (a.active >> lane & 1) {
        EXPECT_EQ(a.offsets[lane] % a.bytes, 0u) << k.name << ": misaligned " << a.what;
      }
    }
    EXPECT_EQ(conflicts(a), 0) << k.name << " on " << k.target.name() << ": " << a.what
                               << (a.store ? " (store, " : " (load, ") << a.bytes
                               << " bytes) has bank conflicts; lane:offset" << lanes_of(a);
  }
}

TEST(BankConflictCount, FollowsTheIsaRules) {
  SharedAccess a;
  a.active = ~0u;
  a.bytes = 4;
  for (uint32_t l = 0; l < 32; ++l)
    a.offsets[l] = 4 * l; // 32 banks, one word each
  EXPECT_EQ(conflicts(a), 0);
  for (uint32_t l = 0; l < 32; ++l)
    a.offsets[l] = 8 * l; // two words in each even bank
  EXPECT_EQ(conflicts(a), 1);
  for (uint32_t l = 0; l < 32; ++l)
    a.offsets[l] = 4 * (l % 4); // broadcast: four words, each read by 8 lanes
  EXPECT_EQ(conflicts(a), 0);
  a.bytes = 16;
  for (uint32_t l = 0; l < 32; ++l)
    a.offsets[l] = 16 * l; // 8 lanes x 16 bytes per phase: 4 phases, 1 wavefront each
  EXPECT_EQ(conflicts(a), 0);
  for (uint32_t l = 0; l < 32; ++l)
    a.offsets[l] = 32 * l; // 32-byte stride: 2 wavefronts per phase
  EXPECT_EQ(conflicts(a), 4);
  a.bytes = 8;
  for (uint32_t l = 0; l < 32; ++l)
    a.offsets[l] = 8 * l;
  EXPECT_EQ(conflicts(a), 0);
}

struct SampleCase {
  const char* kernel;
  std::vector<std::string> defines;
  int num_warps;
  size_t at_least; // shared accesses the kernel is known to make
};

class BankConflictFree : public ::testing::TestWithParam<const char*> {};

TEST_P(BankConflictFree, Samples) {
  const std::vector<SampleCase> cases = {
      {"vector_add", {}, 4, 0},
      {"softmax", {}, 4, 1},
      {"softmax", {"DTYPE=f16"}, 4, 1},
      {"softmax", {}, 8, 1},
      {"layer_norm", {}, 4, 1},
      {"layer_norm", {"DTYPE=f16"}, 4, 1},
      {"matmul", {}, 4, 4},
      {"matmul", {"BLOCK_K=32"}, 8, 4},
      // Pipelined on tensor cores: cp.async 16-byte writes and ldmatrix reads of the swizzled
      // rings (prepare-dot-operands retypes them), conflict-free on both sides.
      {"matmul", {"DTYPE=f16", "BLOCK_K=32"}, 4, 4},
      {"matmul", {"DTYPE=bf16"}, 4, 4},
      {"matmul", {"DTYPE=f16", "BLOCK_K=64"}, 8, 4},
  };
  for (const SampleCase& c : cases) {
    SCOPED_TRACE(
        fmt::format("{} {} num_warps={}", c.kernel, fmt::join(c.defines, " "), c.num_warps));
    expect_conflict_free(
        testing::compile_sample(c.kernel, GetParam(), c.defines, Stage::Llvm, c.num_warps),
        c.at_least);
  }
}

CompiledKernel build(const Kernel& k, std::vector<int64_t> consts, const char* target, DType dtype,
                     int num_warps) {
  auto module = testing::trace_dsl(k, std::move(consts), dtype);
  CompileOptions options;
  options.num_warps = num_warps;
  return compile(*module->functions.front(), parse_target(target), options, Stage::Llvm);
}

TEST_P(BankConflictFree, ReductionsScansAndControlFlow) {
  for (DType dtype : {DType::f32, DType::f16})
    for (int warps : {4, 8}) {
      SCOPED_TRACE(
          fmt::format("dtype {} num_warps={}", dtype == DType::f32 ? "f32" : "f16", warps));
      expect_conflict_free(
          build(testing::reduce_rows_kernel(), {32, 128}, GetParam(), dtype, warps), 4);
      expect_conflict_free(build(testing::reduce_rows_kernel(), {64, 64}, GetParam(), dtype, warps),
                           4);
      expect_conflict_free(build(testing::scan_kernel(), {64}, GetParam(), dtype, warps), 2);
      expect_conflict_free(build(testing::control_kernel(), {256}, GetParam(), dtype, warps), 1);
      // Parallel scans: the conversions into the scan layout and back, and the warps' totals.
      for (int64_t n : {4096, 1024, 64})
        expect_conflict_free(build(testing::scan_1d_kernel(), {n}, GetParam(), dtype, warps), 2);
      expect_conflict_free(build(testing::scan_2d_kernel(), {64, 64}, GetParam(), dtype, warps), 4);
      expect_conflict_free(build(testing::scan_2d_kernel(), {16, 256}, GetParam(), dtype, warps),
                           4);
    }
}

// ---- tensor-core operands -------------------------------------------------------------------

// The operand swizzle of docs/gpu_codegen.md, written out independently of mma_layout.cpp: 16-byte
// chunk c of row r of a tile with `chunks` chunks per row lives at chunk c ^ ((r / per_phase) %
// max_phase). Every warp-wide access the MMA path makes to such a tile, enumerated lane by lane:
//   ldmatrix (each 8-lane phase reads one 8x8 matrix: 8 consecutive rows, one chunk each; rows
//     start at 8-row boundaries, chunks anywhere), and
//   the 16-byte stores of a row-major blocked layout (8 lanes: consecutive chunks, row by row),
// needs one wavefront per phase.
uint32_t swizzled_offset(uint32_t row, uint32_t chunk, uint32_t chunks) {
  const uint32_t max_phase = std::min(8u, chunks), per_phase = std::max(1u, 8 / chunks);
  return (row * chunks + (chunk ^ ((row / per_phase) % max_phase))) * 16;
}

TEST(BankConflictFreeMma, SwizzledOperandTilesTakeOneWavefrontPerPhase) {
  for (uint32_t chunks : {1u, 2u, 4u, 8u, 16u}) // rows of 16 to 256 bytes
    for (uint32_t rows : {16u, 32u, 64u, 128u}) {
      SCOPED_TRACE(fmt::format("{} rows of {} bytes", rows, chunks * 16));
      for (uint32_t row0 = 0; row0 < rows; row0 += 8)
        for (uint32_t c = 0; c < chunks; ++c) {
          SharedAccess ld; // one ldmatrix phase per matrix; four matrices of one row block
          ld.bytes = 16;
          for (uint32_t lane = 0; lane < 32; ++lane) {
            ld.active |= 1u << lane;
            ld.offsets[lane] = swizzled_offset(row0 + lane % 8, c, chunks);
          }
          EXPECT_EQ(conflicts(ld), 0)
              << "ldmatrix rows " << row0 << ".. chunk " << c << lanes_of(ld);
        }
      for (uint32_t first = 0; first < rows * chunks; first += 32) {
        SharedAccess st; // 32 lanes, each the next 16-byte chunk in row-major order
        st.bytes = 16;
        st.store = true;
        for (uint32_t lane = 0; lane < 32 && first + lane < rows * chunks; ++lane) {
          st.active |= 1u << lane;
          st.offsets[lane] =
              swizzled_offset((first + lane) / chunks, (first + lane) % chunks, chunks);
        }
        EXPECT_EQ(conflicts(st), 0) << "store from chunk " << first << lanes_of(st);
      }
    }
}

const Kernel& mma_dot_kernel() {
  static const Kernel k =
      tl::kernel("bank_mma_dot", [](tl::PtrOf<float> c, tl::Ptr a, tl::Ptr b, tl::Const<int> M,
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

// What the emission records of tensor-core dots: the operand stores, the ldmatrix (16-bit) or
// plain (tf32) operand reads and the epilogue's conversion of the accumulator, all conflict-free.
TEST_P(BankConflictFree, TensorCoreDots) {
  struct Shape {
    int64_t m, n, k;
    int warps;
  };
  for (DType dtype : {DType::f16, DType::bf16, DType::f32})
    for (Shape s : {Shape{16, 8, 16, 1}, Shape{64, 64, 32, 4}, Shape{64, 32, 64, 2},
                    Shape{128, 128, 32, 8}}) {
      SCOPED_TRACE(
          fmt::format("{} {}x{}x{} num_warps={}", dtype_name(dtype), s.m, s.n, s.k, s.warps));
      CompiledKernel k = build(mma_dot_kernel(), {s.m, s.n, s.k}, GetParam(), dtype, s.warps);
      expect_conflict_free(k, 4);
      size_t ldmatrix = 0, stores = 0;
      for (const SharedAccess& a : k.shared_accesses) {
        ldmatrix += a.what.rfind("ldmatrix", 0) == 0;
        stores += a.what.rfind("local_store", 0) == 0;
      }
      // On sm_90a the 16-bit tiles of whole warpgroups run on wgmma, which reads the swizzled
      // buffers itself: no ldmatrix (docs/gpu_codegen.md, "Hopper: wgmma").
      const bool wgmma = std::string(GetParam()) == "sm_90a" && dtype != DType::f32 &&
                         s.warps % 4 == 0 && s.m >= 64 * (s.warps / 4);
      EXPECT_EQ(ldmatrix > 0, dtype != DType::f32 && !wgmma);
      EXPECT_GT(stores, 0u);
    }
}

INSTANTIATE_TEST_SUITE_P(Gpu, BankConflictFree, ::testing::Values("sm_80", "sm_90a"));

} // namespace
} // namespace tessel::codegen::gpu
