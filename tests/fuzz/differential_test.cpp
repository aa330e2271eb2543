// The differential fuzzer's parts as unit tests: the reference interpreter on hand-written IR whose
// results are worked out by hand from docs/semantics.md (so the interpreter is checked on its own,
// not only against the backends), the output comparison, and a run of fixed generator seeds
// through the whole check in the normal test suite.
#include "differential.h"
#include "ir_interpreter.h"
#include "kernel_generator.h"

#include "tessel/ir/parser.h"

#include <gtest/gtest.h>

#include <bit>
#include <climits>
#include <cmath>
#include <cstring>
#include <limits>

namespace {

using namespace tessel::fuzz;
using tessel::DType;

template <class T> std::vector<uint8_t> bytes_of(const std::vector<T>& v) {
  std::vector<uint8_t> b(v.size() * sizeof(T));
  std::memcpy(b.data(), v.data(), b.size());
  return b;
}
template <class T> std::vector<T> values_of(const InterpBuffer& b) {
  std::vector<T> v(b.bytes.size() / sizeof(T));
  std::memcpy(v.data(), b.bytes.data(), b.bytes.size());
  return v;
}

// Runs the first kernel of `ir` for program 0 with one pointer argument per buffer, then `ints`.
void run(const std::string& ir, std::vector<InterpBuffer>& buffers,
         const std::vector<int64_t>& ints = {}) {
  std::unique_ptr<tessel::ir::Module> m = tessel::ir::parse_module(ir, "test.tir");
  std::vector<InterpArg> args;
  for (size_t i = 0; i < buffers.size(); ++i)
    args.push_back({int(i), 0});
  for (int64_t v : ints)
    args.push_back({-1, v});
  interpret(*m->functions.at(0), args, buffers, ProgramIndex{});
}

// out0 = a / b, out1 = a % b, out2 = a << b, out3 = a >> b on i32 (docs/semantics.md "Integers").
TEST(IrInterpreter, IntegerDivisionAndShiftsFollowTheSemanticsPage) {
  const std::string ir =
      R"(kernel @k(%arg0: ptr<i32>, %arg1: ptr<i32>, %arg2: ptr<i32>, %arg3: ptr<i32>, %arg4: ptr<i32>, %arg5: ptr<i32>) {
  %0 = arange {start = 0, end = 8} : tensor<8xi32>
  %1 = splat %arg4 : tensor<8xptr<i32>>
  %2 = addptr %1, %0 : tensor<8xptr<i32>>
  %3 = load %2 : tensor<8xi32>
  %4 = splat %arg5 : tensor<8xptr<i32>>
  %5 = addptr %4, %0 : tensor<8xptr<i32>>
  %6 = load %5 : tensor<8xi32>
  %7 = div %3, %6 : tensor<8xi32>
  %8 = rem %3, %6 : tensor<8xi32>
  %9 = shl %3, %6 : tensor<8xi32>
  %10 = shr %3, %6 : tensor<8xi32>
  %11 = splat %arg0 : tensor<8xptr<i32>>
  %12 = addptr %11, %0 : tensor<8xptr<i32>>
  store %12, %7
  %13 = splat %arg1 : tensor<8xptr<i32>>
  %14 = addptr %13, %0 : tensor<8xptr<i32>>
  store %14, %8
  %15 = splat %arg2 : tensor<8xptr<i32>>
  %16 = addptr %15, %0 : tensor<8xptr<i32>>
  store %16, %9
  %17 = splat %arg3 : tensor<8xptr<i32>>
  %18 = addptr %17, %0 : tensor<8xptr<i32>>
  store %18, %10
  return
}
)";
  const std::vector<int32_t> a = {7, -7, 7, INT_MIN, INT_MIN, 5, 1, -8};
  const std::vector<int32_t> b = {2, 2, 0, -1, 0, 0, 32, 1};
  std::vector<InterpBuffer> buf;
  for (int i = 0; i < 4; ++i)
    buf.emplace_back(DType::i32, std::vector<uint8_t>(32, 0xA5));
  buf.emplace_back(DType::i32, bytes_of(a));
  buf.emplace_back(DType::i32, bytes_of(b));
  run(ir, buf);
  // Truncation; x / 0 = x; INT_MIN / -1 = INT_MIN; 1 / 32 = 0.
  EXPECT_EQ(values_of<int32_t>(buf[0]),
            (std::vector<int32_t>{3, -3, 7, INT_MIN, INT_MIN, 5, 0, -8}));
  // The dividend's sign; x % 0 = 0; INT_MIN % -1 = 0.
  EXPECT_EQ(values_of<int32_t>(buf[1]), (std::vector<int32_t>{1, -1, 0, 0, 0, 0, 1, 0}));
  // Amounts modulo 32: -1 is 31 (INT_MIN << 31 = 0), 32 is 0.
  EXPECT_EQ(values_of<int32_t>(buf[2]), (std::vector<int32_t>{28, -28, 7, 0, INT_MIN, 5, 1, -16}));
  // Arithmetic: -7 >> 2 = -2, INT_MIN >> 31 = -1.
  EXPECT_EQ(values_of<int32_t>(buf[3]), (std::vector<int32_t>{1, -2, 7, -1, INT_MIN, 5, 1, -4}));
}

