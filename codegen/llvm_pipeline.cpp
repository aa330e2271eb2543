// The LLVM pipeline and code emission shared by the CPU and the GPU backend (llvm_pipeline.h).
#include "codegen/llvm_pipeline.h"

#include "tessel/error.h"

#include <llvm/Analysis/TargetLibraryInfo.h>
#include <llvm/IR/LegacyPassManager.h>
#include <llvm/Support/raw_ostream.h>

namespace tessel::codegen {

namespace {

llvm::OptimizationLevel level_of(int opt_level) {
  if (opt_level <= 0)
    return llvm::OptimizationLevel::O0;
  if (opt_level == 1)
    return llvm::OptimizationLevel::O1;
  if (opt_level == 2)
    return llvm::OptimizationLevel::O2;
  return llvm::OptimizationLevel::O3;
}

} // namespace

void run_default_pipeline(llvm::Module& module, llvm::TargetMachine& tm, int opt_level,
                          const llvm::PipelineTuningOptions& tuning,
                          const llvm::TargetLibraryInfoImpl* library_info) {
  llvm::LoopAnalysisManager lam;
  llvm::FunctionAnalysisManager fam;
  llvm::CGSCCAnalysisManager cgam;
  llvm::ModuleAnalysisManager mam;
  llvm::PassBuilder pb(&tm, tuning);
  // Registered before the defaults, so that it replaces the default TargetLibraryAnalysis.
  if (library_info)
    fam.registerPass([&] { return llvm::TargetLibraryAnalysis(*library_info); });
  pb.registerModuleAnalyses(mam);
  pb.registerCGSCCAnalyses(cgam);
  pb.registerFunctionAnalyses(fam);
  pb.registerLoopAnalyses(lam);
  pb.crossRegisterProxies(lam, fam, cgam, mam);
  const llvm::OptimizationLevel level = level_of(opt_level);
  llvm::ModulePassManager mpm =
      opt_level <= 0 ? pb.buildO0DefaultPipeline(level) : pb.buildPerModuleDefaultPipeline(level);
  mpm.run(module, mam);
}

std::string emit_file(llvm::Module& module, llvm::TargetMachine& tm, llvm::CodeGenFileType type) {
  llvm::SmallVector<char, 0> buffer;
  llvm::raw_svector_ostream os(buffer);
  llvm::legacy::PassManager pm;
  bool failed = tm.addPassesToEmitFile(pm, os, nullptr, type);
  TESSEL_ASSERT(!failed, "the target machine cannot emit this file type");
  pm.run(module);
  return std::string(buffer.begin(), buffer.end());
}

} // namespace tessel::codegen
