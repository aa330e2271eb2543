// dot_sparse on sparse tensor cores (codegen/gpu/sparse_layouts.h, lower_mma_sp.cpp):
//  - the fragment layouts of mma.sp.sync.aligned.m16n8k16 / m16n8k32 (f16/bf16) against the PTX
//    ISA's tables ("Matrix fragments for mma.sp.m16n8k16 / m16n8k32 with floating point type",
//    "Sparse matrix storage"), written out here from the ISA's formulas (groupID = lane / 4,
//    threadID_in_group = lane % 4), independently of the code;
//  - DSL dot_sparse kernels compiled for sm_80 and sm_90a, their PTX (mma.sp or
//    ::ordered_metadata, ldmatrix, no spills), run in the PTX simulator (memcheck and racecheck
//    on, zero bank conflicts) against an f64 reference of the dense product of the decompressed
//    A, outputs poisoned first. The metadata is random per group, so a misread word (nibbles,
//    halves or lanes swapped) changes the product and fails the comparison.
#include "codegen/gpu/sparse_layouts.h"

#include "gpu_test_util.h"
#include "ptx_count.h"

#include "tessel/codegen/gpu.h"
#include "tessel/lang/dot_sparse.h"

#include <tessel/sim/sim.h>

#include <fmt/format.h>

#include <cstring>
#include <random>