// f16 adds round through f32 then to f16, ties to even; f32 -> i32 truncates and saturates.
TEST(IrInterpreter, FloatRoundingAndSaturatingCasts) {
  const std::string ir =
      R"(kernel @k(%arg0: ptr<f16>, %arg1: ptr<i32>, %arg2: ptr<f16>, %arg3: ptr<f16>, %arg4: ptr<f32>) {
  %0 = arange {start = 0, end = 4} : tensor<4xi32>
  %1 = splat %arg2 : tensor<4xptr<f16>>
  %2 = addptr %1, %0 : tensor<4xptr<f16>>
  %3 = load %2 : tensor<4xf16>
  %4 = splat %arg3 : tensor<4xptr<f16>>
  %5 = addptr %4, %0 : tensor<4xptr<f16>>
  %6 = load %5 : tensor<4xf16>
  %7 = add %3, %6 : tensor<4xf16>
  %8 = splat %arg0 : tensor<4xptr<f16>>
  %9 = addptr %8, %0 : tensor<4xptr<f16>>
  store %9, %7
  %10 = splat %arg4 : tensor<4xptr<f32>>
  %11 = addptr %10, %0 : tensor<4xptr<f32>>
  %12 = load %11 : tensor<4xf32>
  %13 = cast %12 : tensor<4xi32>
  %14 = splat %arg1 : tensor<4xptr<i32>>
  %15 = addptr %14, %0 : tensor<4xptr<i32>>
  store %15, %13
  return
}
)";
  // f16 bits: 1.0 = 0x3c00, 2^-11 = 0x1000, 1 + 2^-10 = 0x3c01, 65504 = 0x7bff, 16 = 0x4c00.
  const std::vector<uint16_t> a = {0x3c00, 0x3c01, 0x7bff, 0x3c00};
  const std::vector<uint16_t> b = {0x1000, 0x1000, 0x4c00, 0xbc00};
  const std::vector<float> c = {3e9f, -3e9f, std::numeric_limits<float>::quiet_NaN(), -2.9f};
  std::vector<InterpBuffer> buf;
  buf.emplace_back(DType::f16, std::vector<uint8_t>(8, 0xA5));
  buf.emplace_back(DType::i32, std::vector<uint8_t>(16, 0xA5));
  buf.emplace_back(DType::f16, bytes_of(a));
  buf.emplace_back(DType::f16, bytes_of(b));
  buf.emplace_back(DType::f32, bytes_of(c));
  run(ir, buf);
  // 1 + 2^-11 is the tie between 1 and 1 + 2^-10: even, 1. 1 + 3 * 2^-11 ties up to 1 + 2^-9.
  // 65504 + 16 = 65520 is the tie with 2^16, which overflows: +inf. 1 + -1 = +0.
  EXPECT_EQ(values_of<uint16_t>(buf[0]), (std::vector<uint16_t>{0x3c00, 0x3c02, 0x7c00, 0x0000}));
  EXPECT_EQ(values_of<int32_t>(buf[1]), (std::vector<int32_t>{INT_MAX, INT_MIN, 0, -2}));
}

