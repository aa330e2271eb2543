// Loading libcuda.so.1 with dlopen on first use, and turning driver results into tessel::Error.
#include "runtime/cuda_api.h"

#include "tessel/error.h"

#include <dlfcn.h>

#include <array>
#include <atomic>
#include <cstdlib>
#include <mutex>

namespace tessel::runtime::cuda {
namespace {

struct Loaded {
  Api api{};
  bool ok = false;
  std::string why;
};

template <class F> bool resolve(void* lib, const char* name, F& fn, std::string& missing) {
  fn = reinterpret_cast<F>(::dlsym(lib, name));
  if (!fn)
    missing += std::string(missing.empty() ? "" : ", ") + name;
  return fn != nullptr;
}

Loaded load() {
  Loaded l;
  const char* override_path = std::getenv("TESSEL_CUDA_LIBRARY");
  std::string path = override_path && *override_path ? override_path : "libcuda.so.1";
  void* lib = ::dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL);
  if (!lib) {
    const char* e = ::dlerror();
    l.why = "cannot load " + path + " (" + (e ? e : "unknown error") +
            "): the NVIDIA driver is not installed or not on the library path";
    return l;
  }
  Api& a = l.api;
  std::string missing;
  resolve(lib, "cuInit", a.cuInit, missing);
  resolve(lib, "cuDriverGetVersion", a.cuDriverGetVersion, missing);
  resolve(lib, "cuGetErrorName", a.cuGetErrorName, missing);
  resolve(lib, "cuGetErrorString", a.cuGetErrorString, missing);
  resolve(lib, "cuDeviceGetCount", a.cuDeviceGetCount, missing);
  resolve(lib, "cuDeviceGet", a.cuDeviceGet, missing);
  resolve(lib, "cuDeviceGetName", a.cuDeviceGetName, missing);
  resolve(lib, "cuDeviceGetAttribute", a.cuDeviceGetAttribute, missing);
  resolve(lib, "cuDeviceTotalMem_v2", a.cuDeviceTotalMem, missing);
  resolve(lib, "cuDevicePrimaryCtxRetain", a.cuDevicePrimaryCtxRetain, missing);
  resolve(lib, "cuCtxSetCurrent", a.cuCtxSetCurrent, missing);
  resolve(lib, "cuCtxGetCurrent", a.cuCtxGetCurrent, missing);
  resolve(lib, "cuCtxSynchronize", a.cuCtxSynchronize, missing);
  resolve(lib, "cuMemAlloc_v2", a.cuMemAlloc, missing);
  resolve(lib, "cuMemFree_v2", a.cuMemFree, missing);
  resolve(lib, "cuMemcpyHtoD_v2", a.cuMemcpyHtoD, missing);
  resolve(lib, "cuMemcpyDtoH_v2", a.cuMemcpyDtoH, missing);
  resolve(lib, "cuMemcpyDtoD_v2", a.cuMemcpyDtoD, missing);
  resolve(lib, "cuMemcpyHtoDAsync_v2", a.cuMemcpyHtoDAsync, missing);
  resolve(lib, "cuMemcpyDtoHAsync_v2", a.cuMemcpyDtoHAsync, missing);
  resolve(lib, "cuMemsetD8_v2", a.cuMemsetD8, missing);
  resolve(lib, "cuStreamCreate", a.cuStreamCreate, missing);
  resolve(lib, "cuStreamDestroy_v2", a.cuStreamDestroy, missing);
  resolve(lib, "cuStreamSynchronize", a.cuStreamSynchronize, missing);
  resolve(lib, "cuEventCreate", a.cuEventCreate, missing);
  resolve(lib, "cuEventDestroy_v2", a.cuEventDestroy, missing);
  resolve(lib, "cuEventRecord", a.cuEventRecord, missing);
  resolve(lib, "cuEventSynchronize", a.cuEventSynchronize, missing);
  resolve(lib, "cuEventElapsedTime", a.cuEventElapsedTime, missing);
  resolve(lib, "cuModuleLoadData", a.cuModuleLoadData, missing);
  resolve(lib, "cuModuleUnload", a.cuModuleUnload, missing);
  resolve(lib, "cuModuleGetFunction", a.cuModuleGetFunction, missing);
  resolve(lib, "cuFuncGetAttribute", a.cuFuncGetAttribute, missing);
  resolve(lib, "cuFuncSetAttribute", a.cuFuncSetAttribute, missing);
  resolve(lib, "cuLaunchKernelEx", a.cuLaunchKernelEx, missing);
  resolve(lib, "cuPointerGetAttribute", a.cuPointerGetAttribute, missing);
  a.cuTensorMapEncodeTiled = reinterpret_cast<decltype(a.cuTensorMapEncodeTiled)>(
      ::dlsym(lib, "cuTensorMapEncodeTiled")); // optional: TMA kernels only
  if (!missing.empty()) {
    l.why = path + " lacks " + missing + ": the driver is older than CUDA 12; update it";
    return l;
  }
  Dl_info info{};
  a.library =
      ::dladdr(reinterpret_cast<void*>(a.cuInit), &info) && info.dli_fname ? info.dli_fname : path;
  if (CUresult r = a.cuInit(0); r != CUDA_SUCCESS) {
    l.ok = false;
    const char* name = nullptr;
    const char* text = nullptr;
    a.cuGetErrorName(r, &name);
    a.cuGetErrorString(r, &text);
    l.why = std::string("cuInit failed: ") + (name ? name : "?") + " (" + (text ? text : "?") + ")";
    return l;
  }
  l.ok = true;
  return l;
}

std::atomic<bool> g_loaded{false};

const Loaded& loaded() {
  static const Loaded l = [] {
    Loaded r = load();
    g_loaded.store(r.ok, std::memory_order_release);
    return r;
  }();
  return l;
}

} // namespace

