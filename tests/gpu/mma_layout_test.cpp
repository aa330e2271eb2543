// The tensor-core layouts of codegen/gpu/mma_layout.h against the PTX ISA's fragment tables
// ("Matrix Fragments for mma.m16n8k16 / m16n8k8 / m16n8k32"), written out here from the ISA's
// formulas (groupID = lane / 4, threadID_in_group = lane % 4) independently of the code; warp
// tiling; blocked <-> mma round trips; the operand swizzle and the ldmatrix plan.
#include "codegen/gpu/mma_layout.h"
#include "codegen/gpu/mma_select.h"

#include "codegen/gpu/layout_assignment.h"
#include "tessel/ir/parser.h"
#include "tessel/ir/printer.h"
#include "tessel/ir/verifier.h"

#include <gtest/gtest.h>

#include <map>
#include <set>

namespace tessel::codegen::gpu {
namespace {

using Coord = std::vector<int32_t>;

// ---- the ISA's tables, element i of lane `lane` ------------------------------------------------

// f16/bf16 m16n8k16: a0..a7, b0..b3; tf32 m16n8k8: a0..a3, b0, b1; s8 and fp8 m16n8k32: a0..a15,
// b0..b7.
Coord isa_a(MmaInstr id, int lane, int i) {
  const int g = lane / 4, t = lane % 4;
  switch (id) {
  case MmaInstr::TF32_F32:
    return {g + 8 * (i % 2), t + 4 * (i / 2)};
  case MmaInstr::S8_S32: // every 8-bit m16n8k32 (s8, u8, e4m3, e5m2) has these fragments
  case MmaInstr::E4M3_F32:
  case MmaInstr::E4M3_E5M2_F32:
    return {(i < 4 || (i >= 8 && i < 12)) ? g : g + 8, t * 4 + (i & 3) + (i >= 8 ? 16 : 0)};
  default: // 16-bit
    return {(i < 2 || (i >= 4 && i < 6)) ? g : g + 8, t * 2 + (i & 1) + (i >= 4 ? 8 : 0)};
  }
}

Coord isa_b(MmaInstr id, int lane, int i) {
  const int g = lane / 4, t = lane % 4;
  switch (id) {
  case MmaInstr::TF32_F32:
    return {t + 4 * i, g};
  case MmaInstr::S8_S32:
  case MmaInstr::E4M3_F32:
  case MmaInstr::E4M3_E5M2_F32:
    return {t * 4 + (i & 3) + (i >= 4 ? 16 : 0), g};
  default:
    return {t * 2 + (i & 1) + (i >= 2 ? 8 : 0), g};
  }
}

// c0..c3 (f32 and s32; the f16 accumulator's two f16x2 registers hold the same four elements).
Coord isa_c(int lane, int i) { return {lane / 4 + (i >= 2 ? 8 : 0), (lane % 4) * 2 + (i & 1)}; }

class MmaFragments : public ::testing::TestWithParam<MmaInstr> {};

TEST_P(MmaFragments, MatchTheIsaTables) {
  const MmaInfo& info = mma_info(GetParam());
  const LinearLayout a = mma_operand_layout(info, 0, {16, info.k}, {1, 1}, 1);
  const LinearLayout b = mma_operand_layout(info, 1, {info.k, 8}, {1, 1}, 1);
  const LinearLayout c = mma_acc_layout(info, 16, 8, {1, 1}, 1);
  ASSERT_EQ(a.in_size(InDim::Register), 16 * info.k / 32);
  ASSERT_EQ(b.in_size(InDim::Register), 8 * info.k / 32);
  ASSERT_EQ(c.in_size(InDim::Register), 4);
  for (int lane = 0; lane < 32; ++lane) {
    for (int i = 0; i < a.in_size(InDim::Register); ++i)
      EXPECT_EQ(a.apply(i, lane, 0), isa_a(info.id, lane, i))
          << info.name << " a" << i << " lane " << lane;
    for (int i = 0; i < b.in_size(InDim::Register); ++i)
      EXPECT_EQ(b.apply(i, lane, 0), isa_b(info.id, lane, i))
          << info.name << " b" << i << " lane " << lane;
    for (int i = 0; i < 4; ++i)
      EXPECT_EQ(c.apply(i, lane, 0), isa_c(lane, i)) << info.name << " c" << i << " lane " << lane;
  }
  EXPECT_TRUE(a.is_bijective());
  EXPECT_TRUE(b.is_bijective());
  EXPECT_TRUE(c.is_bijective());
}

INSTANTIATE_TEST_SUITE_P(Instrs, MmaFragments,
                         ::testing::Values(MmaInstr::F16_F32, MmaInstr::BF16_F32, MmaInstr::F16_F16,
                                           MmaInstr::TF32_F32, MmaInstr::S8_S32, MmaInstr::E4M3_F32,
                                           MmaInstr::E4M3_E5M2_F32),
                         [](const auto& info) { return std::string(mma_info(info.param).name); });

// ---- warps and repetitions ----------------------------------------------------------------------

TEST(MmaWarps, SquareWarpTilesMAlongFirst) {
  const MmaInfo& f16 = mma_info(MmaInstr::F16_F32);
  using W = std::array<int32_t, 2>;
  EXPECT_EQ(mma_warps(128, 128, 4, f16), (W{2, 2})); // 64x64 per warp
  EXPECT_EQ(mma_warps(128, 128, 8, f16), (W{4, 2})); // 32x64
  EXPECT_EQ(mma_warps(64, 128, 4, f16), (W{2, 2}));  // N is wider (64x64), then M on the tie
  EXPECT_EQ(mma_warps(16, 64, 4, f16), (W{1, 4}));   // M holds one instruction
  EXPECT_EQ(mma_warps(16, 8, 4, f16), (W{1, 1}));    // one instruction: the rest replicate
  EXPECT_EQ(mma_warps(32, 8, 8, f16), (W{2, 1}));
}

// Each warp computes a contiguous (M/wm) x (N/wn) block, every element exactly once.
TEST(MmaWarps, AccumulatorCoversTheTileOncePerWarpGroup) {
  const MmaInfo& f16 = mma_info(MmaInstr::F16_F32);
  for (auto [m, n, warps] : {std::tuple{128, 128, 4}, {64, 32, 8}, {16, 8, 2}, {128, 64, 8}}) {
    const auto w = mma_warps(m, n, warps, f16);
    const LinearLayout c = mma_acc_layout(f16, m, n, w, warps);
    EXPECT_TRUE(c.is_surjective()) << m << "x" << n;
    EXPECT_EQ(c.replication(), warps / (w[0] * w[1])) << m << "x" << n;
    for (int warp = 0; warp < warps; ++warp)
      for (const Coord& x : c.elements_of(0, warp)) {
        const int wi = warp % w[0], wj = (warp / w[0]) % w[1];
        EXPECT_EQ(x[0] / (m / w[0]), wi);
        EXPECT_EQ(x[1] / (n / w[1]), wj);
      }
    // The operands: a warp's A rows and B columns are those of its accumulator block.
    const LinearLayout a = mma_operand_layout(f16, 0, {m, 32}, w, warps);
    const LinearLayout b = mma_operand_layout(f16, 1, {32, n}, w, warps);
    for (int warp = 0; warp < warps; ++warp) {
      std::set<int32_t> rows, cols, a_rows, b_cols;
      for (int lane = 0; lane < 32; ++lane) {
        for (const Coord& x : c.elements_of(lane, warp)) {
          rows.insert(x[0]);
          cols.insert(x[1]);
        }
        for (const Coord& x : a.elements_of(lane, warp))
          a_rows.insert(x[0]);
        for (const Coord& x : b.elements_of(lane, warp))
          b_cols.insert(x[1]);
      }
      EXPECT_EQ(rows, a_rows);
      EXPECT_EQ(cols, b_cols);
    }
  }
}

// Values moved register by register from one layout to another through the maps (what the
// emission's conversion computes), and back: the identity.
std::vector<int64_t> move(const std::vector<int64_t>& held, const LinearLayout& from,
                          const LinearLayout& to) {
  std::map<int64_t, int64_t> by_element;
  const int warps = from.in_size(InDim::Warp);
  for (int w = 0; w < warps; ++w)
    for (int l = 0; l < 32; ++l)
      for (int r = 0; r < from.in_size(InDim::Register); ++r)
        by_element[from.apply_linear(r, l, w)] =
            held[(static_cast<size_t>(w) * 32 + l) * from.in_size(InDim::Register) + r];
  std::vector<int64_t> out;
  for (int w = 0; w < to.in_size(InDim::Warp); ++w)
    for (int l = 0; l < 32; ++l)
      for (int r = 0; r < to.in_size(InDim::Register); ++r)
        out.push_back(by_element.at(to.apply_linear(r, l, w)));
  return out;
}

TEST(MmaConversion, BlockedToMmaAndBackIsTheIdentity) {
  const MmaInfo& f16 = mma_info(MmaInstr::F16_F32);
  for (auto [m, n, warps] : {std::tuple{64, 64, 4}, {128, 32, 8}, {16, 16, 1}}) {
    const LinearLayout blocked = make_blocked({m, n}, warps, 4, {1, 0});
    const LinearLayout mma = mma_acc_layout(f16, m, n, mma_warps(m, n, warps, f16), warps);
    std::vector<int64_t> held;
    for (int w = 0; w < warps; ++w)
      for (int l = 0; l < 32; ++l)
        for (int r = 0; r < blocked.in_size(InDim::Register); ++r)
          held.push_back(blocked.apply_linear(r, l, w));
    const std::vector<int64_t> in_mma = move(held, blocked, mma);
    // Register r of (lane, warp) in the mma layout holds the element the map names.
    for (int w = 0, i = 0; w < warps; ++w)
      for (int l = 0; l < 32; ++l)
        for (int r = 0; r < mma.in_size(InDim::Register); ++r, ++i)
          ASSERT_EQ(in_mma[i], mma.apply_linear(r, l, w));
    EXPECT_EQ(move(in_mma, mma, blocked), held);
  }
}

// ---- shared layouts and ldmatrix ----------------------------------------------------------------

// The 64x32 f16 A tile of docs/gpu_codegen.md: rows of 64 bytes, 4 chunks of 16 bytes; chunk c of
// row r goes to chunk c ^ ((r / 2) % 4).
TEST(MmaShared, SwizzleOfA64x32F16) {
  const LinearLayout s = mma_shared_layout({64, 32}, /*contiguous=*/1, /*elem_bytes=*/2);
  ASSERT_TRUE(s.is_bijective());
  const LinearLayout inv = s.invert();
  for (int r = 0; r < 64; ++r)
    for (int c = 0; c < 32; ++c) {
      const int64_t index = inv.apply_linear(r * 32 + c, 0, 0);
      const int chunk = (c / 8) ^ ((r / 2) % 4);
      EXPECT_EQ(index, r * 32 + chunk * 8 + c % 8) << r << "," << c;
    }
}

TEST(MmaShared, WidestSwizzlePerRowWidth) {
  // (cols, elem bytes) -> expected chunk of (row, chunk 0) for rows 0..7.
  auto chunk_of = [](const LinearLayout& s, int32_t row, int32_t cols, int vec) {
    return (s.invert().apply_linear(row * cols, 0, 0) % cols) / vec;
  };
  const LinearLayout wide = mma_shared_layout({16, 64}, 1, 2);   // 128-byte rows: c ^ (r % 8)
  const LinearLayout narrow = mma_shared_layout({16, 16}, 1, 2); // 32-byte rows: c ^ (r / 4 % 2)
  const LinearLayout one = mma_shared_layout({16, 8}, 1, 2);     // 16-byte rows: nothing
  for (int r = 0; r < 16; ++r) {
    EXPECT_EQ(chunk_of(wide, r, 64, 8), r % 8);
    EXPECT_EQ(chunk_of(narrow, r, 16, 8), (r / 4) % 2);
    EXPECT_EQ(chunk_of(one, r, 8, 8), 0);
  }
}

TEST(MmaShared, LdmatrixPlans) {
  const MmaInfo& f16 = mma_info(MmaInstr::F16_F32);
  const std::array<int32_t, 2> w{2, 2};
  // A, K contiguous: ldmatrix.x4; B stored K x N with N contiguous: .x4.trans.
  const LinearLayout a = mma_operand_layout(f16, 0, {64, 32}, w, 4);
  LdMatrix pa = plan_ldmatrix(buffer_offsets(a, mma_shared_layout({64, 32}, 1, 2)));
  EXPECT_EQ(pa.num, 4);
  EXPECT_FALSE(pa.trans);
  const LinearLayout b = mma_operand_layout(f16, 1, {32, 64}, w, 4);
  LdMatrix pb = plan_ldmatrix(buffer_offsets(b, mma_shared_layout({32, 64}, 1, 2)));
  EXPECT_EQ(pb.num, 4);
  EXPECT_TRUE(pb.trans);
  // B stored N-major (K contiguous): no transpose needed.
  LdMatrix pbt = plan_ldmatrix(buffer_offsets(b, mma_shared_layout({32, 64}, 0, 2)));
  EXPECT_EQ(pbt.num, 4);
  EXPECT_FALSE(pbt.trans);
  // Lane i of the A read supplies row i % 8 of matrix i / 8 (rows g, g+8; k 0 and 8).
  const LinearLayout inv = mma_shared_layout({64, 32}, 1, 2);
  for (int lane = 0; lane < 32; ++lane) {
    const Coord want{lane % 8 + 8 * ((lane / 8) % 2), 8 * (lane / 16)};
    EXPECT_EQ(inv.apply(static_cast<int32_t>(pa.address.apply_linear(0, lane, 0)), 0, 0), want)
        << lane;
  }
  // Non-16-bit rows: no ldmatrix (tf32 A's registers are not 8 contiguous 16-bit elements).
  const MmaInfo& tf32 = mma_info(MmaInstr::TF32_F32);
  const LinearLayout at = mma_operand_layout(tf32, 0, {64, 32}, w, 4);
  EXPECT_EQ(plan_ldmatrix(buffer_offsets(at, mma_shared_layout({64, 32}, 1, 4))).num, 0);
}

// ---- the IR's #mma, #dot_op and #shared layouts ------------------------------------------------

// tessel-opt --target sm_80 --num-warps 4 --passes=assign-layouts,prepare-dot-operands,
// allocate-shared on tests/gpu/prepare_dot_operands_f16.tir.
const char* kPrepared =
    R"(kernel @dot_f16(%arg0: ptr<f32> {div = 16}, %arg1: ptr<f16> {div = 16}, %arg2: ptr<f16> {div = 16}) shared(4096) {
  %0 = arange {start = 0, end = 32} : tensor<32xi32, #blocked<register=[1,2], lane=[4,8,16,0,0], warp=[0,0]>>
  %1 = convert_layout %0 {scratch_offset = 0, scratch_bytes = 128} : tensor<32xi32, #blocked<register=[16], lane=[0,0,0,1,2], warp=[4,8]>>
  %2 = expand_dims %1 {axis = 1} : tensor<32x1xi32, #blocked<register=[[16,0]], lane=[[0,0],[0,0],[0,0],[1,0],[2,0]], warp=[[4,0],[8,0]]>>
  %3 = expand_dims %0 {axis = 0} : tensor<1x32xi32, #blocked<register=[[0,1],[0,2]], lane=[[0,4],[0,8],[0,16],[0,0],[0,0]], warp=[[0,0],[0,0]]>>
  %4 = constant {value = 32} : tensor<32x1xi32, #blocked<register=[[16,0]], lane=[[0,0],[0,0],[0,0],[1,0],[2,0]], warp=[[4,0],[8,0]]>>
  %5 = mul %2, %4 : tensor<32x1xi32, #blocked<register=[[16,0]], lane=[[0,0],[0,0],[0,0],[1,0],[2,0]], warp=[[4,0],[8,0]]>>
  %6 = broadcast %5 : tensor<32x32xi32, #blocked<register=[[0,1],[0,2],[16,0]], lane=[[0,4],[0,8],[0,16],[1,0],[2,0]], warp=[[4,0],[8,0]]>>
  %7 = broadcast %3 : tensor<32x32xi32, #blocked<register=[[0,1],[0,2],[16,0]], lane=[[0,4],[0,8],[0,16],[1,0],[2,0]], warp=[[4,0],[8,0]]>>
  %8 = add %6, %7 : tensor<32x32xi32, #blocked<register=[[0,1],[0,2],[16,0]], lane=[[0,4],[0,8],[0,16],[1,0],[2,0]], warp=[[4,0],[8,0]]>>
  %9 = splat %arg1 : tensor<32x32xptr<f16>, #blocked<register=[[0,1],[0,2],[0,4]], lane=[[0,8],[0,16],[1,0],[2,0],[4,0]], warp=[[8,0],[16,0]]>>
  %10 = convert_layout %8 {scratch_offset = 0, scratch_bytes = 4096} : tensor<32x32xi32, #blocked<register=[[0,1],[0,2],[0,4]], lane=[[0,8],[0,16],[1,0],[2,0],[4,0]], warp=[[8,0],[16,0]]>>
  %11 = addptr %9, %10 : tensor<32x32xptr<f16>, #blocked<register=[[0,1],[0,2],[0,4]], lane=[[0,8],[0,16],[1,0],[2,0],[4,0]], warp=[[8,0],[16,0]]>>
  %12 = load %11 : tensor<32x32xf16, #blocked<register=[[0,1],[0,2],[0,4]], lane=[[0,8],[0,16],[1,0],[2,0],[4,0]], warp=[[8,0],[16,0]]>>
  %13 = splat %arg2 : tensor<32x32xptr<f16>, #blocked<register=[[0,1],[0,2],[0,4]], lane=[[0,8],[0,16],[1,0],[2,0],[4,0]], warp=[[8,0],[16,0]]>>
  %14 = convert_layout %8 {scratch_offset = 0, scratch_bytes = 4096} : tensor<32x32xi32, #blocked<register=[[0,1],[0,2],[0,4]], lane=[[0,8],[0,16],[1,0],[2,0],[4,0]], warp=[[8,0],[16,0]]>>
  %15 = addptr %13, %14 : tensor<32x32xptr<f16>, #blocked<register=[[0,1],[0,2],[0,4]], lane=[[0,8],[0,16],[1,0],[2,0],[4,0]], warp=[[8,0],[16,0]]>>
  %16 = load %15 : tensor<32x32xf16, #blocked<register=[[0,1],[0,2],[0,4]], lane=[[0,8],[0,16],[1,0],[2,0],[4,0]], warp=[[8,0],[16,0]]>>
  %17 = constant {value = 0.0} : tensor<32x32xf32, #blocked<register=[[0,1],[0,2],[16,0]], lane=[[0,4],[0,8],[0,16],[1,0],[2,0]], warp=[[4,0],[8,0]]>>
  %18 = local_alloc {offset = 0} : tensor<32x32xf16, #shared<register=[[0,1],[0,2],[0,4],[0,8],[0,16],[1,0],[2,8],[4,16],[8,0],[16,0]]>>
  %19 = local_alloc {offset = 2048} : tensor<32x32xf16, #shared<register=[[0,1],[0,2],[0,4],[0,8],[0,16],[1,0],[2,8],[4,16],[8,0],[16,0]]>>
  barrier
  local_store %18, %12
  local_store %19, %16
  barrier
  %20 = local_load %18 : tensor<32x32xf16, #dot_op<register=[[0,1],[8,0],[0,8],[0,16]], lane=[[0,2],[0,4],[1,0],[2,0],[4,0]], warp=[[16,0],[0,0]]>>
  %21 = local_load %19 : tensor<32x32xf16, #dot_op<register=[[1,0],[8,0],[16,0],[0,8]], lane=[[2,0],[4,0],[0,1],[0,2],[0,4]], warp=[[0,0],[0,16]]>>
  %22 = constant {value = 0.0} : tensor<32x32xf32, #mma<register=[[0,1],[8,0],[0,8]], lane=[[0,2],[0,4],[1,0],[2,0],[4,0]], warp=[[16,0],[0,16]]>>
  %23 = dot %20, %21, %22 : tensor<32x32xf32, #mma<register=[[0,1],[8,0],[0,8]], lane=[[0,2],[0,4],[1,0],[2,0],[4,0]], warp=[[16,0],[0,16]]>>
  %24 = convert_layout %23 {scratch_offset = 0, scratch_bytes = 4096} : tensor<32x32xf32, #blocked<register=[[0,1],[0,2],[16,0]], lane=[[0,4],[0,8],[0,16],[1,0],[2,0]], warp=[[4,0],[8,0]]>>
  %25 = splat %arg0 : tensor<32x32xptr<f32>, #blocked<register=[[0,1],[0,2],[16,0]], lane=[[0,4],[0,8],[0,16],[1,0],[2,0]], warp=[[4,0],[8,0]]>>
  %26 = addptr %25, %8 : tensor<32x32xptr<f32>, #blocked<register=[[0,1],[0,2],[16,0]], lane=[[0,4],[0,8],[0,16],[1,0],[2,0]], warp=[[4,0],[8,0]]>>
  store %26, %24
  return
}
)";

