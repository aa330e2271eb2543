// Unsigned integers in reductions, atomics and dot (issue 14; docs/semantics.md "Unsigned
// integers"): max/min/argmax/argmin of u8/u16/u32/u64 tiles order values as unsigned numbers
// (values above the signed maximum included), atomic_max/min on u32/u64 compare unsigned and the
// other atomics take u32/u64, and dot of u8 tiles multiplies 0..255 into i32 (mma.sync .u8 on the
// GPU). Each on the CPU backend and in the simulator against a plain C++ reference, with random
// inputs from fixed seeds and poisoned outputs.
#include "device/backend_buffers.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <limits>
#include <random>
#include <string>
#include <vector>

namespace {

namespace tl = tessel::lang;
using tessel::DeviceKind;
using tessel::testing::Buffer;
using tessel::testing::cpu_and_sim;
using tessel::testing::on;

std::string where_text(DeviceKind where) { return tessel::device_kind_name(where); }

// Values spread over the whole unsigned range, so that half of them have the top bit set.
template <class U> std::vector<U> random_unsigned(size_t n, uint32_t seed) {
  std::mt19937_64 rng(seed);
  std::vector<U> v(n);
  for (U& x : v)
    x = static_cast<U>(rng());
  return v;
}

// ---- reductions
// -----------------------------------------------------------------------------------

enum Reduction : int { Max, Min, Argmax, Argmin };

// Rows of 64 (the last ones past n_cols masked to `other`, 0 for max and the maximum for min so
// that it never wins): out[row] = the reduction of the valid columns.
const tessel::Kernel& row_reduce() {
  static const tessel::Kernel k = tl::kernel(
      "unsigned_row_reduce", "out, x, n_cols, OP",
      [](tl::Ptr out, tl::Ptr x, tl::Int n_cols, tl::Const<int> OP) {
        auto row = tl::program_id(0);
        auto cols = tl::arange(0, 64);
        auto mask = cols < n_cols;
        const bool is_max = OP == Max || OP == Argmax;
        auto v = tl::load(x + row * 64 + cols, mask, is_max ? 0.0 : -1.0); // -1 casts to all ones
        tl::Tensor r;
        switch (Reduction(int(OP))) {
        case Max:
          r = tl::max(v, 0);
          break;
        case Min:
          r = tl::min(v, 0);
          break;
        case Argmax:
          r = tl::argmax(v, 0);
          break;
        case Argmin:
          r = tl::argmin(v, 0);
          break;
        }
        tl::store(out + row, r);
      });
  return k;
}

template <class U> void check_reductions(DeviceKind where) {
  const int rows = 6, n_cols = 50;
  std::vector<U> x = random_unsigned<U>(size_t(rows * 64), 7);
  x[3] = std::numeric_limits<U>::max(); // row 0: the maximum, in a valid column
  x[64 + 5] = 0;                        // row 1: the minimum
  x[2 * 64 + 8] = x[2 * 64 + 9] = std::numeric_limits<U>::max(); // row 2: ties keep the first
  for (Reduction op : {Max, Min, Argmax, Argmin}) {
    SCOPED_TRACE(where_text(where) + " " + std::to_string(sizeof(U) * 8) + "-bit op " +
                 std::to_string(int(op)));
    Buffer<U> in(where, x);
    const bool arg = op == Argmax || op == Argmin;
    Buffer<U> out(where, std::vector<U>(rows, U(0x5a)));
    Buffer<int32_t> out_index(where, std::vector<int32_t>(rows, -99));
    if (arg)
      row_reduce().launch({rows}, on(where), out_index.view(), in.view(), n_cols, int(op));
    else
      row_reduce().launch({rows}, on(where), out.view(), in.view(), n_cols, int(op));
    std::vector<U> got = out.read();
    std::vector<int32_t> got_index = out_index.read();
    for (int r = 0; r < rows; ++r) {
      auto first = x.begin() + r * 64, last = first + n_cols;
      auto it = (op == Max || op == Argmax) ? std::max_element(first, last)
                                            : std::min_element(first, last);
      if (arg) {
        EXPECT_EQ(got_index[size_t(r)], int32_t(it - first)) << "row " << r;
      } else
        EXPECT_EQ(uint64_t(got[size_t(r)]), uint64_t(*it)) << "row " << r;
    }
  }
}

TEST(UnsignedReductions, U8MaxMinArgmaxArgmin) {
  for (DeviceKind where : cpu_and_sim())
    check_reductions<uint8_t>(where);
}
TEST(UnsignedReductions, U16MaxMinArgmaxArgmin) {
  for (DeviceKind where : cpu_and_sim())
    check_reductions<uint16_t>(where);
}
TEST(UnsignedReductions, U32MaxMinArgmaxArgmin) {
  for (DeviceKind where : cpu_and_sim())
    check_reductions<uint32_t>(where);
}
TEST(UnsignedReductions, U64MaxMinArgmaxArgmin) {
  for (DeviceKind where : cpu_and_sim())
    check_reductions<uint64_t>(where);
}

// ---- atomics
// --------------------------------------------------------------------------------------

enum AtomicOp : int { AMax, AMin, AAdd, AXor };

// Every program updates the same 32 counters with its own values (many threads per address):
// old values go to `old`, which only checks that the op returned a value memory once held.
const tessel::Kernel& shared_counters() {
  static const tessel::Kernel k =
      tl::kernel("unsigned_atomics", "counters, old, v, n, OP",
                 [](tl::Ptr counters, tl::Ptr old, tl::Ptr v, tl::Int n, tl::Const<int> OP) {
                   auto offs = tl::program_id(0) * 128 + tl::arange(0, 128);
                   auto mask = offs < n;
                   auto val = tl::load(v + offs, mask);
                   auto target = counters + offs % 32;
                   tl::Tensor o;
                   switch (AtomicOp(int(OP))) {
                   case AMax:
                     o = tl::atomic_max(target, val, mask);
                     break;
                   case AMin:
                     o = tl::atomic_min(target, val, mask);
                     break;
                   case AAdd:
                     o = tl::atomic_add(target, val, mask);
                     break;
                   case AXor:
                     o = tl::atomic_xor(target, val, mask);
                     break;
                   }
                   tl::store(old + offs, o, mask);
                 });
  return k;
}

template <class U> void check_atomics(DeviceKind where) {
  const int64_t n = 1000;
  std::vector<U> v = random_unsigned<U>(size_t(n), 11);
  const std::vector<U> init = random_unsigned<U>(32, 13);
  for (AtomicOp op : {AMax, AMin, AAdd, AXor}) {
    SCOPED_TRACE(where_text(where) + " " + std::to_string(sizeof(U) * 8) + "-bit op " +
                 std::to_string(int(op)));
    std::vector<U> want = init;
    for (int64_t i = 0; i < n; ++i) {
      U& c = want[size_t(i % 32)];
      const U x = v[size_t(i)];
      c = op == AMax   ? std::max(c, x)
          : op == AMin ? std::min(c, x)
          : op == AAdd ? U(c + x)
                       : U(c ^ x);
    }
    Buffer<U> counters(where, init);
    Buffer<U> old(where, std::vector<U>(size_t(n), U(0)));
    Buffer<U> in(where, v);
    shared_counters().launch({(n + 127) / 128}, on(where), counters.view(), old.view(), in.view(),
                             n, int(op));
    std::vector<U> got = counters.read();
    for (size_t c = 0; c < 32; ++c)
      EXPECT_EQ(uint64_t(got[c]), uint64_t(want[c])) << "counter " << c;
  }
}

TEST(UnsignedAtomics, U32MaxMinAddXorCompareUnsigned) {
  for (DeviceKind where : cpu_and_sim())
    check_atomics<uint32_t>(where);
}
TEST(UnsignedAtomics, U64MaxMinAddXorCompareUnsigned) {
  for (DeviceKind where : cpu_and_sim())
    check_atomics<uint64_t>(where);
}

// ---- dot of u8
// ------------------------------------------------------------------------------------

// c (M x N, i32) = a (M x K) times b (K x N), u8 operands.
const tessel::Kernel& u8_dot() {
  static const tessel::Kernel k = tl::kernel(
      "u8_dot", "c, a, b, M, N, K",
      [](tl::Ptr c, tl::Ptr a, tl::Ptr b, tl::Const<int> M, tl::Const<int> N, tl::Const<int> K) {
        auto rm = tl::expand_dims(tl::arange(0, M), 1);
        auto rn = tl::expand_dims(tl::arange(0, N), 0);
        auto rk = tl::arange(0, K);
        auto x = tl::load(a + rm * K + tl::expand_dims(rk, 0));
        auto y = tl::load(b + tl::expand_dims(rk, 1) * N + rn);
        tl::store(c + rm * N + rn, tl::dot(x, y));
      });
  return k;
}

TEST(UnsignedDot, U8OperandsAccumulateInI32) {
  struct Shape {
    int m, n, k;
  };
  for (DeviceKind where : cpu_and_sim())
    for (Shape s : {Shape{16, 16, 32}, Shape{32, 32, 64}, Shape{4, 8, 16}}) {
      SCOPED_TRACE(where_text(where) + " " + std::to_string(s.m) + "x" + std::to_string(s.n) + "x" +
                   std::to_string(s.k));
      std::vector<uint8_t> a = random_unsigned<uint8_t>(size_t(s.m * s.k), 17);
      std::vector<uint8_t> b = random_unsigned<uint8_t>(size_t(s.k * s.n), 19);
      a[0] = b[0] = 255; // the largest product, 65025, on the first element
      Buffer<uint8_t> ba(where, a), bb(where, b);
      Buffer<int32_t> c(where, std::vector<int32_t>(size_t(s.m * s.n), -1));
      u8_dot().launch({1}, on(where), c.view(), ba.view(), bb.view(), s.m, s.n, s.k);
      std::vector<int32_t> got = c.read();
      for (int i = 0; i < s.m; ++i)
        for (int j = 0; j < s.n; ++j) {
          int32_t want = 0;
          for (int q = 0; q < s.k; ++q)
            want += int32_t(a[size_t(i * s.k + q)]) * int32_t(b[size_t(q * s.n + j)]);
          ASSERT_EQ(got[size_t(i * s.n + j)], want) << "c[" << i << "][" << j << "]";
        }
    }
}

} // namespace
