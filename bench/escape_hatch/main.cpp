// What the escape hatches cost: on the CPU backend, a kernel whose add runs through an inline-asm
// call's C++ fallback (one call per element through tessel.cpu.host_call) against the same add in
// the language (vectorised); and, for a GPU target, the time to compile a kernel that calls a CUDA
// C++ function (NVRTC included, cache off) against one that computes the same with tessel's ops.
// Prints medians; figures in bench/RESULTS.md ("Escape hatches").
#include "tessel/tessel.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <vector>

namespace tl = tessel::lang;

namespace {

constexpr int kBlock = 1024;

const tessel::Kernel native_add = tl::kernel(
    "bench_native_add", [](tl::Ptr out, tl::Ptr a, tl::Ptr b, tl::Int n, tl::Const<int> BLOCK) {
      auto offs = tl::program_id(0) * BLOCK + tl::arange(0, BLOCK);
      auto m = offs < n;
      tl::store(out + offs, tl::load(a + offs, m) + tl::load(b + offs, m), m);
    });

const tessel::Kernel asm_add = tl::kernel(
    "bench_asm_add", [](tl::Ptr out, tl::Ptr a, tl::Ptr b, tl::Int n, tl::Const<int> BLOCK) {
      auto offs = tl::program_id(0) * BLOCK + tl::arange(0, BLOCK);
      auto m = offs < n;
      tl::store(out + offs,
                tl::inline_asm_elementwise("add.s32 $0, $1, $2;", "=r,r,r",
                                           {tl::load(a + offs, m), tl::load(b + offs, m)}, tl::i32,
                                           true, 1, [](int32_t x, int32_t y) { return x + y; }),
                m);
    });

const tl::ExternFunction square_plus_sin =
    tl::extern_cuda("__device__ float f(float x) { return x * x + __sinf(x); }", "f", tl::f32,
                    {tl::f32}, [](float x) { return x * x + std::sin(x); });

const tessel::Kernel extern_kernel =
    tl::kernel("bench_extern_f", [](tl::Ptr out, tl::Ptr x, tl::Int n, tl::Const<int> BLOCK) {
      auto offs = tl::program_id(0) * BLOCK + tl::arange(0, BLOCK);
      auto m = offs < n;
      tl::store(out + offs, square_plus_sin(tl::load(x + offs, m)), m);
    });

const tessel::Kernel tessel_kernel =
    tl::kernel("bench_tessel_f", [](tl::Ptr out, tl::Ptr x, tl::Int n, tl::Const<int> BLOCK) {
      auto offs = tl::program_id(0) * BLOCK + tl::arange(0, BLOCK);
      auto m = offs < n;
      auto v = tl::load(x + offs, m);
      tl::store(out + offs, v * v + tl::sin(v), m);
    });

template <class F> double median_ms(int reps, F&& f) {
  std::vector<double> t;
  for (int i = 0; i < reps; ++i) {
    auto t0 = std::chrono::steady_clock::now();
    f();
    t.push_back(
        std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count());
  }
  std::sort(t.begin(), t.end());
  return t[t.size() / 2];
}

void cpu_fallback() {
  const int n = 1 << 22;
  std::vector<int32_t> a(n, 3), b(n, 4), out(n);
  tessel::LaunchOptions cpu;
  cpu.device = tessel::DeviceKind::cpu;
  auto run = [&](const tessel::Kernel& k) {
    k.launch({(n + kBlock - 1) / kBlock}, cpu, out.data(), a.data(), b.data(), n, kBlock);
  };
  run(native_add);
  run(asm_add);
  double native = median_ms(15, [&] { run(native_add); });
  double fallback = median_ms(15, [&] { run(asm_add); });
  std::printf("CPU, %d i32 adds (median of 15 warm launches):\n", n);
  std::printf("  tessel's +                 %8.2f ms  %6.2f ns/element\n", native,
              native * 1e6 / n);
  std::printf("  inline asm, C++ fallback   %8.2f ms  %6.2f ns/element\n", fallback,
              fallback * 1e6 / n);
}

void gpu_compile() {
  std::vector<float> buf(16);
  tessel::TensorView v(buf.data(), tessel::DType::f32, {16});
  const tessel::Signature sig = tessel::Signature::from_args(v, v, 1 << 20, kBlock);
  tessel::CompileOptions o;
  o.cache = tessel::CacheMode::off;
  for (const char* name : {"sm_80", "sm_90a"}) {
    const tessel::Target t = tessel::Target::parse(name);
    try {
      double ext_ptx = 0, own_ptx = 0;
      double ext =
          median_ms(5, [&] { ext_ptx = extern_kernel.compile(t, sig, o).times.codegen_ms; });
      double own =
          median_ms(5, [&] { own_ptx = tessel_kernel.compile(t, sig, o).times.codegen_ms; });
      // codegen_ms: LLVM -> PTX, plus NVRTC for the extern kernel (codegen/gpu/compile.cpp).
      std::printf("%s compile, cache off (median of 5): extern_cuda %.1f ms (PTX + NVRTC %.1f ms), "
                  "tessel ops with libdevice sin %.1f ms (PTX %.1f ms)\n",
                  name, ext, ext_ptx, own, own_ptx);
    } catch (const tessel::Error& e) {
      std::printf("%s: skipped (%s)\n", name, e.what());
    }
  }
}

} // namespace

int main() {
  cpu_fallback();
  gpu_compile();
  return 0;
}
