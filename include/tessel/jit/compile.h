// Compiling a kernel without launching it: the IR, LLVM IR, PTX, cubin and resource report of one
// specialization, for a GPU target or the CPU, from example arguments or an explicit signature.
//
//   tessel::CompileResult r = add.compile(tessel::Target::parse("sm_90a"),
//                                         tessel::Signature::from_args(out, a, b, n, 1024));
//   std::cout << r.ptx << r.resources.registers;
//
//   using P = tessel::SignatureParam;                       // the same specialization, by hand
//   tessel::Signature sig{{P::pointer(tessel::DType::f32, 16, "out"), P::pointer(..., "a"),
//                          P::pointer(..., "b"), P::integer(16, "n"), P::constant(1024, "BLOCK")}};
//
// A signature says what the compiled code may assume about each argument — the same facts a
// launch derives from its arguments (kernel.h): a pointer's element type and whether it is 16-byte
// aligned, whether an integer equals 1 or is divisible by 16, and the value of a Const parameter.
// Signature::from_args derives them from values exactly as a launch does, so a compile from the
// launch's arguments produces the code that launch runs.
//
// compile() goes through the JIT's pipeline and its disk cache: a specialization compiled by a
// launch (or an earlier compile) comes back from the disk cache without running LLVM or
// nvJitLink, and one compiled here is stored for later launches. What a result holds:
//
//   field                      GPU, compiled now  GPU, from disk  CPU, compiled now  CPU, from disk
//   traced_ir, optimized_ir    yes                yes             yes                yes
//   final_ir (with layouts)    yes                -               -                  -
//   llvm_ir                    yes                -               yes                -
//   ptx                        yes                yes             -                  -
//   assembly (host asm)        -                  -               yes                -
//   binary                     cubin              cubin           ELF object         ELF object
//   resources, shared_bytes    yes                yes             -                  -
//   info_log (nvJitLink)       yes                -               -                  -
//
// CompileOptions::until stops earlier (no disk cache then): `ir` traces and optimises only,
// `llvm` stops after LLVM IR (GPU: also final_ir), `ptx` after PTX (GPU; no cubin, no resources).
// CompileOptions::cache = CacheMode::off compiles now and leaves the disk cache alone.
#pragma once

#include "tessel/codegen/gpu.h"
#include "tessel/codegen/target.h"
#include "tessel/dtype.h"
#include "tessel/jit/kernel.h"

#include <cstdint>
#include <span>
#include <string>
#include <vector>

namespace tessel {

using Target = codegen::Target;
using ResourceReport = codegen::gpu::ResourceReport;

// What one parameter's compiled code may assume.
struct SignatureParam {
  enum class Kind : uint8_t {
    pointer,  // Ptr / PtrOf<T>
    integer,  // Int; from example arguments also any integer (a Const's value, too)
    floating, // Float; from example arguments also any floating-point number
    constant, // Const<T>: the value is compiled in
  };
  Kind kind = Kind::integer;
  std::string name;         // for messages, defines (NAME=VALUE) and listings; may be empty
  DType dtype = DType::i32; // pointer: element type; constant: the value's type (set by compile)
  int alignment = 16;       // pointer: 16 (16-byte aligned) or 1 (nothing known)
  int divisibility = 16;    // integer: 16 (divisible by 16) or 1 (nothing known)
  bool equals_one = false;  // integer: the value is 1 (compiled in as the constant 1)
  // An example argument's value (integer, floating) or a constant's value.
  bool has_value = false;
  int64_t int_value = 0;
  double float_value = 0;

  static SignatureParam pointer(DType element, int alignment = 16, std::string name = {});
  static SignatureParam integer(int divisibility = 16, std::string name = {});
  static SignatureParam integer_one(std::string name = {});
  static SignatureParam floating(std::string name = {});
  static SignatureParam constant(int64_t value, std::string name = {});
  static SignatureParam constant_float(double value, std::string name = {});

