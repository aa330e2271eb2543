// Test helper: run a callable that must throw tessel::Error, and check that the message contains
// every expected fragment (file:line, op name, shapes...).
#pragma once

#include "tessel/error.h"

#include <gtest/gtest.h>

#include <initializer_list>
#include <string>

namespace tessel::testing {

template <class F>
void expect_error(F&& f, std::initializer_list<std::string> fragments) {
  try {
    f();
  } catch (const tessel::Error& e) {
    std::string msg = e.what();
    for (const std::string& frag : fragments)
      EXPECT_NE(msg.find(frag), std::string::npos)
          << "message lacks \"" << frag << "\"\nmessage: " << msg;
    return;
  }
  ADD_FAILURE() << "expected a tessel::Error";
}

} // namespace tessel::testing