// Masked-off elements of a load are `other`; a masked store leaves the rest of the buffer alone.
TEST(IrInterpreter, MasksKeepOtherAndLeaveUnmaskedElements) {
  const std::string ir = R"(kernel @k(%arg0: ptr<i32>, %arg1: ptr<i32>, %arg2: i32) {
  %0 = arange {start = 0, end = 8} : tensor<8xi32>
  %1 = splat %arg2 : tensor<8xi32>
  %2 = cmp_lt %0, %1 : tensor<8xi1>
  %3 = splat %arg1 : tensor<8xptr<i32>>
  %4 = addptr %3, %0 : tensor<8xptr<i32>>
  %5 = constant {value = -1} : tensor<8xi32>
  %6 = load %4, %2, %5 : tensor<8xi32>
  %7 = constant {value = 6} : tensor<8xi32>
  %8 = cmp_lt %0, %7 : tensor<8xi1>
  %9 = splat %arg0 : tensor<8xptr<i32>>
  %10 = addptr %9, %0 : tensor<8xptr<i32>>
  store %10, %6, %8
  return
}
)";
  std::vector<InterpBuffer> buf;
  buf.emplace_back(DType::i32, bytes_of(std::vector<int32_t>(8, 99)));
  buf.emplace_back(DType::i32, bytes_of(std::vector<int32_t>{10, 11, 12, 13, 14, 15, 16, 17}));
  run(ir, buf, {3});
  EXPECT_EQ(values_of<int32_t>(buf[0]), (std::vector<int32_t>{10, 11, 12, -1, -1, -1, 99, 99}));
}

// for lo, hi, step: iv = lo, lo + step, ... while iv < hi; a step <= 0 runs no iteration. The
// float sum of a reduction gets an error bound; the integer one is exact.
TEST(IrInterpreter, LoopsAndReductions) {
  const std::string ir = R"(kernel @k(%arg0: ptr<i32>, %arg1: ptr<f32>, %arg2: i32) {
  %0 = constant {value = 0} : i32
  %1 = constant {value = 10} : i32
  %2 = constant {value = 3} : i32
  %3, %4 = for %0, %1, %2, %0, %0 : i32, i32 {
  ^(%5: i32, %6: i32, %7: i32):
    %8 = add %6, %5 : i32
    %9 = constant {value = 1} : i32
    %10 = add %7, %9 : i32
    yield %8, %10
  }
  store %arg0, %3
  %11 = constant {value = 1} : i32
  %12 = addptr %arg0, %11 : ptr<i32>
  store %12, %4
  %13 = for %0, %1, %arg2, %0 : i32 {
  ^(%14: i32, %15: i32):
    %16 = add %15, %1 : i32
    yield %16
  }
  %17 = constant {value = 2} : i32
  %18 = addptr %arg0, %17 : ptr<i32>
  store %18, %13
  %19 = arange {start = 0, end = 16} : tensor<16xi32>
  %20 = reduce_sum %19 {axis = 0} : i32
  %21 = constant {value = 3} : i32
  %22 = addptr %arg0, %21 : ptr<i32>
  store %22, %20
  %23 = cast %19 : tensor<16xf32>
  %24 = reduce_sum %23 {axis = 0} : f32
  store %arg1, %24
  return
}
)";
  std::vector<InterpBuffer> buf;
  buf.emplace_back(DType::i32, std::vector<uint8_t>(16, 0xA5));
  buf.emplace_back(DType::f32, std::vector<uint8_t>(4, 0xA5));
  run(ir, buf, {-2});
  // iv = 0, 3, 6, 9: sum 18 in 4 iterations; the step -2 loop runs none; 0 + ... + 15 = 120.
  EXPECT_EQ(values_of<int32_t>(buf[0]), (std::vector<int32_t>{18, 4, 0, 120}));
  EXPECT_EQ(buf[0].err, (std::vector<double>{0, 0, 0, 0}));
  EXPECT_EQ(values_of<float>(buf[1])[0], 120.0f);
  EXPECT_GT(buf[1].err[0], 0); // (n - 1) roundings of at most 120 each, and the result's
  EXPECT_LT(buf[1].err[0], 1e-3);
}

