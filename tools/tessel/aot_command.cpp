// `tessel aot`: compiles registered kernels ahead of time into a bundle directory that
// libtessel_runtime loads without LLVM (tessel/aot/bundle.h):
//
//   tessel aot --kernels K1,K2 --targets sm_80,sm_90a --out DIR [--load LIB.so ...]
//              [-D [KERNEL:]NAME=VALUE ...] [--num-warps N] [--num-stages S]
//              [--header NAME.h] [--namespace NS]
//
// Each kernel is compiled with its registered default signature (tessel compile --list), changed
// by -D exactly as `tessel compile -D` does; "KERNEL:NAME=VALUE" changes one kernel only, and
// "KERNEL:num_warps=8" / "KERNEL:num_stages=3" its launch options. For each kernel and target,
// DIR gets the cubin (nvJitLink, no GPU needed) and the PTX (which the simulated device runs), and
// once per kernel the traced tile IR (which the JIT fallback compiles for a target the bundle
// lacks). DIR/manifest.tsv names the tessel version and kernel ABI; DIR/tessel_aot.h has the
// typed launch functions. Compiles go through the disk cache like `tessel compile`.
#include "runtime_aot/bundle_manifest.h"
#include "tessel/aot/bundle.h"
#include "tessel/jit/compile.h"
#include "tessel/jit/registry.h"
#include "tessel/ops/registry.h"
#include "tessel/samples/registry.h"
#include "tessel/version.h"
#include "tools/tessel/aot_header.h"
#include "tools/tessel/cli_number.h"

#include <fmt/format.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

namespace {

namespace format = tessel::aot::format;

const char* const kUsage =
    "usage: tessel aot --kernels K1,K2 --targets sm_80,sm_90a --out DIR [--load LIB.so ...]\n"
    "                  [-D [KERNEL:]NAME=VALUE ...] [--num-warps N] [--num-stages S]\n"
    "                  [--header NAME.h] [--namespace NS]\n";

struct Options {
  std::vector<std::string> kernels, targets, defines, libraries;
  std::string out, header = "tessel_aot.h", ns = "tessel_aot";
  int num_warps = 4, num_stages = 2;
};

std::vector<std::string> split_commas(const std::string& s) {
  std::vector<std::string> out;
  for (size_t start = 0; start <= s.size();) {
    size_t comma = std::min(s.find(',', start), s.size());
    if (comma > start)
      out.push_back(s.substr(start, comma - start));
    start = comma + 1;
  }
  return out;
}

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
    if (a == "--kernels")
      o.kernels = split_commas(value(i, a));
    else if (a == "--targets")
      o.targets = split_commas(value(i, a));
    else if (a == "--out")
      o.out = value(i, a);
    else if (a == "--load")
      o.libraries.push_back(value(i, a));
    else if (a == "-D")
      o.defines.push_back(value(i, a));
    else if (a.starts_with("-D"))
      o.defines.push_back(a.substr(2));
    else if (a == "--num-warps")
      o.num_warps = parse_int(a, value(i, a));
    else if (a == "--num-stages")
      o.num_stages = parse_int(a, value(i, a));
    else if (a == "--header")
      o.header = value(i, a);
    else if (a == "--namespace")
      o.ns = value(i, a);
    else if (a == "--help" || a == "-h") {
      std::fputs(kUsage, stdout);
      std::exit(0);
    } else
      throw tessel::Error("tessel aot: unknown argument '" + a + "'\n" + kUsage);
  }
  if (o.kernels.empty() || o.targets.empty() || o.out.empty())
    throw tessel::Error("tessel aot needs --kernels, --targets and --out\n" + std::string(kUsage));
  return o;
}

// The defines and launch options of one kernel: unprefixed defines apply to every kernel,
// "KERNEL:..." to that kernel only.
struct KernelSettings {
  std::vector<std::string> defines;
  tessel::CompileOptions options;
};

KernelSettings settings_for(const Options& o, const std::string& kernel) {
  KernelSettings s;
  s.options.num_warps = o.num_warps;
  s.options.num_stages = o.num_stages;
  for (const std::string& d : o.defines) {
    size_t colon = d.find(':');
    if (colon == std::string::npos) {
      s.defines.push_back(d);
      continue;
    }
    if (d.substr(0, colon) != kernel)
      continue;
    std::string rest = d.substr(colon + 1);
    if (rest.starts_with("num_warps="))
      s.options.num_warps = parse_int("-D " + d, rest.substr(10));
    else if (rest.starts_with("num_stages="))
      s.options.num_stages = parse_int("-D " + d, rest.substr(11));
    else
      s.defines.push_back(rest);
  }
  return s;
}

void check_prefixes(const Options& o) {
  for (const std::string& d : o.defines) {
    size_t colon = d.find(':');
    if (colon != std::string::npos &&
        std::find(o.kernels.begin(), o.kernels.end(), d.substr(0, colon)) == o.kernels.end())
      throw tessel::Error("tessel aot: -D " + d + " names kernel '" + d.substr(0, colon) +
                          "', which is not in --kernels");
  }
}

