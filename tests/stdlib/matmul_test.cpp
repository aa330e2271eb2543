// ops::matmul against an f64 reference written here, on the CPU backend and on the simulated
// device: f16, bf16, f32 and int8 operands; row- and column-major a and b; batched (with a shared
// operand) and split-K; each provided epilogue and a user epilogue; ragged shapes (1x1x1,
// 17x33x65, 128x256x64, 255x129x97) and decode shapes (M = 1..16); outputs poisoned with NaN.
// Then the kernel identity of user epilogues, bad input with its message, and PTX without spills.
#include "ops_test_util.h"

#include "gpu/gpu_test_util.h"
#include "stdlib/matmul/matmul_kernels.h"
#include "support/expect_error.h"
#include "tessel/lang/ops.h"
#include "tessel/ops.h"

#include <fmt/format.h>

#include <functional>

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
    if (dev_ != DeviceKind::cpu)
      buf_.emplace(runtime::DeviceBuffer::allocate_on(dev_, bytes_.size()));
    sync_to_device();
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
  std::vector<unsigned char> bytes_;
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

// The f64 reference of the provided epilogues, applied in order to one element at (b, i, j).
struct RefStep {
  std::function<double(double acc, int64_t b, int64_t i, int64_t j)> f;
};

double gelu_erf(double x) { return 0.5 * x * (1 + std::erf(x / std::sqrt(2.0))); }
double gelu_tanh(double x) {
  return 0.5 * x * (1 + std::tanh(std::sqrt(2 / M_PI) * (x + 0.044715 * x * x * x)));
}

struct Layout {
  bool a_col = false, b_col = false; // column-major (the first matrix dim has stride 1)
};

struct Case {
  int64_t m, n, k;
  int64_t batch = 0;        // 0: rank-2 operands
  bool shared_b = false;    // batched a and c, rank-2 b (batch stride 0)
  int split_k = 1;
  std::optional<MatmulConfig> config;
};

std::string case_str(DeviceKind dev, DType t, const Case& c, Layout l, const std::string& epi) {
  return fmt::format("{} {} {}x{}x{} batch {}{} split_k {} a {} b {} [{}]", device_kind_name(dev),
                     dtype_name(t), c.m, c.n, c.k, c.batch, c.shared_b ? " (shared b)" : "",
                     c.split_k, l.a_col ? "col" : "row", l.b_col ? "col" : "row", epi);
}

// Strides of a [batch?, r, c] operand in the given majority.
std::vector<int64_t> strides_for(const std::vector<int64_t>& shape, bool col_major) {
  std::vector<int64_t> s = StridedTensor::contiguous(shape);
  if (!col_major)
    return s;
  size_t r = shape.size() - 2;
  s[r] = 1;
  s[r + 1] = shape[r];
  return s;
}

DType default_c_dtype(DType t) { return t == DType::i8 ? DType::i32 : t; }

// Tolerance of one matmul element: |got - want| <= tol * (sum_k |a b| + |epilogue terms|) + the
// output rounding. f32: f32 accumulation over K terms (K * 2^-24 is < 1e-5 at these K); f16/bf16
// operands are exact in f32, so the accumulation error is f32's, plus one output rounding;
// int8 into i32 is exact.
double accumulate_tol(DType t) { return t == DType::i8 ? 0 : 1e-5; }
double output_rounding(DType c) { return c == DType::f16 ? 1e-3 : c == DType::bf16 ? 8e-3 : 1e-6; }

struct Run {
  DeviceKind dev;
  DType t;
  Case c;
  Layout l;
};

// c = chain(a @ b) and the reference; c's old contents (for beta) are `c_old` when given.
void check(const Run& r, const std::string& epi_name, const std::vector<Epilogue>& chain,
           const std::vector<RefStep>& ref_steps, StridedTensor& c_out,
           const std::vector<double>& c_old = {}) {
  const Case& c = r.c;
  std::vector<int64_t> a_shape{c.m, c.k}, b_shape{c.k, c.n};
  if (c.batch > 0) {
    a_shape.insert(a_shape.begin(), c.batch);
    if (!c.shared_b)
      b_shape.insert(b_shape.begin(), c.batch);
  }
  StridedTensor a(r.dev, r.t, a_shape, strides_for(a_shape, r.l.a_col));
  StridedTensor b(r.dev, r.t, b_shape, strides_for(b_shape, r.l.b_col));
  auto av = operand_values(r.t, size_t(a.numel()), uint32_t(c.m * 131 + c.k));
  auto bv = operand_values(r.t, size_t(b.numel()), uint32_t(c.n * 7 + c.k + 1));
  a.set(av);
  b.set(bv);
  int64_t batches = std::max<int64_t>(c.batch, 1);
  std::optional<StridedTensor> ws;
  MatmulOptions o{.epilogue = chain, .split_k = c.split_k, .config = c.config};
  DType acc = r.t == DType::i8 ? DType::i32 : DType::f32;
  if (c.split_k > 1) {
    ws.emplace(r.dev, acc, std::vector<int64_t>{c.split_k * batches * c.m * c.n}, std::vector<int64_t>{1});
    o.workspace = ws->view();
  }
  ops::matmul(a.view(), b.view(), c_out.view(), o);
  std::vector<double> got = c_out.get(), want(got.size()), bound(got.size());
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
        size_t at = size_t(bi * c.m * c.n + i * c.n + j);
        for (const RefStep& st : ref_steps)
          s = st.f(s, bi, i, j);
        want[at] = s;
        bound[at] = accumulate_tol(r.t) * (mag + 1) * (ref_steps.empty() ? 1 : 4) +
                    output_rounding(c_out.view().dtype) * std::fabs(s);
      }
  (void)c_old;
  std::string what = case_str(r.dev, r.t, c, r.l, epi_name);
  for (size_t i = 0; i < got.size(); ++i)
    ASSERT_LE(std::fabs(got[i] - want[i]), bound[i])
        << what << ": element " << i << " is " << got[i] << ", expected " << want[i];
}

StridedTensor output(const Run& r, DType dtype) {
  std::vector<int64_t> shape{r.c.m, r.c.n};
  if (r.c.batch > 0)
    shape.insert(shape.begin(), r.c.batch);
  return StridedTensor(r.dev, dtype, shape, StridedTensor::contiguous(shape));
}

void check_plain(const Run& r) {
  StridedTensor c = output(r, default_c_dtype(r.t));
  check(r, "none", {}, {}, c);
}

TEST(Matmul, SmokeCpu) {
  for (DType t : {DType::f32, DType::f16, DType::bf16, DType::i8})
    check_plain({DeviceKind::cpu, t, Case{17, 33, 65}, {}});
}

} // namespace
} // namespace tessel::testing
