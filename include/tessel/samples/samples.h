// The sample kernels: small, real kernels written in the tile language, each with a plain C++
// reference. `tessel demo` runs them all; the test suite runs each on several dtypes and sizes.
#pragma once

#include "tessel/jit/autotune.h"
#include "tessel/jit/kernel.h"

#include <functional>
#include <string>
#include <vector>

namespace tessel::samples {

// out[i] = a[i] + b[i], BLOCK elements per program.
const Kernel& vector_add();
// Row-wise softmax, one program per row; BLOCK >= n_cols (a power of two).
const Kernel& softmax();
// Layer norm forward: y = (x - mean) * rstd * w + b per row, one program per row.
const Kernel& layer_norm();
// C = A @ B in the style of Triton's matmul tutorial (samples/matmul.cpp): one program per
// BLOCK_M x BLOCK_N tile of C in grouped order (GROUP_M rows of tiles at a time, for L2 reuse),
// a K loop of BLOCK_K steps, masks for ragged edges, f32 accumulation, and the result cast to
// C's element type. Strides in elements; a grid of cdiv(M, BLOCK_M) * cdiv(N, BLOCK_N) programs.
const Kernel& matmul();
// The sample's autotuner over matmul(): Triton's sm_80 tutorial configs plus a 32 x 32 x 32 one;
// without a GPU its heuristic picks (the smallest tile on the CPU). Key: M, N, K.
const Autotuner& matmul_autotuner();
// C = A @ B for 2-D views (any strides) on one device, through matmul_autotuner(); returns the
// config it ran. Throws tessel::Error naming the shapes when they do not fit together.
TuneChoice launch_matmul(const TensorView& a, const TensorView& b, const TensorView& c,
                         const LaunchOptions& options = {});
// Tutorial fused attention (samples/attention/): out = softmax(q kᵀ · scale) v, [b, s, h, d].
const Kernel& attention();

// One demo run: what was computed and how close it came to the reference.
struct DemoResult {
  std::string name;
  std::string what; // e.g. "softmax over 1024 rows x 781 columns, f32"
  double max_abs_error = 0;
  double max_rel_error = 0;
  double tolerance = 0; // max_abs_error must stay within it
  double first_ms = 0;  // first launch: trace + compile + run
  double run_ms = 0;    // a later launch (median of a few)
  bool ok() const { return max_abs_error <= tolerance; }
};

struct DemoSample {
  const char* name;
  std::function<DemoResult()> run;
};
const std::vector<DemoSample>& demo_samples();

// The smallest power of two >= n (n >= 1).
int64_t next_power_of_two(int64_t n);

} // namespace tessel::samples
