// What tracing records: the ops a kernel's C++ produces, specialization of arguments, C++-level
// unrolling, and source locations on ops.
#include "tessel/samples/samples.h"
#include "tessel/tessel.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace tl = tessel::lang;

namespace {

int count(const std::string& text, const std::string& what) {
  int n = 0;
  for (size_t pos = text.find(what); pos != std::string::npos; pos = text.find(what, pos + 1))
    ++n;
  return n;
}

alignas(16) float g_aligned[64];

TEST(Trace, SoftmaxRecordsTheFusedRowComputation) {
  std::string ir = tessel::samples::softmax().ir_for(false, g_aligned, g_aligned, 64, 50, 64);
  EXPECT_EQ(count(ir, "= program_id {axis = 0}"), 1) << ir;
  EXPECT_EQ(count(ir, "= arange {start = 0, end = 64} : tensor<64xi32>"), 1) << ir;
  EXPECT_EQ(count(ir, "= reduce_max"), 1) << ir;
  EXPECT_EQ(count(ir, "= reduce_sum"), 1) << ir;
  // exp(x - max) as exp2((x - max) * log2 e) (samples/kernels.cpp).
  EXPECT_EQ(count(ir, "= exp2 "), 1) << ir;
  EXPECT_EQ(count(ir, "= exp "), 0) << ir;
  EXPECT_EQ(count(ir, "= load "), 1) << ir;
  EXPECT_EQ(count(ir, "store "), 1) << ir;
  // The masked load's fill value is -inf of the pointee type.
  EXPECT_NE(ir.find("constant {value = -inf} : f32"), std::string::npos) << ir;
}

TEST(Trace, ArgumentsAreSpecialized) {
  auto k = tl::kernel("spec", [](tl::Ptr p, tl::Int n) {
    tl::store(p + tl::arange(0, 16) * n, tl::zeros({16}, tl::f32));
  });
  // 16-byte aligned pointer and a multiple of 16: both annotated.
  std::string ir = k.ir_for(false, g_aligned, 32);
  EXPECT_NE(ir.find("%arg0: ptr<f32> {div = 16}, %arg1: i32 {div = 16}"), std::string::npos) << ir;
  // Misaligned pointer, odd integer: nothing known.
  ir = k.ir_for(false, g_aligned + 1, 7);
  EXPECT_NE(ir.find("%arg0: ptr<f32>, %arg1: i32)"), std::string::npos) << ir;
  // The integer 1 is traced as a constant.
  ir = k.ir_for(false, g_aligned, 1);
  EXPECT_NE(ir.find("constant {value = 1} : i32"), std::string::npos) << ir;
}

TEST(Trace, PointerElementTypeComesFromTheArgument) {
  auto k = tl::kernel("elem", [](tl::Ptr p) { tl::store(p, tl::scalar(1, tl::f32)); });
  std::vector<tessel::half> h(8);
  std::vector<tessel::bfloat16> b(8);
  std::vector<int32_t> i(8);
  EXPECT_NE(k.ir_for(false, h.data()).find("ptr<f16>"), std::string::npos);
  EXPECT_NE(k.ir_for(false, b.data()).find("ptr<bf16>"), std::string::npos);
  EXPECT_NE(k.ir_for(false, i.data()).find("ptr<i32>"), std::string::npos);
  // The stored f32 scalar is converted to the pointee type.
  EXPECT_NE(k.ir_for(false, h.data()).find("cast"), std::string::npos);
}

TEST(Trace, PlainCppLoopsUnrollAndConstSpecializes) {
  auto k = tl::kernel("unroll", [](tl::Ptr p, tl::Const<int> N) {
    auto x = tl::zeros({16}, tl::f32);
    for (int i = 0; i < N; ++i)
      x = x + tl::exp(x);
    tl::store(p + tl::arange(0, 16), x);
  });
  EXPECT_EQ(count(k.ir_for(false, g_aligned, 3), "= exp "), 3);
  EXPECT_EQ(count(k.ir_for(false, g_aligned, 5), "= exp "), 5);
}

TEST(Trace, OpsCarryTheUsersSourceLocation) {
  int line = __LINE__ + 2;
  auto k = tl::kernel("located", [](tl::Ptr p) {
    auto x = tl::load(p + tl::arange(0, 16));
    tl::store(p + tl::arange(0, 16), x);
  });
  std::string ir = k.ir_for(false, g_aligned);
  std::string expect = std::string(__FILE__) + "\":" + std::to_string(line) + ":";
  EXPECT_NE(ir.find(expect), std::string::npos) << "expected " << expect << " in\n" << ir;
}

TEST(Trace, TypePromotionFollowsTheRules) {
  auto k = tl::kernel("promote", [](tl::Ptr p, tl::Ptr q) {
    auto offs = tl::arange(0, 16);
    auto h = tl::load(p + offs);       // f16
    auto b = tl::load(q + offs);       // bf16
    tl::store(p + offs, (h + b) * 2);  // f16 + bf16 -> f32, then stored as f16
    tl::store(q + offs, offs / 2 + b); // i32 + bf16 -> bf16
  });
  std::vector<tessel::half> h(16);
  std::vector<tessel::bfloat16> b(16);
  std::string ir = k.ir_for(false, h.data(), b.data());
  EXPECT_NE(ir.find("add %"), std::string::npos);
  EXPECT_NE(ir.find(": tensor<16xf32>"), std::string::npos) << ir;
  EXPECT_NE(ir.find("cast %"), std::string::npos);
  EXPECT_NE(ir.find("div %"), std::string::npos) << ir;
}

} // namespace
