// Ahead-of-time kernel bundles: kernels that `tessel aot` compiled to cubins (and PTX) for a list
// of GPU targets, loaded and launched by libtessel_runtime, a small library with no LLVM in it.
// An application that ships a bundle needs neither LLVM nor a compile at run time:
//
//   // tessel aot --kernels vector_add --targets sm_80,sm_90a --out kernels/ -D n=any
//   #include "kernels/tessel_aot.h"        // generated: one typed function per kernel
//   tessel::aot::Bundle bundle = tessel::aot::Bundle::load("kernels");
//   tessel_aot::vector_add(bundle, {.grid = {(n + 1023) / 1024}}, out, a, b, n);
//
// Pointer arguments are device addresses: a CUDA allocation, or on the simulated device
// (TESSEL_DEVICE=sim) the address of a runtime::DeviceBuffer. The device a launch runs on is
// Launch::device (default: runtime::selected_device(), i.e. TESSEL_DEVICE, else CUDA).
//
// Which code runs: on a CUDA GPU, the bundle's cubin for the GPU's own SM version, else for the
// closest older target of the same major version (cubins run on later minors), sm_90a on an
// sm_90 GPU; on the simulated device, the PTX of runtime::sim_target_name() (sm_80 unless
// TESSEL_SIM_TARGET says otherwise). When the bundle has no such target, a process that also
// links libtessel compiles the kernel from the tile IR the bundle carries (the JIT fallback, see
// docs/runtime.md); without libtessel it is a tessel::Error naming the targets the bundle has.
//
// Errors (all tessel::Error, naming the bundle's directory): a bundle of another format or tessel
// version, a missing or corrupt file (size and checksum are checked when a target is first
// loaded), a kernel the bundle lacks, arguments that break what the kernel was compiled to assume
// (a pointer not 16-byte aligned, an integer not divisible by 16: rebuild with -D NAME=any), and
// "no CUDA device" at the first launch on a machine without one.
//
// The warm path (a kernel launched before on this device) allocates nothing, takes no lock and
// calls only cuLaunchKernelEx (plus cuCtxGetCurrent), so launches can be captured into a CUDA
// graph.
#pragma once

#include "tessel/runtime/tensor_view.h"

#include <array>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace tessel::runtime {
class Stream;
}

namespace tessel::aot {

// The bundle format this library reads, and the kernel ABI it launches (how arguments are packed).
inline constexpr int kBundleFormat = 1;
inline constexpr int kKernelAbi = 1;

struct Grid {
  int64_t x = 1, y = 1, z = 1;
};

struct Launch {
  Grid grid;
  const runtime::Stream* stream = nullptr; // CUDA: null is the default stream
  // Where to run: cuda or sim; cpu (the default) means runtime::selected_device().
  DeviceKind device = DeviceKind::cpu;
  int device_index = 0; // the CUDA ordinal
};

// What the generated header knows of a kernel: its name and the argument layout it packs, e.g.
// "out:ptr:f32:a16 n:i32:d16". A launch checks it against the bundle's manifest, so a header
// from another bundle is an error, never a wrong launch.
struct KernelAbi {
  const char* name;
  const char* params;
};

// The JIT fallback's hook, defined by libtessel (jit/aot_fallback.cpp) and found with
// dlsym(RTLD_DEFAULT) when a bundle lacks the device's target: compiles the kernel's traced tile
// IR for `target` ("sm_86") through libtessel's disk cache. Returns 0 and fills the cubin and the
// PTX (malloc'd; the caller frees them) and the dynamic shared memory, or returns nonzero with a
// malloc'd error message in *cubin.
using JitFallbackFn = int (*)(const char* ir, size_t ir_size, const char* target, int num_warps,
                              int num_stages, char** cubin, size_t* cubin_size, char** ptx,
                              size_t* ptx_size, long long* shared_bytes);
inline constexpr const char* kJitFallbackSymbol = "tessel_aot_jit_compile_v1";

class Bundle {
public:
  // Reads and checks DIR/manifest.tsv. Throws tessel::Error for a missing or malformed manifest
  // or one written for another bundle format, kernel ABI or tessel version.
  static Bundle load(const std::string& dir);

  const std::string& directory() const;
  std::vector<std::string> kernel_names() const;
  std::vector<std::string> targets() const; // "sm_80", "sm_90a", ...
  // The tessel version that made the bundle.
  const std::string& tessel_version() const;

  // Launches `abi.name` with `params` (one pointer per kernel argument, pointing at its value:
  // the cuLaunchKernel convention). What the generated functions call.
  void launch(const KernelAbi& abi, const Launch& launch, void** params) const;

  // Reads every file of the bundle and checks its size and checksum against the manifest (a
  // launch checks only the file it loads); throws tessel::Error naming the first bad file.
  void verify() const;

  // The target whose code runs on `device` (loading nothing): "sm_90a", or "jit sm_86" when the
  // JIT fallback would compile it. Throws the error a launch would.
  std::string target_for(DeviceKind device, int device_index = 0) const;

  struct State;

private:
  std::shared_ptr<State> state_;
};

} // namespace tessel::aot
