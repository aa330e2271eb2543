// The kernels of the shape, sort, scan and tuple-reduction tests (tests/dsl/shapes_ops_test.cpp on
// the CPU backend, tests/device/shapes_sim_test.cpp in the simulator), their C++ references, and a
// runner that launches one case on either device and returns what the kernel wrote.
//
// Inputs are loaded masked (valid extent n of an N-element tile, or rows x cols of an R x C tile;
// masked elements read as 0), outputs are written whole into poisoned buffers, and the references
// work on the tile as loaded, so masking, padding and every output element are checked.
#pragma once

#include "support/host_array.h"
#include "tessel/runtime/device_buffer.h"
#include "tessel/tessel.h"

#include <algorithm>
#include <cmath>
#include <numeric>
#include <optional>
#include <vector>

namespace tessel::testing {

namespace tl = tessel::lang;

// ---- 1-D: x = a[0..n) and y = b[0..n) as N-element tiles
// ------------------------------------------
enum Op1 : int {
  Join,
  Interleave,
  Cat,
  Split,
  Flip,
  Sort,
  SortDesc,
  SortIdx,
  SortIdxDesc,
  TopK,
  Gather,
  Histogram,
  Cumsum,
  CumsumRev,
  Cumprod,
  CumprodRev,
  Recurrence,
  RecurrenceRev,
  CumsumTree
};

inline const Kernel& shapes_1d_kernel() {
  static const Kernel k = tl::kernel(
      "test_shapes_1d", "out, out_idx, a, b, ia, n, OP, N, K",
      [](tl::Ptr out, tl::PtrOf<int32_t> out_idx, tl::Ptr a, tl::Ptr b, tl::PtrOf<int32_t> ia,
         tl::Int n, tl::Const<int> OP, tl::Const<int> N, tl::Const<int> K) {
        auto i = tl::arange(0, N);
        auto m = i < n;
        auto x = tl::load(a + i, m);
        auto y = tl::load(b + i, m);
        auto i2 = tl::arange(0, 2 * N);
        switch (OP) {
        case Join: {
          auto pos = tl::expand_dims(i, 1) * 2 + tl::expand_dims(tl::arange(0, 2), 0);
          tl::store(out + pos, tl::join(x, y));
          break;
        }
        case Interleave:
          tl::store(out + i2, tl::interleave(x, y));
          break;
        case Cat:
          tl::store(out + i2, tl::cat(x, y, /*can_reorder=*/true));
          break;
        case Split: {
          auto z = tl::reshape(tl::load(a + i2, i2 < 2 * n), {N, 2});
          auto [p, q] = tl::split(z);
          tl::store(out + i, p);
          tl::store(out + N + i, q);
          break;
        }
        case Flip:
          tl::store(out + i, tl::flip(x));
          break;
        case Sort:
          tl::store(out + i, tl::sort(x));
          break;
        case SortDesc:
          tl::store(out + i, tl::sort(x, 0, /*descending=*/true));
          break;
        case SortIdx:
        case SortIdxDesc: {
          auto [v, ix] = tl::sort_with_indices(x, -1, OP == SortIdxDesc);
          tl::store(out + i, v);
          tl::store(out_idx + i, ix);
          break;
        }
        case TopK: {
          auto [v, ix] = tl::topk(x, K);
          auto j = tl::arange(0, K);
          tl::store(out + j, v);
          tl::store(out_idx + j, ix);
          break;
        }
        case Gather:
          tl::store(out + i, tl::gather(x, tl::load(ia + i, m), 0));
          break;
        case Histogram: {
          auto h = tl::histogram(tl::load(ia + i, m), K, m);
          tl::store(out_idx + tl::arange(0, K), h);
          break;
        }
        case Cumsum:
        case CumsumRev:
          tl::store(out + i, tl::cumsum(x, 0, {.reverse = OP == CumsumRev}));
          break;
        case Cumprod:
        case CumprodRev:
          tl::store(out + i, tl::cumprod(x, 0, {.reverse = OP == CumprodRev}));
          break;
        case Recurrence:
        case RecurrenceRev: { // h[i] = x[i] h[i-1] + y[i] as a scan of the pairs (x, y)
          auto step = [](const tl::Values& l, const tl::Values& r) {
            return tl::Values{l[0] * r[0], l[1] * r[0] + r[1]};
          };
          auto h = tl::associative_scan({x, y}, 0, step, OP == RecurrenceRev);
          tl::store(out + i, h[1]);
          break;
        }
        case CumsumTree: // the general scan with +, against cumsum's reference
          tl::store(out + i,
                    tl::associative_scan(x, 0, [](tl::Tensor p, tl::Tensor q) { return p + q; }));
          break;
        }
      });
  return k;
}

// ---- 2-D: x = a[rows x cols] as an R x C tile (row stride cols)
// ----------------------------------
enum Op2 : int {
  Flip0,
  Sort0,
  Cat1,
  Gather1,
  Cummax0,
  CumsumRev0,
  MaxIdx0,
  MinIdx1,
  MeanVar1,
  DetSum1,
  TupleArgmax1,
  Ravel,
  SumKeep0
};

inline const Kernel& shapes_2d_kernel() {
  static const Kernel k = tl::kernel(
      "test_shapes_2d", "out, out_idx, a, ia, rows, cols, OP, R, C",
      [](tl::Ptr out, tl::PtrOf<int32_t> out_idx, tl::Ptr a, tl::PtrOf<int32_t> ia, tl::Int rows,
         tl::Int cols, tl::Const<int> OP, tl::Const<int> R, tl::Const<int> C) {
        auto r = tl::expand_dims(tl::arange(0, R), 1);
        auto c = tl::expand_dims(tl::arange(0, C), 0);
        auto m = (r < rows) & (c < cols);
        auto x = tl::load(a + r * cols + c, m);
        auto all = r * C + c; // dense output positions
        auto ri = tl::arange(0, R);
        switch (OP) {
        case Flip0:
          tl::store(out + all, tl::flip(x, 0));
          break;
        case Sort0:
          tl::store(out + all, tl::sort(x, 0));
          break;
        case Cat1:
          tl::store(out + r * (2 * C) + tl::expand_dims(tl::arange(0, 2 * C), 0),
                    tl::cat(x, x * 2, false, 1));
          break;
        case Gather1:
          tl::store(out + all, tl::gather(x, tl::load(ia + all), 1));
          break;
        case Cummax0:
          tl::store(out + all, tl::associative_scan(x, 0, [](tl::Tensor p, tl::Tensor q) {
                      return tl::maximum(p, q);
                    }));
          break;
        case CumsumRev0:
          tl::store(out + all, tl::cumsum(x, 0, {.reverse = true}));
          break;
        case MaxIdx0: {
          auto [v, ix] = tl::max_with_indices(x, 0, /*keep_dims=*/true); // [1, C]
          tl::store(out + c, v);
          tl::store(out_idx + c, ix);
          break;
        }
        case MinIdx1: {
          auto [v, ix] = tl::min_with_indices(x, 1);
          tl::store(out + ri, v);
          tl::store(out_idx + ri, ix);
          break;
        }
        case MeanVar1: {
          auto [mean, var] = tl::mean_var(x, 1, m);
          tl::store(out + ri, mean);
          tl::store(out + R + ri, var);
          break;
        }
        case DetSum1:
          tl::store(out + ri, tl::sum(x, 1, {.deterministic = true}));
          break;
        case TupleArgmax1: { // (value, index) with a non-commutative combine: the later wins ties
          auto idx = tl::broadcast_to(c, {R, C});
          auto pick_later = [](const tl::Values& p, const tl::Values& q) {
            auto take = q[0] >= p[0];
            return tl::Values{tl::where(take, q[0], p[0]), tl::where(take, q[1], p[1])};
          };
          auto res = tl::reduce({x, idx}, 1, pick_later);
          tl::store(out + ri, res[0]);
          tl::store(out_idx + ri, res[1]);
          break;
        }
        case Ravel:
          tl::store(out + tl::arange(0, R * C), tl::ravel(x));
          break;
        case SumKeep0:
          tl::store(out + c, tl::sum(x, 0, {.keep_dims = true, .dtype = tl::f32}));
          break;
        }
      });
  return k;
}

// ---- running a case
// --------------------------------------------------------------------------------- A buffer of
// `dtype` on the host or the simulated device; `host` is what the kernel wrote after `read()`.
struct Buf {
  HostArray host;
  std::optional<runtime::DeviceBuffer> device;
  Buf(DeviceKind where, DType t, size_t n) : host(t, n) {
    host.poison();
    if (where == DeviceKind::sim)
      device = runtime::DeviceBuffer::allocate_on(where, n * dtype_bytes(t) + 16);
  }
  void upload() {
    if (device)
      device->copy_from_host(host.data(), host.size() * dtype_bytes(host.dtype()));
  }
  TensorView view() {
    return device ? device->view(host.dtype(), {int64_t(host.size())}) : host.arg();
  }
  void read() {
    if (device)
      device->copy_to_host(host.data(), host.size() * dtype_bytes(host.dtype()));
  }
};

struct Outputs {
  std::vector<double> values;
  std::vector<int32_t> indices;
};

// Inputs: `a`, `b` (dtype), `ia` (i32), each of `len` elements.
struct Inputs {
  DType dtype;
  std::vector<double> a, b;
  std::vector<int32_t> ia;
};

inline Outputs run_case(const Kernel& k, DeviceKind where, const Inputs& in, size_t out_len,
                        std::vector<int64_t> ints, bool two_d, int num_warps = 4) {
  size_t len = in.a.size();
  Buf out(where, in.dtype, out_len), out_idx(where, DType::i32, out_len);
  Buf a(where, in.dtype, len), b(where, in.dtype, len), ia(where, DType::i32, len);
  for (size_t i = 0; i < len; ++i) {
    a.host.set(i, in.a[i]);
    b.host.set(i, in.b.empty() ? 0 : in.b[i]);
    ia.host.set(i, in.ia.empty() ? 0 : in.ia[i]);
  }
  for (Buf* p : {&out, &out_idx, &a, &b, &ia})
    p->upload();
  LaunchOptions o;
  o.device = where;
  o.num_warps = num_warps;
  auto i32 = [](int64_t v) { return int32_t(v); };
  if (two_d)
    k.launch({1}, o, out.view(), out_idx.view(), a.view(), ia.view(), i32(ints[0]), i32(ints[1]),
             i32(ints[2]), i32(ints[3]), i32(ints[4]));
  else
    k.launch({1}, o, out.view(), out_idx.view(), a.view(), b.view(), ia.view(), i32(ints[0]),
             i32(ints[1]), i32(ints[2]), i32(ints[3]));
  out.read();
  out_idx.read();
  Outputs r;
  for (size_t i = 0; i < out_len; ++i) {
    r.values.push_back(out.host.get(i));
    r.indices.push_back(int32_t(out_idx.host.get(i)));
  }
  return r;
}

// ---- references
// ------------------------------------------------------------------------------------- The tile as
// loaded: the first n elements, then zeros.
inline std::vector<double> loaded(const std::vector<double>& v, int64_t n, int64_t N) {
  std::vector<double> t(size_t(N), 0);
  for (int64_t i = 0; i < n; ++i)
    t[size_t(i)] = v[size_t(i)];
  return t;
}

// NaN above every number; ties by index (the order sort_with_indices gives).
inline std::vector<int32_t> sorted_order(const std::vector<double>& t, bool descending) {
  std::vector<int32_t> idx(t.size());
  std::iota(idx.begin(), idx.end(), 0);
  auto key_less = [&](double p, double q) {
    if (std::isnan(p) || std::isnan(q))
      return !std::isnan(p) && std::isnan(q);
    return p < q;
  };
  std::stable_sort(idx.begin(), idx.end(), [&](int32_t p, int32_t q) {
    return descending ? key_less(t[size_t(q)], t[size_t(p)]) : key_less(t[size_t(p)], t[size_t(q)]);
  });
  return idx;
}

// The pairwise tree sum of `v` in float: ((v0 + v1) + (v2 + v3)) + ...
inline float tree_sum(std::vector<float> v) {
  while (v.size() > 1) {
    std::vector<float> h(v.size() / 2);
    for (size_t i = 0; i < h.size(); ++i)
      h[i] = v[2 * i] + v[2 * i + 1];
    v = std::move(h);
  }
  return v[0];
}

} // namespace tessel::testing
