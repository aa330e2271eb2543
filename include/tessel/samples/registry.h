// The sample kernels in the kernel registry (tessel/jit/registry.h), with their default
// specializations: what `tessel compile KERNEL` compiles, and what tests and benchmarks use to
// trace a sample without launching it.
//
//   RegisteredKernel k = find_kernel("softmax");
//   auto module = trace_kernel(k, {"BLOCK=2048", "DTYPE=f16"});
//
// Defines are those of tessel::apply_defines (tessel/jit/compile.h): BLOCK=2048, in=f16,
// DTYPE=f16, n=16 / n=1 / n=any, in.align=16 / in.align=any.
#pragma once

#include "tessel/ir/ir.h"
#include "tessel/jit/registry.h"
#include "tessel/lang/trace.h"

#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace tessel::samples {

using RegisteredKernel = tessel::RegisteredKernel;

// Adds vector_add, softmax, layer_norm and matmul to the registry; later calls do nothing.
void register_samples();
// register_samples(), then the registry's kernel of that name (throws tessel::Error listing the
// registered names when it is unknown).
RegisteredKernel find_kernel(std::string_view name);
// The default signature with `defines` applied, as trace bindings; unknown names or bad values
// throw tessel::Error naming the parameters.
std::vector<lang::ParamBinding> bindings_for(const RegisteredKernel& k,
                                             const std::vector<std::string>& defines);

struct TraceTimes {
  double trace_ms = 0;
  double passes_ms = 0;
};
// Traces the kernel for the bindings and, with `optimize`, runs the default pipeline.
std::unique_ptr<ir::Module> trace_kernel(const RegisteredKernel& k,
                                         const std::vector<std::string>& defines, bool optimize,
                                         TraceTimes* times = nullptr);

} // namespace tessel::samples
