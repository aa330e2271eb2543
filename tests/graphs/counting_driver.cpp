// A stand-in for libcuda.so.1 that counts every call, for the warm-path test on machines without
// a GPU (TESSEL_CUDA_LIBRARY points tessel's dlopen at this library; runtime/cuda_driver.cpp).
// It exports the versioned entry points tessel resolves, reports one sm_90 device, keeps "device
// memory" in host memory and accepts cubins without running them: a launch only counts. What it
// is for is the log, `tessel_counting_driver_*`, which says which driver calls the code under
// test made — the question "is the warm launch path capturable into a CUDA graph" is a question
// about that sequence, not about the kernel's results (tests/graphs/capture_test.cpp checks those
// on a real GPU).
#include "runtime/cuda_api.h"

#include <array>
#include <atomic>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <set>

using namespace tessel::runtime::cuda;

namespace {

// The log allocates nothing once made, so the test can also count the heap allocations of the
// code under test (warm_path_test.cpp replaces operator new) without seeing the driver's own.
struct Log {
  static constexpr size_t kCalls = 64, kSequence = 1 << 16;
  std::mutex mutex;
  std::array<const char*, kCalls> names{}; // string literals: compared by content
  std::array<long, kCalls> counts{};
  std::array<char, kSequence> sequence{}; // "cuCtxGetCurrent cuLaunchKernelEx ..."
  size_t length = 0;
  std::set<uintptr_t> allocations;

  long& count_of(const char* call) {
    size_t i = 0;
    while (names[i] && std::strcmp(names[i], call) != 0)
      ++i;
    names[i] = call;
    return counts[i];
  }
};

Log& log() {
  static Log* l = new Log; // never destroyed: tessel frees buffers during static destruction
  return *l;
}

CUresult note(const char* call) {
  Log& l = log();
  std::lock_guard lock(l.mutex);
  ++l.count_of(call);
  size_t n = std::strlen(call);
  if (l.length + n + 2 < l.sequence.size()) { // a longer log is cut, never overrun
    if (l.length)
      l.sequence[l.length++] = ' ';
    std::memcpy(l.sequence.data() + l.length, call, n);
    l.length += n;
    l.sequence[l.length] = '\0';
  }
  return CUDA_SUCCESS;
}

int attribute(int a) {
  switch (a) {
  case kMaxThreadsPerBlock:
    return 1024;
  case kMaxBlockDimX:
  case kMaxBlockDimY:
    return 1024;
  case kMaxBlockDimZ:
    return 64;
  case kMaxGridDimX:
    return 2147483647;
  case kMaxGridDimY:
  case kMaxGridDimZ:
    return 65535;
  case kMaxSharedMemoryPerBlock:
    return 48 << 10;
  case kWarpSize:
    return 32;
  case kMaxRegistersPerBlock:
    return 65536;
  case kMultiprocessorCount:
    return 132;
  case kComputeCapabilityMajor:
    return 9;
  case kComputeCapabilityMinor:
    return 0;
  case kMaxSharedMemoryPerMultiprocessor:
    return 228 << 10;
  case kMaxSharedMemoryPerBlockOptin:
    return 227 << 10;
  }
  return 0;
}

thread_local CUcontext t_current = nullptr;
int g_context_token, g_module_token, g_function_token;
std::atomic<uintptr_t> g_next_handle{0x1000};

template <class T> T next_handle() { return reinterpret_cast<T>(g_next_handle.fetch_add(16)); }

} // namespace