  // Same specialization (names are not compared).
  bool operator==(const SignatureParam& o) const;
  // "out: *f32 align 16", "n: i32 div 16", "BLOCK = 1024".
  std::string to_string() const;
};

// One SignatureParam per kernel parameter, in order.
struct Signature {
  std::vector<SignatureParam> params;

  // What a launch with these arguments would assume (pointers, TensorViews, integers, floats).
  template <class... A> static Signature from_args(const A&... args) {
    const detail::ArgValue values[] = {detail::ArgValue(), detail::to_arg(args)...};
    return from_arg_values(std::span<const detail::ArgValue>(values + 1, sizeof...(A)));
  }
  static Signature from_arg_values(std::span<const detail::ArgValue> args);

  bool operator==(const Signature& o) const { return params == o.params; }
  // "(out: *f32 align 16, a: ..., BLOCK = 1024)".
  std::string to_string() const;
};

// Applies `-D`-style defines (NAME=VALUE) to a signature with parameter names: a constant's value
// (BLOCK=2048), a pointer's element type (in=f16; DTYPE=f16 sets every pointer whose type the
// kernel does not fix), a pointer's alignment (in.align=16 or in.align=any), an integer's known
// divisibility (n=16, n=1: equals 1, n=any: nothing known). Throws tessel::Error naming the
// parameters when a name or value is bad.
Signature apply_defines(const Kernel& kernel, Signature signature,
                        const std::vector<std::string>& defines);

enum class CompileUntil : uint8_t { ir, llvm, ptx, binary };
enum class CacheMode : uint8_t { read_write, off };

struct CompileOptions {
  int num_warps = 4;     // GPU: warps per program, a power of two from 1 to 32
  int num_stages = 2;    // GPU: software-pipelining depth, 1 to 16
  bool line_info = true; // GPU: .loc directives pointing at the kernel's source lines
  bool fp_fusion = true; // contract a*b + c into fma (docs/language.md "FMA contraction")
  bool debug = false;    // keep device_assert (docs/language.md "Debugging"); CPU: also checked
  bool wgmma = true;     // sm_90a: dots on wgmma where the tile allows (false: mma.sync)
  CompileUntil until = CompileUntil::binary;
  CacheMode cache = CacheMode::read_write; // only `binary` uses the disk cache
};

// Milliseconds per stage; zero for stages that did not run.
struct CompileStageTimes {
  double trace_ms = 0;
  double passes_ms = 0;    // tile-IR optimisation pipeline
  double cache_ms = 0;     // disk cache: key, lookup, store
  double layout_ms = 0;    // GPU: axis analysis and layout assignment
  double lower_ms = 0;     // tile IR -> LLVM IR
  double libdevice_ms = 0; // GPU: reading and linking libdevice
  double optimize_ms = 0;  // LLVM O3
  double codegen_ms = 0;   // LLVM IR -> PTX (GPU) or object code (CPU)
  double link_ms = 0;      // nvJitLink (GPU) or ORC linking (CPU)
  double total_ms() const {
    return trace_ms + passes_ms + cache_ms + layout_ms + lower_ms + libdevice_ms + optimize_ms +
           codegen_ms + link_ms;
  }
};

struct CompileResult {
  std::string kernel; // the kernel's name
  std::string entry;  // the PTX entry / the tile-IR function's name
  Target target;
  Signature signature; // as compiled: kinds resolved against the kernel (Const -> constant)
  int num_warps = 0, num_stages = 0;
  KernelSource source = KernelSource::compiled; // disk (no LLVM ran) or compiled
  std::string cache_key;                        // empty when the disk cache was not used

  std::string traced_ir, optimized_ir, final_ir, llvm_ir, ptx, assembly;
  std::string binary;   // the cubin (GPU) or relocatable object code (CPU)
  std::string info_log; // nvJitLink's
  ResourceReport resources;
  int64_t shared_bytes = 0; // GPU: dynamic shared memory to launch with
  // GPU: tensor maps the kernel takes after its arguments (TMA descriptors on sm_90a), which a
  // launch builds from the arguments; AOT bundles do not carry them.
  int tensor_maps = 0;
  CompileStageTimes times;
};

} // namespace tessel