// inf + (-3e38) + (-3e38) is +inf in that order and NaN when the two finite terms are added first
// (their f32 sum overflows to -inf): a sum whose order is unspecified has no answer there. Found
// by the fuzzer (regressions/differential/dot_overflow_order.bin: a bf16 dot whose products
// overflow f32, where the CPU backend gave NaN and the simulator +inf).
TEST(IrInterpreter, AFloatSumThatMayOverflowInSomeOrderIsNotCompared) {
  const std::string ir = R"(kernel @k(%arg0: ptr<f32>, %arg1: ptr<f32>) {
  %0 = arange {start = 0, end = 4} : tensor<4xi32>
  %1 = splat %arg1 : tensor<4xptr<f32>>
  %2 = addptr %1, %0 : tensor<4xptr<f32>>
  %3 = load %2 : tensor<4xf32>
  %4 = reduce_sum %3 {axis = 0} : f32
  store %arg0, %4
  %5 = constant {value = 1} : i32
  %6 = addptr %arg0, %5 : ptr<f32>
  %7 = constant {value = 1.0} : tensor<4xf32>
  %8 = reduce_sum %7 {axis = 0} : f32
  store %6, %8
  return
}
)";
  const float inf = std::numeric_limits<float>::infinity();
  std::vector<InterpBuffer> buf;
  buf.emplace_back(DType::f32, std::vector<uint8_t>(8, 0xA5));
  buf.emplace_back(DType::f32, bytes_of(std::vector<float>{inf, -3e38f, -3e38f, 0.0f}));
  run(ir, buf);
  EXPECT_EQ(buf[0].err[0], kOpaque);
  EXPECT_EQ(values_of<float>(buf[0])[1], 4.0f);
  EXPECT_LT(buf[0].err[1], 1e-5);
}

// cumsum is inclusive; argmax is the first maximum, NaN ignored; permute {order = [1, 0]} moves
// element (i, j) to (j, i).
TEST(IrInterpreter, ScansArgReductionsAndPermutes) {
  const std::string ir = R"(kernel @k(%arg0: ptr<f32>, %arg1: ptr<i32>, %arg2: ptr<f32>) {
  %0 = arange {start = 0, end = 4} : tensor<4xi32>
  %1 = splat %arg2 : tensor<4xptr<f32>>
  %2 = addptr %1, %0 : tensor<4xptr<f32>>
  %3 = load %2 : tensor<4xf32>
  %4 = scan_sum %3 {axis = 0} : tensor<4xf32>
  %5 = splat %arg0 : tensor<4xptr<f32>>
  %6 = addptr %5, %0 : tensor<4xptr<f32>>
  store %6, %4
  %7 = reduce_argmax %3 {axis = 0} : i32
  store %arg1, %7
  %8 = arange {start = 0, end = 8} : tensor<8xi32>
  %9 = reshape %8 : tensor<2x4xi32>
  %10 = permute %9 {order = [1, 0]} : tensor<4x2xi32>
  %11 = reshape %10 : tensor<8xi32>
  %12 = constant {value = 1} : i32
  %13 = addptr %arg1, %12 : ptr<i32>
  %14 = splat %13 : tensor<8xptr<i32>>
  %15 = addptr %14, %8 : tensor<8xptr<i32>>
  store %15, %11
  return
}
)";
  const float nan = std::numeric_limits<float>::quiet_NaN();
  std::vector<InterpBuffer> buf;
  buf.emplace_back(DType::f32, std::vector<uint8_t>(16, 0xA5));
  buf.emplace_back(DType::i32, std::vector<uint8_t>(36, 0xA5));
  buf.emplace_back(DType::f32, bytes_of(std::vector<float>{3, 1, 7, 7}));
  run(ir, buf);
  EXPECT_EQ(values_of<float>(buf[0]), (std::vector<float>{3, 4, 11, 18}));
  // [[0 1 2 3] [4 5 6 7]] transposed is [[0 4] [1 5] [2 6] [3 7]].
  EXPECT_EQ(values_of<int32_t>(buf[1]), (std::vector<int32_t>{2, 0, 4, 1, 5, 2, 6, 3, 7}));
  buf[2] = InterpBuffer(DType::f32, bytes_of(std::vector<float>{nan, 1, nan, 1}));
  run(ir, buf);
  EXPECT_EQ(values_of<int32_t>(buf[1])[0], 1); // the first 1: NaNs are not maxima
}

