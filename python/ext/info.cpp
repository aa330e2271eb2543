// tessel.cache_stats(), tessel.doctor() and the build's identity (info.h).
#include "ext/info.h"

#include "ext/kernels.h"

#include "tessel/jit/cache_stats.h"
#include "tessel/jit/doctor.h"
#include "tessel/jit/registry.h"
#include "tessel/runtime/device.h"
#include "tessel/version.h"

#include <dlfcn.h>

#include <nanobind/stl/string.h>
#include <nanobind/stl/vector.h>

namespace tessel::python {
namespace {

namespace nb = nanobind;

// The on-disk cache's figures, and per kernel of the registry that this process traced or
// launched, where its code came from (memory, disk, compiled).
nb::dict cache_stats() {
  DiskCacheStats s = disk_cache_stats();
  nb::dict d;
  d["directory"] = s.directory;
  d["enabled"] = s.enabled;
  d["writable"] = s.writable;
  d["entries"] = s.entries;
  d["bytes"] = s.bytes;
  d["max_bytes"] = s.max_bytes;
  d["read_only_dirs"] = s.read_only_dirs;
  d["read_only_entries"] = s.read_only_entries;
  d["read_only_bytes"] = s.read_only_bytes;
  nb::dict kernels;
  for (const RegisteredKernel& k : registered_kernels()) {
    KernelStats ks = k.kernel().stats();
    if (ks.traces || ks.launches)
      kernels[k.name.c_str()] = kernel_stats(k.kernel());
  }
  d["kernels"] = kernels;
  return d;
}

// The file libtessel was loaded from (so doctor() says which one a process uses).
std::string libtessel_path() {
  Dl_info info{};
  if (::dladdr(reinterpret_cast<void*>(&tessel::build_id), &info) && info.dli_fname)
    return info.dli_fname;
  return "";
}

} // namespace

void register_info(nb::module_& m) {
  m.def("cache_stats", &cache_stats,
        "The on-disk kernel cache (directory, entries, bytes, max_bytes, read-only tiers) and, "
        "per registered kernel this process used, traces/compiles/disk_loads/launches.");
  m.def("doctor_text", &doctor_text, "`tessel doctor`'s report for this process.");
  m.def("libtessel_path", &libtessel_path, "The libtessel this extension loaded.");
  m.def("build_id", [] { return tessel::build_id(); });
  m.def("cuda_available", &runtime::cuda_available,
        "Whether the CUDA driver loaded (tensors in CUDA memory can then run on the GPU).");
  m.attr("__version__") = tessel::version();
}

} // namespace tessel::python
