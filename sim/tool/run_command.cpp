// Implementation of the tessel-sim command: argument parsing, buffers from files, the
// launch, writing argN.bin outputs and printing the profile and errors.
#include "run_command.h"

#include <tessel/sim/sim.h>

#include <fmt/format.h>

#include <charconv>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

namespace tessel::sim::tool {

std::string help_text() {
  return R"(tessel-sim: run PTX kernels on the CPU with memory, race and bank-conflict checking.

usage:
  tessel-sim run FILE.ptx --entry NAME --grid X[,Y,Z] --block X[,Y,Z] [--smem BYTES]
                 [--arg SPEC]... [--out DIR] [--no-racecheck] [--no-initcheck]
                 [--max-instructions N] [--quiet]
  tessel-sim list FILE.ptx        print the kernels of a module and their parameters
  tessel-sim --help

Each --arg gives the next kernel parameter, in order:
  i8:V i16:V i32:V i64:V u8:V u16:V u32:V u64:V f32:V f64:V   a scalar
  in:FILE.bin       a device buffer initialised with the file's bytes
  out:BYTES         a zero-filled device buffer of BYTES bytes
  inout:FILE.bin    a device buffer initialised from the file, written back
Buffers are passed as 64-bit device pointers. After the launch every out/inout buffer
is written to DIR/argN.bin (N = the argument's 0-based position; DIR defaults to .).

What the kernel printed with vprintf (printf) comes first, in execution order. The profile
is printed: thread instructions per opcode, and for each PTX line with shared-memory
accesses the requests, wavefronts, ideal wavefronts and bank conflicts.
Errors found while running (memcheck, racecheck, cp.async ordering) are printed after
it. Exit status: 0 clean run, 1 errors were found, 2 bad usage or input.
)";
}

namespace {

struct Usage {
  std::string message;
};

bool parse_dim3(const std::string& s, Dim3& d) {
  uint32_t v[3] = {1, 1, 1};
  size_t start = 0;
  for (int i = 0; i < 3; ++i) {
    size_t comma = s.find(',', start);
    std::string part =
        s.substr(start, comma == std::string::npos ? std::string::npos : comma - start);
    auto [p, ec] = std::from_chars(part.data(), part.data() + part.size(), v[i]);
    if (ec != std::errc() || p != part.data() + part.size() || part.empty())
      return false;
    if (comma == std::string::npos) {
      d = {v[0], v[1], v[2]};
      return true;
    }
    start = comma + 1;
  }
  return false;
}

bool read_file(const std::string& path, std::string& data) {
  std::ifstream f(path, std::ios::binary);
  if (!f)
    return false;
  std::ostringstream ss;
  ss << f.rdbuf();
  data = ss.str();
  return true;
}

struct ArgSpec {
  std::string kind; // scalar type or in/out/inout
  std::string value;
};

template <typename T> bool parse_number(const std::string& s, T& out) {
  if constexpr (std::is_floating_point_v<T>) {
    char* end = nullptr;
    double v = std::strtod(s.c_str(), &end);
    if (end != s.c_str() + s.size() || s.empty())
      return false;
    out = static_cast<T>(v);
    return true;
  } else {
    int base = 10;
    std::string t = s;
    bool neg = false;
    if (!t.empty() && t[0] == '-') {
      neg = true;
      t = t.substr(1);
    }
    if (t.size() > 2 && t[0] == '0' && (t[1] == 'x' || t[1] == 'X')) {
      base = 16;
      t = t.substr(2);
    }
    uint64_t v = 0;
    auto [p, ec] = std::from_chars(t.data(), t.data() + t.size(), v, base);
    if (ec != std::errc() || p != t.data() + t.size() || t.empty())
      return false;
    out = static_cast<T>(neg ? uint64_t(0) - v : v);
    return true;
  }
}

int list_command(const std::vector<std::string>& args, std::ostream& out, std::ostream& err) {
  if (args.size() != 2) {
    err << "tessel-sim list: expected one PTX file\n";
    return 2;
  }
  std::string text;
  if (!read_file(args[1], text)) {
    err << "tessel-sim: cannot read '" << args[1] << "'\n";
    return 2;
  }
  auto module = parse_module(text, args[1]);
  if (!module.ok()) {
    err << args[1] << ": " << module.error().to_string() << "\n";
    return 2;
  }
  for (auto& k : module_kernels(**module)) {
    out << k.name << "(";
    for (size_t i = 0; i < k.params.size(); ++i)
      out << (i ? ", " : "") << k.params[i].name << ":" << k.params[i].size << "B";
    out << ")  static shared " << k.static_shared_bytes << " B\n";
  }
  return 0;
}

} // namespace

int run_command(const std::vector<std::string>& args, std::ostream& out, std::ostream& err) {
  if (args.empty() || args[0] == "--help" || args[0] == "-h" || args[0] == "help") {
    (args.empty() ? err : out) << help_text();
    return args.empty() ? 2 : 0;
  }
  if (args[0] == "list")
    return list_command(args, out, err);
  if (args[0] != "run") {
    err << "tessel-sim: unknown command '" << args[0] << "' (try --help)\n";
    return 2;
  }
  std::string file, entry, out_dir = ".";
  Dim3 grid, block;
  bool have_grid = false, have_block = false, quiet = false;
  uint32_t smem = 0;
  LaunchOptions options;
  std::vector<ArgSpec> specs;
  try {
    for (size_t i = 1; i < args.size(); ++i) {
      const std::string& a = args[i];
      auto value = [&]() -> const std::string& {
        if (i + 1 >= args.size())
          throw Usage{"option " + a + " needs a value"};
        return args[++i];
      };
      if (a == "--help" || a == "-h") {
        out << help_text();
        return 0;
      } else if (a == "--entry") {
        entry = value();
      } else if (a == "--grid") {
        if (!parse_dim3(value(), grid))
          throw Usage{"--grid expects X[,Y,Z], got '" + args[i] + "'"};
        have_grid = true;
      } else if (a == "--block") {
        if (!parse_dim3(value(), block))
          throw Usage{"--block expects X[,Y,Z], got '" + args[i] + "'"};
        have_block = true;
      } else if (a == "--smem") {
        if (!parse_number(value(), smem))
          throw Usage{"--smem expects a byte count, got '" + args[i] + "'"};
      } else if (a == "--out") {
        out_dir = value();
      } else if (a == "--arg") {
        const std::string& v = value();
        size_t colon = v.find(':');
        if (colon == std::string::npos)
          throw Usage{"--arg expects KIND:VALUE, got '" + v + "'"};
        specs.push_back({v.substr(0, colon), v.substr(colon + 1)});
      } else if (a == "--no-racecheck") {
        options.racecheck = false;
      } else if (a == "--no-initcheck") {
        options.check_uninitialized = false;
      } else if (a == "--max-instructions") {
        if (!parse_number(value(), options.max_warp_instructions))
          throw Usage{"--max-instructions expects a number"};
      } else if (a == "--quiet") {
        quiet = true;
      } else if (!a.empty() && a[0] == '-') {
        throw Usage{"unknown option '" + a + "'"};
      } else if (file.empty()) {
        file = a;
      } else {
        throw Usage{"unexpected argument '" + a + "'"};
      }
    }
    if (file.empty())
      throw Usage{"no PTX file given"};
    if (entry.empty())
      throw Usage{"--entry is required"};
    if (!have_grid || !have_block)
      throw Usage{"--grid and --block are required"};
  } catch (const Usage& u) {
    err << "tessel-sim run: " << u.message << " (try --help)\n";
    return 2;
  }
  std::string text;
  if (!read_file(file, text)) {
    err << "tessel-sim: cannot read '" << file << "'\n";
    return 2;
  }
  auto module = parse_module(text, file);
  if (!module.ok()) {
    err << file << ": " << module.error().to_string() << "\n";
    return 2;
  }
  Device device;
  std::vector<KernelArg> kargs;
  struct Buffer {
    size_t arg;
    uint64_t address;
    size_t size;
  };
  std::vector<Buffer> outputs;
  for (size_t i = 0; i < specs.size(); ++i) {
    const ArgSpec& s = specs[i];
    auto bad = [&](const std::string& why) {
      err << "tessel-sim run: argument " << i << " ('" << s.kind << ":" << s.value << "'): " << why
          << "\n";
      return 2;
    };
    if (s.kind == "in" || s.kind == "inout" || s.kind == "out") {
      std::string data;
      if (s.kind == "out") {
        size_t n = 0;
        if (!parse_number(s.value, n))
          return bad("expected a byte count");
        data.assign(n, '\0');
      } else if (!read_file(s.value, data)) {
        return bad("cannot read the file");
      }
      uint64_t addr = *device.malloc(data.size());
      if (!data.empty())
        (void)device.memcpy_to_device(addr, data.data(), data.size());
      kargs.push_back(KernelArg::ptr(addr));
      if (s.kind != "in")
        outputs.push_back({i, addr, data.size()});
      continue;
    }
    bool ok = true;
    if (s.kind == "i8") {
      int8_t v{};
      ok = parse_number(s.value, v);
      kargs.push_back(KernelArg::of(v));
    } else if (s.kind == "u8") {
      uint8_t v{};
      ok = parse_number(s.value, v);
      kargs.push_back(KernelArg::of(v));
    } else if (s.kind == "i16") {
      int16_t v{};
      ok = parse_number(s.value, v);
      kargs.push_back(KernelArg::of(v));
    } else if (s.kind == "u16") {
      uint16_t v{};
      ok = parse_number(s.value, v);
      kargs.push_back(KernelArg::of(v));
    } else if (s.kind == "i32") {
      int32_t v{};
      ok = parse_number(s.value, v);
      kargs.push_back(KernelArg::of(v));
    } else if (s.kind == "u32") {
      uint32_t v{};
      ok = parse_number(s.value, v);
      kargs.push_back(KernelArg::of(v));
    } else if (s.kind == "i64") {
      int64_t v{};
      ok = parse_number(s.value, v);
      kargs.push_back(KernelArg::of(v));
    } else if (s.kind == "u64") {
      uint64_t v{};
      ok = parse_number(s.value, v);
      kargs.push_back(KernelArg::of(v));
    } else if (s.kind == "f32") {
      float v{};
      ok = parse_number(s.value, v);
      kargs.push_back(KernelArg::of(v));
    } else if (s.kind == "f64") {
      double v{};
      ok = parse_number(s.value, v);
      kargs.push_back(KernelArg::of(v));
    } else
      return bad("unknown kind (expected i8..u64, f32, f64, in, out or inout)");
    if (!ok)
      return bad("cannot parse the value");
  }
  auto result = device.launch(*module, entry, grid, block, smem, kargs, options);
  if (!result.ok()) {
    err << file << ": " << result.error().to_string() << "\n";
    return 2;
  }
  const LaunchReport& report = result.value();
  if (!outputs.empty()) {
    std::error_code ec;
    std::filesystem::create_directories(out_dir, ec);
  }
  for (const Buffer& b : outputs) {
    std::string data(b.size, '\0');
    (void)device.memcpy_to_host(data.data(), b.address, b.size);
    std::string path = (std::filesystem::path(out_dir) / fmt::format("arg{}.bin", b.arg)).string();
    std::ofstream f(path, std::ios::binary);
    if (!f || !f.write(data.data(), static_cast<std::streamsize>(data.size()))) {
      err << "tessel-sim: cannot write '" << path << "'\n";
      return 2;
    }
  }
  for (const PrintfRecord& p : report.printf_output) // the kernel's printf, in execution order
    out << p.text;
  if (!quiet)
    out << report.profile.to_string();
  for (const Error& e : report.errors)
    out << e.to_string() << "\n";
  if (report.ok()) {
    out << "ok\n";
  } else {
    out << fmt::format("{} distinct error(s)", report.errors.size());
    if (report.dropped_errors)
      out << fmt::format(", {} further occurrence(s) not shown", report.dropped_errors);
    out << "\n";
  }
  return report.ok() ? 0 : 1;
}

} // namespace tessel::sim::tool
