// `tessel compile`: compiles a registered kernel (tessel/jit/registry.h) — a sample, or one a
// user's shared library registers — for a GPU target without a GPU, or for the host CPU, and
// prints one stage of the result. Everything printed comes from one tessel::CompileResult
// (tessel/jit/compile.h), the object the compile API returns.
//
//   tessel compile KERNEL [--target sm_90a|cpu] [--emit
//   ir|ir-opt|ir-final|llvm|asm|ptx|cubin|stats]
//                  [--load LIB.so ...] [--num-warps N] [--num-stages S] [-D NAME=VALUE ...] [-o
//                  FILE]
//                  [--no-line-info] [--no-fp-fusion] [--no-wgmma] [--no-cache] [--trips N]
//   tessel compile [--load LIB.so ...] --list   (the samples, the stdlib ops and the libraries'
//   kernels)
//
// `--emit ptx|cubin|stats` go through the JIT's compile pipeline, so they use (and fill) the disk
// cache like a launch does, and `stats` says where the kernel came from: the disk cache or
// compiled now (`--no-cache` compiles and leaves the cache alone). `ir`, `ir-opt`, `ir-final`,
// `llvm` and `asm` stop early and never touch the cache. On a GPU target `stats` also prints the
// tensor-core and cp.async counts and a static roofline (tools/tessel/roofline.h); `--trips N`
// assumes N iterations for its loops whose trip count is a run-time value.
#include "jit/disk_cache.h"
#include "tessel/codegen/gpu.h"
#include "tessel/jit/compile.h"
#include "tessel/jit/registry.h"
#include "tessel/ops/registry.h"
#include "tessel/samples/registry.h"
#include "tools/tessel/cli_number.h"
#include "tools/tessel/roofline.h"

#include <fmt/format.h>

#include <algorithm>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <optional>
#include <string>
#include <vector>

namespace {

const char* const kUsage =
    "usage: tessel compile KERNEL [--target sm_90a|cpu]\n"
    "                      [--emit ir|ir-opt|ir-final|llvm|asm|ptx|cubin|stats]\n"
    "                      [--load LIB.so ...] [--num-warps N] [--num-stages S] [-D NAME=VALUE "
    "...]\n"
    "                      [-o FILE]\n"
    "                      [--no-line-info] [--no-fp-fusion] [--no-wgmma] [--no-cache] [--trips "
    "N]\n"
    "       tessel compile [--load LIB.so ...] --list\n";

const char* const kEmits[] = {"ir", "ir-opt", "ir-final", "llvm", "asm", "ptx", "cubin", "stats"};

struct Options {
  std::string kernel;
  std::string target = "sm_90a";
  std::string emit = "ptx";
  std::string output;
  int num_warps = 4;
  int num_stages = 2;
  bool line_info = true;
  bool fp_fusion = true; // --no-fp-fusion: keep a*b + c as two roundings
  bool wgmma = true;     // --no-wgmma: sm_90a dots on mma.sync (docs/gpu_codegen.md)
  bool list = false;
  bool use_cache = true;
  std::optional<double> trips; // --trips: for the roofline's run-time loops
  std::vector<std::string> defines;
  std::vector<std::string> libraries;
};

using tessel::tools::parse_int;

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
    else if (a == "--load")
      o.libraries.push_back(value(i, a));
    else if (a.starts_with("--load="))
      o.libraries.push_back(a.substr(7));
    else if (a == "--num-warps")
      o.num_warps = parse_int(a, value(i, a));
    else if (a.starts_with("--num-warps="))
      o.num_warps = parse_int("--num-warps", a.substr(12));
    else if (a == "--num-stages")
      o.num_stages = parse_int(a, value(i, a));
    else if (a.starts_with("--num-stages="))
      o.num_stages = parse_int("--num-stages", a.substr(13));
    else if (a == "-D")
      o.defines.push_back(value(i, a));
    else if (a.starts_with("-D"))
      o.defines.push_back(a.substr(2));
    else if (a == "-o")
      o.output = value(i, a);
    else if (a == "--no-line-info")
      o.line_info = false;
    else if (a == "--no-fp-fusion")
      o.fp_fusion = false;
    else if (a == "--no-wgmma")
      o.wgmma = false;
    else if (a == "--no-cache")
      o.use_cache = false;
    else if (a == "--trips")
      o.trips = parse_int(a, value(i, a));
    else if (a.starts_with("--trips="))
      o.trips = parse_int("--trips", a.substr(8));
    else if (a == "--list")
      o.list = true;
    else if (!a.empty() && a[0] == '-')
      throw tessel::Error("unknown option '" + a + "'\n" + kUsage);
    else if (o.kernel.empty())
      o.kernel = a;
    else
      throw tessel::Error("more than one kernel named\n" + std::string(kUsage));
  }
  if (std::find(std::begin(kEmits), std::end(kEmits), o.emit) == std::end(kEmits))
    throw tessel::Error("unknown --emit '" + o.emit +
                        "'; valid: ir, ir-opt, ir-final, llvm, asm, ptx, cubin, stats");
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

