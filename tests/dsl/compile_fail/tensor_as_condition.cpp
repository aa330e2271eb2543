// A C++ `if` on a tile handle: its value exists only on the device. One static_assert that says
// to use tl::if_ (or where / if constexpr), instead of "could not convert to bool".
// EXPECT: a tile handle cannot be a C\+\+ condition .* Use tl::if_
#include "tessel/tessel.h"

namespace tl = tessel::lang;

void define() {
  auto k = tl::kernel("cpp_if", [](tl::Ptr p, tl::Int n) {
    if (n > 0)
      tl::store(p, tl::scalar(1, tl::f32));
  });
  (void)k;
}
