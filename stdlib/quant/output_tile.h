// The output tile of the quantized matmul kernels (quant_kernels.cpp, fp8_blockwise_kernels.cpp).
// Private to stdlib/quant/.
#pragma once

#include "tessel/lang/ops.h"
#include "tessel/lang/tensor.h"

namespace tessel::ops::detail {

// The [BM, BN] tile `pid` of an M x N output, tiles in row-major order (for decode, M <= BM,
// the programs walk the columns: each streams its own strip of the weights once).
struct Tile {
  lang::Tensor rows, cols, row_in, col_in;
};

inline Tile tile_of(const lang::Int& M, const lang::Int& N, int BM, int BN) {
  auto pid = lang::program_id(0);
  auto num_n = (N + (BN - 1)) / BN;
  auto rows = lang::expand_dims((pid / num_n) * BM + lang::arange(0, BM), 1);
  auto cols = lang::expand_dims((pid % num_n) * BN + lang::arange(0, BN), 0);
  return {rows, cols, rows < M, cols < N};
}

} // namespace tessel::ops::detail
