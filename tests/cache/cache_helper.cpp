// A separate process for the disk-cache tests: runs one small kernel on the CPU backend, checks
// its result, and prints one stats line saying where the code came from:
//   source=compiled traces=1 compiles=1 disk_loads=0 compiled_now=1
// Usage: cache_helper [--block N] [--also N] [--wait-for FILE]
//   --block N      the kernel's BLOCK (a different N is a different specialization and entry)
//   --also N       then launch with BLOCK N too (two specializations in one process)
//   --wait-for F   wait until F exists before launching (lines up concurrent writers)
//   --gpu SM       instead, compile the kernel for sm_SM through the disk cache (no GPU needed)
//                  and print: gpu source=compiled cubin_bytes=... registers=...
#include "jit/gpu_compiler.h"
#include "jit/signature.h"
#include "tessel/tessel.h"

#include <unistd.h>

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

namespace tl = tessel::lang;

int main(int argc, char** argv) {
  int block = 128, also = 0, gpu_sm = 0;
  std::string wait_for;
  for (int i = 1; i + 1 < argc; i += 2) {
    if (std::strcmp(argv[i], "--block") == 0)
      block = std::atoi(argv[i + 1]);
    else if (std::strcmp(argv[i], "--gpu") == 0)
      gpu_sm = std::atoi(argv[i + 1]);
    else if (std::strcmp(argv[i], "--also") == 0)
      also = std::atoi(argv[i + 1]);
    else if (std::strcmp(argv[i], "--wait-for") == 0)
      wait_for = argv[i + 1];
  }
  while (!wait_for.empty() && ::access(wait_for.c_str(), F_OK) != 0)
    ::usleep(1000);

  const tessel::Kernel axpy =
      tl::kernel("cache_axpy", [](tl::Ptr out, tl::Ptr x, tl::Ptr y, tl::Float a, tl::Int n,
                                  tl::Const<int> BLOCK) {
        auto offs = tl::program_id(0) * BLOCK + tl::arange(0, BLOCK);
        auto mask = offs < n;
        tl::store(out + offs, a * tl::load(x + offs, mask) + tl::load(y + offs, mask), mask);
      });
  const int n = 1000;
  std::vector<float> out(n, -1.0f), x(n), y(n);
  for (int i = 0; i < n; ++i) {
    x[i] = float(i);
    y[i] = 0.5f * float(i % 7);
  }
  if (gpu_sm > 0) {
    try {
      const tessel::detail::ArgValue args[] = {
          tessel::detail::to_arg(out.data()), tessel::detail::to_arg(x.data()),
          tessel::detail::to_arg(y.data()),   tessel::detail::to_arg(2.0f),
          tessel::detail::to_arg(n),          tessel::detail::to_arg(block)};
      std::array<tessel::lang::ParamBinding, tessel::jit::kMaxParams> bindings;
      tessel::jit::bindings_for(axpy.def(), args, bindings);
      tessel::codegen::gpu::CompileOptions options;
      tessel::jit::GpuCompileResult r = tessel::jit::compile_for_gpu(
          axpy.def(), std::span(bindings.data(), axpy.def().params.size()),
          tessel::codegen::Target::nvptx(gpu_sm), options);
      std::printf("gpu source=%s cubin_bytes=%zu registers=%d num_warps=%d\n",
                  tessel::kernel_source_name(r.source), r.kernel.cubin.size(),
                  r.kernel.resources.registers, r.kernel.num_warps);
      return r.kernel.cubin.size() > 4 && r.kernel.cubin.compare(0, 4,
                                                                 "\x7f"
                                                                 "ELF") == 0
                 ? 0
                 : 3;
    } catch (const std::exception& e) {
      std::fprintf(stderr, "cache_helper: %s\n", e.what());
      return 2;
    }
  }
  try {
    axpy.launch({(n + block - 1) / block}, {}, out.data(), x.data(), y.data(), 2.0f, n, block);
    if (also > 0)
      axpy.launch({(n + also - 1) / also}, {}, out.data(), x.data(), y.data(), 2.0f, n, also);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "cache_helper: %s\n", e.what());
    return 2;
  }
  for (int i = 0; i < n; ++i) {
    if (std::fabs(out[i] - (2.0f * x[i] + y[i])) > 1e-6f) {
      std::fprintf(stderr, "cache_helper: wrong result at %d: %g\n", i, double(out[i]));
      return 3;
    }
  }
  tessel::KernelStats s = axpy.stats();
  std::printf("source=%s traces=%lld compiles=%lld disk_loads=%lld compiled_now=%lld\n",
              tessel::kernel_source_name(s.source()), (long long)s.traces, (long long)s.compiles,
              (long long)s.disk_loads, (long long)s.compiled_now());
  return 0;
}
