// Helpers of the stdlib tests: tensors of any float dtype on the host or the simulated device,
// filled from f64 values and read back as f64; random inputs with fixed seeds; outputs poisoned
// with NaN so that an element the kernel did not write fails the comparison; per-dtype tolerances.
#pragma once

#include "runtime/sim_device.h"
#include "tessel/codegen/gpu.h"
#include "tessel/codegen/target.h"
#include "tessel/ir/ir.h"
#include "tessel/runtime/device.h"
#include "tessel/runtime/device_buffer.h"
#include "tessel/tessel.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <filesystem>
#include <limits>
#include <optional>
#include <random>
#include <string>
#include <vector>

namespace tessel::testing {

inline bool sim_device_ready() {
  return runtime::sim_available() && std::filesystem::exists(codegen::gpu::libdevice_path()) &&
         std::filesystem::exists(codegen::gpu::nvjitlink_path());
}

#define TESSEL_REQUIRE_SIM_DEVICE()                                                                \
  do {                                                                                             \
    if (!::tessel::testing::sim_device_ready())                                                    \
      GTEST_SKIP() << "no simulated device (simulator or CUDA toolkit missing)";                   \
  } while (0)

inline std::vector<double> random_values(size_t n, uint32_t seed, double lo = -3, double hi = 3) {
  std::mt19937 gen(seed);
  std::uniform_real_distribution<double> d(lo, hi);
  std::vector<double> v(n);
  for (double& x : v)
    x = d(gen);
  return v;
}

// Only the dtypes the ops take (f32, f16, bf16, i32 for masks, i8/fp8 for quantize); anything else
// is a test bug. NaN (the poison) is -128 for i8, which quantize never writes.
inline void encode(DType t, double v, unsigned char* out) {
  if (t == DType::f32) {
    float f = float(v);
    std::memcpy(out, &f, 4);
  } else if (t == DType::f16 || t == DType::bf16) {
    uint16_t b = t == DType::f16 ? float_to_half(float(v)) : float_to_bfloat16(float(v));
    std::memcpy(out, &b, 2);
  } else if (t == DType::i32) {
    int32_t i = std::isnan(v) ? -1 : int32_t(v);
    std::memcpy(out, &i, 4);
  } else if (t == DType::i8) {
    *out = uint8_t(std::isnan(v) ? -128 : int8_t(v));
  } else if (t == DType::f8e4m3 || t == DType::f8e5m2) {
    *out = t == DType::f8e4m3 ? float_to_f8e4m3(float(v)) : float_to_f8e5m2(float(v));
  } else {
    ADD_FAILURE() << "test helper: unsupported dtype " << dtype_name(t);
  }
}

inline double decode(DType t, const unsigned char* in) {
  if (t == DType::f32) {
    float f;
    std::memcpy(&f, in, 4);
    return f;
  }
  if (t == DType::f16 || t == DType::bf16) {
    uint16_t b;
    std::memcpy(&b, in, 2);
    return t == DType::f16 ? half_to_float(b) : bfloat16_to_float(b);
  }
  if (t == DType::i32) {
    int32_t i;
    std::memcpy(&i, in, 4);
    return i;
  }
  if (t == DType::i8)
    return int8_t(*in);
  if (t == DType::f8e4m3 || t == DType::f8e5m2)
    return t == DType::f8e4m3 ? f8e4m3_to_float(*in) : f8e5m2_to_float(*in);
  ADD_FAILURE() << "test helper: unsupported dtype " << dtype_name(t);
  return 0;
}

// A tensor on the host (DeviceKind::cpu) or the simulated device, with `pad` extra elements at
// the end of each row (a row stride of cols + pad) so that strided rows are tested too.
class TestTensor {
public:
  TestTensor(DeviceKind dev, DType t, std::vector<int64_t> shape, const std::vector<double>& values,
             int64_t pad = 0)
      : dev_(dev), dtype_(t), shape_(std::move(shape)), pad_(pad) {
    cols_ = shape_.empty() ? 1 : shape_.back();
    rows_ = 1;
    for (size_t i = 0; i + 1 < shape_.size(); ++i)
      rows_ *= shape_[i];
    bytes_.assign(size_t(std::max<int64_t>(rows_ * (cols_ + pad_), 1)) * dtype_bytes(t), 0);
    std::vector<double> all(bytes_.size() / dtype_bytes(t), std::nan(""));
    for (int64_t r = 0; r < rows_; ++r)
      for (int64_t c = 0; c < cols_; ++c)
        all[r * (cols_ + pad_) + c] = values.empty() ? std::nan("") : values[r * cols_ + c];
    for (size_t i = 0; i < all.size(); ++i)
      encode(t, all[i], &bytes_[i * dtype_bytes(t)]);
    if (dev_ != DeviceKind::cpu) {
      buf_.emplace(runtime::DeviceBuffer::allocate_on(dev_, bytes_.size()));
      buf_->copy_from_host(bytes_.data(), bytes_.size());
    }
  }
  // A NaN-poisoned output.
  static TestTensor poisoned(DeviceKind dev, DType t, std::vector<int64_t> shape, int64_t pad = 0) {
    return TestTensor(dev, t, std::move(shape), {}, pad);
  }

