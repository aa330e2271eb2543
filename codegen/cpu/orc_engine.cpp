// The process-wide ORC JIT of the CPU backend. One LLJIT is created on first use (creating one
// per kernel would cost milliseconds of cold-compile time each); every kernel's object file gets
// a JITDylib of its own, so kernels of one name never clash and unloading a kernel removes just
// its code. Symbols a kernel calls resolve first to tessel's runtime functions
// (runtime_symbols.cpp), then to anything loaded in the process (libm, libmvec, libc).
#include "codegen/cpu/engine.h"

#include "tessel/error.h"

#include <llvm/ExecutionEngine/Orc/ExecutionUtils.h>
#include <llvm/ExecutionEngine/Orc/LLJIT.h>
#include <llvm/Support/DynamicLibrary.h>
#include <llvm/Support/MemoryBuffer.h>

#include <fmt/format.h>

#include <atomic>
#include <mutex>

namespace tessel::codegen::cpu::detail {

namespace {

struct Engine {
  std::unique_ptr<llvm::orc::LLJIT> jit;
  std::mutex mutex; // serialises JITDylib creation, linking and removal
  std::atomic<uint64_t> next_id{0};
};

std::string message_of(llvm::Error e) { return llvm::toString(std::move(e)); }

Engine& engine() {
  static Engine* e = [] {
    host_target(); // initialises the native target
    // libmvec holds the vector math the optimiser may call (llvm_pipeline.cpp); make its symbols
    // visible to the process search below. Absent libmvec only means nothing will call it.
    llvm::sys::DynamicLibrary::LoadLibraryPermanently("libmvec.so.1");
    auto* out = new Engine;
    auto jit = llvm::orc::LLJITBuilder().create();
    if (!jit)
      throw Error("CPU backend: cannot create the ORC JIT: " + message_of(jit.takeError()));
    out->jit = std::move(*jit);
    add_perf_map(*out->jit); // TESSEL_PERF_MAP=1: perf report names the kernels
    return out;
  }();
  return *e;
}

class OrcObject final : public LinkedObject {
public:
  OrcObject(llvm::orc::JITDylib& jd, void* address) : jd_(jd), address_(address) {}
  ~OrcObject() override {
    Engine& e = engine();
    std::lock_guard lock(e.mutex);
    if (llvm::Error err = e.jit->getExecutionSession().removeJITDylib(jd_))
      llvm::consumeError(std::move(err)); // nothing sensible to do while unloading
  }
  void* address() const override { return address_; }
  void* find(const std::string& symbol) const override {
    Engine& e = engine();
    std::lock_guard lock(e.mutex);
    auto found = e.jit->lookup(jd_, symbol);
    if (!found) {
      llvm::consumeError(found.takeError());
      return nullptr;
    }
    return found->toPtr<void*>();
  }

private:
  llvm::orc::JITDylib& jd_;
  void* address_;
};

} // namespace

std::unique_ptr<LinkedObject> link_object(const std::string& object_code,
                                          const std::string& symbol) {
  Engine& e = engine();
  std::lock_guard lock(e.mutex);
  llvm::orc::LLJIT& jit = *e.jit;
  llvm::orc::ExecutionSession& es = jit.getExecutionSession();
  auto jd = es.createJITDylib(fmt::format("tessel.kernel.{}", e.next_id++));
  if (!jd)
    throw Error("CPU backend: " + message_of(jd.takeError()));
  llvm::orc::SymbolMap runtime;
  for (const auto& [name, address] : runtime_symbols())
    runtime[jit.mangleAndIntern(name)] = {llvm::orc::ExecutorAddr::fromPtr(address),
                                          llvm::JITSymbolFlags::Exported};
  if (llvm::Error err = jd->define(llvm::orc::absoluteSymbols(std::move(runtime))))
    throw Error("CPU backend: " + message_of(std::move(err)));
  auto process = llvm::orc::DynamicLibrarySearchGenerator::GetForCurrentProcess(
      jit.getDataLayout().getGlobalPrefix());
  if (!process)
    throw Error("CPU backend: " + message_of(process.takeError()));
  jd->addGenerator(std::move(*process));

  auto remove = [&] { llvm::consumeError(es.removeJITDylib(*jd)); };
  auto buffer = llvm::MemoryBuffer::getMemBufferCopy(object_code, symbol);
  if (llvm::Error err = jit.addObjectFile(*jd, std::move(buffer))) {
    remove();
    throw Error(fmt::format("CPU backend: cannot load the object code of `{}`: {}", symbol,
                            message_of(std::move(err))));
  }
  auto address = jit.lookup(*jd, symbol);
  if (!address) {
    std::string msg = message_of(address.takeError());
    remove();
    throw Error(fmt::format("CPU backend: cannot link `{}`: {}", symbol, msg));
  }
  return std::make_unique<OrcObject>(*jd, address->toPtr<void*>());
}

} // namespace tessel::codegen::cpu::detail
