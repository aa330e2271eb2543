// LLVM's optimisation pipeline and code emission for the CPU backend: the new pass manager's
// default O3 module pipeline (codegen/llvm_pipeline.h, shared with the GPU) with the host's
// TargetTransformInfo (vector widths, costs), the vectorizers on from O2 and glibc's libmvec as
// the vector math library, then object code into memory (what a disk cache stores and what ORC
// links).
#include "codegen/llvm_pipeline.h"
#include "codegen/cpu/engine.h"

#include <llvm/Analysis/TargetLibraryInfo.h>
#include <llvm/TargetParser/Triple.h>

namespace tessel::codegen::cpu::detail {

void optimize_module(llvm::Module& module, llvm::TargetMachine& tm, int opt_level) {
  llvm::PipelineTuningOptions tuning;
  tuning.LoopVectorization = opt_level >= 2;
  tuning.SLPVectorization = opt_level >= 2;
  llvm::TargetLibraryInfoImpl tlii(llvm::Triple(module.getTargetTriple()));
  // The _ZGVdN8v_* entry points need AVX2.
  if (host_target().has_avx2)
    tlii.addVectorizableFunctionsFromVecLib(llvm::TargetLibraryInfoImpl::LIBMVEC_X86,
                                            llvm::Triple(module.getTargetTriple()));
  run_default_pipeline(module, tm, opt_level, tuning, &tlii);
}

std::string emit_object(llvm::Module& module, llvm::TargetMachine& tm) {
  return emit_file(module, tm, llvm::CodeGenFileType::ObjectFile);
}

std::string emit_assembly(llvm::Module& module, llvm::TargetMachine& tm) {
  return emit_file(module, tm, llvm::CodeGenFileType::AssemblyFile);
}

} // namespace tessel::codegen::cpu::detail
