// device_assert on the CPU backend and on the simulated device: a passing assert prints nothing and
// does not throw; a failing one throws tessel::Error once the launch ran, naming the kernel, the
// user's file:line, the message, the program and the element; masked-off elements are not
// checked; without the option `debug` the assert is compiled out (nothing checked).
#include "dsl/debug_test_util.h"

#include "support/expect_error.h"

namespace tl = tessel::lang;

namespace tessel::testing {
namespace {

int g_assert_line = 0;

std::string here(int line) { return std::string(__FILE__) + ":" + std::to_string(line); }

// Checks x[offs] >= 0 where offs < n (x has BLOCK elements per program).
const Kernel& assert_nonneg() {
  static const Kernel k =
      tl::kernel("assert_nonneg", "x, n, BLOCK", [](tl::Ptr x, tl::Int n, tl::Const<int> BLOCK) {
        auto offs = tl::program_id(0) * BLOCK + tl::arange(0, BLOCK);
        auto mask = offs < n;
        auto v = tl::load(x + offs); // unmasked: the buffers cover every program's tile
        g_assert_line = __LINE__ + 1;
        tl::device_assert(v >= 0, "x must be >= 0", mask);
      });
  return k;
}

class DeviceAssert : public ::testing::TestWithParam<DeviceKind> {};

TEST_P(DeviceAssert, PassingAssertPrintsNothing) {
  REQUIRE_DEVICE(GetParam());
  DebugBuffer<int32_t> x(GetParam(), std::vector<int32_t>(48, 3));
  CapturedOutput out;
  assert_nonneg().launch({3}, debug_on(GetParam()), x.view(), 48, 16);
  EXPECT_EQ(out.text(), "");
}

TEST_P(DeviceAssert, FailingAssertNamesProgramElementMessageAndLine) {
  REQUIRE_DEVICE(GetParam());
  std::vector<int32_t> values(48, 3);
  values[16 + 5] = -1; // program 1, element 5
  DebugBuffer<int32_t> x(GetParam(), values);
  CapturedOutput out;
  expect_error([&] { assert_nonneg().launch({3}, debug_on(GetParam()), x.view(), 48, 16); },
               [] {
                 return std::vector<std::string>{
                     here(g_assert_line) + ": device_assert failed in kernel 'assert_nonneg'",
                     "x must be >= 0", "at program (1, 0, 0) element [5]"};
               });
}

TEST_P(DeviceAssert, EveryFailingElementOfAProgramIsNamed) {
  REQUIRE_DEVICE(GetParam());
  std::vector<int32_t> values(16, 3);
  values[2] = values[9] = -7;
  DebugBuffer<int32_t> x(GetParam(), values);
  expect_error([&] { assert_nonneg().launch({1}, debug_on(GetParam()), x.view(), 16, 16); },
               {"at program (0, 0, 0) element [2], program (0, 0, 0) element [9]"});
}

TEST_P(DeviceAssert, MaskedOffElementsAreNotChecked) {
  REQUIRE_DEVICE(GetParam());
  std::vector<int32_t> values(16, 3);
  values[12] = -1; // beyond n = 10
  DebugBuffer<int32_t> x(GetParam(), values);
  assert_nonneg().launch({1}, debug_on(GetParam()), x.view(), 10, 16);
}

TEST_P(DeviceAssert, WithoutDebugNothingIsChecked) {
  REQUIRE_DEVICE(GetParam());
  std::vector<int32_t> values(16, -1);
  DebugBuffer<int32_t> x(GetParam(), values);
  CapturedOutput out;
  assert_nonneg().launch({1}, debug_on(GetParam(), /*debug=*/false), x.view(), 16, 16);
  EXPECT_EQ(out.text(), "");
}

INSTANTIATE_TEST_SUITE_P(Devices, DeviceAssert, ::testing::Values(DeviceKind::cpu, DeviceKind::sim),
                         device_name);

// A scalar condition: the failing element has no coordinates.
TEST(DeviceAssertOnTheCpu, ScalarCondition) {
  static const Kernel k =
      tl::kernel("assert_scalar", [](tl::Int n) { tl::device_assert(n < 4, "n is too large"); });
  k.launch({1}, debug_on(DeviceKind::cpu), 3);
  expect_error([&] { k.launch({2}, debug_on(DeviceKind::cpu), 5); },
               {"n is too large", "at program (0, 0, 0) element [], program (1, 0, 0) element []"});
}

// The user's diagnostics of the debugging ops, each with the file:line of the call.
TEST(DebugErrors, AssertConditionMustBeBoolean) {
  auto k = tl::kernel("assert_int", [](tl::Ptr x) {
    g_assert_line = __LINE__ + 1;
    tl::device_assert(tl::load(x + tl::arange(0, 16)), "nonzero");
  });
  std::vector<int32_t> x(16, 1);
  expect_error([&] { k.ir_for(false, x.data()); },
               [] {
                 return std::vector<std::string>{here(g_assert_line), "device_assert",
                                                 "the condition must be a boolean (i1) tile",
                                                 "i32[16]"};
               });
}

TEST(DebugErrors, PrintMaskMustBeBoolean) {
  auto k = tl::kernel("print_int_mask", [](tl::Ptr x) {
    auto offs = tl::arange(0, 16);
    g_assert_line = __LINE__ + 1;
    tl::device_print("x", tl::load(x + offs), offs);
  });
  std::vector<int32_t> x(16, 1);
  expect_error([&] { k.ir_for(false, x.data()); },
               [] {
                 return std::vector<std::string>{here(g_assert_line), "device_print",
                                                 "the mask must be a boolean (i1) tile"};
               });
}

TEST(DebugErrors, StaticAssertFailsAtTraceWithTheLocation) {
  auto k = tl::kernel("static_assert_block", [](tl::Ptr x, tl::Const<int> BLOCK) {
    g_assert_line = __LINE__ + 1;
    tl::static_assert_(BLOCK % 32 == 0, "BLOCK must be a multiple of 32");
    tl::store(x + tl::arange(0, BLOCK), tl::arange(0, BLOCK));
  });
  std::vector<int32_t> x(64, 1);
  expect_error([&] { k.ir_for(false, x.data(), 16); },
               [] {
                 return std::vector<std::string>{
                     here(g_assert_line), "static_assert failed: BLOCK must be a multiple of 32"};
               });
  (void)k.ir_for(false, x.data(), 64); // holds: traces
}

TEST(StaticPrint, WritesAtTraceTime) {
  auto k = tl::kernel("static_print_block", [](tl::Ptr x, tl::Const<int> BLOCK) {
    auto offs = tl::arange(0, BLOCK);
    g_assert_line = __LINE__ + 1;
    tl::static_print("BLOCK = ", BLOCK);
    tl::static_print("offs: ", offs);
    tl::store(x + offs, offs);
  });
  std::vector<int32_t> x(128, 1);
  CapturedOutput out;
  (void)k.ir_for(false, x.data(), 128);
  std::string text = out.text();
  EXPECT_NE(text.find(here(g_assert_line)), std::string::npos) << text;
  EXPECT_NE(text.find("static_print: BLOCK = 128\n"), std::string::npos) << text;
  EXPECT_NE(text.find("static_print: offs: i32[128]\n"), std::string::npos) << text;
}

} // namespace
} // namespace tessel::testing
