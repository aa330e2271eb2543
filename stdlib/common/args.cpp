// Argument checks of the stdlib operators (see args.h).
#include "stdlib/common/args.h"

#include "runtime/view_check.h"
#include "tessel/runtime/stream.h"

#include <fmt/format.h>

#include <algorithm>

namespace tessel::ops::detail {

void OpSite::fail(const std::string& message) const {
  throw Error(SourceLoc::from(where), fmt::format("{}: {}", op, message));
}

std::string shape_str(const TensorView& v) {
  std::string s = "[";
  for (int i = 0; i < v.rank; ++i)
    s += (i ? ", " : "") + std::to_string(v.shape[i]);
  return s + "]";
}

static std::string strides_str(const TensorView& v) {
  std::string s = "[";
  for (int i = 0; i < v.rank; ++i)
    s += (i ? ", " : "") + std::to_string(v.strides[i]);
  return s + "]";
}

// A view with a rank, extent, dtype or device no constructor makes (runtime/view_check.h) fails
// here, before any other check reads its shape or names its dtype.
static void check_well_formed(const OpSite& s, const char* arg, const TensorView& v) {
  if (std::string problem = runtime::view_problem(v); !problem.empty())
    s.fail(fmt::format("{} is a TensorView that {}", arg, problem));
}

static bool is_float_storage(DType t) {
  return t == DType::f32 || t == DType::f16 || t == DType::bf16;
}

void check_float(const OpSite& s, const char* arg, const TensorView& v) {
  check_well_formed(s, arg, v);
  if (!is_float_storage(v.dtype))
    s.fail(fmt::format("{} has dtype {}; expected f32, f16 or bf16", arg, dtype_name(v.dtype)));
}

void check_dtype(const OpSite& s, const char* arg, const TensorView& v, DType want) {
  check_well_formed(s, arg, v);
  if (v.dtype != want)
    s.fail(fmt::format("{} has dtype {}; expected {}", arg, dtype_name(v.dtype), dtype_name(want)));
}

void check_device(const OpSite& s, const char* arg, const TensorView& v, const char* ref_arg,
                  const TensorView& ref) {
  check_well_formed(s, arg, v);
  if (v.device != ref.device || v.device_index != ref.device_index)
    s.fail(fmt::format("{} is on device {}:{} but {} is on {}:{}; pass tensors on one device", arg,
                       device_kind_name(v.device), v.device_index, ref_arg,
                       device_kind_name(ref.device), ref.device_index));
}

void check_like(const OpSite& s, const char* arg, const TensorView& v, const char* ref_arg,
                const TensorView& ref) {
  check_well_formed(s, arg, v);
  bool same = v.rank == ref.rank;
  for (int i = 0; same && i < v.rank; ++i)
    same = v.shape[i] == ref.shape[i];
  if (!same)
    s.fail(fmt::format("{} has shape {} but {} has shape {}; expected the same shape", arg,
                       shape_str(v), ref_arg, shape_str(ref)));
  check_device(s, arg, v, ref_arg, ref);
}

// Leading axes collapse into one row axis when each one's stride is the next one's extent times
// its stride (size-1 axes do not matter).
static bool leading_axes_collapse(const TensorView& v) {
  int64_t expected = -1;
  for (int i = v.rank - 2; i >= 0; --i) {
    if (v.shape[i] == 1)
      continue;
    if (expected >= 0 && v.strides[i] != expected)
      return false;
    expected = v.strides[i] * v.shape[i];
  }
  return true;
}

static int64_t row_stride(const TensorView& v) {
  for (int i = v.rank - 2; i >= 0; --i)
    if (v.shape[i] != 1)
      return v.strides[i];
  return v.shape[v.rank - 1];
}

Rows rows_of(const OpSite& s, const char* arg, const TensorView& v) {
  check_well_formed(s, arg, v);
  if (v.rank < 1)
    s.fail(fmt::format("{} is a scalar (rank 0); expected a tensor of rank 1 or more", arg));
  Rows r;
  r.cols = v.shape[v.rank - 1];
  r.rows = 1;
  for (int i = 0; i + 1 < v.rank; ++i)
    r.rows *= v.shape[i];
  if (r.empty())
    return r;
  if (v.data == nullptr)
    s.fail(fmt::format("{} has shape {} but a null data pointer", arg, shape_str(v)));
  if (r.cols > 1 && v.strides[v.rank - 1] != 1)
    s.fail(fmt::format("{}'s last dimension has stride {}; the last dimension must be contiguous "
                       "(stride 1): copy {} to a contiguous tensor first",
                       arg, v.strides[v.rank - 1], arg));
  if (!leading_axes_collapse(v))
    s.fail(fmt::format("{} has shape {} and strides {}: its leading dimensions do not form rows "
                       "of one stride; make them contiguous (only the row pitch may be padded)",
                       arg, shape_str(v), strides_str(v)));
  r.stride = row_stride(v);
  if (r.rows > 1 && r.stride < r.cols)
    s.fail(
        fmt::format("{} has rows of {} elements {} apart: rows overlap; expected a row stride of "
                    "at least {}",
                    arg, r.cols, r.stride, r.cols));
  if (r.stride > INT32_MAX || r.rows > INT32_MAX)
    s.fail(fmt::format("{} has {} rows with a stride of {}; the kernels take 32-bit row counts and "
                       "strides",
                       arg, r.rows, r.stride));
  return r;
}

void check_vector(const OpSite& s, const char* arg, const TensorView& v, int64_t n,
                  const char* what) {
  check_float(s, arg, v);
  if (v.rank != 1 || v.shape[0] != n)
    s.fail(fmt::format("{} has shape {} but {} is {}; expected shape [{}]", arg, shape_str(v), what,
                       n, n));
  if (n > 1 && v.strides[0] != 1)
    s.fail(fmt::format("{} has stride {}; expected a contiguous vector", arg, v.strides[0]));
  if (n > 0 && v.data == nullptr)
    s.fail(fmt::format("{} has a null data pointer", arg));
}

void check_row_stats(const OpSite& s, const char* arg, const TensorView& v, int64_t rows) {
  check_dtype(s, arg, v, DType::f32);
  int64_t n = v.rank == 0 ? 1 : v.numel();
  if (n != rows)
    s.fail(fmt::format("{} has shape {} ({} elements) but x has {} rows; expected one f32 per row",
                       arg, shape_str(v), n, rows));
  int64_t expected = 1;
  for (int i = v.rank - 1; i >= 0; --i) {
    if (v.shape[i] != 1 && v.strides[i] != expected)
      s.fail(fmt::format("{} has strides {}; expected a contiguous tensor", arg, strides_str(v)));
    expected *= v.shape[i];
  }
  if (rows > 0 && v.data == nullptr)
    s.fail(fmt::format("{} has a null data pointer", arg));
}

static bool is_power_of_two(int64_t n) { return n > 0 && (n & (n - 1)) == 0; }

int block_for(const OpSite& s, int64_t cols, int max_block, int requested) {
  if (requested != 0) {
    if (!is_power_of_two(requested) || requested > max_block)
      s.fail(fmt::format("block_cols is {}; expected 0 (chosen from the shape) or a power of two "
                         "up to {}",
                         requested, max_block));
    return requested;
  }
  int64_t b = 16;
  while (b < cols && b < max_block)
    b *= 2;
  return int(b);
}

int num_warps_for(int block) { return std::clamp(block / 256, 1, 16); }

LaunchOptions launch_options(int block, Stream* stream) {
  LaunchOptions o;
  o.num_warps = num_warps_for(block);
  o.stream = stream;
  return o;
}

GridAt grid_at(const OpSite& s, int64_t x, int64_t y) { return GridAt(Grid(x, y), s.where); }

} // namespace tessel::ops::detail
