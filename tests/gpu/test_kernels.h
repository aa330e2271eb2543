// DSL kernels shared by the GPU tests: the reduction, scan and control-flow kernels that the
// simulator runs (sim_run_test.cpp) and whose shared-memory accesses the bank-conflict proof
// enumerates (bank_conflicts_test.cpp).
#pragma once

#include <tessel/tessel.h>

namespace tessel::testing {

namespace tl = tessel::lang;

// Row max+min, argmax+argmin along the rows (lanes), column sums (across warps).
inline const Kernel& reduce_rows_kernel() {
  static const Kernel k = tl::kernel(
      "reduce_rows", [](tl::Ptr out, tl::Ptr idx, tl::Ptr in, tl::Const<int> R, tl::Const<int> C) {
        auto rows = tl::expand_dims(tl::arange(0, R), 1);
        auto cols = tl::expand_dims(tl::arange(0, C), 0);
        auto x = tl::load(in + rows * C + cols);
        tl::store(out + tl::arange(0, R), tl::max(x, 1) + tl::min(x, 1));
        tl::store(idx + tl::arange(0, R),
                  tl::argmax(x, 1).to(tl::f32) * 1000.0 + tl::argmin(x, 1).to(tl::f32));
        tl::store(out + R + tl::arange(0, C), tl::sum(x, 0));
      });
  return k;
}

inline const Kernel& scan_kernel() {
  static const Kernel k = tl::kernel("scan_prod", [](tl::Ptr out, tl::Ptr in, tl::Const<int> B) {
    auto offs = tl::arange(0, B);
    auto x = tl::load(in + offs);
    tl::store(out + offs, tl::cumsum(x, 0));
    tl::store(out + B,
              tl::reduce(x, 0, [](tl::Tensor a, tl::Tensor b) { return tl::maximum(a, b) + 0.0; }));
  });
  return k;
}

// Inclusive prefix sums of a 1-D row (long rows: in-thread runs, shfl.sync.up, warps through
// shared memory).
inline const Kernel& scan_1d_kernel() {
  static const Kernel k = tl::kernel("scan_1d", [](tl::Ptr out, tl::Ptr in, tl::Const<int> B) {
    auto offs = tl::arange(0, B);
    tl::store(out + offs, tl::cumsum(tl::load(in + offs), 0));
  });
  return k;
}

// Prefix sums of an R x C tile along its rows (out[0, R*C)) and down its columns (out[R*C, 2RC)).
inline const Kernel& scan_2d_kernel() {
  static const Kernel k =
      tl::kernel("scan_2d", [](tl::Ptr out, tl::Ptr in, tl::Const<int> R, tl::Const<int> C) {
        auto offs = tl::expand_dims(tl::arange(0, R), 1) * C + tl::expand_dims(tl::arange(0, C), 0);
        auto x = tl::load(in + offs);
        tl::store(out + offs, tl::cumsum(x, 1));
        tl::store(out + R * C + offs, tl::cumsum(x, 0));
      });
  return k;
}

inline const Kernel& control_kernel() {
  static const Kernel k =
      tl::kernel("control", [](tl::Ptr out, tl::Ptr in, tl::Int n, tl::Const<int> B) {
        auto offs = tl::arange(0, B);
        auto acc = tl::zeros({B}, tl::f32);
        tl::for_range(0, n, B,
                      [&](tl::Int i) { acc = acc + tl::load(in + i + offs, (i + offs) < n, 0.0); });
        auto total = tl::sum(acc, 0);
        tl::if_(
            total > 0.0, [&] { acc = acc * 2.0; }, [&] { acc = -acc; });
        auto steps = tl::scalar(0, tl::i32);
        tl::while_([&] { return steps < n; },
                   [&] {
                     steps = steps + 256;
                     acc = acc + 1.0;
                   });
        tl::store(out + offs, acc);
      });
  return k;
}

// Every exactly rounded f16/bf16 op (the packed f16x2/bf16x2 forms where the target has them).
inline const Kernel& half_arith_kernel() {
  static const Kernel k =
      tl::kernel("half_arith", [](tl::Ptr out, tl::Ptr a, tl::Ptr b, tl::Ptr c, tl::Const<int> B) {
        auto offs = tl::arange(0, B);
        auto x = tl::load(a + offs), y = tl::load(b + offs), z = tl::load(c + offs);
        tl::store(out + offs, tl::fma(x, y, z) + (x * y - tl::abs(z)) * -x + y);
      });
  return k;
}

} // namespace tessel::testing
