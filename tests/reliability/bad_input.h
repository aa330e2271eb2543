// The bad-input campaign's table (docs/reliability.md, "Bad input"): each row is one mistake a
// user can make through the public API, and the fragments its tessel::Error message must hold —
// always the argument's name, and where known the op and what was expected. The rows are grouped
// by API (`api`), which is what the counts in the docs are per.
#pragma once

#include <functional>
#include <ostream>
#include <string>
#include <vector>

namespace tessel::testing {

struct BadInput {
  std::string api;  // "Kernel::launch", "ops::softmax", ...
  std::string name; // the gtest name suffix: [A-Za-z0-9_]
  std::function<void()> call;
  std::vector<std::string> fragments;
};

// gtest prints a failing row by its API and name (not its bytes).
inline void PrintTo(const BadInput& row, std::ostream* os) { *os << row.api << " " << row.name; }

// The rows of each group (bad_input_launch.cpp, bad_input_ops.cpp).
std::vector<BadInput> launch_rows();
std::vector<BadInput> ops_rows();

} // namespace tessel::testing
