// One test per user diagnostic of the DSL and the launch path: each asserts that the message names
// the user's file:line (for kernel code), the operation, and the offending shapes or types.
#include "support/expect_error.h"
#include "tessel/tessel.h"

#include <vector>

namespace tl = tessel::lang;
using tessel::testing::expect_error;

namespace {

std::string here(int line) { return std::string(__FILE__) + ":" + std::to_string(line); }

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
               {"kernel 'const_param'", "parameter 1 (Const<int>)", "compile-time constant"});
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

TEST(DslErrors, DotPrecisionOnNonF32Operands) {
  auto k = tl::kernel("bad_precision", [](tl::Ptr p) {
    auto a = tl::zeros({16, 16}, tl::f16);
    auto b = tl::zeros({16, 16}, tl::f16);
    g_line = __LINE__ + 1;
    auto c = tl::dot(a, b, tl::Precision::tf32);
    tl::store(p, tl::sum(tl::sum(c, 0), 0));
  });
  expect_error([&] { k.ir_for(false, g_buffer); },
               [] {
                 return std::vector<std::string>{here(g_line), "dot",
                                                 "a precision applies to f32 operands only", "f16",
                                                 "drop the precision argument"};
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

// A masked load's `other` is cast to the element type as Triton does (tests/dsl/types_test.cpp).

// A [=]() mutable body reassigns its own copy of `acc`: without the check the loop's result is
// silently dropped and `acc` after the loop is still zero.
TEST(DslErrors, ForRangeBodyCapturesByValue) {
  static int loop_line = 0;
  auto k = tl::kernel("by_value_for", [](tl::Ptr p, tl::Int n) {
    auto acc = tl::zeros({16}, tl::f32);
    loop_line = __LINE__ + 1;
    tl::for_range(0, n, 1, [=](tl::Int) mutable {
      g_line = __LINE__ + 1;
      acc = acc + 1.0f;
    });
    tl::store(p + tl::arange(0, 16), acc);
  });
  expect_error([&] { k.ir_for(false, g_buffer, 4); },
               [] {
                 return std::vector<std::string>{
                     here(g_line) + ":",
                     "for_range: the body reassigns a handle it captured by value",
                     "the for_range (at " + here(loop_line), "capture by reference: [&]"};
               });
}

TEST(DslErrors, IfBodyCapturesByValue) {
  auto k = tl::kernel("by_value_if", [](tl::Ptr p, tl::Int n) {
    auto x = tl::zeros({16}, tl::f32);
    tl::if_(n > 0, [x]() mutable {
      g_line = __LINE__ + 1;
      x = x + 1.0f;
    });
    tl::store(p + tl::arange(0, 16), x);
  });
  expect_error([&] { k.ir_for(false, g_buffer, 4); },
               [] {
                 return std::vector<std::string>{
                     here(g_line) + ":", "if_: the body reassigns a handle it captured by value",
                     "capture by reference: [&]"};
               });
}

TEST(DslErrors, WhileBodyCapturesByValue) {
  auto k = tl::kernel("by_value_while", [](tl::Ptr p, tl::Int n) {
    auto i = tl::scalar(0, tl::i32);
    tl::while_([&] { return i < n; },
               [=]() mutable {
                 g_line = __LINE__ + 1;
                 i = i + 1;
               });
    tl::store(p, i.to(tl::f32));
  });
  expect_error([&] { k.ir_for(false, g_buffer, 4); },
               [] {
                 return std::vector<std::string>{
                     here(g_line) + ":", "while_: the body reassigns a handle it captured by value",
                     "capture by reference: [&]"};
               });
}

TEST(DslErrors, LoopCarriedValueChangesShape) {
  static int loop_line = 0;
  auto k = tl::kernel("bad_carried_shape", [](tl::Ptr p, tl::Int n) {
    auto x = tl::zeros({128}, tl::f32);
    loop_line = __LINE__ + 1;
    tl::for_range(0, n, 1, [&](tl::Int) {
      g_line = __LINE__ + 1;
      x = tl::expand_dims(x, 1);
    });
    tl::store(p + tl::arange(0, 128), x);
  });
  expect_error(
      [&] { k.ir_for(false, g_buffer, 4); },
      [] {
        return std::vector<std::string>{
            here(g_line) + ":",
            "for_range: a loop-carried value was f32[128] and becomes f32[128, 1] in the loop body",
            "must keep its shape", "the for_range is at " + here(loop_line)};
      });
}

// A handle kept in a global outlives the trace that made it; its IR is freed with that trace.
tl::Tensor g_kept;

TEST(DslErrors, HandleFromAnotherKernelsTrace) {
  auto a = tl::kernel("keeps_handle", [](tl::Ptr p) {
    g_kept = tl::arange(0, 16);
    tl::store(p + g_kept, tl::zeros({16}, tl::f32));
  });
  (void)a.ir_for(false, g_buffer);
  auto b = tl::kernel("uses_handle", [](tl::Ptr p) {
    g_line = __LINE__ + 1;
    tl::store(p + g_kept, tl::zeros({16}, tl::f32));
  });
  expect_error([&] { b.ir_for(false, g_buffer); },
               [] {
                 return std::vector<std::string>{
                     here(g_line), "made while tracing kernel 'keeps_handle'",
                     "used while tracing kernel 'uses_handle'", "do not keep handles in statics"};
               });
}

TEST(DslErrors, HandleFromAnEarlierTraceOfTheSameKernel) {
  static tl::Tensor kept;
  auto k = tl::kernel("retraced", [](tl::Ptr p, tl::Const<int> C) {
    auto offs = tl::arange(0, 16);
    if (C == 1)
      kept = offs;
    g_line = __LINE__ + 1;
    tl::store(p + kept, tl::zeros({16}, tl::f32));
  });
  (void)k.ir_for(false, g_buffer, 1);
  expect_error([&] { k.ir_for(false, g_buffer, 2); },
               [] {
                 return std::vector<std::string>{here(g_line),
                                                 "made by an earlier trace of kernel 'retraced'",
                                                 "traced once per specialization"};
               });
}

// Reassigning a kept handle inside a loop body must not look at its old value (freed IR): in this
// trace it has no value before the loop.
TEST(DslErrors, HandleFromAnEarlierTraceCarriedByALoop) {
  static tl::Tensor kept;
  auto k = tl::kernel("retraced_loop", [](tl::Ptr p, tl::Int n, tl::Const<int> C) {
    if (C == 1)
      kept = tl::zeros({16}, tl::f32);
    g_line = __LINE__ + 1;
    tl::for_range(0, n, 1, [&](tl::Int) { kept = tl::zeros({16}, tl::f32); });
    tl::store(p + tl::arange(0, 16), kept);
  });
  (void)k.ir_for(false, g_buffer, 4, 1);
  expect_error(
      [&] { k.ir_for(false, g_buffer, 4, 2); },
      [] {
        return std::vector<std::string>{here(g_line), "for_range", "has no value before the body"};
      });
}

TEST(DslErrors, HandleUsedAfterItsTrace) {
  tl::Tensor kept;
  auto k = tl::kernel("leaks_handle", [&](tl::Ptr p) {
    kept = tl::arange(0, 16);
    tl::store(p + kept, tl::zeros({16}, tl::f32));
  });
  (void)k.ir_for(false, g_buffer);
  int line = __LINE__ + 1;
  expect_error([&] { (void)kept.shape(); },
               {here(line), "made while tracing kernel 'leaks_handle'", "after that trace ended"});
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

// An integer launch argument past i32 is typed i64 (u64 above INT64_MAX) now:
// tests/device/types_test.cpp.

TEST(LaunchErrors, ConstOutsideItsCppType) {
  auto k = tl::kernel("const_i8", [](tl::Ptr p, tl::Const<int8_t> C) {
    tl::store(p, tl::scalar(double(C), tl::f32));
  });
  float buf[1];
  expect_error(
      [&] { k.launch({1}, {}, buf, 300); },
      {"parameter 1 (Const<int8_t>)", "value 300 is outside the range of int8_t (-128 to 127)"});
  auto k32 = tl::kernel("const_i32", [](tl::Ptr p, tl::Const<int> C) {
    tl::store(p, tl::scalar(double(C), tl::f32));
  });
  expect_error(
      [&] { k32.launch({1}, {}, buf, (int64_t(1) << 32) + 5); },
      {"parameter 1 (Const<int>)", "outside the range of int (-2147483648 to 2147483647)"});
}

TEST(LaunchErrors, NegativeGrid) {
  auto k = tl::kernel("grid", [](tl::Ptr p) { tl::store(p, tl::scalar(1, tl::f32)); });
  expect_error([&] { k.launch({-1}, {}, g_buffer); }, {"grid dimension 0 is -1"});
}

TEST(LaunchErrors, DevicePointerOnCpuLaunch) {
  // A device view beside a host pointer: one launch runs on one device.
  auto k = tl::kernel("device_ptr", [](tl::Ptr p, tl::Ptr q) { tl::store(p, tl::load(q)); });
  tessel::TensorView view(g_buffer, tessel::f32, {64}, tessel::DeviceKind::cuda);
  float host[4] = {};
  expect_error([&] { k.launch({1}, {}, view, host); },
               {"parameter 0 (Ptr) is in CUDA device 0", "parameter 1 (Ptr) is in host memory",
                "different devices"});
}

} // namespace
