// One expected-failure test per diagnostic of tensor descriptors (tessel/lang/tensor_descriptor.h):
// each asserts the message names the user's file:line, the op and the rule. The location under
// test is captured on the call itself (`g_at = std::source_location::current()` as its last
// argument), so the expected line moves with the code.
#include "support/expect_error.h"
#include "tessel/ir/builder.h"
#include "tessel/ir/parser.h"
#include "tessel/ir/verifier.h"
#include "tessel/tessel.h"

#include <source_location>
#include <string>
#include <vector>

namespace tl = tessel::lang;
using tessel::testing::expect_error;

namespace {

float g_f32[64];
int8_t g_i8[64];
bool g_bool[64];
std::source_location g_at;

std::string at() { return std::string(g_at.file_name()) + ":" + std::to_string(g_at.line()); }

// Traces `k` with f32 pointers and expects the error to name g_at and every fragment.
template <class... A>
void expect_trace_error(const tessel::Kernel& k, std::vector<std::string> fragments,
                        const A&... args) {
  expect_error([&] { k.ir_for(false, args...); },
               [&] {
                 std::vector<std::string> all{at()};
                 all.insert(all.end(), fragments.begin(), fragments.end());
                 return all;
               });
}

TEST(TensorDescriptorErrors, RankAboveFive) {
  auto k = tl::kernel("desc_rank", [](tl::Ptr p) {
    tl::make_tensor_descriptor(p, {2, 2, 2, 2, 2, 4}, {64, 32, 16, 8, 4, 1}, {1, 1, 1, 1, 1, 4}, {},
                               g_at = std::source_location::current());
  });
  expect_trace_error(k, {"make_tensor_descriptor", "1 to 5 dimensions", "got 6"}, g_f32);
}

TEST(TensorDescriptorErrors, BoxDimensionOver256) {
  auto k = tl::kernel("desc_box", [](tl::Ptr p, tl::Int n) {
    tl::make_tensor_descriptor(p, {n, n}, {n, 1}, {512, 16}, {},
                               g_at = std::source_location::current());
  });
  expect_trace_error(k, {"block_shape[0] = 512 is outside 1..256", "several boxes"}, g_f32, 64);
}

TEST(TensorDescriptorErrors, BoxDimensionNotAPowerOfTwo) {
  auto k = tl::kernel("desc_pow2", [](tl::Ptr p, tl::Int n) {
    tl::make_tensor_descriptor(p, {n, n}, {n, 1}, {24, 16}, {},
                               g_at = std::source_location::current());
  });
  expect_trace_error(k, {"block_shape[0] = 24 is not a power of two"}, g_f32, 64);
}

TEST(TensorDescriptorErrors, InnerBoxNotAMultipleOf16Bytes) {
  auto k = tl::kernel("desc_inner", [](tl::Ptr p, tl::Int n) {
    tl::make_tensor_descriptor(p, {n, n}, {n, 1}, {16, 2}, {},
                               g_at = std::source_location::current());
  });
  expect_trace_error(
      k, {"block_shape[1] = 2 elements of f32 is 8 bytes", "multiple of 16 bytes", "(4 elements)"},
      g_f32, 64);
}

TEST(TensorDescriptorErrors, BooleanElements) {
  auto k = tl::kernel("desc_bool", [](tl::Ptr p, tl::Int n) {
    tl::make_tensor_descriptor(p, {n}, {1}, {16}, {}, g_at = std::source_location::current());
  });
  expect_trace_error(k, {"not i1", "store the mask as i8"}, g_bool, 64);
}

TEST(TensorDescriptorErrors, SwizzleSpanTooNarrow) {
  auto k = tl::kernel("desc_swizzle", [](tl::Ptr p, tl::Int n) {
    tl::make_tensor_descriptor(p, {n, n}, {n, 1}, {8, 32}, {.swizzle = tl::Swizzle::b64},
                               g_at = std::source_location::current());
  });
  expect_trace_error(k, {"128 bytes (32 x f32)", "more than the 64-byte swizzle span"}, g_f32, 64);
}

TEST(TensorDescriptorErrors, InnermostStrideNotOne) {
  auto k = tl::kernel("desc_inner_stride", [](tl::Ptr p, tl::Int n) {
    tl::make_tensor_descriptor(p, {n, n}, {n, 2}, {8, 8}, {},
                               g_at = std::source_location::current());
  });
  expect_trace_error(k, {"strides[1] = 2", "contiguous (stride 1)"}, g_f32, 64);
}

TEST(TensorDescriptorErrors, InnermostStrideAtRunTime) {
  auto k = tl::kernel("desc_runtime_stride", [](tl::Ptr p, tl::Int n) {
    tl::make_tensor_descriptor(p, {n, n}, {n, n}, {8, 8}, {},
                               g_at = std::source_location::current());
  });
  expect_trace_error(k, {"strides[1] must be the constant 1", "run-time value"}, g_f32, 64);
}

TEST(TensorDescriptorErrors, OuterStrideNotAMultipleOf16Bytes) {
  auto k = tl::kernel("desc_outer_stride", [](tl::Ptr p, tl::Int n) {
    tl::make_tensor_descriptor(p, {n, 45}, {45, 1}, {8, 8}, {},
                               g_at = std::source_location::current());
  });
  expect_trace_error(k, {"strides[0] = 45 elements of f32 is 180 bytes", "pad the rows"}, g_f32,
                     64);
}

TEST(TensorDescriptorErrors, CountsDiffer) {
  auto k = tl::kernel("desc_counts", [](tl::Ptr p, tl::Int n) {
    tl::make_tensor_descriptor(p, {n, n}, {1}, {8, 8}, {}, g_at = std::source_location::current());
  });
  expect_trace_error(k, {"shape has 2 entries, strides 1 and block_shape 2"}, g_f32, 64);
}

TEST(TensorDescriptorErrors, ShapeBelowOne) {
  auto k = tl::kernel("desc_shape", [](tl::Ptr p) {
    tl::make_tensor_descriptor(p, {0, 16}, {16, 1}, {8, 8}, {},
                               g_at = std::source_location::current());
  });
  expect_trace_error(k, {"shape[0] = 0 must be at least 1"}, g_f32);
}

TEST(TensorDescriptorErrors, ShapeNotAnIntegerScalar) {
  auto k = tl::kernel("desc_shape_type", [](tl::Ptr p, tl::Float x) {
    tl::make_tensor_descriptor(p, {x}, {1}, {16}, {}, g_at = std::source_location::current());
  });
  expect_trace_error(k, {"shape[0] must be an integer scalar", "f32"}, g_f32, 1.0f);
}

TEST(TensorDescriptorErrors, BaseNotAScalarPointer) {
  auto k = tl::kernel("desc_base", [](tl::Ptr p) {
    tl::make_tensor_descriptor(p + tl::arange(0, 16), {16}, {1}, {16}, {},
                               g_at = std::source_location::current());
  });
  expect_trace_error(k, {"base must be a scalar pointer"}, g_f32);
}

TEST(TensorDescriptorErrors, NanPaddingOfIntegers) {
  auto k = tl::kernel("desc_padding", [](tl::Ptr p, tl::Int n) {
    tl::make_tensor_descriptor(p, {n}, {1}, {16}, {.padding = tl::Padding::nan},
                               g_at = std::source_location::current());
  });
  expect_trace_error(k, {"NaN padding needs a floating-point element type, got i8"}, g_i8, 64);
}

TEST(TensorDescriptorErrors, OffsetCountDiffers) {
  auto k = tl::kernel("desc_offsets", [](tl::Ptr p, tl::Int n) {
    auto d = tl::make_tensor_descriptor(p, {n, n}, {n, 1}, {8, 8});
    d.load({0}, g_at = std::source_location::current());
  });
  expect_trace_error(k, {"load", "takes 2 offsets", "got 1"}, g_f32, 64);
}

TEST(TensorDescriptorErrors, OffsetBeyondI32) {
  auto k = tl::kernel("desc_offset_range", [](tl::Ptr p, tl::Int n) {
    auto d = tl::make_tensor_descriptor(p, {n}, {1}, {16});
    d.load({int64_t(1) << 40}, g_at = std::source_location::current());
  });
  expect_trace_error(k, {"offsets[0] = 1099511627776 does not fit in i32"}, g_f32, 64);
}

TEST(TensorDescriptorErrors, StoreTileOfAnotherShape) {
  auto k = tl::kernel("desc_store_shape", [](tl::Ptr p, tl::Int n) {
    auto d = tl::make_tensor_descriptor(p, {n, n}, {n, 1}, {8, 8});
    d.store({0, 0}, tl::zeros({8, 16}, tl::f32), g_at = std::source_location::current());
  });
  expect_trace_error(k, {"store", "the tile is f32[8, 16]", "box is [8, 8]"}, g_f32, 64);
}

TEST(TensorDescriptorErrors, OffsetNotAnIntegerScalar) {
  auto k = tl::kernel("desc_offset_type", [](tl::Ptr p, tl::Int n) {
    auto d = tl::make_tensor_descriptor(p, {n}, {1}, {16});
    d.load({tl::arange(0, 16)}, g_at = std::source_location::current());
  });
  expect_trace_error(k, {"load", "offsets[0] must be an integer scalar, got i32[16]"}, g_f32, 64);
}

TEST(TensorDescriptorErrors, StoreOfPointers) {
  auto k = tl::kernel("desc_store_ptrs", [](tl::Ptr p, tl::Int n) {
    auto d = tl::make_tensor_descriptor(p, {n}, {1}, {16});
    d.store({0}, p + tl::arange(0, 16), g_at = std::source_location::current());
  });
  expect_trace_error(k, {"store", "storing pointers is not supported"}, g_f32, 64);
}

// The verifier's own rules, on IR text a pass or a user of tessel-opt could write.
void expect_ir_error(const std::string& text, const std::string& fragment) {
  expect_error(
      [&] {
        auto m = tessel::ir::parse_module(text);
        tessel::ir::verify_or_throw(*m, "test");
      },
      {fragment});
}

TEST(TensorDescriptorIrErrors, ResultNotTheBox) {
  expect_ir_error(R"(kernel @k(%arg0: ptr<f32>, %arg1: i32) {
  %0 = constant {value = 0} : i32
  %1 = constant {value = 1} : i32
  %2 = desc_load %arg0, %arg1, %1, %0 {block = [32]} : tensor<16xf32>
  return
})",
                  "result must be the box 32 of f32");
}

