// The registry of named sample kernels with default specializations: what `tessel compile
// KERNEL` compiles, and what the stdlib and benchmarks use to trace a kernel without launching it.
//
//   const RegisteredKernel& k = find_kernel("softmax");
//   auto module = trace_kernel(k, {"BLOCK=2048", "DTYPE=f16"});
//
// A define NAME=VALUE overrides one parameter's specialization: a Const parameter's value
// (BLOCK=2048), a pointer's element type (in=f16; DTYPE=f16 sets every pointer whose type is not
// fixed), an integer's known divisibility (n=16: divisible by 16, n=1: equals 1, n=any: nothing
// known), a pointer's alignment (in.align=16 or in.align=any).
#pragma once

#include "tessel/ir/ir.h"
#include "tessel/jit/kernel.h"

#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace tessel::samples {

struct RegisteredParam {
  const char* name;
  lang::ParamBinding binding; // the default specialization
};

struct RegisteredKernel {
  const char* name;
  const char* summary;
  const Kernel& (*kernel)();
  std::vector<RegisteredParam> params; // in the kernel's parameter order
};

const std::vector<RegisteredKernel>& registry();
// Throws tessel::Error listing the registered names when `name` is unknown.
const RegisteredKernel& find_kernel(std::string_view name);
// The default bindings with `defines` (NAME=VALUE) applied; unknown names or bad values throw
// tessel::Error naming the parameters.
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
