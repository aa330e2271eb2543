// The CPU backend: tile IR -> LLVM IR for the host -> LLVM O3 -> object code -> ORC JIT.
//
// The compiled kernel runs a range of program instances. Its ABI (what jit/ passes):
//   entry(args, grid, begin, end)
//     args   one pointer per kernel parameter, pointing at the argument's value (like CUDA's
//            kernelParams): a `void*` for a pointer parameter, an int32_t for i32, a float for f32...
//     grid   int32_t[3]: the number of programs along x, y, z (what num_programs returns)
//     begin, end   the linear program ids to run, [begin, end); id = x + gx * (y + gy * z)
// Tensors live in stack memory of the calling thread: call it on a thread with a large stack
// (jit/'s thread pool gives its workers 64 MiB) — see max_stack_bytes().
#pragma once

#include "tessel/ir/ir.h"

#include <cstdint>
#include <memory>
#include <string>

namespace tessel::codegen::cpu {

using KernelEntry = void (*)(void* const* args, const int32_t* grid, int64_t begin, int64_t end);

struct CompileOptions {
  int opt_level = 3;
  bool keep_text = false; // keep the optimised LLVM IR and the host assembly (compile API, tools)
};

// How long each stage took, in milliseconds.
struct StageTimes {
  double lower_ms = 0;    // tile IR -> LLVM IR
  double optimize_ms = 0; // LLVM O3
  double codegen_ms = 0;  // LLVM IR -> object code
  double link_ms = 0;     // object code -> ORC, symbol lookup
};

class CompiledKernel {
public:
  virtual ~CompiledKernel() = default;
  virtual KernelEntry entry() const = 0;
  virtual const std::string& name() const = 0;
  // The relocatable object code that was loaded (what a disk cache stores).
  virtual const std::string& object_code() const = 0;
  // Bytes of stack one program instance needs at most (its materialised tensors).
  virtual int64_t max_stack_bytes() const = 0;
  virtual const StageTimes& times() const = 0;
  // With CompileOptions::keep_text (else empty): the LLVM IR after O3 and its host assembly.
  virtual const std::string& llvm_ir() const = 0;
  virtual const std::string& assembly() const = 0;
};

// Compiles `function` (verified IR). Thread-safe: concurrent compiles of different kernels are
// allowed. Throws tessel::Error for IR the backend cannot lower, naming the op and its location.
std::unique_ptr<CompiledKernel> compile(const ir::Function& function,
                                        const CompileOptions& options = {});

// Loads object code produced by an earlier compile (the disk cache's warm start).
std::unique_ptr<CompiledKernel> load(const std::string& kernel_name, std::string object_code,
                                     int64_t max_stack_bytes);

// The host's LLVM target triple and CPU name, e.g. for `tessel version`.
std::string host_description();

} // namespace tessel::codegen::cpu
