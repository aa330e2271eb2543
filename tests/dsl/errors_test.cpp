// One test per user diagnostic of the DSL and the launch path: each asserts that the message names
// the user's file:line (for kernel code), the operation, and the offending shapes or types.
#include "support/expect_error.h"
#include "tessel/tessel.h"

#include <vector>

namespace tl = tessel::lang;
using tessel::testing::expect_error;

namespace {

std::string here(int line) {
  return std::string(__FILE__) + ":" + std::to_string(line);
}

float g_buffer[64];

int g_line = 0;

TEST(DslErrors, IncompatibleBroadcast) {
  auto k = tl::kernel("bad_broadcast", [](tl::Ptr p) {
    auto a = tl::arange(0, 16);
    auto b = tl::arange(0, 32);
    g_line = __LINE__ + 1;
    tl::store(p + a, a + b);
  });
  expect_error([&] { k.ir_for(false, g_buffer); },
               [] {
                 return std::vector<std::string>{here(g_line), "operator+",
                                                 "cannot broadcast shapes [16] and [32]"};
               });
}

TEST(DslErrors, NonPowerOfTwoArange) {
  auto k = tl::kernel("bad_arange", [](tl::Ptr p) {
    g_line = __LINE__ + 1;
    auto a = tl::arange(0, 100);
    tl::store(p + a, a);
  });
  expect_error(
      [&] { k.ir_for(false, g_buffer); },
      [] {
        return std::vector<std::string>{here(g_line), "arange", "100 elements", "power of two"};
      });
}

TEST(DslErrors, NonPowerOfTwoShape) {
  auto k = tl::kernel("bad_shape", [](tl::Ptr p) {
    g_line = __LINE__ + 1;
    auto z = tl::zeros({4, 12}, tl::f32);
    tl::store(p, tl::sum(tl::sum(z, 1), 0));
  });
  expect_error([&] { k.ir_for(false, g_buffer); },
               [] {
                 return std::vector<std::string>{here(g_line), "zeros", "[4, 12]", "12"};
               });
}

TEST(DslErrors, ReductionAxisOutOfRange) {
  auto k = tl::kernel("bad_axis", [](tl::Ptr p) {
    auto x = tl::load(p + tl::arange(0, 16));
    g_line = __LINE__ + 1;
    tl::store(p, tl::sum(x, 1));
  });
  expect_error([&] { k.ir_for(false, g_buffer); },
               [] {
                 return std::vector<std::string>{here(g_line), "sum", "axis 1 does not exist",
                                                 "f32[16]", "rank 1"};
               });
}

TEST(DslErrors, RunTimeValueWhereCompileTimeNeeded) {
  auto k = tl::kernel("bad_const", [](tl::Ptr p, tl::Int n) {
    g_line = __LINE__ + 1;
    auto a = tl::arange(0, n);
    tl::store(p + a, a);
  });
  expect_error(
      [&] { k.ir_for(false, g_buffer, 16); },
      [] {
        return std::vector<std::string>{here(g_line), "arange", "compile-time", "run-time value"};
      });
}

TEST(DslErrors, ConstParameterGivenAPointer) {
  auto k = tl::kernel("const_param", [](tl::Ptr p, tl::Const<int> BLOCK) {
    tl::store(p + tl::arange(0, BLOCK), 1.0f + tl::zeros({BLOCK}, tl::f32));
  });
  expect_error([&] { k.launch({1}, {}, g_buffer, g_buffer); },
               {"kernel 'const_param'", "parameter 1 (Const<i32>)", "compile-time constant"});
}

TEST(DslErrors, DotInnerDimensionsDiffer) {
  auto k = tl::kernel("bad_dot", [](tl::Ptr p) {
    auto a = tl::zeros({16, 8}, tl::f32);
    auto b = tl::zeros({16, 8}, tl::f32);
    g_line = __LINE__ + 1;
    auto c = tl::dot(a, b);
    tl::store(p, tl::sum(tl::sum(c, 0), 0));
  });
  expect_error([&] { k.ir_for(false, g_buffer); },
               [] {
                 return std::vector<std::string>{here(g_line), "dot", "inner dimensions differ",
                                                 "f32[16, 8]"};
               });
}

TEST(DslErrors, LoadFromANonPointer) {
  auto k = tl::kernel("bad_load", [](tl::Ptr p, tl::Int n) {
    g_line = __LINE__ + 1;
    auto x = tl::load(n + tl::arange(0, 16));
    tl::store(p, tl::sum(x, 0));
  });
  expect_error([&] { k.ir_for(false, g_buffer, 3); },
               [] {
                 return std::vector<std::string>{here(g_line), "load", "pointer", "i32[16]"};
               });
}

TEST(DslErrors, MaskMustBeBoolean) {
  auto k = tl::kernel("bad_mask", [](tl::Ptr p) {
    auto offs = tl::arange(0, 16);
    g_line = __LINE__ + 1;
    auto x = tl::load(p + offs, offs);
    tl::store(p + offs, x);
  });
  expect_error([&] { k.ir_for(false, g_buffer); },
               [] {
                 return std::vector<std::string>{here(g_line), "load", "mask", "i32[16]"};
               });
}

TEST(DslErrors, WhereConditionMustBeBoolean) {
  auto k = tl::kernel("bad_where", [](tl::Ptr p) {
    auto offs = tl::arange(0, 16);
    g_line = __LINE__ + 1;
    auto x = tl::where(offs, offs, 0.0);
    tl::store(p + offs, x);
  });
  expect_error([&] { k.ir_for(false, g_buffer); },
               [] {
                 return std::vector<std::string>{here(g_line), "where", "boolean"};
               });
}

TEST(DslErrors, BitwiseOnFloats) {
  auto k = tl::kernel("bad_bitwise", [](tl::Ptr p) {
    auto x = tl::load(p + tl::arange(0, 16));
    g_line = __LINE__ + 1;
    tl::store(p + tl::arange(0, 16), x & x);
  });
  expect_error([&] { k.ir_for(false, g_buffer); },
               [] {
                 return std::vector<std::string>{here(g_line), "operator&", "integer"};
               });
}

TEST(DslErrors, PointerTimesInteger) {
  auto k = tl::kernel("bad_ptr_mul", [](tl::Ptr p) {
    g_line = __LINE__ + 1;
    auto q = p * 2;
    tl::store(q, 1.0f + tl::scalar(0, tl::f32));
  });
  expect_error([&] { k.ir_for(false, g_buffer); },
               [] {
                 return std::vector<std::string>{here(g_line), "operator*", "pointers"};
               });
}

TEST(DslErrors, LoopCarriedValueChangesType) {
  auto k = tl::kernel("bad_carried", [](tl::Ptr p, tl::Int n) {
    auto acc = tl::zeros({16}, tl::f32);
    g_line = __LINE__ + 1;
    tl::for_range(0, n, 1, [&](tl::Int) { acc = acc.to(tl::f16); });
    tl::store(p + tl::arange(0, 16), acc);
  });
  expect_error([&] { k.ir_for(false, g_buffer, 4); },
               [] {
                 return std::vector<std::string>{here(g_line), "for_range",
                                                 "changes type from f32[16] to f16[16]"};
               });
}

TEST(DslErrors, IfBranchesDisagreeOnType) {
  auto k = tl::kernel("bad_if", [](tl::Ptr p, tl::Int n) {
    auto x = tl::zeros({16}, tl::f32);
    g_line = __LINE__ + 1;
    tl::if_(n > 0, [&] { x = x.to(tl::f16); });
    tl::store(p + tl::arange(0, 16), x);
  });
  expect_error([&] { k.ir_for(false, g_buffer, 4); },
               [] {
                 return std::vector<std::string>{here(g_line), "if_", "f16[16]", "f32[16]"};
               });
}

TEST(DslErrors, TileOperationOutsideAKernel) {
  int line = __LINE__ + 1;
  expect_error([&] { (void)tl::arange(0, 16); }, {here(line), "outside a kernel"});
}

TEST(LaunchErrors, WrongArgumentCount) {
  auto k = tl::kernel("two_args", [](tl::Ptr p, tl::Int n) {
    tl::store(p + tl::arange(0, 16), tl::zeros({16}, tl::f32), tl::arange(0, 16) < n);
  });
  expect_error([&] { k.launch({1}, {}, g_buffer); },
               {"kernel 'two_args' takes 2 arguments (Ptr, Int) but was launched with 1"});
}

TEST(LaunchErrors, PointerWhereIntegerExpected) {
  auto k = tl::kernel("int_param", [](tl::Ptr p, tl::Int n) {
    tl::store(p + tl::arange(0, 16), tl::zeros({16}, tl::f32), tl::arange(0, 16) < n);
  });
  expect_error([&] { k.launch({1}, {}, g_buffer, g_buffer); },
               {"parameter 1 (Int)", "expects an integer, got a pointer"});
}

TEST(LaunchErrors, IntegerWherePointerExpected) {
  auto k = tl::kernel("ptr_param", [](tl::Ptr p) { tl::store(p, tl::scalar(1, tl::f32)); });
  expect_error([&] { k.launch({1}, {}, 5); },
               {"parameter 0 (Ptr)", "expects a pointer or TensorView, got an integer"});
}

TEST(LaunchErrors, TypedPointerGivenOtherElementType) {
  auto k =
      tl::kernel("typed_ptr", [](tl::PtrOf<float> p) { tl::store(p, tl::scalar(1, tl::f32)); });
  std::vector<int32_t> ints(4);
  expect_error([&] { k.launch({1}, {}, ints.data()); },
               {"parameter 0 (PtrOf<f32>)", "expects elements of type f32, got i32"});
}

TEST(LaunchErrors, IntegerOutOfRange) {
  auto k = tl::kernel("int_range", [](tl::Ptr p, tl::Int n) { tl::store(p, n.to(tl::f32)); });
  expect_error([&] { k.launch({1}, {}, g_buffer, int64_t(1) << 40); },
               {"parameter 1 (Int)", "does not fit in i32"});
}

TEST(LaunchErrors, NegativeGrid) {
  auto k = tl::kernel("grid", [](tl::Ptr p) { tl::store(p, tl::scalar(1, tl::f32)); });
  expect_error([&] { k.launch({-1}, {}, g_buffer); }, {"grid dimension 0 is -1"});
}

TEST(LaunchErrors, DevicePointerOnCpuLaunch) {
  // A device view beside a host pointer: one launch runs on one device.
  auto k = tl::kernel("device_ptr", [](tl::Ptr p, tl::Ptr q) {
    tl::store(p, tl::load(q));
  });
  tessel::TensorView view(g_buffer, tessel::f32, {64}, tessel::DeviceKind::cuda);
  float host[4] = {};
  expect_error([&] { k.launch({1}, {}, view, host); },
               {"parameter 0 (Ptr) is in CUDA device 0", "parameter 1 (Ptr) is in host memory",
                "different devices"});
}

} // namespace
