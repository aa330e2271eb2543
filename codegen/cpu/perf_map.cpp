// perf's map of JIT'd code (engine.h, add_perf_map). perf report cannot name code that no ELF
// file on disk holds: a JIT'd kernel shows up as a bare address. perf's convention for JITs is a
// text file /tmp/perf-<pid>.map, one line per function, "START SIZE NAME" with START and SIZE in
// hex (tools/perf/Documentation/jit-interface.txt in the Linux tree); perf reads it when it
// reports, so the file must outlive the process and is never removed here.
//
// The lines are written when a kernel's object file is linked, from the JITLink graph after
// fixups (the final addresses and sizes of every function in the object, local ones included:
// a kernel's outlined helpers get their own names). A kernel loaded from the disk cache is linked
// the same way, so it is named too. Unloading a kernel does not remove its lines: perf takes the
// last line covering an address, and a later kernel linked at that address writes its own.
#include "codegen/cpu/engine.h"

#include <llvm/ExecutionEngine/JITLink/JITLink.h>
#include <llvm/ExecutionEngine/Orc/LLJIT.h>
#include <llvm/ExecutionEngine/Orc/ObjectLinkingLayer.h>

#include <fmt/format.h>

#include <cstdio>
#include <cstdlib>
#include <mutex>
#include <string>
#include <unistd.h>

namespace tessel::codegen::cpu::detail {
namespace {

bool perf_map_requested() {
  const char* v = std::getenv("TESSEL_PERF_MAP");
  return v && *v && *v != '0';
}

// The process's map file, opened on first use and appended to (a fork's child writes its own).
class PerfMapFile {
public:
  void write(uint64_t start, uint64_t size, const std::string& name) {
    std::lock_guard lock(mutex_);
    if (pid_ != getpid()) {
      if (file_)
        std::fclose(file_);
      pid_ = getpid();
      file_ = std::fopen(fmt::format("/tmp/perf-{}.map", pid_).c_str(), "a");
    }
    if (!file_)
      return; // /tmp not writable: profiling without names is still profiling
    fmt::print(file_, "{:x} {:x} {}\n", start, size, name);
    std::fflush(file_); // perf may read it while the process runs, or after it is killed
  }

private:
  std::mutex mutex_;
  pid_t pid_ = 0;
  std::FILE* file_ = nullptr;
};

PerfMapFile& perf_map_file() {
  static auto* f = new PerfMapFile; // never destroyed: kernels may link during static teardown
  return *f;
}

// A JITLink pass after fixups: every named function of the graph at its final address, named
// "symbol (JITDylib)". Every specialization of a kernel has the kernel's symbol; the JITDylib
// (tessel.kernel.N, one per linked object, N in link order) tells them apart in perf report.
struct WriteFunctions {
  std::string dylib;
  llvm::Error operator()(llvm::jitlink::LinkGraph& graph) const {
    for (llvm::jitlink::Symbol* sym : graph.defined_symbols())
      if (sym->isCallable() && sym->hasName() && sym->getSize() > 0)
        perf_map_file().write(sym->getAddress().getValue(), sym->getSize(),
                              fmt::format("{} ({})", std::string_view(sym->getName()), dylib));
    return llvm::Error::success();
  }
};

// Adds WriteFunctions to every link. Holds no state per object, so the resource notifications
// have nothing to release.
class PerfMapPlugin final : public llvm::orc::ObjectLinkingLayer::Plugin {
public:
  void modifyPassConfig(llvm::orc::MaterializationResponsibility& mr, llvm::jitlink::LinkGraph&,
                        llvm::jitlink::PassConfiguration& config) override {
    // A function object, not a lambda: GCC 12 warns (maybe-uninitialized, a false positive in
    // llvm::unique_function's inline storage) when a lambda is moved into the pass list.
    config.PostFixupPasses.emplace_back(WriteFunctions{mr.getTargetJITDylib().getName()});
  }
  llvm::Error notifyFailed(llvm::orc::MaterializationResponsibility&) override {
    return llvm::Error::success();
  }
  llvm::Error notifyRemovingResources(llvm::orc::JITDylib&, llvm::orc::ResourceKey) override {
    return llvm::Error::success();
  }
  void notifyTransferringResources(llvm::orc::JITDylib&, llvm::orc::ResourceKey,
                                   llvm::orc::ResourceKey) override {}
};

} // namespace

void add_perf_map(llvm::orc::LLJIT& jit) {
  if (!perf_map_requested())
    return;
  // LLJIT links with JITLink on x86-64 and AArch64 ELF; the older RuntimeDyld layer (other
  // targets) gets no map, which only means perf shows addresses there.
  if (auto* layer = llvm::dyn_cast<llvm::orc::ObjectLinkingLayer>(&jit.getObjLinkingLayer()))
    layer->addPlugin(std::make_unique<PerfMapPlugin>());
}

} // namespace tessel::codegen::cpu::detail
