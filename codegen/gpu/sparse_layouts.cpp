// mma.sp selection and fragment layouts (sparse_layouts.h).
#include "codegen/gpu/sparse_layouts.h"

#include "codegen/gpu/mma_select.h"

#include "tessel/error.h"

#include <fmt/format.h>

namespace tessel::codegen::gpu {

namespace {

using Basis = LinearLayout::Basis;
using Bases = std::array<std::vector<Basis>, kNumInDims>;

constexpr int kReg = static_cast<int>(InDim::Register);
constexpr int kLane = static_cast<int>(InDim::Lane);
constexpr int kWarp = static_cast<int>(InDim::Warp);

Basis at(int32_t row, int32_t col) { return Basis{row, col}; }

// step, 2 step, ... below extent, along rows or columns.
void repeat(std::vector<Basis>& out, int32_t step, int32_t extent, bool along_rows) {
  for (int32_t s = step; s < extent; s *= 2)
    out.push_back(along_rows ? at(s, 0) : at(0, s));
}

// mma_warps' grid for an operand: the M warps (or N warps, `along_m` false) move by the warp
// tile, the others replicate.
std::vector<Basis> warp_bases(int32_t extent, std::array<int32_t, 2> warps, int num_warps,
                              bool along_m) {
  std::vector<Basis> out;
  for (int32_t w = 1; w < warps[0]; w *= 2)
    out.push_back(along_m ? at(extent / warps[0] * w, 0) : at(0, 0));
  for (int32_t w = 1; w < warps[1]; w *= 2)
    out.push_back(along_m ? at(0, 0) : at(0, extent / warps[1] * w));
  for (int32_t w = warps[0] * warps[1]; w < num_warps; w *= 2)
    out.push_back(at(0, 0));
  return out;
}

} // namespace

std::optional<MmaSp> select_mma_sp(const ir::Op& dot, const Target& target, std::string* why) {
  auto no = [&](std::string reason) -> std::optional<MmaSp> {
    if (why)
      *why = std::move(reason);
    return std::nullopt;
  };
  if (!target.has_mma_sync())
    return no(fmt::format("mma.sp needs sm_80 or later, the target is {}", target.name()));
  const ir::Type* a = dot.operand(0)->type()->element();
  const ir::Type* c = dot.result()->type()->element();
  std::optional<MmaInstr> dense = mma_for_types(a, c, DotPrecision::Ieee);
  if (!dense ||
      (*dense != MmaInstr::F16_F32 && *dense != MmaInstr::BF16_F32 && *dense != MmaInstr::F16_F16))
    return no(fmt::format("mma.sp takes f16 or bf16 operands into f32 (or f16 into f16), found "
                          "{} into {}",
                          a->str(), c->str()));
  const auto dims = dot.result()->type()->dims();
  const int64_t k = dot.operand(1)->type()->dims()[0];
  if (dims[0] < 16 || dims[1] < 8 || k < 32)
    return no(fmt::format("the tile {} x {} x {} (M x N x K) is below one mma.sp.m16n8k32 (16 x 8 "
                          "x 32)",
                          dims[0], dims[1], k));
  return MmaSp{*dense, 32};
}

LinearLayout mma_sp_a_layout(int k_instr, const std::vector<int32_t>& shape,
                             std::array<int32_t, 2> warps, int num_warps) {
  TESSEL_ASSERT(k_instr == 16 || k_instr == 32, "mma.sp is k16 or k32");
  const int32_t m = shape[0], kc = shape[1]; // kc = K/2, the compressed columns
  Bases b;
  b[kReg] = {at(0, 1), at(8, 0)};
  if (k_instr == 32)
    b[kReg].push_back(at(0, 8));
  repeat(b[kReg], k_instr / 2, kc, /*along_rows=*/false);
  repeat(b[kReg], 16, m / warps[0], /*along_rows=*/true);
  b[kLane] = {at(0, 2), at(0, 4), at(1, 0), at(2, 0), at(4, 0)};
  b[kWarp] = warp_bases(m, warps, num_warps, /*along_m=*/true);
  return LinearLayout(std::move(b), shape);
}

LinearLayout mma_sp_b_layout(int k_instr, const std::vector<int32_t>& shape,
                             std::array<int32_t, 2> warps, int num_warps) {
  TESSEL_ASSERT(k_instr == 16 || k_instr == 32, "mma.sp is k16 or k32");
  const int32_t k = shape[0], n = shape[1];
  Bases b;
  // k32's B is two k16 fragments along K: its j bit 1 (row + 16) is the first K repetition.
  b[kReg] = {at(1, 0), at(8, 0)};
  repeat(b[kReg], 16, k, /*along_rows=*/true);
  repeat(b[kReg], 8, n / warps[1], /*along_rows=*/false);
  b[kLane] = {at(2, 0), at(4, 0), at(0, 1), at(0, 2), at(0, 4)};
  b[kWarp] = warp_bases(n, warps, num_warps, /*along_m=*/false);
  return LinearLayout(std::move(b), shape);
}

LinearLayout mma_sp_meta_layout(int k_instr, const std::vector<int32_t>& shape,
                                std::array<int32_t, 2> warps, int num_warps) {
  TESSEL_ASSERT(k_instr == 16 || k_instr == 32, "mma.sp is k16 or k32");
  const int32_t m = shape[0], words = shape[1]; // words = K/16
  const int32_t per_instr = k_instr / 16;       // words of a row one instruction reads
  Bases b;
  b[kReg] = {at(8, 0)};
  repeat(b[kReg], per_instr, words, /*along_rows=*/false);
  repeat(b[kReg], 16, m / warps[0], /*along_rows=*/true);
  b[kLane] = {per_instr == 2 ? at(0, 1) : at(0, 0), at(0, 0), at(1, 0), at(2, 0), at(4, 0)};
  b[kWarp] = warp_bases(m, warps, num_warps, /*along_m=*/true);
  return LinearLayout(std::move(b), shape);
}

} // namespace tessel::codegen::gpu