// An i8 dot accumulates exactly in i32: row i of a (all i - 8) times column j of b (all j) is
// 16 (i - 8) j, plus the accumulator 1.
TEST(IrInterpreter, AnIntegerDotIsExact) {
  const std::string ir = R"(kernel @k(%arg0: ptr<i32>) {
  %0 = arange {start = 0, end = 16} : tensor<16xi32>
  %1 = expand_dims %0 {axis = 1} : tensor<16x1xi32>
  %2 = broadcast %1 : tensor<16x16xi32>
  %3 = constant {value = 8} : tensor<16x16xi32>
  %4 = sub %2, %3 : tensor<16x16xi32>
  %5 = cast %4 : tensor<16x16xi8>
  %6 = expand_dims %0 {axis = 0} : tensor<1x16xi32>
  %7 = broadcast %6 : tensor<16x16xi32>
  %8 = cast %7 : tensor<16x16xi8>
  %9 = constant {value = 1} : tensor<16x16xi32>
  %10 = dot %5, %8, %9 : tensor<16x16xi32>
  %16 = arange {start = 0, end = 256} : tensor<256xi32>
  %17 = splat %arg0 : tensor<256xptr<i32>>
  %18 = addptr %17, %16 : tensor<256xptr<i32>>
  %19 = reshape %10 : tensor<256xi32>
  store %18, %19
  return
}
)";
  std::vector<InterpBuffer> buf;
  buf.emplace_back(DType::i32, std::vector<uint8_t>(1024, 0xA5));
  run(ir, buf);
  std::vector<int32_t> got = values_of<int32_t>(buf[0]);
  for (int i = 0; i < 16; ++i)
    for (int j = 0; j < 16; ++j)
      ASSERT_EQ(got[size_t(i * 16 + j)], 16 * (i - 8) * j + 1) << i << ", " << j;
  EXPECT_EQ(buf[0].err, std::vector<double>(256, 0.0));
}

// An op the interpreter does not cover is a skip with its name, never an answer.
TEST(IrInterpreter, AnUncoveredOpIsASkipNotAnAnswer) {
  const std::string ir = R"(kernel @k(%arg0: ptr<f32>) {
  %0 = constant {value = 1.0} : tensor<16x16xf32>
  %1 = dot %0, %0, %0 : tensor<16x16xf32>
  return
}
)";
  std::vector<InterpBuffer> buf;
  buf.emplace_back(DType::f32, std::vector<uint8_t>(4, 0));
  try {
    run(ir, buf);
    ADD_FAILURE() << "expected Unsupported";
  } catch (const Unsupported& e) {
    EXPECT_NE(std::string(e.what()).find("interpreter does not cover op dot"), std::string::npos)
        << e.what();
  }
}

// An unmasked access outside its buffer is the generator's bug, reported as an invalid kernel.
TEST(IrInterpreter, AnAccessOutsideItsBufferIsAnInvalidKernel) {
  const std::string ir = R"(kernel @k(%arg0: ptr<i32>) {
  %0 = arange {start = 0, end = 8} : tensor<8xi32>
  %1 = splat %arg0 : tensor<8xptr<i32>>
  %2 = addptr %1, %0 : tensor<8xptr<i32>>
  store %2, %0
  return
}
)";
  std::vector<InterpBuffer> buf;
  buf.emplace_back(DType::i32, std::vector<uint8_t>(4 * 7, 0));
  EXPECT_THROW(run(ir, buf), InvalidKernel);
}

