// ops::matmul against an f64 reference written here, on the CPU backend and on the simulated
// device: f16, bf16, f32 and int8 operands; row- and column-major a and b; batched (with a shared
// operand) and split-K; each provided epilogue and a user epilogue; ragged shapes (1x1x1,
// 17x33x65, 128x256x64, 255x129x97) and decode shapes (M = 1..16); outputs poisoned with NaN.
// Then the kernel identity of user epilogues, bad input with its message, and PTX without spills.
#include "ops_test_util.h"

#include "gpu/gpu_test_util.h"
#include "jit/autotune_file.h"
#include "jit/autotune_search.h"
#include "runtime/sim_device.h"
#include "stdlib/matmul/config.h"
#include "stdlib/matmul/matmul_kernels.h"
#include "support/expect_error.h"
#include "support/scoped_env.h"
#include "tessel/codegen/transforms.h"
#include "tessel/ir/pass.h"
#include "tessel/lang/ops.h"
#include "tessel/lang/trace.h"
#include "tessel/ops.h"

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <functional>
#include <string>
#include <vector>

namespace tessel::testing {
namespace {

namespace tl = tessel::lang;
using ops::Epilogue;
using ops::EpilogueTile;
using ops::MatmulConfig;
using ops::MatmulOptions;

// A tensor of any dtype the op takes, with explicit strides, on the host or the simulated device;
// elements not covered by the view (and, until written, the view itself) hold NaN (-1 for ints).
class StridedTensor {
public:
  StridedTensor(DeviceKind dev, DType t, std::vector<int64_t> shape, std::vector<int64_t> strides)
      : dev_(dev), dtype_(t), shape_(std::move(shape)), strides_(std::move(strides)) {
    int64_t span = 1;
    for (size_t i = 0; i < shape_.size(); ++i)
      span += std::max<int64_t>(shape_[i] - 1, 0) * strides_[i];
    bytes_.assign(size_t(span) * dtype_bytes(t), 0);
    for (int64_t i = 0; i < span; ++i)
      put(i, std::nan(""));
    poison_ = bytes_;
    if (dev_ != DeviceKind::cpu)
      buf_.emplace(runtime::DeviceBuffer::allocate_on(dev_, bytes_.size()));
    sync_to_device();
  }
  // True when every element outside the view (the gaps of strides > extents) is still poison.
  bool outside_untouched() {
    if (buf_)
      buf_->copy_to_host(bytes_.data(), bytes_.size());
    std::vector<bool> inside(bytes_.size() / dtype_bytes(dtype_), false);
    for (int64_t i = 0; i < numel(); ++i)
      inside[size_t(offset(i))] = true;
    for (size_t i = 0; i < inside.size(); ++i)
      if (!inside[i] && std::memcmp(&bytes_[i * dtype_bytes(dtype_)],
                                    &poison_[i * dtype_bytes(dtype_)], dtype_bytes(dtype_)) != 0)
        return false;
    return true;
  }
  // Row-major strides of `shape`.
  static std::vector<int64_t> contiguous(const std::vector<int64_t>& shape) {
    std::vector<int64_t> s(shape.size(), 1);
    for (int i = int(shape.size()) - 2; i >= 0; --i)
      s[size_t(i)] = s[size_t(i) + 1] * shape[size_t(i) + 1];
    return s;
  }

  int64_t numel() const {
    int64_t n = 1;
    for (int64_t e : shape_)
      n *= e;
    return n;
  }
  // Values in row-major order of the shape.
  void set(const std::vector<double>& v) {
    for (int64_t i = 0; i < numel(); ++i)
      put(offset(i), v[size_t(i)]);
    sync_to_device();
  }
  std::vector<double> get() {
    if (buf_)
      buf_->copy_to_host(bytes_.data(), bytes_.size());
    std::vector<double> v(static_cast<size_t>(numel()));
    for (int64_t i = 0; i < numel(); ++i)
      v[size_t(i)] = at(offset(i));
    return v;
  }
  TensorView view() {
    TensorView v;
    v.data = buf_ ? buf_->data() : static_cast<void*>(bytes_.data());
    v.dtype = dtype_;
    v.device = dev_;
    v.rank = int(shape_.size());
    for (int i = 0; i < v.rank; ++i) {
      v.shape[size_t(i)] = shape_[size_t(i)];
      v.strides[size_t(i)] = strides_[size_t(i)];
    }
    return v;
  }

private:
  int64_t offset(int64_t linear) const {
    int64_t off = 0;
    for (int i = int(shape_.size()) - 1; i >= 0; --i) {
      off += (linear % shape_[size_t(i)]) * strides_[size_t(i)];
      linear /= shape_[size_t(i)];
    }
    return off;
  }
  void put(int64_t i, double v) {
    unsigned char* p = &bytes_[size_t(i) * dtype_bytes(dtype_)];
    if (dtype_ == DType::i8) {
      *reinterpret_cast<int8_t*>(p) = std::isnan(v) ? int8_t(-1) : int8_t(v);
      return;
    }
    encode(dtype_, v, p);
  }
  double at(int64_t i) const {
    const unsigned char* p = &bytes_[size_t(i) * dtype_bytes(dtype_)];
    return dtype_ == DType::i8 ? double(*reinterpret_cast<const int8_t*>(p)) : decode(dtype_, p);
  }
  void sync_to_device() {
    if (buf_)
      buf_->copy_from_host(bytes_.data(), bytes_.size());
  }

