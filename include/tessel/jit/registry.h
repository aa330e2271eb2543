// The kernel registry: named kernels with a default specialization, what `tessel compile NAME`
// compiles. The samples register theirs (samples/registry.cpp); a user registers kernels in her
// own shared library and `tessel compile --load libmine.so NAME` loads it and compiles them:
//
//   // mine.cpp, built as libmine.so linked to libtessel
//   #include <tessel/tessel.h>
//   namespace tl = tessel::lang;
//   using P = tessel::SignatureParam;
//   const tessel::Kernel scale = tl::kernel("scale", [](tl::Ptr out, tl::Ptr x, tl::Int n,
//                                                       tl::Const<int> BLOCK) { ... });
//   TESSEL_REGISTER_KERNEL(scale, scale,
//       tessel::Signature{{P::pointer(tessel::DType::f32, 16, "out"),
//                          P::pointer(tessel::DType::f32, 16, "x"), P::integer(16, "n"),
//                          P::constant(1024, "BLOCK")}});
//
// The default signature fixes what `tessel compile` assumes when no define changes it. Its
// parameter names (for `-D NAME=VALUE` and listings) may be left empty: they are then taken from
// the kernel's definition (`tl::kernel("scale", "out, x, n, BLOCK", ...)`); a name that differs
// from the definition's is an error.
//
// Why a static object: a library loaded with dlopen has no other hook that runs its code, and
// the registry must learn every kernel it holds (for --list) without knowing their names. The
// macro's object registers itself when the library is loaded and unregisters when it is unloaded.
// libtessel's own code registers explicitly (no static constructors inside the library).
#pragma once

#include "tessel/jit/compile.h"
#include "tessel/jit/kernel.h"

#include <string>
#include <string_view>
#include <vector>

namespace tessel {

struct RegisteredKernel {
  std::string name;
  std::string summary; // one line for listings; may be empty
  const Kernel& (*kernel)() = nullptr;
  Signature defaults;  // one parameter per kernel parameter, with names
  std::string library; // the shared library that registered it ("" for the program)
};

// Adds `k`. Throws tessel::Error when a kernel of that name is registered already (naming both
// libraries) or when `defaults` does not fit the kernel's parameters.
void register_kernel(RegisteredKernel k);
// The registered kernels in registration order.
std::vector<RegisteredKernel> registered_kernels();
// Throws tessel::Error listing the registered names when `name` is unknown.
RegisteredKernel find_registered_kernel(std::string_view name);

// dlopens `path` (a name without '/' is taken relative to the current directory when such a file
// exists) and returns the names of the kernels it registered. Throws tessel::Error naming the
// file and dlerror()'s text when it cannot be loaded, and when it registers nothing, or a name
// already registered. The library stays loaded.
std::vector<std::string> load_kernel_library(const std::string& path);

namespace detail {

// What TESSEL_REGISTER_KERNEL defines. A failed registration (a duplicate name) is kept and
// reported by load_kernel_library, since a constructor that runs inside dlopen cannot throw.
class KernelRegistration {
public:
  KernelRegistration(const char* name, const Kernel& (*kernel)(), Signature defaults,
                     const char* summary = "") noexcept;
  ~KernelRegistration();
  KernelRegistration(const KernelRegistration&) = delete;
  KernelRegistration& operator=(const KernelRegistration&) = delete;

private:
  std::string name_;
  bool registered_ = false;
};

} // namespace detail
} // namespace tessel

#define TESSEL_REGISTRATION_CAT2(a, b) a##b
#define TESSEL_REGISTRATION_CAT(a, b) TESSEL_REGISTRATION_CAT2(a, b)

// TESSEL_REGISTER_KERNEL(NAME, KERNEL, SIGNATURE [, "summary"]): registers the tessel::Kernel
// expression KERNEL under the identifier NAME with the default specialization SIGNATURE (a
// tessel::Signature naming every parameter). KERNEL is evaluated on first use, not at load time,
// so it may name a global Kernel of another translation unit.
#define TESSEL_REGISTER_KERNEL(NAME, KERNEL, ...)                                                  \
  static const ::tessel::detail::KernelRegistration TESSEL_REGISTRATION_CAT(tessel_registration_,  \
                                                                            NAME)(                 \
      #NAME,                                                                                       \
      []() -> const ::tessel::Kernel& {                                                            \
        static const ::tessel::Kernel kernel = (KERNEL);                                           \
        return kernel;                                                                             \
      },                                                                                           \
      __VA_ARGS__)
