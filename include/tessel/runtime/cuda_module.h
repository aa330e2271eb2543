// Loading cubins and launching their kernels: the seam between the GPU code generator (which
// produces a cubin, an entry name and launch dimensions) and the device. A cubin loads without the
// driver's PTX JIT, so a warm start from the disk cache costs the module load only.
//
//   auto module = tessel::runtime::CudaModule::from_cubin(cubin_bytes, "softmax");
//   tessel::runtime::CudaFunction fn = module.function("softmax");
//   tessel::runtime::LaunchDims dims;
//   dims.grid = {rows, 1, 1};
//   dims.block = {num_warps * 32, 1, 1};
//   dims.shared_bytes = 64 << 10;   // > 48 KiB: opted in per function, once
//   void* params[] = {&out, &in, &n};
//   tessel::runtime::launch(fn, dims, params, stream);
#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

namespace tessel::runtime {

class Stream;

struct LaunchDims {
  std::array<uint32_t, 3> grid{1, 1, 1};
  std::array<uint32_t, 3> block{128, 1, 1}; // num_warps * 32 threads along x
  uint32_t shared_bytes = 0;                // dynamic shared memory per block
  std::array<uint32_t, 3> cluster{0, 0, 0}; // thread-block cluster (sm_90); 0 = none
};

// A kernel in a loaded module. Cheap to copy; valid while its module lives.
class CudaFunction {
public:
  CudaFunction() = default;
  void* handle() const { return handle_; } // a CUfunction
  const std::string& name() const { return state_->name; }
  int device() const { return state_->device; }
  int num_registers() const;
  int static_shared_bytes() const;

private:
  friend class CudaModule;
  friend void launch(const CudaFunction&, const LaunchDims&, void**, const Stream*);
  struct State {
    std::string name;
    int device = 0;
    std::atomic<uint32_t> dynamic_shared_limit{48 << 10}; // opted in up to this many bytes
  };
  void* handle_ = nullptr;
  std::shared_ptr<State> state_;
};

class CudaModule {
public:
  // Loads a cubin (ELF) or a fatbin on `device`; `what` names it in errors (the kernel's name).
  static CudaModule from_cubin(std::string_view cubin, std::string_view what, int device = 0);
  // Loads PTX (the driver compiles it: slow; only for tests and tools).
  static CudaModule from_ptx(const std::string& ptx, std::string_view what, int device = 0);

  CudaFunction function(const std::string& entry) const;
  void* handle() const; // a CUmodule

private:
  struct Loaded;
  std::shared_ptr<Loaded> loaded_;
};

// Launches `fn` with cuLaunchKernelEx: `params` holds one pointer per kernel parameter, pointing
// at its value; `stream` null means the default stream. Checks the dimensions against the
// device's limits (a tessel::Error names the limit), and opts in to dynamic shared memory above
// 48 KiB. No heap allocation and no lock once the function was launched with this much shared
// memory before.
void launch(const CudaFunction& fn, const LaunchDims& dims, void** params,
            const Stream* stream = nullptr);

} // namespace tessel::runtime
