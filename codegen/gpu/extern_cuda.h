// Private to codegen/gpu: the CUDA C++ functions a kernel calls (extern_call ops, from
// tl::extern_cuda). Each distinct function is reached through a wrapper with C linkage and the
// exact IR types, `extern "C" __device__ R tessel_extern_NAME_HASH(P0 a0, ...)
// { return NAME(a0, ...); }`, appended to the user's source: the kernel's PTX calls the wrapper
// (an .extern .func), so C++ name mangling, overloads, default arguments and implicit
// conversions stay NVRTC's business, and a call with the wrong number of arguments is NVRTC's
// "too few/many arguments" error, which is reported as such.
//
// NVRTC compiles wrapper and source to relocatable PTX (-rdc) for the kernel's target. The cubin
// is nvJitLink's link of the kernel's PTX with it; the PTX tessel reports (and the simulator
// runs) is one module: the kernel's, with each .extern declaration replaced by the definitions.
#pragma once

#include "tessel/codegen/target.h"
#include "tessel/error.h"
#include "tessel/ir/ir.h"

#include <string>
#include <vector>

namespace tessel::codegen::gpu::detail {

struct ExternFunctionUse {
  std::string symbol; // the wrapper's name
  std::string source; // the user's CUDA C++
  std::string name;   // the user's function
  const ir::Type* result = nullptr;
  std::vector<const ir::Type*> params;
  SourceLoc loc; // the first call
};

// The wrapper's symbol for an extern_call op (a function of its source, name and types).
std::string extern_symbol(const ir::Op& op);
// The distinct extern functions `function` calls, in the order of their first call.
std::vector<ExternFunctionUse> extern_functions(const ir::Function& function);
// The CUDA C++ NVRTC compiles for `use`: the source, then the wrapper.
std::string wrapper_source(const ExternFunctionUse& use);
// NVRTC's PTX for `use` on `target`; throws tessel::Error at the call's location (NVRTC missing,
// the source does not compile — with NVRTC's log — or the call's arity is wrong).
std::string compile_extern_ptx(const ExternFunctionUse& use, const Target& target,
                               const std::string& kernel);
// The kernel's PTX with its .extern .func declarations of `symbols` replaced by the bodies of
// `extern_ptx` (their headers dropped): one module for the simulator and for reports.
std::string merge_extern_ptx(const std::string& kernel_ptx, const std::vector<std::string>& symbols,
                             const std::vector<std::string>& extern_ptx);

} // namespace tessel::codegen::gpu::detail
