// A kernel parameter of a plain C++ type must fail with one static_assert that names the handle to
// use instead, not pages of template errors. Compiled (and expected to fail) by
// expect_compile_error.cmake.
// EXPECT: a kernel parameter cannot be a plain C\+\+ integer; use tl::Int
#include "tessel/tessel.h"

namespace tl = tessel::lang;

void define() {
  auto k = tl::kernel("int_param", [](tl::Ptr p, int n) { tl::store(p, tl::scalar(n, tl::f32)); });
  (void)k;
}