TEST(MmaIr, PreparedKernelRoundTripsAndVerifies) {
  auto m = ir::parse_module(kPrepared, "prepared.tir");
  EXPECT_EQ(ir::print(*m), kPrepared);
  EXPECT_FALSE(ir::verify(*m).has_value());
  // The layouts in the types are the ones mma_layout.h computes.
  const MmaInfo& f16 = mma_info(MmaInstr::F16_F32);
  bool found = false;
  ir::walk(m->functions.front()->body, [&](const ir::Op& op) {
    if (op.opcode() != ir::Opcode::Dot)
      return;
    found = true;
    const auto* t = op.result()->type();
    EXPECT_EQ(t->layout()->kind(), ir::LayoutKind::Mma);
    EXPECT_EQ(from_attr(*t->layout(), t->dims()), mma_acc_layout(f16, 32, 32, {2, 2}, 4));
    EXPECT_EQ(op.operand(0)->type()->layout()->kind(), ir::LayoutKind::DotOperand);
    EXPECT_EQ(from_attr(*op.operand(0)->type()->layout(), op.operand(0)->type()->dims()),
              mma_operand_layout(f16, 0, {32, 32}, {2, 2}, 4));
  });
  EXPECT_TRUE(found);
}

// A dot's result must carry its accumulator's type, #mma included.
TEST(MmaIr, DotResultLayoutMustBeTheAccumulators) {
  std::string text = kPrepared;
  const std::string dot_line = "%23 = dot %20, %21, %22 : tensor<32x32xf32, #mma<";
  const size_t at = text.find(dot_line);
  ASSERT_NE(at, std::string::npos);
  text.replace(text.find("#mma<", at), 4, "#linear");
  auto m = ir::parse_module(text, "bad.tir");
  auto error = ir::verify(*m);
  ASSERT_TRUE(error.has_value());
  EXPECT_NE(error->message.find("result must have the accumulator's type"), std::string::npos)
      << error->message;
}

} // namespace
} // namespace tessel::codegen::gpu