void list_kernels() {
  for (const tessel::RegisteredKernel& k : tessel::registered_kernels()) {
    std::string params;
    for (const tessel::SignatureParam& p : k.defaults.params)
      params += std::string(params.empty() ? "" : ", ") + p.name;
    std::string from = k.library.empty() ? "" : "  [" + k.library + "]";
    std::printf("%-22s %s (%s)%s\n", k.name.c_str(), k.summary.c_str(), params.c_str(),
                from.c_str());
  }
}

// Which stages `--emit` needs, and which targets it makes sense for.
tessel::CompileUntil until_for(const Options& o, const tessel::Target& target) {
  using tessel::CompileUntil;
  bool gpu = target.is_nvptx();
  auto needs = [&](bool ok, const char* instead) {
    if (!ok)
      throw tessel::Error("tessel compile --emit " + o.emit + " needs " +
                          (gpu ? std::string("the CPU target (--target cpu); for a GPU use ")
                               : std::string("a GPU target (sm_80 ... sm_90a); for the CPU use ")) +
                          instead);
  };
  if (o.emit == "ir" || o.emit == "ir-opt")
    return CompileUntil::ir;
  if (o.emit == "ir-final")
    needs(gpu, "--emit ir-opt");
  if (o.emit == "asm")
    needs(!gpu, "--emit ptx");
  if (o.emit == "ptx" || o.emit == "cubin")
    needs(gpu, "--emit asm");
  if (o.emit == "ir-final" || o.emit == "llvm" || o.emit == "asm")
    return CompileUntil::llvm;
  return CompileUntil::binary;
}

// Which cache a hit came from: "user cache" or "read-only tier <root>".
std::string cache_tier_text(const std::string& key_hex) {
  std::optional<tessel::jit::CacheEntryInfo> info =
      tessel::jit::DiskCache::instance().find(key_hex);
  if (!info || !info->read_only)
    return "user cache";
  const size_t root_length = info->path.size() - key_hex.size() - std::string("/v1/").size();
  return "read-only tier " + info->path.substr(0, root_length);
}

// The PTX ISA the kernel was emitted in: its `.version` line (8.4 for a kernel with an fp8
// mma.sync, else the target's), or the target's when there is no PTX text.
std::string ptx_isa(const tessel::CompileResult& r) {
  const std::string tag = ".version ";
  const size_t at = r.ptx.find(tag);
  if (at == std::string::npos)
    return fmt::format("{}.{}", r.target.ptx_version() / 10, r.target.ptx_version() % 10);
  const size_t from = at + tag.size();
  return r.ptx.substr(from, r.ptx.find_first_of(" \n", from) - from);
}

std::string header_text(const Options& o, const tessel::CompileResult& r) {
  std::string s = r.target.is_nvptx()
                      ? fmt::format("kernel {} for {} (PTX ISA {}), num_warps {}", r.entry,
                                    r.target.name(), ptx_isa(r), r.num_warps)
                      : fmt::format("kernel {} for the host CPU", r.entry);
  for (const std::string& d : o.defines)
    s += " -D " + d;
  std::string source = r.source == tessel::KernelSource::disk
                           ? "disk cache, " + cache_tier_text(r.cache_key) + " (entry " +
                                 r.cache_key.substr(0, 16) + "...; no compile)"
                           : "compiled now";
  return s + "\nsource: " + source + "\nsignature: " + r.signature.to_string() + "\n";
}

