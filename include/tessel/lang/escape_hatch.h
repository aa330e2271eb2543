// Escape hatches: code the tile language cannot express, called elementwise from a kernel.
//
//   // PTX, as Triton's inline_asm_elementwise (GPU backends and the PTX simulator):
//   auto s = tl::inline_asm_elementwise("add.s32 $0, $1, $2;", "=r,r,r", {a, b}, tl::i32,
//                                       /*is_pure=*/true, /*pack=*/1,
//                                       [](int32_t x, int32_t y) { return x + y; });
//
//   // A CUDA C++ __device__ function, compiled by NVRTC and linked by nvJitLink:
//   const tl::ExternFunction f = tl::extern_cuda(
//       "__device__ float f(float x) { return x * x + __sinf(x); }", "f", tl::f32, {tl::f32},
//       [](float x) { return x * x + std::sin(x); });
//   ... inside a kernel: auto y = f(x);
//
// The CPU backend cannot run PTX or CUDA: there the C++ fallback (the last argument, optional)
// runs once per element — a callable on scalars (bool, int8_t ... uint64_t, tessel::half,
// tessel::bfloat16, float, double) whose parameter and result types are the operands' and the
// result's dtypes. It is copied when the kernel is traced and kept with the compiled kernel; a
// kernel that needs one on the CPU and has none is an error naming the call's file:line.
// Semantics, packing and the rules of each: docs/language.md, "Escape hatches".
#pragma once

#include "tessel/dtype.h"
#include "tessel/ir/escape_hatch.h"
#include "tessel/lang/tensor.h"

#include <cstring>
#include <functional>
#include <source_location>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

namespace tessel::lang {

// The C++ version of an escape hatch, for the CPU backend (see above). Empty: none.
class HostFallback {
public:
  HostFallback() = default;
  template <class F>
  requires(!std::is_same_v<std::remove_cvref_t<F>, HostFallback>) HostFallback(
      F f) { // NOLINT(google-explicit-constructor): a lambda converts, as Triton's args do
    from_function(std::function(std::move(f)));
  }

  explicit operator bool() const { return bool(call_); }
  const std::vector<DType>& params() const { return params_; }
  DType result() const { return result_; }
  const ir::HostCallback& callback() const { return call_; }

private:
  template <class T> static T read(const void* p) {
    T v;
    std::memcpy(&v, p, sizeof(T));
    return v;
  }
  template <class R, class... A, size_t... I>
  static void call_with(const std::function<R(A...)>& fn, const void* const* args, void* out,
                        std::index_sequence<I...>) {
    R r = fn(read<std::remove_cvref_t<A>>(args[I])...);
    std::memcpy(out, &r, sizeof(R));
  }
  template <class R, class... A> void from_function(std::function<R(A...)> fn) {
    static_assert(Element<R> && (Element<std::remove_cvref_t<A>> && ...),
                  "an escape hatch's fallback takes and returns scalars: bool, int8_t ... "
                  "uint64_t, tessel::half, tessel::bfloat16, float or double");
    params_ = {dtype_of_v<std::remove_cvref_t<A>>...};
    result_ = dtype_of_v<R>;
    call_ = [fn = std::move(fn)](const void* const* args, void* out) {
      call_with(fn, args, out, std::index_sequence_for<A...>{});
    };
  }

  std::vector<DType> params_;
  DType result_ = DType::f32;
  ir::HostCallback call_;
};

// Triton's inline_asm_elementwise: `asm_text` applied to the elements of `args` (broadcast to
// one shape, NumPy rules), giving a tile of `dtype`. `constraints` are LLVM's ("=r,r,r": one
// output, then the inputs); `$0` is the output, `$1`... the inputs. Each asm instance handles
// `pack` (1, 2 or 4) consecutive elements of a thread: elements narrower than 32 bits are packed
// into registers of up to 32 bits (low element first), so f16 with pack 2 is one "r" operand;
// wider elements get `pack` operands each. `is_pure` false: the asm has side effects (it runs for
// every element even when its result is unused, and is never merged or hoisted). One result per
// call (Triton's tuple of dtypes: call once per output).
Tensor inline_asm_elementwise(std::string_view asm_text, std::string_view constraints,
                              const std::vector<Tensor>& args, DType dtype, bool is_pure, int pack,
                              HostFallback fallback = {},
                              std::source_location loc = std::source_location::current());

// A CUDA C++ device function (tl::extern_cuda), callable elementwise in kernels.
class ExternFunction {
public:
  ExternFunction(std::string source, std::string name, DType result, std::vector<DType> params,
                 HostFallback fallback, std::source_location where);

  // Calls the function on each element of `args` (broadcast to one shape, converted to the
  // parameter dtypes). A count other than the declared parameters' is an error at `loc`.
  Tensor operator()(const std::vector<Tensor>& args,
                    std::source_location loc = std::source_location::current()) const;
  Tensor operator()(const Tensor& a,
                    std::source_location loc = std::source_location::current()) const {
    return (*this)(std::vector<Tensor>{a}, loc);
  }
  Tensor operator()(const Tensor& a, const Tensor& b,
                    std::source_location loc = std::source_location::current()) const {
    return (*this)(std::vector<Tensor>{a, b}, loc);
  }
  Tensor operator()(const Tensor& a, const Tensor& b, const Tensor& c,
                    std::source_location loc = std::source_location::current()) const {
    return (*this)(std::vector<Tensor>{a, b, c}, loc);
  }

  const std::string& name() const { return name_; }

private:
  std::string source_, name_;
  DType result_;
  std::vector<DType> params_;
  HostFallback fallback_;
};

// Declares `name`, a __device__ function defined in the CUDA C++ `source`, taking `params` and
// returning `result` (each i32, u32, i64, u64, f32 or f64: int, unsigned, long long, unsigned
// long long, float, double). NVRTC (libnvrtc, found at run time like nvJitLink: $TESSEL_NVRTC,
// else $CUDA_HOME / $CUDA_PATH / /usr/local/cuda, then the loader's path) compiles it for the
// kernel's target when a kernel that calls it is compiled for a GPU; the source is part of the
// kernel's cache key. Checks the declaration here (names, dtypes, a fallback's signature).
ExternFunction extern_cuda(std::string source, std::string name, DType result,
                           std::vector<DType> params, HostFallback fallback = {},
                           std::source_location where = std::source_location::current());

} // namespace tessel::lang
