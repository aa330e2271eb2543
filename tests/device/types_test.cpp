// The element-type rules of docs/semantics.md that are not one op on one type (those are rows of
// scalar_semantics_test.cpp): unsigned tiles end to end, int4 packing, the promotion of mixed
// types and of C++ literals, a masked load's `other` cast to the element type, `for_range` with a
// step <= 0, and i64 offsets past 2^31 — each on the CPU backend and in the simulator against a
// plain reference, outputs poisoned; then one test per new diagnostic.
#include "support/expect_error.h"
#include "support/require_sim_device.h"
#include "tessel/runtime/device_buffer.h"
#include "tessel/tessel.h"

#include <gtest/gtest.h>

#include <cstring>
#include <random>
#include <vector>

namespace {

namespace rt = tessel::runtime;
namespace tl = tessel::lang;
using tessel::DType;
using tessel::testing::expect_error;

std::string here(int line) { return std::string(__FILE__) + ":" + std::to_string(line); }
int g_line = 0;

// A host buffer of `n` elements of `t`, and the same bytes on the simulated device.
struct Buffer {
  DType dtype;
  std::vector<uint8_t> host;
  Buffer(DType t, size_t n, uint8_t poison) : dtype(t), host(n * tessel::dtype_bytes(t), poison) {}
  template <class T> static Buffer of(DType t, const std::vector<T>& v) {
    Buffer b(t, v.size(), 0);
    std::memcpy(b.host.data(), v.data(), b.host.size());
    return b;
  }
  int64_t size() const { return int64_t(host.size() / tessel::dtype_bytes(dtype)); }
  tessel::TensorView view() { return tessel::TensorView(host.data(), dtype, {size()}); }
  template <class T> T at(size_t i) const {
    T v;
    std::memcpy(&v, host.data() + i * sizeof(T), sizeof(T));
    return v;
  }
};

// Runs `k` with (out, ins..., extra scalars) on the CPU (sim=false) or the simulator; returns out.
template <class... S>
Buffer launch(const tessel::Kernel& k, bool sim, Buffer out, std::vector<Buffer> ins, int grid,
              S... scalars) {
  if (!sim) {
    tessel::LaunchOptions cpu;
    cpu.device = tessel::DeviceKind::cpu;
    if (ins.size() == 1)
      k.launch({grid}, cpu, out.view(), ins[0].view(), scalars...);
    else
      k.launch({grid}, cpu, out.view(), ins[0].view(), ins[1].view(), scalars...);
    return out;
  }
  auto upload = [](const Buffer& b) {
    auto d = rt::DeviceBuffer::allocate_on(tessel::DeviceKind::sim, b.host.size());
    d.copy_from_host(b.host.data(), b.host.size());
    return d;
  };
  auto dout = upload(out);
  std::vector<rt::DeviceBuffer> dins;
  for (const Buffer& b : ins)
    dins.push_back(upload(b));
  auto v = [](rt::DeviceBuffer& d, const Buffer& b) { return d.view(b.dtype, {b.size()}); };
  if (ins.size() == 1)
    k.launch({grid}, {}, v(dout, out), v(dins[0], ins[0]), scalars...);
  else
    k.launch({grid}, {}, v(dout, out), v(dins[0], ins[0]), v(dins[1], ins[1]), scalars...);
  dout.copy_to_host(out.host.data(), out.host.size());
  return out;
}

std::vector<bool> devices() {
  std::vector<bool> d{false};
  if (rt::sim_available())
    d.push_back(true);
  return d;
}

// ---- unsigned tiles
// ------------------------------------------------------------------------------

// u32: (a / b) ^ (a >> 3), a % b, max(a, b), a < b — the unsigned meaning of each.
TEST(ElementTypes, UnsignedTilesEndToEnd) {
  const tessel::Kernel k = tl::kernel("u32_mix", [](tl::Ptr out, tl::Ptr a, tl::Ptr b, tl::Int n) {
    auto i = tl::arange(0, 64);
    auto m = i < n;
    auto x = tl::load(a + i, m), y = tl::load(b + i, m);
    auto r = ((x / y) ^ (x >> 3)) + (x % y) + tl::maximum(x, y) + (x < y).to(tl::u32);
    tl::store(out + i, r, m);
  });
  std::mt19937 rng(14);
  std::vector<uint32_t> a(50), b(50);
  for (size_t i = 0; i < a.size(); ++i) {
    a[i] = rng();
    b[i] = i % 7 == 0 ? 0 : rng() >> (i % 32);
  }
  for (bool sim : devices()) {
    if (sim && !std::filesystem::exists(tessel::codegen::gpu::nvjitlink_path()))
      continue;
    Buffer out = launch(k, sim, Buffer(DType::u32, 50, 0xA5),
                        {Buffer::of(DType::u32, a), Buffer::of(DType::u32, b)}, 1, 50);
    for (size_t i = 0; i < a.size(); ++i) {
      const uint32_t x = a[i], y = b[i];
      const uint32_t want =
          ((y ? x / y : x) ^ (x >> 3)) + (y ? x % y : 0) + std::max(x, y) + (x < y ? 1 : 0);
      EXPECT_EQ(out.at<uint32_t>(i), want) << i << (sim ? " sim" : " cpu");
    }
  }
}

// u8 + u32 offsets: unsigned offsets zero-extend (a u32 offset past 2^31 is not negative).
TEST(ElementTypes, UnsignedOffsetsZeroExtend) {
  const tessel::Kernel k = tl::kernel("u8_offsets", [](tl::Ptr out, tl::Ptr idx, tl::Int n) {
    auto i = tl::arange(0, 16);
    auto m = i < n;
    auto j = tl::load(idx + i, m); // u8: 200 must stay 200
    tl::store(out + j, j.to(tl::i32), m);
  });
  std::vector<uint8_t> idx = {200, 255, 130, 1, 0, 129, 128, 7};
  for (bool sim : devices()) {
    if (sim && !std::filesystem::exists(tessel::codegen::gpu::nvjitlink_path()))
      continue;
    Buffer out = launch(k, sim, Buffer(DType::i32, 256, 0xFF), {Buffer::of(DType::u8, idx)}, 1,
                        int(idx.size()));
    for (uint8_t j : idx)
      EXPECT_EQ(out.at<int32_t>(j), j) << int(j) << (sim ? " sim" : " cpu");
    EXPECT_EQ(out.at<int32_t>(2), -1); // untouched
  }
}

// ---- int4
// ----------------------------------------------------------------------------------------

// Unpack signed and unsigned nibbles, recombine them as hi * 16 + lo in i32, and repack swapped.
TEST(ElementTypes, Int4UnpackAndPack) {
  const tessel::Kernel k = tl::kernel("int4", [](tl::Ptr out, tl::Ptr packed, tl::Int n) {
    auto i = tl::arange(0, 256);
    auto m = i < n;
    auto x = tl::load(packed + i, m);
    auto [lo, hi] = tl::unpack_int4(x);
    auto swapped = tl::pack_int4(hi, lo);
    auto value = hi.to(tl::i32) * 16 + lo.to(tl::i32);
    tl::store(out + i, value * 256 + swapped.to(tl::u8).to(tl::i32), m);
  });
  std::vector<uint8_t> bytes(256);
  for (int c = 0; c < 256; ++c)
    bytes[size_t(c)] = uint8_t(c);
  for (bool sim : devices()) {
    if (sim && !std::filesystem::exists(tessel::codegen::gpu::nvjitlink_path()))
      continue;
    for (DType t : {DType::i8, DType::u8}) {
      Buffer out = launch(k, sim, Buffer(DType::i32, 256, 0xA5), {Buffer::of(t, bytes)}, 1, 256);
      for (int c = 0; c < 256; ++c) {
        int lo = c & 15, hi = c >> 4;
        if (t == DType::i8) { // sign-extended nibbles
          lo = lo >= 8 ? lo - 16 : lo;
          hi = hi >= 8 ? hi - 16 : hi;
        }
        const int swapped = ((c & 15) << 4) | (c >> 4);
        EXPECT_EQ(out.at<int32_t>(size_t(c)), (hi * 16 + lo) * 256 + swapped)
            << c << " " << tessel::dtype_name(t) << (sim ? " sim" : " cpu");
      }
    }
  }
}

// ---- promotion
// -----------------------------------------------------------------------------------

// The element type of a op on two tiles, read from the traced IR.
std::string traced_type(DType a, DType b) {
  tessel::Kernel k = tl::kernel("promote", [](tl::Ptr out, tl::Ptr x, tl::Ptr y) {
    auto i = tl::arange(0, 16);
    tl::store(out + i, tl::where(i < 8, tl::load(x + i), tl::load(y + i)));
  });
  std::vector<uint8_t> buf(256);
  tessel::TensorView out(buf.data(), DType::f64, {16}), x(buf.data(), a, {16}),
      y(buf.data(), b, {16});
  std::string ir = k.ir_for(false, out, x, y);
  size_t at = ir.find("select");
  at = ir.find("tensor<16x", at);
  return ir.substr(at + 10, ir.find('>', at) - at - 10);
}

TEST(ElementTypes, PromotionTable) {
  using enum DType;
  struct Case {
    DType a, b;
    const char* want;
  } cases[] = {
      {i8, u8, "u8"},          {i32, u8, "i32"},           {u32, i64, "i64"},
      {i64, u64, "u64"},       {u16, u32, "u32"},          {i1, u8, "u8"},
      {f16, bf16, "f32"},      {bf16, i64, "bf16"},        {u32, f16, "f16"},
      {f8e4m3, f8e5m2, "f16"}, {f8e4m3, f16, "f16"},       {f8e5m2, bf16, "bf16"},
      {f8e4m3, f32, "f32"},    {f8e4m3, f8e4m3, "f8e4m3"}, {i32, f8e5m2, "f8e5m2"},
  };
  for (const Case& c : cases)
    EXPECT_EQ(traced_type(c.a, c.b), c.want)
        << tessel::dtype_name(c.a) << " with " << tessel::dtype_name(c.b);
}

// A C++ literal next to a tile takes the tile's type unless it is of a higher kind (a non-integer
// next to an integer tile gives f32), as Triton's scalars do; one that does not fit is an error.
TEST(ElementTypes, LiteralsTakeTheTilesType) {
  const tessel::Kernel k = tl::kernel("literals", [](tl::Ptr out, tl::Ptr x) {
    auto i = tl::arange(0, 16);
    auto v = tl::load(x + i);
    tl::store(out + i, (v + 200).to(tl::f32) + (v * 0.5));
  });
  std::vector<uint8_t> x(16), out(64);
  for (int j = 0; j < 16; ++j)
    x[size_t(j)] = uint8_t(50 + j);
  tessel::LaunchOptions cpu;
  cpu.device = tessel::DeviceKind::cpu;
  k.launch({1}, cpu, tessel::TensorView(out.data(), DType::f32, {16}),
           tessel::TensorView(x.data(), DType::u8, {16}));
  for (int j = 0; j < 16; ++j) {
    float got;
    std::memcpy(&got, out.data() + 4 * j, 4);
    EXPECT_EQ(got, float(uint8_t(50 + j + 200)) + (50 + j) * 0.5f) << j; // u8 + 200 wraps
  }
  const std::string ir = k.ir_for(false, tessel::TensorView(out.data(), DType::f32, {16}),
                                  tessel::TensorView(x.data(), DType::u8, {16}));
  EXPECT_NE(ir.find("add %"), std::string::npos);
  EXPECT_NE(ir.find("tensor<16xu8>"), std::string::npos) << ir;
}

// ---- load's other
// --------------------------------------------------------------------------------

// -1.5 for i32 is cast (to -1), 300 for i8 wraps (to 44), 1e10 (an integer: i64) for i32 wraps,
// 3e10 + 0.5 (an f32) saturates — as casts do.
TEST(ElementTypes, LoadOtherIsCastToTheElementType) {
  struct Case {
    DType t;
    double other;
    int32_t want;
  } cases[] = {{DType::i32, -1.5, -1},
               {DType::i8, 300, 44},
               {DType::i32, 1e10, 1410065408},
               {DType::i32, 3e10 + 0.5, INT32_MAX},
               {DType::u8, -1, 255},
               {DType::i16, 2.75, 2},
               {DType::u32, 7, 7}};
  for (bool sim : devices()) {
    if (sim && !std::filesystem::exists(tessel::codegen::gpu::nvjitlink_path()))
      continue;
    int index = 0;
    for (const Case& c : cases) {
      const double other = c.other;
      const tessel::Kernel k = tl::kernel(
          "other_cast_" + std::to_string(index++), [other](tl::Ptr out, tl::Ptr a, tl::Int n) {
            auto i = tl::arange(0, 16);
            tl::store(out + i, tl::load(a + i, i < n, other).to(tl::i32));
          });
      Buffer in(c.t, 16, 3);
      Buffer out = launch(k, sim, Buffer(DType::i32, 16, 0xA5), {in}, 1, 4);
      EXPECT_EQ(out.at<int32_t>(15), c.want)
          << tessel::dtype_name(c.t) << " other " << c.other << (sim ? " sim" : " cpu");
      EXPECT_EQ(out.at<int32_t>(0), c.t == DType::i8 || c.t == DType::u8 ? 3
                                    : c.t == DType::i16                  ? 0x0303
                                                                         : 0x03030303);
    }
  }
}

// ---- for_range with a step <= 0
// ------------------------------------------------------------------

// A compile-time step of 0 or -1 runs no iteration (ir.h), on both backends: the carried sum stays
// at its initial value.
TEST(ElementTypes, ForRangeWithAStepAtMostZeroRunsNoIteration) {
  for (bool sim : devices()) {
    if (sim && !std::filesystem::exists(tessel::codegen::gpu::nvjitlink_path()))
      continue;
    for (int step : {0, -1, 2}) {
      const tessel::Kernel k = tl::kernel(
          "for_step_" + std::to_string(step + 1), [step](tl::Ptr out, tl::Ptr a, tl::Int n) {
            auto acc = tl::zeros({16}, tl::i32) + 7;
            tl::for_range(0, n, step, [&](tl::Int it) { acc = acc + it; });
            tl::store(out + tl::arange(0, 16), acc + tl::load(a + tl::arange(0, 16)) * 0);
          });
      Buffer out = launch(k, sim, Buffer(DType::i32, 16, 0xA5), {Buffer(DType::i32, 16, 0)}, 1, 9);
      const int32_t want = step > 0 ? 7 + 0 + 2 + 4 + 6 + 8 : 7;
      EXPECT_EQ(out.at<int32_t>(3), want) << "step " << step << (sim ? " sim" : " cpu");
    }
  }
}

// ---- i64 offsets past 2^31
// -----------------------------------------------------------------------

// A virtual [2^20, 2^12] tensor with row stride 0 (every row is the same 4096 elements): row
// 2^20 - 1, column c is element (2^20 - 1) * 2^12 + c > 2^31 of the flat index space, computed in
// i64 and then reduced back to the buffer through the stride-0 dim — i32 arithmetic would wrap.
TEST(ElementTypes, I64IndicesPast2To31) {
  const tessel::Kernel k = tl::kernel("big_index", [](tl::Ptr out, tl::Ptr a, tl::Int cols) {
    auto row = tl::scalar((1 << 20) - 1, tl::i64);
    auto c = tl::arange(0, 16).to(tl::i64);
    auto flat = row * tl::scalar(4096, tl::i64) + c;             // > 2^32
    auto col = flat - (flat / tl::scalar(4096, tl::i64)) * 4096; // the column again
    tl::store(out + tl::arange(0, 16), (flat >> 20).to(tl::i32) * 0 + tl::load(a + col), c < cols);
  });
  std::vector<int32_t> a(16);
  for (int j = 0; j < 16; ++j)
    a[size_t(j)] = 100 + j;
  for (bool sim : devices()) {
    if (sim && !std::filesystem::exists(tessel::codegen::gpu::nvjitlink_path()))
      continue;
    Buffer out = launch(k, sim, Buffer(DType::i32, 16, 0xA5), {Buffer::of(DType::i32, a)}, 1, 16);
    for (int j = 0; j < 16; ++j)
      EXPECT_EQ(out.at<int32_t>(size_t(j)), 100 + j) << j << (sim ? " sim" : " cpu");
  }
}

// ---- integer arguments typed by value
// ------------------------------------------------------------

// As Triton: i32 when the value fits, else i64, and u64 above INT64_MAX; the type is part of the
// specialization, and the kernel computes with the full value (n >> 33 would be 0 in i32).
TEST(ElementTypes, IntArgumentsTypedByValue) {
  const tessel::Kernel k = tl::kernel("int_by_value", [](tl::Ptr out, tl::Ptr unused, tl::Int n) {
    auto i = tl::arange(0, 2);
    auto v = tl::where(i == 0, (n >> 33).to(tl::i64), (n & 1023).to(tl::i64));
    tl::store(out + i, v + tl::load(unused + i) * 0);
  });
  struct Case {
    uint64_t value;
    const char* type;
    int64_t hi, lo;
  } cases[] = {{5, "i32", 2, 5}, // i32: the shift amount is 33 mod 32
               {(uint64_t(1) << 40) + 7, "i64", 128, 7},
               {~uint64_t(0), "u64", int64_t(~uint64_t(0) >> 33), 1023}};
  for (const Case& c : cases) {
    Buffer unused(DType::i64, 2, 0);
    const std::string ir = c.value > uint64_t(INT64_MAX)
                               ? k.ir_for(false, unused.view(), unused.view(), c.value)
                               : k.ir_for(false, unused.view(), unused.view(), int64_t(c.value));
    EXPECT_NE(ir.find(std::string("%arg2: ") + c.type), std::string::npos) << ir;
    for (bool sim : devices()) {
      if (sim && !std::filesystem::exists(tessel::codegen::gpu::nvjitlink_path()))
        continue;
      Buffer out = c.value > uint64_t(INT64_MAX)
                       ? launch(k, sim, Buffer(DType::i64, 2, 0xA5), {unused}, 1, c.value)
                       : launch(k, sim, Buffer(DType::i64, 2, 0xA5), {unused}, 1, int64_t(c.value));
      EXPECT_EQ(out.at<int64_t>(0), c.hi) << c.type << (sim ? " sim" : " cpu");
      EXPECT_EQ(out.at<int64_t>(1), c.lo) << c.type << (sim ? " sim" : " cpu");
    }
  }
}

// ---- diagnostics
// ---------------------------------------------------------------------------------

float g_f32[64];

TEST(ElementTypesErrors, ArithmeticOnFp8) {
  auto k = tl::kernel("fp8_add", [](tl::Ptr out, tl::Ptr a) {
    auto i = tl::arange(0, 16);
    auto x = tl::load(a + i);
    g_line = __LINE__ + 1;
    tl::store(out + i, x + x);
  });
  std::vector<uint8_t> buf(16);
  expect_error(
      [&] {
        k.ir_for(false, tessel::TensorView(buf.data(), DType::f8e4m3, {16}),
                 tessel::TensorView(buf.data(), DType::f8e4m3, {16}));
      },
      [] {
        return std::vector<std::string>{here(g_line), "operator+",
                                        "arithmetic on f8e4m3 is not defined", "x.to(tl::f32)"};
      });
}

TEST(ElementTypesErrors, SaturateToANonFp8Type) {
  auto k = tl::kernel("sat_f16", [](tl::Ptr out, tl::Ptr a) {
    auto i = tl::arange(0, 16);
    g_line = __LINE__ + 1;
    tl::store(out + i, tl::cast(tl::load(a + i), tl::f16, {.saturate = true}));
  });
  expect_error([&] { k.ir_for(false, g_f32, g_f32); },
               [] {
                 return std::vector<std::string>{here(g_line), "cast",
                                                 "saturate applies to fp8 destinations", "f16"};
               });
}

TEST(ElementTypesErrors, MixedSignednessDivision) {
  auto k = tl::kernel("mixed_div", [](tl::Ptr out, tl::PtrOf<int32_t> a, tl::PtrOf<uint32_t> b) {
    auto i = tl::arange(0, 16);
    g_line = __LINE__ + 1;
    tl::store(out + i, tl::load(a + i) / tl::load(b + i));
  });
  int32_t x[16];
  uint32_t y[16];
  expect_error([&] { k.ir_for(false, x, x, y); },
               [] {
                 return std::vector<std::string>{here(g_line), "operator/",
                                                 "mixes a signed and an unsigned operand",
                                                 "i32[16] and u32[16]"};
               });
}

TEST(ElementTypesErrors, UnpackInt4OfAWideType) {
  auto k = tl::kernel("unpack_i32", [](tl::Ptr out, tl::PtrOf<int32_t> a) {
    auto i = tl::arange(0, 16);
    g_line = __LINE__ + 1;
    auto [lo, hi] = tl::unpack_int4(tl::load(a + i));
    tl::store(out + i, lo + hi);
  });
  int32_t x[16];
  expect_error([&] { k.ir_for(false, x, x); },
               [] {
                 return std::vector<std::string>{here(g_line), "unpack_int4",
                                                 "an i8 (signed nibbles) or u8", "i32[16]"};
               });
}

TEST(ElementTypesErrors, PackInt4OfFloats) {
  auto k = tl::kernel("pack_f32", [](tl::Ptr out, tl::Ptr a) {
    auto i = tl::arange(0, 16);
    g_line = __LINE__ + 1;
    tl::store(out + i, tl::pack_int4(tl::load(a + i), tl::load(a + i)));
  });
  expect_error([&] { k.ir_for(false, g_f32, g_f32); },
               [] {
                 return std::vector<std::string>{here(g_line), "pack_int4",
                                                 "lo must be an integer tile", "f32[16]"};
               });
}

// max/min/argmax/argmin of unsigned tiles work (unsigned_ops_test.cpp); a user combine does not.
TEST(ElementTypesErrors, CustomReductionOfUnsigned) {
  auto k = tl::kernel("ureduce", [](tl::Ptr out, tl::PtrOf<uint32_t> a) {
    auto i = tl::arange(0, 16);
    auto bit_or = [](tl::Tensor x, tl::Tensor y) { return x | y; };
    g_line = __LINE__ + 1;
    tl::store(out, tl::reduce(tl::load(a + i), 0, bit_or));
  });
  uint32_t x[16];
  expect_error([&] { k.ir_for(false, x, x); },
               [] {
                 return std::vector<std::string>{here(g_line), "reduce",
                                                 "not implemented for unsigned u32", "tl::i64"};
               });
}

TEST(ElementTypesErrors, ReductionOfFp8) {
  auto k = tl::kernel("fp8_sum", [](tl::Ptr out, tl::Ptr a) {
    auto i = tl::arange(0, 16);
    g_line = __LINE__ + 1;
    tl::store(out, tl::sum(tl::load(a + i), 0));
  });
  std::vector<uint8_t> buf(16);
  tessel::TensorView v(buf.data(), DType::f8e5m2, {16});
  expect_error([&] { k.ir_for(false, v, v); },
               [] {
                 return std::vector<std::string>{here(g_line), "sum", "cannot reduce f8e5m2"};
               });
}

// fp8 dots sum in f32 (mma.sync's only fp8 accumulator on sm_89/sm_90).
TEST(ElementTypesErrors, DotOfFp8IntoF16Accumulator) {
  auto k = tl::kernel("fp8_dot", [](tl::Ptr out, tl::Ptr a) {
    auto i = tl::arange(0, 16);
    auto x = tl::load(a + tl::expand_dims(i, 1) * 16 + tl::expand_dims(i, 0));
    auto acc = tl::zeros({16, 16}, DType::f16);
    auto d = (g_line = __LINE__, tl::dot(x, x, acc));
    tl::store(out + tl::expand_dims(i, 1) * 16 + tl::expand_dims(i, 0), d);
  });
  std::vector<uint8_t> buf(256);
  tessel::TensorView v(buf.data(), DType::f8e4m3, {256});
  expect_error([&] { k.ir_for(false, g_f32, v); },
               [] {
                 return std::vector<std::string>{here(g_line), "dot",
                                                 "fp8 operands accumulate in f32", "f16[16, 16]"};
               });
}

} // namespace
