// The bad-input campaign over the in-process API (docs/reliability.md, "Bad input"): one test per
// row of bad_input_launch.cpp and bad_input_ops.cpp, each asserting a tessel::Error whose message
// holds the row's fragments. Anything else — another exception, no exception, a crash, a
// sanitizer report — fails the row. BadInputCounts prints the rows per API for the docs.
#include "bad_input.h"

#include "support/expect_error.h"

#include <gtest/gtest.h>

#include <cstdio>
#include <map>
#include <string>

namespace tessel::testing {
namespace {

class BadInputTest : public ::testing::TestWithParam<BadInput> {};

TEST_P(BadInputTest, ThrowsAnErrorNamingTheArgument) {
  const BadInput& row = GetParam();
  SCOPED_TRACE(row.api + " " + row.name);
  try {
    expect_error(row.call, row.fragments);
  } catch (const std::exception& e) {
    ADD_FAILURE() << "threw a " << typeid(e).name() << " that is not a tessel::Error: " << e.what();
  }
}

std::string row_name(const ::testing::TestParamInfo<BadInput>& info) {
  std::string api;
  for (char c : info.param.api)
    if (std::isalnum(static_cast<unsigned char>(c)))
      api += c;
  return api + "_" + info.param.name;
}

INSTANTIATE_TEST_SUITE_P(Launch, BadInputTest, ::testing::ValuesIn(launch_rows()), row_name);
INSTANTIATE_TEST_SUITE_P(Ops, BadInputTest, ::testing::ValuesIn(ops_rows()), row_name);

TEST(BadInputCounts, RowsPerApi) {
  std::map<std::string, int> counts;
  for (auto rows : {launch_rows(), ops_rows()})
    for (const BadInput& r : rows)
      ++counts[r.api];
  int total = 0;
  for (const auto& [api, n] : counts) {
    std::printf("%-40s %d\n", api.c_str(), n);
    total += n;
  }
  std::printf("%-40s %d\n", "total", total);
  EXPECT_GT(total, 0);
}

} // namespace
} // namespace tessel::testing
