// The matmul config heuristic (docs/stdlib.md, "matmul config") and the checks of a config the
// caller gives. choose_config is the one place a tuner would plug in.
#include "stdlib/matmul/config.h"

#include <fmt/format.h>

#include <algorithm>

namespace tessel::ops {
namespace {

int64_t next_power_of_two(int64_t n) {
  int64_t p = 1;
  while (p < n)
    p *= 2;
  return p;
}

// The CPU backend runs one program per thread at a time and its `dot` is a register-blocked
// micro-kernel over packed panels of b: large tiles amortise the packing and the loads. 64 rows
// by 128 columns by 64 of K is within the noise of the fastest sizes measured for f32 at 1024^3
// (bench/cpu_matmul `configs`, bench/RESULTS.md) and masks fewer columns of narrow outputs than
// 256-wide tiles. Small dimensions shrink the tile to their power of two (decode shapes, M <= 16,
// take M's), so no multiply-add is spent on rows, columns or K steps that do not exist.
MatmulConfig cpu_config(int64_t m, int64_t n, int64_t k) {
  MatmulConfig c;
  c.block_m = int(std::clamp<int64_t>(next_power_of_two(m), 1, 64));
  c.block_n = int(std::clamp<int64_t>(next_power_of_two(n), 1, 128));
  c.block_k = int(std::clamp<int64_t>(next_power_of_two(k), 1, 64));
  c.group_m = 8;
  return c;
}

// GPU (and the simulated device). f16 and bf16 dots run on tensor cores (mma.sync m16n8k16,
// operands through swizzled shared memory by ldmatrix, a cp.async ring of num_stages), so their
// accumulators are spread as mma fragments and large tiles no longer spill: 128 x 128 x 32 at 8
// warps and 3 stages (48 KiB of shared ring) compiles for sm_80 without spills (tests/stdlib/
// matmul_test.cpp `MatmulPtx.TensorCoreTiles`), and reuses each operand byte 128 times. The rule
// (docs/stdlib.md, "matmul config"): big tiles for big shapes, a tile no larger than the output
// along each side otherwise, so that small outputs still spread over the SMs:
//   M <= 16 (decode)              16 x 64 x 64, 8 warps: programs spread over N
//   M >= 128 and N >= 128         128 x 128 x 32, 8 warps
//   M >= 128, N < 128             128 x 64 x 32, 4 warps
//   M < 128, N >= 128             64 x 128 x 32, 4 warps
//   otherwise                     64 x 64 x 32, 8 warps (as before)
// f32 (an FMA dot for ieee, whose a and b slices sit in registers: 128 x 128 spills at any K
// slice) and the 8-bit operands (int8, fp8: m16n8k32) keep 64 x 64 with K slices of 16 and 64.
MatmulConfig gpu_config(int64_t m, int64_t n, DType dtype) {
  MatmulConfig c;
  c.num_stages = 3;
  c.group_m = 8;
  c.block_n = 64;
  if (m <= 16) {
    c.block_m = 16;
    c.block_k = 64;
    c.num_warps = 8;
    return c;
  }
  c.block_m = 64;
  const bool byte_operands = dtype == DType::i8 || dtype_is_fp8(dtype); // m16n8k32
  c.block_k = dtype == DType::f32 ? 16 : byte_operands ? 64 : 32;
  // 8 warps for f32 too: its ieee FMA dot with a pipelined ring needs 255+ registers a thread
  // at 4 warps (104-112 bytes of spills on sm_80/sm_90a).
  c.num_warps = 8;
  if (dtype != DType::f16 && dtype != DType::bf16)
    return c;
  bool tall = m >= 128, wide = n >= 128;
  if (tall)
    c.block_m = 128;
  if (wide)
    c.block_n = 128;
  if (tall != wide)
    c.num_warps = 4; // 64 x 32 accumulators a warp, as 128 x 128 at 8 warps
  return c;
}

bool is_power_of_two(int64_t n) { return n > 0 && (n & (n - 1)) == 0; }

void check_block(const detail::OpSite& s, const char* field, int value, int min) {
  if (!is_power_of_two(value) || value < min || value > 256)
    s.fail(
        fmt::format("config.{} is {}; expected a power of two from {} to 256", field, value, min));
}

} // namespace

MatmulConfig choose_config(DeviceKind device, int64_t m, int64_t n, int64_t k, DType dtype) {
  switch (device) {
  case DeviceKind::cpu:
    return cpu_config(m, n, k);
  case DeviceKind::cuda:
  case DeviceKind::sim:
    return gpu_config(m, n, dtype);
  }
  TESSEL_UNREACHABLE("unknown DeviceKind");
}

namespace detail {

void check_config(const OpSite& s, const MatmulConfig& c, DeviceKind device, DType dtype) {
  bool gpu = device != DeviceKind::cpu;
  check_block(s, "block_m", c.block_m, gpu ? 16 : 1);
  check_block(s, "block_n", c.block_n, gpu ? 16 : 1);
  const bool byte_operands = dtype == DType::i8 || dtype_is_fp8(dtype); // m16n8k32
  check_block(s, "block_k", c.block_k, gpu ? (byte_operands ? 32 : 16) : 1);
  if (int64_t(c.block_m) * c.block_n > 128 * 256)
    s.fail(fmt::format("config is {} x {}: a tile of more than 32768 accumulators does not fit in "
                       "registers; use a smaller block_m or block_n",
                       c.block_m, c.block_n));
  if (c.group_m < 1)
    s.fail(fmt::format("config.group_m is {}; expected 1 or more", c.group_m));
  if (!is_power_of_two(c.num_warps) || c.num_warps > 16)
    s.fail(fmt::format("config.num_warps is {}; expected 1, 2, 4, 8 or 16", c.num_warps));
  if (c.num_stages < 1)
    s.fail(fmt::format("config.num_stages is {}; expected 1 or more", c.num_stages));
}

std::vector<MatmulConfig> tuning_candidates(DType dtype) {
  // {block_m, block_n, block_k, group_m, num_warps, num_stages}
  if (dtype == DType::f16 || dtype == DType::bf16)
    return {{16, 64, 64, 8, 8, 3},   {64, 64, 32, 8, 8, 3},  {128, 128, 32, 8, 8, 3},
            {128, 64, 32, 8, 4, 3},  {64, 128, 32, 8, 4, 3}, {128, 128, 32, 8, 8, 4},
            {128, 64, 32, 8, 4, 4},  {64, 128, 32, 8, 4, 4}, {64, 64, 32, 8, 4, 4},
            {128, 128, 64, 8, 8, 3}, {16, 128, 64, 8, 4, 3}};
  if (dtype == DType::i8 || dtype_is_fp8(dtype))
    return {{16, 64, 64, 8, 8, 3},
            {64, 64, 64, 8, 8, 3},
            {64, 64, 64, 8, 8, 4},
            {128, 64, 64, 8, 8, 3}};
  // f32
  return {
      {16, 64, 64, 8, 8, 3}, {64, 64, 16, 8, 8, 3}, {64, 64, 32, 8, 8, 2}, {32, 64, 32, 8, 4, 3}};
}

} // namespace detail
} // namespace tessel::ops
