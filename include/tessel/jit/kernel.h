// Kernel: a traced-on-demand, compiled-on-demand tile kernel, and its launch.
//
//   const tessel::Kernel add = tl::kernel("add", [](tl::Ptr out, tl::Ptr a, tl::Ptr b, tl::Int n,
//                                                   tl::Const<int> BLOCK) { ... });
//   add.launch({blocks}, {}, out, a, b, n, 1024);
//
// Each launch computes the argument signature (pointer element types and 16-byte alignment,
// integers' ==1 and divisibility by 16, Const values) and looks it up in the kernel's table of
// specializations: a hit runs the compiled code with no tracing, no compiling, no heap allocation,
// no hashing and a lock-free lookup (a launch of more than one program then hands the programs to
// the thread pool, which takes its own lock); a miss traces, optimises and compiles once
// (concurrent first calls compile once). A kernel's first 64 specializations are looked up
// lock-free; more than that fall back to a map under a mutex.
//
// Where a launch runs follows from its pointer arguments: host pointers (and host TensorViews)
// run on the CPU backend; views of runtime::DeviceBuffer memory run on that buffer's device —
// a CUDA GPU, or the PTX simulator under TESSEL_DEVICE=sim — compiled for it with num_warps and
// num_stages from LaunchOptions. All pointer arguments of one launch must be on one device, and
// none may be null (on any device).
//
// A launch error (argument count, kinds, element types, null pointers, devices, ranges, the grid)
// throws tessel::Error that starts with the launch's file:line (see GridAt) and names the
// parameter: "parameter 'n' (Int)" when the kernel was defined with names
// (tl::kernel(name, "out, n, BLOCK", fn)), else "parameter 1 (Int)".
#pragma once

#include "tessel/dtype.h"
#include "tessel/error.h"
#include "tessel/lang/trace.h"
#include "tessel/runtime/tensor_view.h"

#include <array>
#include <cstdint>
#include <memory>
#include <optional>
#include <source_location>
#include <span>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