  TensorView view() {
    TensorView v;
    v.data = dev_ == DeviceKind::cpu ? static_cast<void*>(bytes_.data()) : buf_->data();
    v.dtype = dtype_;
    v.device = dev_;
    v.rank = int(shape_.size());
    int64_t stride = 1;
    for (int i = v.rank - 1; i >= 0; --i) {
      v.shape[i] = shape_[i];
      v.strides[i] = stride;
      stride *= i == v.rank - 1 ? shape_[i] + pad_ : shape_[i];
    }
    return v;
  }
  // The values (row-major, without the padding), as f64.
  std::vector<double> values() {
    if (buf_)
      buf_->copy_to_host(bytes_.data(), bytes_.size());
    std::vector<double> out;
    for (int64_t r = 0; r < rows_; ++r)
      for (int64_t c = 0; c < cols_; ++c)
        out.push_back(decode(dtype_, &bytes_[(r * (cols_ + pad_) + c) * dtype_bytes(dtype_)]));
    return out;
  }
  // True when every padding element is still the poison (NaN): nothing was written outside.
  bool padding_untouched() {
    if (buf_)
      buf_->copy_to_host(bytes_.data(), bytes_.size());
    for (int64_t r = 0; r < rows_; ++r)
      for (int64_t c = cols_; c < cols_ + pad_; ++c)
        if (!std::isnan(decode(dtype_, &bytes_[(r * (cols_ + pad_) + c) * dtype_bytes(dtype_)])))
          return false;
    return true;
  }

private:
  DeviceKind dev_;
  DType dtype_;
  std::vector<int64_t> shape_;
  int64_t pad_ = 0, rows_ = 1, cols_ = 1;
  std::vector<unsigned char> bytes_;
  std::optional<runtime::DeviceBuffer> buf_;
};

// Inputs rounded to `t`, as the kernel sees them (the reference computes from these).
inline std::vector<double> rounded(const std::vector<double>& v, DType t) {
  std::vector<double> out;
  for (double x : v)
    out.push_back(round_to_dtype(x, t));
  return out;
}

// The documented tolerance (docs/stdlib.md): |got - want| <= rtol * (|want| + 0.01 * max|want|),
// rtol 2e-5 for f32 (f32 math over up to ~10^4 terms), 2e-3 for f16 (one output rounding of
// 2^-11 plus f32 math), 1.6e-2 for bf16 (2^-8 rounding plus the cancellation of two rounded terms).
inline double rtol_for(DType t) { return t == DType::f32 ? 2e-5 : t == DType::f16 ? 2e-3 : 1.6e-2; }

// The absolute floor of a dtype: f16 results below 2^-14 are subnormal, spaced 2^-24 apart, so
// one rounding there costs up to 2^-25 whatever their size (softmax of a 32768-column row is
// ~3e-5 and below). f32 and bf16 share f32's exponent range: no floor needed at these sizes.
inline double atol_for(DType t) { return t == DType::f16 ? std::ldexp(1.0, -24) : 0.0; }

// `atol` adds an absolute floor for results that cancel to (near) zero, such as the gradient of a
// one-element norm; it is stated where a test uses it.
inline void expect_close(const std::vector<double>& got, const std::vector<double>& want,
                         double rtol, const std::string& what, double atol = 0) {
  ASSERT_EQ(got.size(), want.size()) << what;
  double scale = 0;
  for (double w : want)
    scale = std::max(scale, std::fabs(w));
  for (size_t i = 0; i < got.size(); ++i)
    ASSERT_LE(std::fabs(got[i] - want[i]), rtol * (std::fabs(want[i]) + 0.01 * scale) + atol)
        << what << ": element " << i << " is " << got[i] << ", expected " << want[i];
}

// What every op kernel's PTX must show for `target` at `num_warps`: nvJitLink's report parsed, no
// spills, no local memory, and 16-byte global loads. Returns the PTX, for further checks.
inline std::string expect_lean_ptx(const ir::Module& module, const char* target, int num_warps,
                                   const std::string& what) {
  codegen::gpu::CompileOptions opts;
  opts.num_warps = num_warps;
  auto out = codegen::gpu::compile(*module.functions.front(), codegen::parse_target(target), opts);
  EXPECT_TRUE(out.resources.parsed) << out.info_log;
  EXPECT_EQ(out.resources.spill_stores, 0) << what;
  EXPECT_EQ(out.resources.spill_loads, 0) << what;
  EXPECT_EQ(codegen::gpu::ptx_stats(out.ptx).get("local"), 0) << what;
  // 16-byte reads: ld.global.v4, or cp.async.cg (16 bytes by definition) for pipelined operands.
  EXPECT_TRUE(codegen::gpu::ptx_stats(out.ptx).get("ld.global.v4") > 0 ||
              out.ptx.find("cp.async.cg") != std::string::npos)
      << what;
  return out.ptx;
}

// The simulator's bank profile over a stretch of a test (runtime/sim_device.h): construct one
// before the simulated launches, call expect_none() after. Every stdlib kernel's shared accesses
// are meant to take the conflict-free number of wavefronts; a finding names the kernels.
class SimBankConflicts {
public:
  SimBankConflicts() : before_(runtime::simdev::bank_tally()) {}
  void expect_none(const std::string& what) const {
    runtime::simdev::BankTally now = runtime::simdev::bank_tally();
    std::string kernels;
    for (const auto& [kernel, n] : now.by_kernel) {
      auto was = before_.by_kernel.find(kernel);
      uint64_t grew = n - (was == before_.by_kernel.end() ? 0 : was->second);
      if (grew)
        kernels += " " + kernel + ": " + std::to_string(grew);
    }
    EXPECT_GT(now.wavefronts, before_.wavefronts) << what << ": no shared-memory access was run";
    EXPECT_EQ(now.conflicts - before_.conflicts, 0u)
        << what << ": bank conflicts (wavefronts beyond the minimum) in" << kernels;
  }

private:
  runtime::simdev::BankTally before_;
};

} // namespace tessel::testing
