// A kernel library whose kernel takes a name the samples already use: loading it is an error
// that names both registrations.
#include <tessel/tessel.h>

namespace tl = tessel::lang;
using P = tessel::SignatureParam;

TESSEL_REGISTER_KERNEL(vector_add,
                       tl::kernel("vector_add_again",
                                  [](tl::Ptr out, tl::Int n) {
                                    auto offs = tl::arange(0, 16);
                                    tl::store(out + offs, tl::load(out + offs, offs < n), offs < n);
                                  }),
                       tessel::Signature{
                           {P::pointer(tessel::DType::f32, 16, "out"), P::integer(16, "n")}});
