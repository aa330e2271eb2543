// The last of Triton's triton.language ops in tessel (issue 14): atomic_load / atomic_store /
// atomic_poll, debug_barrier, assume, expect_zero, swizzle2d, slice, bitonic_merge and the random
// helpers rand4x / randn4x / uint_to_uniform_float / pair_uniform_to_normal, each run on the CPU
// backend and on the simulated device against a plain C++ reference (random inputs with fixed
// seeds, outputs poisoned before the launch, ragged extents masked), and the random helpers bit
// for bit the same on both. Without the simulator (or the CUDA toolkit) the CPU half still runs.
#include "device/backend_buffers.h"
#include "support/expect_error.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstdlib>
#include <functional>
#include <numbers>
#include <random>
#include <string>
#include <vector>

namespace {

namespace tl = tessel::lang;
using tessel::DeviceKind;
using tessel::testing::Buffer;
using tessel::testing::cpu_and_sim;
using tessel::testing::on;

const char* name_of(DeviceKind k) { return k == DeviceKind::cpu ? "cpu" : "sim"; }

constexpr int32_t kPoison = -777;

std::vector<int32_t> random_ints(size_t n, uint32_t seed, int32_t lo = -1000, int32_t hi = 1000) {
  std::mt19937 gen(seed);
  std::uniform_int_distribution<int32_t> d(lo, hi);
  std::vector<int32_t> v(n);
  for (int32_t& x : v)
    x = d(gen);
  return v;
}

// ---- atomic_load / atomic_store ---------------------------------------------------------------

// out[i] = atomic_load(in[i]) * 3 where i < n, and flags[i] = that value by atomic_store (masked);
// a scalar pair too: flags[n_total] = atomic_load(in[0]) (relaxed), stored with release.
TEST(TritonOps, AtomicLoadAndStoreMaskedTilesAndScalars) {
  static const tessel::Kernel k =
      tl::kernel("triton_atomic_ld_st",
                 [](tl::Ptr out, tl::Ptr flags, tl::Ptr in, tl::Int n, tl::Const<int> BLOCK) {
                   auto offs = tl::program_id(0) * BLOCK + tl::arange(0, BLOCK);
                   auto mask = offs < n;
                   auto x = tl::atomic_load(in + offs, mask);
                   tl::store(out + offs, x * 3, mask);
                   tl::atomic_store(flags + offs, x * 3, mask);
                   auto first = tl::atomic_load(in, tl::MemSem::relaxed, tl::MemScope::cta);
                   tl::atomic_store(flags + 1000, first, tl::MemSem::release, tl::MemScope::sys);
                 });
  const int n = 999, block = 128;
  const std::vector<int32_t> in = random_ints(1024, 7);
  for (DeviceKind where : cpu_and_sim()) {
    SCOPED_TRACE(name_of(where));
    Buffer<int32_t> x(where, in), out(where, std::vector<int32_t>(1024, kPoison)),
        flags(where, std::vector<int32_t>(1001, kPoison));
    k.launch({(n + block - 1) / block}, on(where), out.view(), flags.view(), x.view(), n, block);
    std::vector<int32_t> got = out.read(), got_flags = flags.read();
    for (int i = 0; i < 1024; ++i) {
      const int32_t want = i < n ? in[size_t(i)] * 3 : kPoison;
      ASSERT_EQ(got[size_t(i)], want) << i;
      if (i < 1000) {
        ASSERT_EQ(got_flags[size_t(i)], want) << i;
      }
    }
    EXPECT_EQ(got_flags[1000], in[0]);
  }
}

// f64 and u64 elements through atomic_load and atomic_store (the 64-bit forms).
TEST(TritonOps, AtomicLoadAndStoreWideElements) {
  static const tessel::Kernel k =
      tl::kernel("triton_atomic_wide", [](tl::Ptr out, tl::Ptr in, tl::Ptr uout, tl::Ptr uin) {
        auto offs = tl::arange(0, 64);
        tl::atomic_store(out + offs, tl::atomic_load(in + offs) * 2.0);
        tl::atomic_store(uout + offs, tl::atomic_load(uin + offs, tl::MemSem::relaxed),
                         tl::MemSem::relaxed);
      });
  std::vector<double> d(64);
  std::vector<uint64_t> u(64);
  for (int i = 0; i < 64; ++i) {
    d[size_t(i)] = 0.25 * i - 3.0;
    u[size_t(i)] = (uint64_t(0xF0F0F0F0u) << 32) + uint64_t(i) * 0x10001;
  }
  for (DeviceKind where : cpu_and_sim()) {
    SCOPED_TRACE(name_of(where));
    Buffer<double> in(where, d), out(where, std::vector<double>(64, -1.0));
    Buffer<uint64_t> uin(where, u), uout(where, std::vector<uint64_t>(64, 0));
    k.launch({1}, on(where), out.view(), in.view(), uout.view(), uin.view());
    std::vector<double> got = out.read();
    for (int i = 0; i < 64; ++i)
      ASSERT_EQ(got[size_t(i)], 2 * d[size_t(i)]) << i;
    EXPECT_EQ(uout.read(), u);
  }
}

// Programs take turns by a ticket: program p polls until turn == p, appends p to a log with plain
// accesses, then hands the turn on with atomic_store (release). The log comes out in order.
TEST(TritonOps, AtomicPollOrdersProgramsByTicket) {
  static const tessel::Kernel k =
      tl::kernel("triton_atomic_poll", [](tl::Ptr turn, tl::Ptr log, tl::Ptr ok) {
        auto p = tl::program_id(0);
        auto seen = tl::atomic_poll(turn, p);
        tl::store(log + p, p * 10 + tl::load(log + p));
        tl::store(ok + p, seen.to(tl::i32));
        tl::atomic_store(turn, p + 1);
      });
  setenv("TESSEL_CPU_THREADS", "2", /*overwrite=*/1);
  for (DeviceKind where : cpu_and_sim()) {
    SCOPED_TRACE(name_of(where));
    const int p = 12;
    Buffer<int32_t> turn(where, {0}), log(where, std::vector<int32_t>(p, 1)),
        ok(where, std::vector<int32_t>(p, kPoison));
    k.launch({p}, on(where), turn.view(), log.view(), ok.view());
    EXPECT_EQ(turn.read()[0], p);
    std::vector<int32_t> want(p);
    for (int i = 0; i < p; ++i)
      want[size_t(i)] = i * 10 + 1;
    EXPECT_EQ(log.read(), want);
    EXPECT_EQ(ok.read(), std::vector<int32_t>(p, 1));
  }
}

// ---- debug_barrier ------------------------------------------------------------------------------

// A tile stored to global scratch and read back reversed: on the GPU each element is read by
// another thread than the one that wrote it, so the barrier between is what makes it right.
TEST(TritonOps, DebugBarrierOrdersAStoreBeforeAReverseLoad) {
  static const tessel::Kernel k =
      tl::kernel("triton_debug_barrier", [](tl::Ptr out, tl::Ptr scratch, tl::Ptr in) {
        auto offs = tl::arange(0, 256);
        tl::store(scratch + offs, tl::load(in + offs) + 1);
        tl::debug_barrier();
        tl::store(out + offs, tl::load(scratch + (255 - offs)));
      });
  const std::vector<int32_t> in = random_ints(256, 11);
  for (DeviceKind where : cpu_and_sim()) {
    SCOPED_TRACE(name_of(where));
    Buffer<int32_t> x(where, in), scratch(where, std::vector<int32_t>(256, kPoison)),
        out(where, std::vector<int32_t>(256, kPoison));
    k.launch({1}, on(where, /*num_warps=*/2), out.view(), scratch.view(), x.view());
    std::vector<int32_t> got = out.read();
    for (int i = 0; i < 256; ++i)
      ASSERT_EQ(got[size_t(i)], in[size_t(255 - i)] + 1) << i;
  }
}

// ---- assume -------------------------------------------------------------------------------------

// assume changes no result (a true promise): rows at a stride promised to be a multiple of 16.
TEST(TritonOps, AssumeKeepsResults) {
  static const tessel::Kernel k =
      tl::kernel("triton_assume_rows", [](tl::Ptr out, tl::Ptr in, tl::Int stride) {
        tl::assume(stride % 16 == 0);
        auto row = tl::program_id(0) * stride;
        auto cols = tl::arange(0, 64);
        tl::store(out + row + cols, tl::load(in + row + cols) * 2);
      });
  const int stride = 80, rows = 3;
  const std::vector<int32_t> in = random_ints(size_t(stride * rows), 12);
  for (DeviceKind where : cpu_and_sim()) {
    SCOPED_TRACE(name_of(where));
    Buffer<int32_t> x(where, in), out(where, std::vector<int32_t>(in.size(), kPoison));
    k.launch({rows}, on(where), out.view(), x.view(), stride);
    std::vector<int32_t> got = out.read();
    for (int r = 0; r < rows; ++r)
      for (int c = 0; c < stride; ++c) {
        const size_t i = size_t(r * stride + c);
        ASSERT_EQ(got[i], c < 64 ? in[i] * 2 : kPoison) << r << "," << c;
      }
  }
}

// ---- expect_zero
// ----------------------------------------------------------------------------------

const tessel::Kernel& expect_zero_kernel() {
  static const tessel::Kernel k =
      tl::kernel("triton_expect_zero", [](tl::Ptr out, tl::Ptr in, tl::Int n) {
        auto offs = tl::arange(0, 32);
        auto x = tl::load(in + offs);
        tl::store(out + offs, tl::expect_zero(x, offs < n) + 1.0f);
      });
  return k;
}

// x comes back unchanged; without `debug` nothing is checked.
TEST(TritonOps, ExpectZeroReturnsItsOperand) {
  std::vector<float> in(32, 0.0f);
  in[20] = 5.0f; // outside the mask below, and no check without debug anyway
  for (DeviceKind where : cpu_and_sim()) {
    SCOPED_TRACE(name_of(where));
    Buffer<float> x(where, in), out(where, std::vector<float>(32, -1.0f));
    tessel::LaunchOptions debug = on(where);
    debug.debug = true;
    expect_zero_kernel().launch({1}, debug, out.view(), x.view(), 16);
    std::vector<float> got = out.read();
    for (int i = 0; i < 32; ++i)
      ASSERT_EQ(got[size_t(i)], in[size_t(i)] + 1.0f) << i;
  }
}

// With `debug`, a nonzero element where the mask holds fails the launch, naming the check.
TEST(TritonOps, ExpectZeroChecksUnderDebug) {
  std::vector<float> in(32, 0.0f);
  in[3] = 1e-30f;
  for (DeviceKind where : cpu_and_sim()) {
    SCOPED_TRACE(name_of(where));
    Buffer<float> x(where, in), out(where, std::vector<float>(32, -1.0f));
    tessel::LaunchOptions debug = on(where);
    debug.debug = true;
    tessel::testing::expect_error(
        [&] { expect_zero_kernel().launch({1}, debug, out.view(), x.view(), 16); },
        {"expect_zero expected x == 0 where mask is true", "triton_ops_test.cpp"});
  }
}

// ---- swizzle2d ----------------------------------------------------------------------------------

// Triton's swizzle2d, as its source writes it (the reference).
std::pair<int, int> swizzle_reference(int i, int j, int size_i, int size_j, int size_g) {
  const int ij = i * size_j + j, size_gj = size_g * size_j;
  const int group = ij / size_gj, off_i = group * size_g;
  const int rows = std::min(size_i - off_i, size_g);
  const int in_group = ij % size_gj;
  return {off_i + in_group % rows, in_group / rows};
}

// Every (i, j) of grids with a last group shorter than size_g; `out` holds new_i * size_j + new_j
// at i * size_j + j.
TEST(TritonOps, Swizzle2dMatchesTritonsDefinition) {
  static const tessel::Kernel k = tl::kernel(
      "triton_swizzle2d", [](tl::Ptr out, tl::Int size_i, tl::Int size_j, tl::Int size_g) {
        auto idx = tl::arange(0, 64);
        auto i = idx / size_j, j = idx % size_j;
        auto [ni, nj] =
            tl::swizzle2d(i, j, tl::Tensor(size_i), tl::Tensor(size_j), tl::Tensor(size_g));
        tl::store(out + idx, ni * size_j + nj, idx < size_i * size_j);
      });
  // Triton's docstring: 4 x 4 with groups of 2 rows.
  const std::vector<int32_t> doc = {0, 2, 4, 6, 1, 3, 5, 7, 8, 10, 12, 14, 9, 11, 13, 15};
  struct Grid {
    int i, j, g;
  };
  for (DeviceKind where : cpu_and_sim()) {
    SCOPED_TRACE(name_of(where));
    for (Grid grid : {Grid{4, 4, 2}, Grid{7, 9, 3}, Grid{5, 12, 4}, Grid{8, 8, 8}}) {
      Buffer<int32_t> out(where, std::vector<int32_t>(64, kPoison));
      k.launch({1}, on(where), out.view(), grid.i, grid.j, grid.g);
      std::vector<int32_t> got = out.read();
      std::vector<int32_t> inverse(size_t(grid.i * grid.j), -1);
      for (int i = 0; i < grid.i; ++i)
        for (int j = 0; j < grid.j; ++j) {
          auto [ni, nj] = swizzle_reference(i, j, grid.i, grid.j, grid.g);
          ASSERT_EQ(got[size_t(i * grid.j + j)], ni * grid.j + nj) << i << "," << j;
          inverse[size_t(ni * grid.j + nj)] = i * grid.j + j;
        }
      if (grid.i == 4 && grid.j == 4) { // Triton's table is the inverse map (where each tile goes)
        EXPECT_EQ(inverse, doc);
      }
    }
  }
}

// ---- slice
// ------------------------------------------------------------------------------------------

// x[start : start + 8] along each dim of a [16, 32] tile, at aligned and unaligned starts.
TEST(TritonOps, SliceCopiesASubtile) {
  static const tessel::Kernel k = tl::kernel(
      "triton_slice", [](tl::Ptr out, tl::Ptr in, tl::Const<int> DIM, tl::Const<int> START) {
        auto r = tl::expand_dims(tl::arange(0, 16), 1), c = tl::expand_dims(tl::arange(0, 32), 0);
        auto x = tl::load(in + r * 32 + c);
        auto s = tl::slice(x, DIM, START, 8);
        if (DIM == 0) {
          auto rr = tl::expand_dims(tl::arange(0, 8), 1);
          tl::store(out + rr * 32 + c, s);
        } else {
          auto cc = tl::expand_dims(tl::arange(0, 8), 0);
          tl::store(out + r * 8 + cc, s);
        }
      });
  const std::vector<int32_t> in = random_ints(16 * 32, 13);
  for (DeviceKind where : cpu_and_sim()) {
    SCOPED_TRACE(name_of(where));
    Buffer<int32_t> x(where, in);
    for (int dim : {0, 1})
      for (int start : {0, 8, 5}) {
        SCOPED_TRACE("dim " + std::to_string(dim) + " start " + std::to_string(start));
        Buffer<int32_t> out(where, std::vector<int32_t>(256, kPoison));
        k.launch({1}, on(where), out.view(), x.view(), dim, start);
        std::vector<int32_t> got = out.read();
        for (int a = 0; a < (dim == 0 ? 8 : 16); ++a)
          for (int b = 0; b < (dim == 0 ? 32 : 8); ++b) {
            const int32_t want =
                dim == 0 ? in[size_t((start + a) * 32 + b)] : in[size_t(a * 32 + start + b)];
            ASSERT_EQ(got[size_t(dim == 0 ? a * 32 + b : a * 8 + b)], want) << a << "," << b;
          }
      }
  }
}

// ---- bitonic_merge
// ---------------------------------------------------------------------------------

// Triton's _bitonic_merge_hypercube with a constant order: compare-exchange at distances n/2 .. 1,
// the smaller element first (descending: the larger).
std::vector<int32_t> merge_reference(std::vector<int32_t> row, bool descending) {
  const size_t n = row.size();
  for (size_t d = n / 2; d >= 1; d /= 2)
    for (size_t i = 0; i < n; ++i)
      if ((i & d) == 0 && (descending ? row[i] < row[i + d] : row[i] > row[i + d]))
        std::swap(row[i], row[i + d]);
  return row;
}

// Rows of 32: bitonic ones (an ascending half then a descending half) come out sorted; random
// ones as Triton's network leaves them.
TEST(TritonOps, BitonicMergeMatchesTritonsNetwork) {
  static const tessel::Kernel k =
      tl::kernel("triton_bitonic_merge", [](tl::Ptr out, tl::Ptr in, tl::Const<bool> DESC) {
        auto r = tl::expand_dims(tl::arange(0, 4), 1), c = tl::expand_dims(tl::arange(0, 32), 0);
        tl::store(out + r * 32 + c, tl::bitonic_merge(tl::load(in + r * 32 + c), -1, DESC));
      });
  std::vector<int32_t> in = random_ints(128, 14);
  std::sort(in.begin(), in.begin() + 16);
  std::sort(in.begin() + 16, in.begin() + 32, std::greater<>());
  std::sort(in.begin() + 32, in.begin() + 48, std::greater<>());
  std::sort(in.begin() + 48, in.begin() + 64);
  for (DeviceKind where : cpu_and_sim()) {
    SCOPED_TRACE(name_of(where));
    Buffer<int32_t> x(where, in);
    for (bool desc : {false, true}) {
      Buffer<int32_t> out(where, std::vector<int32_t>(128, kPoison));
      k.launch({1}, on(where), out.view(), x.view(), desc);
      std::vector<int32_t> got = out.read();
      for (size_t row = 0; row < 4; ++row) {
        std::vector<int32_t> want = merge_reference(
            std::vector<int32_t>(in.begin() + long(row * 32), in.begin() + long(row * 32 + 32)),
            desc);
        std::vector<int32_t> have(got.begin() + long(row * 32), got.begin() + long(row * 32 + 32));
        EXPECT_EQ(have, want) << "row " << row << (desc ? " descending" : "");
        if (row < 2) {
          EXPECT_TRUE(desc ? std::is_sorted(have.rbegin(), have.rend())
                           : std::is_sorted(have.begin(), have.end()));
        }
      }
    }
  }
}

// ---- random helpers -----------------------------------------------------------------------------

// Per element i (offset i): rand4x's four words, randn4x's four, rand and randn.
const tessel::Kernel& random_helpers_kernel() {
  static const tessel::Kernel k =
      tl::kernel("triton_rand4x", [](tl::Ptr u, tl::Ptr nrm, tl::Ptr one, tl::Int seed) {
        auto offs = tl::arange(0, 256);
        auto us = tl::rand4x(seed, offs);
        auto ns = tl::randn4x(seed, offs);
        for (int w = 0; w < 4; ++w) {
          tl::store(u + w * 256 + offs, us[size_t(w)]);
          tl::store(nrm + w * 256 + offs, ns[size_t(w)]);
        }
        tl::store(one + offs, tl::rand(seed, offs));
        tl::store(one + 256 + offs, tl::randn(seed, offs));
      });
  return k;
}

std::vector<uint32_t> bits(const std::vector<float>& v) {
  std::vector<uint32_t> b(v.size());
  for (size_t i = 0; i < v.size(); ++i)
    b[i] = std::bit_cast<uint32_t>(v[i]);
  return b;
}

// rand4x[0] is rand and randn4x[0] is randn (bit for bit); every uniform in [0, 1) and a multiple
// of 2^-24, every normal finite with mean ~0 and variance ~1, cos^2 + sin^2 of a pair matching
// its radius; the same bits on the CPU and the simulated device.
TEST(TritonOps, Rand4xAndRandn4xExtendRandAndRandn) {
  std::vector<std::vector<uint32_t>> per_backend;
  for (DeviceKind where : cpu_and_sim()) {
    SCOPED_TRACE(name_of(where));
    Buffer<float> u(where, std::vector<float>(1024, -1.0f)),
        n(where, std::vector<float>(1024, NAN)), one(where, std::vector<float>(512, -1.0f));
    random_helpers_kernel().launch({1}, on(where), u.view(), n.view(), one.view(), 1234);
    std::vector<float> us = u.read(), ns = n.read(), ones = one.read();
    for (int i = 0; i < 256; ++i) {
      ASSERT_EQ(std::bit_cast<uint32_t>(us[size_t(i)]), std::bit_cast<uint32_t>(ones[size_t(i)]));
      ASSERT_EQ(std::bit_cast<uint32_t>(ns[size_t(i)]),
                std::bit_cast<uint32_t>(ones[size_t(256 + i)]));
    }
    double sum = 0, sq = 0;
    for (int i = 0; i < 1024; ++i) {
      const float x = us[size_t(i)];
      ASSERT_TRUE(x >= 0.0f && x < 1.0f) << i;
      ASSERT_EQ(std::ldexp(x, 24), std::floor(std::ldexp(x, 24))) << i;
      ASSERT_TRUE(std::isfinite(ns[size_t(i)])) << i;
      sum += ns[size_t(i)];
      sq += double(ns[size_t(i)]) * ns[size_t(i)];
    }
    EXPECT_NEAR(sum / 1024, 0.0, 0.15);
    EXPECT_NEAR(sq / 1024, 1.0, 0.15);
    std::vector<uint32_t> all = bits(us), nb = bits(ns);
    all.insert(all.end(), nb.begin(), nb.end());
    per_backend.push_back(all);
  }
  if (per_backend.size() == 2) {
    EXPECT_EQ(per_backend[0], per_backend[1]) << "CPU and simulator differ";
  }
}

// Triton's uint_to_uniform_float on i32 and i64 words, with known answers worked out from its
// formula in f32 (x < 0 ? ~x : x) * 4.6566127342e-10 (bits 0x2fffffff) and, for 64-bit words,
// * 1.0842020432385337e-19 (0x1ffffffe): 0 -> 0, 1 -> 0x2fffffff, -1 -> 0, -2 -> 0x2fffffff,
// 2^31 - 1 -> 0x3f7fffff (0.99999994: below 1), INT_MIN -> the same, 12345678 -> 0x3bbc614d;
// 2^63 - 1 -> 0x3f7ffffe, 2^40 -> 0x33fffffe.
TEST(TritonOps, UintToUniformFloatKnownAnswers) {
  static const tessel::Kernel k = tl::kernel(
      "triton_uint_to_uniform", [](tl::Ptr out, tl::Ptr words, tl::Ptr out64, tl::Ptr words64) {
        auto offs = tl::arange(0, 8);
        tl::store(out + offs, tl::uint_to_uniform_float(tl::load(words + offs)));
        auto o2 = tl::arange(0, 4);
        tl::store(out64 + o2, tl::uint_to_uniform_float(tl::load(words64 + o2)));
      });
  const std::vector<int32_t> w = {0, 1, -1, -2, 2147483647, INT32_MIN, 12345678, 0};
  const std::vector<uint32_t> want = {0,          0x2fffffff, 0,          0x2fffffff,
                                      0x3f7fffff, 0x3f7fffff, 0x3bbc614d, 0};
  const std::vector<int64_t> w64 = {INT64_MAX, -1, int64_t(1) << 40, 0};
  const std::vector<uint32_t> want64 = {0x3f7ffffe, 0, 0x33fffffe, 0};
  for (DeviceKind where : cpu_and_sim()) {
    SCOPED_TRACE(name_of(where));
    Buffer<int32_t> words(where, w);
    Buffer<int64_t> words64(where, w64);
    Buffer<float> out(where, std::vector<float>(8, -1.0f)), out64(where, std::vector<float>(4, -1));
    k.launch({1}, on(where), out.view(), words.view(), out64.view(), words64.view());
    EXPECT_EQ(bits(out.read()), want);
    EXPECT_EQ(bits(out64.read()), want64);
  }
}

// pair_uniform_to_normal: r cos(2 pi u2), r sin(2 pi u2) with r = sqrt(-2 ln max(u1, 1e-7)),
// within 2e-6 (relative to r) of the double-precision formula; the same bits on both backends.
TEST(TritonOps, PairUniformToNormalIsBoxMuller) {
  static const tessel::Kernel k =
      tl::kernel("triton_pair_to_normal", [](tl::Ptr out, tl::Ptr u1, tl::Ptr u2) {
        auto offs = tl::arange(0, 512);
        auto [a, b] = tl::pair_uniform_to_normal(tl::load(u1 + offs), tl::load(u2 + offs));
        tl::store(out + offs, a);
        tl::store(out + 512 + offs, b);
      });
  std::mt19937 gen(21);
  std::uniform_real_distribution<float> d(0.0f, 1.0f);
  std::vector<float> a(512), b(512);
  for (int i = 0; i < 512; ++i) {
    a[size_t(i)] = d(gen);
    b[size_t(i)] = d(gen);
  }
  a[0] = 0.0f;            // clamped to 1e-7
  a[1] = 1.0f;            // r = 0
  b[2] = 0.25f;           // a quarter turn: cos 0, sin 1
  a[3] = 1.17549435e-38f; // the smallest normal: clamped
  std::vector<std::vector<uint32_t>> per_backend;
  for (DeviceKind where : cpu_and_sim()) {
    SCOPED_TRACE(name_of(where));
    Buffer<float> u1(where, a), u2(where, b), out(where, std::vector<float>(1024, NAN));
    k.launch({1}, on(where), out.view(), u1.view(), u2.view());
    std::vector<float> got = out.read();
    for (int i = 0; i < 512; ++i) {
      const double r = std::sqrt(-2.0 * std::log(std::max(1e-7, double(a[size_t(i)]))));
      const double th = 2.0 * std::numbers::pi * double(b[size_t(i)]);
      ASSERT_NEAR(got[size_t(i)], r * std::cos(th), 2e-6 * std::max(1.0, r)) << i;
      ASSERT_NEAR(got[size_t(512 + i)], r * std::sin(th), 2e-6 * std::max(1.0, r)) << i;
    }
    EXPECT_EQ(got[1], 0.0f);
    per_backend.push_back(bits(got));
  }
  if (per_backend.size() == 2) {
    EXPECT_EQ(per_backend[0], per_backend[1]) << "CPU and simulator differ";
  }
}

} // namespace