bool already_loaded() { return g_loaded.load(std::memory_order_acquire); }

const Api* try_api(std::string* why) {
  const Loaded& l = loaded();
  if (!l.ok && why)
    *why = l.why;
  return l.ok ? &l.api : nullptr;
}

const Api& api(std::string_view doing) {
  const Loaded& l = loaded();
  if (!l.ok)
    throw Error("CUDA is not available while " + std::string(doing) + ": " + l.why +
                ". Kernels still run on the CPU backend with host memory.");
  return l.api;
}

std::string error_text(CUresult r) {
  const Api* a = try_api();
  const char* name = nullptr;
  const char* text = nullptr;
  if (a) {
    a->cuGetErrorName(r, &name);
    a->cuGetErrorString(r, &text);
  }
  return std::string(name ? name : "CUDA error " + std::to_string(r)) + " (" +
         (text ? text : "no description") + ")";
}

void fail(CUresult r, const char* call, std::string_view doing) {
  throw Error(std::string("CUDA driver call ") + call + " failed while " + std::string(doing) +
              ": " + error_text(r));
}

void make_current(int ordinal) {
  // Lock-free once the device's primary context is retained: one atomic load and one
  // cuCtxGetCurrent (another library on this thread may have changed the current context).
  constexpr int kMaxDevices = 64;
  static std::array<std::atomic<CUcontext>, kMaxDevices> contexts{};
  static std::mutex mutex;
  TESSEL_ASSERT(ordinal >= 0 && ordinal < kMaxDevices, "device ordinal out of range");
  const Api& a = api("selecting a CUDA device");
  CUcontext ctx = contexts[size_t(ordinal)].load(std::memory_order_acquire);
  if (!ctx) {
    std::lock_guard lock(mutex);
    ctx = contexts[size_t(ordinal)].load(std::memory_order_acquire);
    if (!ctx) {
      CUdevice dev = 0;
      std::string doing = "selecting CUDA device " + std::to_string(ordinal);
      check(a.cuDeviceGet(&dev, ordinal), "cuDeviceGet", doing);
      check(a.cuDevicePrimaryCtxRetain(&ctx, dev), "cuDevicePrimaryCtxRetain", doing);
      contexts[size_t(ordinal)].store(ctx, std::memory_order_release);
    }
  }
  CUcontext current = nullptr;
  if (a.cuCtxGetCurrent(&current) == CUDA_SUCCESS && current == ctx)
    return;
  check(a.cuCtxSetCurrent(ctx), "cuCtxSetCurrent",
        "selecting CUDA device " + std::to_string(ordinal));
}

} // namespace tessel::runtime::cuda