namespace tessel {

namespace runtime {
class Stream;
}
namespace codegen {
class Target;
}
namespace jit {
struct SignatureKey; // jit/signature.h (private)
}
class Autotuner;       // tessel/jit/autotune.h
struct CompileOptions; // tessel/jit/compile.h
struct CompileResult;
struct Signature;

struct Grid {
  int64_t x = 1, y = 1, z = 1;
  Grid(int64_t x_ = 1, int64_t y_ = 1, int64_t z_ = 1) : x(x_), y(y_), z(z_) {}
};

// What Kernel::launch takes as its grid: a Grid and the source location of the launch, so that
// every launch error names the caller's file:line. It converts implicitly from a Grid and from
// braces (`{n}`, `{x, y}`), and both conversions run at the call site, so the defaulted
// std::source_location is the line of the launch whether the grid is written there
// (`k.launch({n}, {}, args...)`) or passed as a variable (`k.launch(grid, opts, args...)`). A
// defaulted location in Grid's own constructor would name the line where a Grid variable was
// made, and a variadic launch cannot take a defaulted parameter after its arguments.
struct GridAt {
  Grid grid;
  std::source_location where;
  GridAt(Grid g, std::source_location w = std::source_location::current()) : grid(g), where(w) {}
  GridAt(int64_t x = 1, int64_t y = 1, int64_t z = 1,
         std::source_location w = std::source_location::current())
      : grid(x, y, z), where(w) {}
};

struct LaunchOptions {
  int num_warps = 4;  // GPU: warps per program (the CPU backend ignores it)
  int num_stages = 2; // GPU: software-pipelining depth (the CPU backend ignores it)
  // CUDA: the stream to launch on (null: the default stream). The simulated device runs every
  // launch to completion before returning, and the CPU backend ignores it.
  const runtime::Stream* stream = nullptr;
  // Where to run. Unset: chosen from the pointer arguments (TensorViews and DeviceBuffer views
  // carry their device; raw pointers count as host memory). Set: raw pointers are taken as
  // addresses on this device (e.g. a `float*` from cudaMalloc), and views must be on it.
  std::optional<DeviceKind> device;
  int device_index = 0; // the CUDA ordinal when `device` is set
  // CPU backend: bounds-check every executed load and store against the TensorViews passed
  // (raw pointers are not checked) and throw tessel::Error at the first out-of-bounds access.
  // Also on for every launch under TESSEL_DEBUG=1. A separate specialization: unchecked
  // launches keep their speed. GPU launches ignore it (TESSEL_DEVICE=sim checks them).
  bool checked = false;
  // Contract a*b + c into one fma (one rounding; Triton's default, enable_fp_fusion) on every
  // backend alike; false keeps the multiply's and the add's own roundings. A specialization of
  // its own. docs/language.md "FMA contraction".
  bool fp_fusion = true;
  // Compile device_assert in and report failing elements (docs/language.md "Debugging"), as
  // Triton's debug=True; also on for every launch under TESSEL_DEBUG=1. On the CPU a debug launch
  // is also `checked`. A specialization of its own: without it asserts cost nothing.
  bool debug = false;
};

namespace detail {

// One launch argument, type-erased without allocation.
struct ArgValue {
  enum class Kind : uint8_t { Pointer, Int, Float };
  Kind kind = Kind::Int;
  DType dtype = DType::i32; // pointers: element type; ints/floats: the C++ type's
  DeviceKind device = DeviceKind::cpu;
  int16_t device_index = 0;         // the CUDA ordinal of a device TensorView
  const char* cpp_type = "";        // for messages: "a pointer", "an integer", ...
  const TensorView* view = nullptr; // a TensorView argument (its bounds, for checked launches)
  bool is_enum = false;             // an enum value (cpp_type: the enum's name), for Const<Enum>
  union {
    const void* ptr;
    int64_t i;
    double f;
  };
  ArgValue() : i(0) {}
};

template <class T> ArgValue to_arg(const T& v) {
  ArgValue a;
  using U = std::remove_cvref_t<T>;
  if constexpr (std::is_array_v<U>) {
    return to_arg(&v[0]);
  } else if constexpr (std::is_pointer_v<U>) {
    using E = std::remove_cv_t<std::remove_pointer_t<U>>;
    static_assert(Element<E>, "a pointer argument must point at bool, int8_t, int16_t, int32_t, "
                              "int64_t, tessel::half, tessel::bfloat16, float or double");
    a.kind = ArgValue::Kind::Pointer;
    a.dtype = dtype_of_v<E>;
    a.ptr = v;
    a.cpp_type = "a pointer";
  } else if constexpr (std::is_same_v<U, TensorView>) {
    a.kind = ArgValue::Kind::Pointer;
    a.dtype = v.dtype;
    a.device = v.device;
    a.device_index = int16_t(v.device_index);
    a.ptr = v.data;
    a.cpp_type = "a TensorView";
    a.view = &v;
  } else if constexpr (std::is_same_v<U, bool>) {
    a.kind = ArgValue::Kind::Int;
    a.dtype = DType::i1;
    a.i = v;
    a.cpp_type = "a bool";
  } else if constexpr (std::is_integral_v<U>) {
    a.kind = ArgValue::Kind::Int;
    a.dtype = sizeof(U) > 4 ? DType::i64 : DType::i32;
    a.i = static_cast<int64_t>(v); // the bits; an unsigned value above INT64_MAX is marked u64
    if constexpr (std::is_unsigned_v<U> && sizeof(U) >= 8)
      if (v > uint64_t(INT64_MAX))
        a.dtype = DType::u64;
    a.cpp_type = "an integer";
  } else if constexpr (std::is_enum_v<U>) {
    a.kind = ArgValue::Kind::Int;
    a.dtype = sizeof(U) > 4 ? DType::i64 : DType::i32;
    a.i = static_cast<int64_t>(v);
    a.is_enum = true;
    a.cpp_type = lang::detail::enum_type_name<U>();
  } else if constexpr (std::is_floating_point_v<U>) {
    a.kind = ArgValue::Kind::Float;
    a.dtype = sizeof(U) > 4 ? DType::f64 : DType::f32;
    a.f = static_cast<double>(v);
    a.cpp_type = "a floating-point number";
  } else if constexpr (std::is_same_v<U, std::nullptr_t>) {
    a.kind = ArgValue::Kind::Pointer;
    a.dtype = DType::f32;
    a.ptr = nullptr;
    a.cpp_type = "nullptr";
  } else {
    static_assert(!sizeof(U*), "unsupported launch argument type: pass a pointer to elements, a "
                               "TensorView, an integer or a floating-point number");
  }
  return a;
}

} // namespace detail

// Where the code a launch ran came from.
enum class KernelSource : uint8_t {
  none,     // no launch yet
  memory,   // the kernel's table of specializations (the hot path)
  disk,     // the on-disk cache: traced, but not compiled (LLVM did not run)
  compiled, // traced and compiled now
};
const char* kernel_source_name(KernelSource s); // "none", "memory", "disk", "compiled"

// Counters of one kernel (for tests and `tessel` tools).
struct KernelStats {
  int64_t traces = 0;     // specializations traced
  int64_t compiles = 0;   // specializations built: compiled now, or loaded from the disk cache
  int64_t disk_loads = 0; // of those, loaded from the disk cache (no LLVM compile)
  int64_t launches = 0;
  KernelSource last_source = KernelSource::none; // of the most recent launch

