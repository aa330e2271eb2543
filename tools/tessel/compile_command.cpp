// `tessel compile`: compiles a registered sample kernel (include/tessel/samples/registry.h) for a
// GPU target without a GPU and prints one stage of the result.
//
//   tessel compile KERNEL [--target sm_90a] [--emit ir|ir-final|llvm|ptx|cubin|stats]
//                  [--num-warps N] [-D NAME=VALUE ...] [-o FILE] [--no-line-info] [--no-cache]
//   tessel compile --list
//
// `--emit ptx|cubin|stats` go through the JIT's compile pipeline, so they use (and fill) the disk
// cache like a launch does, and `stats` says where the kernel came from: the disk cache or
// compiled now (`--no-cache` forces a compile). `ir`, `ir-final` and `llvm` always compile.
#include "jit/gpu_compiler.h"
#include "tessel/codegen/gpu.h"
#include "tessel/codegen/target.h"
#include "tessel/ir/printer.h"
#include "tessel/samples/registry.h"

#include <fmt/format.h>

#include <cstdio>
#include <fstream>
#include <iostream>
#include <string>
#include <vector>

namespace {

const char* const kUsage =
    "usage: tessel compile KERNEL [--target sm_90a] [--emit ir|ir-final|llvm|ptx|cubin|stats]\n"
    "                      [--num-warps N] [-D NAME=VALUE ...] [-o FILE] [--no-line-info]\n"
    "                      [--no-cache]\n"
    "       tessel compile --list\n";

struct Options {
  std::string kernel;
  std::string target = "sm_90a";
  std::string emit = "ptx";
  std::string output;
  int num_warps = 4;
  bool line_info = true;
  bool list = false;
  bool use_cache = true;
  std::vector<std::string> defines;
};

Options parse(int argc, char** argv) {
  Options o;
  auto value = [&](int& i, const std::string& flag) -> std::string {
    if (i + 1 >= argc)
      throw tessel::Error(flag + " needs a value\n" + kUsage);
    return argv[++i];
  };
  for (int i = 0; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "--target")
      o.target = value(i, a);
    else if (a.starts_with("--target="))
      o.target = a.substr(9);
    else if (a == "--emit")
      o.emit = value(i, a);
    else if (a.starts_with("--emit="))
      o.emit = a.substr(7);
    else if (a == "--num-warps" || a.starts_with("--num-warps=")) {
      std::string v = a == "--num-warps" ? value(i, a) : a.substr(12);
      try {
        o.num_warps = std::stoi(v);
      } catch (const std::logic_error&) {
        throw tessel::Error("--num-warps needs a number, not '" + v + "'");
      }
    } else if (a == "-D")
      o.defines.push_back(value(i, a));
    else if (a.starts_with("-D"))
      o.defines.push_back(a.substr(2));
    else if (a == "-o")
      o.output = value(i, a);
    else if (a == "--no-line-info")
      o.line_info = false;
    else if (a == "--no-cache")
      o.use_cache = false;
    else if (a == "--list")
      o.list = true;
    else if (!a.empty() && a[0] == '-')
      throw tessel::Error("unknown option '" + a + "'\n" + kUsage);
    else if (o.kernel.empty())
      o.kernel = a;
    else
      throw tessel::Error("more than one kernel named\n" + std::string(kUsage));
  }
  static const char* const emits[] = {"ir", "ir-final", "llvm", "ptx", "cubin", "stats"};
  if (std::find(std::begin(emits), std::end(emits), o.emit) == std::end(emits))
    throw tessel::Error("unknown --emit '" + o.emit + "'; valid: ir, ir-final, llvm, ptx, cubin, stats");
  if (o.kernel.empty() && !o.list)
    throw tessel::Error(std::string("no kernel named\n") + kUsage);
  return o;
}

void write_output(const Options& o, const std::string& text) {
  if (o.output.empty()) {
    std::cout << text;
    return;
  }
  std::ofstream out(o.output, std::ios::binary);
  if (!out || !out.write(text.data(), static_cast<std::streamsize>(text.size())))
    throw tessel::Error("cannot write '" + o.output + "'");
}