extern "C" {

// The log, read by the test through dlsym.
void tessel_counting_driver_reset() {
  Log& l = log();
  std::lock_guard lock(l.mutex);
  l.counts.fill(0);
  l.length = 0;
  l.sequence[0] = '\0';
}
long tessel_counting_driver_count(const char* call) {
  Log& l = log();
  std::lock_guard lock(l.mutex);
  return l.count_of(call);
}
// Every call since the last reset, in order; valid until the next driver call.
const char* tessel_counting_driver_sequence() {
  Log& l = log();
  std::lock_guard lock(l.mutex);
  return l.sequence.data();
}

CUresult cuInit(unsigned) { return note("cuInit"); }
CUresult cuDriverGetVersion(int* v) {
  *v = 13000;
  return note("cuDriverGetVersion");
}
CUresult cuGetErrorName(CUresult, const char** s) {
  *s = "CUDA_ERROR_COUNTING_DRIVER";
  return 0;
}
CUresult cuGetErrorString(CUresult, const char** s) {
  *s = "counting driver";
  return 0;
}
CUresult cuDeviceGetCount(int* n) {
  *n = 1;
  return note("cuDeviceGetCount");
}
CUresult cuDeviceGet(CUdevice* d, int ordinal) {
  *d = ordinal;
  return ordinal == 0 ? note("cuDeviceGet") : CUDA_ERROR_INVALID_VALUE;
}
CUresult cuDeviceGetName(char* name, int len, CUdevice) {
  std::strncpy(name, "tessel counting driver (sm_90)", size_t(len));
  return note("cuDeviceGetName");
}
CUresult cuDeviceGetAttribute(int* v, int a, CUdevice) {
  *v = attribute(a);
  return note("cuDeviceGetAttribute");
}
CUresult cuDeviceTotalMem_v2(size_t* bytes, CUdevice) {
  *bytes = size_t(1) << 34;
  return note("cuDeviceTotalMem");
}
CUresult cuDevicePrimaryCtxRetain(CUcontext* c, CUdevice) {
  *c = reinterpret_cast<CUcontext>(&g_context_token);
  return note("cuDevicePrimaryCtxRetain");
}
CUresult cuCtxSetCurrent(CUcontext c) {
  t_current = c;
  return note("cuCtxSetCurrent");
}
CUresult cuCtxGetCurrent(CUcontext* c) {
  *c = t_current;
  return note("cuCtxGetCurrent");
}
CUresult cuCtxSynchronize() { return note("cuCtxSynchronize"); }
CUresult cuMemAlloc_v2(CUdeviceptr* p, size_t bytes) {
  void* m = std::aligned_alloc(256, (bytes + 255) / 256 * 256);
  *p = CUdeviceptr(uintptr_t(m));
  {
    std::lock_guard lock(log().mutex);
    log().allocations.insert(uintptr_t(m));
  }
  return note("cuMemAlloc");
}
CUresult cuMemFree_v2(CUdeviceptr p) {
  {
    std::lock_guard lock(log().mutex);
    log().allocations.erase(uintptr_t(p));
  }
  std::free(reinterpret_cast<void*>(uintptr_t(p)));
  return note("cuMemFree");
}
CUresult cuMemcpyHtoD_v2(CUdeviceptr d, const void* s, size_t n) {
  std::memcpy(reinterpret_cast<void*>(uintptr_t(d)), s, n);
  return note("cuMemcpyHtoD");
}
CUresult cuMemcpyDtoH_v2(void* d, CUdeviceptr s, size_t n) {
  std::memcpy(d, reinterpret_cast<const void*>(uintptr_t(s)), n);
  return note("cuMemcpyDtoH");
}
CUresult cuMemcpyDtoD_v2(CUdeviceptr d, CUdeviceptr s, size_t n) {
  std::memcpy(reinterpret_cast<void*>(uintptr_t(d)), reinterpret_cast<const void*>(uintptr_t(s)),
              n);
  return note("cuMemcpyDtoD");
}
CUresult cuMemcpyHtoDAsync_v2(CUdeviceptr d, const void* s, size_t n, CUstream) {
  std::memcpy(reinterpret_cast<void*>(uintptr_t(d)), s, n);
  return note("cuMemcpyHtoDAsync");
}
CUresult cuMemcpyDtoHAsync_v2(void* d, CUdeviceptr s, size_t n, CUstream) {
  std::memcpy(d, reinterpret_cast<const void*>(uintptr_t(s)), n);
  return note("cuMemcpyDtoHAsync");
}
CUresult cuMemsetD8_v2(CUdeviceptr d, unsigned char v, size_t n) {
  std::memset(reinterpret_cast<void*>(uintptr_t(d)), v, n);
  return note("cuMemsetD8");
}
CUresult cuStreamCreate(CUstream* s, unsigned) {
  *s = next_handle<CUstream>();
  return note("cuStreamCreate");
}
CUresult cuStreamDestroy_v2(CUstream) { return note("cuStreamDestroy"); }
CUresult cuStreamSynchronize(CUstream) { return note("cuStreamSynchronize"); }
CUresult cuEventCreate(CUevent* e, unsigned) {
  *e = next_handle<CUevent>();
  return note("cuEventCreate");
}
CUresult cuEventDestroy_v2(CUevent) { return note("cuEventDestroy"); }
CUresult cuEventRecord(CUevent, CUstream) { return note("cuEventRecord"); }
CUresult cuEventSynchronize(CUevent) { return note("cuEventSynchronize"); }
CUresult cuEventElapsedTime(float* ms, CUevent, CUevent) {
  *ms = 1;
  return note("cuEventElapsedTime");
}
CUresult cuModuleLoadData(CUmodule* m, const void* image) {
  if (std::memcmp(image,
                  "\x7f"
                  "ELF",
                  4) != 0 &&
      std::memcmp(image, "\x50\xed\x55\xba", 4) != 0)
    return 200; // CUDA_ERROR_INVALID_IMAGE
  *m = reinterpret_cast<CUmodule>(&g_module_token);
  return note("cuModuleLoadData");
}
CUresult cuModuleUnload(CUmodule) { return note("cuModuleUnload"); }
CUresult cuModuleGetFunction(CUfunction* f, CUmodule, const char*) {
  *f = reinterpret_cast<CUfunction>(&g_function_token);
  return note("cuModuleGetFunction");
}
CUresult cuFuncGetAttribute(int* v, int, CUfunction) {
  *v = 0;
  return note("cuFuncGetAttribute");
}
CUresult cuFuncSetAttribute(CUfunction, int, int) { return note("cuFuncSetAttribute"); }
CUresult cuLaunchKernelEx(const LaunchConfig*, CUfunction, void**, void**) {
  return note("cuLaunchKernelEx");
}
CUresult cuPointerGetAttribute(void* out, int attr, CUdeviceptr p) {
  note("cuPointerGetAttribute");
  std::lock_guard lock(log().mutex);
  if (!log().allocations.count(uintptr_t(p)))
    return CUDA_ERROR_INVALID_VALUE;
  if (attr == kPointerAttributeMemoryType)
    *static_cast<unsigned*>(out) = kMemoryTypeDevice;
  else
    *static_cast<int*>(out) = 0;
  return CUDA_SUCCESS;
}

} // extern "C"
