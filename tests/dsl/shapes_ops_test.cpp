// join/split/interleave/cat/flip/gather/histogram, sort/topk, scans and tuple reductions on the
// CPU backend against C++ references (kernels and references: shapes_kernels.h), for several
// dtypes, tile sizes from 1 to 1024 (sorts to 128: their IR grows as log^2 n), masked
// (non-power-of-two valid extents) and unmasked loads. The IR and the diagnostics:
// shapes_ir_test.cpp.
#include "dsl/shapes_kernels.h"

#include "support/expect_error.h"

#include <gtest/gtest.h>

#include <bit>
#include <random>

namespace tessel::testing {

// Expected outputs of one 1-D case: `values` and `indices` are compared element by element
// (exactly when tol == 0); shorter vectors compare a prefix.
struct Expected {
  std::vector<double> values;
  std::vector<int32_t> indices;
  double tol = 0;
  bool zero_sign_free = false; // plain sorts order -0.0 and +0.0 as equals
};

inline double wrap_i32(double v) { return double(int32_t(uint32_t(int64_t(v)))); }

// The 1-D reference for `op` on the loaded tiles x, y (and integer tile ia).
inline Expected reference_1d(int op, const std::vector<double>& x, const std::vector<double>& y,
                             const std::vector<int32_t>& ia, int64_t n, int K, DType t) {
  const size_t N = x.size();
  Expected e;
  bool fl = dtype_is_float(t);
  auto round = [&](double v) { return fl ? round_to_dtype(v, t) : wrap_i32(v); };
  switch (op) {
  case Join:
  case Interleave:
    for (size_t i = 0; i < N; ++i)
      e.values.insert(e.values.end(), {x[i], y[i]});
    break;
  case Cat:
    e.values = x;
    e.values.insert(e.values.end(), y.begin(), y.end());
    break;
  case Split: {
    std::vector<double> lo, hi; // x holds the 2N loaded elements
    for (size_t i = 0; i < N / 2; ++i) {
      lo.push_back(x[2 * i]);
      hi.push_back(x[2 * i + 1]);
    }
    e.values = lo;
    e.values.insert(e.values.end(), hi.begin(), hi.end());
    break;
  }
  case Flip:
    e.values.assign(x.rbegin(), x.rend());
    break;
  case Sort:
  case SortDesc:
  case SortIdx:
  case SortIdxDesc:
  case TopK: {
    bool desc = op == SortDesc || op == SortIdxDesc || op == TopK;
    auto order = sorted_order(x, desc);
    size_t count = op == TopK ? size_t(K) : N;
    for (size_t i = 0; i < count; ++i)
      e.values.push_back(x[size_t(order[i])]);
    e.zero_sign_free = op == Sort || op == SortDesc;
    if (op != Sort && op != SortDesc)
      e.indices.assign(order.begin(), order.begin() + long(count));
    break;
  }
  case Gather:
    for (size_t i = 0; i < N; ++i)
      e.values.push_back(ia[i] >= 0 && size_t(ia[i]) < N ? x[size_t(ia[i])] : fl ? -0.0 : 0.0);
    break;
  case Histogram:
    e.indices.assign(size_t(K), 0);
    for (int64_t i = 0; i < n; ++i)
      if (ia[size_t(i)] >= 0 && ia[size_t(i)] < K)
        ++e.indices[size_t(ia[size_t(i)])];
    break;
  case Cumsum:
  case CumsumRev:
  case CumsumTree:
  case Cumprod:
  case CumprodRev:
  case Recurrence:
  case RecurrenceRev: {
    bool rev = op == CumsumRev || op == CumprodRev || op == RecurrenceRev;
    bool prod = op == Cumprod || op == CumprodRev;
    bool rec = op == Recurrence || op == RecurrenceRev;
    e.values.assign(N, 0);
    double acc = prod ? 1 : 0;
    for (size_t k = 0; k < N; ++k) {
      size_t i = rev ? N - 1 - k : k;
      acc = rec ? round(acc * x[i] + y[i]) : prod ? round(acc * x[i]) : round(acc + x[i]);
      e.values[i] = acc;
    }
    e.tol = fl ? tolerance_for(t, 64) : 0;
    break;
  }
  }
  return e;
}

namespace {

struct Case1 {
  int op;
  DType dtype;
  int64_t N, n;
  int K = 1;
};

std::string name_of(const Case1& c) {
  return "op " + std::to_string(c.op) + " " + dtype_name(c.dtype) + " N=" + std::to_string(c.N) +
         " n=" + std::to_string(c.n) + " K=" + std::to_string(c.K);
}

// Random inputs with a fixed seed: floats in [-4, 4) (small integers in places, so sorts meet
// ties), integers in [-50, 50), indices in [-1, N] (so gathers meet out-of-range indices).
Inputs inputs_for(const Case1& c, uint64_t seed, double lo = -4, double hi = 4) {
  std::mt19937_64 rng(seed);
  std::uniform_real_distribution<double> dist(lo, hi);
  std::uniform_int_distribution<int> ints(-50, 49), index(-1, int(c.N));
  Inputs in{c.dtype, {}, {}, {}};
  size_t len = size_t(2 * c.N);
  bool fl = dtype_is_float(c.dtype);
  for (size_t i = 0; i < len; ++i) {
    double v = fl ? round_to_dtype(i % 5 == 0 ? std::trunc(dist(rng)) : dist(rng), c.dtype)
                  : double(ints(rng));
    in.a.push_back(v);
    in.b.push_back(fl ? round_to_dtype(dist(rng), c.dtype) : double(ints(rng)));
    in.ia.push_back(c.op == Histogram ? int32_t(ints(rng) % (c.K + 2)) : index(rng));
  }
  return in;
}

} // namespace

void check_1d(const Case1& c, DeviceKind where, uint64_t seed = 1, int num_warps = 4,
              double lo = -4, double hi = 4) {
  SCOPED_TRACE(name_of(c) + " on " + device_kind_name(where));
  Inputs in = inputs_for(c, seed, lo, hi);
  size_t out_len = size_t(std::max<int64_t>(2 * c.N, c.K));
  Outputs got = run_case(shapes_1d_kernel(), where, in, out_len, {c.n, c.op, c.N, c.K},
                         /*two_d=*/false, num_warps);
  int64_t valid = c.op == Split ? 2 * c.n : c.n;
  std::vector<double> x = loaded(in.a, valid, c.op == Split ? 2 * c.N : c.N);
  std::vector<double> y = loaded(in.b, c.n, c.N);
  std::vector<int32_t> ia(in.ia.begin(), in.ia.begin() + c.N);
  for (int64_t i = c.n; i < c.N; ++i)
    ia[size_t(i)] = 0; // masked loads read 0
  Expected e = reference_1d(c.op, x, y, ia, c.n, c.K, c.dtype);
  for (size_t i = 0; i < e.values.size(); ++i) {
    if (e.tol == 0) {
      bool same =
          got.values[i] == e.values[i] || (std::isnan(got.values[i]) && std::isnan(e.values[i]));
      EXPECT_TRUE(same) << "value " << i << ": got " << got.values[i] << ", want " << e.values[i];
      if (e.values[i] == 0 && got.values[i] == 0 && !e.zero_sign_free) {
        EXPECT_EQ(std::signbit(got.values[i]), std::signbit(e.values[i])) << "sign of zero " << i;
      }
    } else {
      EXPECT_TRUE(close_enough(got.values[i], e.values[i], e.tol))
          << "value " << i << ": got " << got.values[i] << ", want " << e.values[i];
    }
  }
  for (size_t i = 0; i < e.indices.size(); ++i)
    EXPECT_EQ(got.indices[i], e.indices[i]) << "index " << i;
}

namespace {

using Sizes = std::vector<std::pair<int64_t, int64_t>>; // (tile N, valid n)

// Each op on f32 at sizes 1, 8 (masked), 256 (masked), and on i8/f16 at 8.
TEST(ShapesOnCpu, JoinSplitInterleaveCatFlipGather) {
  for (int op : {Join, Interleave, Cat, Split, Flip, Gather}) {
    for (auto [N, n] : Sizes{{1, 1}, {8, 5}, {256, 201}})
      check_1d({op, DType::f32, N, n}, DeviceKind::cpu);
    for (DType t : {DType::i8, DType::f16})
      check_1d({op, t, 8, 8}, DeviceKind::cpu);
  }
  check_1d({Flip, DType::i32, 1024, 1000}, DeviceKind::cpu);
}

// A bitonic sort of 2^m elements is m(m+1)/2 steps of IR, compiled for each case, so the large
// tiles are few: 128 (28 steps) is the largest here; the simulator test runs 64.
TEST(ShapesOnCpu, SortAndTopk) {
  for (int op : {Sort, SortDesc, SortIdx, SortIdxDesc}) {
    for (auto [N, n] : Sizes{{1, 1}, {16, 13}})
      check_1d({op, DType::f32, N, n}, DeviceKind::cpu);
    check_1d({op, op % 2 ? DType::i32 : DType::f16, 16, 11}, DeviceKind::cpu);
  }
  check_1d({SortIdx, DType::f32, 128, 77}, DeviceKind::cpu);
  check_1d({SortDesc, DType::i32, 128, 128}, DeviceKind::cpu);
  for (int K : {1, 32})
    check_1d({TopK, DType::f32, 32, 29, K}, DeviceKind::cpu);
  check_1d({TopK, DType::i32, 16, 16, 8}, DeviceKind::cpu);
}

TEST(ShapesOnCpu, HistogramCountsValidInRangeValues) {
  check_1d({Histogram, DType::i32, 1, 1, 1}, DeviceKind::cpu);
  check_1d({Histogram, DType::i32, 64, 50, 8}, DeviceKind::cpu);
  check_1d({Histogram, DType::i32, 512, 512, 64}, DeviceKind::cpu);
}

TEST(ScansOnCpu, CumsumCumprodAndRecurrence) {
  for (int op : {Cumsum, CumsumRev, CumsumTree}) {
    for (auto [N, n] : Sizes{
             {1, 1}, {8, 7}, {op == CumsumRev ? 256 : 1024, 999 % (op == CumsumRev ? 256 : 1024)}})
      check_1d({op, DType::f32, N, n}, DeviceKind::cpu);
    for (DType t : {DType::i32, DType::f16})
      check_1d({op, t, 32, 32}, DeviceKind::cpu);
  }
  // Products and the recurrence stay bounded with factors near 1.
  for (int op : {Cumprod, CumprodRev, Recurrence, RecurrenceRev})
    for (auto [N, n] : Sizes{{1, 1}, {64, 50}})
      check_1d({op, DType::f32, N, n}, DeviceKind::cpu, 3, 4, 0.5, 1.5);
  // Integer products wrap in i32.
  for (int op : {Cumprod, CumprodRev})
    check_1d({op, DType::i32, 64, 60}, DeviceKind::cpu);
}

// NaN, signed zeros and ties: NaN sorts last (first when descending), equal values keep their
// index order, the sort is a permutation with every bit kept.
TEST(ShapesOnCpu, SortOrdersNanAndTiesTotally) {
  HostArray a(DType::f32, 8), b(DType::f32, 8), ia(DType::i32, 8);
  HostArray out(DType::f32, 16), idx(DType::i32, 16);
  const double in[8] = {2, NAN, -0.0, 1, 2, 0.0, NAN, -3};
  for (int desc = 0; desc < 2; ++desc) {
    for (int i = 0; i < 8; ++i)
      a.set(size_t(i), in[i]);
    out.poison();
    shapes_1d_kernel().launch({1}, {}, out.arg(), idx.arg(), a.arg(), b.arg(), ia.arg(), 8,
                              int(desc ? SortIdxDesc : SortIdx), 8, 1);
    std::vector<int32_t> want = desc ? std::vector<int32_t>{1, 6, 0, 4, 3, 2, 5, 7}
                                     : std::vector<int32_t>{7, 2, 5, 3, 0, 4, 1, 6};
    for (int i = 0; i < 8; ++i) {
      EXPECT_EQ(int32_t(idx.get(size_t(i))), want[size_t(i)]) << "desc " << desc << " at " << i;
      double v = out.get(size_t(i)), w = in[want[size_t(i)]];
      EXPECT_TRUE(v == w ? std::signbit(v) == std::signbit(w) : std::isnan(v) && std::isnan(w))
          << "desc " << desc << " at " << i;
    }
  }
}

// ---- 2-D ----------------------------------------------------------------------------------------

struct Case2 {
  int op;
  DType dtype;
  int64_t R, C, rows, cols;
};

} // namespace

void check_2d(const Case2& c, DeviceKind where, int num_warps = 4,
              std::vector<double>* values_out = nullptr) {
  SCOPED_TRACE("op2 " + std::to_string(c.op) + " " + dtype_name(c.dtype) + " " +
               std::to_string(c.R) + "x" + std::to_string(c.C) + " valid " +
               std::to_string(c.rows) + "x" + std::to_string(c.cols) + " on " +
               device_kind_name(where) + " warps " + std::to_string(num_warps));
  const size_t R = size_t(c.R), C = size_t(c.C);
  std::mt19937_64 rng(7);
  std::uniform_real_distribution<double> dist(-4, 4);
  std::uniform_int_distribution<int> ints(-20, 19), index(-1, int(C));
  bool fl = dtype_is_float(c.dtype);
  Inputs in{c.dtype, {}, {}, {}};
  for (size_t i = 0; i < R * C; ++i) {
    in.a.push_back(fl ? round_to_dtype(i % 3 ? dist(rng) : std::trunc(dist(rng)), c.dtype)
                      : double(ints(rng)));
    in.ia.push_back(index(rng));
  }
  Outputs got = run_case(shapes_2d_kernel(), where, in, 2 * R * C, {c.rows, c.cols, c.op, c.R, c.C},
                         /*two_d=*/true, num_warps);
  if (values_out)
    *values_out = got.values;
  // The tile as loaded.
  std::vector<std::vector<double>> x(R, std::vector<double>(C, 0));
  for (size_t r = 0; r < size_t(c.rows); ++r)
    for (size_t k = 0; k < size_t(c.cols); ++k)
      x[r][k] = in.a[r * size_t(c.cols) + k];
  auto exact = [&](size_t at, double want) {
    double v = got.values[at];
    EXPECT_TRUE(v == want && std::signbit(v) == std::signbit(want))
        << "value " << at << ": got " << v << ", want " << want;
  };
  auto near = [&](size_t at, double want, double tol) {
    EXPECT_TRUE(close_enough(got.values[at], want, tol))
        << "value " << at << ": got " << got.values[at] << ", want " << want;
  };
  double tol = fl ? tolerance_for(c.dtype, 64) : 0;
  switch (c.op) {
  case Flip0:
    for (size_t r = 0; r < R; ++r)
      for (size_t k = 0; k < C; ++k)
        exact(r * C + k, x[R - 1 - r][k]);
    break;
  case Sort0:
    for (size_t k = 0; k < C; ++k) {
      std::vector<double> col;
      for (size_t r = 0; r < R; ++r)
        col.push_back(x[r][k]);
      std::sort(col.begin(), col.end());
      for (size_t r = 0; r < R; ++r)
        EXPECT_EQ(got.values[r * C + k], col[r]) << r << "," << k;
    }
    break;
  case Cat1:
    for (size_t r = 0; r < R; ++r)
      for (size_t k = 0; k < 2 * C; ++k)
        exact(r * 2 * C + k, k < C ? x[r][k] : round_to_dtype(x[r][k - C] * 2, c.dtype));
    break;
  case Gather1:
    for (size_t r = 0; r < R; ++r)
      for (size_t k = 0; k < C; ++k) {
        int32_t j = in.ia[r * C + k];
        exact(r * C + k, j >= 0 && size_t(j) < C ? x[r][size_t(j)] : fl ? -0.0 : 0.0);
      }
    break;
  case Cummax0:
  case CumsumRev0:
    for (size_t k = 0; k < C; ++k) {
      double acc = c.op == Cummax0 ? -INFINITY : 0;
      for (size_t s = 0; s < R; ++s) {
        size_t r = c.op == Cummax0 ? s : R - 1 - s;
        acc = c.op == Cummax0 ? std::max(acc, x[r][k]) : acc + x[r][k];
        if (c.op == Cummax0)
          exact(r * C + k, acc);
        else
          near(r * C + k, acc, tol);
      }
    }
    break;
  case MaxIdx0:
    for (size_t k = 0; k < C; ++k) {
      size_t best = 0;
      for (size_t r = 1; r < R; ++r)
        if (x[r][k] > x[best][k])
          best = r;
      exact(k, x[best][k]);
      EXPECT_EQ(got.indices[k], int32_t(best)) << k;
    }
    break;
  case MinIdx1:
    for (size_t r = 0; r < R; ++r) {
      size_t best = 0;
      for (size_t k = 1; k < C; ++k)
        if (x[r][k] < x[r][best])
          best = k;
      exact(r, x[r][best]);
      EXPECT_EQ(got.indices[r], int32_t(best)) << r;
    }
    break;
  case MeanVar1:
    for (size_t r = 0; r < R; ++r) {
      if (r >= size_t(c.rows)) { // no valid element: mean 0, variance NaN
        EXPECT_EQ(got.values[r], 0);
        EXPECT_TRUE(std::isnan(got.values[R + r]));
        continue;
      }
      double mean = 0, m2 = 0;
      for (size_t k = 0; k < size_t(c.cols); ++k)
        mean += x[r][k];
      mean /= double(c.cols);
      for (size_t k = 0; k < size_t(c.cols); ++k)
        m2 += (x[r][k] - mean) * (x[r][k] - mean);
      EXPECT_NEAR(got.values[r], mean, 1e-5);
      EXPECT_NEAR(got.values[R + r], m2 / double(c.cols), 1e-4);
    }
    break;
  case DetSum1:
    for (size_t r = 0; r < R; ++r) {
      std::vector<float> row(x[r].begin(), x[r].end());
      exact(r, fl ? round_to_dtype(double(tree_sum(row)), c.dtype)
                  : std::accumulate(x[r].begin(), x[r].end(), 0.0));
    }
    break;
  case TupleArgmax1:
    for (size_t r = 0; r < R; ++r) {
      size_t best = 0;
      for (size_t k = 1; k < C; ++k)
        if (x[r][k] >= x[r][best])
          best = k; // the later wins ties
      exact(r, x[r][best]);
      EXPECT_EQ(got.indices[r], int32_t(best)) << r;
    }
    break;
  case Ravel:
    for (size_t r = 0; r < R; ++r)
      for (size_t k = 0; k < C; ++k)
        exact(r * C + k, x[r][k]);
    break;
  case SumKeep0:
    for (size_t k = 0; k < C; ++k) {
      double s = 0;
      for (size_t r = 0; r < R; ++r)
        s += x[r][k];
      near(k, s, 1e-5);
    }
    break;
  }
}

namespace {

TEST(ShapesOnCpu, TwoDimensionalOps) {
  for (int op : {Flip0, Sort0, Cat1, Gather1, Cummax0, CumsumRev0, MaxIdx0, MinIdx1, MeanVar1,
                 DetSum1, TupleArgmax1, Ravel, SumKeep0}) {
    for (auto [R, C, rows, cols] : {std::array<int64_t, 4>{8, 16, 5, 13}, {16, 1, 16, 1}})
      check_2d({op, DType::f32, R, C, rows, cols}, DeviceKind::cpu);
    if (op != MeanVar1)
      check_2d({op, DType::i32, 4, 32, 4, 32}, DeviceKind::cpu);
  }
  check_2d({DetSum1, DType::f16, 8, 64, 8, 50}, DeviceKind::cpu);
}

} // namespace
} // namespace tessel::testing
