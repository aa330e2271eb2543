// The CPU backend: tile IR -> LLVM IR for the host -> LLVM O3 -> object code -> ORC JIT.
//
// The compiled kernel runs a range of program instances. Its ABI (what jit/ passes):
//   entry(args, grid, begin, end)
//     args   one pointer per kernel parameter, pointing at the argument's value (like CUDA's
//            kernelParams): a `void*` for a pointer parameter, an int32_t for i32, a float for
//            f32...
//     grid   int32_t[3]: the number of programs along x, y, z (what num_programs returns)
//     begin, end   the linear program ids to run, [begin, end); id = x + gx * (y + gy * z)
// Tensors live in stack memory of the calling thread: call it on a thread with a large stack
// (jit/'s thread pool gives its workers 64 MiB) — see max_stack_bytes().
//
// Checked mode (CompileOptions::checked) adds one slot to `args`: after the pointers to the IR
// arguments' values comes a pointer to a BoundsTable. Every executed load and store then checks
// that the whole element it touches lies in the byte range of the pointer parameter its address
// is derived from (addptr, splat, broadcast, shape ops, select and `for`/`if` values are followed
// back to one parameter; an address that comes from several parameters, or from memory, must lie
// in one of the ranges of all pointer parameters). A failing access is not performed: the kernel
// calls bounds_violation(), which records it, and ends that program; programs with a larger
// linear id than the first failing one are skipped, so the report names the lowest failing
// program whatever the thread schedule.
#pragma once

#include "tessel/ir/ir.h"

#include <atomic>
#include <cstdint>
#include <exception>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

