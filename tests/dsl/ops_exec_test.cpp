// Every op family of the language executed on the CPU backend against a plain C++ reference:
// random inputs with fixed seeds, several dtypes, sizes that are not multiples of the block (the
// masks matter), outputs poisoned before the launch.
#include "support/host_array.h"
#include "tessel/tessel.h"

#include <gtest/gtest.h>

#include <cmath>
#include <functional>
#include <string>

namespace tl = tessel::lang;
using tessel::DType;
using tessel::testing::HostArray;
using tessel::testing::tolerance_for;

namespace {

constexpr int kBlock = 64;
constexpr int64_t kN = 1000; // 15 full blocks and a partial one

// ---- elementwise ops, selected by a Const at trace time -----------------------------------------

enum Op : int {
  Add,
  Sub,
  Mul,
  Div,
  Rem,
  Min,
  Max,
  Neg,
  Abs,
  Exp,
  Exp2,
  Log,
  Log2,
  Sqrt,
  Rsqrt,
  Sin,
  Cos,
  Erf,
  Tanh,
  Sigmoid,
  Floor,
  Ceil,
  Fma,
  Lt,
  Le,
  Gt,
  Ge,
  Eq,
  Ne,
  Where,
  And,
  Or,
  Xor,
  Shl,
  Shr,
  BitNot,
  NumOps
};

struct OpCase {
  Op op;
  const char* name;
  int arity;
  bool float_only;
  bool int_only;
  double lo, hi; // input range
  std::function<double(double, double)> ref;
};

double c_div(double a, double b) { return b == 0 ? 0 : std::trunc(a / b); }
double c_rem(double a, double b) { return b == 0 ? 0 : std::fmod(a, b); }

const std::vector<OpCase>& op_cases() {
  static const std::vector<OpCase> cases = {
      {Add, "add", 2, false, false, -50, 50, [](double a, double b) { return a + b; }},
      {Sub, "sub", 2, false, false, -50, 50, [](double a, double b) { return a - b; }},
      {Mul, "mul", 2, false, false, -30, 30, [](double a, double b) { return a * b; }},
      {Div, "div", 2, false, false, -50, 50, nullptr}, // int vs float semantics: see reference()
      {Rem, "rem", 2, false, true, -50, 50, c_rem},
      {Min, "minimum", 2, false, false, -50, 50, [](double a, double b) { return std::min(a, b); }},
      {Max, "maximum", 2, false, false, -50, 50, [](double a, double b) { return std::max(a, b); }},
      {Neg, "neg", 1, false, false, -50, 50, [](double a, double) { return -a; }},
      {Abs, "abs", 1, false, false, -50, 50, [](double a, double) { return std::fabs(a); }},
      {Exp, "exp", 1, true, false, -5, 5, [](double a, double) { return std::exp(a); }},
      {Exp2, "exp2", 1, true, false, -5, 5, [](double a, double) { return std::exp2(a); }},
      {Log, "log", 1, true, false, 0.01, 50, [](double a, double) { return std::log(a); }},
      {Log2, "log2", 1, true, false, 0.01, 50, [](double a, double) { return std::log2(a); }},
      {Sqrt, "sqrt", 1, true, false, 0, 50, [](double a, double) { return std::sqrt(a); }},
      {Rsqrt, "rsqrt", 1, true, false, 0.01, 50, [](double a, double) { return 1 / std::sqrt(a); }},
      {Sin, "sin", 1, true, false, -6, 6, [](double a, double) { return std::sin(a); }},
      {Cos, "cos", 1, true, false, -6, 6, [](double a, double) { return std::cos(a); }},
      {Erf, "erf", 1, true, false, -3, 3, [](double a, double) { return std::erf(a); }},
      {Tanh, "tanh", 1, true, false, -4, 4, [](double a, double) { return std::tanh(a); }},
      {Sigmoid, "sigmoid", 1, true, false, -8, 8,
       [](double a, double) { return 1 / (1 + std::exp(-a)); }},
      {Floor, "floor", 1, true, false, -9, 9, [](double a, double) { return std::floor(a); }},
      {Ceil, "ceil", 1, true, false, -9, 9, [](double a, double) { return std::ceil(a); }},
      {Fma, "fma", 2, true, false, -4, 4, [](double a, double b) { return a * b + a; }},
      {Lt, "<", 2, false, false, -3, 3, [](double a, double b) { return double(a < b); }},
      {Le, "<=", 2, false, false, -3, 3, [](double a, double b) { return double(a <= b); }},
      {Gt, ">", 2, false, false, -3, 3, [](double a, double b) { return double(a > b); }},
      {Ge, ">=", 2, false, false, -3, 3, [](double a, double b) { return double(a >= b); }},
      {Eq, "==", 2, false, false, -3, 3, [](double a, double b) { return double(a == b); }},
      {Ne, "!=", 2, false, false, -3, 3, [](double a, double b) { return double(a != b); }},
      {Where, "where", 2, false, false, -50, 50,
       [](double a, double b) { return a > b ? a : b * 2; }},
      {And, "&", 2, false, true, -100, 100,
       [](double a, double b) { return double(int64_t(a) & int64_t(b)); }},
      {Or, "|", 2, false, true, -100, 100,
       [](double a, double b) { return double(int64_t(a) | int64_t(b)); }},
      {Xor, "^", 2, false, true, -100, 100,
       [](double a, double b) { return double(int64_t(a) ^ int64_t(b)); }},
      {Shl, "<<", 2, false, true, 0, 8,
       [](double a, double b) { return double(int64_t(a) << int64_t(b)); }},
      {Shr, ">>", 2, false, true, -100, 100,
       [](double a, double b) { return double(int64_t(a) >> (int64_t(std::fabs(b)) % 8)); }},
      {BitNot, "~", 1, false, true, -100, 100,
       [](double a, double) { return double(~int64_t(a)); }},
  };
  return cases;
}

tl::Tensor apply(int op, const tl::Tensor& a, const tl::Tensor& b) {
  switch (Op(op)) {
  case Add:
    return a + b;
  case Sub:
    return a - b;
  case Mul:
    return a * b;
  case Div:
    return a / b;
  case Rem:
    return a % b;
  case Min:
    return tl::minimum(a, b);
  case Max:
    return tl::maximum(a, b);
  case Neg:
    return -a;
  case Abs:
    return tl::abs(a);
  case Exp:
    return tl::exp(a);
  case Exp2:
    return tl::exp2(a);
  case Log:
    return tl::log(a);
  case Log2:
    return tl::log2(a);
  case Sqrt:
    return tl::sqrt(a);
  case Rsqrt:
    return tl::rsqrt(a);
  case Sin:
    return tl::sin(a);
  case Cos:
    return tl::cos(a);
  case Erf:
    return tl::erf(a);
  case Tanh:
    return tl::tanh(a);
  case Sigmoid:
    return tl::sigmoid(a);
  case Floor:
    return tl::floor(a);
  case Ceil:
    return tl::ceil(a);
  case Fma:
    return tl::fma(a, b, a);
  case Lt:
    return a < b;
  case Le:
    return a <= b;
  case Gt:
    return a > b;
  case Ge:
    return a >= b;
  case Eq:
    return a == b;
  case Ne:
    return a != b;
  case Where:
    return tl::where(a > b, a, b * 2);
  case And:
    return a & b;
  case Or:
    return a | b;
  case Xor:
    return a ^ b;
  case Shl:
    return a << b;
  case Shr:
    return a >> (tl::abs(b) % 8);
  case BitNot:
    return ~a;
  case NumOps:
    break;
  }
  throw tessel::Error("bad op");
}

const tessel::Kernel& elementwise_kernel() {
  static const tessel::Kernel k = tl::kernel(
      "elementwise", [](tl::Ptr out, tl::Ptr a, tl::Ptr b, tl::Int n, tl::Const<int> OP) {
        auto offs = tl::program_id(0) * kBlock + tl::arange(0, kBlock);
        auto mask = offs < n;
        auto x = tl::load(a + offs, mask);
        auto y = tl::load(b + offs, mask, 1.0);
        tl::store(out + offs, apply(OP, x, y), mask);
      });
  return k;
}

double reference(const OpCase& c, DType t, double a, double b) {
  if (c.op == Div)
    return tessel::dtype_is_float(t) ? a / b : c_div(a, b);
  return c.ref(a, b);
}

struct ElementwiseParam {
  int op_index;
  DType dtype;
};

class Elementwise : public ::testing::TestWithParam<ElementwiseParam> {};

TEST_P(Elementwise, MatchesReference) {
  const OpCase& c = op_cases()[size_t(GetParam().op_index)];
  const DType t = GetParam().dtype;
  const bool comparison = c.op >= Lt && c.op <= Ne;
  HostArray a(t, kN), b(t, kN), out(comparison ? DType::i1 : t, kN);
  a.fill_random(11 + uint64_t(c.op), c.lo, c.hi);
  b.fill_random(97 + uint64_t(c.op), c.lo, c.hi);
  if (c.op == Div || c.op == Rem)
    for (size_t i = 0; i < kN; i += 7)
      b.set(i, 0); // integer division by zero gives an unspecified value, never a trap
  out.poison();
  elementwise_kernel().launch({(kN + kBlock - 1) / kBlock}, {}, out.arg(), a.arg(), b.arg(), kN,
                              int(c.op));
  // Float math on f16/bf16 is computed in f32 and rounded once; compare in the output's precision.
  double tol = tolerance_for(out.dtype(), c.float_only && t == DType::f32 ? 8 : 2);
  int bad = 0;
  for (size_t i = 0; i < size_t(kN) && bad < 5; ++i) {
    if (!tessel::dtype_is_float(t) && (c.op == Div || c.op == Rem) && b.get(i) == 0)
      continue;
    double want = reference(c, t, a.get(i), b.get(i));
    HostArray rounded(out.dtype(), 1);
    rounded.set(0, want);
    if (!tessel::dtype_is_float(t) && !comparison)
      rounded.set(0, double(int64_t(want))); // integer results wrap like the type
    double expect = rounded.get(0);
    if (!tessel::testing::close_enough(out.get(i), expect, tol)) {
      ADD_FAILURE() << c.name << " on " << tessel::dtype_name(t) << " at " << i << ": " << a.get(i)
                    << ", " << b.get(i) << " -> got " << out.get(i) << ", want " << expect;
      ++bad;
    }
  }
}

std::vector<ElementwiseParam> elementwise_params() {
  std::vector<ElementwiseParam> out;
  for (size_t i = 0; i < op_cases().size(); ++i) {
    const OpCase& c = op_cases()[i];
    for (DType t : {DType::f32, DType::f16, DType::bf16, DType::i32}) {
      bool is_float = tessel::dtype_is_float(t);
      if ((c.float_only && !is_float) || (c.int_only && is_float))
        continue;
      out.push_back({int(i), t});
    }
  }
  return out;
}

INSTANTIATE_TEST_SUITE_P(AllOps, Elementwise, ::testing::ValuesIn(elementwise_params()),
                         [](const ::testing::TestParamInfo<ElementwiseParam>& info) {
                           std::string n = op_cases()[size_t(info.param.op_index)].name;
                           std::string safe;
                           for (char ch : n)
                             safe += std::isalnum(static_cast<unsigned char>(ch))
                                         ? std::string(1, ch)
                                         : "op" + std::to_string(int(ch));
                           return safe + "_" + tessel::dtype_name(info.param.dtype);
                         });

// ---- casts --------------------------------------------------------------------------------------

class Casts : public ::testing::TestWithParam<std::pair<DType, DType>> {};

TEST_P(Casts, RoundLikeTheReference) {
  auto [from, to] = GetParam();
  static const tessel::Kernel k =
      tl::kernel("cast", [](tl::Ptr out, tl::Ptr in, tl::Int n, tl::Const<int> TO) {
        auto offs = tl::program_id(0) * kBlock + tl::arange(0, kBlock);
        auto mask = offs < n;
        tl::store(out + offs, tl::load(in + offs, mask).to(DType(int(TO))), mask);
      });
  HostArray in(from, kN), out(to, kN);
  in.fill_random(5, -100, 100);
  out.poison();
  k.launch({(kN + kBlock - 1) / kBlock}, {}, out.arg(), in.arg(), kN, int(to));
  for (size_t i = 0; i < size_t(kN); ++i) {
    double v = in.get(i);
    if (!tessel::dtype_is_float(to))
      v = std::trunc(v);
    HostArray expect(to, 1);
    expect.set(0, v);
    ASSERT_EQ(out.get(i), expect.get(0))
        << tessel::dtype_name(from) << " -> " << tessel::dtype_name(to) << " at " << i << " of "
        << in.get(i);
  }
}

INSTANTIATE_TEST_SUITE_P(
    Pairs, Casts,
    ::testing::Values(std::pair{DType::f32, DType::f16}, std::pair{DType::f32, DType::bf16},
                      std::pair{DType::f16, DType::f32}, std::pair{DType::bf16, DType::f32},
                      std::pair{DType::f32, DType::i32}, std::pair{DType::i32, DType::f32},
                      std::pair{DType::i32, DType::i8}, std::pair{DType::f16, DType::bf16},
                      std::pair{DType::f64, DType::f32}, std::pair{DType::i32, DType::i64}),
    [](const ::testing::TestParamInfo<std::pair<DType, DType>>& info) {
      return std::string(tessel::dtype_name(info.param.first)) + "_to_" +
             tessel::dtype_name(info.param.second);
    });

} // namespace
