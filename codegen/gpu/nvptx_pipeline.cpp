// From lowered LLVM IR to PTX: the NVPTX target machine, libdevice linked in lazily (only the
// __nv_* functions the kernel calls are materialised), LLVM's O3 module pipeline (shared with the
// CPU, codegen/llvm_pipeline.h; it runs NVVMReflect through the target's pass-builder callbacks),
// and PTX emission.
#include "codegen/gpu/nvptx.h"
#include "codegen/llvm_pipeline.h"

#include "tessel/error.h"

#include <llvm/Bitcode/BitcodeReader.h>
#include <llvm/Linker/Linker.h>
#include <llvm/MC/TargetRegistry.h>
#include <llvm/Support/MemoryBuffer.h>
#include <llvm/Support/TargetSelect.h>
#include <llvm/Support/raw_ostream.h>
#include <llvm/Target/TargetMachine.h>
#include <llvm/Transforms/IPO/Internalize.h>

#include <fmt/format.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <mutex>
#include <sstream>

namespace tessel::codegen::gpu {

namespace {

std::vector<std::string> cuda_roots() {
  std::vector<std::string> roots;
  for (const char* var : {"CUDA_HOME", "CUDA_PATH"})
    if (const char* v = std::getenv(var); v && *v)
      roots.push_back(v);
  roots.push_back("/usr/local/cuda");
  return roots;
}

} // namespace

std::string libdevice_path() {
  if (const char* v = std::getenv("TESSEL_LIBDEVICE"); v && *v)
    return v;
  for (const std::string& root : cuda_roots()) {
    std::string p = root + "/nvvm/libdevice/libdevice.10.bc";
    if (std::filesystem::exists(p))
      return p;
  }
  return cuda_roots().front() + "/nvvm/libdevice/libdevice.10.bc";
}

namespace detail {

const std::string& libdevice_bitcode() {
  static std::mutex mu;
  static std::map<std::string, std::string> cache;
  std::lock_guard<std::mutex> lock(mu);
  std::string path = libdevice_path();
  auto it = cache.find(path);
  if (it != cache.end())
    return it->second;
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    std::string tried;
    if (const char* v = std::getenv("TESSEL_LIBDEVICE"); v && *v)
      tried = fmt::format("'{}' (from TESSEL_LIBDEVICE)", v);
    else
      for (const std::string& root : cuda_roots())
        tried += (tried.empty() ? "'" : ", '") + root + "/nvvm/libdevice/libdevice.10.bc'";
    throw Error(
        fmt::format("CUDA's libdevice (needed for math functions on the GPU) was not found: "
                    "tried {}; install the CUDA toolkit, or set TESSEL_LIBDEVICE to "
                    "libdevice.10.bc or CUDA_HOME to the toolkit",
                    tried));
  }
  std::stringstream s;
  s << in.rdbuf();
  return cache[path] = s.str();
}

std::unique_ptr<llvm::TargetMachine> create_nvptx_target_machine(const Target& target,
                                                                 int opt_level, int ptx_version) {
  static std::once_flag once;
  std::call_once(once, [] {
    LLVMInitializeNVPTXTargetInfo();
    LLVMInitializeNVPTXTarget();
    LLVMInitializeNVPTXTargetMC();
    LLVMInitializeNVPTXAsmPrinter();
  });
  const std::string triple = "nvptx64-nvidia-cuda";
  std::string error;
  const llvm::Target* t = llvm::TargetRegistry::lookupTarget(triple, error);
  if (!t)
    throw Error("this LLVM has no NVPTX target: " + error);
  llvm::TargetOptions options;
  auto level = opt_level >= 3   ? llvm::CodeGenOptLevel::Aggressive
               : opt_level >= 2 ? llvm::CodeGenOptLevel::Default
               : opt_level >= 1 ? llvm::CodeGenOptLevel::Less
                                : llvm::CodeGenOptLevel::None;
  return std::unique_ptr<llvm::TargetMachine>(
      t->createTargetMachine(triple, target.llvm_cpu(),
                             ptx_version > target.ptx_version() ? fmt::format("+ptx{}", ptx_version)
                                                                : target.llvm_features(),
                             options, std::nullopt, std::nullopt, level));
}

bool link_libdevice(llvm::Module& module, const std::string& kernel) {
  bool needed = false;
  for (const llvm::Function& f : module)
    needed = needed || (f.isDeclaration() && f.getName().starts_with("__nv_"));
  if (needed) {
    const std::string* found = nullptr;
    try {
      found = &libdevice_bitcode();
    } catch (const Error& e) {
      throw Error("kernel `" + kernel + "` uses math functions: " + e.what());
    }
    const std::string& bc = *found;
    auto lib = llvm::getLazyBitcodeModule(llvm::MemoryBufferRef(bc, "libdevice.10.bc"),
                                          module.getContext());
    if (!lib)
      throw Error("cannot read libdevice (" + libdevice_path() +
                  "): " + llvm::toString(lib.takeError()));
    (*lib)->setTargetTriple(module.getTargetTriple());
    (*lib)->setDataLayout(module.getDataLayout());
    if (llvm::Linker::linkModules(module, std::move(*lib), llvm::Linker::LinkOnlyNeeded))
      throw Error("linking libdevice failed");
  }
  // Flush denormals off (libdevice's __nvvm_reflect("__CUDA_FTZ") reads this), then keep only
  // the kernel visible.
  module.addModuleFlag(llvm::Module::Override, "nvvm-reflect-ftz", uint32_t(0));
  llvm::internalizeModule(module, [&](const llvm::GlobalValue& gv) {
    return gv.getName() == kernel || gv.getName() == "global_smem";
  });
  return needed;
}

// LLVM's default tuning options (the CPU backend sets its vectorizer switches itself).
void optimize(llvm::Module& module, llvm::TargetMachine& tm, int opt_level) {
  run_default_pipeline(module, tm, opt_level, llvm::PipelineTuningOptions());
}

std::string emit_ptx(llvm::Module& module, llvm::TargetMachine& tm) {
  return emit_file(module, tm, llvm::CodeGenFileType::AssemblyFile);
}

} // namespace detail
} // namespace tessel::codegen::gpu
