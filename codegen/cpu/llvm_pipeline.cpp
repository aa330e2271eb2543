// LLVM's optimisation pipeline and code emission for the CPU backend: the new pass manager's
// default O3 module pipeline with the host's TargetTransformInfo (vector widths, costs) and
// glibc's libmvec as the vector math library, then object code into memory (what a disk cache
// stores and what ORC links).
#include "codegen/cpu/engine.h"

#include "tessel/error.h"

#include <llvm/Analysis/TargetLibraryInfo.h>
#include <llvm/IR/LegacyPassManager.h>
#include <llvm/Passes/PassBuilder.h>
#include <llvm/Support/raw_ostream.h>
#include <llvm/TargetParser/Triple.h>

namespace tessel::codegen::cpu::detail {

void optimize_module(llvm::Module& module, llvm::TargetMachine& tm, int opt_level) {
  llvm::LoopAnalysisManager lam;
  llvm::FunctionAnalysisManager fam;
  llvm::CGSCCAnalysisManager cgam;
  llvm::ModuleAnalysisManager mam;
  llvm::PipelineTuningOptions tuning;
  tuning.LoopVectorization = opt_level >= 2;
  tuning.SLPVectorization = opt_level >= 2;
  llvm::PassBuilder pb(&tm, tuning);

  llvm::TargetLibraryInfoImpl tlii(llvm::Triple(module.getTargetTriple()));
  // The _ZGVdN8v_* entry points need AVX2.
  if (host_target().has_avx2)
    tlii.addVectorizableFunctionsFromVecLib(llvm::TargetLibraryInfoImpl::LIBMVEC_X86,
                                            llvm::Triple(module.getTargetTriple()));
  fam.registerPass([&] { return llvm::TargetLibraryAnalysis(tlii); });

  pb.registerModuleAnalyses(mam);
  pb.registerCGSCCAnalyses(cgam);
  pb.registerFunctionAnalyses(fam);
  pb.registerLoopAnalyses(lam);
  pb.crossRegisterProxies(lam, fam, cgam, mam);
  llvm::OptimizationLevel level = opt_level <= 0   ? llvm::OptimizationLevel::O0
                                  : opt_level == 1 ? llvm::OptimizationLevel::O1
                                  : opt_level == 2 ? llvm::OptimizationLevel::O2
                                                   : llvm::OptimizationLevel::O3;
  llvm::ModulePassManager mpm = opt_level <= 0 ? pb.buildO0DefaultPipeline(level)
                                               : pb.buildPerModuleDefaultPipeline(level);
  mpm.run(module, mam);
}

static std::string emit(llvm::Module& module, llvm::TargetMachine& tm, llvm::CodeGenFileType type) {
  llvm::SmallVector<char, 0> buffer;
  llvm::raw_svector_ostream os(buffer);
  llvm::legacy::PassManager pm;
  bool failed = tm.addPassesToEmitFile(pm, os, nullptr, type);
  TESSEL_ASSERT(!failed, "the host target cannot emit this file type");
  pm.run(module);
  return std::string(buffer.begin(), buffer.end());
}

std::string emit_object(llvm::Module& module, llvm::TargetMachine& tm) {
  return emit(module, tm, llvm::CodeGenFileType::ObjectFile);
}

std::string emit_assembly(llvm::Module& module, llvm::TargetMachine& tm) {
  return emit(module, tm, llvm::CodeGenFileType::AssemblyFile);
}

} // namespace tessel::codegen::cpu::detail
