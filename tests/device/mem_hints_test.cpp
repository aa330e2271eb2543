// Hints and memory modifiers change no result (issue 14): loads and stores with every cache
// modifier, eviction policy and volatile, masked (with `other`) and unmasked, tile and scalar
// accesses, in f32, f16 and i8 — and row loads through a hinted run-time stride — give what the
// plain C++ reference gives, on the CPU backend (which ignores them) and in the simulator (which
// runs the PTX forms they become: ld.global.cg, L1::evict_first.L2::cache_hint with createpolicy,
// ld.volatile.global, sub-word .b16/.u8 accesses). Outputs are poisoned first, so an element a
// kernel fails to write, or writes where its mask is false, is caught.
#include "device/backend_buffers.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <string>
#include <vector>

namespace {

namespace tl = tessel::lang;
using tessel::DeviceKind;
using tessel::testing::Buffer;
using tessel::testing::cpu_and_sim;
using tessel::testing::on;
using CM = tl::CacheModifier;
using EP = tl::EvictionPolicy;

struct Modes {
  tl::LoadOptions load;
  tl::StoreOptions store;
  const char* name;
};

const Modes kModes[] = {
    {{}, {}, "none"},
    {{.cache_modifier = CM::cg}, {.cache_modifier = CM::cs}, "cg/cs"},
    {{.eviction_policy = EP::first}, {.eviction_policy = EP::last}, "evict_first/evict_last"},
    {{.is_volatile = true}, {.is_volatile = true}, "volatile"},
    {{.cache_modifier = CM::lu}, {.cache_modifier = CM::wt}, "lu/wt"},
    {{.cache_modifier = CM::cv}, {.cache_modifier = CM::wb}, "cv/wb"},
    {{.cache_modifier = CM::ca, .eviction_policy = EP::last},
     {.cache_modifier = CM::cg, .eviction_policy = EP::first},
     "ca+evict_last/cg+evict_first"},
};
constexpr int kNumModes = int(sizeof(kModes) / sizeof(kModes[0]));
constexpr int kBlock = 512;

// out = 2x over whole blocks (masked: x = `other` = -7 past n); out2 = x where the mask holds;
// sout[pid] = in[pid] + 1 through scalar accesses.
const tessel::Kernel& modified_copy() {
  static const tessel::Kernel k =
      tl::kernel("mem_modified_copy", "out, out2, sout, in, n, MODE, MASKED",
                 [](tl::Ptr out, tl::Ptr out2, tl::Ptr sout, tl::Ptr in, tl::Int n,
                    tl::Const<int> MODE, tl::Const<bool> MASKED) {
                   const Modes& m = kModes[int(MODE)];
                   auto pid = tl::program_id(0);
                   auto offs = pid * kBlock + tl::arange(0, kBlock);
                   auto mask = offs < n;
                   tl::Tensor x = MASKED ? tl::load(in + offs, mask, -7.0, m.load)
                                         : tl::load(in + offs, m.load);
                   tl::store(out + offs, x + x, m.store);
                   if (MASKED)
                     tl::store(out2 + offs, x, mask, m.store);
                   tl::store(sout + pid, tl::load(in + pid, m.load) + 1, m.store);
                 });
  return k;
}

template <class T> float as_float(T v) { return static_cast<float>(v); }

template <class T> void check_modes(DeviceKind where) {
  const T poison = T(99);
  for (bool masked : {false, true}) {
    const int64_t n = masked ? 1000 : 2 * kBlock;
    const int64_t grid = (n + kBlock - 1) / kBlock;
    std::vector<T> input(size_t(grid * kBlock));
    for (size_t i = 0; i < input.size(); ++i)
      input[i] = T(float(int(i % 101) - 50));
    for (int mode = 0; mode < kNumModes; ++mode) {
      SCOPED_TRACE(std::string(tessel::device_kind_name(where)) + " " + kModes[mode].name +
                   (masked ? " masked" : " unmasked"));
      Buffer<T> in(where, input);
      Buffer<T> out(where, std::vector<T>(input.size(), poison));
      Buffer<T> out2(where, std::vector<T>(input.size(), poison));
      Buffer<T> sout(where, std::vector<T>(size_t(grid), poison));
      modified_copy().launch({grid}, on(where), out.view(), out2.view(), sout.view(), in.view(), n,
                             mode, masked);
      std::vector<T> got = out.read(), got2 = out2.read(), sgot = sout.read();
      for (int64_t i = 0; i < grid * kBlock; ++i) {
        const bool valid = i < n;
        const float x = valid ? as_float(input[size_t(i)]) : -7.0f;
        ASSERT_EQ(as_float(got[size_t(i)]), 2 * x) << "out[" << i << "]";
        if (masked) {
          ASSERT_EQ(as_float(got2[size_t(i)]), valid ? x : as_float(poison)) << "out2[" << i << "]";
        }
      }
      for (int64_t p = 0; p < grid; ++p)
        ASSERT_EQ(as_float(sgot[size_t(p)]), as_float(input[size_t(p)]) + 1) << "sout[" << p << "]";
    }
  }
}

TEST(MemModifiers, F32ResultsOnEveryBackend) {
  for (DeviceKind where : cpu_and_sim())
    check_modes<float>(where);
}

TEST(MemModifiers, F16ResultsOnEveryBackend) {
  for (DeviceKind where : cpu_and_sim())
    check_modes<tessel::half>(where);
}

TEST(MemModifiers, I8ResultsOnEveryBackend) {
  for (DeviceKind where : cpu_and_sim())
    check_modes<int8_t>(where);
}

// Rows at a run-time stride, the row offset hinted multiple_of(HINT) (a true promise for each
// stride used): out[r * stride + c] = 3 in[...] for c < n_cols, nothing else written.
const tessel::Kernel& hinted_rows() {
  static const tessel::Kernel k =
      tl::kernel("hinted_rows", "out, in, stride, n_cols, HINT",
                 [](tl::Ptr out, tl::Ptr in, tl::Int stride, tl::Int n_cols, tl::Const<int> HINT) {
                   tl::Tensor start = tl::program_id(0) * stride;
                   if (HINT > 1)
                     start = tl::multiple_of(start, int64_t(HINT));
                   auto cols = tl::max_contiguous(tl::multiple_of(tl::arange(0, 64), 64), 64);
                   auto mask = cols < n_cols;
                   auto x = tl::load(in + start + cols, mask);
                   tl::store(out + start + cols, x * 3, mask);
                 });
  return k;
}

TEST(Hints, HintedStrideRowsGiveTheReferenceOnEveryBackend) {
  struct Case {
    int stride, hint, n_cols;
  };
  for (DeviceKind where : cpu_and_sim())
    for (Case c : {Case{48, 16, 40}, Case{40, 8, 37}, Case{64, 64, 64}, Case{40, 1, 40}}) {
      SCOPED_TRACE(std::string(tessel::device_kind_name(where)) + " stride " +
                   std::to_string(c.stride) + " hint " + std::to_string(c.hint));
      const int rows = 5;
      const size_t size = size_t(rows * c.stride + 64);
      std::vector<float> input(size);
      for (size_t i = 0; i < size; ++i)
        input[i] = float(int(i * 7 % 23) - 11);
      Buffer<float> in(where, input);
      Buffer<float> out(where, std::vector<float>(size, -1.0f));
      hinted_rows().launch({rows}, on(where), out.view(), in.view(), c.stride, c.n_cols, c.hint);
      std::vector<float> got = out.read();
      for (size_t i = 0; i < size; ++i) {
        const size_t r = i / size_t(c.stride), col = i % size_t(c.stride);
        const bool written = r < size_t(rows) && col < size_t(c.n_cols);
        ASSERT_EQ(got[i], written ? 3 * input[i] : -1.0f) << "element " << i;
      }
    }
}

} // namespace
