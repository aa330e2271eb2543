// One test per diagnostic of the last Triton ops of issue 14 (atomic_load/store/poll, assume,
// expect_zero, swizzle2d, slice, bitonic_merge, uint_to_uniform_float, pair_uniform_to_normal):
// each asserts the user's file:line, the op and what was wrong. The failing call is given the
// location `at` explicitly (as its default argument would be), so formatting cannot move the
// expected line away from it.
#include "support/expect_error.h"
#include "tessel/tessel.h"

#include <source_location>
#include <string>
#include <vector>

namespace tl = tessel::lang;
using tessel::testing::expect_error;

namespace {

std::string here(int line) { return std::string(__FILE__) + ":" + std::to_string(line); }

float g_buffer[64];
tessel::half g_half[64];
int g_line = 0;

// The location to pass to the failing call, recorded as the expected line.
std::source_location mark(std::source_location l = std::source_location::current()) {
  g_line = int(l.line());
  return l;
}

void expect_trace_error(const tessel::Kernel& k, std::vector<std::string> fragments) {
  expect_error([&] { k.ir_for(false, g_buffer); },
               [&] {
                 fragments.push_back(here(g_line));
                 return fragments;
               });
}

TEST(TritonOpsErrors, AtomicLoadCannotRelease) {
  auto k = tl::kernel("atomic_load_release", [](tl::Ptr p) {
    const auto at = mark();
    tl::store(p, tl::atomic_load(p, tl::MemSem::release, tl::MemScope::gpu, at));
  });
  expect_trace_error(k, {"atomic_load", "sem must be relaxed or acquire, got release"});
}

TEST(TritonOpsErrors, AtomicStoreCannotAcquire) {
  auto k = tl::kernel("atomic_store_acquire", [](tl::Ptr p) {
    const auto at = mark();
    tl::atomic_store(p, 1.0, tl::MemSem::acquire, tl::MemScope::gpu, at);
  });
  expect_trace_error(k, {"atomic_store", "sem must be relaxed or release, got acquire"});
}

TEST(TritonOpsErrors, AtomicLoadNeedsAWideElement) {
  auto k = tl::kernel("atomic_load_f16", [](tl::PtrOf<tessel::half> p, tl::Ptr out) {
    const auto at = mark();
    tl::store(out, tl::atomic_load(p, tl::MemSem::acquire, tl::MemScope::gpu, at));
  });
  expect_error([&] { k.ir_for(false, g_half, g_buffer); },
               [] {
                 return std::vector<std::string>{
                     here(g_line), "atomic_load",
                     "applies to i32, i64, u32, u64, f32 or f64 elements, but the pointer's "
                     "elements are f16"};
               });
}

TEST(TritonOpsErrors, AtomicStoreMaskMustBeBoolean) {
  auto k = tl::kernel("atomic_store_mask", [](tl::Ptr p) {
    auto offs = tl::arange(0, 16);
    const auto at = mark();
    tl::atomic_store(p + offs, 1.0, offs, tl::MemSem::release, tl::MemScope::gpu, at);
  });
  expect_trace_error(k, {"atomic_store", "the mask must be a boolean (i1) tile, got i32[16]"});
}

TEST(TritonOpsErrors, AtomicPollCannotRelease) {
  auto k = tl::kernel("atomic_poll_release", [](tl::Ptr p) {
    const auto at = mark();
    tl::atomic_poll(p, 1.0, tl::MemSem::acq_rel, tl::MemScope::gpu, at);
  });
  expect_trace_error(k, {"atomic_poll", "sem must be relaxed or acquire, got acq_rel"});
}

TEST(TritonOpsErrors, AssumeNeedsABoolean) {
  auto k = tl::kernel("assume_int", [](tl::Ptr p, tl::Int n) {
    const auto at = mark();
    tl::assume(n % 16, at);
    tl::store(p, tl::scalar(1.0, tl::f32));
  });
  expect_error([&] { k.ir_for(false, g_buffer, 5); },
               [] {
                 return std::vector<std::string>{here(g_line), "assume",
                                                 "the condition must be a boolean (i1) tile or "
                                                 "scalar, got i32; write a comparison"};
               });
}

TEST(TritonOpsErrors, ExpectZeroNeedsNumbers) {
  auto k = tl::kernel("expect_zero_ptr", [](tl::Ptr p) {
    auto offs = tl::arange(0, 16);
    const auto at = mark();
    tl::expect_zero(p + offs, offs < 4, at);
  });
  expect_trace_error(k, {"expect_zero", "x must be a tile of numbers, got ptr<f32>[16]"});
}

TEST(TritonOpsErrors, Swizzle2dNeedsIntegers) {
  auto k = tl::kernel("swizzle_float", [](tl::Ptr p) {
    auto f = tl::load(p);
    auto i = tl::program_id(0);
    const auto at = mark();
    tl::swizzle2d(i, i, f, i, i, at);
  });
  expect_trace_error(k, {"swizzle2d", "takes integer tiles or scalars", "got f32"});
}

TEST(TritonOpsErrors, SliceMustLieInTheDim) {
  auto k = tl::kernel("slice_out", [](tl::Ptr p) {
    auto x = tl::load(p + tl::arange(0, 16));
    const auto at = mark();
    tl::store(p + tl::arange(0, 8), tl::slice(x, 0, 12, 8, at));
  });
  expect_trace_error(
      k, {"slice", "[12, 20) must lie in the dim of 16 of f32[16]", "with a power-of-two length"});
}

TEST(TritonOpsErrors, BitonicMergeDimInRange) {
  auto k = tl::kernel("merge_dim", [](tl::Ptr p) {
    auto x = tl::load(p + tl::arange(0, 16));
    const auto at = mark();
    tl::store(p + tl::arange(0, 16), tl::bitonic_merge(x, 2, false, at));
  });
  expect_trace_error(k, {"bitonic_merge", "dim 2 does not exist in f32[16] (valid: -1..0)"});
}

TEST(TritonOpsErrors, UintToUniformFloatNeedsWords) {
  auto k = tl::kernel("uniform_float", [](tl::Ptr p) {
    auto x = tl::load(p + tl::arange(0, 16));
    const auto at = mark();
    tl::store(p + tl::arange(0, 16), tl::uint_to_uniform_float(x, at));
  });
  expect_trace_error(k, {"uint_to_uniform_float",
                         "x must be an i32, u32, i64 or u64 tile (random words), got f32[16]"});
}

TEST(TritonOpsErrors, PairUniformToNormalNeedsFloats) {
  auto k = tl::kernel("pair_to_normal_int", [](tl::Ptr p) {
    auto i = tl::arange(0, 16);
    auto u = tl::load(p + i);
    const auto at = mark();
    tl::pair_uniform_to_normal(i, u, at);
  });
  expect_trace_error(k, {"pair_uniform_to_normal",
                         "u1 must be a float tile (uniform numbers in [0, 1)), got i32[16]"});
}

} // namespace