  DeviceKind dev_;
  DType dtype_;
  std::vector<int64_t> shape_, strides_;
  std::vector<unsigned char> bytes_, poison_;
  std::optional<runtime::DeviceBuffer> buf_;
};

// Operand values: small integers for int8 (exact products), else uniform in [-1, 1] rounded to
// the dtype, as the kernel sees them.
std::vector<double> operand_values(DType t, size_t n, uint32_t seed) {
  if (t != DType::i8)
    return rounded(random_values(n, seed, -1, 1), t);
  std::mt19937 gen(seed);
  std::uniform_int_distribution<int> d(-8, 8);
  std::vector<double> v(n);
  for (double& x : v)
    x = d(gen);
  return v;
}

double gelu_erf(double x) { return 0.5 * x * (1 + std::erf(x / std::sqrt(2.0))); }
double gelu_tanh(double x) {
  return 0.5 * x * (1 + std::tanh(std::sqrt(2 / M_PI) * (x + 0.044715 * x * x * x)));
}

struct Layout {
  bool a_col = false, b_col = false; // column-major (the first matrix dim has stride 1)
  bool c_col = false;                // c column-major too
  int64_t spread = 1;  // every stride times this: no unit stride at all (the gather path)
  int64_t row_pad = 0; // row-major rows padded to a multiple of this many elements (TMA's rule)
};

struct Case {
  int64_t m, n, k;
  int64_t batch = 0;     // 0: rank-2 operands
  bool shared_b = false; // batched a and c, rank-2 b (batch stride 0)
  int split_k = 1;
  std::optional<MatmulConfig> config = std::nullopt;
  bool autotune = false; // MatmulOptions::autotune
};

struct MatmulRun {
  DeviceKind dev;
  DType t;
  Case c;
  Layout l = {};
  DType c_dtype = DType::f32; // f32 here means "the operands' default" unless set_c
  bool set_c = false;
};

DType c_dtype_of(const MatmulRun& r) {
  if (r.set_c)
    return r.c_dtype;
  return r.t == DType::i8 ? DType::i32 : r.t;
}

std::vector<int64_t> c_shape_of(const Case& c) {
  std::vector<int64_t> shape{c.m, c.n};
  if (c.batch > 0)
    shape.insert(shape.begin(), c.batch);
  return shape;
}

// An epilogue chain under test and its f64 reference, element by element at (batch, i, j).
struct ChainUnderTest {
  std::string name;
  std::vector<Epilogue> epilogues;
  std::vector<std::function<double(double, int64_t, int64_t, int64_t)>> ref;
  std::vector<std::unique_ptr<StridedTensor>> keep; // operands, alive until the check ends
  std::vector<double> c_old;                        // c's contents before the call, when read
};
using ChainMaker = std::function<void(const MatmulRun&, ChainUnderTest&)>;

// A [shape] operand of the epilogue on the run's device, random values rounded to `t`.
const std::vector<double>& add_operand(const MatmulRun& r, ChainUnderTest& ch, DType t,
                                       std::vector<int64_t> shape, uint32_t seed,
                                       std::vector<double>& values) {
  ch.keep.push_back(
      std::make_unique<StridedTensor>(r.dev, t, shape, StridedTensor::contiguous(shape)));
  values = rounded(random_values(size_t(ch.keep.back()->numel()), seed, -2, 2), t);
  ch.keep.back()->set(values);
  return values;
}

// Strides of a [batch?, r, c] operand in the given majority.
std::vector<int64_t> strides_for(const std::vector<int64_t>& shape, bool col_major,
                                 int64_t spread = 1, int64_t row_pad = 0) {
  std::vector<int64_t> s = StridedTensor::contiguous(shape);
  if (row_pad > 0 && !col_major) { // the rows padded; a batch's matrices follow one another
    const size_t r = shape.size() - 2;
    s[r] = (shape[r + 1] + row_pad - 1) / row_pad * row_pad;
    if (r == 1)
      s[0] = shape[1] * s[1];
  }
  if (col_major) {
    size_t r = shape.size() - 2;
    s[r] = 1;
    s[r + 1] = shape[r];
  }
  for (int64_t& x : s)
    x *= spread;
  return s;
}

std::string case_str(const MatmulRun& r, const std::string& epi) {
  const Case& c = r.c;
  return fmt::format("{} {} -> {} {}x{}x{} batch {}{} split_k {} a {} b {} c {} spread {} [{}]",
                     device_kind_name(r.dev), dtype_name(r.t), dtype_name(c_dtype_of(r)), c.m, c.n,
                     c.k, c.batch, c.shared_b ? " (shared b)" : "", c.split_k,
                     r.l.a_col ? "col" : "row", r.l.b_col ? "col" : "row",
                     r.l.c_col ? "col" : "row", r.l.spread, epi);
}

// Tolerance of one element: f32 accumulation of K products (f16/bf16 operands are exact in f32)
// bounded by 1e-5 of sum |a b| (K * 2^-24 < 1e-5 for these K), the epilogue's f32 math by 1e-5 of
// its magnitude, then one rounding to c's dtype. int8 into i32 is exact.
double output_rounding(DType c) {
  return c == DType::f16 ? 1e-3 : c == DType::bf16 ? 8e-3 : c == DType::i32 ? 0 : 2e-6;
}

// c = chain(a @ b) on the run's device, against the f64 reference.
void check(const MatmulRun& r, const ChainMaker& make = {}) {
  const Case& c = r.c;
  std::vector<int64_t> a_shape{c.m, c.k}, b_shape{c.k, c.n};
  if (c.batch > 0) {
    a_shape.insert(a_shape.begin(), c.batch);
    if (!c.shared_b)
      b_shape.insert(b_shape.begin(), c.batch);
  }
  StridedTensor a(r.dev, r.t, a_shape, strides_for(a_shape, r.l.a_col, r.l.spread, r.l.row_pad));
  StridedTensor b(r.dev, r.t, b_shape, strides_for(b_shape, r.l.b_col, r.l.spread, r.l.row_pad));
  auto av = operand_values(r.t, size_t(a.numel()), uint32_t(c.m * 131 + c.k));
  auto bv = operand_values(r.t, size_t(b.numel()), uint32_t(c.n * 7 + c.k + 1));
  a.set(av);
  b.set(bv);
  std::vector<int64_t> c_shape = c_shape_of(c);
  StridedTensor out(r.dev, c_dtype_of(r), c_shape, strides_for(c_shape, r.l.c_col, r.l.spread));
  ChainUnderTest ch{"none", {}, {}, {}, {}};
  if (make)
    make(r, ch);
  if (!ch.c_old.empty())
    out.set(ch.c_old);
  int64_t batches = std::max<int64_t>(c.batch, 1);
  std::optional<StridedTensor> ws;
  MatmulOptions o{
      .epilogue = ch.epilogues, .split_k = c.split_k, .config = c.config, .autotune = c.autotune};
  if (c.split_k > 1) {
    DType acc = r.t == DType::i8 ? DType::i32 : DType::f32;
    ws.emplace(r.dev, acc,
               std::vector<int64_t>{ops::matmul_workspace_elements(out.view(), c.split_k)},
               std::vector<int64_t>{1});
    o.workspace = ws->view();
  }
  ops::matmul(a.view(), b.view(), out.view(), o);
  std::vector<double> got = out.get();
  std::string what = case_str(r, ch.name);
  EXPECT_TRUE(out.outside_untouched()) << what << ": c's gaps were written";
  for (int64_t bi = 0; bi < batches; ++bi)
    for (int64_t i = 0; i < c.m; ++i)
      for (int64_t j = 0; j < c.n; ++j) {
        double s = 0, mag = 0;
        for (int64_t k = 0; k < c.k; ++k) {
          double x = av[size_t((c.batch ? bi * c.m * c.k : 0) + i * c.k + k)];
          double y = bv[size_t((c.batch && !c.shared_b ? bi * c.k * c.n : 0) + k * c.n + j)];
          s += x * y;
          mag += std::fabs(x * y);
        }
        for (const auto& f : ch.ref)
          s = f(s, bi, i, j);
        // A float epilogue result stored to i32 truncates toward zero (ir.h); f32 rounding of the
        // epilogue can move it across an integer, hence the tolerance of 1 there.
        bool to_int = out.view().dtype == DType::i32 && !ch.ref.empty();
        if (to_int)
          s = std::trunc(s);
        double tol = r.t == DType::i8 && ch.ref.empty() ? 0
                     : to_int                           ? 1
                                                        : 1e-5 * (mag + std::fabs(s) + 1) +
                                    output_rounding(out.view().dtype) * std::fabs(s);
        size_t at = size_t(bi * c.m * c.n + i * c.n + j);
        ASSERT_LE(std::fabs(got[at] - s), tol) << what << ": element (" << bi << ", " << i << ", "
                                               << j << ") is " << got[at] << ", expected " << s;
      }
}

// ---- the epilogues under test -------------------------------------------------------------------

using RefFn = std::function<double(double)>;

ChainMaker activation(const char* name, Epilogue (*make)(), RefFn f) {
  return [=](const MatmulRun&, ChainUnderTest& ch) {
    ch.name = name;
    ch.epilogues.push_back(make());
    ch.ref.push_back([f](double x, int64_t, int64_t, int64_t) { return f(x); });
  };
}

void add_bias(const MatmulRun& r, ChainUnderTest& ch) {
  std::vector<double> v;
  add_operand(r, ch, DType::f32, {r.c.n}, 5, v);
  ch.epilogues.push_back(ops::bias(ch.keep.back()->view()));
  ch.ref.push_back([v](double x, int64_t, int64_t, int64_t j) { return x + v[size_t(j)]; });
}

void add_row_bias(const MatmulRun& r, ChainUnderTest& ch) {
  std::vector<double> v;
  add_operand(r, ch, DType::bf16, {r.c.m}, 6, v);
  ch.epilogues.push_back(ops::row_bias(ch.keep.back()->view()));
  ch.ref.push_back([v](double x, int64_t, int64_t i, int64_t) { return x + v[size_t(i)]; });
}

void add_residual(const MatmulRun& r, ChainUnderTest& ch) {
  std::vector<double> v;
  add_operand(r, ch, c_dtype_of(r) == DType::i32 ? DType::f32 : c_dtype_of(r), c_shape_of(r.c), 7,
              v);
  ch.epilogues.push_back(ops::residual(ch.keep.back()->view()));
  int64_t m = r.c.m, n = r.c.n;
  ch.ref.push_back([v, m, n](double x, int64_t b, int64_t i, int64_t j) {
    return x + v[size_t(b * m * n + i * n + j)];
  });
}

const std::vector<std::pair<std::string, ChainMaker>>& epilogue_cases() {
  static const std::vector<std::pair<std::string, ChainMaker>> cases = {
      {"bias",
       [](const MatmulRun& r, ChainUnderTest& ch) {
         ch.name = "bias";
         add_bias(r, ch);
       }},
      {"row_bias",
       [](const MatmulRun& r, ChainUnderTest& ch) {
         ch.name = "row_bias";
         add_row_bias(r, ch);
       }},
      {"relu", activation("relu", ops::relu, [](double x) { return std::max(x, 0.0); })},
      {"gelu", activation(
                   "gelu", [] { return ops::gelu(); }, gelu_erf)},
      {"gelu_tanh", activation(
                        "gelu_tanh", [] { return ops::gelu(ops::GeluApprox::tanh); }, gelu_tanh)},
      {"silu", activation("silu", ops::silu, [](double x) { return x / (1 + std::exp(-x)); })},
      {"residual",
       [](const MatmulRun& r, ChainUnderTest& ch) {
         ch.name = "residual";
         add_residual(r, ch);
       }},
      {"scale",
       [](const MatmulRun&, ChainUnderTest& ch) {
         ch.name = "scale";
         ch.epilogues.push_back(ops::scale(0.5f));
         ch.ref.push_back([](double x, int64_t, int64_t, int64_t) { return 0.5 * x; });
       }},
      {"scale_c",
       [](const MatmulRun& r, ChainUnderTest& ch) {
         ch.name = "scale(alpha, beta)";
         int64_t numel = std::max<int64_t>(r.c.batch, 1) * r.c.m * r.c.n;
         ch.c_old = rounded(random_values(size_t(numel), 9, -2, 2), c_dtype_of(r));
         if (c_dtype_of(r) == DType::i32)
           for (double& x : ch.c_old)
             x = std::round(x);
         ch.epilogues.push_back(ops::scale(1.5f, -0.25f));
         int64_t m = r.c.m, n = r.c.n;
         ch.ref.push_back([old = ch.c_old, m, n](double x, int64_t b, int64_t i, int64_t j) {
           return 1.5 * x - 0.25 * old[size_t(b * m * n + i * n + j)];
         });
       }},
      {"bias+gelu+residual",
       [](const MatmulRun& r, ChainUnderTest& ch) {
         ch.name = "bias, gelu_tanh, residual";
         add_bias(r, ch);
         activation(
             "", [] { return ops::gelu(ops::GeluApprox::tanh); }, gelu_tanh)(r, ch);
         add_residual(r, ch);
         ch.name = "bias, gelu_tanh, residual";
       }},
  };
  return cases;
}

// A user epilogue: a leaky ReLU whose slope is a scalar, times a per-column gate operand.
void add_user(const MatmulRun& r, ChainUnderTest& ch) {
  ch.name = "user leaky_gate";
  std::vector<double> g;
  add_operand(r, ch, DType::f32, {1, r.c.n}, 11, g);
  ch.epilogues.push_back(ops::epilogue("leaky_gate",
                                       [](const EpilogueTile& t) {
                                         auto x = t.acc.to(tl::f32);
                                         return tl::where(x > 0.0, x, x * t.scalars[0]) *
                                                t.operands[0];
                                       },
                                       {ch.keep.back()->view()}, {0.125f}));
  ch.ref.push_back([g](double x, int64_t, int64_t, int64_t j) {
    return (x > 0 ? x : 0.125 * x) * g[size_t(j)];
  });
}

const std::vector<Case> kShapes = {{1, 1, 1}, {17, 33, 65}, {128, 256, 64}, {255, 129, 97}};
const std::vector<DType> kDtypes = {DType::f32, DType::f16, DType::bf16, DType::i8};

// ---- CPU backend --------------------------------------------------------------------------------

TEST(Matmul, DtypesShapesAndLayoutsCpu) {
  for (DType t : kDtypes)
    for (const Case& c : kShapes)
      for (Layout l : {Layout{false, false}, Layout{true, true}})
        check({DeviceKind::cpu, t, c, l});
  for (DType t : kDtypes)
    for (Layout l : {Layout{true, false}, Layout{false, true}})
      check({DeviceKind::cpu, t, Case{17, 33, 65}, l});
}

// No unit stride in a or b (every element two apart: gathers), a column-major c, and both with a
// batch and an epilogue that reads c.
TEST(Matmul, GeneralStridesCpu) {
  for (DType t : {DType::f32, DType::bf16})
    for (Layout l : {Layout{false, false, false, 2}, Layout{true, false, true, 2},
                     Layout{false, true, true, 1}})
      check({DeviceKind::cpu, t, Case{17, 33, 65}, l});
  check({DeviceKind::cpu, DType::f32, Case{17, 33, 65, 2}, Layout{true, true, true, 3}},
        epilogue_cases()[8].second);
}

TEST(Matmul, DecodeShapesCpu) {
  for (int64_t m = 1; m <= 16; ++m)
    check({DeviceKind::cpu, DType::f32, Case{m, 96, 200}});
  for (int64_t m : {1, 7, 16})
    check({DeviceKind::cpu, DType::bf16, Case{m, 96, 200}});
}

TEST(Matmul, BatchedCpu) {
  for (DType t : kDtypes) {
    check({DeviceKind::cpu, t, Case{17, 33, 65, /*batch=*/3}});
    check({DeviceKind::cpu, t, Case{17, 33, 65, /*batch=*/2, /*shared_b=*/true}, {true, false}});
  }
}

TEST(Matmul, SplitKCpu) {
  for (DType t : kDtypes)
    for (int split : {2, 3})
      check({DeviceKind::cpu, t, Case{17, 33, 65, 0, false, split}});
  check({DeviceKind::cpu, DType::f32, Case{255, 129, 97, 2, false, 4}, {true, true}});
  check({DeviceKind::cpu, DType::bf16, Case{5, 33, 300, 0, false, 8}},
        epilogue_cases().back().second);
}

// Every provided epilogue on f32; on bf16 and int8 (i32 accumulator, float epilogue, i32 c) and
// batched f16 those that read tensors or c, one activation and the chain (each case is a kernel
// of its own to compile).
TEST(Matmul, EpiloguesCpu) {
  const auto& cases = epilogue_cases();
  for (const auto& [name, make] : cases)
    check({DeviceKind::cpu, DType::f32, Case{17, 33, 65}}, make);
  for (DType t : {DType::bf16, DType::i8})
    for (size_t i : {0, 1, 3, 8, 9})
      check({DeviceKind::cpu, t, Case{17, 33, 65}}, cases[i].second);
  for (size_t i : {0, 6, 8, 9})
    check({DeviceKind::cpu, DType::f16, Case{5, 40, 24, /*batch=*/2}}, cases[i].second);
  check({DeviceKind::cpu, DType::f32, Case{17, 33, 65, 0, false, 3}}, cases[8].second);
}

TEST(Matmul, OutputCastCpu) {
  for (DType c : {DType::f32, DType::f16, DType::bf16}) {
    MatmulRun r{DeviceKind::cpu, DType::bf16, Case{17, 33, 65}};
    r.c_dtype = c;
    r.set_c = true;
    check(r, epilogue_cases()[0].second);
    r.t = DType::i8; // int8 operands dequantised by the scale epilogue into a float c
    check(r, epilogue_cases()[7].second);
  }
}

TEST(Matmul, UserEpilogueCpu) {
  for (DType t : kDtypes)
    check({DeviceKind::cpu, t, Case{17, 33, 65}}, add_user);
  check({DeviceKind::cpu, DType::f32, Case{17, 33, 65, 2, false, 2}}, add_user);
}

TEST(Matmul, ConfigOverrideCpu) {
  for (MatmulConfig cfg : {MatmulConfig{1, 1, 1, 1, 1, 1}, MatmulConfig{16, 32, 8, 2, 4, 2},
                           MatmulConfig{128, 16, 128, 1, 4, 2}})
    check({DeviceKind::cpu, DType::f32, Case{37, 45, 70, 0, false, 1, cfg}});
}

// An f32 value rounded to tf32 as mma.sync's operands are: 10 mantissa bits, nearest, ties away
// from zero (written here from the PTX ISA's cvt.rna.tf32.f32, independently of the backends).
double to_tf32(double v) {
  float f = float(v);
  uint32_t bits;
  std::memcpy(&bits, &f, 4);
  bits = (bits + 0x1000u) & 0xffffe000u; // add half an ulp of tf32 to the magnitude, truncate
  std::memcpy(&f, &bits, 4);
  return f;
}

// MatmulPrecision reaches tl::dot: tf32 rounds the operands (on the CPU exactly as the GPU does:
// the f64 product of the rounded operands is met to f32 summation error, while the ieee result
// is off by the rounding), tf32x3 is near f32, on the CPU and on the simulated device.
void check_precision(DeviceKind dev) {
  const int64_t m = 17, n = 33, k = 65;
  std::vector<double> av = random_values(size_t(m * k), 1), bv = random_values(size_t(k * n), 2);
  StridedTensor a(dev, DType::f32, {m, k}, {k, 1}), b(dev, DType::f32, {k, n}, {n, 1});
  a.set(av);
  b.set(bv);
  auto run = [&](ops::MatmulPrecision precision) {
    StridedTensor c(dev, DType::f32, {m, n}, {n, 1});
    ops::matmul(a.view(), b.view(), c.view(), {.precision = precision});
    return c.get();
  };
  std::vector<double> ieee = run(ops::MatmulPrecision::ieee),
                      tf32 = run(ops::MatmulPrecision::tf32),
                      tf32x3 = run(ops::MatmulPrecision::tf32x3);
  // Bounds in units of sum |a_iq b_qj| (a tf32 x tf32 product is exact in f32, so what is left is
  // f32 summation: at most (k - 1) 2^-24 of it, plus tf32x3's dropped lo x lo terms, 2^-22).
  double over_tf32 = 0, over_x3 = 0, ieee_off = 0;
  for (int64_t i = 0; i < m; ++i)
    for (int64_t j = 0; j < n; ++j) {
      double exact = 0, rounded = 0, magnitude = 0;
      for (int64_t q = 0; q < k; ++q) {
        double x = float(av[size_t(i * k + q)]), y = float(bv[size_t(q * n + j)]);
        exact += x * y;
        magnitude += std::abs(x * y);
        rounded += to_tf32(x) * to_tf32(y);
      }
      size_t e = size_t(i * n + j);
      over_tf32 = std::max(over_tf32, std::abs(tf32[e] - rounded) / (4e-6 * magnitude));
      over_x3 = std::max(over_x3, std::abs(tf32x3[e] - exact) / (8e-6 * magnitude));
      ieee_off = std::max(ieee_off, std::abs(ieee[e] - rounded));
    }
  EXPECT_LE(over_tf32, 1.0) << "the tf32 result is not the product of tf32-rounded operands";
  EXPECT_LE(over_x3, 1.0) << "tf32x3 is not near f32";
  EXPECT_GT(ieee_off, 1e-3) << "the ieee result looks tf32-rounded";
}

TEST(Matmul, PrecisionReachesTheDotOnTheCpu) { check_precision(DeviceKind::cpu); }

TEST(Matmul, PrecisionReachesTheDotOnTheSimulatedDevice) {
  TESSEL_REQUIRE_SIM_DEVICE();
  check_precision(DeviceKind::sim);
}

// M = 0 or N = 0 writes nothing (the poison stays); K = 0 is c = epilogue(0).
TEST(Matmul, ZeroSizes) {
  for (auto [m, n] : {std::pair<int64_t, int64_t>{0, 5}, {4, 0}})
    check({DeviceKind::cpu, DType::f32, Case{m, n, 7}});
  check({DeviceKind::cpu, DType::f32, Case{4, 5, 0}});
  check({DeviceKind::cpu, DType::bf16, Case{4, 5, 0}}, epilogue_cases()[0].second);
  check({DeviceKind::cpu, DType::f32, Case{4, 5, 0, 0, false, 2}}, epilogue_cases()[0].second);
}

// Split-K sums its partials in a fixed order: two runs give the same bits.
TEST(Matmul, SplitKIsDeterministic) {
  const int64_t m = 33, n = 40, k = 1000;
  auto run = [&] {
    StridedTensor a(DeviceKind::cpu, DType::f32, {m, k}, {k, 1}),
        b(DeviceKind::cpu, DType::f32, {k, n}, {n, 1});
    a.set(random_values(size_t(m * k), 1));
    b.set(random_values(size_t(k * n), 2));
    StridedTensor c(DeviceKind::cpu, DType::f32, {m, n}, {n, 1}),
        w(DeviceKind::cpu, DType::f32, {8 * m * n}, {1});
    ops::matmul(a.view(), b.view(), c.view(), {.split_k = 8, .workspace = w.view()});
    return c.get();
  };
  auto first = run();
  EXPECT_EQ(first, run());
}

// A user epilogue is part of the kernel's identity: a different function under the same name
// gets its own kernel (and the right answer); the same function again reuses the kernel, from
// the same Epilogue object without tracing anything.
TEST(Matmul, UserEpilogueIdentity) {
  const int64_t m = 9, n = 12, k = 5;
  StridedTensor a(DeviceKind::cpu, DType::f32, {m, k}, {k, 1}),
      b(DeviceKind::cpu, DType::f32, {k, n}, {n, 1});
  auto av = operand_values(DType::f32, size_t(m * k), 3),
       bv = operand_values(DType::f32, size_t(k * n), 4);
  a.set(av);
  b.set(bv);
  auto product = [&](int64_t i, int64_t j) {
    double s = 0;
    for (int64_t q = 0; q < k; ++q)
      s += av[size_t(i * k + q)] * bv[size_t(q * n + j)];
    return s;
  };
  auto run = [&](const Epilogue& e) {
    StridedTensor c(DeviceKind::cpu, DType::f32, {m, n}, {n, 1});
    ops::matmul(a.view(), b.view(), c.view(), {.epilogue = {e}});
    return c.get();
  };
  auto twice_fn = [](const EpilogueTile& t) { return t.acc * 2.0f; };
  auto twice = ops::epilogue("mine", twice_fn);
  auto square = ops::epilogue("mine", [](const EpilogueTile& t) { return t.acc * t.acc; });
  auto got_twice = run(twice), got_square = run(square);
  for (int64_t i = 0; i < m; ++i)
    for (int64_t j = 0; j < n; ++j) {
      double p = product(i, j);
      ASSERT_NEAR(got_twice[size_t(i * n + j)], 2 * p, 1e-5 * (std::fabs(p) + 1));
      ASSERT_NEAR(got_square[size_t(i * n + j)], p * p, 1e-5 * (p * p + 1));
    }
  // A function whose trace depends on a captured value: the value is in its IR, so a different
  // value is a different kernel too.
  for (float f : {3.0f, -1.0f}) {
    auto got = run(ops::epilogue("scaled", [f](const EpilogueTile& t) { return t.acc * f; }));
    ASSERT_NEAR(got[5], f * product(0, 5), 1e-5 * (std::fabs(product(0, 5)) + 1)) << f;
  }
  // The same function again: its kernel is found, nothing is traced again.
  const auto& kernels = ops::detail::matmul_kernels(
      "user:mine\n" +
          ops::detail::step_ir(
              {"matmul", std::source_location::current()},
              [&] {
                int o = 0, s = 0;
                return ops::detail::chain_step(twice, o, s);
              }(),
              DType::f32, ops::choose_config(DeviceKind::cpu, m, n, k, DType::f32).block_m,
              ops::choose_config(DeviceKind::cpu, m, n, k, DType::f32).block_n) +
          "\n|\n",
      {});
  int64_t traces = kernels.tile.stats().traces;
  EXPECT_EQ(traces, 1);
  run(twice);
  EXPECT_EQ(kernels.tile.stats().traces, traces);
  // A new Epilogue object with the same function probes again and finds the same kernels.
  run(ops::epilogue("mine", twice_fn));
  EXPECT_EQ(kernels.tile.stats().traces, traces);
}

// ---- the simulated device -----------------------------------------------------------------------

// Memcheck and racecheck are on for every launch there (findings are errors).
TEST(Matmul, SimulatedDeviceDtypesAndLayouts) {
  TESSEL_REQUIRE_SIM_DEVICE();
  for (DType t : kDtypes)
    for (const Case& c : {Case{1, 1, 1}, Case{17, 33, 65}, Case{255, 129, 97}})
      for (Layout l : {Layout{false, false}, Layout{true, true}})
        check({DeviceKind::sim, t, c, l});
  check({DeviceKind::sim, DType::f16, Case{128, 256, 64}});
  check({DeviceKind::sim, DType::bf16, Case{17, 33, 65}, {true, false}});
  check({DeviceKind::sim, DType::f32, Case{17, 33, 65}, Layout{false, true, true, 2}});
}

// The tensor-core tiles on the simulated device, ragged on every side: the default for f16 at
// 255 x 129 (128 x 128 x 32, 8 warps, 3 stages; SimulatedDeviceDtypesAndLayouts runs it too), and
// 128 x 64 / 64 x 128 at 4 warps with a 4-stage ring.
TEST(Matmul, SimulatedDeviceTensorCoreTiles) {
  TESSEL_REQUIRE_SIM_DEVICE();
  EXPECT_EQ(ops::choose_config(DeviceKind::sim, 255, 129, 97, DType::f16).block_m, 128);
  using C = MatmulConfig;
  check({DeviceKind::sim, DType::f16, Case{255, 129, 97, 0, false, 1, C{128, 128, 32, 8, 8, 3}}});
  check({DeviceKind::sim, DType::bf16, Case{200, 70, 130, 0, false, 1, C{128, 64, 32, 8, 4, 4}}});
  check({DeviceKind::sim, DType::f16, Case{70, 200, 130, 0, false, 1, C{64, 128, 32, 8, 4, 4}}});
}

// The simulated device running sm_90a PTX (TESSEL_SIM_TARGET; this process only): the f16 and
// bf16 tensor-core tiles then run on wgmma (MatmulPtx.Sm90aTensorCoreTilesOnWgmma checks the
// PTX), ragged on every side, memcheck and racecheck on, against the f64 reference.
TEST(Matmul, SimulatedSm90aDeviceRunsWgmma) {
  TESSEL_REQUIRE_SIM_DEVICE();
  ScopedEnv target{"TESSEL_SIM_TARGET", "sm_90a"};
  using C = MatmulConfig;
  check({DeviceKind::sim, DType::f16, Case{255, 129, 97, 0, false, 1, C{128, 128, 32, 8, 8, 3}}});
  check({DeviceKind::sim, DType::bf16, Case{200, 70, 130, 0, false, 1, C{128, 64, 32, 8, 4, 4}}});
  check({DeviceKind::sim, DType::f16, Case{70, 200, 130, 0, false, 1, C{64, 128, 32, 8, 4, 4}}});
  check({DeviceKind::sim, DType::bf16, Case{17, 33, 65}});
  check({DeviceKind::sim, DType::f16, Case{128, 256, 64}});
}

// The in-flight form on the simulated sm_90a device (MatmulPtx.Sm90aRaggedTilesKeepOneWgmmaGroup
// InFlight checks its PTX for this specialization: M, N, K ragged, row strides multiples of 16):
// 3 and 4 stages, one and two warpgroups, 3 to 7 K tiles with a ragged last one. The simulator
// reports an accumulator read or an operand slot refilled while the wgmma using it is in flight,
// plus memcheck and racecheck; exact against the f64 reference, output poisoned.
TEST(Matmul, SimulatedSm90aDeviceKeepsOneWgmmaGroupInFlight) {
  TESSEL_REQUIRE_SIM_DEVICE();
  ScopedEnv target{"TESSEL_SIM_TARGET", "sm_90a"};
  ScopedEnv dump{"TESSEL_DUMP", "pipeline"};
  const auto& kernels = ops::detail::matmul_kernels("", {});
  using C = MatmulConfig;
  // Row-major rows of multiples of 16 bytes take the TMA form (its ring keeps the group in flight
  // too; since the ring takes 128-byte column blocks, every one of these tiles); a column-major b
  // keeps the cp.async form, whose in-flight group is the point here.
  const Layout b_col{.b_col = true};
  for (const MatmulRun& r :
       {MatmulRun{DeviceKind::sim, DType::f16,
                  Case{200, 80, 144, 0, false, 1, C{128, 128, 32, 8, 8, 3}}, b_col},
        MatmulRun{DeviceKind::sim, DType::f16,
                  Case{72, 144, 208, 0, false, 1, C{64, 128, 32, 8, 4, 4}}, b_col},
        MatmulRun{DeviceKind::sim, DType::f16,
                  Case{200, 80, 144, 0, false, 1, C{128, 128, 32, 8, 8, 3}}},
        MatmulRun{DeviceKind::sim, DType::bf16,
                  Case{136, 208, 80, 0, false, 1, C{128, 64, 32, 8, 4, 3}}},
        MatmulRun{DeviceKind::sim, DType::f16,
                  Case{72, 144, 208, 0, false, 1, C{64, 128, 32, 8, 4, 4}}}}) {
    const bool tma = !r.l.b_col;
    const Kernel& k = tma ? kernels.tile_tma : kernels.tile;
    const int64_t launches = k.stats().launches;
    ::testing::internal::CaptureStderr();
    check(r);
    const std::string log = ::testing::internal::GetCapturedStderr();
    EXPECT_EQ(k.stats().launches, launches + 1) << (tma ? "the TMA form" : "the cp.async form");
    // Compiled in this run (not found in the disk cache of an earlier one): the pipeliner said so.
    if (k.stats().last_source == KernelSource::compiled) {
      const std::string want = tma ? fmt::format("TMA ring of {} stages", r.c.config->num_stages)
                                   : std::string("one wgmma group stays in flight");
      EXPECT_NE(log.find(want), std::string::npos) << log;
    }
  }
}

// tf32 and 8-bit wgmma (m64nNk8, m64nNk32) on the simulated sm_90a device. The shapes have N and
// K multiples of 16 and M not, a specialization no sm_80 test of this binary compiles: the
// in-memory specialization key holds no simulated target, so an sm_80 kernel of the same
// signature compiled earlier in the process would be reused here. wgmma reads these
// operands K-major only: a b stored row-major (along N) is converted to K-contiguous registers
// and stored into a K-major buffer (prepare-dot-operands' "transposed"), a column-major b streams
// through the cp.async ring as it is. int8 (exact, i32) and fp8 (f32 c) go through check(): ragged
// on every side, memcheck and racecheck on, output poisoned, f64 reference; the simulator's bank
// profile counts no conflicts. MatmulPtx.Sm90aTf32And8BitTilesOnWgmma checks the PTX.
TEST(Matmul, SimulatedSm90aDeviceRuns8BitWgmma) {
  TESSEL_REQUIRE_SIM_DEVICE();
  ScopedEnv target{"TESSEL_SIM_TARGET", "sm_90a"};
  using C = MatmulConfig;
  const C big{128, 128, 64, 8, 8, 3};
  for (DType t : {DType::i8, DType::f8e4m3, DType::f8e5m2})
    for (bool b_col : {false, true}) {
      const bool fp8 = t != DType::i8;
      for (const Case& c :
           {Case{200, 80, 144, 0, false, 1, big}, Case{70, 144, 208, 0, false, 1, big}}) {
        SimBankConflicts banks;
        check({DeviceKind::sim, t, c, Layout{false, b_col}, DType::f32, /*set_c=*/fp8});
        banks.expect_none(fmt::format("sm_90a {} {}x{}x{} b {}", dtype_name(t), c.m, c.n, c.k,
                                      b_col ? "col" : "row"));
      }
      // The default config (64 x 64 x 64, 8 warps: two warpgroups along N) as well, without the
      // bank profile: at this specialization the 8-bit ops_matmul has 768 conflicting wavefronts
      // (1536 with b row-major) in its prologue's mask conversions (st.shared.u32 of packed i1
      // bytes), on sm_80's mma.sync path exactly as here -- not in the wgmma operands.
      check({DeviceKind::sim, t, Case{200, 80, 144}, Layout{false, b_col}, DType::f32, fp8});
    }
}

// An f32 value as the tensor cores read it from shared memory for tf32: the top 19 bits, the low
// 13 mantissa bits ignored (truncation toward zero). mma.sync's operands are rounded first
// (to_tf32); wgmma reads the staged or streamed f32 words as they are.
double truncated_tf32(double v) {
  float f = float(v);
  uint32_t bits;
  std::memcpy(&bits, &f, 4);
  bits &= 0xffffe000u;
  std::memcpy(&f, &bits, 4);
  return f;
}

// precision = tf32 on the simulated sm_90a device runs m64nNk8 tf32 wgmma: the result is the f64
// product of the truncated operands up to f32 summation (bounded by 1e-5 of sum |a b|, K <= 200),
// and not the product of rounded ones (which the mma.sync path computes; a stale sm_80 kernel
// fails here), ragged, b row- and column-major, no bank conflicts.
TEST(Matmul, SimulatedSm90aDeviceRunsTf32Wgmma) {
  TESSEL_REQUIRE_SIM_DEVICE();
  ScopedEnv target{"TESSEL_SIM_TARGET", "sm_90a"};
  for (bool b_col : {false, true})
    for (const Case& c : {Case{200, 80, 144}, Case{17, 48, 80}}) {
      std::vector<double> av = random_values(size_t(c.m * c.k), 5),
                          bv = random_values(size_t(c.k * c.n), 6);
      StridedTensor a(DeviceKind::sim, DType::f32, {c.m, c.k}, {c.k, 1});
      StridedTensor b(DeviceKind::sim, DType::f32, {c.k, c.n},
                      b_col ? std::vector<int64_t>{1, c.k} : std::vector<int64_t>{c.n, 1});
      StridedTensor out(DeviceKind::sim, DType::f32, {c.m, c.n}, {c.n, 1});
      a.set(av);
      b.set(bv);
      SimBankConflicts banks;
      ops::matmul(a.view(), b.view(), out.view(), {.precision = ops::MatmulPrecision::tf32});
      const std::string what =
          fmt::format("sm_90a tf32 {}x{}x{} b {}", c.m, c.n, c.k, b_col ? "col" : "row");
      banks.expect_none(what);
      std::vector<double> got = out.get();
      double over = 0, rounded_off = 0;
      for (int64_t i = 0; i < c.m; ++i)
        for (int64_t j = 0; j < c.n; ++j) {
          double truncated = 0, rounded = 0, magnitude = 0;
          for (int64_t q = 0; q < c.k; ++q) {
            double x = float(av[size_t(i * c.k + q)]), y = float(bv[size_t(q * c.n + j)]);
            truncated += truncated_tf32(x) * truncated_tf32(y);
            rounded += to_tf32(x) * to_tf32(y);
            magnitude += std::abs(x * y);
          }
          const double g = got[size_t(i * c.n + j)];
          over = std::max(over, std::abs(g - truncated) / (1e-5 * magnitude));
          rounded_off = std::max(rounded_off, std::abs(g - rounded) / (1e-5 * magnitude));
        }
      EXPECT_LE(over, 1.0) << what << ": not the product of the truncated tf32 operands";
      EXPECT_GT(rounded_off, 1.0) << what << ": looks like mma.sync's rounded operands";
    }
}

// The TMA form (docs/stdlib.md "matmul on TMA"): f16 and bf16 on the simulated sm_90a device
// with row-major operands whose rows are padded to 16 bytes and 64 x 64 x 64 tiles (boxes of
// one 128-byte swizzle span) run on the pipeliner's TMA ring -- the ragged shapes and
// a long K loop that wraps the mbarrier phases -- exact against the f64 reference with
// memcheck, racecheck and the wgmma checks on, c's gaps untouched. The same shapes with rows
// that are not multiples of 16 bytes keep the cp.async form.
TEST(Matmul, SimulatedSm90aDeviceRunsTheTmaRing) {
  TESSEL_REQUIRE_SIM_DEVICE();
  ScopedEnv target{"TESSEL_SIM_TARGET", "sm_90a"};
  ScopedEnv dump{"TESSEL_DUMP", "pipeline"};
  const auto& kernels = ops::detail::matmul_kernels("", {});
  const MatmulConfig cfg{64, 64, 64, 8, 4, 3};
  for (DType t : {DType::f16, DType::bf16})
    for (Case c : {Case{1, 1, 1}, Case{17, 33, 65}, Case{128, 256, 64}, Case{255, 129, 97},
                   Case{100, 72, 800}}) {
      c.config = cfg;
      for (int64_t pad : {8, 0}) {
        ::testing::internal::CaptureStderr();
        const runtime::simdev::BankTally before = runtime::simdev::bank_tally();
        check(MatmulRun{DeviceKind::sim, t, c, Layout{.row_pad = pad}});
        if (::testing::Test::HasFatalFailure())
          std::fputs(::testing::internal::GetCapturedStderr().c_str(), stderr);
        if (::testing::Test::HasFatalFailure())
          return;
        EXPECT_EQ(runtime::simdev::bank_tally().conflicts, before.conflicts);
        const std::string log = ::testing::internal::GetCapturedStderr();
        // A row of K or N f16 is a multiple of 16 bytes when padded (and for K, N of 8k
        // anyway).
        const bool tma = pad == 8 || (c.k % 8 == 0 && c.n % 8 == 0);
        const std::string what =
            fmt::format("{} {}x{}x{} pad {}", dtype_name(t), c.m, c.n, c.k, pad);
        if (!tma) {
          EXPECT_EQ(log.find("TMA ring"), std::string::npos) << what << log;
        } else if (kernels.tile_tma.stats().last_source == KernelSource::compiled) {
          EXPECT_NE(log.find("TMA ring of 3 stages"), std::string::npos) << what << log;
        }
      }
    }
  // The default tile for M, N >= 128 (128 x 128 x 32 on 8 warps, 3 stages): b's 32 x 128 box fills
  // its slot as two 128-byte column blocks; and batches (3-D boxes of one matrix, tile_tma_batched)
  // at the default tile and at 64 x 64 x 64, whose shared b (batch stride 0) stays on cp.async.
  for (DType t : {DType::f16, DType::bf16})
    for (Case c : {Case{1, 1, 1}, Case{17, 33, 65}, Case{255, 129, 97}, Case{100, 72, 800},
                   Case{17, 33, 65, 3}, Case{255, 129, 97, 2}, Case{70, 130, 300, 3},
                   Case{1, 1, 1, 2}, Case{40, 50, 90, 3, /*shared_b=*/true}}) {
      for (const MatmulConfig& config :
           {MatmulConfig{128, 128, 32, 8, 8, 3}, MatmulConfig{64, 64, 64, 8, 4, 3}}) {
        if (c.batch == 0 && config.block_m == 64)
          continue; // the loop above
        c.config = config;
        const std::string what = fmt::format("{} {}x{}x{} batch {}{} tile {}x{}x{}", dtype_name(t),
                                             c.m, c.n, c.k, c.batch, c.shared_b ? " shared b" : "",
                                             config.block_m, config.block_n, config.block_k);
        SCOPED_TRACE(what);
        const Kernel& k = c.batch > 0 ? kernels.tile_tma_batched : kernels.tile_tma;
        const int64_t launches = k.stats().launches;
        ::testing::internal::CaptureStderr();
        const runtime::simdev::BankTally before = runtime::simdev::bank_tally();
        check(MatmulRun{DeviceKind::sim, t, c, Layout{.row_pad = 8}});
        const std::string log = ::testing::internal::GetCapturedStderr();
        // The TMA form ran (the shared b: the cp.async form).
        EXPECT_EQ(k.stats().launches, launches + (c.shared_b ? 0 : 1));
        if (::testing::Test::HasFatalFailure())
          std::fputs(log.c_str(), stderr);
        if (::testing::Test::HasFatalFailure())
          return;
        const runtime::simdev::BankTally after = runtime::simdev::bank_tally();
        EXPECT_EQ(after.conflicts, before.conflicts) << fmt::format("{}", after.by_kernel);
        if (c.shared_b) {
          EXPECT_EQ(log.find("TMA ring"), std::string::npos) << log;
        } else if (k.stats().last_source == KernelSource::compiled) {
          EXPECT_NE(log.find("TMA ring of 3 stages"), std::string::npos) << log;
        }
      }
    }
  // Two warpgroups (128 x 64 x 64 on 8 warps, 4 stages): each retires its own group before
  // the barrier that precedes the refill of a slot both read.
  for (DType t : {DType::f16, DType::bf16})
    for (Case c : {Case{255, 129, 97}, Case{130, 70, 1000}}) {
      c.config = MatmulConfig{128, 64, 64, 8, 8, 4};
      ::testing::internal::CaptureStderr();
      check(MatmulRun{DeviceKind::sim, t, c, Layout{.row_pad = 8}});
      const std::string log = ::testing::internal::GetCapturedStderr();
      if (kernels.tile_tma.stats().last_source == KernelSource::compiled) {
        EXPECT_NE(log.find("TMA ring of 4 stages"), std::string::npos) << log;
      }
    }
}

// MatmulOptions::autotune on the simulated device: nothing is timed there, so the candidate
// choose_config names is chosen (and said so under TESSEL_DUMP=tune), and a tuning file's
// entry for the call's key is used instead when there is one; both compute the right product.
struct TuningScope {
  std::string path = (std::filesystem::temp_directory_path() /
                      fmt::format("tessel_matmul_tune_{}.tsv", ::getpid()))
                         .string();
  ScopedEnv file{"TESSEL_TUNING_FILE", path.c_str()};
  ScopedEnv readonly{"TESSEL_TUNING_READONLY_FILES", nullptr};
  ScopedEnv dump{"TESSEL_DUMP", "tune"};
  ~TuningScope() { std::filesystem::remove(path); }
};

std::string tuned_run(const MatmulRun& r) {
  ::testing::internal::CaptureStderr();
  check(r);
  return ::testing::internal::GetCapturedStderr();
}

TEST(Matmul, AutotuneOnTheSimulatedDeviceChoosesTheHeuristicCandidate) {
  TESSEL_REQUIRE_SIM_DEVICE();
  TuningScope t;
  std::string err = tuned_run({DeviceKind::sim, DType::f16,
                               Case{200, 70, 130, 0, false, 1, std::nullopt, /*autotune=*/true}});
  EXPECT_NE(err.find("-> key M=256,N=128,K=256 | f16,f16,f16,f16,f16 | sim sm_80"),
            std::string::npos)
      << err;
  // choose_config: M >= 128, N < 128 -> 128 x 64 x 32 at 4 warps.
  EXPECT_NE(err.find("BM=128,BN=64,BK=32,GROUP_M=8,num_warps=4,num_stages=3 (heuristic "
                     "'choose_config'"),
            std::string::npos)
      << err;
  EXPECT_FALSE(std::filesystem::exists(t.path)) << "nothing is written without timing";
}

TEST(Matmul, AutotuneUsesTheTuningFileEntry) {
  TESSEL_REQUIRE_SIM_DEVICE();
  TuningScope t;
  const Kernel& tile = ops::detail::matmul_kernels("", {}).tile;
  std::ofstream(t.path) << "tessel-tuning 1\nbuild\t" << jit::tuning_build_id() << "\n"
                        << tile.name() << "\tM=512,N=256,K=256\tbf16,bf16,bf16,bf16,bf16\t"
                        << jit::tune_device_name(DeviceKind::sim, 0)
                        << "\tBM=64,BN=128,BK=32,GROUP_M=8,num_warps=4,num_stages=4\tby a test\n";
  std::string err = tuned_run({DeviceKind::sim, DType::bf16,
                               Case{300, 200, 130, 0, false, 1, std::nullopt, /*autotune=*/true}});
  EXPECT_NE(err.find("chosen: config 7 BM=64,BN=128,BK=32,GROUP_M=8,num_warps=4,num_stages=4 "
                     "(tuning file)"),
            std::string::npos)
      << err;
}

// The default configs of every tensor-core dtype (f16, bf16; f32 with tf32) and of the FMA
// paths (f32 ieee, int8) on the simulated device, large (128 x 128 tiles), small and decode
// shapes: the simulator's bank profile counts no conflicts (cp.async writes into the swizzled
// ring, ldmatrix reads, the epilogue's staging).
TEST(Matmul, SimulatedDeviceDefaultConfigsHaveNoBankConflicts) {
  TESSEL_REQUIRE_SIM_DEVICE();
  for (DType t : {DType::f16, DType::bf16, DType::f32, DType::i8})
    for (const Case& c : {Case{255, 129, 97}, Case{17, 33, 65}, Case{8, 96, 200}}) {
      SimBankConflicts banks;
      check({DeviceKind::sim, t, c});
      banks.expect_none(fmt::format("{} {}x{}x{}", dtype_name(t), c.m, c.n, c.k));
    }
  for (const Case& c : {Case{255, 129, 97}, Case{17, 33, 65}}) {
    StridedTensor a(DeviceKind::sim, DType::f32, {c.m, c.k}, {c.k, 1});
    StridedTensor b(DeviceKind::sim, DType::f32, {c.k, c.n}, {c.n, 1});
    StridedTensor out(DeviceKind::sim, DType::f32, {c.m, c.n}, {c.n, 1});
    a.set(random_values(size_t(c.m * c.k), 3));
    b.set(random_values(size_t(c.k * c.n), 4));
    SimBankConflicts banks;
    ops::matmul(a.view(), b.view(), out.view(), {.precision = ops::MatmulPrecision::tf32});
    banks.expect_none(fmt::format("f32 tf32 {}x{}x{}", c.m, c.n, c.k));
  }
}

// An epilogue that reads c (scale with beta, a residual that is c) keeps the heuristic:
// timing would launch the kernel several times over the c it reads.
TEST(Matmul, AutotuneIsSkippedWhenAnEpilogueReadsC) {
  TESSEL_REQUIRE_SIM_DEVICE();
  TuningScope t;
  StridedTensor a(DeviceKind::sim, DType::f16, {40, 24}, {24, 1});
  StridedTensor b(DeviceKind::sim, DType::f16, {24, 48}, {48, 1});
  StridedTensor c(DeviceKind::sim, DType::f32, {40, 48}, {48, 1});
  a.set(random_values(40 * 24, 5));
  b.set(random_values(24 * 48, 6));
  c.set(random_values(40 * 48, 7));
  ::testing::internal::CaptureStderr();
  ops::matmul(a.view(), b.view(), c.view(),
              {.epilogue = {ops::scale(1.0f, 0.5f)}, .autotune = true});
  ops::matmul(a.view(), b.view(), c.view(),
              {.epilogue = {ops::residual(c.view())}, .autotune = true});
  std::string err = ::testing::internal::GetCapturedStderr();
  EXPECT_EQ(err.find("autotune "), std::string::npos) << err;
}

TEST(Matmul, SimulatedDeviceDecodeShapes) {
  TESSEL_REQUIRE_SIM_DEVICE();
  for (int64_t m = 1; m <= 16; ++m)
    check({DeviceKind::sim, DType::f16, Case{m, 96, 200}});
}

TEST(Matmul, SimulatedDeviceBatchedAndSplitK) {
  TESSEL_REQUIRE_SIM_DEVICE();
  for (DType t : kDtypes) {
    check({DeviceKind::sim, t, Case{17, 33, 65, /*batch=*/3}});
    check({DeviceKind::sim, t, Case{17, 33, 65, 0, false, /*split_k=*/3}});
  }
  check({DeviceKind::sim, DType::f32, Case{17, 33, 65, 2, /*shared_b=*/true, 2}}, add_user);
}

TEST(Matmul, SimulatedDeviceEpilogues) {
  TESSEL_REQUIRE_SIM_DEVICE();
  for (const auto& [name, make] : epilogue_cases())
    check({DeviceKind::sim, DType::f32, Case{17, 33, 65}}, make);
  check({DeviceKind::sim, DType::bf16, Case{17, 33, 65}}, epilogue_cases().back().second);
  check({DeviceKind::sim, DType::i8, Case{17, 33, 65}}, epilogue_cases()[8].second);
  check({DeviceKind::sim, DType::f16, Case{17, 33, 65}}, add_user);
}

} // namespace
} // namespace tessel::testing

