// A C++ pointer as a kernel parameter: one static_assert naming tl::Ptr / tl::PtrOf<T>.
// EXPECT: a kernel parameter cannot be a C\+\+ pointer; use tl::Ptr
#include "tessel/tessel.h"

namespace tl = tessel::lang;

void define() {
  auto k = tl::kernel("ptr_param", [](float* p) { (void)p; });
  (void)k;
}
