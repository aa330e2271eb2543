// The quantized and low-rank matmuls (tessel/ops/quant.h) against f64 references of the
// dequantised math written here, on the CPU backend and on the simulated device, at ragged shapes,
// batch 1 and larger, every int4 group size; the int4 packing round trip; bad input with its
// message; PTX for sm_80 without spills and with the expected mma. Outputs are poisoned (NaN, or
// -1 for int8) so that an element the kernel did not write fails the comparison.
#include "ops_test_util.h"

#include "gpu/gpu_test_util.h"
#include "stdlib/matmul/matmul_kernels.h"
#include "stdlib/quant/quant_kernels.h"
#include "support/expect_error.h"
#include "tessel/codegen/transforms.h"
#include "tessel/ir/pass.h"
#include "tessel/lang/trace.h"
#include "tessel/ops.h"

#include <fmt/format.h>

#include <cstdio>
#include <set>
#include <sstream>

namespace tessel::testing {
namespace {

// A contiguous [rows, cols] tensor of any dtype the ops take, on the host or the simulated device.
class Mat {
public:
  Mat(DeviceKind dev, DType t, int64_t rows, int64_t cols)
      : dev_(dev), t_(t), rows_(rows), cols_(cols) {
    bytes_.assign(size_t(std::max<int64_t>(rows * cols, 1)) * dtype_bytes(t), 0);
    std::vector<double> poison(size_t(rows * cols), std::nan(""));
    set(poison);
  }
  Mat(DeviceKind dev, DType t, int64_t rows, int64_t cols, const std::vector<double>& v)
      : Mat(dev, t, rows, cols) {
    set(v);
  }
  void set(const std::vector<double>& v) {
    for (size_t i = 0; i < v.size(); ++i) {
      unsigned char* p = &bytes_[i * dtype_bytes(t_)];
      if (t_ == DType::i8)
        *reinterpret_cast<int8_t*>(p) = std::isnan(v[i]) ? int8_t(-1) : int8_t(v[i]);
      else
        encode(t_, v[i], p);
    }
    if (dev_ != DeviceKind::cpu) {
      if (!buf_)
        buf_.emplace(runtime::DeviceBuffer::allocate_on(dev_, bytes_.size()));
      buf_->copy_from_host(bytes_.data(), bytes_.size());
    }
  }
  std::vector<double> get() {
    if (buf_)
      buf_->copy_to_host(bytes_.data(), bytes_.size());
    std::vector<double> v(size_t(rows_ * cols_));
    for (size_t i = 0; i < v.size(); ++i) {
      const unsigned char* p = &bytes_[i * dtype_bytes(t_)];
      v[i] = t_ == DType::i8 ? double(*reinterpret_cast<const int8_t*>(p)) : decode(t_, p);
    }
    return v;
  }
  TensorView view() {
    TensorView v;
    v.data = buf_ ? buf_->data() : static_cast<void*>(bytes_.data());
    v.dtype = t_;
    v.device = dev_;
    v.rank = 2;
    v.shape[0] = rows_;
    v.shape[1] = cols_;
    v.strides[0] = cols_;
    v.strides[1] = 1;
    return v;
  }
  // The same memory as a vector of rows * cols elements.
  TensorView vec() {
    TensorView v = view();
    v.rank = 1;
    v.shape[0] = rows_ * cols_;
    v.strides[0] = 1;
    return v;
  }

private:
  DeviceKind dev_;
  DType t_;
  int64_t rows_, cols_;
  std::vector<unsigned char> bytes_;
  std::optional<runtime::DeviceBuffer> buf_;
};

std::vector<double> random_ints(size_t n, uint32_t seed, int lo, int hi) {
  std::mt19937 gen(seed);
  std::uniform_int_distribution<int> d(lo, hi);
  std::vector<double> v(n);
  for (double& x : v)
    x = d(gen);
  return v;
}

// c[m, n] = sum_k a[m, k] b[k, n] in f64.
std::vector<double> ref_matmul(const std::vector<double>& a, const std::vector<double>& b,
                               int64_t m, int64_t k, int64_t n) {
  std::vector<double> c(size_t(m * n), 0.0);
  for (int64_t i = 0; i < m; ++i)
    for (int64_t kk = 0; kk < k; ++kk)
      for (int64_t j = 0; j < n; ++j)
        c[size_t(i * n + j)] += a[size_t(i * k + kk)] * b[size_t(kk * n + j)];
  return c;
}

// Round to nearest even, as float would.
float rne(float v) { return std::nearbyint(v); }

std::vector<DeviceKind> devices() {
  std::vector<DeviceKind> d{DeviceKind::cpu};
  if (sim_device_ready())
    d.push_back(DeviceKind::sim);
  return d;
}

// ---- W8A8: per-token quantization ---------------------------------------------------------------

// The op's math in f32: scale = amax / 127, q = clamp(rne(x / scale)).
void ref_quantize(const std::vector<double>& x, int64_t rows, int64_t cols, std::vector<double>& q,
                  std::vector<double>& scales) {
  q.assign(x.size(), 0);
  scales.assign(size_t(rows), 0);
  for (int64_t r = 0; r < rows; ++r) {
    float amax = 0;
    for (int64_t c = 0; c < cols; ++c)
      amax = std::max(amax, std::fabs(float(x[size_t(r * cols + c)])));
    float scale = amax / 127.0f;
    scales[size_t(r)] = scale;
    for (int64_t c = 0; c < cols; ++c) {
      float t = float(x[size_t(r * cols + c)]) / (amax > 0 ? scale : 1.0f);
      q[size_t(r * cols + c)] = std::clamp(rne(t), -127.0f, 127.0f);
    }
  }
}

TEST(QuantInt8, PerTokenMatchesReferenceExactly) {
  for (DeviceKind dev : devices())
    for (DType t : {DType::f32, DType::f16, DType::bf16})
      for (auto [rows, cols] : {std::pair<int64_t, int64_t>{1, 1}, {5, 33}, {7, 1000}}) {
        std::string what =
            fmt::format("{} {} {}x{}", device_kind_name(dev), dtype_name(t), rows, cols);
        auto xv = rounded(random_values(size_t(rows * cols), 11, -4, 4), t);
        if (rows > 1)
          std::fill(xv.begin() + cols, xv.begin() + 2 * cols, 0.0); // an all-zero row
        // Exact ties: 127 * (k + 0.5) / 127.5... make row 0 hit x / scale = integer + 0.5 once.
        Mat x(dev, t, rows, cols, xv), q(dev, DType::i8, rows, cols), s(dev, DType::f32, rows, 1);
        ops::quantize_per_token_int8(x.view(), q.view(), s.vec());
        std::vector<double> want_q, want_s;
        ref_quantize(xv, rows, cols, want_q, want_s);
        ASSERT_EQ(s.get(), want_s) << what;
        ASSERT_EQ(q.get(), want_q) << what;
      }
}

TEST(QuantInt8, RoundsHalfToEven) {
  // amax 127 gives scale 1: x / scale is x itself, and 2.5 -> 2, 3.5 -> 4, -2.5 -> -2.
  std::vector<double> xv{127, 2.5, 3.5, -2.5, 0.5, -0.5, 1.5, 126.5};
  for (DeviceKind dev : devices()) {
    Mat x(dev, DType::f32, 1, 8, xv), q(dev, DType::i8, 1, 8), s(dev, DType::f32, 1, 1);
    ops::quantize_per_token_int8(x.view(), q.view(), s.vec());
    EXPECT_EQ(q.get(), (std::vector<double>{127, 2, 4, -2, 0, -0, 2, 126}))
        << device_kind_name(dev);
  }
}

// A NaN in a row makes that row's scale NaN (the int8 values cannot carry it); other rows are
// unaffected and the row's q is 0 where x is NaN, never an undefined conversion.
TEST(QuantInt8, NaNRowGetsNaNScale) {
  std::vector<double> xv{1, 2, std::nan(""), 4, 1, -2, 3, 0.5};
  for (DeviceKind dev : devices()) {
    Mat x(dev, DType::f32, 2, 4, xv), q(dev, DType::i8, 2, 4), s(dev, DType::f32, 2, 1);
    ops::quantize_per_token_int8(x.view(), q.view(), s.vec());
    auto sv = s.get(), qv = q.get();
    EXPECT_TRUE(std::isnan(sv[0])) << device_kind_name(dev);
    EXPECT_EQ(qv[2], 0) << device_kind_name(dev);
    EXPECT_FLOAT_EQ(float(sv[1]), 3.0f / 127.0f) << device_kind_name(dev);
    EXPECT_EQ(qv[6], 127) << device_kind_name(dev);
  }
}

TEST(QuantInt8, RmsNormFused) {
  for (DeviceKind dev : devices())
    for (DType t : {DType::f32, DType::f16}) {
      int64_t rows = 6, cols = 300;
      auto xv = rounded(random_values(size_t(rows * cols), 12, -3, 3), t);
      auto wv = rounded(random_values(size_t(cols), 13, 0.5, 1.5), t);
      Mat x(dev, t, rows, cols, xv), w(dev, t, 1, cols, wv);
      Mat q(dev, DType::i8, rows, cols), s(dev, DType::f32, rows, 1);
      ops::rms_norm_quantize_int8(x.view(), w.vec(), q.view(), s.vec(), 1e-5f);
      std::vector<double> h(xv.size());
      for (int64_t r = 0; r < rows; ++r) {
        double ss = 0;
        for (int64_t c = 0; c < cols; ++c)
          ss += xv[size_t(r * cols + c)] * xv[size_t(r * cols + c)];
        double rstd = 1 / std::sqrt(ss / double(cols) + 1e-5);
        for (int64_t c = 0; c < cols; ++c)
          h[size_t(r * cols + c)] = xv[size_t(r * cols + c)] * rstd * wv[size_t(c)];
      }
      std::vector<double> want_q, want_s;
      ref_quantize(h, rows, cols, want_q, want_s);
      auto got_q = q.get(), got_s = s.get();
      std::string what = fmt::format("{} {}", device_kind_name(dev), dtype_name(t));
      expect_close(got_s, want_s, 1e-5, what + " scales");
      // f32 math against an f64 h: a value within an ulp of a rounding tie may round either way.
      for (size_t i = 0; i < got_q.size(); ++i)
        ASSERT_LE(std::fabs(got_q[i] - want_q[i]), 1.0) << what << " element " << i;
    }
}

// ---- W8A8: matmul
// --------------------------------------------------------------------------------

TEST(MatmulW8A8, AgainstDequantisedReference) {
  for (DeviceKind dev : devices())
    for (auto [m, n, k] : {std::tuple<int64_t, int64_t, int64_t>{1, 1, 1},
                           {1, 70, 96},
                           {16, 33, 65},
                           {70, 129, 160}})
      for (DType out_t : {DType::f32, DType::bf16}) {
        if (dev == DeviceKind::sim && m * n * k > 200000)
          continue; // the simulator is slow; the CPU covers the large shape
        auto xq = random_ints(size_t(m * k), 21, -127, 127),
             wq = random_ints(size_t(k * n), 22, -127, 127);
        auto sx = random_values(size_t(m), 23, 0.001, 0.05),
             sw = random_values(size_t(n), 24, 0.001, 0.05);
        sx = rounded(sx, DType::f32);
        sw = rounded(sw, DType::f32);
        Mat x(dev, DType::i8, m, k, xq), w(dev, DType::i8, k, n, wq);
        Mat xs(dev, DType::f32, m, 1, sx), ws(dev, DType::f32, 1, n, sw), out(dev, out_t, m, n);
        SimBankConflicts banks;
        ops::matmul_w8a8(x.view(), xs.vec(), w.view(), ws.vec(), out.view(), {ops::relu()});
        if (dev == DeviceKind::sim) // the s8 mma tile: ldmatrix of x, bytes of w, the epilogue
          banks.expect_none(fmt::format("w8a8 {}x{}x{}", m, n, k));
        auto want = ref_matmul(xq, wq, m, k, n);
        for (int64_t i = 0; i < m; ++i)
          for (int64_t j = 0; j < n; ++j) {
            double& v = want[size_t(i * n + j)];
            v = std::max(0.0, v * sx[size_t(i)] * sw[size_t(j)]);
          }
        expect_close(
            out.get(), want, out_t == DType::f32 ? 1e-6 : rtol_for(out_t),
            fmt::format("{} {}x{}x{} -> {}", device_kind_name(dev), m, n, k, dtype_name(out_t)));
      }
}

// Quantize then multiply, against the float product: the end-to-end error of W8A8 stays small.
TEST(MatmulW8A8, QuantizeThenRunIsCloseToFloat) {
  int64_t m = 9, n = 48, k = 256;
  auto xv = rounded(random_values(size_t(m * k), 31, -1, 1), DType::f16);
  auto wt =
      rounded(random_values(size_t(n * k), 32, -1, 1), DType::f16); // [N, K]: per-channel rows
  for (DeviceKind dev : devices()) {
    Mat x(dev, DType::f16, m, k, xv), xq(dev, DType::i8, m, k), xs(dev, DType::f32, m, 1);
    Mat w(dev, DType::f16, n, k, wt), wq(dev, DType::i8, n, k), ws(dev, DType::f32, n, 1);
    ops::quantize_per_token_int8(x.view(), xq.view(), xs.vec());
    ops::quantize_per_token_int8(w.view(), wq.view(), ws.vec()); // per output channel
    TensorView wq_kn = wq.view(); // [N, K] row-major seen as [K, N] column-major
    std::swap(wq_kn.shape[0], wq_kn.shape[1]);
    std::swap(wq_kn.strides[0], wq_kn.strides[1]);
    Mat out(dev, DType::f32, m, n);
    ops::matmul_w8a8(xq.view(), xs.vec(), wq_kn, ws.vec(), out.view());
    std::vector<double> w_kn(size_t(k * n));
    for (int64_t i = 0; i < n; ++i)
      for (int64_t j = 0; j < k; ++j)
        w_kn[size_t(j * n + i)] = wt[size_t(i * k + j)];
    auto want = ref_matmul(xv, w_kn, m, k, n), got = out.get();
    double num = 0, den = 0;
    for (size_t i = 0; i < want.size(); ++i) {
      num += (got[i] - want[i]) * (got[i] - want[i]);
      den += want[i] * want[i];
    }
    EXPECT_LT(std::sqrt(num / den), 0.02) << device_kind_name(dev); // ~0.5 % for uniform data
  }
}

// ---- W4A16
// ---------------------------------------------------------------------------------------

TEST(Int4Pack, RoundTripIsIdentity) {
  for (auto [k, n] : {std::pair<int64_t, int64_t>{2, 1}, {64, 7}, {256, 33}}) {
    auto nib = random_ints(size_t(k * n), 41, 0, 15);
    Mat q(DeviceKind::cpu, DType::i8, k, n, nib), p(DeviceKind::cpu, DType::i8, k / 2, n);
    Mat back(DeviceKind::cpu, DType::i8, k, n);
    ops::pack_int4(q.view(), p.view());
    ops::unpack_int4(p.view(), back.view());
    EXPECT_EQ(back.get(), nib) << k << "x" << n;
    // The layout: low nibble row r, high nibble row r + K / 2.
    auto pv = p.get();
    EXPECT_EQ(uint8_t(int8_t(pv[0])),
              uint8_t(nib[0]) | uint8_t(uint8_t(nib[size_t(k / 2 * n)]) << 4));
  }
}

// The weights as the kernel dequantises them: (q - zero) * scale, rounded to `t`.
std::vector<double> dequantised(Mat& packed, Mat& scales, Mat* zeros, int64_t k, int64_t n,
                                int64_t group, DType t) {
  Mat q(DeviceKind::cpu, DType::i8, k, n);
  ops::unpack_int4(packed.view(), q.view());
  auto qv = q.get(), sv = scales.get();
  std::vector<double> zv = zeros ? zeros->get() : std::vector<double>(sv.size(), 8.0);
  std::vector<double> w(size_t(k * n));
  for (int64_t r = 0; r < k; ++r)
    for (int64_t c = 0; c < n; ++c) {
      size_t g = size_t((r / group) * n + c);
      w[size_t(r * n + c)] = round_to_dtype(
          double(float((float(qv[size_t(r * n + c)]) - float(zv[g])) * float(sv[g]))), t);
    }
  return w;
}

TEST(Int4Quantize, ErrorWithinHalfAStep) {
  int64_t k = 256, n = 24;
  auto wv = rounded(random_values(size_t(k * n), 42, -2, 2), DType::f16);
  for (int group : {32, 64, 128, ops::kPerChannel})
    for (ops::Int4Mode mode : {ops::Int4Mode::symmetric, ops::Int4Mode::asymmetric}) {
      int64_t g = group == ops::kPerChannel ? k : group;
      bool asym = mode == ops::Int4Mode::asymmetric;
      Mat w(DeviceKind::cpu, DType::f16, k, n, wv), p(DeviceKind::cpu, DType::i8, k / 2, n);
      Mat s(DeviceKind::cpu, DType::f32, k / g, n), z(DeviceKind::cpu, DType::f32, k / g, n);
      ops::quantize_weights_int4(w.view(), group, mode, p.view(), s.view(),
                                 asym ? z.view() : TensorView{});
      auto deq = dequantised(p, s, asym ? &z : nullptr, k, n, g, DType::f32);
      auto sv = s.get();
      for (int64_t r = 0; r < k; ++r)
        for (int64_t c = 0; c < n; ++c) {
          double step = sv[size_t((r / g) * n + c)];
          // Asymmetric: the zero point is rounded, which can shift the grid by up to half a step.
          ASSERT_LE(std::fabs(deq[size_t(r * n + c)] - wv[size_t(r * n + c)]),
                    step * (asym ? 1.0 : 0.5) * (1 + 1e-5))
              << "group " << group << (asym ? " asymmetric" : " symmetric") << " at " << r << ","
              << c;
        }
    }
}

TEST(MatmulW4A16, AgainstDequantisedReference) {
  struct Case {
    int64_t m, n, k;
    int group;
    ops::Int4Mode mode;
    DType t;
  };
  using M = ops::Int4Mode;
  std::vector<Case> cases{{1, 40, 128, 32, M::symmetric, DType::f16},
                          {5, 33, 256, 64, M::asymmetric, DType::f16},
                          {16, 64, 256, 128, M::symmetric, DType::bf16},
                          {17, 70, 96, ops::kPerChannel, M::asymmetric, DType::f16},
                          {70, 100, 384, 128, M::asymmetric, DType::bf16},
                          {3, 1, 64, 32, M::asymmetric, DType::bf16}};
  for (DeviceKind dev : devices())
    for (const Case& c : cases) {
      if (dev == DeviceKind::sim && c.m * c.n * c.k > 200000)
        continue;
      int64_t g = c.group == ops::kPerChannel ? c.k : c.group;
      bool asym = c.mode == M::asymmetric;
      auto wv = rounded(random_values(size_t(c.k * c.n), 51, -1, 1), c.t);
      auto xv = rounded(random_values(size_t(c.m * c.k), 52, -1, 1), c.t);
      Mat w(DeviceKind::cpu, c.t, c.k, c.n, wv), hp(DeviceKind::cpu, DType::i8, c.k / 2, c.n);
      Mat hs(DeviceKind::cpu, DType::f32, c.k / g, c.n),
          hz(DeviceKind::cpu, DType::f32, c.k / g, c.n);
      ops::quantize_weights_int4(w.view(), c.group, c.mode, hp.view(), hs.view(),
                                 asym ? hz.view() : TensorView{});
      Mat p(dev, DType::i8, c.k / 2, c.n, hp.get()), s(dev, DType::f32, c.k / g, c.n, hs.get());
      Mat z(dev, DType::f32, c.k / g, c.n, hz.get()), x(dev, c.t, c.m, c.k, xv);
      for (DType out_t : {DType::f32, c.t}) {
        Mat out(dev, out_t, c.m, c.n);
        ops::matmul_w4a16(x.view(), p.view(), s.view(), asym ? z.view() : TensorView{}, out.view());
        auto want = ref_matmul(xv, dequantised(hp, hs, asym ? &hz : nullptr, c.k, c.n, g, c.t), c.m,
                               c.k, c.n);
        expect_close(out.get(), want, out_t == DType::f32 ? 1e-4 : rtol_for(out_t),
                     fmt::format("{} {}x{}x{} group {} {} {} -> {}", device_kind_name(dev), c.m,
                                 c.n, c.k, c.group, asym ? "asym" : "sym", dtype_name(c.t),
                                 dtype_name(out_t)));
      }
    }
}

// The magic-number dequantisation (0x6400 | q as f16, minus 1024) gives exactly the weights of
// the f32 formula (f32(q) - z) * s rounded to x's dtype: x = I makes out (f32) the dequantised
// weights themselves (one product by 1 per element, the rest exact zeros), compared bit for bit.
// The zeros are arbitrary f32 values (not only the packing's integers) and every nibble occurs.
TEST(MatmulW4A16, DequantisedWeightsBitExact) {
  const int64_t k = 64, n = 24, g = 32;
  for (DeviceKind dev : devices())
    for (DType t : {DType::f16, DType::bf16})
      for (bool asym : {false, true}) {
        Mat hq(DeviceKind::cpu, DType::i8, k, n, random_ints(size_t(k * n), 61, 0, 15));
        Mat hp(DeviceKind::cpu, DType::i8, k / 2, n);
        ops::pack_int4(hq.view(), hp.view());
        Mat hs(DeviceKind::cpu, DType::f32, k / g, n,
               random_values(size_t(k / g * n), 62, 1e-3, 2));
        Mat hz(DeviceKind::cpu, DType::f32, k / g, n, random_values(size_t(k / g * n), 63, 0, 15));
        std::vector<double> eye(size_t(k * k), 0.0);
        for (int64_t i = 0; i < k; ++i)
          eye[size_t(i * k + i)] = 1.0;
        Mat p(dev, DType::i8, k / 2, n, hp.get()), s(dev, DType::f32, k / g, n, hs.get());
        Mat z(dev, DType::f32, k / g, n, hz.get()), x(dev, t, k, k, eye);
        Mat out(dev, DType::f32, k, n);
        ops::matmul_w4a16(x.view(), p.view(), s.view(), asym ? z.view() : TensorView{}, out.view());
        auto want = dequantised(hp, hs, asym ? &hz : nullptr, k, n, g, t);
        auto got = out.get();
        for (size_t i = 0; i < got.size(); ++i)
          ASSERT_EQ(got[i], want[i])
              << device_kind_name(dev) << " " << dtype_name(t) << (asym ? " asym" : " sym")
              << ": weight " << i / n << "," << i % n;
      }
}

// ---- LoRA
// ----------------------------------------------------------------------------------------

TEST(MatmulLora, AgainstReference) {
  struct Case {
    int64_t m, n, k, rank;
    DType t;
  };
  std::vector<Case> cases{{1, 33, 40, 8, DType::f16},
                          {16, 64, 96, 16, DType::bf16},
                          {17, 50, 64, 100, DType::f16},
                          {70, 129, 72, 128, DType::f16},
                          {3, 1, 1, 1, DType::bf16}};
  for (DeviceKind dev : devices())
    for (const Case& c : cases) {
      if (dev == DeviceKind::sim && c.m * c.n * c.k > 200000)
        continue;
      auto xv = rounded(random_values(size_t(c.m * c.k), 61, -1, 1), c.t);
      auto wv = rounded(random_values(size_t(c.k * c.n), 62, -1, 1), c.t);
      auto av = rounded(random_values(size_t(c.k * c.rank), 63, -1, 1), c.t);
      auto bv = rounded(random_values(size_t(c.rank * c.n), 64, -1, 1), c.t);
      Mat x(dev, c.t, c.m, c.k, xv), w(dev, c.t, c.k, c.n, wv), a(dev, c.t, c.k, c.rank, av);
      Mat b(dev, c.t, c.rank, c.n, bv), out(dev, DType::f32, c.m, c.n);
      float scale = 0.5f;
      ops::matmul_lora(x.view(), w.view(), a.view(), b.view(), scale, out.view());
      auto xa = ref_matmul(xv, av, c.m, c.k, c.rank);
      xa = rounded(xa, c.t); // as the kernel (and an unfused x @ A in x's dtype) stores it
      auto xw = ref_matmul(xv, wv, c.m, c.k, c.n), low = ref_matmul(xa, bv, c.m, c.rank, c.n);
      for (size_t i = 0; i < xw.size(); ++i)
        xw[i] += scale * low[i];
      // x @ A summed in f32 may round to the neighbour of the f64 sum's rounding: one ulp of x's
      // dtype on an element of xa, times |B| <= 1 and the scale; allowed for two such elements.
      double xa_max = 0;
      for (double v : xa)
        xa_max = std::max(xa_max, std::fabs(v));
      double ulp = std::ldexp(xa_max, c.t == DType::f16 ? -10 : -7);
      expect_close(out.get(), xw, c.t == DType::f16 ? 2e-3 : 1.6e-2,
                   fmt::format("{} {}x{}x{} rank {} {}", device_kind_name(dev), c.m, c.n, c.k,
                               c.rank, dtype_name(c.t)),
                   2 * scale * ulp);
    }
}

// Mat's memory seen as [batches, rows, cols] (a contiguous [batches * rows, cols] Mat).
TensorView stacked(Mat& m, int64_t batches, int64_t rows, int64_t cols) {
  TensorView v = m.view();
  v.rank = 3;
  v.shape[0] = batches;
  v.shape[1] = rows;
  v.shape[2] = cols;
  v.strides[0] = rows * cols;
  v.strides[1] = cols;
  v.strides[2] = 1;
  return v;
}

TEST(MatmulMultiLora, PerRowAdapters) {
  struct Case {
    int64_t m, n, k, rank, adapters;
    DType t;
  };
  std::vector<Case> cases{{1, 33, 40, 8, 2, DType::f16},
                          {19, 70, 64, 16, 8, DType::f16},
                          {40, 50, 96, 30, 3, DType::bf16},
                          {5, 17, 33, 1, 1, DType::bf16}};
  for (DeviceKind dev : devices())
    for (const Case& c : cases) {
      auto xv = rounded(random_values(size_t(c.m * c.k), 71, -1, 1), c.t);
      auto wv = rounded(random_values(size_t(c.k * c.n), 72, -1, 1), c.t);
      auto av = rounded(random_values(size_t(c.adapters * c.k * c.rank), 73, -1, 1), c.t);
      auto bv = rounded(random_values(size_t(c.adapters * c.rank * c.n), 74, -1, 1), c.t);
      auto iv = random_ints(size_t(c.m), 75, -1, int(c.adapters) - 1);
      Mat x(dev, c.t, c.m, c.k, xv), w(dev, c.t, c.k, c.n, wv);
      Mat a(dev, c.t, c.adapters * c.k, c.rank, av), b(dev, c.t, c.adapters * c.rank, c.n, bv);
      Mat idx(dev, DType::i32, c.m, 1, iv), out(dev, DType::f32, c.m, c.n);
      float scale = 0.25f;
      ops::matmul_multi_lora(x.view(), w.view(), stacked(a, c.adapters, c.k, c.rank),
                             stacked(b, c.adapters, c.rank, c.n), idx.vec(), scale, out.view());
      auto want = ref_matmul(xv, wv, c.m, c.k, c.n);
      double xa_max = 0;
      for (int64_t i = 0; i < c.m; ++i) {
        if (iv[size_t(i)] < 0)
          continue;
        size_t l = size_t(iv[size_t(i)]);
        std::vector<double> xr(xv.begin() + i * c.k, xv.begin() + (i + 1) * c.k);
        std::vector<double> al(av.begin() + l * c.k * c.rank, av.begin() + (l + 1) * c.k * c.rank);
        std::vector<double> bl(bv.begin() + l * c.rank * c.n, bv.begin() + (l + 1) * c.rank * c.n);
        auto xa = rounded(ref_matmul(xr, al, 1, c.k, c.rank), c.t);
        for (double v : xa)
          xa_max = std::max(xa_max, std::fabs(v));
        auto low = ref_matmul(xa, bl, 1, c.rank, c.n);
        for (int64_t j = 0; j < c.n; ++j)
          want[size_t(i * c.n + j)] += scale * low[size_t(j)];
      }
      double ulp = std::ldexp(xa_max, c.t == DType::f16 ? -10 : -7); // as in MatmulLora
      expect_close(out.get(), want, c.t == DType::f16 ? 2e-3 : 1.6e-2,
                   fmt::format("{} {}x{}x{} rank {} x {} adapters {}", device_kind_name(dev), c.m,
                               c.n, c.k, c.rank, c.adapters, dtype_name(c.t)),
                   2 * scale * ulp);
    }
}

// Device indices are not read back: an out-of-range one gives its row NaN, the others are right.
TEST(MatmulMultiLora, DeviceIndexOutOfRangeGivesNaNRow) {
  TESSEL_REQUIRE_SIM_DEVICE();
  int64_t m = 3, n = 16, k = 16, r = 8;
  Mat x(DeviceKind::sim, DType::f16, m, k, std::vector<double>(size_t(m * k), 0.5));
  Mat w(DeviceKind::sim, DType::f16, k, n, std::vector<double>(size_t(k * n), 0.25));
  Mat a(DeviceKind::sim, DType::f16, 2 * k, r, std::vector<double>(size_t(2 * k * r), 0.0));
  Mat b(DeviceKind::sim, DType::f16, 2 * r, n, std::vector<double>(size_t(2 * r * n), 0.0));
  Mat idx(DeviceKind::sim, DType::i32, m, 1, {0, 5, -1}), out(DeviceKind::sim, DType::f32, m, n);
  ops::matmul_multi_lora(x.view(), w.view(), stacked(a, 2, k, r), stacked(b, 2, r, n), idx.vec(),
                         1.0f, out.view());
  auto got = out.get();
  for (int64_t j = 0; j < n; ++j) {
    EXPECT_EQ(got[size_t(j)], 2.0);
    EXPECT_TRUE(std::isnan(got[size_t(n + j)]));
    EXPECT_EQ(got[size_t(2 * n + j)], 2.0);
  }
}

TEST(QuantErrors, MultiLoraHostIndexOutOfRange) {
  Mat x(DeviceKind::cpu, DType::f16, 2, 16), w(DeviceKind::cpu, DType::f16, 16, 8);
  Mat a(DeviceKind::cpu, DType::f16, 2 * 16, 8), b(DeviceKind::cpu, DType::f16, 2 * 8, 8);
  Mat idx(DeviceKind::cpu, DType::i32, 2, 1, {1, 2}), out(DeviceKind::cpu, DType::f32, 2, 8);
  expect_error(
      [&] {
        ops::matmul_multi_lora(x.view(), w.view(), stacked(a, 2, 16, 8), stacked(b, 2, 8, 8),
                               idx.vec(), 1.0f, out.view());
      },
      {"matmul_multi_lora: indices[1] is 2; expected -1 (no adapter) or an adapter from 0 to 1"});
}

TEST(QuantErrors, MultiLoraTooManyRankColumns) {
  Mat x(DeviceKind::cpu, DType::f16, 2, 16), w(DeviceKind::cpu, DType::f16, 16, 8);
  Mat a(DeviceKind::cpu, DType::f16, 3 * 16, 64), b(DeviceKind::cpu, DType::f16, 3 * 64, 8);
  Mat idx(DeviceKind::cpu, DType::i32, 2, 1, {0, 2}), out(DeviceKind::cpu, DType::f32, 2, 8);
  expect_error(
      [&] {
        ops::matmul_multi_lora(x.view(), w.view(), stacked(a, 3, 16, 64), stacked(b, 3, 64, 8),
                               idx.vec(), 1.0f, out.view());
      },
      {"matmul_multi_lora: a has 3 adapters of rank 64: 4 x 64 stacked rank columns"});
}

// ---- bad input
// -----------------------------------------------------------------------------------

TEST(QuantErrors, NonFiniteWeight) {
  std::vector<double> wv(64 * 4, 0.5);
  wv[5 * 4 + 2] = std::nan("");
  Mat w(DeviceKind::cpu, DType::f32, 64, 4, wv), p(DeviceKind::cpu, DType::i8, 32, 4);
  Mat s(DeviceKind::cpu, DType::f32, 2, 4);
  expect_error(
      [&] {
        ops::quantize_weights_int4(w.view(), 32, ops::Int4Mode::symmetric, p.view(), s.view());
      },
      {"quantize_weights_int4: w[5, 2] is nan; int4 quantization needs finite weights"});
}

TEST(QuantErrors, GroupSizeNotDividingK) {
  Mat w(DeviceKind::cpu, DType::f16, 96, 8), p(DeviceKind::cpu, DType::i8, 48, 8);
  Mat s(DeviceKind::cpu, DType::f32, 1, 8);
  expect_error(
      [&] {
        ops::quantize_weights_int4(w.view(), 64, ops::Int4Mode::symmetric, p.view(), s.view());
      },
      {"quant_test.cpp:", "quantize_weights_int4: group_size 64 does not divide K = 96"});
}

TEST(QuantErrors, GroupSizeUnsupported) {
  Mat w(DeviceKind::cpu, DType::f16, 96, 8), p(DeviceKind::cpu, DType::i8, 48, 8);
  Mat s(DeviceKind::cpu, DType::f32, 2, 8);
  expect_error(
      [&] {
        ops::quantize_weights_int4(w.view(), 48, ops::Int4Mode::symmetric, p.view(), s.view());
      },
      {"group_size is 48; expected 32, 64, 128 or kPerChannel"});
}

TEST(QuantErrors, PackingOnDevice) {
  TESSEL_REQUIRE_SIM_DEVICE();
  Mat w(DeviceKind::sim, DType::f16, 64, 8), p(DeviceKind::cpu, DType::i8, 32, 8);
  Mat s(DeviceKind::cpu, DType::f32, 2, 8);
  expect_error(
      [&] {
        ops::quantize_weights_int4(w.view(), 32, ops::Int4Mode::symmetric, p.view(), s.view());
      },
      {"w is on device sim; int4 packing is an offline step on host tensors"});
}

TEST(QuantErrors, W4A16ScalesWrongShape) {
  Mat x(DeviceKind::cpu, DType::f16, 2, 64), p(DeviceKind::cpu, DType::i8, 32, 8);
  Mat s(DeviceKind::cpu, DType::f32, 2, 7), out(DeviceKind::cpu, DType::f32, 2, 8);
  expect_error([&] { ops::matmul_w4a16(x.view(), p.view(), s.view(), {}, out.view()); },
               {"matmul_w4a16: scales has shape [2, 7]; expected [K / group_size, N] with K = 64 "
                "and N = 8"});
}

TEST(QuantErrors, W4A16ZerosWrongShape) {
  Mat x(DeviceKind::cpu, DType::f16, 2, 64), p(DeviceKind::cpu, DType::i8, 32, 8);
  Mat s(DeviceKind::cpu, DType::f32, 2, 8), z(DeviceKind::cpu, DType::f32, 1, 8);
  Mat out(DeviceKind::cpu, DType::f32, 2, 8);
  expect_error([&] { ops::matmul_w4a16(x.view(), p.view(), s.view(), z.view(), out.view()); },
               {"matmul_w4a16: zeros has shape [1, 8] but scales has shape [2, 8]"});
}

TEST(QuantErrors, W4A16PackedWrongShape) {
  Mat x(DeviceKind::cpu, DType::f16, 2, 64), p(DeviceKind::cpu, DType::i8, 64, 8);
  Mat s(DeviceKind::cpu, DType::f32, 2, 8), out(DeviceKind::cpu, DType::f32, 2, 8);
  expect_error([&] { ops::matmul_w4a16(x.view(), p.view(), s.view(), {}, out.view()); },
               {"packed has shape [64, 8]; expected [32, 8]"});
}

TEST(QuantErrors, W8A8ScalesWrongShape) {
  Mat x(DeviceKind::cpu, DType::i8, 4, 32), w(DeviceKind::cpu, DType::i8, 32, 8);
  Mat xs(DeviceKind::cpu, DType::f32, 3, 1), ws(DeviceKind::cpu, DType::f32, 8, 1);
  Mat out(DeviceKind::cpu, DType::f32, 4, 8);
  expect_error([&] { ops::matmul_w8a8(x.view(), xs.vec(), w.view(), ws.vec(), out.view()); },
               {"matmul_w8a8: x_scales has shape [3] but xq's M is 4; expected shape [4]"});
}

TEST(QuantErrors, W8A8TensorEpilogueAfterDequant) {
  Mat x(DeviceKind::cpu, DType::i8, 4, 32), w(DeviceKind::cpu, DType::i8, 32, 8);
  Mat xs(DeviceKind::cpu, DType::f32, 4, 1), ws(DeviceKind::cpu, DType::f32, 8, 1);
  Mat bias(DeviceKind::cpu, DType::f32, 8, 1), out(DeviceKind::cpu, DType::f32, 4, 8);
  expect_error(
      [&] {
        ops::matmul_w8a8(x.view(), xs.vec(), w.view(), ws.vec(), out.view(),
                         {ops::bias(bias.vec())});
      },
      {"matmul: the epilogues read 3 tensors", "a matmul epilogue list reads at most 2 tensors"});
}

TEST(QuantErrors, LoraRankUnsupported) {
  Mat x(DeviceKind::cpu, DType::f16, 2, 16), w(DeviceKind::cpu, DType::f16, 16, 8);
  Mat a(DeviceKind::cpu, DType::f16, 16, 129), b(DeviceKind::cpu, DType::f16, 129, 8);
  Mat out(DeviceKind::cpu, DType::f32, 2, 8);
  expect_error([&] { ops::matmul_lora(x.view(), w.view(), a.view(), b.view(), 1.0f, out.view()); },
               {"matmul_lora: a has shape [16, 129]: rank 129 is not supported; expected a rank "
                "from 1 to 128"});
}

TEST(QuantErrors, LoraRankMismatch) {
  Mat x(DeviceKind::cpu, DType::f16, 2, 16), w(DeviceKind::cpu, DType::f16, 16, 8);
  Mat a(DeviceKind::cpu, DType::f16, 16, 8), b(DeviceKind::cpu, DType::f16, 16, 8);
  Mat out(DeviceKind::cpu, DType::f32, 2, 8);
  expect_error([&] { ops::matmul_lora(x.view(), w.view(), a.view(), b.view(), 1.0f, out.view()); },
               {"matmul_lora: b has shape [16, 8]; expected [8, 8] (a's rank by w's N)"});
}

TEST(QuantErrors, QuantizeWrongScales) {
  Mat x(DeviceKind::cpu, DType::f32, 4, 32), q(DeviceKind::cpu, DType::i8, 4, 32);
  Mat s(DeviceKind::cpu, DType::f32, 3, 1);
  expect_error([&] { ops::quantize_per_token_int8(x.view(), q.view(), s.vec()); },
               {"quantize_per_token_int8: scales has shape [3] (3 elements) but x has 4 rows"});
}

// ---- PTX
// -----------------------------------------------------------------------------------------

// `k` traced as the ops launch it for contiguous operands: pointers 16-byte aligned with the
// dtypes given by name, integers divisible by 16, the constants given by name.
std::unique_ptr<ir::Module> trace_for(const Kernel& k, const std::map<std::string, DType>& dtypes,
                                      const std::map<std::string, int>& consts,
                                      const std::set<std::string>& unit_strides = {}) {
  const std::vector<std::string>& names = k.def().param_names;
  std::vector<lang::ParamBinding> b;
  for (size_t i = 0; i < k.def().params.size(); ++i) {
    lang::ParamBinding pb;
    switch (k.def().params[i].kind) {
    case lang::ParamKind::Ptr:
      pb.dtype = dtypes.at(names[i]);
      pb.divisibility = 16;
      break;
    case lang::ParamKind::Int:
      pb.divisibility = 16;
      pb.equals_one = unit_strides.count(names[i]) != 0;
      break;
    case lang::ParamKind::Float:
      break;
    case lang::ParamKind::Const:
      pb.const_int = consts.at(names[i]);
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

std::string sm80_ptx(const ir::Module& module, int num_warps, const std::string& what) {
  codegen::gpu::CompileOptions opts;
  opts.num_warps = num_warps;
  auto out = codegen::gpu::compile(*module.functions.front(), codegen::parse_target("sm_80"), opts);
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

TEST(QuantPtx, W4A16F16MmaNoSpills) {
  TESSEL_REQUIRE_CUDA_TOOLKIT();
  for (int bm : {16, 64}) {
    auto module = trace_for(ops::detail::w4a16_kernel(),
                            {{"out", DType::f16},
                             {"x", DType::f16},
                             {"packed", DType::i8},
                             {"scales", DType::f32},
                             {"zeros", DType::f32},
                             {"perm", DType::i32},
                             {"e0", DType::f32},
                             {"e1", DType::f32}},
                            {{"ZEROS", 1}, {"PERM", 0}, {"BM", bm}, {"BN", 64}, {"BK", 32}});
    std::string ptx = sm80_ptx(*module, 4, fmt::format("w4a16 BM={}", bm));
    EXPECT_NE(ptx.find("mma.sync.aligned.m16n8k16.row.col.f32.f16.f16.f32"), std::string::npos);
    RecordProperty(fmt::format("lop3_bm{}", bm), int(codegen::gpu::ptx_stats(ptx).get("lop3")));
    RecordProperty(fmt::format("prmt_bm{}", bm), int(codegen::gpu::ptx_stats(ptx).get("prmt")));
  }
}

// Instruction lines of `ptx` whose opcode starts with `prefix` (ptx_stats counts memory, barrier
// and tensor-core kinds, not the integer and conversion ones the int4 dequantiser is judged by).
int count_opcodes(const std::string& ptx, const std::string& prefix) {
  int count = 0;
  std::istringstream in(ptx);
  std::string line;
  while (std::getline(in, line)) {
    std::istringstream words(line);
    std::string op;
    words >> op;
    if (!op.empty() && op[0] == '@')
      words >> op; // the predicate guard
    count += op.rfind(prefix, 0) == 0 ? 1 : 0;
  }
  return count;
}

// The dequantiser turns nibbles into f16 by bit operations (the 0x6400 OR) and an exact f16
// subtraction: no int -> float conversion (cvt.rn.f32.s*/u*, cvt.rn.f16.s*/u*) is left.
TEST(QuantPtx, W4A16DequantIsMagicNumber) {
  TESSEL_REQUIRE_CUDA_TOOLKIT();
  for (DType t : {DType::f16, DType::bf16})
    for (int bm : {16, 64}) {
      auto module = trace_for(ops::detail::w4a16_kernel(),
                              {{"out", t},
                               {"x", t},
                               {"packed", DType::i8},
                               {"scales", DType::f32},
                               {"zeros", DType::f32},
                               {"perm", DType::i32},
                               {"e0", DType::f32},
                               {"e1", DType::f32}},
                              {{"ZEROS", 1}, {"PERM", 0}, {"BM", bm}, {"BN", 64}, {"BK", 32}});
      std::string what = fmt::format("w4a16 {} BM={}", dtype_name(t), bm);
      std::string ptx = sm80_ptx(*module, 4, what);
      int int_to_float = 0;
      for (const char* cvt : {"cvt.rn.f32.s", "cvt.rn.f32.u", "cvt.rn.f16.s", "cvt.rn.f16.u"})
        int_to_float += count_opcodes(ptx, cvt);
      EXPECT_EQ(int_to_float, 0) << what;
      int bit_ops = count_opcodes(ptx, "lop3") + count_opcodes(ptx, "prmt") +
                    count_opcodes(ptx, "or.b16") + count_opcodes(ptx, "or.b32");
      EXPECT_GT(bit_ops, 0) << what;
      for (const char* op : {"lop3", "prmt", "or.b", "and.b", "bfe", "cvt", "sub.f16", "sub.rn.f16",
                             "sub.f32", "sub.rn.f32", "mul.rn.f32", "fma", "mma"})
        std::printf("%s %s: %d\n", what.c_str(), op, count_opcodes(ptx, op));
    }
}

TEST(QuantPtx, LoraF16MmaNoSpills) {
  TESSEL_REQUIRE_CUDA_TOOLKIT();
  // Plain LoRA at ranks 16 and 128, and 8 adapters of rank 16 selected per row.
  for (auto [r, l, warps] : {std::tuple{16, 1, 4}, {128, 1, 8}, {16, 8, 8}}) {
    auto module = trace_for(
        ops::detail::lora_kernel(),
        {{"out", DType::f16},
         {"x", DType::f16},
         {"w", DType::f16},
         {"a", DType::f16},
         {"b", DType::f16},
         {"idx", DType::i32},
         {"e0", DType::f32},
         {"e1", DType::f32}},
        {{"BM", 64}, {"BN", 64}, {"BK", 32}, {"R", r}, {"L", l}, {"INDEXED", l > 1 ? 1 : 0}});
    std::string ptx = sm80_ptx(*module, warps, fmt::format("lora R={} L={}", r, l));
    EXPECT_NE(ptx.find("mma.sync.aligned.m16n8k16.row.col.f32.f16.f16.f32"), std::string::npos);
  }
}

// matmul_w8a8 runs ops::matmul's int8 tile kernel: s8 x s8 -> s32 on the m16n8k32 mma.
TEST(QuantPtx, W8A8S8MmaNoSpills) {
  TESSEL_REQUIRE_CUDA_TOOLKIT();
  const auto& kernels = ops::detail::matmul_kernels("", {});
  for (int64_t m : {8, 4096}) {
    ops::MatmulConfig cfg = ops::choose_config(DeviceKind::sim, m, 4096, 4096, DType::i8);
    auto module = trace_for(
        kernels.tile,
        {{"c", DType::f32},
         {"a", DType::i8},
         {"b", DType::i8},
         {"e0", DType::f32},
         {"e1", DType::f32}},
        {{"BM", cfg.block_m}, {"BN", cfg.block_n}, {"BK", cfg.block_k}, {"GROUP_M", cfg.group_m}},
        {"a_k", "b_n", "c_n", "e0_n", "e1_n"});
    std::string ptx = sm80_ptx(*module, cfg.num_warps, fmt::format("w8a8 M={}", m));
    EXPECT_NE(ptx.find("mma.sync.aligned.m16n8k32.row.col.s32.s8.s8.s32"), std::string::npos);
    // x (K contiguous) is read as b16 pairs by ldmatrix (docs/gpu_codegen.md, "8-bit operands").
    EXPECT_NE(ptx.find("ldmatrix.sync.aligned.m8n8.x4.shared.b16"), std::string::npos);
  }
}

TEST(QuantPtx, QuantizeNoSpills) {
  TESSEL_REQUIRE_CUDA_TOOLKIT();
  auto module = trace_for(
      ops::detail::quantize_int8_kernel(),
      {{"q", DType::i8}, {"scales", DType::f32}, {"x", DType::f16}, {"weight", DType::f16}},
      {{"NORM", 1}, {"BLOCK", 1024}});
  sm80_ptx(*module, 4, "rms_norm_quantize_int8");
}

} // namespace
} // namespace tessel::testing