// The comparison: bits where no bound is given (any NaN matches any NaN, -0 is not +0), the bound
// where one is, nothing where the bound is infinite.
TEST(DifferentialFuzz, TheComparisonFindsOneChangedBit) {
  const float nan1 = std::bit_cast<float>(0x7fc00001u), nan2 = std::bit_cast<float>(0xffc00000u);
  const std::vector<float> ref = {1.0f, nan1, 0.0f, 3.0f, 5.0f};
  std::vector<float> cpu = {1.0f, nan2, 0.0f, std::nextafter(3.0f, 4.0f), 123.0f};
  const std::vector<double> exact(5, 0.0);
  OutputCompare c =
      compare_outputs(uint8_t(tessel::DType::f32), bytes_of(ref), exact, bytes_of(cpu), nullptr);
  EXPECT_EQ(c.first_difference, 3);
  EXPECT_EQ(c.differences, 2);
  // A one-ulp bound at element 3 and no bound at element 4: they agree.
  const std::vector<double> bounds = {0, 0, 0, 2.4e-7, kOpaque};
  c = compare_outputs(uint8_t(tessel::DType::f32), bytes_of(ref), bounds, bytes_of(cpu), nullptr);
  EXPECT_EQ(c.first_difference, -1);
  EXPECT_EQ(c.opaque, 1);
  EXPECT_EQ(c.bounded, 1);
  // -0 where +0 is promised is a difference; so is one in the simulator's buffer alone.
  cpu = ref;
  std::vector<float> sim = ref;
  sim[2] = -0.0f;
  std::vector<uint8_t> sim_bytes = bytes_of(sim);
  c = compare_outputs(uint8_t(tessel::DType::f32), bytes_of(ref), exact, bytes_of(cpu), &sim_bytes);
  EXPECT_EQ(c.first_difference, 2);
}

// The same bytes decode to the same kernel every time: the header and the traced IR.
TEST(DifferentialFuzz, DecodingIsDeterministic) {
  std::vector<uint8_t> bytes(200);
  for (size_t i = 0; i < bytes.size(); ++i)
    bytes[i] = uint8_t(i * 37 + 11);
  KernelShape s = decode_shape(bytes);
  EXPECT_EQ(s.str(), decode_shape(bytes).str());
  EXPECT_LE(s.tile_elements(), 1024);
  EXPECT_GE(s.steps, 3);
  EXPECT_LE(s.steps, 30);
  EXPECT_EQ(make_input(s, 1), make_input(s, 1));
}

// Fixed seeds of the generator through the whole check: CPU backend, simulated GPU (when built)
// and interpreter must agree on every kernel that traces, and most kernels must trace and be
// covered — a generator that stopped making checkable kernels would fail here too.
TEST(DifferentialFuzz, SeedsAgree) {
  constexpr int kSeeds = 24;
  int agreed = 0, untraceable = 0, skipped = 0;
  for (int seed = 0; seed < kSeeds; ++seed) {
    std::vector<uint8_t> bytes(160);
    uint64_t x = 0x5eed0000u + uint64_t(seed);
    for (uint8_t& b : bytes) {
      x = x * 6364136223846793005ull + 1442695040888963407ull;
      b = uint8_t(x >> 56);
    }
    DifferentialResult r = run_differential(bytes);
    EXPECT_FALSE(r.disagreement) << "seed " << seed << ":\n" << *r.disagreement;
    switch (r.outcome.kind) {
    case Outcome::Kind::agreed:
      ++agreed;
      break;
    case Outcome::Kind::untraceable:
      ++untraceable;
      break;
    case Outcome::Kind::skipped:
      ++skipped;
      break;
    }
    if (r.outcome.kind != Outcome::Kind::agreed)
      std::printf("seed %d: %s\n", seed, r.outcome.detail.substr(0, 200).c_str());
  }
  std::printf("%d agreed, %d did not trace, %d skipped\n", agreed, untraceable, skipped);
  EXPECT_GE(agreed, kSeeds / 2);
}

} // namespace
