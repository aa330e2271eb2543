// A user's kernel library as the Python tests build it (conftest.py: c++ -shared against the
// package's headers and libtessel) and load with tessel.load_library: one kernel registered
// under a name with TESSEL_REGISTER_KERNEL, launched from Python as tessel.kernel("py_axpb").
#include <tessel/tessel.h>

namespace tl = tessel::lang;
using P = tessel::SignatureParam;

namespace {

// out = alpha * x + beta over n elements, BLOCK per program.
const tessel::Kernel axpb = tl::kernel(
    "py_axpb", "out, x, alpha, beta, n, BLOCK",
    [](tl::Ptr out, tl::Ptr x, tl::Float alpha, tl::Float beta, tl::Int n, tl::Const<int> BLOCK) {
      auto offs = tl::program_id(0) * BLOCK + tl::arange(0, BLOCK);
      auto mask = offs < n;
      tl::store(out + offs, alpha * tl::load(x + offs, mask) + beta, mask);
    });

} // namespace

TESSEL_REGISTER_KERNEL(py_axpb, axpb,
                       tessel::Signature{{P::pointer(tessel::DType::f32, 16, "out"),
                                          P::pointer(tessel::DType::f32, 16, "x"),
                                          P::floating("alpha"), P::floating("beta"),
                                          P::integer(16, "n"), P::constant(256, "BLOCK")}},
                       "out = alpha * x + beta");
