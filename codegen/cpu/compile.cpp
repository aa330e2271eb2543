// The CPU backend's public entry points (codegen/cpu.h): lower a kernel to LLVM IR, optimise it
// for the host, emit object code into memory and link it with the process-wide ORC JIT; or link
// object code from an earlier compile.
#include "tessel/codegen/cpu.h"

#include "codegen/cpu/engine.h"
#include "codegen/cpu/lowering.h"
#include "codegen/llvm_text.h"
#include "support/stopwatch.h"
#include "tessel/support/dump.h"

#include <llvm/IR/Verifier.h>
#include <llvm/Support/raw_ostream.h>
#include <llvm/Transforms/Utils/Cloning.h>

#include <fmt/format.h>

#include <chrono>

namespace tessel::codegen::cpu {

namespace {

using codegen::print_module;
using support::Stopwatch;

// jit/'s workers have 64 MiB stacks; leave room for the runtime's own frames.
constexpr int64_t kMaxStackBytes = int64_t(56) << 20;

class CpuKernel final : public CompiledKernel {
public:
  CpuKernel(std::string name, std::string object, int64_t stack, StageTimes times,
            std::unique_ptr<detail::LinkedObject> linked, std::string llvm_ir = {},
            std::string assembly = {})
      : name_(std::move(name)), object_(std::move(object)), stack_(stack), times_(times),
        linked_(std::move(linked)), llvm_ir_(std::move(llvm_ir)), assembly_(std::move(assembly)) {}
  KernelEntry entry() const override { return reinterpret_cast<KernelEntry>(linked_->address()); }
  const std::string& name() const override { return name_; }
  const std::string& object_code() const override { return object_; }
  int64_t max_stack_bytes() const override { return stack_; }
  const StageTimes& times() const override { return times_; }
  const std::string& llvm_ir() const override { return llvm_ir_; }
  const std::string& assembly() const override { return assembly_; }
  void bind_host_callbacks(std::vector<ir::HostCallback> callbacks) override {
    void* global = linked_->find(kHostCallbacksSymbol);
    if (!global)
      return;
    table_ = std::make_unique<HostCallbackTable>();
    table_->callbacks = std::move(callbacks);
    *static_cast<HostCallbackTable**>(global) = table_.get();
  }
  void rethrow_host_error() override {
    if (!table_ || !table_->failed.load(std::memory_order_acquire))
      return;
    std::exception_ptr e;
    {
      std::lock_guard lock(table_->mutex);
      e = std::exchange(table_->first_error, nullptr);
      table_->failed.store(false, std::memory_order_release);
    }
    if (e)
      std::rethrow_exception(e);
  }

private:
  std::string name_;
  std::string object_;
  int64_t stack_;
  StageTimes times_;
  std::unique_ptr<detail::LinkedObject> linked_;
  std::string llvm_ir_, assembly_;
  std::unique_ptr<HostCallbackTable> table_; // escape-hatch fallbacks (lower_escape.cpp)
};

// The kernel's symbol: prefixed so that a kernel named like a C function (`exp`) cannot shadow it.
std::string symbol_of(const std::string& kernel_name) { return "tessel.kernel." + kernel_name; }

} // namespace

std::unique_ptr<CompiledKernel> compile(const ir::Function& function,
                                        const CompileOptions& options) {
  Stopwatch clock;
  StageTimes times;
  const std::string symbol = symbol_of(function.name);
  llvm::LLVMContext ctx;
  llvm::Module module(symbol, ctx);
  std::unique_ptr<llvm::TargetMachine> tm = detail::create_host_target_machine(options.opt_level);
  module.setDataLayout(tm->createDataLayout());
  module.setTargetTriple(tm->getTargetTriple().str());

  detail::Lowering lowering(ctx, module, function);
  lowering.checked = options.checked;
  llvm::Function* f = lowering.run(symbol);
  const detail::HostTarget& host = detail::host_target();
  f->addFnAttr("target-cpu", host.cpu);
  f->addFnAttr("target-features", host.features);
  // Tensors make big frames: probe them so that an overflow hits the guard page.
  f->addFnAttr("probe-stack", "inline-asm");
  // LLVM's tuning for Intel's AVX-512 cores prefers 256-bit vectors (the old down-clocking of
  // heavy 512-bit code), so the loop vectorizer stopped at 8 f32 lanes while tessel's own
  // reductions and Halide's schedules use 16: with the full width softmax and layer norm took
  // 0.6-0.9x the CPU time at every shape measured (bench/RESULTS.md, session 7). Zen 4 runs 512-bit
  // operations as two halves, with fewer instructions to issue.
  if (host.vector_bits >= 512)
    f->addFnAttr("prefer-vector-width", "512");
  if (lowering.stack_bytes() > kMaxStackBytes)
    throw Error(fmt::format("kernel `{}` needs {} MiB of stack for its tensors (at most {} MiB); "
                            "use smaller blocks",
                            function.name, lowering.stack_bytes() >> 20, kMaxStackBytes >> 20));
  std::string broken;
  llvm::raw_string_ostream err(broken);
  if (llvm::verifyModule(module, &err))
    TESSEL_UNREACHABLE(
        ("CPU lowering produced invalid LLVM IR: " + broken + "\n" + print_module(module)).c_str());
  times.lower_ms = clock.lap_ms();

  detail::optimize_module(module, *tm, options.opt_level);
  times.optimize_ms = clock.lap_ms();
  std::string llvm_text, assembly;
  if (options.keep_text || support::dump_enabled("llvm"))
    llvm_text = print_module(module);
  if (support::dump_enabled("llvm"))
    support::dump("llvm", function.name, llvm_text);
  if (options.keep_text || support::dump_enabled("asm")) {
    std::unique_ptr<llvm::Module> copy = llvm::CloneModule(module); // emitting changes the module
    assembly = detail::emit_assembly(*copy, *tm);
  }
  if (support::dump_enabled("asm"))
    support::dump("asm", function.name, assembly);
  clock.lap_ms();
  std::string object = detail::emit_object(module, *tm);
  times.codegen_ms = clock.lap_ms();

  std::unique_ptr<detail::LinkedObject> linked = detail::link_object(object, symbol);
  times.link_ms = clock.lap_ms();
  return std::make_unique<CpuKernel>(function.name, std::move(object), lowering.stack_bytes(),
                                     times, std::move(linked), options.keep_text ? llvm_text : "",
                                     options.keep_text ? assembly : "");
}

std::unique_ptr<CompiledKernel> load(const std::string& kernel_name, std::string object_code,
                                     int64_t max_stack_bytes) {
  Stopwatch clock;
  StageTimes times;
  std::unique_ptr<detail::LinkedObject> linked =
      detail::link_object(object_code, symbol_of(kernel_name));
  times.link_ms = clock.lap_ms();
  return std::make_unique<CpuKernel>(kernel_name, std::move(object_code), max_stack_bytes, times,
                                     std::move(linked));
}

std::string host_description() {
  const detail::HostTarget& host = detail::host_target();
  return host.triple + " (" + host.cpu + ")";
}

} // namespace tessel::codegen::cpu
