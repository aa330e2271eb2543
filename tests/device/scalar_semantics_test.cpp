// The scalar semantics (codegen/scalar_semantics.h, docs/architecture.md "Scalar semantics") as a
// table: each row is one op on given operand types with edge-case inputs, run through a tiny
// kernel on the CPU backend and on the simulated GPU device, and the two results compared bit for
// bit — and with the value the rule defines, where it defines one. NaN results match any NaN
// (the payload and sign of a NaN are not specified). Adding a rule is one line of the table.
//
// The outputs are poisoned with different bytes on the two devices, so an element that a kernel
// does not write differs between them.
#include "support/expect_error.h"
#include "support/require_sim_device.h"
#include "tessel/codegen/gpu.h"
#include "tessel/runtime/device.h"
#include "tessel/runtime/device_buffer.h"
#include "tessel/tessel.h"

#include <gtest/gtest.h>

#include <bit>
#include <climits>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <limits>
#include <optional>
#include <string>
#include <vector>

namespace {

namespace rt = tessel::runtime;
namespace tl = tessel::lang;
using tessel::DType;
using T = const tl::Tensor&;

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();
constexpr double kInf = std::numeric_limits<double>::infinity();
constexpr double kI32Min = INT32_MIN, kI32Max = INT32_MAX;
constexpr double kI64Min = -9223372036854775808.0;
// The rule leaves the value open: only CPU == simulator is checked.
constexpr double U = -4242.4242;
// `v` rounded to f32 (the value an f32 operand holds), for expected results computed from it.
double F(double v) { return double(float(v)); }

using Fn = tl::Tensor (*)(T, T, T);

struct Row {
  const char* what;
  Fn fn;
  std::vector<DType> in; // operand types (1 to 3)
  DType out;
  std::vector<std::vector<double>> cases; // operands, then the expected result (or U)
  int ulps = 0;          // 0: exact; else the allowed error in units in the last place
  bool fp_fusion = true; // LaunchOptions::fp_fusion of both launches
};

// One element of `t` holding `v`, which must be representable (integers saturate).
uint64_t encode(DType t, double v) {
  auto sat = [&](double lo, double hi) {
    return static_cast<uint64_t>(static_cast<int64_t>(std::isnan(v) ? 0
                                                      : v >= hi     ? hi
                                                      : v < lo      ? lo
                                                                    : v));
  };
  auto usat = [&](double hi) {
    return static_cast<uint64_t>(std::isnan(v) || v < 0 ? 0 : v >= hi ? hi : v);
  };
  switch (t) {
  case DType::i1:
    return v != 0;
  case DType::i8:
    return sat(-128, 127) & 0xff;
  case DType::i16:
    return sat(-32768, 32767) & 0xffff;
  case DType::i32:
    return sat(kI32Min, kI32Max) & 0xffffffffu;
  case DType::i64:
    return v >= 9223372036854775807.0 ? uint64_t(INT64_MAX) : sat(kI64Min, 9.2e18);
  case DType::f16:
    return tessel::float_to_half(float(v));
  case DType::bf16:
    return tessel::float_to_bfloat16(float(v));
  case DType::f32:
    return std::bit_cast<uint32_t>(float(v));
  case DType::f64:
    return std::bit_cast<uint64_t>(v);
  case DType::u8:
    return usat(255) & 0xff;
  case DType::u16:
    return usat(65535) & 0xffff;
  case DType::u32:
    return usat(4294967295.0) & 0xffffffffu;
  case DType::u64:
    return v >= 18446744073709551615.0 ? ~uint64_t(0) : usat(1.8e19);
  // Exact values only (the table's inputs are fp8 values; results are checked bit for bit).
  case DType::f8e4m3:
    return tessel::float_to_f8e4m3(float(v));
  case DType::f8e5m2:
    return tessel::float_to_f8e5m2(float(v));
  }
  return 0;
}

double decode(DType t, uint64_t bits) {
  switch (t) {
  case DType::i1:
    return bits != 0;
  case DType::i8:
    return int8_t(bits);
  case DType::i16:
    return int16_t(bits);
  case DType::i32:
    return int32_t(bits);
  case DType::i64:
    return double(int64_t(bits));
  case DType::f16:
    return tessel::half_to_float(uint16_t(bits));
  case DType::bf16:
    return tessel::bfloat16_to_float(uint16_t(bits));
  case DType::f32:
    return std::bit_cast<float>(uint32_t(bits));
  case DType::f64:
    return std::bit_cast<double>(bits);
  case DType::u8:
    return uint8_t(bits);
  case DType::u16:
    return uint16_t(bits);
  case DType::u32:
    return uint32_t(bits);
  case DType::u64:
    return double(bits);
  case DType::f8e4m3:
    return tessel::f8e4m3_to_float(uint8_t(bits));
  case DType::f8e5m2:
    return tessel::f8e5m2_to_float(uint8_t(bits));
  }
  return 0;
}

std::vector<uint8_t> pack(DType t, const std::vector<double>& vals) {
  const unsigned n = tessel::dtype_bytes(t);
  std::vector<uint8_t> bytes(vals.size() * n);
  for (size_t i = 0; i < vals.size(); ++i) {
    uint64_t b = encode(t, vals[i]);
    std::memcpy(bytes.data() + i * n, &b, n); // little endian
  }
  return bytes;
}

std::vector<uint64_t> unpack(DType t, const std::vector<uint8_t>& bytes) {
  const unsigned n = tessel::dtype_bytes(t);
  std::vector<uint64_t> out(bytes.size() / n);
  for (size_t i = 0; i < out.size(); ++i)
    std::memcpy(&out[i], bytes.data() + i * n, n);
  return out;
}

// The kernel of one row: out[i] = fn(a[i], b[i], c[i]) for i < n (unused operands are dropped by
// DCE).
tessel::Kernel row_kernel(const Row& row, int index) {
  Fn fn = row.fn;
  return tl::kernel(
      "sem_row_" + std::to_string(index),
      [fn](tl::Ptr out, tl::Ptr a, tl::Ptr b, tl::Ptr c, tl::Int n, tl::Const<int> B) {
        auto offs = tl::arange(0, B);
        auto m = offs < n;
        tl::store(out + offs,
                  fn(tl::load(a + offs, m), tl::load(b + offs, m), tl::load(c + offs, m)), m);
      });
}

struct Inputs {
  std::vector<std::vector<uint8_t>> operand; // 3, the unused ones copies of the first
  int64_t n = 0, block = 1;
};

Inputs inputs_of(const Row& row) {
  Inputs in;
  in.n = int64_t(row.cases.size());
  while (in.block < in.n)
    in.block *= 2;
  in.block = std::max<int64_t>(in.block, 16);
  for (size_t k = 0; k < 3; ++k) {
    size_t j = k < row.in.size() ? k : 0;
    std::vector<double> v;
    for (const auto& c : row.cases)
      v.push_back(c[j]);
    in.operand.push_back(pack(row.in[j], v));
  }
  return in;
}

DType operand_type(const Row& row, size_t k) { return row.in[k < row.in.size() ? k : 0]; }

std::vector<uint8_t> run_on_cpu(const tessel::Kernel& k, const Row& row, Inputs in) {
  const unsigned ob = tessel::dtype_bytes(row.out);
  std::vector<uint8_t> out(size_t(in.n) * ob, 0x5A);
  tessel::LaunchOptions cpu;
  cpu.device = tessel::DeviceKind::cpu;
  cpu.fp_fusion = row.fp_fusion;
  auto view = [&](std::vector<uint8_t>& bytes, DType t) {
    return tessel::TensorView(bytes.data(), t, {in.n});
  };
  k.launch({1}, cpu, view(out, row.out), view(in.operand[0], operand_type(row, 0)),
           view(in.operand[1], operand_type(row, 1)), view(in.operand[2], operand_type(row, 2)),
           int(in.n), int(in.block));
  return out;
}

std::vector<uint8_t> run_on_sim(const tessel::Kernel& k, const Row& row, const Inputs& in) {
  const unsigned ob = tessel::dtype_bytes(row.out);
  auto upload = [&](const std::vector<uint8_t>& bytes) {
    auto buf = rt::DeviceBuffer::allocate_on(tessel::DeviceKind::sim, bytes.size());
    buf.copy_from_host(bytes.data(), bytes.size());
    return buf;
  };
  std::vector<uint8_t> out(size_t(in.n) * ob, 0xA5);
  auto dout = upload(out), da = upload(in.operand[0]), db = upload(in.operand[1]),
       dc = upload(in.operand[2]);
  tessel::LaunchOptions sim;
  sim.fp_fusion = row.fp_fusion;
  k.launch({1}, sim, dout.view(row.out, {in.n}), da.view(operand_type(row, 0), {in.n}),
           db.view(operand_type(row, 1), {in.n}), dc.view(operand_type(row, 2), {in.n}), in.n,
           in.block);
  dout.copy_to_host(out.data(), out.size());
  return out;
}

bool is_float_nan(DType t, uint64_t bits) {
  return tessel::dtype_is_float(t) && std::isnan(decode(t, bits));
}

// Units in the last place of `t` at magnitude |x| (at least the smallest normal's).
double ulp_of(DType t, double x) {
  int digits = t == DType::f64      ? 53
               : t == DType::f32    ? 24
               : t == DType::f16    ? 11
               : t == DType::bf16   ? 8
               : t == DType::f8e4m3 ? 4
                                    : 3;
  // The spacing of the subnormals (for f8e4m3 and f8e5m2 those of their exponent ranges).
  const int least = t == DType::f64      ? -1074
                    : t == DType::f32    ? -149
                    : t == DType::f16    ? -24
                    : t == DType::bf16   ? -133
                    : t == DType::f8e4m3 ? -9
                                         : -16;
  int e = 0;
  std::frexp(std::max(std::fabs(x), 1e-30), &e);
  return std::max(std::ldexp(1.0, e - digits), std::ldexp(1.0, least));
}

bool same(DType t, uint64_t x, uint64_t y, int ulps) {
  if (is_float_nan(t, x) || is_float_nan(t, y))
    return is_float_nan(t, x) && is_float_nan(t, y);
  if (ulps == 0)
    return x == y;
  double a = decode(t, x), b = decode(t, y);
  return a == b || std::fabs(a - b) <= ulps * ulp_of(t, b);
}

std::string describe(const Row& row, size_t i, uint64_t cpu, uint64_t sim) {
  std::string s = std::string(row.what) + " (";
  for (size_t k = 0; k < row.in.size(); ++k)
    s += (k ? ", " : "") + std::to_string(row.cases[i][k]);
  char buf[160];
  std::snprintf(buf, sizeof buf, "): cpu %.17g (0x%llx), sim %.17g (0x%llx)", decode(row.out, cpu),
                (unsigned long long)cpu, decode(row.out, sim), (unsigned long long)sim);
  return s + buf;
}

// clang-format off
const std::vector<Row>& table() {
  using enum DType;
  static const std::vector<Row> rows = {
    // Booleans are ordered false < true (unsigned), in comparisons and in min/max.
    {"cmp_lt i1", [](T a, T b, T) { return a < b; }, {i1, i1}, i1, {{0, 1, 1}, {1, 0, 0}, {1, 1, 0}, {0, 0, 0}}},
    {"cmp_le i1", [](T a, T b, T) { return a <= b; }, {i1, i1}, i1, {{0, 1, 1}, {1, 0, 0}, {1, 1, 1}}},
    {"cmp_gt i1", [](T a, T b, T) { return a > b; }, {i1, i1}, i1, {{0, 1, 0}, {1, 0, 1}, {0, 0, 0}}},
    {"cmp_ge i1", [](T a, T b, T) { return a >= b; }, {i1, i1}, i1, {{0, 1, 0}, {1, 0, 1}, {0, 0, 1}}},
    {"min i1", [](T a, T b, T) { return tl::minimum(a, b); }, {i1, i1}, i1, {{0, 1, 0}, {1, 0, 0}, {1, 1, 1}}},
    {"max i1", [](T a, T b, T) { return tl::maximum(a, b); }, {i1, i1}, i1, {{0, 1, 1}, {1, 0, 1}, {0, 0, 0}}},
    {"cmp_lt i32", [](T a, T b, T) { return a < b; }, {i32, i32}, i1, {{-1, 0, 1}, {kI32Min, kI32Max, 1}, {0, -1, 0}}},
    // Integer division truncates; x / 0 = x, x % 0 = 0, INT_MIN / -1 = INT_MIN, INT_MIN % -1 = 0.
    {"div i32", [](T a, T b, T) { return a / b; }, {i32, i32}, i32,
     {{7, 2, 3}, {-7, 2, -3}, {7, -2, -3}, {7, 0, 7}, {0, 0, 0}, {kI32Min, -1, kI32Min}, {kI32Min, 0, kI32Min}, {kI32Max, -1, -kI32Max}}},
    {"rem i32", [](T a, T b, T) { return a % b; }, {i32, i32}, i32,
     {{7, 2, 1}, {-7, 2, -1}, {7, -2, 1}, {7, 0, 0}, {kI32Min, -1, 0}, {kI32Min, 0, 0}}},
    {"div i64", [](T a, T b, T) { return a / b; }, {i64, i64}, i64, {{-9, 4, -2}, {5, 0, 5}, {kI64Min, -1, kI64Min}}},
    {"rem i64", [](T a, T b, T) { return a % b; }, {i64, i64}, i64, {{-9, 4, -1}, {5, 0, 0}, {kI64Min, -1, 0}}},
    {"div i8", [](T a, T b, T) { return a / b; }, {i8, i8}, i8, {{-128, -1, -128}, {100, 0, 100}, {-7, 2, -3}}},
    {"rem i16", [](T a, T b, T) { return a % b; }, {i16, i16}, i16, {{-32768, -1, 0}, {100, 0, 0}, {-7, 2, -1}}},
    // Shift amounts are taken modulo the width; shr is arithmetic.
    {"shl i32", [](T a, T b, T) { return a << b; }, {i32, i32}, i32, {{1, 31, kI32Min}, {1, 32, 1}, {1, 33, 2}, {1, -1, kI32Min}, {3, 0, 3}}},
    {"shr i32", [](T a, T b, T) { return a >> b; }, {i32, i32}, i32, {{-8, 1, -4}, {-8, 32, -8}, {kI32Min, 31, -1}, {64, 35, 8}}},
    {"shl i64", [](T a, T b, T) { return a << b; }, {i64, i64}, i64, {{1, 64, 1}, {1, 63, kI64Min}, {1, 65, 2}}},
    {"shl i8", [](T a, T b, T) { return a << b; }, {i8, i8}, i8, {{1, 8, 1}, {1, 7, -128}, {3, 9, 6}}},
    // Overflow wraps; abs and neg of INT_MIN are INT_MIN.
    {"add i32", [](T a, T b, T) { return a + b; }, {i32, i32}, i32, {{kI32Max, 1, kI32Min}, {kI32Min, -1, kI32Max}}},
    {"mul i32", [](T a, T b, T) { return a * b; }, {i32, i32}, i32, {{65536, 65536, 0}, {kI32Min, -1, kI32Min}}},
    {"abs i32", [](T a, T, T) { return tl::abs(a); }, {i32}, i32, {{kI32Min, kI32Min}, {-5, 5}, {0, 0}}},
    {"neg i32", [](T a, T, T) { return -a; }, {i32}, i32, {{kI32Min, kI32Min}, {5, -5}}},
    {"min i32", [](T a, T b, T) { return tl::minimum(a, b); }, {i32, i32}, i32, {{-1, 1, -1}, {kI32Min, kI32Max, kI32Min}}},
    // umulhi: the high half of the unsigned double-width product (the operands' bits as unsigned).
    {"umulhi i32", [](T a, T b, T) { return tl::umulhi(a, b); }, {i32, i32}, i32,
     {{-1, -1, -2}, {65536, 65536, 1}, {kI32Min, 2, 1}, {-1, 2, 1}, {kI32Max, kI32Max, 1073741823}, {-766435501, 1, 0}, {0, -1, 0}}},
    {"umulhi i64", [](T a, T b, T) { return tl::umulhi(a, b); }, {i64, i64}, i64, {{-1, -1, -2}, {kI64Min, 2, 1}, {4294967296.0, 4294967296.0, 1}, {-1, 3, 2}}},
    {"umulhi i8", [](T a, T b, T) { return tl::umulhi(a, b); }, {i8, i8}, i8, {{-1, -1, -2}, {16, 16, 1}, {-128, 2, 1}}},
    // float -> int truncates and saturates; NaN -> 0.
    {"cast f32->i32", [](T a, T, T) { return a.to(tl::i32); }, {f32}, i32,
     {{2.9, 2}, {-2.9, -2}, {kNaN, 0}, {kInf, kI32Max}, {-kInf, kI32Min}, {3e9, kI32Max}, {-3e9, kI32Min}, {-0.0, 0}}},
    {"cast f32->i8", [](T a, T, T) { return a.to(tl::i8); }, {f32}, i8, {{300, 127}, {-300, -128}, {-128.5, -128}, {kNaN, 0}}},
    {"cast f64->i64", [](T a, T, T) { return a.to(tl::i64); }, {f64}, i64, {{1e19, 9.3e18}, {-1e19, kI64Min}, {kNaN, 0}, {-3.5, -3}}},
    {"cast f16->i32", [](T a, T, T) { return a.to(tl::i32); }, {f16}, i32, {{kInf, kI32Max}, {-65504, -65504}, {kNaN, 0}}},
    {"cast bf16->i16", [](T a, T, T) { return a.to(tl::i16); }, {bf16}, i16, {{1e10, 32767}, {-1e10, -32768}, {-2.5, -2}}},
    // -> i1 compares with zero (NaN is true); i1 -> number gives 0 or 1.
    {"cast f32->i1", [](T a, T, T) { return a.to(tl::i1); }, {f32}, i1, {{kNaN, 1}, {-0.0, 0}, {0.5, 1}}},
    {"cast i32->i1", [](T a, T, T) { return a.to(tl::i1); }, {i32}, i1, {{2, 1}, {0, 0}, {kI32Min, 1}}},
    {"cast i1->i32", [](T a, T, T) { return a.to(tl::i32); }, {i1}, i32, {{1, 1}, {0, 0}}},
    {"cast i1->f16", [](T a, T, T) { return a.to(tl::f16); }, {i1}, f16, {{1, 1}, {0, 0}}},
    {"cast i32->i8", [](T a, T, T) { return a.to(tl::i8); }, {i32}, i8, {{300, 44}, {-129, 127}}},
    {"cast i8->i64", [](T a, T, T) { return a.to(tl::i64); }, {i8}, i64, {{-128, -128}, {127, 127}}},
    // Every rounding cast rounds once, to nearest even.
    {"cast i32->f32", [](T a, T, T) { return a.to(tl::f32); }, {i32}, f32, {{16777217, 16777216}, {16777219, 16777220}, {kI32Min, kI32Min}}},
    {"cast i32->f16", [](T a, T, T) { return a.to(tl::f16); }, {i32}, f16, {{2049, 2048}, {2051, 2052}, {65520, kInf}, {-65519, -65504}}},
    {"cast i32->bf16", [](T a, T, T) { return a.to(tl::bf16); }, {i32}, bf16, {{257, 256}, {259, 260}, {16777217, 16777216}}},
    {"cast i64->f64", [](T a, T, T) { return a.to(tl::f64); }, {i64}, f64, {{kI64Min, kI64Min}, {9007199254740993.0, 9007199254740992.0}}},
    {"cast f32->f16", [](T a, T, T) { return a.to(tl::f16); }, {f32}, f16,
     {{1 + 0x1p-11, 1}, {1 + 3 * 0x1p-11, 1 + 0x1p-9}, {65520, kInf}, {65519, 65504}, {0x1p-25, 0}, {3 * 0x1p-26, 0x1p-24}, {-0.0, -0.0}, {kNaN, kNaN}, {-kInf, -kInf}}},
    {"cast f32->bf16", [](T a, T, T) { return a.to(tl::bf16); }, {f32}, bf16,
     {{1 + 0x1p-8, 1}, {1 + 3 * 0x1p-8, 1 + 0x1p-6}, {3.4e38, kInf}, {-0.0, -0.0}, {kNaN, kNaN}, {1e-40f, double(tessel::bfloat16_to_float(tessel::float_to_bfloat16(1e-40f)))}}},
    {"cast f64->f16", [](T a, T, T) { return a.to(tl::f16); }, {f64}, f16, {{1 + 0x1p-11 + 0x1p-40, 1 + 0x1p-10}, {1 + 0x1p-11, 1}, {1e300, kInf}}},
    {"cast f64->bf16", [](T a, T, T) { return a.to(tl::bf16); }, {f64}, bf16, {{1 + 0x1p-8 + 0x1p-40, 1 + 0x1p-7}, {1 + 0x1p-8, 1}, {-1e300, -kInf}}},
    {"cast f64->f32", [](T a, T, T) { return a.to(tl::f32); }, {f64}, f32, {{1 + 0x1p-24, 1}, {1 + 3 * 0x1p-24, 1 + 0x1p-22}, {1e300, kInf}}},
    {"cast f16->f64", [](T a, T, T) { return a.to(tl::f64); }, {f16}, f64, {{65504, 65504}, {0x1p-24, 0x1p-24}, {-0.0, -0.0}}},
    {"cast f16->bf16", [](T a, T, T) { return a.to(tl::bf16); }, {f16}, bf16,
     {{1, 1}, {65504, 65536}, {1 + 0x1p-8, 1}, {1 + 3 * 0x1p-8, 1 + 0x1p-6}, {1 + 0x1p-10, 1}, {0x1p-24, 0x1p-24}, {-0.0, -0.0}, {kInf, kInf}, {kNaN, kNaN}}},
    {"cast bf16->f16", [](T a, T, T) { return a.to(tl::f16); }, {bf16}, f16,
     {{131072, kInf}, {0x1p-26, 0}, {0x1p-25, 0}, {3 * 0x1p-26, 0x1p-24}, {1.5, 1.5}, {-kInf, -kInf}}},
    // Float rem is the exact fmod (the sign of the dividend).
    {"rem f32", [](T a, T b, T) { return a % b; }, {f32, f32}, f32,
     {{5.5, 2, 1.5}, {-5.5, 2, -1.5}, {1, 0, kNaN}, {kInf, 1, kNaN}, {1, kInf, 1}, {-0.0, 1, -0.0},
      {1e30f, 3, std::fmod(1e30f, 3.0f)}, {123456.789f, 0.0123f, std::fmod(123456.789f, 0.0123f)},
      {3.4e38f, 1.1f, std::fmod(3.4e38f, 1.1f)}, {16777215.0f, 0.1f, std::fmod(16777215.0f, 0.1f)},
      {7.0f, 0.3f, std::fmod(7.0f, 0.3f)}, {-1e-38f, 3e-39f, std::fmod(-1e-38f, 3e-39f)}}},
    {"rem f64", [](T a, T b, T) { return a % b; }, {f64, f64}, f64,
     {{1e300, 3, std::fmod(1e300, 3.0)}, {123456.789, 0.0123, std::fmod(123456.789, 0.0123)}, {-7, 0.3, std::fmod(-7.0, 0.3)}, {1, 0, kNaN}}},
    {"rem f16", [](T a, T b, T) { return a % b; }, {f16, f16}, f16, {{65504, 3, std::fmod(65504.0, 3.0)}, {-5.5, 2, -1.5}}},
    {"div f32", [](T a, T b, T) { return a / b; }, {f32, f32}, f32,
     {{1, 0, kInf}, {-1, 0, -kInf}, {0, 0, kNaN}, {1, 3, 1.0f / 3.0f}, {1, -0.0, -kInf}, {2, 7, 2.0f / 7.0f}}},
    // min/max return the other operand for one NaN; -0 < +0.
    {"min f32", [](T a, T b, T) { return tl::minimum(a, b); }, {f32, f32}, f32,
     {{kNaN, 1, 1}, {1, kNaN, 1}, {-0.0, 0.0, -0.0}, {0.0, -0.0, -0.0}, {kNaN, kNaN, kNaN}, {-kInf, 1, -kInf}}},
    {"max f32", [](T a, T b, T) { return tl::maximum(a, b); }, {f32, f32}, f32,
     {{kNaN, 1, 1}, {1, kNaN, 1}, {-0.0, 0.0, 0.0}, {0.0, -0.0, 0.0}, {2, 3, 3}}},
    {"max f16", [](T a, T b, T) { return tl::maximum(a, b); }, {f16, f16}, f16, {{kNaN, 1, 1}, {-0.0, 0.0, 0.0}, {-2, -3, -2}}},
    {"min f64", [](T a, T b, T) { return tl::minimum(a, b); }, {f64, f64}, f64, {{kNaN, 1, 1}, {0.0, -0.0, -0.0}}},
    // Comparisons are false on NaN, but for cmp_ne.
    {"cmp_lt f32", [](T a, T b, T) { return a < b; }, {f32, f32}, i1, {{kNaN, 1, 0}, {1, kNaN, 0}, {-0.0, 0.0, 0}, {-kInf, kInf, 1}}},
    {"cmp_ne f32", [](T a, T b, T) { return a != b; }, {f32, f32}, i1, {{kNaN, kNaN, 1}, {-0.0, 0.0, 0}, {1, 2, 1}}},
    {"cmp_eq f32", [](T a, T b, T) { return a == b; }, {f32, f32}, i1, {{kNaN, kNaN, 0}, {-0.0, 0.0, 1}}},
    {"cmp_ge f16", [](T a, T b, T) { return a >= b; }, {f16, f16}, i1, {{kNaN, 1, 0}, {-0.0, 0.0, 1}, {65504, kInf, 0}}},
    // f16/bf16 arithmetic is done in f32 and rounded once after each op.
    {"add f16", [](T a, T b, T) { return a + b; }, {f16, f16}, f16, {{65504, 16, kInf}, {65504, 15, 65504}, {1, 0x1p-11, 1}, {-0.0, 0.0, 0.0}, {kInf, -kInf, kNaN}}},
    {"mul f16", [](T a, T b, T) { return a * b; }, {f16, f16}, f16, {{0x1p-14, 0x1p-11, 0}, {0x1p-14, 0x1p-10, 0x1p-24}, {300, 300, kInf}, {-1, 0.0, -0.0}}},
    {"add bf16", [](T a, T b, T) { return a + b; }, {bf16, bf16}, bf16, {{1, 0x1p-8, 1}, {1, 3 * 0x1p-8, 1 + 0x1p-6}, {3.38e38, 3.38e38, kInf}}},
    {"div f16", [](T a, T b, T) { return a / b; }, {f16, f16}, f16, {{1, 3, double(tessel::half_to_float(tessel::float_to_half(1.0f / 3.0f)))}, {1, 0, kInf}}},
    // fma on f16/bf16 is an f32 fma rounded once more (a one-rounding fma.rn.f16 gives 1 + 2^-10 in
    // the first case: the exact 1 + 2^-10 + 2^-11 - 9 * 2^-31 is rounded onto the tie in f32).
    {"fma f16", [](T a, T b, T c) { return tl::fma(a, b, c); }, {f16, f16, f16}, f16,
     {{1 + 3 * 0x1p-10, (1 - 3 * 0x1p-10) * 0x1p-11, 1 + 0x1p-10, 1 + 0x1p-9}, {1 + 0x1p-10, 1 + 0x1p-10, -1, U}, {2, 3, 4, 10}, {kInf, 0, 1, kNaN}}},
    {"fma bf16", [](T a, T b, T c) { return tl::fma(a, b, c); }, {bf16, bf16, bf16}, bf16, {{3, 1 + 0x1p-7, 0x1p-100, 3 + 0x1p-5}, {2, 3, 4, 10}}},
    {"fma f32", [](T a, T b, T c) { return tl::fma(a, b, c); }, {f32, f32, f32}, f32, {{1 + 0x1p-23, 1 - 0x1p-23, -1, -0x1p-46}, {kInf, 0, 1, kNaN}}},
    // FMA contraction (contract-fma, docs/language.md): a*b + c is one fma with fp_fusion on (the
    // default), two roundings with it off; either way the same bits on both backends. The first
    // case's exact product 1 - 2^-46 rounds to 1 on its own.
    {"a*b+c f32 fused", [](T a, T b, T c) { return a * b + c; }, {f32, f32, f32}, f32, {{1 + 0x1p-23, 1 - 0x1p-23, -1, -0x1p-46}, {2, 3, 4, 10}, {kInf, 0, 1, kNaN}}},
    {"c+a*b f32 fused", [](T a, T b, T c) { return c + a * b; }, {f32, f32, f32}, f32, {{1 + 0x1p-23, 1 - 0x1p-23, -1, -0x1p-46}}},
    {"a*b+c f32 separate", [](T a, T b, T c) { return a * b + c; }, {f32, f32, f32}, f32, {{1 + 0x1p-23, 1 - 0x1p-23, -1, 0}, {2, 3, 4, 10}}, 0, false},
    {"a*b+c f64 fused", [](T a, T b, T c) { return a * b + c; }, {f64, f64, f64}, f64, {{1 + 0x1p-52, 1 - 0x1p-52, -1, -0x1p-104}}},
    {"a*b+c f64 separate", [](T a, T b, T c) { return a * b + c; }, {f64, f64, f64}, f64, {{1 + 0x1p-52, 1 - 0x1p-52, -1, 0}}, 0, false},
    // f16: fused is the f16 fma rule above (an f32 fma rounded once more); separate rounds the
    // product to f16 first ((1 + 2^-10)(1 + 2^-9) = 1 + 3 * 2^-10 + 2^-19 -> 1 + 3 * 2^-10).
    {"a*b+c f16 fused", [](T a, T b, T c) { return a * b + c; }, {f16, f16, f16}, f16, {{1 + 0x1p-10, 1 + 0x1p-9, -1, 3 * 0x1p-10 + 0x1p-19}}},
    {"a*b+c f16 separate", [](T a, T b, T c) { return a * b + c; }, {f16, f16, f16}, f16, {{1 + 0x1p-10, 1 + 0x1p-9, -1, 3 * 0x1p-10}}, 0, false},
    // A product with two uses is not fused (each user would see another rounding of it).
    {"a*b used twice f32", [](T a, T b, T c) { tl::Tensor p = a * b; return (p + c) * p; }, {f32, f32, f32}, f32, {{1 + 0x1p-23, 1 - 0x1p-23, -1, 0}}},
    {"neg f32", [](T a, T, T) { return -a; }, {f32}, f32, {{0.0, -0.0}, {-0.0, 0.0}, {kInf, -kInf}}},
    {"abs f32", [](T a, T, T) { return tl::abs(a); }, {f32}, f32, {{-0.0, 0.0}, {-kInf, kInf}, {-3, 3}}},
    {"abs bf16", [](T a, T, T) { return tl::abs(a); }, {bf16}, bf16, {{-0.0, 0.0}, {-3, 3}}},
    // Exactly rounded math: sqrt, floor, ceil; special values of the transcendentals (sin and cos
    // with the math functions below).
    {"sqrt f32", [](T a, T, T) { return tl::sqrt(a); }, {f32}, f32, {{-1, kNaN}, {-0.0, -0.0}, {2, std::sqrt(2.0f)}, {kInf, kInf}, {1e-45, std::sqrt(1e-45f)}}},
    {"sqrt f64", [](T a, T, T) { return tl::sqrt(a); }, {f64}, f64, {{2, std::sqrt(2.0)}, {-1, kNaN}}},
    {"floor f32", [](T a, T, T) { return tl::floor(a); }, {f32}, f32, {{-0.5, -1}, {-0.0, -0.0}, {2.5, 2}, {kNaN, kNaN}}},
    {"ceil f32", [](T a, T, T) { return tl::ceil(a); }, {f32}, f32, {{-0.5, -0.0}, {2.5, 3}, {-kInf, -kInf}}},
    {"exp f32", [](T a, T, T) { return tl::exp(a); }, {f32}, f32, {{-kInf, 0}, {kInf, kInf}, {0, 1}, {kNaN, kNaN}, {1, std::exp(1.0f)}, {-3.5, std::exp(-3.5f)}}, 2},
    // exp2 is PTX ex2.approx.f32 on the GPU (CUDA's exp2f bound, 2 ulp; the simulator computes it
    // exactly), the CPU's vectorised exp2 elsewhere; subnormal results are kept on both.
    {"exp2 f32", [](T a, T, T) { return tl::exp2(a); }, {f32}, f32, {{-kInf, 0}, {kInf, kInf}, {0, 1}, {kNaN, kNaN}, {1, 2}, {-1.5, std::exp2(-1.5f)}, {-10.2, std::exp2(-10.2f)}, {127.5, std::exp2(127.5f)}, {128, kInf}, {-126.5, std::exp2(-126.5f)}, {-140, 0x1p-140}}, 2},
    // exp(x) written as exp2(x * log2(e)) (Triton's tl.exp; the softmax sample): the product's
    // rounding adds up to |x| ulp to exp2's 2, so the bound grows with |x| (docs/semantics.md).
    {"exp2(x*log2e) f32 |x|<=1", [](T a, T, T) { return tl::exp2(a * 1.4426950408889634); }, {f32}, f32, {{0, 1}, {-1, std::exp(-1.0f)}, {-0.3, std::exp(-0.3f)}, {1, std::exp(1.0f)}, {-kInf, 0}}, 3},
    {"exp2(x*log2e) f32 |x|<=87", [](T a, T, T) { return tl::exp2(a * 1.4426950408889634); }, {f32}, f32, {{-20, std::exp(-20.0f)}, {-50.5, std::exp(-50.5f)}, {-87, std::exp(-87.0f)}, {10, std::exp(10.0f)}, {80, std::exp(80.0f)}}, 89},
    {"log f32", [](T a, T, T) { return tl::log(a); }, {f32}, f32, {{0, -kInf}, {-1, kNaN}, {1, 0}, {kInf, kInf}, {10, std::log(10.0f)}}, 2},
    {"tanh f32", [](T a, T, T) { return tl::tanh(a); }, {f32}, f32, {{kInf, 1}, {-kInf, -1}, {0.5, std::tanh(0.5f)}}, 2},
    {"erf f32", [](T a, T, T) { return tl::erf(a); }, {f32}, f32, {{kInf, 1}, {0, 0}, {0.5, std::erf(0.5f)}}, 2},
    {"sigmoid f32", [](T a, T, T) { return tl::sigmoid(a); }, {f32}, f32, {{-kInf, 0}, {kInf, 1}, {0, 0.5}}, 2},
    {"rsqrt f32", [](T a, T, T) { return tl::rsqrt(a); }, {f32}, f32, {{0, kInf}, {4, 0.5}, {kInf, 0}, {2, 1 / std::sqrt(2.0)}}, 2},
    {"exp f16", [](T a, T, T) { return tl::exp(a); }, {f16}, f16, {{12, kInf}, {-20, 0}, {1, U}}, 1},
    // select and where pass their values through unchanged (NaN and -0 included).
    {"where f32", [](T a, T b, T c) { return tl::where(a, b, c); }, {i1, f32, f32}, f32, {{1, -0.0, 1, -0.0}, {0, 1, kNaN, kNaN}}},
    // Unsigned integers compare, divide, take min/max and shift right as unsigned; x / 0 = x, x % 0 = 0.
    {"cmp_lt u32", [](T a, T b, T) { return a < b; }, {u32, u32}, i1, {{4294967295.0, 1, 0}, {1, 4294967295.0, 1}, {0, 0, 0}}},
    {"cmp_ge u8", [](T a, T b, T) { return a >= b; }, {u8, u8}, i1, {{255, 1, 1}, {0, 128, 0}}},
    {"div u32", [](T a, T b, T) { return a / b; }, {u32, u32}, u32, {{4294967295.0, 2, 2147483647}, {7, 0, 7}, {4294967295.0, 4294967295.0, 1}, {2147483648.0, 4294967295.0, 0}}},
    {"rem u32", [](T a, T b, T) { return a % b; }, {u32, u32}, u32, {{4294967295.0, 10, 5}, {7, 0, 0}}},
    {"div u8", [](T a, T b, T) { return a / b; }, {u8, u8}, u8, {{255, 2, 127}, {200, 0, 200}, {128, 255, 0}}},
    {"rem u64", [](T a, T b, T) { return a % b; }, {u64, u64}, u64, {{18446744073709551615.0, 10, 5}, {5, 0, 0}}},
    {"shr u32", [](T a, T b, T) { return a >> b; }, {u32, u32}, u32, {{2147483648.0, 31, 1}, {4294967295.0, 28, 15}, {8, 33, 4}}},
    {"shr u8", [](T a, T b, T) { return a >> b; }, {u8, u8}, u8, {{128, 7, 1}, {255, 4, 15}, {255, 9, 127}}},
    {"shl u16", [](T a, T b, T) { return a << b; }, {u16, u16}, u16, {{1, 15, 32768}, {65535, 8, 65280}, {1, 16, 1}}},
    {"min u32", [](T a, T b, T) { return tl::minimum(a, b); }, {u32, u32}, u32, {{4294967295.0, 1, 1}, {0, 5, 0}}},
    {"max u64", [](T a, T b, T) { return tl::maximum(a, b); }, {u64, u64}, u64, {{9223372036854775808.0, 1, 9223372036854775808.0}, {3, 5, 5}}},
    {"add u8", [](T a, T b, T) { return a + b; }, {u8, u8}, u8, {{255, 1, 0}, {200, 100, 44}}},
    {"sub u32", [](T a, T b, T) { return a - b; }, {u32, u32}, u32, {{0, 1, 4294967295.0}}},
    {"abs u32", [](T a, T, T) { return tl::abs(a); }, {u32}, u32, {{4294967295.0, 4294967295.0}, {3, 3}}},
    // Integer conversions extend by the source's signedness and wrap to the destination's width.
    {"cast u8->i32", [](T a, T, T) { return a.to(tl::i32); }, {u8}, i32, {{255, 255}, {128, 128}}},
    {"cast i8->u32", [](T a, T, T) { return a.to(tl::u32); }, {i8}, u32, {{-1, 4294967295.0}, {127, 127}}},
    {"cast u32->i64", [](T a, T, T) { return a.to(tl::i64); }, {u32}, i64, {{4294967295.0, 4294967295.0}}},
    {"cast i32->u8", [](T a, T, T) { return a.to(tl::u8); }, {i32}, u8, {{300, 44}, {-1, 255}}},
    {"cast u32->f32", [](T a, T, T) { return a.to(tl::f32); }, {u32}, f32, {{4294967295.0, 4294967296.0}, {2147483649.0, 2147483648.0}}},
    {"cast u64->f64", [](T a, T, T) { return a.to(tl::f64); }, {u64}, f64, {{18446744073709551615.0, 18446744073709551616.0}}},
    {"cast u16->f16", [](T a, T, T) { return a.to(tl::f16); }, {u16}, f16, {{65535, kInf}, {65504, 65504}, {2049, 2048}}},
    // float -> unsigned saturates to [0, max]; NaN -> 0.
    {"cast f32->u8", [](T a, T, T) { return a.to(tl::u8); }, {f32}, u8, {{300, 255}, {-5, 0}, {kNaN, 0}, {254.9, 254}, {-0.5, 0}}},
    {"cast f32->u32", [](T a, T, T) { return a.to(tl::u32); }, {f32}, u32, {{5e9, 4294967295.0}, {-1, 0}, {kInf, 4294967295.0}, {3e9, 3e9}}},
    {"cast f64->u64", [](T a, T, T) { return a.to(tl::u64); }, {f64}, u64, {{1e20, 18446744073709551615.0}, {-1e20, 0}, {kNaN, 0}}},
    // fp8: decoding is exact; encoding rounds once to nearest even; e4m3 overflows to NaN (no
    // infinity), e5m2 to inf; saturating casts clamp to the largest finite value (NaN stays).
    {"cast f32->f8e4m3", [](T a, T, T) { return a.to(tl::f8e4m3); }, {f32}, f8e4m3,
     {{448, 448}, {464, 448}, {465, kNaN}, {kInf, kNaN}, {-kInf, kNaN}, {1.0625, 1}, {1.1875, 1.25}, {0x1p-10, 0}, {3 * 0x1p-10, 0x1p-8}, {-0.0, -0.0}, {kNaN, kNaN}, {1e-30, 0}, {0x1p-6, 0x1p-6}, {-240, -240}}},
    {"cast_sat f32->f8e4m3", [](T a, T, T) { return tl::cast(a, tl::f8e4m3, {.saturate = true}); }, {f32}, f8e4m3,
     {{465, 448}, {1e30, 448}, {kInf, 448}, {-kInf, -448}, {kNaN, kNaN}, {100, 96}, {104, 104}}},
    {"cast f32->f8e5m2", [](T a, T, T) { return a.to(tl::f8e5m2); }, {f32}, f8e5m2,
     {{57344, 57344}, {61439, 57344}, {61440, kInf}, {kInf, kInf}, {-kInf, -kInf}, {1.125, 1}, {1.375, 1.5}, {0x1p-17, 0}, {3 * 0x1p-17, 0x1p-15}, {kNaN, kNaN}}},
    {"cast_sat f32->f8e5m2", [](T a, T, T) { return tl::cast(a, tl::f8e5m2, {.saturate = true}); }, {f32}, f8e5m2,
     {{61440, 57344}, {kInf, 57344}, {-kInf, -57344}, {kNaN, kNaN}, {3, 3}}},
    {"cast f8e4m3->f32", [](T a, T, T) { return a.to(tl::f32); }, {f8e4m3}, f32, {{448, 448}, {0x1p-9, 0x1p-9}, {-0.0, -0.0}, {kNaN, kNaN}, {-1.75, -1.75}}},
    {"cast f8e5m2->f16", [](T a, T, T) { return a.to(tl::f16); }, {f8e5m2}, f16, {{57344, 57344}, {kInf, kInf}, {0x1p-16, 0x1p-16}, {kNaN, kNaN}}},
    {"cast f8e4m3->bf16", [](T a, T, T) { return a.to(tl::bf16); }, {f8e4m3}, bf16, {{448, 448}, {0x1p-9, 0x1p-9}, {-3.5, -3.5}}},
    {"cast f8e4m3->f8e5m2", [](T a, T, T) { return a.to(tl::f8e5m2); }, {f8e4m3}, f8e5m2, {{448, 448}, {0x1p-9, 0x1p-9}, {3 * 0x1p-9, 3 * 0x1p-9}, {kNaN, kNaN}, {1.125, 1}, {-0.0, -0.0}}},
    {"cast f8e5m2->f8e4m3", [](T a, T, T) { return a.to(tl::f8e4m3); }, {f8e5m2}, f8e4m3, {{57344, kNaN}, {kInf, kNaN}, {0.75, 0.75}, {0x1p-16, 0}}},
    {"cast f8e4m3->i32", [](T a, T, T) { return a.to(tl::i32); }, {f8e4m3}, i32, {{-448, -448}, {kNaN, 0}, {2.5, 2}}},
    {"cast f8e5m2->u8", [](T a, T, T) { return a.to(tl::u8); }, {f8e5m2}, u8, {{kInf, 255}, {-2, 0}, {96, 96}}},
    {"cast f8e4m3->i1", [](T a, T, T) { return a.to(tl::i1); }, {f8e4m3}, i1, {{-0.0, 0}, {kNaN, 1}, {0x1p-9, 1}}},
    {"cast i32->f8e4m3", [](T a, T, T) { return a.to(tl::f8e4m3); }, {i32}, f8e4m3, {{17, 16}, {19, 20}, {1000, kNaN}, {kI32Min, kNaN}, {-7, -7}}},
    {"cast u8->f8e5m2", [](T a, T, T) { return a.to(tl::f8e5m2); }, {u8}, f8e5m2, {{255, 256}, {9, 8}, {10, 10}}},
    {"cast f16->f8e4m3", [](T a, T, T) { return a.to(tl::f8e4m3); }, {f16}, f8e4m3, {{65504, kNaN}, {0x1p-24, 0}, {1.0625, 1}, {kInf, kNaN}}},
    {"cast f64->f8e5m2", [](T a, T, T) { return a.to(tl::f8e5m2); }, {f64}, f8e5m2, {{1.125 + 0x1p-40, 1.25}, {1.125, 1}, {1e300, kInf}}},
    {"where f8e4m3", [](T a, T b, T c) { return tl::where(a, b, c); }, {i1, f8e4m3, f8e4m3}, f8e4m3, {{1, -0.0, 1, -0.0}, {0, 1, kNaN, kNaN}}},
    // ---- element math (dsl/element_math.cpp): exact on every backend ----
    // bitcast reads the bits as the other type (f32 1 = 0x3f800000, -0 = 0x80000000; f16 1 =
    // 0x3c00, inf = 0x7c00; bf16 1 = 0x3f80; f64 1 = 0x3ff0000000000000).
    {"bitcast f32->i32", [](T a, T, T) { return tl::bitcast(a, DType::i32); }, {f32}, i32, {{1, 1065353216}, {-0.0, kI32Min}, {kInf, 2139095040}, {0x1p-149, 1}}},
    {"bitcast i32->f32", [](T a, T, T) { return tl::bitcast(a, DType::f32); }, {i32}, f32, {{1065353216, 1}, {kI32Min, -0.0}, {2139095040, kInf}, {1, 0x1p-149}, {-1, kNaN}}},
    {"bitcast f16->i16", [](T a, T, T) { return tl::bitcast(a, DType::i16); }, {f16}, i16, {{1, 15360}, {-0.0, -32768}, {kInf, 31744}, {0x1p-24, 1}}},
    {"bitcast i16->f16", [](T a, T, T) { return tl::bitcast(a, DType::f16); }, {i16}, f16, {{15360, 1}, {-32768, -0.0}, {31744, kInf}, {1, 0x1p-24}, {-1, kNaN}}},
    {"bitcast bf16->u16", [](T a, T, T) { return tl::bitcast(a, DType::u16); }, {bf16}, u16, {{1, 16256}, {-2, 49152}}},
    {"bitcast f16->bf16", [](T a, T, T) { return tl::bitcast(a, DType::bf16); }, {f16}, bf16, {{1, 0.0078125}, {2, 2}}},
    {"bitcast f64->i64", [](T a, T, T) { return tl::bitcast(a, DType::i64); }, {f64}, i64, {{1, 4607182418800017408.0}, {-0.0, kI64Min}}},
    {"bitcast u32->i32", [](T a, T, T) { return tl::bitcast(a, DType::i32); }, {u32}, i32, {{4294967295.0, -1}, {5, 5}}},
    // popc / clz count bits of the two's complement pattern; clz(0) is the width.
    {"popc i32", [](T a, T, T) { return tl::popc(a); }, {i32}, i32, {{-1, 32}, {0, 0}, {255, 8}, {kI32Min, 1}}},
    {"popc i8", [](T a, T, T) { return tl::popc(a); }, {i8}, i8, {{-1, 8}, {-128, 1}, {0, 0}}},
    {"popc i64", [](T a, T, T) { return tl::popc(a); }, {i64}, i64, {{-1, 64}, {kI64Min, 1}, {4294967295.0, 32}}},
    {"clz i32", [](T a, T, T) { return tl::clz(a); }, {i32}, i32, {{0, 32}, {1, 31}, {-1, 0}, {65536, 15}}},
    {"clz i8", [](T a, T, T) { return tl::clz(a); }, {i8}, i8, {{0, 8}, {1, 7}, {-128, 0}, {15, 4}}},
    {"clz u16", [](T a, T, T) { return tl::clz(a); }, {u16}, u16, {{0, 16}, {255, 8}, {65535, 0}}},
    {"clz i64", [](T a, T, T) { return tl::clz(a); }, {i64}, i64, {{0, 64}, {1, 63}, {4294967296.0, 31}}},
    // isnan / isinf / signbit (the sign bit of -0 too).
    {"isnan f32", [](T a, T, T) { return tl::isnan(a); }, {f32}, i1, {{kNaN, 1}, {kInf, 0}, {0, 0}}},
    {"isnan f16", [](T a, T, T) { return tl::isnan(a); }, {f16}, i1, {{kNaN, 1}, {65504, 0}}},
    {"isinf f32", [](T a, T, T) { return tl::isinf(a); }, {f32}, i1, {{kInf, 1}, {-kInf, 1}, {kNaN, 0}, {3.4e38, 0}}},
    {"isinf bf16", [](T a, T, T) { return tl::isinf(a); }, {bf16}, i1, {{-kInf, 1}, {1, 0}}},
    {"signbit f32", [](T a, T, T) { return tl::signbit(a); }, {f32}, i1, {{-0.0, 1}, {0.0, 0}, {-kInf, 1}, {2, 0}}},
    {"signbit f16", [](T a, T, T) { return tl::signbit(a); }, {f16}, i1, {{-0.0, 1}, {0.0, 0}, {-1, 1}}},
    {"signbit f64", [](T a, T, T) { return tl::signbit(a); }, {f64}, i1, {{-0.0, 1}, {1e-300, 0}}},
    // propagate_nan: none gives the other operand (clamp: lo) for a NaN, all gives NaN.
    {"minimum f32 propagate_nan=all", [](T a, T b, T) { return tl::minimum(a, b, tl::PropagateNan::all); }, {f32, f32}, f32, {{kNaN, 1, kNaN}, {1, kNaN, kNaN}, {1, 2, 1}, {-0.0, 0.0, -0.0}}},
    {"maximum f16 propagate_nan=all", [](T a, T b, T) { return tl::maximum(a, b, tl::PropagateNan::all); }, {f16, f16}, f16, {{kNaN, 1, kNaN}, {1, 2, 2}}},
    {"clamp f32", [](T a, T b, T c) { return tl::clamp(a, b, c); }, {f32, f32, f32}, f32, {{5, 0, 1, 1}, {-5, 0, 1, 0}, {0.5, 0, 1, 0.5}, {kNaN, 0, 1, 0}, {-0.0, 0, 1, 0.0}}},
    {"clamp f32 propagate_nan=all", [](T a, T b, T c) { return tl::clamp(a, b, c, tl::PropagateNan::all); }, {f32, f32, f32}, f32, {{kNaN, 0, 1, kNaN}, {5, 0, 1, 1}, {-5, 0, 1, 0}}},
    {"clamp i32", [](T a, T b, T c) { return tl::clamp(a, b, c); }, {i32, i32, i32}, i32, {{5, 0, 3, 3}, {-5, 0, 3, 0}, {2, 0, 3, 2}}},
    // ---- math functions (dsl/math_functions.cpp; docs/semantics.md "Accuracy of the math functions") ----
    // Exactly rounded on both backends: div_rn, sqrt_rn, copysign, trunc, round (halves away from
    // zero), rint (halves to even).
    {"div_rn f32", [](T a, T b, T) { return tl::div_rn(a, b); }, {f32, f32}, f32,
     {{1, 3, 1.0f / 3.0f}, {2, 7, 2.0f / 7.0f}, {1, 0, kInf}, {-1, 0, -kInf}, {0, 0, kNaN}, {1, -0.0, -kInf}, {kInf, kInf, kNaN}, {1e-38, 1e10, 1e-38f / 1e10f}, {3.4e38, 0.5, kInf}}},
    {"div_rn f16", [](T a, T b, T) { return tl::div_rn(a, b); }, {f16, f16}, f16, {{1, 3, double(tessel::half_to_float(tessel::float_to_half(1.0f / 3.0f)))}, {65504, 0.5, kInf}, {-1, 0, -kInf}}},
    {"div_rn bf16", [](T a, T b, T) { return tl::div_rn(a, b); }, {bf16, bf16}, bf16, {{1, 3, double(tessel::bfloat16_to_float(tessel::float_to_bfloat16(1.0f / 3.0f)))}}},
    {"div_rn f64", [](T a, T b, T) { return tl::div_rn(a, b); }, {f64, f64}, f64, {{1, 3, 1.0 / 3.0}, {1, 0, kInf}, {1e-300, 1e10, 1e-310}}},
    {"sqrt_rn f32", [](T a, T, T) { return tl::sqrt_rn(a); }, {f32}, f32, {{2, std::sqrt(2.0f)}, {-1, kNaN}, {-0.0, -0.0}, {kInf, kInf}, {1e-45, std::sqrt(1e-45f)}, {3, std::sqrt(3.0f)}}},
    {"sqrt_rn f16", [](T a, T, T) { return tl::sqrt_rn(a); }, {f16}, f16, {{2, double(tessel::half_to_float(tessel::float_to_half(std::sqrt(2.0f))))}, {-0.0, -0.0}}},
    {"sqrt_rn f64", [](T a, T, T) { return tl::sqrt_rn(a); }, {f64}, f64, {{2, std::sqrt(2.0)}, {1e-310, std::sqrt(1e-310)}}},
    {"copysign f32", [](T a, T b, T) { return tl::copysign(a, b); }, {f32, f32}, f32, {{1, -0.0, -1}, {-2, 3, 2}, {kInf, -1, -kInf}, {0.0, -1, -0.0}, {kNaN, 1, kNaN}, {-0.0, 0.0, 0.0}}},
    {"copysign f16", [](T a, T b, T) { return tl::copysign(a, b); }, {f16, f16}, f16, {{1, -2, -1}, {-0.0, 1, 0.0}}},
    {"trunc f32", [](T a, T, T) { return tl::trunc(a); }, {f32}, f32, {{2.75, 2}, {-2.75, -2}, {-0.5, -0.0}, {kInf, kInf}, {kNaN, kNaN}, {1e30, 1e30}, {8388607.5, 8388607}}},
    {"trunc bf16", [](T a, T, T) { return tl::trunc(a); }, {bf16}, bf16, {{-2.75, -2}, {0.5, 0.0}}},
    {"round f32", [](T a, T, T) { return tl::round(a); }, {f32}, f32,
     {{0.5, 1}, {-0.5, -1}, {1.5, 2}, {2.5, 3}, {-2.5, -3}, {double(0.49999997f), 0.0}, {double(-0.49999997f), -0.0}, {8388607.5, 8388608}, {8388609, 8388609}, {kNaN, kNaN}, {-0.0, -0.0}, {-kInf, -kInf}}},
    {"round f64", [](T a, T, T) { return tl::round(a); }, {f64}, f64, {{2.5, 3}, {-0.5, -1}, {0.49999999999999994, 0.0}, {4503599627370495.5, 4503599627370496.0}}},
    {"rint f32", [](T a, T, T) { return tl::rint(a); }, {f32}, f32, {{0.5, 0.0}, {1.5, 2}, {2.5, 2}, {-2.5, -2}, {-0.5, -0.0}, {kInf, kInf}, {8388607.5, 8388608}}},
    {"rint f16", [](T a, T, T) { return tl::rint(a); }, {f16}, f16, {{2.5, 2}, {3.5, 4}, {-0.25, -0.0}}},
    // fdiv is approximate (GPU: div.full.f32, within 2 ulp); the CPU divides exactly.
    {"fdiv f32", [](T a, T b, T) { return tl::fdiv(a, b); }, {f32, f32}, f32, {{1, 3, 1.0 / 3}, {2, 7, 2.0 / 7}, {10, 4, 2.5}, {1, 0, kInf}, {0, 0, kNaN}, {kInf, kInf, kNaN}, {-6, 3, -2}}, 2},
    {"fdiv f64", [](T a, T b, T) { return tl::fdiv(a, b); }, {f64, f64}, f64, {{1, 3, 1.0 / 3}, {1, 0, kInf}}},
    // pow: every special case of C99 Annex F (F.9.4.4), exactly.
    {"pow f32 special values", [](T a, T b, T) { return tl::pow(a, b); }, {f32, f32}, f32,
     {{-0.0, -3, -kInf}, {0.0, -3, kInf}, {-0.0, -kInf, kInf}, {0.0, -kInf, kInf}, {-0.0, -2, kInf}, {0.0, -0.5, kInf},
      {-0.0, 3, -0.0}, {0.0, 3, 0.0}, {-0.0, 2, 0.0}, {-0.0, 0.5, 0.0}, {-1, kInf, 1}, {-1, -kInf, 1},
      {1, kNaN, 1}, {1, 5, 1}, {1, -kInf, 1}, {kNaN, 0.0, 1}, {2, -0.0, 1}, {kInf, 0.0, 1}, {-2, 0.5, kNaN}, {-3, -1.5, kNaN},
      {0.5, -kInf, kInf}, {-0.5, -kInf, kInf}, {2, -kInf, 0.0}, {-2, -kInf, 0.0}, {0.5, kInf, 0.0}, {-0.5, kInf, 0.0}, {2, kInf, kInf}, {-2, kInf, kInf},
      {-kInf, -3, -0.0}, {-kInf, -2, 0.0}, {-kInf, -0.5, 0.0}, {-kInf, 3, -kInf}, {-kInf, 2, kInf}, {-kInf, 0.5, kInf},
      {kInf, -1, 0.0}, {kInf, -kInf, 0.0}, {kInf, 0.5, kInf}, {kNaN, 1, kNaN}, {2, kNaN, kNaN}}},
    {"pow f32", [](T a, T b, T) { return tl::pow(a, b); }, {f32, f32}, f32,
     {{2, 0.5, std::sqrt(2.0)}, {10, -2, F(std::pow(F(10), -2))}, {1.5, 30.5, std::pow(1.5, 30.5)}, {-2, 3, -8}, {2, 10, 1024}, {2, 128, kInf}, {2, -150, 0.0}, {F(0.3), F(7.7), std::pow(F(0.3), F(7.7))}}, 4},
    {"pow f16", [](T a, T b, T) { return tl::pow(a, b); }, {f16, f16}, f16, {{2, 0.5, std::sqrt(2.0)}, {-2, 3, -8}, {256, 2, kInf}, {-0.0, -1, -kInf}}, 1},
    {"pow f64", [](T a, T b, T) { return tl::pow(a, b); }, {f64, f64}, f64, {{2, 0.5, std::sqrt(2.0)}, {-0.0, -3, -kInf}, {-1, kInf, 1}, {1.0000001, 1e9, std::pow(1.0000001, 1e9)}}, 2},
    // log1p / expm1: the domain edges and the signs of zero exactly, values within their bounds.
    {"log1p f32 special values", [](T a, T, T) { return tl::log1p(a); }, {f32}, f32, {{-1, -kInf}, {-2, kNaN}, {kInf, kInf}, {-0.0, -0.0}, {0.0, 0.0}, {kNaN, kNaN}, {-kInf, kNaN}, {1e-30, F(1e-30)}}},
    {"log1p f32", [](T a, T, T) { return tl::log1p(a); }, {f32}, f32, {{1, std::log1p(1.0)}, {-0.5, std::log1p(-0.5)}, {F(1e-5), std::log1p(F(1e-5))}, {100, std::log1p(100.0)}, {F(-0.999), std::log1p(F(-0.999))}}, 2},
    {"log1p f64", [](T a, T, T) { return tl::log1p(a); }, {f64}, f64, {{-1, -kInf}, {1e-10, std::log1p(1e-10)}, {-0.5, std::log1p(-0.5)}}, 1},
    {"expm1 f32 special values", [](T a, T, T) { return tl::expm1(a); }, {f32}, f32, {{-kInf, -1}, {kInf, kInf}, {-0.0, -0.0}, {0.0, 0.0}, {100, kInf}, {-100, -1}, {kNaN, kNaN}}},
    {"expm1 f32", [](T a, T, T) { return tl::expm1(a); }, {f32}, f32, {{1, std::expm1(1.0)}, {F(1e-5), std::expm1(F(1e-5))}, {F(-0.3), std::expm1(F(-0.3))}, {80, std::expm1(80.0)}}, 2},
    {"expm1 bf16", [](T a, T, T) { return tl::expm1(a); }, {bf16}, bf16, {{1, std::expm1(1.0)}, {-0.0, -0.0}}, 1},
    // Hyperbolic functions: overflow to +-inf, the sign of zero, odd/even symmetry.
    {"sinh f32 special values", [](T a, T, T) { return tl::sinh(a); }, {f32}, f32, {{kInf, kInf}, {-kInf, -kInf}, {-0.0, -0.0}, {0.0, 0.0}, {100, kInf}, {-100, -kInf}, {kNaN, kNaN}}},
    {"sinh f32", [](T a, T, T) { return tl::sinh(a); }, {f32}, f32, {{1, std::sinh(1.0)}, {-0.5, std::sinh(-0.5)}, {10, std::sinh(10.0)}, {F(1e-3), std::sinh(F(1e-3))}, {89, std::sinh(89.0)}}, 3},
    {"cosh f32 special values", [](T a, T, T) { return tl::cosh(a); }, {f32}, f32, {{kInf, kInf}, {-kInf, kInf}, {0.0, 1}, {-0.0, 1}, {100, kInf}, {kNaN, kNaN}}},
    {"cosh f32", [](T a, T, T) { return tl::cosh(a); }, {f32}, f32, {{1, std::cosh(1.0)}, {-3, std::cosh(-3.0)}, {20, std::cosh(20.0)}}, 3},
    {"sinh f64", [](T a, T, T) { return tl::sinh(a); }, {f64}, f64, {{1, std::sinh(1.0)}, {-1e-8, std::sinh(-1e-8)}, {1000, kInf}}, 2},
    // Trigonometric functions, with arguments large enough for the GPU's Payne-Hanek reduction
    // (libdevice's uses mad.lo.cc / madc.hi, which the simulator runs).
    {"tan f32 special values", [](T a, T, T) { return tl::tan(a); }, {f32}, f32, {{-0.0, -0.0}, {0.0, 0.0}, {kInf, kNaN}, {-kInf, kNaN}, {kNaN, kNaN}}},
    {"tan f32", [](T a, T, T) { return tl::tan(a); }, {f32}, f32, {{1, std::tan(1.0)}, {-1.5, std::tan(-1.5)}, {100, std::tan(100.0)}, {1e5, std::tan(1e5)}, {F(1e20), std::tan(F(1e20))}, {F(3.4e38), std::tan(F(3.4e38))}}, 4},
    {"tan f16", [](T a, T, T) { return tl::tan(a); }, {f16}, f16, {{1, std::tan(1.0)}, {-0.0, -0.0}, {1000, std::tan(1000.0)}}, 1},
    {"tan f64", [](T a, T, T) { return tl::tan(a); }, {f64}, f64, {{1, std::tan(1.0)}, {1e22, std::tan(1e22)}, {-0.0, -0.0}}, 2},
    {"sin f32", [](T a, T, T) { return tl::sin(a); }, {f32}, f32, {{1, std::sin(1.0)}, {1e5, std::sin(1e5)}, {F(1e20), std::sin(F(1e20))}, {-0.0, -0.0}, {kInf, kNaN}}, 2},
    {"cos f32", [](T a, T, T) { return tl::cos(a); }, {f32}, f32, {{1, std::cos(1.0)}, {1e5, std::cos(1e5)}, {F(1e20), std::cos(F(1e20))}, {0.0, 1}, {-kInf, kNaN}}, 2},
    {"atan f32 special values", [](T a, T, T) { return tl::atan(a); }, {f32}, f32, {{-0.0, -0.0}, {0.0, 0.0}, {kNaN, kNaN}}},
    {"atan f32", [](T a, T, T) { return tl::atan(a); }, {f32}, f32, {{1, std::atan(1.0)}, {F(-0.3), std::atan(F(-0.3))}, {1e10, std::atan(1e10)}, {kInf, M_PI_2}, {-kInf, -M_PI_2}}, 2},
    {"asin f32 special values", [](T a, T, T) { return tl::asin(a); }, {f32}, f32, {{1 + 0x1p-23, kNaN}, {-1 - 0x1p-23, kNaN}, {-0.0, -0.0}, {0.0, 0.0}, {kInf, kNaN}, {kNaN, kNaN}}},
    {"asin f32", [](T a, T, T) { return tl::asin(a); }, {f32}, f32, {{0.5, std::asin(0.5)}, {F(-0.9), std::asin(F(-0.9))}, {1, M_PI_2}, {-1, -M_PI_2}, {F(1e-3), std::asin(F(1e-3))}}, 2},
    {"acos f32 special values", [](T a, T, T) { return tl::acos(a); }, {f32}, f32, {{1, 0.0}, {1 + 0x1p-23, kNaN}, {-1 - 0x1p-23, kNaN}, {-kInf, kNaN}, {kNaN, kNaN}}},
    {"acos f32", [](T a, T, T) { return tl::acos(a); }, {f32}, f32, {{-1, M_PI}, {0.0, M_PI_2}, {0.5, std::acos(0.5)}, {F(-0.7), std::acos(F(-0.7))}, {F(0.9999), std::acos(F(0.9999))}}, 2},
    {"asin f64", [](T a, T, T) { return tl::asin(a); }, {f64}, f64, {{0.5, std::asin(0.5)}, {1 + 0x1p-52, kNaN}, {-0.0, -0.0}}, 2},
    // atan2(y, x): the zeros and infinities of C99 Annex F (F.9.1.4), pi-valued cases within bounds.
    {"atan2 f32 special values", [](T a, T b, T) { return tl::atan2(a, b); }, {f32, f32}, f32,
     {{0.0, 0.0, 0.0}, {-0.0, 0.0, -0.0}, {0.0, 1, 0.0}, {-0.0, 5, -0.0}, {1, kInf, 0.0}, {-1, kInf, -0.0}, {kNaN, 1, kNaN}, {1, kNaN, kNaN}}},
    {"atan2 f32", [](T a, T b, T) { return tl::atan2(a, b); }, {f32, f32}, f32,
     {{1, 1, M_PI_4}, {1, -1, 3 * M_PI_4}, {-1, -1, -3 * M_PI_4}, {0.0, -0.0, M_PI}, {-0.0, -1, -M_PI}, {kInf, kInf, M_PI_4}, {kInf, -kInf, 3 * M_PI_4}, {3, 0.0, M_PI_2}, {-2, 0.5, std::atan2(-2.0, 0.5)}, {1, -kInf, M_PI}}, 3},
    {"atan2 bf16", [](T a, T b, T) { return tl::atan2(a, b); }, {bf16, bf16}, bf16, {{1, 1, M_PI_4}, {-0.0, 1, -0.0}}, 1},
    {"hypot f32 special values", [](T a, T b, T) { return tl::hypot(a, b); }, {f32, f32}, f32, {{kInf, kNaN, kInf}, {kNaN, -kInf, kInf}, {0.0, -0.0, 0.0}, {kNaN, 1, kNaN}, {-kInf, 1, kInf}}},
    {"hypot f32", [](T a, T b, T) { return tl::hypot(a, b); }, {f32, f32}, f32, {{3, 4, 5}, {1e30, 1e30, std::hypot(F(1e30), F(1e30))}, {1e-30, 1e-30, std::hypot(F(1e-30), F(1e-30))}, {-5, 12, 13}, {3e38, 3e38, kInf}}, 3},
    // erfinv: +-1 give +-inf, beyond them NaN.
    {"erfinv f32 special values", [](T a, T, T) { return tl::erfinv(a); }, {f32}, f32, {{1, kInf}, {-1, -kInf}, {0.0, 0.0}, {-0.0, -0.0}, {1 + 0x1p-23, kNaN}, {-2, kNaN}, {kNaN, kNaN}, {kInf, kNaN}}},
    {"erfinv f32", [](T a, T, T) { return tl::erfinv(a); }, {f32}, f32, {{0.5, 0.4769362762044699}, {-0.9, -1.1630870719457722}, {0.999, 2.3267563267961546}, {1e-3, 0.0008862271995601053}, {0.99999, 3.123205771165071}}, 3},
    {"erfinv f64", [](T a, T, T) { return tl::erfinv(a); }, {f64}, f64, {{0.5, 0.47693627620446987338}, {-0.999999, -3.4589107372754987775}, {1e-300, 8.8622692545275803586e-301}, {0.9999999999, 4.5728249585449249378}, {1, kInf}}, 4},
    {"erfinv f16", [](T a, T, T) { return tl::erfinv(a); }, {f16}, f16, {{0.5, 0.4769362762044699}, {-1, -kInf}}, 1},
    {"cbrt f32 special values", [](T a, T, T) { return tl::cbrt(a); }, {f32}, f32, {{-0.0, -0.0}, {0.0, 0.0}, {kInf, kInf}, {-kInf, -kInf}, {kNaN, kNaN}}},
    {"cbrt f32", [](T a, T, T) { return tl::cbrt(a); }, {f32}, f32, {{-8, -2}, {27, 3}, {2, std::cbrt(2.0)}, {1e-30, std::cbrt(F(1e-30))}, {1e-45, std::cbrt(F(1e-45))}}, 1},
    {"log10 f32 special values", [](T a, T, T) { return tl::log10(a); }, {f32}, f32, {{0.0, -kInf}, {-0.0, -kInf}, {-1, kNaN}, {kInf, kInf}, {1, 0.0}}},
    {"log10 f32", [](T a, T, T) { return tl::log10(a); }, {f32}, f32, {{1000, 3}, {2, std::log10(2.0)}, {1e-30, std::log10(F(1e-30))}, {1e-45, std::log10(F(1e-45))}}, 2},
    {"exp10 f32 special values", [](T a, T, T) { return tl::exp10(a); }, {f32}, f32, {{-kInf, 0.0}, {kInf, kInf}, {0.0, 1}, {100, kInf}, {-100, 0.0}}},
    // cdiv is (x + d - 1) / d (Triton's), the ceiling for x >= 0, d > 0.
    {"cdiv i32", [](T a, T b, T) { return tl::cdiv(a, b); }, {i32, i32}, i32, {{7, 2, 4}, {8, 2, 4}, {0, 5, 0}, {1, 1, 1}, {1000, 256, 4}}},
    {"cdiv i64 by a number", [](T a, T, T) { return tl::cdiv(a, 3); }, {i64}, i64, {{9, 3}, {10, 4}, {4294967296.0, 1431655766}}},
    {"exp10 f32", [](T a, T, T) { return tl::exp10(a); }, {f32}, f32, {{2, 100}, {-1, F(0.1)}, {0.5, std::sqrt(10.0)}, {38, 1e38}, {-44, 1e-44}}, 2},
  };
  return rows;
}
// clang-format on

TEST(ScalarSemantics, EveryRuleIsTheSameOnTheCpuAndInTheSimulator) {
  REQUIRE_SIM_DEVICE();
  int index = 0;
  for (const Row& row : table()) {
    SCOPED_TRACE(row.what);
    const tessel::Kernel k = row_kernel(row, index++);
    const Inputs in = inputs_of(row);
    std::vector<uint64_t> cpu = unpack(row.out, run_on_cpu(k, row, in));
    std::vector<uint64_t> sim = unpack(row.out, run_on_sim(k, row, in));
    for (size_t i = 0; i < row.cases.size(); ++i) {
      // Within `ulps` of the value each, so within twice that of each other.
      EXPECT_TRUE(same(row.out, cpu[i], sim[i], 2 * row.ulps)) << describe(row, i, cpu[i], sim[i]);
      const double want = row.cases[i].back();
      if (want == U)
        continue;
      EXPECT_TRUE(same(row.out, cpu[i], encode(row.out, want), row.ulps))
          << describe(row, i, cpu[i], sim[i]) << ", expected " << want << " (cpu)";
      EXPECT_TRUE(same(row.out, sim[i], encode(row.out, want), row.ulps))
          << describe(row, i, cpu[i], sim[i]) << ", expected " << want << " (sim)";
    }
  }
}

// The fp8 rows again with the simulated device compiling for sm_89, where the GPU code converts
// with the hardware's cvt (e4m3x2 / e5m2x2) instead of the integer emulation: the same bits.
TEST(ScalarSemantics, Fp8RulesHoldWithTheNativeCvtOfSm89) {
  REQUIRE_SIM_DEVICE();
  struct SimTargetSm89 { // also when a check throws
    SimTargetSm89() { setenv("TESSEL_SIM_TARGET", "sm_89", /*overwrite=*/1); }
    ~SimTargetSm89() { unsetenv("TESSEL_SIM_TARGET"); }
  } sm89;
  int index = 0, fp8_rows = 0;
  for (const Row& row : table()) {
    const int at = index++;
    if (std::string(row.what).find("f8") == std::string::npos)
      continue;
    ++fp8_rows;
    SCOPED_TRACE(row.what);
    const tessel::Kernel k = row_kernel(row, at);
    const Inputs in = inputs_of(row);
    std::vector<uint64_t> cpu = unpack(row.out, run_on_cpu(k, row, in));
    std::vector<uint64_t> sim = unpack(row.out, run_on_sim(k, row, in));
    for (size_t i = 0; i < row.cases.size(); ++i)
      EXPECT_TRUE(same(row.out, cpu[i], sim[i], 0)) << describe(row, i, cpu[i], sim[i]);
  }
  EXPECT_GE(fp8_rows, 10);
}

} // namespace

namespace {

// One kernel, launched with fp_fusion on, off and on again: each setting is a specialization of
// its own (two compiles, the third launch a memory hit), and each gives its rounding.
TEST(FpFusion, IsASpecializationOfItsOwn) {
  Row row{"a*b+c f32",
          [](T a, T b, T c) { return a * b + c; },
          {DType::f32, DType::f32, DType::f32},
          DType::f32,
          {{1 + 0x1p-23, 1 - 0x1p-23, -1, 0}}};
  const tessel::Kernel k = row_kernel(row, 1000);
  const Inputs in = inputs_of(row);
  auto result = [&](bool fusion) {
    row.fp_fusion = fusion;
    return std::bit_cast<float>(uint32_t(unpack(row.out, run_on_cpu(k, row, in))[0]));
  };
  EXPECT_EQ(result(true), -0x1p-46f);
  EXPECT_EQ(result(false), 0.0f);
  EXPECT_EQ(result(true), -0x1p-46f);
  EXPECT_EQ(k.stats().compiles, 2);
  EXPECT_EQ(k.stats().last_source, tessel::KernelSource::memory);
}

} // namespace
