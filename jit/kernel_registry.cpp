// The kernel registry (tessel/jit/registry.h): one list in libtessel that the samples and users'
// shared libraries add to, and the loader of those libraries.
//
// Registrations made inside dlopen (TESSEL_REGISTER_KERNEL's static objects) cannot throw, so a
// failed one is kept as a message; load_kernel_library reports it once dlopen has returned.
#include "tessel/jit/registry.h"

#include "jit/compile_signature.h"

#include <dlfcn.h>
#include <sys/stat.h>

#include <fmt/format.h>

#include <algorithm>
#include <filesystem>
#include <mutex>

namespace tessel {
namespace {

struct Registry {
  std::mutex mutex; // guards everything below
  std::vector<RegisteredKernel> kernels;
  std::vector<std::string> failures; // registrations that could not be made, not yet reported
};

Registry& registry() {
  static Registry r;
  return r;
}

// The shared library that holds `address` ("" for the main program).
std::string library_of(const void* address) {
  Dl_info info{};
  if (!::dladdr(address, &info) || !info.dli_fname || !*info.dli_fname)
    return "";
  std::error_code ec;
  if (std::filesystem::equivalent(info.dli_fname, "/proc/self/exe", ec))
    return "";
  return info.dli_fname;
}

std::string where(const RegisteredKernel& k) {
  return k.library.empty() ? "the program" : "'" + k.library + "'";
}

// Adds `k` under the lock; returns the reason it cannot be added, or "".
std::string add(Registry& r, RegisteredKernel k) {
  for (const RegisteredKernel& other : r.kernels)
    if (other.name == k.name)
      return fmt::format("kernel '{}' is registered twice: by {} and by {}; give one of them "
                         "another name",
                         k.name, where(other), where(k));
  if (!k.kernel)
    return fmt::format("kernel '{}' is registered without a kernel", k.name);
  r.kernels.push_back(std::move(k));
  return "";
}

std::string names(const std::vector<RegisteredKernel>& kernels) {
  std::string s;
  for (const RegisteredKernel& k : kernels)
    s += (s.empty() ? "" : ", ") + k.name;
  return s.empty() ? "(none)" : s;
}

// The defaults' empty names filled from the kernel's parameter names. Done when a kernel is looked
// up, not when it registers: TESSEL_REGISTER_KERNEL's kernel may be built only on first use.
RegisteredKernel named(RegisteredKernel k) {
  try {
    k.defaults = jit::with_param_names(k.kernel().def(), std::move(k.defaults));
  } catch (const Error& e) {
    throw Error(fmt::format("the default signature registered by {} for {}", where(k), e.what()));
  }
  return k;
}

bool is_file(const std::string& path) {
  struct stat st {};
  return ::stat(path.c_str(), &st) == 0 && S_ISREG(st.st_mode);
}

} // namespace

void register_kernel(RegisteredKernel k) {
  Registry& r = registry();
  std::lock_guard lock(r.mutex);
  if (std::string why = add(r, std::move(k)); !why.empty())
    throw Error(why);
}

std::vector<RegisteredKernel> registered_kernels() {
  std::vector<RegisteredKernel> kernels;
  {
    Registry& r = registry();
    std::lock_guard lock(r.mutex);
    kernels = r.kernels;
  }
  for (RegisteredKernel& k : kernels)
    k = named(std::move(k));
  return kernels;
}

RegisteredKernel find_registered_kernel(std::string_view name) {
  Registry& r = registry();
  std::unique_lock lock(r.mutex);
  for (const RegisteredKernel& k : r.kernels)
    if (k.name == name) {
      RegisteredKernel found = k;
      lock.unlock(); // named() builds the kernel: user code, not under the registry's lock
      return named(std::move(found));
    }
  std::string failed =
      r.failures.empty() ? "" : " (and one that failed: " + r.failures.front() + ")";
  throw Error(
      fmt::format("unknown kernel '{}'; registered kernels: {}{}", name, names(r.kernels), failed));
}

std::vector<std::string> load_kernel_library(const std::string& path) {
  // dlopen searches the library path for a bare name; a user naming a file means that file.
  std::string file = path.find('/') == std::string::npos && is_file(path) ? "./" + path : path;
  Registry& r = registry();
  size_t before = 0;
  {
    std::lock_guard lock(r.mutex);
    before = r.kernels.size();
  }
  void* handle = ::dlopen(file.c_str(), RTLD_NOW | RTLD_LOCAL);
  if (!handle) {
    const char* why = ::dlerror();
    throw Error(fmt::format("cannot load the kernel library '{}': {}; build it as a shared library "
                            "linked to libtessel, and give its path",
                            path, why ? why : "unknown error"));
  }
  std::lock_guard lock(r.mutex);
  if (!r.failures.empty()) {
    std::string why = r.failures.front();
    r.failures.clear();
    throw Error("the kernel library '" + path + "': " + why);
  }
  std::vector<std::string> added;
  for (size_t i = before; i < r.kernels.size(); ++i)
    added.push_back(r.kernels[i].name);
  if (added.empty())
    throw Error("the kernel library '" + path +
                "' registered no kernels (a library already "
                "loaded registers nothing new); register them with TESSEL_REGISTER_KERNEL");
  return added;
}

namespace detail {

KernelRegistration::KernelRegistration(const char* name, const Kernel& (*kernel)(),
                                       Signature defaults, const char* summary) noexcept
    : name_(name) {
  try {
    RegisteredKernel k{name, summary ? summary : "", kernel, std::move(defaults), library_of(this)};
    Registry& r = registry();
    std::lock_guard lock(r.mutex);
    std::string why = add(r, std::move(k));
    registered_ = why.empty();
    if (!registered_)
      r.failures.push_back(std::move(why));
  } catch (...) {
    // Out of memory while loading a library: nothing registered, nothing to report it with.
  }
}

KernelRegistration::~KernelRegistration() {
  if (!registered_)
    return;
  Registry& r = registry();
  std::lock_guard lock(r.mutex);
  std::erase_if(r.kernels, [&](const RegisteredKernel& k) { return k.name == name_; });
}

} // namespace detail
} // namespace tessel
