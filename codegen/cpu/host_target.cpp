// The host CPU as LLVM sees it: triple, CPU name and feature string (so the code uses every
// vector extension the machine has), and target machines built from them.
#include "codegen/cpu/engine.h"

#include "tessel/error.h"

#include <llvm/MC/TargetRegistry.h>
#include <llvm/Support/TargetSelect.h>
#include <llvm/TargetParser/Host.h>

#include <fmt/format.h>

#include <algorithm>

namespace tessel::codegen::cpu::detail {

const HostTarget& host_target() {
  static const HostTarget host = [] {
    llvm::InitializeNativeTarget();
    llvm::InitializeNativeTargetAsmPrinter();
    llvm::InitializeNativeTargetAsmParser();
    HostTarget h;
    h.triple = llvm::sys::getProcessTriple();
    h.cpu = llvm::sys::getHostCPUName().str();
    std::string features;
    for (const auto& [name, enabled] : llvm::sys::getHostCPUFeatures()) {
      if (!features.empty())
        features += ',';
      features += (enabled ? "+" : "-") + name.str();
      if (name == "avx2" && enabled)
        h.has_avx2 = true;
      if (enabled && (name == "avx512f" || name == "avx"))
        h.vector_bits = std::max(h.vector_bits, name == "avx512f" ? 512 : 256);
    }
    h.features = std::move(features);
    return h;
  }();
  return host;
}

std::unique_ptr<llvm::TargetMachine> create_host_target_machine(int opt_level) {
  const HostTarget& host = host_target();
  std::string error;
  const llvm::Target* target = llvm::TargetRegistry::lookupTarget(host.triple, error);
  if (!target)
    throw Error(fmt::format("CPU backend: no LLVM target for {}: {}", host.triple, error));
  llvm::TargetOptions options;
  llvm::CodeGenOptLevel level = opt_level <= 0   ? llvm::CodeGenOptLevel::None
                                : opt_level == 1 ? llvm::CodeGenOptLevel::Less
                                : opt_level == 2 ? llvm::CodeGenOptLevel::Default
                                                 : llvm::CodeGenOptLevel::Aggressive;
  // PIC: JITLink places code anywhere; calls into the process go through its stubs.
  std::unique_ptr<llvm::TargetMachine> tm(
      target->createTargetMachine(host.triple, host.cpu, host.features, options, llvm::Reloc::PIC_,
                                  llvm::CodeModel::Small, level));
  if (!tm)
    throw Error(fmt::format("CPU backend: cannot create a target machine for {}", host.triple));
  return tm;
}

} // namespace tessel::codegen::cpu::detail
