// The matmul op's DSL kernels, one pair per epilogue chain (matmul_kernels.cpp). Private to
// stdlib/matmul/ and tests/stdlib/.
//
// tile kernel, grid (tiles, batch, split_k): program (pid, b, s) computes the BM x BN tile
// ordered by Triton's grouped ordering (GROUP_M rows of tiles walk the N tiles together, so that
// their a and b tiles stay in L2), over K range [s * k_split, min((s + 1) * k_split, K)).
// Unsplit, it applies the epilogue chain and stores into c; as a split-K partial kernel it stores
// the raw accumulator into the workspace [split_k, batch, M, N] (passed as c).
// persistent kernel, grid (programs, batch): the tile kernel's body in a loop over the tiles.
// reduce kernel, grid (tiles, batch): sums the split_k partial tiles in order of s (the same
// bits on every run; no atomics), applies the chain and stores into c.
#pragma once

#include "stdlib/matmul/epilogue.h"
#include "tessel/jit/kernel.h"
#include "tessel/lang/ops.h"

#include <string>

namespace tessel::ops::detail {

struct MatmulKernels {
  // Params: c, a, b, e0, e1, M, N, K, k_split, 3 a strides, 3 b strides, 3 c strides (batch,
  // row, column), 2 x 3 operand strides, s0..s3, BM, BN, BK, GROUP_M.
  Kernel tile;
  // The same parameters, storing partial tiles to c = the workspace (one kernel for every chain).
  Kernel partial;
  // Params: c, w, e0, e1, M, N, splits, 3 c strides, 2 x 3 operand strides, s0..s3, BM, BN.
  Kernel reduce;
  // The tile kernel's parameters, persistent (MatmulOptions::persistent): grid (programs, batch),
  // program i computing tiles i, i + programs, ... of the grouped order; k_split is K.
  Kernel persistent;
  // The tile kernel's TMA form (its parameters): a and b read as tensor descriptors, box by box
  // (on sm_90a through the pipeliner's TMA ring). For one batch, no K split, row-major a and b.
  Kernel tile_tma;
  // The same for batches: a [batch, M, K] and b [batch, K, N] as 3-D descriptors, boxes of one
  // matrix ([1, BM, BK], [1, BK, BN], read as 2-D), batch strides of whole 16-byte multiples.
  Kernel tile_tma_batched;
};

// The kernels of one chain, made once per `key` (the chain's identity: its steps' keys) and kept
// for the life of the process.
// `precision` is how f32 operands multiply (ignored for other dtypes): part of the identity.
const MatmulKernels& matmul_kernels(const std::string& key, const Chain& chain,
                                    lang::Precision precision = lang::Precision::ieee);

// The IR `step` traces to on a [bm, bn] accumulator tile of `acc`: a user step's identity in the
// kernel key. Throws tessel::Error (from `site`) when the step returns the wrong tile.
std::string step_ir(const OpSite& site, const ChainStep& step, DType acc, int bm, int bn);

} // namespace tessel::ops::detail
