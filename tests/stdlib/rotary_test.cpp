// ops::rotary_embedding, its backward and the positions form against f64 references written here:
// both conventions, full and partial rotary dims, head_dim from 2 to 10000 (half of it one block
// or many warps), strided heads (padded rows), batch 1, f32/f16/bf16, in place; the backward
// against central finite differences; the simulated device; bad input; PTX unspilled.
#include "ops_test_util.h"

#include "gpu/gpu_test_util.h"
#include "stdlib/common/args.h"
#include "stdlib/common/kernels.h"
#include "support/expect_error.h"
#include "tessel/ops.h"

namespace tessel::testing {
namespace {

using ops::RotaryStyle;

struct Case {
  int64_t batch, seq, heads, head_dim, rotary_dim; // rotary_dim 0: all of head_dim
};

int64_t rot(const Case& c) { return c.rotary_dim == 0 ? c.head_dim : c.rotary_dim; }

// y = rotate(x) by angles theta[s * half + i] (or -theta for the inverse), in f64.
std::vector<double> rotate(const std::vector<double>& x, const Case& c, RotaryStyle style,
                           const std::vector<double>& cos, const std::vector<double>& sin,
                           bool inverse) {
  std::vector<double> y = x;
  const int64_t half = rot(c) / 2;
  for (int64_t b = 0; b < c.batch; ++b)
    for (int64_t s = 0; s < c.seq; ++s)
      for (int64_t h = 0; h < c.heads; ++h) {
        int64_t base = ((b * c.seq + s) * c.heads + h) * c.head_dim;
        for (int64_t i = 0; i < half; ++i) {
          int64_t p = style == RotaryStyle::interleaved ? 2 * i : i;
          int64_t q = style == RotaryStyle::interleaved ? 2 * i + 1 : i + half;
          double co = cos[s * half + i], si = inverse ? -sin[s * half + i] : sin[s * half + i];
          y[base + p] = x[base + p] * co - x[base + q] * si;
          y[base + q] = x[base + q] * co + x[base + p] * si;
        }
      }
  return y;
}

std::vector<double> tables(const Case& c, double (*f)(double), double base = 10000) {
  std::vector<double> t;
  const int64_t half = rot(c) / 2;
  for (int64_t s = 0; s < c.seq; ++s)
    for (int64_t i = 0; i < half; ++i)
      t.push_back(f(double(s) * std::pow(base, -2.0 * double(i) / double(rot(c)))));
  return t;
}

std::string fmt_case(const char* op, DType t, RotaryStyle style, const Case& c) {
  return std::string(op) + " " + dtype_name(t) +
         (style == RotaryStyle::interleaved ? " interleaved " : " half-split ") +
         std::to_string(c.batch) + "x" + std::to_string(c.seq) + "x" + std::to_string(c.heads) +
         "x" + std::to_string(c.head_dim) + " rotary " + std::to_string(rot(c));
}

size_t numel(const Case& c) { return size_t(c.batch * c.seq * c.heads * c.head_dim); }

void check_forward(DeviceKind dev, DType t, RotaryStyle style, const Case& c, int64_t pad,
                   bool in_place) {
  auto x0 = rounded(random_values(numel(c), uint32_t(c.head_dim + c.seq)), t);
  auto cos0 = rounded(tables(c, [](double a) { return std::cos(a); }), t);
  auto sin0 = rounded(tables(c, [](double a) { return std::sin(a); }), t);
  const int64_t half = rot(c) / 2;
  TestTensor x(dev, t, {c.batch, c.seq, c.heads, c.head_dim}, x0, pad);
  TestTensor cos(dev, t, {c.seq, half}, cos0), sin(dev, t, {c.seq, half}, sin0);
  auto y = TestTensor::poisoned(dev, t, {c.batch, c.seq, c.heads, c.head_dim}, pad);
  TestTensor& out = in_place ? x : y;
  ops::rotary_embedding(x.view(), cos.view(), sin.view(), out.view(),
                        {.style = style, .rotary_dim = c.rotary_dim});
  std::string what = fmt_case("rotary_embedding", t, style, c) + (in_place ? " in place" : "");
  expect_close(out.values(), rotate(x0, c, style, cos0, sin0, false), rtol_for(t), what);
  EXPECT_TRUE(out.padding_untouched()) << what;
}

const std::vector<Case>& cases() {
  static const std::vector<Case> c = {{1, 1, 1, 2, 0},   {2, 5, 3, 64, 0},   {1, 7, 2, 128, 64},
                                      {2, 3, 4, 80, 32}, {1, 2, 1, 1000, 0}, {1, 2, 1, 10000, 0},
                                      {1, 3, 2, 6, 2}};
  return c;
}

TEST(Rotary, Cpu) {
  for (DType t : {DType::f32, DType::f16, DType::bf16})
    for (RotaryStyle style : {RotaryStyle::half_split, RotaryStyle::interleaved})
      for (const Case& c : cases())
        check_forward(DeviceKind::cpu, t, style, c, /*pad=*/0, false);
}

TEST(Rotary, StridedHeadsAndInPlace) {
  for (RotaryStyle style : {RotaryStyle::half_split, RotaryStyle::interleaved})
    for (const Case& c : {Case{2, 5, 3, 64, 0}, Case{1, 7, 2, 128, 64}}) {
      check_forward(DeviceKind::cpu, DType::f32, style, c, /*pad=*/8, false);
      check_forward(DeviceKind::cpu, DType::bf16, style, c, /*pad=*/0, true);
    }
}

TEST(Rotary, SimulatedDevice) {
  TESSEL_REQUIRE_SIM_DEVICE();
  for (RotaryStyle style : {RotaryStyle::half_split, RotaryStyle::interleaved}) {
    check_forward(DeviceKind::sim, DType::f32, style, {2, 3, 2, 32, 16}, 4, false);
    check_forward(DeviceKind::sim, DType::bf16, style, {1, 4, 2, 64, 0}, 0, true);
  }
}

TEST(Rotary, FromPositions) {
  for (RotaryStyle style : {RotaryStyle::half_split, RotaryStyle::interleaved})
    for (const Case& c : {Case{2, 9, 3, 64, 0}, Case{1, 40, 2, 128, 32}}) {
      auto x0 = random_values(numel(c), 17);
      TestTensor x(DeviceKind::cpu, DType::f32, {c.batch, c.seq, c.heads, c.head_dim}, x0);
      std::vector<double> pos;
      for (int64_t s = 0; s < c.seq; ++s)
        pos.push_back(double(s));
      TestTensor positions(DeviceKind::cpu, DType::i32, {c.seq}, pos);
      auto y =
          TestTensor::poisoned(DeviceKind::cpu, DType::f32, {c.batch, c.seq, c.heads, c.head_dim});
      ops::rotary_embedding_from_positions(
          x.view(), positions.view(), y.view(),
          {.style = style, .rotary_dim = c.rotary_dim, .base = 500});
      auto want = rotate(x0, c, style,
                         tables(
                             c, [](double a) { return std::cos(a); }, 500),
                         tables(
                             c, [](double a) { return std::sin(a); }, 500),
                         false);
      // Angles up to 40 rad computed in f32: an absolute error of ~40 * 2^-24 on each (rotary.h).
      expect_close(y.values(), want, 2e-5, fmt_case("from positions", DType::f32, style, c), 2e-5);
    }
}

// positions [batch, seq]: each sequence its own positions (here a left-padded batch, sequence b
// starting at position 3 - b, and a strided positions tensor), against the reference applied to
// each sequence alone with its own tables.
// (CPU only: libdevice's sinf/cosf use madc.hi.u32, which the PTX simulator does not run yet.)
void check_per_batch_positions(DeviceKind dev, RotaryStyle style) {
  const Case c{3, 6, 2, 16, 0}, one{1, 6, 2, 16, 0};
  auto x0 = random_values(numel(c), 31);
  TestTensor x(dev, DType::f32, {c.batch, c.seq, c.heads, c.head_dim}, x0);
  std::vector<double> pos;
  for (int64_t b = 0; b < c.batch; ++b)
    for (int64_t s = 0; s < c.seq; ++s)
      pos.push_back(double(3 - b + s));
  TestTensor positions(dev, DType::i32, {c.batch, c.seq}, pos, /*pad=*/2);
  auto y = TestTensor::poisoned(dev, DType::f32, {c.batch, c.seq, c.heads, c.head_dim});
  ops::rotary_embedding_from_positions(x.view(), positions.view(), y.view(),
                                       {.style = style, .base = 500});
  std::vector<double> want;
  const size_t per = numel(one);
  for (int64_t b = 0; b < c.batch; ++b) {
    std::vector<double> cos, sin;
    for (int64_t s = 0; s < c.seq; ++s)
      for (int64_t i = 0; i < c.head_dim / 2; ++i) {
        const double a = double(3 - b + s) * std::pow(500.0, -2.0 * double(i) / double(c.head_dim));
        cos.push_back(std::cos(a));
        sin.push_back(std::sin(a));
      }
    std::vector<double> xb(x0.begin() + b * per, x0.begin() + (b + 1) * per);
    auto yb = rotate(xb, one, style, cos, sin, false);
    want.insert(want.end(), yb.begin(), yb.end());
  }
  expect_close(y.values(), want, 2e-5, fmt_case("per-batch positions", DType::f32, style, c), 2e-5);
}

TEST(Rotary, FromPerBatchPositions) {
  for (RotaryStyle style : {RotaryStyle::half_split, RotaryStyle::interleaved})
    check_per_batch_positions(DeviceKind::cpu, style);
}

// d/dx of sum(dy * rope(x)) by central differences (exact for a linear map up to rounding).
void check_backward(DeviceKind dev, DType t, RotaryStyle style, const Case& c) {
  auto dy0 = rounded(random_values(numel(c), 23), t);
  auto cos0 = rounded(tables(c, [](double a) { return std::cos(a); }), t);
  auto sin0 = rounded(tables(c, [](double a) { return std::sin(a); }), t);
  const int64_t half = rot(c) / 2;
  TestTensor dy(dev, t, {c.batch, c.seq, c.heads, c.head_dim}, dy0);
  TestTensor cos(dev, t, {c.seq, half}, cos0), sin(dev, t, {c.seq, half}, sin0);
  auto dx = TestTensor::poisoned(dev, t, {c.batch, c.seq, c.heads, c.head_dim}, 2);
  ops::rotary_embedding_backward(dy.view(), cos.view(), sin.view(), dx.view(),
                                 {.style = style, .rotary_dim = c.rotary_dim});
  std::vector<double> x(numel(c), 0.5), want(numel(c));
  auto f = [&] {
    auto y = rotate(x, c, style, cos0, sin0, false);
    double s = 0;
    for (size_t i = 0; i < y.size(); ++i)
      s += dy0[i] * y[i];
    return s;
  };
  for (size_t i = 0; i < x.size(); ++i) {
    x[i] = 0.5 + 1e-6;
    double up = f();
    x[i] = 0.5 - 1e-6;
    double down = f();
    x[i] = 0.5;
    want[i] = (up - down) / 2e-6;
  }
  std::string what = fmt_case("rotary_embedding_backward", t, style, c);
  expect_close(dx.values(), want, std::max(rtol_for(t), 1e-5), what, 1e-6);
  EXPECT_TRUE(dx.padding_untouched()) << what;
}

TEST(RotaryBackward, FiniteDifferences) {
  for (DType t : {DType::f32, DType::bf16})
    for (RotaryStyle style : {RotaryStyle::half_split, RotaryStyle::interleaved})
      for (const Case& c : {Case{1, 3, 2, 8, 0}, Case{2, 2, 1, 12, 4}})
        check_backward(DeviceKind::cpu, t, style, c);
}

TEST(RotaryBackward, SimulatedDevice) {
  TESSEL_REQUIRE_SIM_DEVICE();
  for (RotaryStyle style : {RotaryStyle::half_split, RotaryStyle::interleaved})
    check_backward(DeviceKind::sim, DType::f32, style, Case{2, 2, 1, 12, 4});
}

TEST(Rotary, ZeroSizedIsANoOp) {
  TestTensor x(DeviceKind::cpu, DType::f32, {0, 4, 2, 8}, {}),
      cos(DeviceKind::cpu, DType::f32, {4, 4}, std::vector<double>(16, 1));
  ops::rotary_embedding(x.view(), cos.view(), cos.view(), x.view());
}

struct ErrorInputs {
  std::vector<float> x = std::vector<float>(2 * 3 * 2 * 8, 1.0f), t = std::vector<float>(64, 0.5f);
  TensorView xv() { return TensorView(x.data(), {2, 3, 2, 8}); }
  TensorView tv(int64_t seq, int64_t half) { return TensorView(t.data(), {seq, half}); }
};

TEST(RotaryErrors, OddRotaryDim) {
  ErrorInputs in;
  const int line = __LINE__ + 2; // the line of the call below
  expect_error(
      [&] { ops::rotary_embedding(in.xv(), in.tv(3, 4), in.tv(3, 4), in.xv(), {.rotary_dim = 5}); },
      {"rotary_test.cpp:" + std::to_string(line),
       "rotary_embedding: rotary_dim is 5 but head_dim is 8; expected an even number from "
       "2 to 8 (0: all of head_dim)"});
}

TEST(RotaryErrors, RotaryDimTooLarge) {
  std::vector<float> x(32770), t(16385);
  expect_error(
      [&] {
        ops::rotary_embedding(TensorView(x.data(), {1, 1, 1, 32770}),
                              TensorView(t.data(), {1, 16385}), TensorView(t.data(), {1, 16385}),
                              TensorView(x.data(), {1, 1, 1, 32770}));
      },
      {"rotary_embedding: rotary_dim is 32770; expected at most 32768 (one block of pairs per "
       "row)"});
}

TEST(RotaryErrors, TableShape) {
  ErrorInputs in;
  expect_error([&] { ops::rotary_embedding(in.xv(), in.tv(3, 8), in.tv(3, 4), in.xv()); },
               {"rotary_embedding: cos has shape [3, 8]; expected [3, 4] (seq, rotary_dim / 2)"});
}

TEST(RotaryErrors, Rank) {
  ErrorInputs in;
  expect_error(
      [&] {
        ops::rotary_embedding(TensorView(in.x.data(), {6, 2, 8}), in.tv(3, 4), in.tv(3, 4),
                              in.xv());
      },
      {"rotary_embedding: x has shape [6, 2, 8]; expected rank 4 (batch, seq, heads, head_dim)"});
}

TEST(RotaryErrors, OutputShape) {
  ErrorInputs in;
  expect_error(
      [&] {
        ops::rotary_embedding_backward(in.xv(), in.tv(3, 4), in.tv(3, 4),
                                       TensorView(in.x.data(), {2, 3, 1, 16}));
      },
      {"rotary_embedding_backward: dx has shape [2, 3, 1, 16] but dy has shape [2, 3, 2, 8]; "
       "expected the same shape"});
}

TEST(RotaryErrors, XDtype) {
  ErrorInputs in;
  std::vector<int32_t> ints(in.x.size());
  expect_error(
      [&] {
        ops::rotary_embedding(TensorView(ints.data(), {2, 3, 2, 8}), in.tv(3, 4), in.tv(3, 4),
                              in.xv());
      },
      {"rotary_embedding: x has dtype i32; expected f32, f16 or bf16"});
}

TEST(RotaryErrors, PositionsDtype) {
  ErrorInputs in;
  expect_error(
      [&] { ops::rotary_embedding_from_positions(in.xv(), TensorView(in.t.data(), {3}), in.xv()); },
      {"rotary_embedding_from_positions: positions has dtype f32; expected i32 or i64"});
}

TEST(RotaryErrors, PositionsShape) {
  ErrorInputs in;
  std::vector<int32_t> pos(4);
  expect_error(
      [&] { ops::rotary_embedding_from_positions(in.xv(), TensorView(pos.data(), {4}), in.xv()); },
      {"rotary_embedding_from_positions: positions has shape [4] but x has 3 positions; expected "
       "shape [3] (one position per token, shared by the batch) or [2, 3] (batch, seq)"});
}

TEST(RotaryErrors, PerBatchPositionsShape) {
  ErrorInputs in;
  std::vector<int32_t> pos(9);
  expect_error(
      [&] {
        ops::rotary_embedding_from_positions(in.xv(), TensorView(pos.data(), {3, 3}), in.xv());
      },
      {"rotary_embedding_from_positions: positions has shape [3, 3] but x has 3 positions; "
       "expected shape [3] (one position per token, shared by the batch) or [2, 3] (batch, seq)"});
}

TEST(RotaryErrors, Base) {
  ErrorInputs in;
  std::vector<int32_t> pos(3);
  expect_error(
      [&] {
        ops::rotary_embedding_from_positions(in.xv(), TensorView(pos.data(), {3}), in.xv(),
                                             {.base = 1.0f});
      },
      {"rotary_embedding_from_positions: base is 1; expected a number above 1"});
}

TEST(RotaryErrors, TableStrided) {
  ErrorInputs in;
  TensorView cos = in.tv(3, 4);
  cos.strides = {8, 2};
  expect_error([&] { ops::rotary_embedding(in.xv(), cos, in.tv(3, 4), in.xv()); },
               {"rotary_embedding: cos's last dimension has stride 2; expected a contiguous last "
                "dimension"});
}

TEST(RotaryErrors, HeadDimStrided) {
  ErrorInputs in;
  TensorView x(in.x.data(), {1, 3, 2, 4});
  x.strides = {48, 16, 8, 2};
  expect_error([&] { ops::rotary_embedding(x, in.tv(3, 2), in.tv(3, 2), x); },
               {"rotary_embedding: x's last dimension has stride 2; the last dimension must be "
                "contiguous (stride 1): copy x to a contiguous tensor first"});
}

TEST(RotaryErrors, NullData) {
  ErrorInputs in;
  TensorView x(static_cast<float*>(nullptr), {2, 3, 2, 8});
  expect_error([&] { ops::rotary_embedding(x, in.tv(3, 4), in.tv(3, 4), x); },
               {"rotary_embedding: a tensor argument has a null data pointer"});
}

TEST(RotaryPtx, NoSpills) {
  TESSEL_REQUIRE_CUDA_TOOLKIT();
  for (std::vector<int64_t> consts :
       {std::vector<int64_t>{0, 0, 0, 64}, {1, 0, 1, 64}, {0, 1, 0, 64}, {0, 0, 0, 8192}})
    for (const char* target : {"sm_80", "sm_90a"}) {
      auto module = trace_dsl(ops::detail::rotary_kernel(), consts, DType::bf16);
      codegen::gpu::CompileOptions opts;
      opts.num_warps = ops::detail::num_warps_for(int(consts[3]));
      auto out =
          codegen::gpu::compile(*module->functions.front(), codegen::parse_target(target), opts);
      std::string what = std::string(target) + " BLOCK " + std::to_string(consts[3]) +
                         " INTERLEAVED " + std::to_string(consts[0]) + " FROM_POSITIONS " +
                         std::to_string(consts[1]);
      EXPECT_TRUE(out.resources.parsed) << out.info_log;
      EXPECT_EQ(out.resources.spill_stores, 0) << what;
      EXPECT_EQ(out.resources.spill_loads, 0) << what;
      // The positions form calls libdevice's sinf / cosf, whose Payne-Hanek reduction for
      // |angle| > 105615 keeps 28 bytes in local memory (ld/st.local in the PTX, not a spill).
      if (consts[1] == 0) {
        EXPECT_EQ(codegen::gpu::ptx_stats(out.ptx).get("local"), 0) << what;
      }
    }
}

} // namespace
} // namespace tessel::testing
