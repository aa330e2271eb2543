// MMA selection (mma_select.h).
#include "codegen/gpu/mma_select.h"

#include <fmt/format.h>

#include <algorithm>

namespace tessel::codegen::gpu {

namespace {

bool is(const ir::Type* t, DType k) { return t->is_scalar() && t->dtype() == k; }

// The fp8 rows: both operands fp8 (either pair), an f32 sum.
std::optional<MmaInstr> fp8_mma(const ir::Type* a, const ir::Type* b, const ir::Type* c) {
  if (!is(c, DType::f32))
    return std::nullopt;
  const bool a4 = is(a, DType::f8e4m3), a5 = is(a, DType::f8e5m2);
  const bool b4 = is(b, DType::f8e4m3), b5 = is(b, DType::f8e5m2);
  if (a4 && b4)
    return MmaInstr::E4M3_F32;
  if (a5 && b5)
    return MmaInstr::E5M2_F32;
  if (a4 && b5)
    return MmaInstr::E4M3_E5M2_F32;
  if (a5 && b4)
    return MmaInstr::E5M2_E4M3_F32;
  return std::nullopt;
}

} // namespace

DotPrecision dot_precision(const ir::Op& dot) {
  const ir::Attr& p = dot.attr("precision");
  if (p.kind != ir::Attr::Kind::Int)
    return DotPrecision::Tf32; // the GPU default for f32 operands
  return static_cast<DotPrecision>(p.i);
}

bool is_fp8_dot(const ir::Op& dot) {
  auto fp8 = [](const ir::Type* t) { return t->is_scalar() && dtype_is_fp8(t->dtype()); };
  return fp8(dot.operand(0)->type()->element()) || fp8(dot.operand(1)->type()->element());
}

std::optional<MmaInstr> mma_for_types(const ir::Type* a, const ir::Type* c, DotPrecision precision,
                                      const ir::Type* b) {
  if (b == nullptr)
    b = a;
  if (std::optional<MmaInstr> fp8 = fp8_mma(a, b, c))
    return fp8;
  if (a != b)
    return std::nullopt;
  if (is(a, DType::f16) && is(c, DType::f32))
    return MmaInstr::F16_F32;
  if (is(a, DType::bf16) && is(c, DType::f32))
    return MmaInstr::BF16_F32;
  if (is(a, DType::f16) && is(c, DType::f16))
    return MmaInstr::F16_F16;
  if (is(a, DType::f32) && is(c, DType::f32) && precision != DotPrecision::Ieee)
    return MmaInstr::TF32_F32; // tf32x3: three of them per product (lower_mma.cpp)
  if (is(a, DType::i8) && is(c, DType::i32))
    return MmaInstr::S8_S32;
  if (is(a, DType::u8) && is(c, DType::i32))
    return MmaInstr::U8_S32;
  return std::nullopt;
}

std::optional<MmaInstr> select_mma(const ir::Op& dot, const Target& target, std::string* why) {
  auto none = [&](std::string reason) -> std::optional<MmaInstr> {
    if (why)
      *why = std::move(reason);
    return std::nullopt;
  };
  if (!target.has_mma_sync())
    return none(target.name() + " has no mma.sync");
  const ir::Type* a = dot.operand(0)->type();
  const ir::Type* c = dot.result()->type();
  std::optional<MmaInstr> instr = mma_for_types(a->element(), c->element(), dot_precision(dot),
                                                dot.operand(1)->type()->element());
  if (!instr)
    return none("no mma.sync takes these operand and accumulator types");
  const MmaInfo& info = mma_info(*instr);
  if (!(target.*info.needs)())
    return none(fmt::format("{} needs a newer target than {}", info.name, target.name()));
  const int64_t m = a->dims()[0], k = a->dims()[1], n = c->dims()[1];
  if (m < info.m || n < info.n || k < info.k)
    return none(fmt::format("the tile {}x{}x{} is below one m{}n{}k{} instruction", m, n, k, info.m,
                            info.n, info.k));
  return instr;
}

namespace {

// The rows wgmma has (PTX ISA, "wgmma.mma_async": .f32 sums of f16, bf16, tf32 and e4m3/e5m2 in
// any pair, .s32 sums of s8/u8). f16 accumulators (F16_F16) and tf32x3 stay on mma.sync.
bool wgmma_has(MmaInstr instr, DotPrecision precision) {
  switch (instr) {
  case MmaInstr::F16_F32:
  case MmaInstr::BF16_F32:
  case MmaInstr::S8_S32:
  case MmaInstr::U8_S32:
  case MmaInstr::E4M3_F32:
  case MmaInstr::E5M2_F32:
  case MmaInstr::E4M3_E5M2_F32:
  case MmaInstr::E5M2_E4M3_F32:
    return true;
  case MmaInstr::TF32_F32:
    return precision == DotPrecision::Tf32; // tf32x3's three products a dot stay on mma.sync
  default:
    return false;
  }
}

} // namespace

std::optional<WgmmaShape> select_wgmma(const ir::Op& dot, const Target& target, int num_warps,
                                       std::string* why) {
  auto none = [&](std::string reason) -> std::optional<WgmmaShape> {
    if (why)
      *why = std::move(reason);
    return std::nullopt;
  };
  if (!target.has_wgmma())
    return none(target.name() + " has no wgmma");
  const ir::Type* a = dot.operand(0)->type();
  const ir::Type* c = dot.result()->type();
  const DotPrecision precision = dot_precision(dot);
  std::optional<MmaInstr> instr =
      mma_for_types(a->element(), c->element(), precision, dot.operand(1)->type()->element());
  if (!instr || !wgmma_has(*instr, precision))
    return none("wgmma takes f16, bf16, tf32 (precision tf32) or fp8 operands with an f32 "
                "accumulator, or s8/u8 with an i32 one");
  const auto m = static_cast<int32_t>(a->dims()[0]), k = static_cast<int32_t>(a->dims()[1]),
             n = static_cast<int32_t>(c->dims()[1]);
  const int32_t instr_k = wgmma_k(*instr);
  if (k % instr_k != 0)
    return none(fmt::format("K = {} is not a multiple of {}", k, instr_k));
  std::optional<std::array<int32_t, 2>> grid = wgmma_warpgroups(m, n, num_warps);
  if (!grid)
    return none(fmt::format("{} warps do not tile the {}x{} output in warpgroups of 64x8 or more",
                            num_warps, m, n));
  WgmmaShape s{*instr, m, n, k, *grid, 0};
  s.instr_n = std::min(kWgmmaMaxN, s.wg_n());
  return s;
}

} // namespace tessel::codegen::gpu
