// clone_function: the copy prints as the original, byte for byte (with locations), for the IR of
// every round-trip input of tests/ir (all ops, nested regions, layouts of every kind, shared
// memory ops, divisibility, shared(N)) and the samples planned for the GPU; and the copy owns
// everything it refers to (types, layouts, location file names live in its own context).
#include "tessel/ir/clone.h"
#include "tessel/ir/parser.h"
#include "tessel/ir/printer.h"

#include <gtest/gtest.h>

#include <fstream>
#include <sstream>

namespace tessel::ir {
namespace {

std::string read(const std::string& path) {
  std::ifstream in(path);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

void expect_clone_prints_the_same(const Module& m) {
  for (const auto& f : m.functions) {
    auto copy = clone_function(*f);
    ASSERT_EQ(copy->functions.size(), 1u);
    EXPECT_EQ(print(*copy->functions.front()), print(*f)) << f->name;
    EXPECT_EQ(copy->functions.front()->arg_divisibility, f->arg_divisibility);
    EXPECT_EQ(copy->functions.front()->shared_bytes, f->shared_bytes);
  }
}

class CloneOf : public ::testing::TestWithParam<const char*> {};

TEST_P(CloneOf, PrintsAsTheOriginal) {
  const std::string text = read(std::string(TESSEL_SOURCE_DIR) + "/tests/" + GetParam());
  ASSERT_FALSE(text.empty()) << GetParam();
  auto m = parse_module(text, GetParam());
  expect_clone_prints_the_same(*m);
}

INSTANTIATE_TEST_SUITE_P(
    RoundTripInputs, CloneOf,
    ::testing::Values("ir/roundtrip.tir", "ir/layout_roundtrip.tir", "ir/shared_roundtrip.tir",
                      "gpu/allocate_shared_softmax.tir", "gpu/pipeline_roundtrip.tir",
                      "gpu/prepare_dot_operands_f16.tir", "gpu/assign_layouts_loop.tir"));

TEST(Clone, OutlivesTheOriginal) {
  const char* text = "kernel @k(%arg0: ptr<f32> {div = 16}) {\n"
                     "  %0 = arange {start = 0, end = 64} : tensor<64xi32> loc(\"k.cpp\":3:7)\n"
                     "  return\n"
                     "}\n";
  auto original = parse_module(text);
  const std::string expected = print(*original);
  auto copy = clone_function(*original->functions.front());
  original.reset(); // its context (types, interned file names) is gone
  EXPECT_EQ(print(*copy), expected);
  EXPECT_STREQ(copy->functions.front()->body.ops().front()->loc.file, "k.cpp");
}

TEST(Clone, IsIndependent) {
  auto original =
      parse_module("kernel @k(%arg0: i32) {\n  %0 = add %arg0, %arg0 : i32\n  return\n}\n");
  auto copy = clone_function(*original->functions.front());
  Op& add = *copy->functions.front()->body.ops().front();
  add.set_operand(1, copy->functions.front()->body.arg(0));
  copy->functions.front()->name = "changed";
  EXPECT_EQ(original->functions.front()->name, "k");
  EXPECT_NE(&add, original->functions.front()->body.ops().front().get());
  EXPECT_EQ(original->functions.front()->body.ops().front()->operand(0),
            original->functions.front()->body.arg(0));
}

} // namespace
} // namespace tessel::ir
