// The IR's layout attribute and codegen's LinearLayout describe one thing: converting either way
// and back is the identity, the text form parses back to the same attribute, and every layout the
// layout assignment makes fits its tensor for the verifier. Random blocked layouts, fixed seed.
#include "codegen/gpu/layout_assignment.h"
#include "tessel/ir/parser.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <random>

namespace tessel::codegen::gpu {
namespace {

// A random blocked layout of a random rank-1..3 shape for 1..8 warps.
LinearLayout random_blocked(std::mt19937& rng, std::vector<int32_t>& shape) {
  std::uniform_int_distribution<int> rank_d(1, 3), log_d(0, 6), warps_d(0, 3), vec_d(0, 3);
  shape.assign(rank_d(rng), 1);
  for (int32_t& s : shape)
    s = int32_t(1) << log_d(rng);
  std::vector<int> order(shape.size());
  for (size_t i = 0; i < order.size(); ++i)
    order[i] = static_cast<int>(order.size() - 1 - i);
  std::shuffle(order.begin(), order.end(), rng);
  return make_blocked(shape, 1 << warps_d(rng), 1 << vec_d(rng), order);
}

TEST(LayoutAttrConvert, LinearLayoutToAttrAndBackIsTheIdentity) {
  std::mt19937 rng(20261201);
  ir::Context ctx;
  for (int trial = 0; trial < 200; ++trial) {
    std::vector<int32_t> shape;
    LinearLayout l = random_blocked(rng, shape);
    const ir::LayoutAttr* attr = to_attr(ctx, l, ir::LayoutKind::Blocked);
    std::vector<int64_t> dims(shape.begin(), shape.end());
    EXPECT_EQ(attr->mismatch(dims), std::nullopt) << l.str();
    EXPECT_EQ(from_attr(*attr, dims), l) << l.str();
    EXPECT_EQ(to_attr(ctx, from_attr(*attr, dims), ir::LayoutKind::Blocked), attr);
  }
}

TEST(LayoutAttrConvert, PrintedLayoutsParseBackToTheSameAttr) {
  std::mt19937 rng(7);
  for (int trial = 0; trial < 50; ++trial) {
    auto module = ir::parse_module("kernel @k() {\n  return\n}\n");
    std::vector<int32_t> shape;
    LinearLayout l = random_blocked(rng, shape);
    std::vector<int64_t> dims(shape.begin(), shape.end());
    const ir::Type* t = module->ctx.tensor(dims, module->ctx.f32(),
                                           to_attr(module->ctx, l, ir::LayoutKind::Blocked));
    std::string text =
        "kernel @k() {\n  %0 = constant {value = 0.0} : f32\n  %1 = splat %0 : " + t->str() +
        "\n  return\n}\n";
    auto parsed = ir::parse_module(text);
    const ir::Type* back = (*std::next(parsed->functions[0]->body.ops().begin()))->result()->type();
    EXPECT_EQ(back->str(), t->str());
    EXPECT_EQ(from_attr(*back->layout(), dims), l) << text;
  }
}

} // namespace
} // namespace tessel::codegen::gpu
