// Matrix multiplication with fused epilogues (docs/stdlib.md, "matmul").
//
//   c = epilogue_n(... epilogue_1(a @ b) ...), then converted to c's dtype and stored
//
// a is [M, K] or [batch, M, K], b is [K, N] or [batch, K, N], c is [M, N] or [batch, M, N]. A
// rank-2 operand (or a batch stride of 0) is the same matrix for every batch. Strides decide the
// layout: a row- or column-major a and b (one unit stride) read their tiles with contiguous
// accesses; any other strides work too, as gathers (slow, but correct). Operands are f16, bf16 or
// f32 (c f32, f16 or bf16), or int8 (c i32, or a float dtype after a dequantising epilogue), or
// fp8 — f8e4m3 and f8e5m2, either pair (c f32, f16 or bf16; per-tensor scales a_scale and
// b_scale in the options) — which on a GPU needs sm_89 or later (an error names the target
// before); the accumulator is f32 (i32 for int8).
//
// An epilogue is a small function in the tile language applied to each output tile's accumulator
// before the store: it gets the tile (EpilogueTile: the accumulator, its row and column indices
// in c, the in-bounds mask, its tensor operands loaded as tiles and its scalars) and returns the
// new accumulator, of the same shape, in f32 (or i32 while the accumulator still is). Epilogues
// compose in a list, applied in order:
//
//   ops::matmul(a, b, c, {.epilogue = {ops::bias(b_vec), ops::gelu(), ops::residual(r)}});
//
// A user epilogue is ops::epilogue(name, fn, operands, scalars). Its name and the IR it traces to
// for the tile it is applied to are part of the kernel's identity: a different function under the
// same name compiles its own kernel, never reuses another's.
#pragma once

#include "tessel/lang/tensor.h"
#include "tessel/ops/common.h"

#include <functional>
#include <memory>
#include <optional>
#include <source_location>
#include <string>
#include <vector>

namespace tessel::ops {

// What an epilogue sees of one output tile (BM x BN), while the kernel is traced.
struct EpilogueTile {
  lang::Tensor acc;  // [BM, BN] f32 (i32 for int8 operands until an epilogue returns f32)
  lang::Tensor rows; // [BM, 1] i32: the tile's row indices in c
  lang::Tensor cols; // [1, BN] i32: its column indices
  lang::Tensor mask; // [BM, BN] i1: rows < M and cols < N
  // The epilogue's tensor operands, each loaded as a [BM, BN] f32 tile broadcast to c's shape
  // (zero outside c), in the order given; its scalars as f32 scalars (run-time values: changing
  // one does not compile a new kernel).
  std::vector<lang::Tensor> operands;
  std::vector<lang::Tensor> scalars;
};

using EpilogueFn = std::function<lang::Tensor(const EpilogueTile&)>;

// One step of a matmul epilogue: a function, the tensors and scalars it reads, and a name that
// identifies it in the kernel cache and in messages.
class Epilogue {
public:
  // `operands` broadcast to c's [batch, M, N] (NumPy rules: trailing dimensions align, a missing
  // or size-1 dimension is broadcast); they are on c's device. `where` is where the epilogue was
  // made, for messages.
  Epilogue(std::string name, EpilogueFn fn, std::vector<TensorView> operands = {},
           std::vector<float> scalars = {},
           std::source_location where = std::source_location::current());

  const std::string& name() const;