TEST(TensorDescriptorIrErrors, OperandCount) {
  expect_ir_error(R"(kernel @k(%arg0: ptr<f32>, %arg1: i32) {
  %0 = desc_load %arg0, %arg1, %arg1 {block = [32]} : tensor<32xf32>
  return
})",
                  "takes a base pointer, 1 shape, 1 stride and 1 offset scalars, found 3 operands");
}

TEST(TensorDescriptorIrErrors, BaseNotAPointer) {
  expect_ir_error(R"(kernel @k(%arg0: i32) {
  %0 = constant {value = 1} : i32
  %1 = desc_load %arg0, %arg0, %0, %arg0 {block = [32]} : tensor<32xf32>
  return
})",
                  "base must be a scalar pointer, found i32");
}

TEST(TensorDescriptorIrErrors, StoredTileNotTheBox) {
  expect_ir_error(R"(kernel @k(%arg0: ptr<f32>, %arg1: i32, %arg2: tensor<16xf32>) {
  %0 = constant {value = 1} : i32
  desc_store %arg0, %arg1, %0, %arg1, %arg2 {block = [32]}
  return
})",
                  "the tile must be the box 32 of f32, found tensor<16xf32>");
}

TEST(TensorDescriptorIrErrors, RunTimeInnermostStride) {
  expect_ir_error(R"(kernel @k(%arg0: ptr<f32>, %arg1: i32) {
  %0 = desc_load %arg0, %arg1, %arg1, %arg1 {block = [32]} : tensor<32xf32>
  return
})",
                  "strides[0] must be the constant 1");
}

TEST(TensorDescriptorIrErrors, OffsetsNotI32) {
  expect_ir_error(R"(kernel @k(%arg0: ptr<f32>, %arg1: i64) {
  %0 = constant {value = 1} : i64
  %1 = desc_load %arg0, %arg1, %0, %arg1 {block = [32]} : tensor<32xf32>
  return
})",
                  "offsets[0] must be an i32 scalar");
}

} // namespace
