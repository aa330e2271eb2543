// Private to codegen: what the CPU and the GPU backend do alike once their LLVM module is lowered —
// LLVM's default module pipeline for a target machine, and emitting the machine's assembly or
// object file into memory. What differs stays with each backend: the CPU's vectorizer settings and
// vector math library (codegen/cpu/llvm_pipeline.cpp), libdevice and NVVMReflect on the GPU
// (codegen/gpu/nvptx_pipeline.cpp; the reflect pass comes in through the target's callbacks).
#pragma once

#include <llvm/Passes/PassBuilder.h>
#include <llvm/Target/TargetMachine.h>

#include <string>

namespace llvm {
class Module;
class TargetLibraryInfoImpl;
} // namespace llvm

namespace tessel::codegen {

// Runs the new pass manager's default module pipeline at `opt_level` (0 = O0 .. 3 = O3) with
// `tm`'s TargetTransformInfo and, when given, `library_info` as the target library (e.g. with a
// vector math library added).
void run_default_pipeline(llvm::Module& module, llvm::TargetMachine& tm, int opt_level,
                          const llvm::PipelineTuningOptions& tuning,
                          const llvm::TargetLibraryInfoImpl* library_info = nullptr);

// `module` compiled by `tm` to an in-memory assembly or object file.
// Requires: `tm` can emit `type` (an internal invariant: both backends' targets can).
std::string emit_file(llvm::Module& module, llvm::TargetMachine& tm, llvm::CodeGenFileType type);

} // namespace tessel::codegen
