// Test helper: run a callable that must throw tessel::Error, and check that the message contains
// every expected fragment (file:line, op name, shapes...).
#pragma once

#include "tessel/error.h"

#include <gtest/gtest.h>

#include <initializer_list>
#include <string>
#include <type_traits>
#include <vector>

namespace tessel::testing {

// `fragments` may also be a callable returning them, evaluated after `f` ran (for expected text
// that `f` itself determines, such as the line a kernel records).
template <class F, class Fragments = std::initializer_list<std::string>>
void expect_error(F&& f, Fragments&& fragments) {
  try {
    f();
  } catch (const tessel::Error& e) {
    std::string msg = e.what();
    std::vector<std::string> expected;
    if constexpr (std::is_invocable_v<Fragments>)
      expected = fragments();
    else
      expected.assign(fragments.begin(), fragments.end());
    for (const std::string& frag : expected)
      EXPECT_NE(msg.find(frag), std::string::npos)
          << "message lacks \"" << frag << "\"\nmessage: " << msg;
    return;
  }
  ADD_FAILURE() << "expected a tessel::Error";
}

} // namespace tessel::testing
