// Several short rows per program on the CPU (row_tiles.h).
#include "stdlib/common/row_tiles.h"

#include <algorithm>

namespace tessel::ops::detail {

namespace tl = tessel::lang;

int rows_per_program(const TensorView& x, int64_t rows, int64_t cols, int block) {
  if (x.device != DeviceKind::cpu || cols > block || rows < 2)
    return 1;
  int64_t r = 1;
  while (r * 2 * block <= kRowTileElements && r * 2 <= kMaxRowsPerProgram && r < rows)
    r *= 2;
  return int(r);
}

tl::Tensor RowTile::offsets(const tl::Int& stride) const {
  return row * stride.to(DType::i64) + col.to(DType::i64);
}

RowTile row_tile(const tl::Int& rows, const tl::Int& n, int rows_per_program, int block) {
  auto r = tl::program_id(0) * rows_per_program + tl::arange(0, rows_per_program);
  RowTile t;
  t.live = r < rows;
  t.index = r.to(DType::i64);
  t.row = tl::expand_dims(t.index, 1);
  t.col = tl::expand_dims(tl::arange(0, block), 0);
  t.in = tl::expand_dims(t.live, 1) & (t.col < n);
  return t;
}

} // namespace tessel::ops::detail