std::string stats_text(const Options& o, const tessel::codegen::gpu::CompiledKernel& k,
                       const tessel::samples::TraceTimes& tt, const std::string& source) {
  const auto& r = k.resources;
  std::string s = fmt::format("kernel {} for {} (PTX ISA {}.{}), num_warps {}", k.name, k.target.name(),
                              k.target.ptx_version() / 10, k.target.ptx_version() % 10, k.num_warps);
  for (const std::string& d : o.defines)
    s += " -D " + d;
  s += "\nsource: " + source + "\n";
  s += "\nresources (nvJitLink):\n";
  s += fmt::format("  registers            {}\n  spill stores         {} bytes\n  spill loads          {} bytes\n"
                   "  stack frame          {} bytes\n  static shared memory {} bytes\n"
                   "  dynamic shared memory {} bytes (launch with this)\n  constant memory      {} bytes\n",
                   r.registers, r.spill_stores, r.spill_loads, r.stack_bytes, r.static_shared_bytes,
                   k.shared_bytes, r.const_bytes);
  tessel::codegen::gpu::PtxStats st = tessel::codegen::gpu::ptx_stats(k.ptx);
  s += fmt::format("\ninstruction mix (PTX, {} instructions):\n", st.instructions);
  for (const auto& [name, count] : st.counts)
    s += fmt::format("  {:<16} {}\n", name, count);
  const auto& t = k.times;
  double total = tt.trace_ms + tt.passes_ms + t.total_ms();
  s += fmt::format("\nstage times (ms):\n  trace      {:8.2f}\n  passes     {:8.2f}\n  layouts    {:8.2f}\n"
                   "  lower      {:8.2f}\n  libdevice  {:8.2f}\n  llvm O3    {:8.2f}\n  ptx        {:8.2f}\n"
                   "  cubin      {:8.2f}\n  total      {:8.2f}\n",
                   tt.trace_ms, tt.passes_ms, t.layout_ms, t.lower_ms, t.libdevice_ms, t.optimize_ms,
                   t.ptx_ms, t.cubin_ms, total);
  return s;
}

} // namespace

int run_compile_command(int argc, char** argv) {
  Options o = parse(argc, argv);
  if (o.list) {
    for (const auto& k : tessel::samples::registry()) {
      std::string params;
      for (const auto& p : k.params)
        params += std::string(params.empty() ? "" : ", ") + p.name;
      std::printf("%-11s %s (%s)\n", k.name, k.summary, params.c_str());
    }
    return 0;
  }
  const tessel::samples::RegisteredKernel& reg = tessel::samples::find_kernel(o.kernel);
  tessel::codegen::Target target = tessel::codegen::parse_target(o.target);
  tessel::samples::TraceTimes tt;
  const bool through_jit = o.emit == "ptx" || o.emit == "cubin" || o.emit == "stats";
  // The JIT pipeline keys the disk cache on the IR as traced, so it gets the module unoptimised.
  auto module = tessel::samples::trace_kernel(reg, o.defines,
                                              /*optimize=*/o.emit != "ir" && !through_jit, &tt);
  if (o.emit == "ir") {
    write_output(o, tessel::ir::print(*module));
    return 0;
  }
  if (!target.is_nvptx())
    throw tessel::Error("tessel compile --emit " + o.emit + " needs a GPU target (sm_80 ... sm_90a)");
  tessel::codegen::gpu::CompileOptions options;
  options.num_warps = o.num_warps;
  options.line_info = o.line_info;
  using tessel::codegen::gpu::Stage;
  Stage until = o.emit == "cubin" || o.emit == "stats" ? Stage::Cubin
                : o.emit == "ptx"                      ? Stage::Ptx
                                                       : Stage::Llvm;
  if (through_jit) {
    if (!o.use_cache)
      ::setenv("TESSEL_CACHE_DISABLE", "1", /*overwrite=*/1);
    tessel::jit::GpuCompileResult r =
        tessel::jit::compile_module_for_gpu(*module, target, options, /*want_ptx=*/true);
    std::string source = r.source == tessel::KernelSource::disk
                             ? "disk cache (entry " + r.cache_key.substr(0, 16) + "...; no compile)"
                             : "compiled now";
    if (o.emit == "ptx")
      write_output(o, r.kernel.ptx);
    else if (o.emit == "cubin")
      write_output(o, r.kernel.cubin);
    else
      write_output(o, stats_text(o, r.kernel, tt, source));
    return 0;
  }
  auto k = tessel::codegen::gpu::compile(*module->functions.front(), target, options, until);
  if (o.emit == "ir-final")
    write_output(o, k.layouts);
  else if (o.emit == "llvm")
    write_output(o, k.llvm_ir);
  return 0;
}