std::string gpu_stats_text(const Options& o, const tessel::CompileResult& r) {
  const tessel::ResourceReport& res = r.resources;
  std::string s = "\nresources (nvJitLink):\n";
  s += fmt::format(
      "  registers            {}\n  spill stores         {} bytes\n  spill loads          {} "
      "bytes\n"
      "  stack frame          {} bytes\n  static shared memory {} bytes\n"
      "  dynamic shared memory {} bytes (launch with this)\n  constant memory      {} bytes\n",
      res.registers, res.spill_stores, res.spill_loads, res.stack_bytes, res.static_shared_bytes,
      r.shared_bytes, res.const_bytes);
  tessel::codegen::gpu::PtxStats st = tessel::codegen::gpu::ptx_stats(r.ptx);
  s += fmt::format("\ninstruction mix (PTX, {} instructions):\n", st.instructions);
  for (const auto& [name, count] : st.counts)
    s += fmt::format("  {:<16} {}\n", name, count);
  // Always shown, zeros included: whether a dot runs on tensor cores and streams its operands
  // through a cp.async pipeline is the first question about a matmul-like kernel.
  s += "\ntensor cores and async copies (PTX):\n";
  for (const char* name :
       {"mma", "ldmatrix", "cp.async", "cp.async.commit_group", "cp.async.wait_group", "wgmma"})
    s += fmt::format("  {:<22} {}\n", name, st.get(name));
  s += tessel::tools::roofline_text(r, o.trips);
  const tessel::CompileStageTimes& t = r.times;
  s += fmt::format(
      "\nstage times (ms):\n  trace      {:8.2f}\n  passes     {:8.2f}\n  cache      {:8.2f}\n"
      "  layouts    {:8.2f}\n  lower      {:8.2f}\n  libdevice  {:8.2f}\n  llvm O3    {:8.2f}\n"
      "  ptx        {:8.2f}\n  cubin      {:8.2f}\n  total      {:8.2f}\n",
      t.trace_ms, t.passes_ms, t.cache_ms, t.layout_ms, t.lower_ms, t.libdevice_ms, t.optimize_ms,
      t.codegen_ms, t.link_ms, t.total_ms());
  return s;
}

std::string cpu_stats_text(const tessel::CompileResult& r) {
  const tessel::CompileStageTimes& t = r.times;
  return fmt::format("\nobject code: {} bytes\n\nstage times (ms):\n  trace      {:8.2f}\n"
                     "  passes     {:8.2f}\n  cache      {:8.2f}\n  lower      {:8.2f}\n"
                     "  llvm O3    {:8.2f}\n  object     {:8.2f}\n  link       {:8.2f}\n"
                     "  total      {:8.2f}\n",
                     r.binary.size(), t.trace_ms, t.passes_ms, t.cache_ms, t.lower_ms,
                     t.optimize_ms, t.codegen_ms, t.link_ms, t.total_ms());
}

const std::string& emitted(const Options& o, const tessel::CompileResult& r) {
  if (o.emit == "ir")
    return r.traced_ir;
  if (o.emit == "ir-opt")
    return r.optimized_ir;
  if (o.emit == "ir-final")
    return r.final_ir;
  if (o.emit == "llvm")
    return r.llvm_ir;
  if (o.emit == "asm")
    return r.assembly;
  if (o.emit == "ptx")
    return r.ptx;
  return r.binary; // cubin
}

} // namespace

int run_compile_command(int argc, char** argv) {
  Options o = parse(argc, argv);
  tessel::samples::register_samples();
  tessel::ops::register_kernels();
  for (const std::string& lib : o.libraries)
    (void)tessel::load_kernel_library(lib);
  if (o.list) {
    list_kernels();
    return 0;
  }
  tessel::RegisteredKernel reg = tessel::find_registered_kernel(o.kernel);
  const tessel::Kernel& kernel = reg.kernel();
  tessel::Target target = tessel::Target::parse(o.target);
  tessel::CompileOptions options;
  options.num_warps = o.num_warps;
  options.num_stages = o.num_stages;
  options.line_info = o.line_info;
  options.fp_fusion = o.fp_fusion;
  options.wgmma = o.wgmma;
  options.until = until_for(o, target);
  options.cache = o.use_cache ? tessel::CacheMode::read_write : tessel::CacheMode::off;
  tessel::Signature signature = tessel::apply_defines(kernel, reg.defaults, o.defines);
  tessel::CompileResult r = kernel.compile(target, signature, options);
  if (o.emit != "stats") {
    write_output(o, emitted(o, r));
    return 0;
  }
  write_output(o,
               header_text(o, r) + (target.is_nvptx() ? gpu_stats_text(o, r) : cpu_stats_text(r)));
  return 0;
}
