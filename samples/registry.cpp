// The samples' entries in the kernel registry (see registry.h): pointers f32 and 16-byte aligned,
// integers divisible by 16, block sizes a typical launch would use. Registered explicitly (no
// static constructors), once.
#include "tessel/samples/registry.h"

#include "jit/compile_signature.h"
#include "tessel/codegen/transforms.h"
#include "tessel/ir/pass.h"
#include "tessel/samples/samples.h"

#include <chrono>
#include <mutex>

namespace tessel::samples {

namespace {

using P = SignatureParam;

// The names come from the kernels' own (tl::kernel("vector_add", "out, a, b, n, BLOCK", ...)).
P ptr() { return P::pointer(DType::f32, /*alignment=*/16); }
P int16() { return P::integer(/*divisibility=*/16); }
P one() { return P::integer_one(); }

} // namespace

void register_samples() {
  static std::once_flag once;
  std::call_once(once, [] {
    register_kernel({"vector_add", "out[i] = a[i] + b[i]", &vector_add,
                     Signature{{ptr(), ptr(), ptr(), int16(), P::constant(1024)}}, ""});
    register_kernel({"softmax", "row-wise softmax, one program per row", &softmax,
                     Signature{{ptr(), ptr(), int16(), int16(), P::constant(1024)}}, ""});
    register_kernel({"layer_norm", "layer norm forward, one program per row", &layer_norm,
                     Signature{{ptr(), ptr(), ptr(), ptr(), int16(), int16(), P::floating(),
                                P::constant(1024)}},
                     ""});
    // Row-major operands: the inner strides are 1 (compiled in), the outer ones divisible by 16.
    register_kernel({"matmul",
                     "C = A @ B, Triton-tutorial style: grouped tiles, masked edges, f32 acc",
                     &matmul,
                     Signature{{ptr(), ptr(), ptr(), int16(), int16(), int16(), int16(), one(),
                                int16(), one(), int16(), one(), P::constant(64), P::constant(64),
                                P::constant(16), P::constant(8)}},
                     ""});
    // f16 q, k, v, out at head_dim 64, not causal, 32 x 16 tiles (a GPU tile without spills).
    P f16 = P::pointer(DType::f16, /*alignment=*/16);
    register_kernel({"attention", "fused attention tutorial (samples/attention/)", &attention,
                     Signature{{f16, f16, f16, f16, int16(), int16(), int16(), P::floating(),
                                P::constant(0), P::constant(64), P::constant(32), P::constant(16)}},
                     ""});
  });
}

RegisteredKernel find_kernel(std::string_view name) {
  register_samples();
  return find_registered_kernel(name);
}

std::vector<lang::ParamBinding> bindings_for(const RegisteredKernel& k,
                                             const std::vector<std::string>& defines) {
  const Kernel& kernel = k.kernel();
  Signature sig = apply_defines(kernel, k.defaults, defines);
  return jit::resolve_signature(kernel.def(), sig).bindings;
}

std::unique_ptr<ir::Module> trace_kernel(const RegisteredKernel& k,
                                         const std::vector<std::string>& defines, bool optimize,
                                         TraceTimes* times) {
  std::vector<lang::ParamBinding> b = bindings_for(k, defines);
  auto t0 = std::chrono::steady_clock::now();
  std::unique_ptr<ir::Module> module = lang::trace(k.kernel().def(), b);
  auto t1 = std::chrono::steady_clock::now();
  if (optimize) {
    ir::PassManager pm(/*verify_each=*/false);
    codegen::add_default_pipeline(pm);
    pm.run(*module);
  }
  auto t2 = std::chrono::steady_clock::now();
  if (times) {
    times->trace_ms = std::chrono::duration<double, std::milli>(t1 - t0).count();
    times->passes_ms = std::chrono::duration<double, std::milli>(t2 - t1).count();
  }
  return module;
}

} // namespace tessel::samples