  struct Impl; // stdlib/matmul/epilogue.h
  const Impl& impl() const { return *impl_; }
  explicit Epilogue(std::shared_ptr<const Impl> impl) : impl_(std::move(impl)) {}

private:
  std::shared_ptr<const Impl> impl_;
};

// A user epilogue (the same as the constructor).
Epilogue epilogue(std::string name, EpilogueFn fn, std::vector<TensorView> operands = {},
                  std::vector<float> scalars = {},
                  std::source_location where = std::source_location::current());

enum class GeluApprox { erf, tanh };

// acc + bias[col]; bias is [N] (or [batch, N] as [batch, 1, N]).
Epilogue bias(const TensorView& bias);
// acc + bias[row]; bias is [M].
Epilogue row_bias(const TensorView& bias);
Epilogue relu();
// 0.5 x (1 + erf(x / sqrt 2)), or the tanh approximation 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715
// x^3))).
Epilogue gelu(GeluApprox approx = GeluApprox::erf);
Epilogue silu(); // x * sigmoid(x)
// acc + residual; residual broadcasts to c's shape (usually c's shape itself). It may be c.
Epilogue residual(const TensorView& residual);
// alpha * acc + beta * c (c as it was before the call). With beta = 0, c is not read (it may hold
// NaN), as in BLAS.
Epilogue scale(float alpha, float beta = 0.0f);

// A kernel configuration. Block sizes are powers of two; on a GPU target block_m and block_n are
// at least 16 and block_k at least 16 (32 for int8 and fp8). group_m: programs along M that walk
// the N tiles together (the L2-friendly ordering of Triton's tutorial); 1 is plain row-major order.
struct MatmulConfig {
  int block_m = 64, block_n = 64, block_k = 32;
  int group_m = 8;
  int num_warps = 4;  // GPU only
  int num_stages = 2; // GPU only
};

// How f32 operands multiply (tl::Precision; other dtypes ignore it). The default is ieee on every
// device, as PyTorch's matmul: unlike tl::dot, whose GPU default for f32 is tf32.
enum class MatmulPrecision {
  ieee,   // f32 operands multiplied in f32 (FMA on a GPU: no f32 tensor-core instruction)
  tf32,   // operands rounded to tf32 (10-bit mantissa, nearest, ties away), f32 sums: tensor cores
          // on sm_80+; the CPU rounds the operands the same way, so the two agree
  tf32x3, // each operand split into a tf32 high and low part, three tensor-core products:
          // near-f32 accuracy at tensor-core speed
};

// Whether the tile kernel is persistent: a grid of one program per multiprocessor (the GPU's SM
// count; the simulated device's TESSEL_SIM_SM_COUNT, 4 unset; the CPU's hardware threads), each
// looping over output tiles in the grouped order (group_m) with its K loop pipelined inside.
// `automatic` is off for now: no GPU measurement yet shows persistence faster here (docs/stdlib.md,
// "matmul config"). Persistent kernels take split_k 1.
enum class MatmulPersistent { off, on, automatic };

struct MatmulOptions {
  std::vector<Epilogue> epilogue = {};
  // K split over this many programs per output tile: each writes an f32 partial tile to
  // `workspace`, and a second kernel sums them in a fixed order (the same bits on every run),
  // then applies the epilogue. For skinny outputs with a long K.
  int split_k = 1;
  // f32, contiguous, at least split_k * batch * M * N elements; needed only when split_k > 1
  // (ops do not allocate).
  TensorView workspace = {};
  MatmulPrecision precision = MatmulPrecision::ieee;
  // Per-tensor scales of quantized operands (fp8 or int8): the accumulator is multiplied by
  // a_scale * b_scale (one f32 product, a run-time scalar: new values compile nothing) before
  // the epilogue, as its first step ops::scale(a_scale * b_scale). 1 and 1: no step.
  float a_scale = 1.0f, b_scale = 1.0f;
  // Unset: choose_config's heuristic.
  std::optional<MatmulConfig> config = std::nullopt;
  // With no config given, on a GPU or the simulated device, with split_k 1 and no epilogue that
  // reads c: choose among a documented candidate set (docs/stdlib.md, "matmul autotuning") with
  // tessel::Autotuner. The first call per (shape bucket, dtypes, device, build) on a CUDA GPU
  // times the candidates on this call's arguments and stores the winner in the tuning file
  // (TESSEL_TUNING_FILE), which later calls and processes reuse; without a GPU a tuning file's
  // entry is used, else choose_config's candidate. Otherwise the heuristic, as when false.
  bool autotune = false;
  MatmulPersistent persistent = MatmulPersistent::off;
};

void matmul(const TensorView& a, const TensorView& b, const TensorView& c,
            const MatmulOptions& options = {}, Stream* stream = nullptr,
            std::source_location where = std::source_location::current());

// The heuristic config for a [batch, M, N] += [M, K] x [K, N] product of `dtype` operands run on
// `device` (docs/stdlib.md, "matmul config"). One function, so that an autotuner can take its
// place.
MatmulConfig choose_config(DeviceKind device, int64_t m, int64_t n, int64_t k, DType dtype);

// The f32 workspace elements split-K needs for this call.
int64_t matmul_workspace_elements(const TensorView& c, int split_k);

} // namespace tessel::ops
