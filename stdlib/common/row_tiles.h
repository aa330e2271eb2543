// Several short rows per program on the CPU: the launch heuristic and the DSL side of a
// [ROWS, BLOCK] tile of rows. A row op launches one program per row; at 32768 x 128 that is 32768
// programs whose each row's reductions (max, sum) form one serial chain of horizontal vector
// steps, so the core idles between rows. A tile of a few rows gives it independent chains to
// overlap (docs/stdlib.md, "Configuration heuristic"). Private to stdlib/.
#pragma once

#include "tessel/lang/ops.h"
#include "tessel/runtime/tensor_view.h"

#include <cstdint>

namespace tessel::ops::detail {

// Elements per program that the CPU tile of rows aims at: 4 rows of 128 columns. More (8 x 128
// f32) measured no faster at 32768 x 128 and spends more stack per tile.
inline constexpr int kRowTileElements = 512;
inline constexpr int kMaxRowsPerProgram = 16;

// How many rows one program of a row op covers: 1 on a GPU (a row is spread over the warps already)
// and for rows longer than one block; on the CPU a power of two, kRowTileElements / block rows at
// most kMaxRowsPerProgram, and no more than the rows rounded up to a power of two.
int rows_per_program(const TensorView& x, int64_t rows, int64_t cols, int block);

// The rows of a [ROWS, BLOCK] tile: program p covers rows [p * ROWS, (p + 1) * ROWS).
struct RowTile {
  lang::Tensor index; // [ROWS] i64 row indices
  lang::Tensor row;   // [ROWS, 1] the same
  lang::Tensor in;    // [ROWS, BLOCK] row < rows && col < n
  lang::Tensor col;   // [1, BLOCK] i32 column indices
  lang::Tensor live;  // [ROWS] row < rows
  // The element offsets of the tile in a tensor whose rows are `stride` elements apart.
  lang::Tensor offsets(const lang::Int& stride) const;
};
RowTile row_tile(const lang::Int& rows, const lang::Int& n, int rows_per_program, int block);

} // namespace tessel::ops::detail