namespace tessel::codegen::cpu {

using KernelEntry = void (*)(void* const* args, const int32_t* grid, int64_t begin, int64_t end);

struct CompileOptions {
  int opt_level = 3;
  bool keep_text = false; // keep the optimised LLVM IR and the host assembly (compile API, tools)
  bool checked = false;   // bounds-check every executed load and store (see BoundsTable)
  // The tile-IR pipeline's contract-fma (tessel/codegen/transforms.h PipelineOptions), carried
  // here so that it reaches the pipeline the JIT runs and the cache key.
  bool fp_fusion = true;
  // Keep device_assert (strip-device-asserts otherwise); needs `checked`, whose BoundsTable the
  // failures are recorded in (assert_failed).
  bool debug = false;
};

// [begin, end) in bytes that accesses through one pointer parameter may touch ([0, UINTPTR_MAX)
// when unknown: a raw pointer).
struct ByteRange {
  uint64_t begin = 0;
  uint64_t end = UINT64_MAX;
};

// The first out-of-bounds access of a checked launch.
struct BoundsViolation {
  int64_t arg = -1; // the IR argument the address comes from; -1: none single one
  uint64_t address = 0;
  int64_t bytes = 0;      // the element size of the access
  const char* where = ""; // the op's source location ("file:line:col", in the object's data)
  bool is_store = false;
  int64_t program = -1; // linear program id, x + gx * (y + gy * z)
};

// One element of a device_assert (debug mode) that was false.
struct AssertFailure {
  const char* where = "";   // the assert's "file:line" (in the object's data)
  const char* message = ""; // its message (in the object's data)
  int64_t program = -1;     // linear program id
  int32_t pid[3] = {0, 0, 0};
  std::vector<int64_t> idx; // the element's coordinates in the tile
};

// Per-launch state of a checked kernel. The compiled code reads `ranges` and `first_program`
// (offsets 0 and 8: the ABI); the rest belongs to bounds_violation() and assert_failed().
struct BoundsTable {
  const ByteRange* ranges = nullptr; // one per IR argument (non-pointer ones unused)
  int64_t first_program = INT64_MAX; // the lowest failing program so far (atomic)
  int64_t num_ranges = 0;
  std::mutex mutex; // guards `first` and `asserts` against programs on other threads
  BoundsViolation first;
  // Failed device_assert elements: the first kMaxAssertFailures by (program, coordinates), so
  // that the report does not depend on the thread schedule; `assert_count` counts them all.
  static constexpr size_t kMaxAssertFailures = 8;
  std::vector<AssertFailure> asserts;
  int64_t assert_count = 0;
};

// Called by checked kernels on a failing access (thread-safe): keeps the violation of the lowest
// program id, and the earliest one within that program.
void bounds_violation(BoundsTable* table, int64_t arg, uint64_t address, int64_t bytes,
                      const char* where, int32_t is_store, int64_t program);
// The symbol checked kernels call it by.
inline constexpr const char* kBoundsViolationSymbol = "tessel.cpu.bounds_violation";

// Escape hatches (tl::inline_asm_elementwise, tl::extern_cuda) run their C++ fallbacks on the
// CPU: a kernel with such ops reads its table from the global kHostCallbacksSymbol of its object
// code (set by CompiledKernel::bind_host_callbacks, never stored in the object) and calls
// host_call per element. What a callback throws is kept (the first of a launch) and rethrown by
// CompiledKernel::rethrow_host_error; the element becomes 0.
struct HostCallbackTable {
  std::vector<ir::HostCallback> callbacks;
  std::atomic<bool> failed{false};
  std::mutex mutex; // guards first_error
  std::exception_ptr first_error;
};
void host_call(HostCallbackTable* table, int64_t slot, const void* const* args, void* out);
inline constexpr const char* kHostCallbacksSymbol = "tessel.cpu.host_callbacks";
inline constexpr const char* kHostCallSymbol = "tessel.cpu.host_call";
// Called by debug kernels for each false element of a device_assert (thread-safe); `idx` holds
// `rank` coordinates. The program goes on to its end, then stops (codegen/cpu/lower_debug.cpp).
void assert_failed(BoundsTable* table, const char* where, const char* message, int64_t program,
                   int32_t pid_x, int32_t pid_y, int32_t pid_z, const int64_t* idx, int32_t rank);
inline constexpr const char* kAssertFailedSymbol = "tessel.cpu.assert_failed";

// Called by kernels for each device_print: formats the block of lines of one program (the
// elements of a tile of `rank` dims `dims`, row-major, as 64-bit values of `kind`, a
// support::PrintKind; `mask` null or one byte per element) and writes it in one piece.
void device_print(const char* prefix, int32_t kind, int32_t rank, const int64_t* dims,
                  int32_t pid_x, int32_t pid_y, int32_t pid_z, const uint64_t* values,
                  const uint8_t* mask);
inline constexpr const char* kDevicePrintSymbol = "tessel.cpu.device_print";

// How long each stage took, in milliseconds.
struct StageTimes {
  double lower_ms = 0;    // tile IR -> LLVM IR
  double optimize_ms = 0; // LLVM O3
  double codegen_ms = 0;  // LLVM IR -> object code
  double link_ms = 0;     // object code -> ORC, symbol lookup
};

class CompiledKernel {
public:
  virtual ~CompiledKernel() = default;
  virtual KernelEntry entry() const = 0;
  virtual const std::string& name() const = 0;
  // The relocatable object code that was loaded (what a disk cache stores).
  virtual const std::string& object_code() const = 0;
  // Bytes of stack one program instance needs at most (its materialised tensors).
  virtual int64_t max_stack_bytes() const = 0;
  virtual const StageTimes& times() const = 0;
  // With CompileOptions::keep_text (else empty): the LLVM IR after O3 and its host assembly.
  virtual const std::string& llvm_ir() const = 0;
  virtual const std::string& assembly() const = 0;
  // Keeps `callbacks` (ir::Module::host_callbacks of the traced kernel) and points the code at
  // them; a kernel without escape-hatch fallbacks ignores them.
  virtual void bind_host_callbacks(std::vector<ir::HostCallback> callbacks) = 0;
  // Throws what a fallback threw in the launches since the last call (then forgets it).
  virtual void rethrow_host_error() = 0;
};

// Compiles `function` (verified IR). Thread-safe: concurrent compiles of different kernels are
// allowed. Throws tessel::Error for IR the backend cannot lower, naming the op and its location.
std::unique_ptr<CompiledKernel> compile(const ir::Function& function,
                                        const CompileOptions& options = {});

// Loads object code produced by an earlier compile (the disk cache's warm start).
std::unique_ptr<CompiledKernel> load(const std::string& kernel_name, std::string object_code,
                                     int64_t max_stack_bytes);

// The host's LLVM target triple and CPU name, e.g. for `tessel version`.
std::string host_description();

} // namespace tessel::codegen::cpu