namespace tessel::codegen::gpu {
namespace {

namespace tl = tessel::lang;
using Coord = std::vector<int32_t>;
using sim::KernelArg;

// ---- the ISA's tables, element i of lane `lane` -------------------------------------------------

// Compressed A: m16n8k32 a0..a7 (16 x 16), m16n8k16 a0..a3 (16 x 8).
Coord isa_a(int k, int lane, int i) {
  const int g = lane / 4, t = lane % 4;
  const bool low_row = k == 32 ? (i < 2 || (i >= 4 && i < 6)) : i < 2;
  return {low_row ? g : g + 8, t * 2 + (i & 1) + (k == 32 && i >= 4 ? 8 : 0)};
}

// B: m16n8k32 b0..b7 (32 x 8), m16n8k16 b0..b3 (16 x 8).
Coord isa_b(int lane, int i) {
  const int g = lane / 4, t = lane % 4;
  return {t * 2 + (i & 1) + 8 * (i / 2), g};
}

// The metadata register of lane 4g + t (sparsity selector 0): at k16 lane t = 0 holds row g's
// 16-bit word in bits 0..15 and row g + 8's in bits 16..31; at k32 lanes t = 0, 1 hold words t of
// rows g and g + 8 (t = 0: columns 0..15 of A, t = 1: 16..31). Word (row, c) of the M x K/16 tile;
// `half` 0 is the low 16 bits. Other lanes: not read (nullopt).
std::optional<Coord> isa_meta(int k, int lane, int half) {
  const int g = lane / 4, t = lane % 4;
  if (t >= k / 16)
    return std::nullopt;
  return Coord{g + 8 * half, t};
}

class MmaSpFragments : public ::testing::TestWithParam<int> {};

TEST_P(MmaSpFragments, MatchTheIsaTables) {
  const int k = GetParam();
  const LinearLayout a = mma_sp_a_layout(k, {16, k / 2}, {1, 1}, 1);
  const LinearLayout b = mma_sp_b_layout(k, {k, 8}, {1, 1}, 1);
  const LinearLayout e = mma_sp_meta_layout(k, {16, std::max(k / 16, 1)}, {1, 1}, 1);
  ASSERT_EQ(a.in_size(InDim::Register), k / 4);
  ASSERT_EQ(b.in_size(InDim::Register), k / 4);
  ASSERT_EQ(e.in_size(InDim::Register), 2);
  for (int lane = 0; lane < 32; ++lane) {
    for (int i = 0; i < k / 4; ++i) {
      EXPECT_EQ(a.apply(i, lane, 0), isa_a(k, lane, i))
          << "k" << k << " a" << i << " lane " << lane;
      EXPECT_EQ(b.apply(i, lane, 0), isa_b(lane, i)) << "k" << k << " b" << i << " lane " << lane;
    }
    for (int half = 0; half < 2; ++half) {
      if (std::optional<Coord> want = isa_meta(k, lane, half)) {
        EXPECT_EQ(e.apply(half, lane, 0), *want)
            << "k" << k << " e half " << half << " lane " << lane;
      }
    }
  }
  EXPECT_TRUE(a.is_bijective());
  EXPECT_TRUE(b.is_bijective());
}

INSTANTIATE_TEST_SUITE_P(K, MmaSpFragments, ::testing::Values(16, 32));

// At k32 the compressed A and B are the dense m16n8k16 A of the K/2 columns and B of the K rows,
// tiled the same way (what prepare-dot-operands stages them as), over warps and repetitions.
TEST(MmaSpLayouts, K32OperandsAreTheDenseK16Fragments) {
  const MmaInfo& info = mma_info(MmaInstr::F16_F32);
  for (auto [m, n, k, w] : {std::tuple{16, 8, 32, 1}, {64, 32, 64, 4}, {128, 64, 128, 8}}) {
    const auto warps = mma_warps(m, n, w, info);
    EXPECT_EQ(mma_sp_a_layout(32, {m, k / 2}, warps, w),
              mma_operand_layout(info, 0, {m, k / 2}, warps, w));
    EXPECT_EQ(mma_sp_b_layout(32, {k, n}, warps, w), mma_operand_layout(info, 1, {k, n}, warps, w));
    // The metadata's warps are A's: the same rows of the grid.
    const LinearLayout e = mma_sp_meta_layout(32, {m, k / 16}, warps, w);
    const LinearLayout a = mma_sp_a_layout(32, {m, k / 2}, warps, w);
    for (int warp = 0; warp < w; ++warp)
      EXPECT_EQ(e.apply(0, 0, warp)[0], a.apply(0, 0, warp)[0]) << "warp " << warp;
  }
}

// ---- executed in the simulator ------------------------------------------------------------------

// c[M, N] = dot_sparse(a [M, K/2], b [K, N], e [M, K/16]), f32 out, row-major.
const Kernel& sparse_tile() {
  static const Kernel k =
      tl::kernel("mma_sp_tile", [](tl::PtrOf<float> c, tl::Ptr a, tl::Ptr b, tl::PtrOf<int16_t> e,
                                   tl::Const<int> M, tl::Const<int> N, tl::Const<int> K) {
        auto rm = tl::expand_dims(tl::arange(0, M), 1);
        auto rn = tl::expand_dims(tl::arange(0, N), 0);
        auto av = tl::load(a + rm * (K / 2) + tl::expand_dims(tl::arange(0, K / 2), 0));
        auto bv = tl::load(b + tl::expand_dims(tl::arange(0, K), 1) * N + rn);
        auto ev = tl::load(e + rm * (K / 16) + tl::expand_dims(tl::arange(0, K / 16), 0));
        tl::store(c + rm * N + rn, tl::dot_sparse(av, bv, ev, tl::zeros({M, N}, DType::f32)));
      });
  return k;
}

struct Case {
  DType dtype;
  int m, n, k, warps;
};

std::string case_name(const Case& c) {
  return fmt::format("{}_{}x{}x{}_w{}", dtype_name(c.dtype), c.m, c.n, c.k, c.warps);
}

uint16_t bits_of(DType t, double x) {
  return t == DType::bf16 ? float_to_bfloat16(float(x)) : float_to_half(float(x));
}

// Random 2:4 data: values multiples of 1/8 in [-2, 2] (exact in f16/bf16; their products and the
// f32 sums here too), two different increasing positions per group.
struct Data {
  std::vector<uint16_t> values, meta, b;
  std::vector<double> dense_a, dense_b;
};

Data random_data(const Case& c, uint32_t seed) {
  std::mt19937 rng(seed);
  auto value = [&] { return (int(rng() % 33) - 16) / 8.0; };
  Data d;
  d.values.resize(size_t(c.m) * c.k / 2);
  d.meta.assign(size_t(c.m) * c.k / 16, 0);
  d.dense_a.assign(size_t(c.m) * c.k, 0.0);
  for (int i = 0; i < c.m; ++i)
    for (int g = 0; g < c.k / 4; ++g) {
      int first = int(rng() % 4), second = int(rng() % 3);
      second += second >= first;
      if (first > second)
        std::swap(first, second);
      const double v0 = value(), v1 = value();
      d.values[size_t(i) * c.k / 2 + 2 * g] = bits_of(c.dtype, v0);
      d.values[size_t(i) * c.k / 2 + 2 * g + 1] = bits_of(c.dtype, v1);
      d.dense_a[size_t(i) * c.k + 4 * g + first] = v0;
      d.dense_a[size_t(i) * c.k + 4 * g + second] = v1;
      d.meta[size_t(i) * c.k / 16 + g / 4] |= uint16_t((first | second << 2) << (4 * (g % 4)));
    }
  for (int i = 0; i < c.k * c.n; ++i) {
    d.dense_b.push_back(value());
    d.b.push_back(bits_of(c.dtype, d.dense_b.back()));
  }
  return d;
}

class MmaSpSim : public ::testing::TestWithParam<std::tuple<const char*, Case>> {};

TEST_P(MmaSpSim, MatchesTheReference) {
  TESSEL_REQUIRE_CUDA_TOOLKIT();
  const auto& [target, c] = GetParam();
  auto module = testing::trace_dsl(sparse_tile(), {c.m, c.n, c.k}, c.dtype);
  CompileOptions options;
  options.num_warps = c.warps;
  CompiledKernel ck = compile(*module->functions.front(), parse_target(target), options);
  EXPECT_EQ(ck.resources.spill_stores, 0);
  EXPECT_EQ(ck.resources.spill_loads, 0);
  const std::string form =
      std::string(target) == "sm_90a" ? "mma.sp::ordered_metadata.sync" : "mma.sp.sync";
  // Each warp issues its part of the tile's (M/16)(N/8)(K/32) instructions (the grid of warps is
  // mma_warps', as for the dense mma).
  const auto grid = mma_warps(c.m, c.n, c.warps, mma_info(MmaInstr::F16_F32));
  EXPECT_EQ(count_in_ptx(ck.ptx, form + ".aligned.m16n8k32.row.col"),
            size_t(c.m / 16) * (c.n / 8) * (c.k / 32) / size_t(grid[0] * grid[1]))
      << ck.ptx;
  EXPECT_EQ(count_in_ptx(ck.ptx, "mma.sync"), 0u);
  EXPECT_GT(count_in_ptx(ck.ptx, "ldmatrix"), 0u);

  const Data d = random_data(c, 7);
  sim::Device dev;
  auto upload = [&](const void* bytes, size_t n) {
    auto p = dev.malloc(n + 16);
    EXPECT_TRUE(p.ok());
    EXPECT_TRUE(dev.memcpy_to_device(*p, bytes, n).ok());
    return *p;
  };
  const size_t out_bytes = size_t(c.m) * c.n * 4;
  const std::vector<uint8_t> poison(out_bytes, 0xff); // NaN
  const uint64_t dc = upload(poison.data(), out_bytes);
  const uint64_t da = upload(d.values.data(), d.values.size() * 2);
  const uint64_t db = upload(d.b.data(), d.b.size() * 2);
  const uint64_t de = upload(d.meta.data(), d.meta.size() * 2);
  const std::vector<KernelArg> args = {KernelArg::ptr(dc), KernelArg::ptr(da), KernelArg::ptr(db),
                                       KernelArg::ptr(de)};
  auto r = dev.launch(ck.ptx, ck.name, sim::Dim3{1, 1, 1}, sim::Dim3{uint32_t(32 * c.warps), 1, 1},
                      static_cast<uint32_t>(ck.shared_bytes), args);
  ASSERT_TRUE(r.ok()) << r.error().to_string();
  for (const auto& e : r->errors)
    ADD_FAILURE() << e.to_string();
  EXPECT_EQ(r->profile.total_bank_conflicts(), 0u) << r->profile.to_string();
  std::vector<float> got(size_t(c.m) * c.n);
  ASSERT_TRUE(dev.memcpy_to_host(got.data(), dc, out_bytes).ok());
  for (int i = 0; i < c.m; ++i)
    for (int j = 0; j < c.n; ++j) {
      double want = 0;
      for (int kk = 0; kk < c.k; ++kk)
        want += d.dense_a[size_t(i) * c.k + kk] * d.dense_b[size_t(kk) * c.n + j];
      // Exact: the values are multiples of 1/8 (see random_data).
      ASSERT_EQ(got[size_t(i) * c.n + j], want) << case_name(c) << " at (" << i << ", " << j << ")";
    }
}

const Case kCases[] = {
    {DType::f16, 16, 8, 32, 1},   {DType::f16, 32, 16, 64, 1},  {DType::f16, 64, 32, 64, 4},
    {DType::f16, 64, 64, 128, 4}, {DType::bf16, 64, 16, 64, 4}, {DType::bf16, 128, 64, 32, 8},
    {DType::f16, 16, 64, 64, 4},
};

INSTANTIATE_TEST_SUITE_P(Tiles, MmaSpSim,
                         ::testing::Combine(::testing::Values("sm_80", "sm_90a"),
                                            ::testing::ValuesIn(kCases)),
                         [](const auto& info) {
                           return std::string(std::get<0>(info.param)) + "_" +
                                  case_name(std::get<1>(info.param));
                         });

// Before sm_80 (no mma.sp) and below one instruction, a clear error naming the op and why.
TEST(MmaSpErrors, TileBelowOneInstruction) {
  auto module = testing::trace_dsl(sparse_tile(), {16, 8, 16}, DType::f16);
  try {
    compile(*module->functions.front(), parse_target("sm_80"), CompileOptions{});
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("dot_sparse: the tile 16 x 8 x 16"), std::string::npos)
        << e.what();
  }
}

} // namespace
} // namespace tessel::codegen::gpu
