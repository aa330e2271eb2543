// Plain C++ references for the sample kernels (what the kernels are checked against), and the
// error measures the demo and the tests report. Inputs and outputs are f32 arrays; callers convert
// f16/bf16 buffers through tessel::half / tessel::bfloat16.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

namespace tessel::samples::reference {

void vector_add(std::span<const float> a, std::span<const float> b, std::span<float> out);
void softmax(std::span<const float> in, std::span<float> out, int64_t rows, int64_t cols);
void layer_norm(std::span<const float> x, std::span<const float> w, std::span<const float> b,
                std::span<float> y, int64_t rows, int64_t cols, float eps);
// C (MxN) = A (MxK) @ B (KxN), row-major, accumulated in double.
void matmul(std::span<const float> a, std::span<const float> b, std::span<float> c, int64_t m,
            int64_t n, int64_t k);

struct ErrorStats {
  double max_abs = 0;
  double max_rel = 0; // |got - want| / max(|want|, 1e-6)
};
// NaN anywhere in `got` where `want` is not NaN counts as an infinite error.
ErrorStats compare(std::span<const float> got, std::span<const float> want);

// Deterministic uniform values in [lo, hi).
std::vector<float> random_floats(size_t n, uint64_t seed, float lo = -1.0f, float hi = 1.0f);

} // namespace tessel::samples::reference
