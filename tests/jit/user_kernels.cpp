// A user's kernel library, as `tessel compile --load` and tessel::load_kernel_library see one: a
// shared library linked to libtessel that registers two kernels with TESSEL_REGISTER_KERNEL.
#include <tessel/tessel.h>

namespace tl = tessel::lang;
using P = tessel::SignatureParam;

namespace {

// out = alpha * x + y over n elements, BLOCK per program.
const tessel::Kernel axpy =
    tl::kernel("mykernel", [](tl::Ptr out, tl::Ptr x, tl::Ptr y, tl::Float alpha, tl::Int n,
                              tl::Const<int> BLOCK) {
      auto offs = tl::program_id(0) * BLOCK + tl::arange(0, BLOCK);
      auto mask = offs < n;
      tl::store(out + offs, alpha * tl::load(x + offs, mask) + tl::load(y + offs, mask), mask);
    });

// A kernel made by a function, registered under another name than its own.
tessel::Kernel make_negate() {
  return tl::kernel("negate_kernel", [](tl::PtrOf<float> out, tl::PtrOf<float> in, tl::Int n) {
    auto offs = tl::program_id(0) * 256 + tl::arange(0, 256);
    auto mask = offs < n;
    tl::store(out + offs, -tl::load(in + offs, mask), mask);
  });
}

} // namespace

TESSEL_REGISTER_KERNEL(mykernel, axpy,
                       tessel::Signature{{P::pointer(tessel::DType::f32, 16, "out"),
                                          P::pointer(tessel::DType::f32, 16, "x"),
                                          P::pointer(tessel::DType::f32, 16, "y"),
                                          P::floating("alpha"), P::integer(16, "n"),
                                          P::constant(1024, "BLOCK")}},
                       "out = alpha * x + y");

TESSEL_REGISTER_KERNEL(negate, make_negate(),
                       tessel::Signature{{P::pointer(tessel::DType::f32, 16, "out"),
                                          P::pointer(tessel::DType::f32, 16, "in"),
                                          P::integer(16, "n")}});
