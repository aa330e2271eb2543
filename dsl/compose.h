// Private: the building blocks of the ops that dsl/shapes.cpp, dsl/sort.cpp, dsl/scans.cpp and
// dsl/tuple_reduce.cpp compose from existing IR ops instead of lowering on their own.
//
// The one trick they share is `pick`: the element of a tile at an index along an axis, as a sum
// along that axis of `where(position == index, x, -0.0)`. Every addend but one is -0.0 (0 for
// integers), and x + -0.0 is x for every x, so the sum is the picked element bit for bit in any
// order of evaluation, on every backend (NaN stays NaN). Shapes are powers of two, so moving
// elements between positions is reshapes, permutes and picks along axes of size 2.
#pragma once

#include "tessel/lang/ops.h"

namespace tessel::lang::detail {

// `dim` in [-rank, rank) made non-negative; an error naming `op` and x's type otherwise.
int normalize_dim(const Tensor& x, int dim, Loc l, const char* op);
// An error when x holds pointers (the ops that pick elements sum them).
void require_numbers(const Tensor& x, Loc l, const char* op);
// arange(0, n) shaped [1, .., n, .., 1] (rank dims, n at `axis`).
Tensor iota_along(int rank, int axis, int64_t n, Loc l);
// x[.., index, ..] along `axis`, the axis removed. `index` (integers) broadcasts against x with
// size 1 at `axis`; an index outside [0, n) gives 0 (-0.0 for floats).
Tensor pick(const Tensor& x, int axis, const Tensor& index, Loc l);
Tensor pick(const Tensor& x, int axis, int64_t index, Loc l);
// x with `axis` moved to the last position (others keep their order), and back.
Tensor axis_to_last(const Tensor& x, int axis, Loc l);
Tensor last_to_axis(const Tensor& x, int axis, Loc l);
// The last two dims of x exchanged.
Tensor swap_last_two(const Tensor& x, Loc l);
// x's shape with the last dim replaced by `tail`.
Shape with_tail(const Tensor& x, std::initializer_list<int64_t> tail, Loc l);
// The dtype a sum (and cumsum) gives by default: i32 for i1/i8/i16 (as Triton), else x's.
DType default_sum_dtype(DType t);
int log2_of(int64_t n);
// The built-in sum and inclusive cumsum without the i1/i8/i16 -> i32 promotion (ops_reduce.cpp).
Tensor raw_sum(const Tensor& x, int axis, Loc l);
Tensor raw_cumsum(const Tensor& x, int axis, Loc l);

} // namespace tessel::lang::detail
