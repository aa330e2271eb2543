// Argument checking and launch configuration shared by the stdlib operators. Every check throws
// tessel::Error naming the caller's file:line, the op, the argument, what was expected and what
// came (docs/stdlib.md, "Argument checking"). Private to stdlib/.
#pragma once

#include "tessel/error.h"
#include "tessel/jit/kernel.h"
#include "tessel/ops/common.h"
#include "tessel/runtime/tensor_view.h"

#include <cstdint>
#include <source_location>
#include <string>

namespace tessel::ops::detail {

// The op being checked, for messages: its name and the caller's location.
struct OpSite {
  const char* op;
  std::source_location where;
  [[noreturn]] void fail(const std::string& message) const;
};

// A tensor seen as `rows` rows of `cols` contiguous elements, row r starting at r * stride.
struct Rows {
  int64_t rows = 0;
  int64_t cols = 0;
  int64_t stride = 0; // elements between row starts
  bool empty() const { return rows == 0 || cols == 0; }
};

std::string shape_str(const TensorView& v);
// `v` is f32, f16 or bf16.
void check_float(const OpSite& s, const char* arg, const TensorView& v);
void check_dtype(const OpSite& s, const char* arg, const TensorView& v, DType want);
// `v` has `ref`'s shape and device (`ref_arg` names it in the message).
void check_like(const OpSite& s, const char* arg, const TensorView& v, const char* ref_arg,
                const TensorView& ref);
void check_device(const OpSite& s, const char* arg, const TensorView& v, const char* ref_arg,
                  const TensorView& ref);
// `v` of rank >= 1 whose last axis is contiguous and whose leading axes collapse into rows of one
// stride (a strided row pitch is fine: pass it in `strides`), with a non-null pointer unless empty.
Rows rows_of(const OpSite& s, const char* arg, const TensorView& v);
// A contiguous 1-D float tensor of `n` elements, described as `what` ("x's last dimension").
void check_vector(const OpSite& s, const char* arg, const TensorView& v, int64_t n,
                  const char* what);
// A contiguous f32 tensor of `rows` elements (per-row statistics such as rstd).
void check_row_stats(const OpSite& s, const char* arg, const TensorView& v, int64_t rows);

// Block-size heuristic: the next power of two of `cols`, at least 16 (one 16-byte access per
// thread row), at most `max_block`; `requested` (a power of two) overrides it when non-zero.
int block_for(const OpSite& s, int64_t cols, int max_block, int requested);
// num_warps heuristic: one warp per 256 elements of the block (8 f32 per thread), between 1 and
// 16, so that a whole row in registers stays at 64 values per thread or fewer.
int num_warps_for(int block);
LaunchOptions launch_options(int block, Stream* stream);
// The grid at the caller's line, so that launch errors name it too.
GridAt grid_at(const OpSite& s, int64_t x, int64_t y = 1);

} // namespace tessel::ops::detail
