// One expected-failure test per diagnostic of block pointers (tessel/lang/block_ptr.h): each
// asserts the message names the user's file:line, the op and the rule. The location under test is
// captured on the call itself (`g_at = std::source_location::current()` as its last argument), so
// the expected line moves with the code.
#include "support/expect_error.h"
#include "tessel/tessel.h"

#include <source_location>
#include <string>
#include <vector>

namespace tl = tessel::lang;
using tessel::testing::expect_error;

namespace {

float g_f32[64];
int32_t g_i32[64];
std::source_location g_at;

std::string at() { return std::string(g_at.file_name()) + ":" + std::to_string(g_at.line()); }

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

TEST(BlockPtrErrors, OffsetsOfAnotherRank) {
  auto k = tl::kernel("bp_rank", [](tl::Ptr p, tl::Int n) {
    tl::make_block_ptr(p, {n, n}, {n, 1}, {0}, {16, 16}, {1, 0},
                       g_at = std::source_location::current());
  });
  expect_trace_error(k, {"make_block_ptr", "offsets has 1 entries but block_shape has 2"}, g_f32,
                     64);
}

TEST(BlockPtrErrors, RankAboveFive) {
  auto k = tl::kernel("bp_rank6", [](tl::Ptr p) {
    tl::make_block_ptr(p, {2, 2, 2, 2, 2, 4}, {64, 32, 16, 8, 4, 1}, {0, 0, 0, 0, 0, 0},
                       {1, 1, 1, 1, 1, 4}, {5, 4, 3, 2, 1, 0},
                       g_at = std::source_location::current());
  });
  expect_trace_error(k, {"make_block_ptr", "1 to 5", "TMA's limit"}, g_f32);
}

TEST(BlockPtrErrors, OrderNotAPermutation) {
  auto k = tl::kernel("bp_order", [](tl::Ptr p, tl::Int n) {
    tl::make_block_ptr(p, {n, n}, {n, 1}, {0, 0}, {16, 16}, {1, 1},
                       g_at = std::source_location::current());
  });
  expect_trace_error(k, {"make_block_ptr", "order [1, 1] is not a permutation"}, g_f32, 64);
}

TEST(BlockPtrErrors, BlockDimNotAPowerOfTwo) {
  auto k = tl::kernel("bp_pow2", [](tl::Ptr p, tl::Int n) {
    tl::make_block_ptr(p, {n, n}, {n, 1}, {0, 0}, {24, 16}, {1, 0},
                       g_at = std::source_location::current());
  });
  expect_trace_error(k, {"block_shape[0] = 24 is not a power of two"}, g_f32, 64);
}

// The TMA rule on the innermost box dimension, reported in memory order for a column-major view.
TEST(BlockPtrErrors, InnermostBoxUnder16BytesInMemoryOrder) {
  auto k = tl::kernel("bp_inner", [](tl::Ptr p, tl::Int n) {
    tl::make_block_ptr(p, {n, n}, {1, n}, {0, 0}, {2, 64}, {0, 1},
                       g_at = std::source_location::current());
  });
  expect_trace_error(k, {"make_block_ptr", "16", "memory order", "dimensions [1, 0]"}, g_f32, 64);
}

TEST(BlockPtrErrors, ContiguousDimensionNeedsUnitStride) {
  auto k = tl::kernel("bp_stride", [](tl::Ptr p, tl::Int n) {
    tl::make_block_ptr(p, {n, n}, {n, 2}, {0, 0}, {16, 16}, {1, 0},
                       g_at = std::source_location::current());
  });
  expect_trace_error(k, {"strides[1] must be the constant 1", "order[0] = 1", "got 2"}, g_f32, 64);
}

TEST(BlockPtrErrors, OuterStrideNotA16ByteMultiple) {
  auto k = tl::kernel("bp_outer", [](tl::Ptr p, tl::Int n) {
    tl::make_block_ptr(p, {n, n}, {6, 1}, {0, 0}, {16, 16}, {1, 0},
                       g_at = std::source_location::current());
  });
  expect_trace_error(k, {"make_block_ptr", "strides[0] = 6", "16"}, g_f32, 64);
}

TEST(BlockPtrErrors, BaseNotAPointer) {
  auto k = tl::kernel("bp_base", [](tl::Ptr p, tl::Int n) {
    tl::make_block_ptr(n, {n}, {1}, {0}, {16}, {0}, g_at = std::source_location::current());
  });
  expect_trace_error(k, {"make_block_ptr", "base must be a scalar pointer"}, g_f32, 64);
}

TEST(BlockPtrErrors, BoundaryCheckOutOfRange) {
  auto k = tl::kernel("bp_check", [](tl::Ptr p, tl::Int n) {
    auto b = tl::make_block_ptr(p, {n, n}, {n, 1}, {0, 0}, {16, 16}, {1, 0});
    tl::load(b, {0, 2}, tl::Padding::zero, g_at = std::source_location::current());
  });
  expect_trace_error(k, {"load", "boundary_check names dimension 2", "with 2 dimensions"}, g_f32,
                     64);
}

TEST(BlockPtrErrors, BoundaryCheckTwice) {
  auto k = tl::kernel("bp_check2", [](tl::Ptr p, tl::Int n) {
    auto b = tl::make_block_ptr(p, {n, n}, {n, 1}, {0, 0}, {16, 16}, {1, 0});
    tl::store(b, tl::zeros({16, 16}, tl::f32), {1, 1}, g_at = std::source_location::current());
  });
  expect_trace_error(k, {"store", "dimension 1 twice"}, g_f32, 64);
}

TEST(BlockPtrErrors, NanPaddingOfIntegers) {
  auto k = tl::kernel("bp_nan", [](tl::Ptr p, tl::Int n) {
    auto b = tl::make_block_ptr(p, {n}, {1}, {0}, {16}, {0});
    tl::load(b, {}, tl::Padding::nan, g_at = std::source_location::current());
  });
  expect_trace_error(k, {"load", "NaN padding needs a floating-point element type"}, g_i32, 64);
}

TEST(BlockPtrErrors, AdvanceOfAnotherRank) {
  auto k = tl::kernel("bp_advance", [](tl::Ptr p, tl::Int n) {
    auto b = tl::make_block_ptr(p, {n, n}, {n, 1}, {0, 0}, {16, 16}, {1, 0});
    tl::advance(b, {16}, g_at = std::source_location::current());
  });
  expect_trace_error(k, {"advance", "takes 2 offsets", "got 1"}, g_f32, 64);
}

TEST(BlockPtrErrors, StoreOfAnotherShape) {
  auto k = tl::kernel("bp_store", [](tl::Ptr p, tl::Int n) {
    auto b = tl::make_block_ptr(p, {n, n}, {n, 1}, {0, 0}, {16, 16}, {1, 0});
    tl::store(b, tl::zeros({16, 32}, tl::f32), {}, g_at = std::source_location::current());
  });
  expect_trace_error(k, {"store", "f32[16, 32]", "block_shape is [16, 16]"}, g_f32, 64);
}

// Assigning a block pointer of another block shape would change a carried value's type.
TEST(BlockPtrErrors, AssignmentOfAnotherBlockShape) {
  auto k = tl::kernel("bp_assign", [](tl::Ptr p, tl::Int n) {
    auto b = tl::make_block_ptr(p, {n, n}, {n, 1}, {0, 0}, {16, 16}, {1, 0});
    b = tl::make_block_ptr(p, {n, n}, {n, 1}, {0, 0}, {16, 32}, {1, 0},
                           g_at = std::source_location::current());
  });
  expect_trace_error(k, {"block pointer assignment", "keeps its block_shape", "[16, 32]"}, g_f32,
                     64);
}

} // namespace