// The manifest's parameter records from the resolved signature of a compile.
void add_params(const tessel::Signature& sig, format::Kernel& k) {
  using Kind = tessel::SignatureParam::Kind;
  for (const tessel::SignatureParam& p : sig.params) {
    format::Param a;
    a.name = p.name;
    switch (p.kind) {
    case Kind::constant:
      k.constants.emplace_back(p.name, tessel::dtype_is_float(p.dtype)
                                           ? fmt::format("{}", p.float_value)
                                           : std::to_string(p.int_value));
      continue;
    case Kind::pointer:
      a.kind = format::ArgKind::ptr;
      a.dtype = p.dtype;
      a.alignment = p.alignment;
      break;
    case Kind::integer:
      a.kind = format::ArgKind::i32;
      a.divisibility = p.divisibility;
      a.equals_one = p.equals_one;
      break;
    case Kind::floating:
      a.kind = p.dtype == tessel::DType::f64 ? format::ArgKind::f64 : format::ArgKind::f32;
      break;
    }
    k.params.push_back(std::move(a));
  }
}

void write_file(const std::filesystem::path& path, const std::string& bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  if (!out || !out.write(bytes.data(), std::streamsize(bytes.size())) || !out.flush())
    throw tessel::Error("tessel aot: cannot write " + path.string());
}

format::Kernel compile_kernel(const Options& o, const std::string& name, std::string& summary) {
  tessel::RegisteredKernel reg = tessel::find_registered_kernel(name);
  summary = reg.summary;
  const tessel::Kernel& kernel = reg.kernel();
  KernelSettings s = settings_for(o, name);
  tessel::Signature sig = tessel::apply_defines(kernel, reg.defaults, s.defines);
  format::Kernel k;
  k.name = name;
  k.num_warps = s.options.num_warps;
  k.num_stages = s.options.num_stages;
  const std::filesystem::path dir(o.out);
  for (const std::string& t : o.targets) {
    tessel::Target target = tessel::Target::parse(t);
    if (!target.is_nvptx())
      throw tessel::Error("tessel aot: --targets takes GPU targets (sm_80, sm_86, sm_89, sm_90, "
                          "sm_90a), not '" +
                          t + "'");
    tessel::CompileResult r = kernel.compile(target, sig, s.options);
    if (r.tensor_maps > 0)
      throw tessel::Error("tessel aot: kernel '" + name +
                          "' copies tensor descriptors with TMA on " + target.name() +
                          ", whose tensor maps a bundle's launch does not build yet; bundle it "
                          "for sm_80 (masked loads) or launch it through the JIT");
    if (k.params.empty() && k.constants.empty()) {
      add_params(r.signature, k);
      k.entry = r.entry;
      k.ir = format::file_record(name + ".tir", r.traced_ir);
      write_file(dir / k.ir.name, r.traced_ir);
    }
    format::TargetCode code;
    code.target = target.name();
    code.shared_bytes = r.shared_bytes;
    code.cubin = format::file_record(name + "." + code.target + ".cubin", r.binary);
    code.ptx = format::file_record(name + "." + code.target + ".ptx", r.ptx);
    write_file(dir / code.cubin.name, r.binary);
    write_file(dir / code.ptx.name, r.ptx);
    std::printf("tessel aot: %-16s %-7s %7zu bytes of cubin, %lld bytes of shared memory (%s)\n",
                name.c_str(), code.target.c_str(), r.binary.size(),
                static_cast<long long>(r.shared_bytes),
                r.source == tessel::KernelSource::disk ? "from the disk cache" : "compiled");
    k.targets.push_back(std::move(code));
  }
  return k;
}

std::string command_line(int argc, char** argv) {
  std::string s = "tessel aot";
  for (int i = 0; i < argc; ++i)
    s += std::string(" ") + argv[i];
  return s;
}

} // namespace

int run_aot_command(int argc, char** argv) {
  Options o = parse(argc, argv);
  tessel::samples::register_samples();
  tessel::ops::register_kernels();
  for (const std::string& lib : o.libraries)
    (void)tessel::load_kernel_library(lib);
  check_prefixes(o);
  std::error_code ec;
  std::filesystem::create_directories(o.out, ec);
  if (ec)
    throw tessel::Error("tessel aot: cannot create " + o.out + ": " + ec.message());
  // A manifest names a whole bundle: the old one goes first, the new one is written last.
  std::filesystem::remove(std::filesystem::path(o.out) / "manifest.tsv", ec);

  format::Manifest m;
  m.format = tessel::aot::kBundleFormat;
  m.abi = tessel::aot::kKernelAbi;
  m.tessel_version = tessel::version();
  m.build = tessel::build_id();
  std::vector<std::string> summaries;
  for (const std::string& name : o.kernels) {
    summaries.emplace_back();
    m.kernels.push_back(compile_kernel(o, name, summaries.back()));
  }
  std::vector<tessel::tools::HeaderKernel> header;
  for (size_t i = 0; i < m.kernels.size(); ++i)
    header.push_back({&m.kernels[i], summaries[i]});
  const std::filesystem::path dir(o.out);
  write_file(dir / o.header,
             tessel::tools::aot_header_text(header, o.ns, command_line(argc, argv)));
  write_file(dir / "manifest.tsv", format::print(m)); // last: a bundle is whole once it exists
  std::printf("tessel aot: wrote %zu kernel(s) for %zu target(s) to %s (%s, manifest.tsv)\n",
              m.kernels.size(), o.targets.size(), o.out.c_str(), o.header.c_str());
  return 0;
}
