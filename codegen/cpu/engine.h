// Private to codegen/cpu: the LLVM side of compiling a lowered module — the host target machine
// (host_target.cpp), the O3 pipeline and object emission (llvm_pipeline.cpp), the process-wide
// ORC JIT that links object code (orc_engine.cpp), its perf map (perf_map.cpp) and the C functions
// that JIT'd code may call (runtime_symbols.cpp).
#pragma once

#include <llvm/IR/Module.h>
#include <llvm/Target/TargetMachine.h>

#include <memory>
#include <string>
#include <utility>
#include <vector>

namespace llvm::orc {
class LLJIT;
}

namespace tessel::codegen::cpu::detail {

// ---- host_target.cpp ----
// The host's triple, CPU name and features; LLVM's native target initialised once.
struct HostTarget {
  std::string triple;
  std::string cpu;
  std::string features;
  bool has_avx2 = false;
  int vector_bits = 128; // the widest vector registers: 512 (AVX-512F), 256 (AVX), else 128
};
const HostTarget& host_target();
// A target machine for the host (not thread-safe: one per compile).
std::unique_ptr<llvm::TargetMachine> create_host_target_machine(int opt_level);

// ---- llvm_pipeline.cpp ----
// Runs the new pass manager's default per-module pipeline at `opt_level` (0..3), with glibc's
// vector math library (libmvec) when the host has AVX2, so exp/log/sin/cos vectorize.
void optimize_module(llvm::Module& module, llvm::TargetMachine& tm, int opt_level);
std::string emit_object(llvm::Module& module, llvm::TargetMachine& tm);
std::string emit_assembly(llvm::Module& module, llvm::TargetMachine& tm);

// ---- orc_engine.cpp ----
// One object file linked into its own JITDylib of the process-wide LLJIT; unlinked on
// destruction.
class LinkedObject {
public:
  virtual ~LinkedObject() = default;
  virtual void* address() const = 0;
  // The address of another symbol of the object (a global), or null when it has none.
  virtual void* find(const std::string& symbol) const = 0;
};
// Links `object_code` and looks up `symbol`. Thread-safe. Throws tessel::Error on failure.
std::unique_ptr<LinkedObject> link_object(const std::string& object_code,
                                          const std::string& symbol);

// ---- perf_map.cpp ----
// With TESSEL_PERF_MAP=1 (read once, when the JIT is created), every function the JIT links is
// appended to /tmp/perf-<pid>.map as "start size name", so that perf report names JIT'd kernels.
void add_perf_map(llvm::orc::LLJIT& jit);

// ---- runtime_symbols.cpp ----
// Functions JIT'd code may call that need not be in the process (compiler-rt's f16 conversions,
// libm's erff/tanhf...), by symbol name.
std::vector<std::pair<const char*, void*>> runtime_symbols();

} // namespace tessel::codegen::cpu::detail
