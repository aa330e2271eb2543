// Checked mode of the CPU backend (LaunchOptions::checked): executed loads and stores outside the
// TensorViews passed throw tessel::Error naming the kernel, the parameter, the element, the
// program and the user's line; masked-off elements, raw pointers and in-bounds kernels pass.
// Every out-of-bounds access these tests make stays inside a larger allocation than the view
// says, so the unchecked launches they compare with are memory-safe.
#include "support/expect_error.h"
#include "support/host_array.h"
#include "tessel/tessel.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace tl = tessel::lang;
using tessel::DType;
using tessel::TensorView;
using tessel::testing::expect_error;
using tessel::testing::HostArray;

namespace {

std::string here(int line) { return std::string(__FILE__) + ":" + std::to_string(line) + ":"; }

const tessel::LaunchOptions kChecked = [] {
  tessel::LaunchOptions o;
  o.checked = true;
  return o;
}();

int g_load_line = 0;
int g_store_line = 0;

// out[i] = in[i + SHIFT] for i < n: with SHIFT = 1 the last element reads one past the end.
tessel::Kernel make_shifted_copy() {
  return tl::kernel("shifted_copy", [](tl::Ptr out, tl::Ptr in, tl::Int n, tl::Const<int> SHIFT,
                                       tl::Const<int> BLOCK) {
    auto offs = tl::program_id(0) * BLOCK + tl::arange(0, BLOCK);
    auto mask = offs < n;
    g_load_line = __LINE__ + 1; // the load's line
    auto x = tl::load(in + offs + SHIFT, mask);
    tl::store(out + offs, x, mask);
  });
}

// out[i] = a[i] + b[i] for i <= n (LAST_INCLUSIVE = 1: the classic off-by-one mask) or i < n.
tessel::Kernel make_add(bool inclusive_bug) {
  if (inclusive_bug)
    return tl::kernel("add_le",
                      [](tl::Ptr out, tl::Ptr a, tl::Ptr b, tl::Int n, tl::Const<int> BLOCK) {
                        auto offs = tl::program_id(0) * BLOCK + tl::arange(0, BLOCK);
                        auto mask = offs <= n;
                        auto sum = tl::load(a + offs, mask) + tl::load(b + offs, mask);
                        g_store_line = __LINE__ + 1; // the store's line
                        tl::store(out + offs, sum, mask);
                      });
  return tl::kernel("add", [](tl::Ptr out, tl::Ptr a, tl::Ptr b, tl::Int n, tl::Const<int> BLOCK) {
    auto offs = tl::program_id(0) * BLOCK + tl::arange(0, BLOCK);
    auto mask = offs < n;
    tl::store(out + offs, tl::load(a + offs, mask) + tl::load(b + offs, mask), mask);
  });
}

// Row r of a [ROWS, COLS] matrix: out[r, :] = in[r, :] * 2, one program per row, no mask.
tessel::Kernel make_scale_rows() {
  return tl::kernel("scale_rows", [](tl::Ptr out, tl::Ptr in, tl::Const<int> COLS) {
    auto offs = tl::program_id(0) * COLS + tl::arange(0, COLS);
    tl::store(out + offs, tl::load(in + offs) * 2.0f);
  });
}

TEST(CheckedMode, OffByOneLoadNamesKernelParameterElementProgramAndLine) {
  auto k = make_shifted_copy();
  HostArray in(DType::f32, 1024 + 1), out(DType::f32, 1024);
  in.fill_random(1, -1, 1);
  TensorView in_view(in.data(), DType::f32, {1024}); // one element fewer than allocated
  expect_error(
      [&] { k.launch({4}, kChecked, out.arg(), in_view, 1024, 1, 256); },
      [] {
        return std::vector<std::string>{
            here(g_load_line),       "checked mode",
            "kernel 'shifted_copy'", "out-of-bounds load",
            "parameter 1 (Ptr)",     "element 1024 of a view with 1024 elements (shape [1024])",
            "program (3, 0, 0)"};
      });
}

TEST(CheckedMode, OffByOneStoreInMaskIsCaught) {
  auto k = make_add(/*inclusive_bug=*/true);
  HostArray a(DType::f32, 1001), b(DType::f32, 1001), out(DType::f32, 1001);
  a.fill_random(2, -1, 1);
  b.fill_random(3, -1, 1);
  TensorView out_view(out.data(), DType::f32, {1000});
  TensorView a_view(a.data(), DType::f32, {1001}), b_view(b.data(), DType::f32, {1001});
  expect_error([&] { k.launch({4}, kChecked, out_view, a_view, b_view, 1000, 256); },
               [] {
                 return std::vector<std::string>{here(g_store_line),
                                                 "kernel 'add_le'",
                                                 "out-of-bounds store",
                                                 "parameter 0 (Ptr)",
                                                 "element 1000 of a view with 1000 elements",
                                                 "program (3, 0, 0)"};
               });
}

TEST(CheckedMode, AccessBeforeTheStartOfAViewIsCaught) {
  auto k = make_shifted_copy();
  HostArray in(DType::f32, 1 + 256), out(DType::f32, 256);
  // The view starts one element into the buffer, so reading element -1 stays in the allocation.
  TensorView in_view(static_cast<float*>(in.data()) + 1, {256});
  expect_error([&] { k.launch({1}, kChecked, out.arg(), in_view, 256, -1, 256); },
               {"out-of-bounds load", "parameter 1 (Ptr)", "element -1 of a view with 256 elements",
                "program (0, 0, 0)"});
}

TEST(CheckedMode, NamedParametersAreReportedByName) {
  auto k =
      tl::kernel("named_copy", "out, in, BLOCK", [](tl::Ptr out, tl::Ptr in, tl::Const<int> BLOCK) {
        auto offs = tl::arange(0, BLOCK);
        tl::store(out + offs, tl::load(in + offs));
      });
  HostArray in(DType::f32, 64), out(DType::f32, 64);
  TensorView in_view(in.data(), DType::f32, {32});
  expect_error(
      [&] { k.launch({1}, kChecked, out.arg(), in_view, 64); },
      {"kernel 'named_copy'", "parameter 'in' (Ptr)", "element 32 of a view with 32 elements"});
}

TEST(CheckedMode, MultiDimensionalViewReportsCoordinates) {
  auto k = make_scale_rows();
  HostArray in(DType::f32, 9 * 64), out(DType::f32, 9 * 64);
  in.fill_random(4, -1, 1);
  TensorView in_view(in.data(), DType::f32, {8, 64});
  TensorView out_view(out.data(), DType::f32, {9, 64});
  // Nine programs over an 8-row input: row 8 is one row past the end.
  expect_error([&] { k.launch({9}, kChecked, out_view, in_view, 64); },
               {"kernel 'scale_rows'", "out-of-bounds load", "parameter 1 (Ptr)",
                "element 512 of a view with 512 elements (shape [8, 64])", "coordinates [8, 0]",
                "program (8, 0, 0)"});
}

TEST(CheckedMode, MaskedAccessesPastTheEndAreNotFlaggedAndResultsMatch) {
  auto k = make_add(/*inclusive_bug=*/false);
  const size_t n = 1000; // the last of 4 programs of 256 is partly masked off
  HostArray a(DType::f32, n), b(DType::f32, n), checked(DType::f32, n), plain(DType::f32, n);
  a.fill_random(5, -10, 10);
  b.fill_random(6, -10, 10);
  checked.poison();
  plain.poison();
  k.launch({4}, kChecked, checked.arg(), a.arg(), b.arg(), int(n), 256);
  k.launch({4}, {}, plain.arg(), a.arg(), b.arg(), int(n), 256);
  for (size_t i = 0; i < n; ++i) {
    ASSERT_EQ(checked.get(i), float(a.get(i) + b.get(i))) << i;
    ASSERT_EQ(checked.get(i), plain.get(i)) << i;
  }
}

TEST(CheckedMode, RawPointersAreNotChecked) {
  auto k = make_shifted_copy();
  HostArray in(DType::f32, 1024 + 1), out(DType::f32, 1024);
  in.fill_random(7, -1, 1);
  out.poison();
  // The raw pointer's bounds are unknown, so reading element 1024 through it is allowed.
  k.launch({4}, kChecked, out.arg(), static_cast<const float*>(in.data()), 1024, 1, 256);
  for (size_t i = 0; i < 1024; ++i)
    ASSERT_EQ(out.get(i), in.get(i + 1)) << i;
}

TEST(CheckedMode, CheckedAndUncheckedSpecializationsCoexist) {
  auto k = make_shifted_copy();
  HostArray in(DType::f32, 1024 + 1), out(DType::f32, 1024);
  in.fill_random(8, -1, 1);
  TensorView in_view(in.data(), DType::f32, {1024});
  out.poison();
  k.launch({4}, {}, out.arg(), in_view, 1024, 1, 256); // unchecked: not noticed
  EXPECT_EQ(out.get(1023), in.get(1024));
  EXPECT_THROW(k.launch({4}, kChecked, out.arg(), in_view, 1024, 1, 256), tessel::Error);
  EXPECT_EQ(k.stats().compiles, 2);
  k.launch({4}, {}, out.arg(), in_view, 1024, 1, 256);
  EXPECT_THROW(k.launch({4}, kChecked, out.arg(), in_view, 1024, 1, 256), tessel::Error);
  EXPECT_EQ(k.stats().compiles, 2); // both found in the kernel's table
  EXPECT_EQ(k.stats().source(), tessel::KernelSource::memory);
}

TEST(CheckedMode, ReportsTheLowestFailingProgramWhateverTheThreads) {
  auto k = make_shifted_copy();
  // 64 programs of 64 elements over a view of the first 640: programs 10..63 all read past it.
  HostArray in(DType::f32, 64 * 64 + 64), out(DType::f32, 64 * 64);
  TensorView in_view(in.data(), DType::f32, {640});
  for (int repeat = 0; repeat < 5; ++repeat)
    expect_error([&] { k.launch({64}, kChecked, out.arg(), in_view, 64 * 64, 0, 64); },
                 {"element 640 of a view with 640 elements", "program (10, 0, 0)"});
}

TEST(CheckedMode, StridedViewIsCheckedAgainstTheBytesItSpans) {
  auto k = make_scale_rows();
  // A [4, 8] view with a row stride of 16 spans 3 * 16 + 8 = 56 elements of its buffer.
  HostArray in(DType::f32, 64), out(DType::f32, 64);
  in.fill_random(9, -1, 1);
  TensorView strided(in.data(), DType::f32, {4, 8});
  strided.strides = {16, 1};
  out.poison();
  // Rows 0..6 of 8 elements read elements 0..55: inside the span (gaps included), so no error.
  k.launch({7}, kChecked, out.arg(), strided, 8);
  for (size_t i = 0; i < 56; ++i)
    ASSERT_EQ(out.get(i), float(in.get(i) * 2)) << i;
  expect_error([&] { k.launch({8}, kChecked, out.arg(), strided, 8); },
               {"out-of-bounds load", "parameter 1 (Ptr)",
                "element 56 of a view with 32 "
                "elements (shape [4, 8], strides [16, 1]; checked against the bytes it spans)",
                "program (7, 0, 0)"});
}

TEST(CheckedMode, PointerCarriedByALoopIsTracedToItsParameter) {
  // `p` advances by BLOCK per iteration: after STEPS iterations it is BLOCK * STEPS elements in.
  auto k = tl::kernel("walk", [](tl::Ptr out, tl::Ptr in, tl::Int steps, tl::Const<int> BLOCK) {
    auto offs = tl::arange(0, BLOCK);
    tl::Tensor p = in;
    tl::for_range(0, steps, 1, [&](tl::Int) { p = p + BLOCK; });
    tl::store(out + offs, tl::load(p + offs));
  });
  HostArray in(DType::f32, 5 * 32), out(DType::f32, 32);
  in.fill_random(10, -1, 1);
  TensorView in_view(in.data(), DType::f32, {4 * 32});
  out.poison();
  k.launch({1}, kChecked, out.arg(), in_view, 3, 32); // the last block of the view
  for (size_t i = 0; i < 32; ++i)
    ASSERT_EQ(out.get(i), in.get(3 * 32 + i)) << i;
  expect_error([&] { k.launch({1}, kChecked, out.arg(), in_view, 4, 32); },
               {"kernel 'walk'", "parameter 1 (Ptr)", "element 128 of a view with 128 elements"});
}

TEST(CheckedMode, AddressFromEitherOfTwoParametersMustLieInOneOfThem) {
  // where(...) of two parameters' addresses: the access passes when it is inside either view.
  auto k = tl::kernel("pick", [](tl::Ptr out, tl::Ptr a, tl::Ptr b, tl::Int use_a,
                                 tl::Const<int> BLOCK, tl::Const<int> SHIFT) {
    auto offs = tl::arange(0, BLOCK);
    auto p = tl::where(use_a + tl::zeros({BLOCK}, tl::i32) != 0, a + offs, b + offs + SHIFT);
    tl::store(out + offs, tl::load(p));
  });
  HostArray a(DType::i32, 64), b(DType::i32, 64 + 1), out(DType::i32, 64);
  a.fill_random(11, -100, 100);
  b.fill_random(12, -100, 100);
  TensorView b_view(b.data(), DType::i32, {64});
  out.poison();
  k.launch({1}, kChecked, out.arg(), a.arg(), b_view, 0, 64, 0);
  for (size_t i = 0; i < 64; ++i)
    ASSERT_EQ(out.get(i), b.get(i)) << i;
  expect_error([&] { k.launch({1}, kChecked, out.arg(), a.arg(), b_view, 0, 64, 1); },
               {"kernel 'pick'", "out-of-bounds load", "not derived from one pointer parameter",
                "outside every TensorView passed"});
}

TEST(CheckedMode, CheckedKernelFromTheDiskCacheReportsTheSameLine) {
  HostArray in(DType::f32, 1024 + 1), out(DType::f32, 1024);
  TensorView in_view(in.data(), DType::f32, {1024});
  auto first = make_shifted_copy();
  EXPECT_THROW(first.launch({4}, kChecked, out.arg(), in_view, 1024, 1, 256), tessel::Error);
  auto second = make_shifted_copy(); // a new kernel object: its table is empty
  expect_error([&] { second.launch({4}, kChecked, out.arg(), in_view, 1024, 1, 256); },
               [] {
                 return std::vector<std::string>{here(g_load_line), "element 1024"};
               });
  EXPECT_EQ(second.stats().source(), tessel::KernelSource::disk);
}

} // namespace