  int64_t compiled_now() const { return compiles - disk_loads; }
  KernelSource source() const { return last_source; }
};

// Timings of the most recent compile, in milliseconds. A disk-cache hit has trace_ms, cache_ms
// (key, lookup and checks) and link_ms only.
struct CompileTimes {
  double trace_ms = 0, passes_ms = 0, lower_ms = 0, optimize_ms = 0, codegen_ms = 0, link_ms = 0;
  double cache_ms = 0;
  double total_ms() const {
    return trace_ms + passes_ms + lower_ms + optimize_ms + codegen_ms + link_ms + cache_ms;
  }
};

class Kernel {
public:
  explicit Kernel(lang::KernelDef def);
  ~Kernel();
  Kernel(const Kernel&);
  Kernel& operator=(const Kernel&);
  Kernel(Kernel&&) noexcept;
  Kernel& operator=(Kernel&&) noexcept;

  const std::string& name() const;
  const lang::KernelDef& def() const;

  // Runs the kernel on `grid` programs. A mistake in the arguments (count, kinds, element types,
  // null pointers, devices, ranges) throws tessel::Error naming the launch's file:line, the
  // kernel and the parameter.
  template <class... A>
  void launch(GridAt grid, const LaunchOptions& options, const A&... args) const {
    if constexpr (sizeof...(A) == 0) {
      launch_args(grid.grid, options, {}, grid.where);
    } else {
      const detail::ArgValue values[] = {detail::to_arg(args)...};
      launch_args(grid.grid, options, std::span<const detail::ArgValue>(values, sizeof...(A)),
                  grid.where);
    }
  }
  void launch_args(Grid grid, const LaunchOptions& options, std::span<const detail::ArgValue> args,
                   std::source_location where = std::source_location::current()) const;

  // The tile IR of the specialization these arguments select, after the optimisation pipeline
  // (`optimized` false: as traced). Does not compile.
  template <class... A> std::string ir_for(bool optimized, const A&... args) const {
    const detail::ArgValue values[] = {detail::ArgValue(), detail::to_arg(args)...};
    return ir_for_args(optimized, std::span<const detail::ArgValue>(values + 1, sizeof...(A)));
  }
  std::string ir_for_args(bool optimized, std::span<const detail::ArgValue> args) const;

  KernelStats stats() const;
  CompileTimes last_compile_times() const;

  // Compiles one specialization without launching it (tessel/jit/compile.h; jit/compile_api.cpp).
  CompileResult compile(const codegen::Target& target, const Signature& signature) const;
  CompileResult compile(const codegen::Target& target, const Signature& signature,
                        const CompileOptions& options) const;

private:
  friend class Autotuner;
  // launch_args once the arguments are checked: `key` is their signature (jit/signature.h), so
  // that the autotuner, which checked them to find its tuning key, does not check them again.
  void launch_keyed(Grid grid, const LaunchOptions& options, std::span<const detail::ArgValue> args,
                    const jit::SignatureKey& key, std::source_location where) const;

  struct Impl;
  std::shared_ptr<Impl> impl_;
};

namespace detail {
// Splits "out, in, n" into its names and checks them against the parameters of `def`: one C++
// identifier per parameter, no name twice. Throws tessel::Error naming `where` otherwise.
std::vector<std::string> param_names_for(const lang::KernelDef& def, std::string_view names,
                                         std::source_location where);
} // namespace detail

namespace lang {
// Defines a kernel from a lambda whose parameters are tile handles (Ptr, PtrOf<T>, Int, Float,
// Const<T>). Nothing is traced or compiled until the first launch.
template <class F> Kernel kernel(std::string name, F fn) {
  return Kernel(detail::make_kernel_def(std::move(name), std::move(fn)));
}
// The same, with the parameters' names in order, comma-separated (the lambda's own names are
// invisible to C++), so that launch errors and recompile logs say "parameter 'n_cols' (Int)":
//   tl::kernel("softmax", "out, in, stride, n_cols, BLOCK", [](tl::Ptr out, ...) { ... });
// A count that differs from the lambda's parameters is an error here, at the definition.
template <class F>
Kernel kernel(std::string name, std::string_view param_names, F fn,
              std::source_location where = std::source_location::current()) {
  KernelDef def = detail::make_kernel_def(std::move(name), std::move(fn));
  def.param_names = tessel::detail::param_names_for(def, param_names, where);
  return Kernel(std::move(def));
}
} // namespace lang

} // namespace tessel