namespace tessel::testing {
namespace {

// ---- bad input: one test per diagnostic ---------------------------------------------------------

// Host f32 views over one buffer, big enough for every shape below.
struct Views {
  std::vector<float> buf = std::vector<float>(4096, 0.0f);
  TensorView f32(std::initializer_list<int64_t> shape) {
    return TensorView(buf.data(), DType::f32, shape);
  }
  TensorView of(DType t, std::initializer_list<int64_t> shape) {
    return TensorView(buf.data(), t, shape);
  }
};

std::string here(int line) { return "matmul_test.cpp:" + std::to_string(line); }

TEST(MatmulErrors, KMismatchNamesBothShapes) {
  Views v;
  int line = 0; // taken next to the call, so that formatting cannot move them apart
  expect_error(
      [&] {
        line = __LINE__ + 1;
        ops::matmul(v.f32({4, 8}), v.f32({7, 5}), v.f32({4, 5}));
      },
      [&] {
        return std::vector<std::string>{here(line),
                                        "matmul: a has shape [4, 8] and b has shape [7, 5]: a's K "
                                        "(8) differs from b's K (7)"};
      });
}

TEST(MatmulErrors, OutputShape) {
  Views v;
  expect_error(
      [&] {
        ops::matmul(v.f32({4, 8}), v.f32({8, 5}), v.f32({4, 6}));
      },
      {"matmul: c has shape [4, 6] but a @ b is [4, 5] (a [4, 8], b [8, 5])"});
}

TEST(MatmulErrors, Rank) {
  Views v;
  expect_error(
      [&] {
        ops::matmul(v.f32({8}), v.f32({8, 5}), v.f32({1, 5}));
      },
      {"matmul: a has shape [8]; expected [M, K] or [batch, M, K]"});
}

TEST(MatmulErrors, OperandDtype) {
  Views v;
  expect_error(
      [&] {
        ops::matmul(v.of(DType::i32, {4, 8}), v.of(DType::i32, {8, 5}), v.f32({4, 5}));
      },
      {"matmul: a has dtype i32; expected f16, bf16, f32, i8, f8e4m3 or f8e5m2"});
}

TEST(MatmulErrors, MixedOperandDtypes) {
  Views v;
  expect_error(
      [&] {
        ops::matmul(v.of(DType::f16, {4, 8}), v.of(DType::bf16, {8, 5}), v.f32({4, 5}));
      },
      {"matmul: b has dtype bf16 but a has dtype f16; expected operands of one dtype"});
}

TEST(MatmulErrors, OutputDtype) {
  Views v;
  expect_error(
      [&] {
        ops::matmul(v.f32({4, 8}), v.f32({8, 5}), v.of(DType::i32, {4, 5}));
      },
      {"matmul: c has dtype i32; expected f32, f16 or bf16 for f32 operands"});
  expect_error(
      [&] {
        ops::matmul(v.of(DType::i8, {4, 8}), v.of(DType::i8, {8, 5}), v.of(DType::i8, {4, 5}));
      },
      {"matmul: c has dtype i8; expected i32 (or f32, f16, bf16) for i8 operands"});
}

TEST(MatmulErrors, MixedDevices) {
  TESSEL_REQUIRE_SIM_DEVICE();
  Views v;
  StridedTensor b(DeviceKind::sim, DType::f32, {8, 5}, {5, 1});
  expect_error(
      [&] {
        ops::matmul(v.f32({4, 8}), b.view(), v.f32({4, 5}));
      },
      {"matmul: b is on device sim:0 but a is on cpu:0; pass tensors on one device"});
}

TEST(MatmulErrors, BatchMismatch) {
  Views v;
  expect_error(
      [&] {
        ops::matmul(v.f32({3, 4, 8}), v.f32({8, 5}), v.f32({2, 4, 5}));
      },
      {"matmul: a has shape [3, 4, 8] but c has shape [2, 4, 5]; expected a's batch to be "
       "c's (2) or 1 (shared by every batch)"});
}

TEST(MatmulErrors, BatchedOperandsNeedABatchedOutput) {
  Views v;
  expect_error(
      [&] {
        ops::matmul(v.f32({3, 4, 8}), v.f32({8, 5}), v.f32({4, 5}));
      },
      {"matmul: c has shape [4, 5] but a has shape [3, 4, 8] and b has shape [8, 5]; a "
       "batched product needs c of shape [batch, 4, 5]"});
}

TEST(MatmulErrors, NegativeStride) {
  Views v;
  TensorView a = v.f32({4, 8});
  a.strides[0] = -8;
  expect_error(
      [&] {
        ops::matmul(a, v.f32({8, 5}), v.f32({4, 5}));
      },
      {"matmul: a has a negative stride (-8 in dimension 0); expected strides >= 0"});
}

TEST(MatmulErrors, NullData) {
  Views v;
  TensorView b = v.f32({8, 5});
  b.data = nullptr;
  expect_error(
      [&] {
        ops::matmul(v.f32({4, 8}), b, v.f32({4, 5}));
      },
      {"matmul: b has shape [8, 5] but a null data pointer"});
}

TEST(MatmulErrors, TooLargeForI32Offsets) {
  Views v;
  TensorView a = v.f32({4, 8});
  a.strides[0] = int64_t(1) << 30;
  expect_error(
      [&] {
        ops::matmul(a, v.f32({8, 5}), v.f32({4, 5}));
      },
      {"matmul: a has shape [4, 8] with strides reaching element 3221225479; one matrix of "
       "a batch must span fewer than 2^31 elements"});
}

TEST(MatmulErrors, OverlappingOutput) {
  Views v;
  TensorView c = v.f32({4, 5});
  c.strides[0] = 0;
  expect_error(
      [&] {
        ops::matmul(v.f32({4, 8}), v.f32({8, 5}), c);
      },
      {"matmul: c has strides [0, 1] with a zero stride: its elements overlap"});
}

TEST(MatmulErrors, SplitKRange) {
  Views v;
  expect_error(
      [&] {
        ops::matmul(v.f32({4, 8}), v.f32({8, 5}), v.f32({4, 5}), {.split_k = 0});
      },
      {"matmul: split_k is 0; expected 1 (no split) to 1024"});
}

TEST(MatmulErrors, SplitKNeedsAWorkspace) {
  Views v;
  expect_error(
      [&] {
        ops::matmul(v.f32({4, 8}), v.f32({8, 5}), v.f32({4, 5}), {.split_k = 2});
      },
      {"matmul: split_k is 2 but no workspace was given; pass as workspace a contiguous f32 "
       "tensor of at least split_k * batch * M * N = 40 elements"});
}

TEST(MatmulErrors, WorkspaceDtype) {
  Views v;
  std::vector<int32_t> w(64);
  expect_error(
      [&] {
        ops::matmul(v.f32({4, 8}), v.f32({8, 5}), v.f32({4, 5}),
                    {.split_k = 2, .workspace = TensorView(w.data(), {64})});
      },
      {"matmul: workspace has dtype i32; expected f32"});
}

TEST(MatmulErrors, EpilogueOperandDoesNotBroadcast) {
  Views v;
  expect_error(
      [&] {
        ops::matmul(v.f32({4, 8}), v.f32({8, 5}), v.f32({4, 5}),
                    {.epilogue = {ops::bias(v.f32({4}))}});
      },
      {"matmul: epilogue 'bias' operand 0 has shape [4]; it does not broadcast to c's "
       "shape [4, 5]"});
}

TEST(MatmulErrors, TooManyEpilogueOperands) {
  Views v;
  TensorView r = v.f32({4, 5});
  expect_error(
      [&] {
        ops::matmul(v.f32({4, 8}), v.f32({8, 5}), v.f32({4, 5}),
                    {.epilogue = {ops::bias(v.f32({5})), ops::residual(r), ops::residual(r)}});
      },
      {"matmul: the epilogues read 3 tensors and 0 scalars up to 'residual'; a matmul epilogue "
       "list reads at most 2 tensors"});
}

TEST(MatmulErrors, EpilogueOperandDevice) {
  TESSEL_REQUIRE_SIM_DEVICE();
  Views v;
  StridedTensor r(DeviceKind::sim, DType::f32, {4, 5}, {5, 1});
  expect_error(
      [&] {
        ops::matmul(v.f32({4, 8}), v.f32({8, 5}), v.f32({4, 5}),
                    {.epilogue = {ops::residual(r.view())}});
      },
      {"matmul: epilogue 'residual' operand 0 is on device sim:0 but c is on cpu:0"});
}

TEST(MatmulErrors, EpilogueWithoutFunction) {
  Views v;
  expect_error(
      [&] {
        ops::matmul(v.f32({4, 8}), v.f32({8, 5}), v.f32({4, 5}),
                    {.epilogue = {ops::epilogue("nothing", {})}});
      },
      {"matmul: epilogue 'nothing' has no function"});
}

TEST(MatmulErrors, EpilogueChangesTheTileShape) {
  Views v;
  int made = __LINE__ + 1;
  auto rows = ops::epilogue("row_sums", [](const EpilogueTile& t) { return tl::sum(t.acc, 1); });
  int line = 0; // taken next to the call, so that formatting cannot move them apart
  expect_error(
      [&] {
        line = __LINE__ + 1;
        ops::matmul(v.f32({4, 8}), v.f32({8, 5}), v.f32({4, 5}), {.epilogue = {rows}});
      },
      [&] {
        return std::vector<std::string>{
            here(line), "matmul: epilogue 'row_sums' (made at ", here(made),
            "returned a tile of [4] f32 but the accumulator tile is [4, 8] f32; an epilogue "
            "returns a tile of the accumulator's shape in f32"};
      });
}

TEST(MatmulErrors, EpilogueChangesTheTileDtype) {
  Views v;
  auto half = ops::epilogue("to_half", [](const EpilogueTile& t) { return t.acc.to(tl::f16); });
  expect_error(
      [&] {
        ops::matmul(v.f32({4, 8}), v.f32({8, 5}), v.f32({4, 5}), {.epilogue = {half}});
      },
      {"matmul: epilogue 'to_half' (made at ",
       "returned a tile of [4, 8] f16 but the "
       "accumulator tile is [4, 8] f32",
       "convert with .to(tl::f32)"});
}

TEST(MatmulErrors, ConfigBlockSize) {
  Views v;
  MatmulConfig cfg;
  cfg.block_m = 48;
  expect_error(
      [&] {
        ops::matmul(v.f32({4, 8}), v.f32({8, 5}), v.f32({4, 5}), {.config = cfg});
      },
      {"matmul: config.block_m is 48; expected a power of two from 1 to 256"});
}

TEST(MatmulErrors, ConfigTileTooLarge) {
  Views v;
  MatmulConfig cfg{256, 256, 32, 8, 8, 2};
  expect_error(
      [&] {
        ops::matmul(v.f32({4, 8}), v.f32({8, 5}), v.f32({4, 5}), {.config = cfg});
      },
      {"matmul: config is 256 x 256: a tile of more than 32768 accumulators does not fit"});
}

TEST(MatmulErrors, ConfigWarps) {
  Views v;
  MatmulConfig cfg;
  cfg.num_warps = 3;
  expect_error(
      [&] {
        ops::matmul(v.f32({4, 8}), v.f32({8, 5}), v.f32({4, 5}), {.config = cfg});
      },
      {"matmul: config.num_warps is 3; expected 1, 2, 4, 8 or 16"});
}

TEST(MatmulErrors, GpuConfigMinimumBlock) {
  TESSEL_REQUIRE_SIM_DEVICE();
  StridedTensor a(DeviceKind::sim, DType::f16, {4, 8}, {8, 1}),
      b(DeviceKind::sim, DType::f16, {8, 5}, {5, 1});
  StridedTensor c(DeviceKind::sim, DType::f32, {4, 5}, {5, 1});
  MatmulConfig cfg{16, 16, 8, 1, 4, 2};
  expect_error([&] { ops::matmul(a.view(), b.view(), c.view(), {.config = cfg}); },
               {"matmul: config.block_k is 8; expected a power of two from 16 to 256"});
}

// ---- PTX ----------------------------------------------------------------------------------------

// The tile kernel as the op launches it for contiguous row-major operands (unit column strides
// traced as 1, the rest divisible by 16, 16-byte aligned pointers) with the default config.
// `ragged`: M, N and K traced with divisibility 1, as the op specializes a shape like 200 x 80 x
// 144 (the row strides 80 and 144 still divisible by 16).
std::unique_ptr<ir::Module> trace_tile(const Kernel& k, DType operand, DType out,
                                       const MatmulConfig& cfg, bool ragged = false,
                                       bool b_col = false) {
  const std::vector<std::string>& names = k.def().param_names;
  std::vector<lang::ParamBinding> b;
  for (size_t i = 0; i < k.def().params.size(); ++i) {
    const std::string& name = names[i];
    lang::ParamBinding pb;
    switch (k.def().params[i].kind) {
    case lang::ParamKind::Ptr:
      pb.dtype = name == "a" || name == "b" ? operand : out;
      pb.divisibility = 16;
      break;
    case lang::ParamKind::Int:
      pb.divisibility = 16;
      if (ragged && (name == "M" || name == "N" || name == "K"))
        pb.divisibility = 1;
      pb.equals_one = name == "a_k" || name == (b_col ? "b_k" : "b_n") || name == "c_n" ||
                      name == "e0_n" || name == "e1_n";
      break;
    case lang::ParamKind::Float:
      break;
    case lang::ParamKind::Const:
      pb.const_int = name == "BM"   ? cfg.block_m
                     : name == "BN" ? cfg.block_n
                     : name == "BK" ? cfg.block_k
                                    : cfg.group_m;
      break;
    }
    b.push_back(pb);
  }
  auto module = lang::trace(k.def(), b);
  ir::PassManager pm(/*verify_each=*/true);
  codegen::add_default_pipeline(pm);
  pm.run(*module);
  return module;
}

TEST(MatmulPtx, DefaultConfigsNoSpills) {
  TESSEL_REQUIRE_CUDA_TOOLKIT();
  const auto& kernels = ops::detail::matmul_kernels("", {});
  for (const char* target : {"sm_80", "sm_90a"})
    for (auto [operand, out] : {std::pair{DType::f16, DType::f32},
                                {DType::bf16, DType::bf16},
                                {DType::f32, DType::f32},
                                {DType::i8, DType::i32}})
      for (int64_t m : {8, 4096}) {
        MatmulConfig cfg = ops::choose_config(DeviceKind::sim, m, 4096, 4096, operand);
        std::string what =
            fmt::format("{} {} M={} ({}x{}x{}, {} warps)", target, dtype_name(operand), m,
                        cfg.block_m, cfg.block_n, cfg.block_k, cfg.num_warps);
        expect_lean_ptx(*trace_tile(kernels.tile, operand, out, cfg), target, cfg.num_warps, what);
      }
}

// The tensor-core tiles the GPU heuristic picks for f16 and bf16 (and their 4-stage and 4-warp
// neighbours): sm_80 PTX through nvJitLink with zero spills and no local memory, mma.sync fed by
// ldmatrix from a cp.async ring, and the ring inside the 227 KiB a block may hold. Prints the
// registers and shared memory of each (the figures in docs/stdlib.md, "matmul config").
TEST(MatmulPtx, TensorCoreTiles) {
  TESSEL_REQUIRE_CUDA_TOOLKIT();
  const auto& kernels = ops::detail::matmul_kernels("", {});
  struct Tile {
    int bm, bn, warps, stages;
  };
  // (128 x 128 at 4 warps, 128 f32 accumulators a thread, spills 200 bytes: not a candidate.)
  const Tile tiles[] = {{128, 128, 8, 3}, {128, 128, 8, 4}, {128, 64, 4, 3},
                        {128, 64, 4, 4},  {64, 128, 4, 3},  {64, 128, 4, 4}};
  for (DType operand : {DType::f16, DType::bf16})
    for (const Tile& t : tiles) {
      MatmulConfig cfg{t.bm, t.bn, 32, 8, t.warps, t.stages};
      std::string what = fmt::format("sm_80 {} {}x{}x32, {} warps, {} stages", dtype_name(operand),
                                     t.bm, t.bn, t.warps, t.stages);
      codegen::gpu::CompileOptions opts;
      opts.num_warps = t.warps;
      opts.num_stages = t.stages;
      auto module = trace_tile(kernels.tile, operand, DType::f32, cfg);
      auto out =
          codegen::gpu::compile(*module->functions.front(), codegen::parse_target("sm_80"), opts);
      codegen::gpu::PtxStats st = codegen::gpu::ptx_stats(out.ptx);
      ASSERT_TRUE(out.resources.parsed) << out.info_log;
      EXPECT_EQ(out.resources.spill_stores, 0) << what;
      EXPECT_EQ(out.resources.spill_loads, 0) << what;
      EXPECT_EQ(st.get("local"), 0) << what;
      EXPECT_GT(st.get("mma"), 0) << what;
      EXPECT_GT(st.get("ldmatrix"), 0) << what;
      EXPECT_GT(st.get("cp.async"), 0) << what;
      EXPECT_GT(st.get("cp.async.wait_group"), 0) << what;
      EXPECT_LE(out.shared_bytes + out.resources.static_shared_bytes, 227 * 1024) << what;
      std::printf("%s: %d registers, %lld B dynamic shared, %lld mma, %lld ldmatrix, "
                  "%lld cp.async\n",
                  what.c_str(), out.resources.registers, (long long)out.shared_bytes,
                  (long long)st.get("mma"), (long long)st.get("ldmatrix"),
                  (long long)st.get("cp.async"));
    }
}

// Register double-buffering of the next k-slice (codegen/gpu/k_slices.cpp) on every f16 and bf16
// tuning candidate for sm_80 (the default configs among them): TESSEL_DUMP=pipeline says the
// loop's dot was split into BLOCK_K / 16 dots, and nvJitLink reports zero spills and no local
// memory. Prints registers and PTX instruction counts (the figures in docs/gpu_codegen.md).
TEST(MatmulPtx, Sm80KSlicesOnEveryTuningCandidate) {
  TESSEL_REQUIRE_CUDA_TOOLKIT();
  const auto& kernels = ops::detail::matmul_kernels("", {});
  for (DType operand : {DType::f16, DType::bf16})
    for (const MatmulConfig& cfg : ops::detail::tuning_candidates(operand)) {
      std::string what =
          fmt::format("sm_80 {} {}x{}x{}, {} warps, {} stages", dtype_name(operand), cfg.block_m,
                      cfg.block_n, cfg.block_k, cfg.num_warps, cfg.num_stages);
      codegen::gpu::CompileOptions opts;
      opts.num_warps = cfg.num_warps;
      opts.num_stages = cfg.num_stages;
      auto module = trace_tile(kernels.tile, operand, DType::f32, cfg);
      std::string dumped;
      codegen::gpu::CompiledKernel out;
      {
        ScopedEnv dump{"TESSEL_DUMP", "pipeline"};
        ::testing::internal::CaptureStderr();
        out =
            codegen::gpu::compile(*module->functions.front(), codegen::parse_target("sm_80"), opts);
        dumped = ::testing::internal::GetCapturedStderr();
      }
      codegen::gpu::PtxStats st = codegen::gpu::ptx_stats(out.ptx);
      ASSERT_TRUE(out.resources.parsed) << out.info_log;
      EXPECT_NE(dumped.find(fmt::format("split into {} dots", cfg.block_k / 16)), std::string::npos)
          << what << "\n"
          << dumped;
      EXPECT_EQ(out.resources.spill_stores, 0) << what;
      EXPECT_EQ(out.resources.spill_loads, 0) << what;
      EXPECT_EQ(st.get("local"), 0) << what;
      std::printf("[ figures  ] %s: %d registers, %lld PTX instructions, %lld mma, %lld ldmatrix, "
                  "%lld bar.sync\n",
                  what.c_str(), out.resources.registers, (long long)st.instructions,
                  (long long)st.get("mma"), (long long)st.get("ldmatrix"),
                  (long long)st.get("bar.sync"));
    }
}

// sm_90a (issue 15): the same tensor-core tiles run on wgmma.mma_async, reading the cp.async rings
// through matrix descriptors: no mma.sync, no ldmatrix, zero spills, no local memory, within the
// 227 KiB a block may hold. Also prints the tiles only wgmma makes lean enough to consider (128 x
// 128 on 4 warps, 128 x 256 on 8: 128 f32 accumulators a thread, no operand registers).
TEST(MatmulPtx, Sm90aTensorCoreTilesOnWgmma) {
  TESSEL_REQUIRE_CUDA_TOOLKIT();
  const auto& kernels = ops::detail::matmul_kernels("", {});
  struct Tile {
    int bm, bn, warps, stages;
    bool asserted;
  };
  const Tile tiles[] = {{128, 128, 8, 3, true},  {128, 128, 8, 4, true}, {128, 64, 4, 3, true},
                        {128, 64, 4, 4, true},   {64, 128, 4, 3, true},  {64, 128, 4, 4, true},
                        {128, 128, 4, 3, false}, {128, 256, 8, 3, false}};
  for (DType operand : {DType::f16, DType::bf16})
    for (const Tile& t : tiles) {
      MatmulConfig cfg{t.bm, t.bn, 32, 8, t.warps, t.stages};
      std::string what = fmt::format("sm_90a {} {}x{}x32, {} warps, {} stages", dtype_name(operand),
                                     t.bm, t.bn, t.warps, t.stages);
      codegen::gpu::CompileOptions opts;
      opts.num_warps = t.warps;
      opts.num_stages = t.stages;
      auto module = trace_tile(kernels.tile, operand, DType::f32, cfg);
      auto out =
          codegen::gpu::compile(*module->functions.front(), codegen::parse_target("sm_90a"), opts);
      codegen::gpu::PtxStats st = codegen::gpu::ptx_stats(out.ptx);
      ASSERT_TRUE(out.resources.parsed) << out.info_log;
      EXPECT_GT(st.get("wgmma.mma_async"), 0) << what;
      EXPECT_EQ(st.get("mma"), 0) << what;
      EXPECT_EQ(st.get("ldmatrix"), 0) << what;
      if (t.asserted) {
        EXPECT_EQ(out.resources.spill_stores, 0) << what;
        EXPECT_EQ(out.resources.spill_loads, 0) << what;
        EXPECT_EQ(st.get("local"), 0) << what;
        EXPECT_GT(st.get("cp.async"), 0) << what;
        EXPECT_LE(out.shared_bytes + out.resources.static_shared_bytes, 227 * 1024) << what;
      }
      std::printf("%s: %d registers, %lld B spilled, %lld B dynamic shared, %lld wgmma, "
                  "%lld cp.async\n",
                  what.c_str(), out.resources.registers, (long long)out.resources.spill_stores,
                  (long long)out.shared_bytes, (long long)st.get("wgmma.mma_async"),
                  (long long)st.get("cp.async"));
    }
}

// One wgmma group in flight across the op's K loop (codegen/gpu/wgmma_in_flight.h) now that
// t3's prefix-mask copies stream ragged tiles through the cp.async ring: for M, N and K not
// multiples of the tile (row strides still multiples of 16), the sm_90a tensor-core tiles with 3 or
// 4 stages wait with wgmma.wait_group 1 in the loop and 0 after it, and the copies run S-2
// iterations ahead (cp.async.wait_group S-3); with 2 stages every dot waits for its own group.
// nvJitLink: zero spills, no local memory. (A row stride not a multiple of 16, e.g. K = 97 or 136
// row-major, is specialized with divisibility 1 (jit/signature.cpp knows only 16 and 1): the
// tile's loads then move 2 bytes, stay out of the ring, and the dot is waited for at once.)
// The TMA form (MatmulKernels::tile_tma) for sm_90a as a launch compiles it (assign-tensor-maps
// first, then the default pipeline): ragged M, N, K, row strides divisible by 16. Its boxes go
// through the TMA ring -- 2 (S - 1) + 2 cp.async.bulk.tensor, no cp.async, one wgmma group in
// flight -- through nvJitLink with zero spills and no local memory (registers printed).
// Also every f16 tuning candidate (docs/stdlib.md's table: which take the ring) and the batched
// form (3-D boxes of one matrix): a box whose rows are n x 128 bytes is n copies per stage, so a
// stage is blocks(BK) + blocks(BN) copies. A candidate whose dot is not on wgmma (16-row tiles)
// keeps the TMA form's boxes without the ring (said, not asserted).
int column_blocks(int cols) { return cols * 2 > 128 ? cols * 2 / 128 : 1; }

size_t count_of(const std::string& text, const std::string& what) {
  size_t n = 0;
  for (size_t at = text.find(what); at != std::string::npos; at = text.find(what, at + 1))
    ++n;
  return n;
}

TEST(MatmulPtx, Sm90aTmaFormStreamsBoxesThroughTheTmaRing) {
  TESSEL_REQUIRE_CUDA_TOOLKIT();
  const auto& kernels = ops::detail::matmul_kernels("", {});
  const codegen::Target target = codegen::parse_target("sm_90a");
  std::vector<MatmulConfig> configs{MatmulConfig{64, 64, 64, 8, 4, 3},
                                    MatmulConfig{128, 64, 32, 8, 4, 3},
                                    MatmulConfig{128, 64, 64, 8, 8, 4}};
  for (const MatmulConfig& c : ops::detail::tuning_candidates(DType::f16))
    configs.push_back(c);
  for (DType operand : {DType::f16, DType::bf16})
    for (const MatmulConfig& cfg : configs)
      for (const Kernel* kernel : {&kernels.tile_tma, &kernels.tile_tma_batched}) {
        if (operand == DType::bf16 && kernel == &kernels.tile_tma_batched)
          continue;
        const bool batched = kernel == &kernels.tile_tma_batched;
        const std::string what = fmt::format(
            "{} {}x{}x{}, {} warps, {} stages{}", dtype_name(operand), cfg.block_m, cfg.block_n,
            cfg.block_k, cfg.num_warps, cfg.num_stages, batched ? ", batched" : "");
        const std::vector<std::string>& names = kernel->def().param_names;
        std::vector<lang::ParamBinding> bindings;
        for (size_t i = 0; i < names.size(); ++i) {
          lang::ParamBinding pb;
          switch (kernel->def().params[i].kind) {
          case lang::ParamKind::Ptr:
            pb.dtype = names[i] == "a" || names[i] == "b" ? operand : DType::f32;
            pb.divisibility = 16;
            break;
          case lang::ParamKind::Int:
            pb.divisibility = names[i] == "M" || names[i] == "N" || names[i] == "K" ? 1 : 16;
            pb.equals_one = names[i] == "a_k" || names[i] == "b_n" || names[i] == "c_n" ||
                            names[i] == "e0_n" || names[i] == "e1_n";
            break;
          case lang::ParamKind::Float:
            break;
          case lang::ParamKind::Const:
            pb.const_int = names[i] == "BM"   ? cfg.block_m
                           : names[i] == "BN" ? cfg.block_n
                           : names[i] == "BK" ? cfg.block_k
                                              : cfg.group_m;
            break;
          }
          bindings.push_back(pb);
        }
        auto module = lang::trace(kernel->def(), bindings);
        ir::PassStats stats;
        codegen::gpu::assign_tensor_maps_pass(target).run(*module, stats);
        ir::PassManager pm(/*verify_each=*/true);
        codegen::add_default_pipeline(pm);
        pm.run(*module);
        codegen::gpu::CompileOptions opts;
        opts.num_warps = cfg.num_warps;
        opts.num_stages = cfg.num_stages;
        auto out = codegen::gpu::compile(*module->functions.front(), target, opts);
        const codegen::gpu::PtxStats st = codegen::gpu::ptx_stats(out.ptx);
        ASSERT_TRUE(out.resources.parsed) << out.info_log;
        EXPECT_EQ(stats["tensor-maps"], 2) << what;
        if (st.get("wgmma.mma_async") == 0) {
          std::printf("TMA form %s: no TMA ring (the dot is not on wgmma), %lld "
                      "cp.async.bulk.tensor\n",
                      what.c_str(), (long long)st.get("cp.async.bulk.tensor"));
          continue;
        }
        const int per_stage = column_blocks(cfg.block_k) + column_blocks(cfg.block_n);
        EXPECT_EQ(st.get("cp.async.bulk.tensor"), per_stage * cfg.num_stages) << what;
        EXPECT_EQ(
            count_of(out.ptx, batched ? "cp.async.bulk.tensor.3d" : "cp.async.bulk.tensor.2d"),
            size_t(per_stage * cfg.num_stages))
            << what;
        EXPECT_EQ(count_of(out.ptx, "mbarrier.arrive.expect_tx"), size_t(cfg.num_stages)) << what;
        EXPECT_EQ(st.get("cp.async"), 0) << what;
        EXPECT_GT(st.get("wgmma.mma_async"), 0) << what;
        EXPECT_EQ(st.get("wgmma.wait_group"), 2) << what;
        EXPECT_NE(out.ptx.find("wgmma.wait_group.sync.aligned 1;"), std::string::npos) << what;
        EXPECT_EQ(out.resources.spill_stores, 0) << what;
        EXPECT_EQ(out.resources.spill_loads, 0) << what;
        EXPECT_EQ(st.get("local"), 0) << what;
        std::printf("TMA form %s: %d registers, %lld B dynamic shared, %lld PTX instructions, %lld "
                    "wgmma, %lld mbarrier\n",
                    what.c_str(), out.resources.registers, (long long)out.shared_bytes,
                    (long long)st.instructions, (long long)st.get("wgmma.mma_async"),
                    (long long)st.get("mbarrier"));
      }
}

TEST(MatmulPtx, Sm90aRaggedTilesKeepOneWgmmaGroupInFlight) {
  TESSEL_REQUIRE_CUDA_TOOLKIT();
  const auto& kernels = ops::detail::matmul_kernels("", {});
  struct Tile {
    int bm, bn, warps, stages;
  };
  const Tile tiles[] = {
      {128, 128, 8, 3}, {128, 128, 8, 4}, {128, 64, 4, 3}, {64, 128, 4, 4}, {128, 128, 8, 2}};
  for (DType operand : {DType::f16, DType::bf16})
    for (const Tile& t : tiles) {
      MatmulConfig cfg{t.bm, t.bn, 32, 8, t.warps, t.stages};
      std::string what = fmt::format("sm_90a ragged {} {}x{}x32, {} warps, {} stages",
                                     dtype_name(operand), t.bm, t.bn, t.warps, t.stages);
      codegen::gpu::CompileOptions opts;
      opts.num_warps = t.warps;
      opts.num_stages = t.stages;
      auto module = trace_tile(kernels.tile, operand, DType::f32, cfg, /*ragged=*/true);
      auto out =
          codegen::gpu::compile(*module->functions.front(), codegen::parse_target("sm_90a"), opts);
      codegen::gpu::PtxStats st = codegen::gpu::ptx_stats(out.ptx);
      ASSERT_TRUE(out.resources.parsed) << out.info_log;
      const bool in_flight = t.stages >= 3;
      EXPECT_GT(st.get("wgmma.mma_async"), 0) << what;
      EXPECT_EQ(st.get("mma"), 0) << what;
      EXPECT_EQ(st.get("wgmma.wait_group"), in_flight ? 2 : 1) << what;
      EXPECT_EQ(out.ptx.find("wgmma.wait_group.sync.aligned 1;") != std::string::npos, in_flight)
          << what;
      EXPECT_NE(out.ptx.find("wgmma.wait_group.sync.aligned 0;"), std::string::npos) << what;
      EXPECT_NE(out.ptx.find(fmt::format("cp.async.wait_group {};",
                                         in_flight ? t.stages - 3 : t.stages - 2)),
                std::string::npos)
          << what;
      EXPECT_EQ(out.resources.spill_stores, 0) << what;
      EXPECT_EQ(out.resources.spill_loads, 0) << what;
      EXPECT_EQ(st.get("local"), 0) << what;
      std::printf("%s: %d registers, %lld B dynamic shared, %lld wgmma, %lld wgmma.wait_group\n",
                  what.c_str(), out.resources.registers, (long long)out.shared_bytes,
                  (long long)st.get("wgmma.mma_async"), (long long)st.get("wgmma.wait_group"));
    }
}

// tf32 (precision tf32) and 8-bit operands on sm_90a (issue 15): the default configs (64 x 64, 8
// warps: two warpgroups of 64 x 32) and 128 x 128 at 8 warps run on wgmma.mma_async of the right
// shape and types (m64nNk8 .f32.tf32.tf32, m64nNk32 .s32.s8.s8 / .f32.e4m3.e4m3 / .f32.e5m2.e5m2),
// no mma.sync, no ldmatrix, zero spills, no local memory. b column-major (K contiguous) streams
// through the ring and keeps one group in flight (wait_group 1 in the loop); b row-major is
// staged K-major every iteration and waits for its group at once (the K-major rule).
TEST(MatmulPtx, Sm90aTf32And8BitTilesOnWgmma) {
  TESSEL_REQUIRE_CUDA_TOOLKIT();
  struct Operand {
    DType t, out;
    const char* types;
  };
  const Operand operands[] = {{DType::f32, DType::f32, ".f32.tf32.tf32"},
                              {DType::i8, DType::i32, ".s32.s8.s8"},
                              {DType::f8e4m3, DType::f32, ".f32.e4m3.e4m3"},
                              {DType::f8e5m2, DType::f32, ".f32.e5m2.e5m2"}};
  for (const Operand& o : operands)
    for (int64_t m : {256, 4096})
      for (bool b_col : {false, true}) {
        MatmulConfig cfg = ops::choose_config(DeviceKind::sim, m, 4096, 4096, o.t);
        if (m == 4096)
          cfg = MatmulConfig{128, 128, o.t == DType::f32 ? 32 : 64, 8, 8, 3};
        const auto& kernels = ops::detail::matmul_kernels(
            "", {}, o.t == DType::f32 ? tl::Precision::tf32 : tl::Precision::ieee);
        const std::string k = o.t == DType::f32 ? "k8" : "k32";
        std::string what = fmt::format("sm_90a {} {}x{}x{}, {} warps, {} stages, b {}",
                                       dtype_name(o.t), cfg.block_m, cfg.block_n, cfg.block_k,
                                       cfg.num_warps, cfg.num_stages, b_col ? "col" : "row");
        codegen::gpu::CompileOptions opts;
        opts.num_warps = cfg.num_warps;
        opts.num_stages = cfg.num_stages;
        auto module = trace_tile(kernels.tile, o.t, o.out, cfg, /*ragged=*/false, b_col);
        auto out = codegen::gpu::compile(*module->functions.front(),
                                         codegen::parse_target("sm_90a"), opts);
        codegen::gpu::PtxStats st = codegen::gpu::ptx_stats(out.ptx);
        ASSERT_TRUE(out.resources.parsed) << out.info_log;
        EXPECT_GT(st.get("wgmma.mma_async"), 0) << what;
        EXPECT_NE(out.ptx.find(k + o.types), std::string::npos) << what;
        EXPECT_EQ(st.get("mma"), 0) << what;
        EXPECT_EQ(st.get("ldmatrix"), 0) << what;
        EXPECT_EQ(out.ptx.find("wgmma.wait_group.sync.aligned 1;") != std::string::npos, b_col)
            << what;
        EXPECT_EQ(out.resources.spill_stores, 0) << what;
        EXPECT_EQ(out.resources.spill_loads, 0) << what;
        EXPECT_EQ(st.get("local"), 0) << what;
        std::printf("%s: %d registers, %lld instructions, %lld wgmma, %lld B dynamic shared\n",
                    what.c_str(), out.resources.registers, (long long)st.instructions,
                    (long long)st.get("wgmma.mma_async"), (long long)out.shared_bytes);
      }
}

// fp8 operands on the fp8 tensor cores: the default GPU configs (decode and large M) for sm_89
// and sm_90a through nvJitLink without spills, fed by the cp.async ring, PTX ISA 8.4: on mma.sync
// .e4m3/.e5m2, except the 64-row tiles on sm_90a, which run on wgmma m64nNk32 (session 7).
TEST(MatmulPtx, Fp8DefaultConfigsOnSm89AndSm90a) {
  TESSEL_REQUIRE_CUDA_TOOLKIT();
  const auto& kernels = ops::detail::matmul_kernels("", {});
  for (const char* target : {"sm_89", "sm_90a"})
    for (DType operand : {DType::f8e4m3, DType::f8e5m2})
      for (int64_t m : {8, 4096}) {
        MatmulConfig cfg = ops::choose_config(DeviceKind::sim, m, 4096, 4096, operand);
        std::string what =
            fmt::format("{} {} M={} ({}x{}x{}, {} warps)", target, dtype_name(operand), m,
                        cfg.block_m, cfg.block_n, cfg.block_k, cfg.num_warps);
        codegen::gpu::CompileOptions opts;
        opts.num_warps = cfg.num_warps;
        opts.num_stages = cfg.num_stages;
        auto module = trace_tile(kernels.tile, operand, DType::f32, cfg);
        auto out =
            codegen::gpu::compile(*module->functions.front(), codegen::parse_target(target), opts);
        ASSERT_TRUE(out.resources.parsed) << out.info_log;
        EXPECT_EQ(out.resources.spill_stores, 0) << what;
        EXPECT_EQ(out.resources.spill_loads, 0) << what;
        const bool wgmma = std::string(target) == "sm_90a" && cfg.block_m >= 64;
        EXPECT_EQ(codegen::gpu::ptx_stats(out.ptx).get("mma") > 0, !wgmma) << what;
        EXPECT_EQ(codegen::gpu::ptx_stats(out.ptx).get("wgmma.mma_async") > 0, wgmma) << what;
        EXPECT_GT(codegen::gpu::ptx_stats(out.ptx).get("cp.async"), 0) << what;
        EXPECT_NE(out.ptx.find(".version 8.4"), std::string::npos) << what;
      }
}

} // namespace
} // namespace tessel::testing
