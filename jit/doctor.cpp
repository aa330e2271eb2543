// `tessel doctor`'s report (tessel/jit/doctor.h): tessel's and LLVM's versions, the CUDA toolkit
// (nvcc, libdevice, headers) and nvJitLink, the driver and its GPUs, the GPU device selection and
// the kernel cache. Part of libtessel, so that every front end (the `tessel` command, the Python
// package) reports the same lines.
#include "tessel/jit/doctor.h"

#include "jit/disk_cache.h"
#include "tessel/codegen/cpu.h"
#include "tessel/error.h"
#include "tessel/runtime/device.h"
#include "tessel/version.h"

#include <dlfcn.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

namespace tessel {
namespace {

bool exists(const std::string& path) { return ::access(path.c_str(), F_OK) == 0; }

// The toolkit root: $CUDA_HOME, $CUDA_PATH, the directory above the nvcc on PATH, /usr/local/cuda.
std::string find_toolkit() {
  std::vector<std::string> candidates;
  for (const char* var : {"CUDA_HOME", "CUDA_PATH"})
    if (const char* v = std::getenv(var); v && *v)
      candidates.emplace_back(v);
  if (const char* path = std::getenv("PATH")) {
    std::stringstream ss(path);
    std::string dir;
    while (std::getline(ss, dir, ':'))
      if (!dir.empty() && exists(dir + "/nvcc"))
        candidates.push_back(dir + "/..");
  }
  candidates.emplace_back("/usr/local/cuda");
  for (const std::string& c : candidates)
    if (exists(c + "/include/cuda.h") || exists(c + "/bin/nvcc")) {
      char resolved[4096];
      return ::realpath(c.c_str(), resolved) ? resolved : c;
    }
  return "";
}

// "13.0" from CUDA_VERSION in cuda.h.
std::string toolkit_version(const std::string& root) {
  std::ifstream in(root + "/include/cuda.h");
  std::string l;
  while (std::getline(in, l))
    if (l.rfind("#define CUDA_VERSION ", 0) == 0) {
      int v = std::atoi(l.c_str() + 21);
      return std::to_string(v / 1000) + "." + std::to_string(v % 1000 / 10);
    }
  return "unknown version";
}

// nvJitLink: the soname on the library path, else the toolkit's copy.
std::string find_nvjitlink(const std::string& toolkit, std::string& version) {
  std::vector<std::string> names = {"libnvJitLink.so.13", "libnvJitLink.so.12", "libnvJitLink.so"};
  if (!toolkit.empty())
    for (const char* dir : {"/lib64/", "/lib/"})
      names.push_back(toolkit + dir + "libnvJitLink.so");
  for (const std::string& name : names) {
    void* lib = ::dlopen(name.c_str(), RTLD_NOW | RTLD_LOCAL);
    if (!lib)
      continue;
    using VersionFn = int (*)(unsigned*, unsigned*);
    auto fn = reinterpret_cast<VersionFn>(::dlsym(lib, "nvJitLinkVersion"));
    unsigned major = 0, minor = 0;
    if (fn && fn(&major, &minor) == 0)
      version = std::to_string(major) + "." + std::to_string(minor);
    Dl_info info{};
    std::string path = fn && ::dladdr(reinterpret_cast<void*>(fn), &info) && info.dli_fname
                           ? info.dli_fname
                           : name;
    return path;
  }
  return "";
}

std::string human_bytes(int64_t n) {
  char buf[32];
  if (n >= (int64_t(1) << 30))
    std::snprintf(buf, sizeof buf, "%.1f GiB", double(n) / double(1 << 30));
  else if (n >= (1 << 20))
    std::snprintf(buf, sizeof buf, "%.1f MiB", double(n) / double(1 << 20));
  else
    std::snprintf(buf, sizeof buf, "%.1f KiB", double(n) / 1024.0);
  return buf;
}

} // namespace

std::vector<DoctorLine> doctor_report() {
  namespace rt = tessel::runtime;
  std::vector<DoctorLine> lines;
  auto add = [&](const std::string& what, const std::string& text) {
    lines.push_back({what, text});
  };

  add("tessel", tessel::build_id());
  add("LLVM", std::string(tessel::llvm_version()) + " (linked into libtessel)");
  add("host", tessel::codegen::cpu::host_description());

  std::string toolkit = find_toolkit();
  if (toolkit.empty()) {
    add("CUDA toolkit", "not found (looked at $CUDA_HOME, $CUDA_PATH, nvcc on PATH, "
                        "/usr/local/cuda); needed to build GPU tests, not to run kernels");
  } else {
    add("CUDA toolkit", toolkit + " (CUDA " + toolkit_version(toolkit) + ")");
    add("  nvcc", exists(toolkit + "/bin/nvcc") ? toolkit + "/bin/nvcc" : "not found");
    std::string libdevice = toolkit + "/nvvm/libdevice/libdevice.10.bc";
    add("  libdevice", exists(libdevice) ? libdevice : "not found (GPU math functions need it)");
  }
  std::string jitlink_version;
  std::string jitlink = find_nvjitlink(toolkit, jitlink_version);
  add("nvJitLink",
      jitlink.empty()
          ? "not found: PTX cannot be turned into cubins in-process "
            "(install the CUDA toolkit's libnvjitlink)"
          : jitlink + (jitlink_version.empty() ? "" : " (version " + jitlink_version + ")"));

  rt::DriverInfo driver = rt::driver_info();
  if (!driver.available) {
    add("CUDA driver", "not available: " + driver.error);
    add("GPUs", "none usable; kernels run on the CPU backend");
  } else {
    add("CUDA driver", driver.library + " (CUDA " + std::to_string(driver.version / 1000) + "." +
                           std::to_string(driver.version % 1000 / 10) + ")");
    int n = rt::Device::count();
    add("GPUs", n == 0 ? "none found by the driver" : std::to_string(n));
    for (int i = 0; i < n; ++i) {
      try {
        rt::Device d = rt::Device::get(i);
        const rt::DeviceProperties& p = d.properties();
        char buf[256];
        std::snprintf(buf, sizeof buf, "%s, sm_%d, %d SMs, %s, %lld KiB shared memory per block",
                      p.name.c_str(), p.sm_version(), p.sm_count,
                      human_bytes(p.total_memory).c_str(),
                      (long long)(p.max_shared_per_block_optin >> 10));
        add(("  device " + std::to_string(i)).c_str(), buf);
      } catch (const std::exception& e) {
        add(("  device " + std::to_string(i)).c_str(), e.what());
      }
    }
  }

  // The GPU device DeviceBuffer and launches on device memory use.
  const char* env_device = std::getenv("TESSEL_DEVICE");
  std::string selection = env_device && *env_device ? std::string("TESSEL_DEVICE=") + env_device
                                                    : std::string("TESSEL_DEVICE unset: cuda");
  try {
    selection += std::string(" -> ") + tessel::device_kind_name(rt::selected_device());
  } catch (const tessel::Error& e) {
    selection += std::string("  (INVALID: ") + e.what() + ")";
  }
  add("GPU device", selection);
  add("  sim device", rt::sim_available()
                          ? "available (PTX simulator built in; TESSEL_DEVICE=sim, target " +
                                rt::sim_target_name() + ")"
                          : std::string("not built (configure with -DTESSEL_BUILD_SIM=ON)"));

  tessel::jit::DiskCache& cache = tessel::jit::DiskCache::instance();
  const tessel::jit::CacheConfig& c = cache.config();
  if (!c.enabled) {
    add("kernel cache", "disabled (TESSEL_CACHE_DISABLE, or no HOME)");
  } else {
    int64_t entries = 0, bytes = 0;
    for (const auto& e : cache.list())
      if (!e.read_only) {
        ++entries;
        bytes += e.bytes;
      }
    bool dir_ok = ::access(c.root.c_str(), W_OK) == 0 || !exists(c.root);
    add("kernel cache", c.root + (dir_ok ? "" : "  (NOT WRITABLE: memory-only caching)"));
    add("  entries", std::to_string(entries) + ", " + human_bytes(bytes) + " of " +
                         human_bytes(c.max_bytes) + " (TESSEL_CACHE_MAX_BYTES)");
    for (const std::string& ro : c.read_only_roots)
      add("  read-only tier", ro + (exists(ro) ? "" : "  (does not exist)"));
  }
  return lines;
}

std::string doctor_text() {
  std::string text;
  for (const DoctorLine& l : doctor_report()) {
    char what[64];
    std::snprintf(what, sizeof what, "%-16s ", l.what.c_str());
    text += what + l.text + "\n";
  }
  return text;
}

} // namespace tessel
