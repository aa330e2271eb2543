// A kernel library for the AOT tests of tl::Float64 arguments: `tessel aot --load` makes a bundle
// of `axpby_f64` (tests/aot/CMakeLists.txt), whose arguments mix f64, f32, pointer and i32 kinds
// so that the packing of each is checked.
#include <tessel/tessel.h>

namespace tl = tessel::lang;
using P = tessel::SignatureParam;

namespace {

// out = a * x + b * y over n f64 elements (a: f64, b: f32 widened), 256 per program.
const tessel::Kernel axpby = tl::kernel(
    "axpby_f64", [](tl::Ptr out, tl::Float64 a, tl::Ptr x, tl::Float b, tl::Ptr y, tl::Int n) {
      auto offs = tl::program_id(0) * 256 + tl::arange(0, 256);
      auto mask = offs < n;
      auto bx = tl::Tensor(b).to(tl::f64);
      tl::store(out + offs, a * tl::load(x + offs, mask) + bx * tl::load(y + offs, mask), mask);
    });

} // namespace

TESSEL_REGISTER_KERNEL(axpby_f64, axpby,
                       tessel::Signature{{P::pointer(tessel::DType::f64, 16, "out"),
                                          P::floating("a"), P::pointer(tessel::DType::f64, 16, "x"),
                                          P::floating("b"), P::pointer(tessel::DType::f64, 16, "y"),
                                          P::integer(1, "n")}},
                       "out = a * x + b * y in f64 (a tl::Float64 argument)");
