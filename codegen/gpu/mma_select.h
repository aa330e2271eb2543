// MMA selection: which tensor-core instruction (mma_instrs.def) a `dot` runs on, if any.
//
// The rule (docs/gpu_codegen.md, "Tensor cores: MMA layouts and selection"): the target must
// have mma.sync and the row's feature; the operand and accumulator types pick the row
//     f16 x f16 -> f32: F16_F32     bf16 x bf16 -> f32: BF16_F32     f16 x f16 -> f16: F16_F16
//     f32 x f32 -> f32 with precision tf32 (the GPU default) or tf32x3: TF32_F32 (tf32x3 splits
//       each operand into tf32 high and low parts and issues hi*lo, lo*hi, hi*hi)
//     i8 x i8 -> i32: S8_S32     u8 x u8 -> i32: U8_S32
//     fp8 x fp8 -> f32 (f8e4m3 / f8e5m2, either pair, sm_89+): E4M3_F32, E5M2_F32,
//       E4M3_E5M2_F32, E5M2_E4M3_F32 (before sm_89 codegen rejects fp8 dots: compile.cpp)
// and the tile must hold one instruction: M >= 16, N >= 8, K >= the row's k (16, 8 or 32).
// Everything else — f32 with ieee, f64, i16/i32/i64 operands, bf16 or f16 sums of bf16,
// smaller tiles, CPU targets — stays on the FMA loop, which computes the same products exactly.
#pragma once

#include "codegen/gpu/mma_layout.h"
#include "codegen/gpu/wgmma_layout.h"
#include "tessel/codegen/target.h"
#include "tessel/ir/ir.h"
#include "tessel/ir/pass.h"

#include <optional>
#include <string>

namespace tessel::codegen::gpu {

// The precision of a dot (ops.def: absent, 0 ieee, 1 tf32, 2 tf32x3) on an NVPTX target.
enum class DotPrecision : uint8_t { Ieee, Tf32, Tf32x3 };
DotPrecision dot_precision(const ir::Op& dot);

// The instruction for the operand and accumulator types alone (no target, no shapes), or none.
// `b` is b's element type where it differs from a's (fp8 pairs); null means a's.
std::optional<MmaInstr> mma_for_types(const ir::Type* a, const ir::Type* acc,
                                      DotPrecision precision, const ir::Type* b = nullptr);

// True when a or b of `dot` is an fp8 tile (which only the fp8 mma rows multiply on a GPU).
bool is_fp8_dot(const ir::Op& dot);

// The instruction `dot` runs on for `target`, or nullopt for the FMA loop; `why` (when given)
// receives the reason for nullopt.
std::optional<MmaInstr> select_mma(const ir::Op& dot, const Target& target,
                                   std::string* why = nullptr);

// wgmma (issue 15): the warpgroup instruction `dot` runs on for `target` with `num_warps`, or
// nullopt for select_mma's choice; `why` (when given) receives the reason for nullopt. The rule
// (docs/gpu_codegen.md, "Hopper: wgmma"): the target has wgmma (sm_90a), the types are f16 x f16
// or bf16 x bf16 -> f32 (k16), f32 x f32 -> f32 with precision tf32 (k8), an fp8 pair -> f32 or
// s8 x s8 / u8 x u8 -> i32 (k32); K is a multiple of the instruction's k; and wgmma_warpgroups
// finds a grid (num_warps a multiple of 4, each warpgroup at least 64 rows and 8 columns of the
// output). The tf32 and 8-bit rows read their shared operands K-major only
// (wgmma_needs_k_major): prepare-dot-operands stages an operand whose registers run along M or N
// transposed into a K-major buffer, and the emission refuses an MN-major buffer for them.
std::optional<WgmmaShape> select_wgmma(const ir::Op& dot, const Target& target, int num_warps,
                                       std::string* why = nullptr);

// The prepare-dot-operands pass (prepare_dot_operands.cpp); registered by add_gpu_pass.
// `wgmma` false: no dot is put on wgmma (CompileOptions::wgmma).
ir::PassInfo prepare_dot_operands_pass(const Target& target, int num_warps, bool wgmma = true);

} // namespace tessel::codegen::gpu
