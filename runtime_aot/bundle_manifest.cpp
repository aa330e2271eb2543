// The AOT bundle's manifest: printing, parsing and the version check (bundle_manifest.h).
#include "runtime_aot/bundle_manifest.h"

#include "tessel/aot/bundle.h"
#include "tessel/error.h"
#include "tessel/version.h"

#include <charconv>
#include <cstdio>

namespace tessel::aot::format {
namespace {

constexpr DType kDTypes[] = {DType::i1,  DType::i8,   DType::i16, DType::i32, DType::i64,
                             DType::f16, DType::bf16, DType::f32, DType::f64};

const char* kind_name(ArgKind k) {
  switch (k) {
  case ArgKind::ptr:
    return "ptr";
  case ArgKind::i32:
    return "i32";
  case ArgKind::f32:
    return "f32";
  case ArgKind::f64:
    return "f64";
  }
  TESSEL_UNREACHABLE("bad ArgKind");
}

// "a16", "a1" for pointers; "d16", "d1", "one" for integers; "-" for floats.
std::string assumption(const Param& p) {
  switch (p.kind) {
  case ArgKind::ptr:
    return "a" + std::to_string(p.alignment);
  case ArgKind::i32:
    return p.equals_one ? "one" : "d" + std::to_string(p.divisibility);
  case ArgKind::f32:
  case ArgKind::f64:
    return "-";
  }
  TESSEL_UNREACHABLE("bad ArgKind");
}

std::string hex(uint64_t v) {
  char buf[17];
  std::snprintf(buf, sizeof buf, "%016llx", static_cast<unsigned long long>(v));
  return buf;
}

std::string file_fields(const File& f) {
  return f.name + "\t" + std::to_string(f.size) + "\t" + hex(f.hash);
}

std::vector<std::string_view> split_tabs(std::string_view line) {
  std::vector<std::string_view> out;
  for (size_t start = 0;;) {
    size_t tab = line.find('\t', start);
    out.push_back(line.substr(start, tab == std::string_view::npos ? tab : tab - start));
    if (tab == std::string_view::npos)
      return out;
    start = tab + 1;
  }
}

// Reads one manifest line's fields, with errors that name the file and the line.
struct Line {
  const std::string& path;
  int number;
  std::vector<std::string_view> fields;

  [[noreturn]] void fail(const std::string& why) const {
    throw Error("AOT bundle manifest " + path + ":" + std::to_string(number) + ": " + why +
                "; the bundle is damaged or not made by `tessel aot`: make it again");
  }
  void expect(size_t n) const {
    if (fields.size() != n)
      fail("'" + std::string(fields[0]) + "' needs " + std::to_string(n - 1) + " fields, not " +
           std::to_string(fields.size() - 1));
  }
  std::string text(size_t i) const { return std::string(fields[i]); }
  int64_t number_at(size_t i, int base = 10) const {
    int64_t v = 0;
    std::string_view f = fields[i];
    auto [end, ec] = std::from_chars(f.data(), f.data() + f.size(), v, base);
    if (ec != std::errc() || end != f.data() + f.size() || f.empty())
      fail("field " + std::to_string(i) + " of '" + std::string(fields[0]) + "' is '" +
           std::string(f) + "', not a number");
    return v;
  }
  File file_at(size_t i) const {
    uint64_t hash = 0;
    std::string_view f = fields[i + 2];
    auto [end, ec] = std::from_chars(f.data(), f.data() + f.size(), hash, 16);
    if (ec != std::errc() || end != f.data() + f.size() || f.empty())
      fail("checksum '" + std::string(f) + "' is not hexadecimal");
    return {text(i), uint64_t(number_at(i + 1)), hash};
  }
};

DType dtype_named(const Line& l, std::string_view name) {
  for (DType t : kDTypes)
    if (name == dtype_name(t))
      return t;
  l.fail("unknown element type '" + std::string(name) + "'");
}

Param parse_param(const Line& l) {
  l.expect(5);
  Param p;
  p.name = l.text(1);
  std::string_view kind = l.fields[2], assume = l.fields[4];
  if (kind == "ptr") {
    p.kind = ArgKind::ptr;
    p.dtype = dtype_named(l, l.fields[3]);
    if (assume != "a16" && assume != "a1")
      l.fail("a pointer's assumption is a16 or a1, not '" + std::string(assume) + "'");
    p.alignment = assume == "a16" ? 16 : 1;
  } else if (kind == "i32") {
    p.kind = ArgKind::i32;
    if (assume != "d16" && assume != "d1" && assume != "one")
      l.fail("an integer's assumption is d16, d1 or one, not '" + std::string(assume) + "'");
    p.equals_one = assume == "one";
    p.divisibility = assume == "d16" ? 16 : 1;
  } else if (kind == "f32") {
    p.kind = ArgKind::f32;
  } else if (kind == "f64") {
    p.kind = ArgKind::f64;
  } else {
    l.fail("unknown argument kind '" + std::string(kind) + "' (ptr, i32, f32 or f64)");
  }
  return p;
}

Kernel parse_kernel(const Line& l) {
  l.expect(8);
  if (l.fields[2] != "entry" || l.fields[4] != "num_warps" || l.fields[6] != "num_stages")
    l.fail("a kernel line is: kernel NAME entry ENTRY num_warps N num_stages S");
  Kernel k;
  k.name = l.text(1);
  k.entry = l.text(3);
  k.num_warps = int(l.number_at(5));
  k.num_stages = int(l.number_at(7));
  return k;
}

TargetCode parse_target(const Line& l) {
  l.expect(9);
  TargetCode t;
  t.target = l.text(1);
  t.shared_bytes = l.number_at(2);
  t.cubin = l.file_at(3);
  t.ptx = l.file_at(6);
  return t;
}

// The header lines: format, abi, tessel, build, in this order.
void parse_header(const Line& l, Manifest& m) {
  static const char* const kOrder[] = {"tessel-aot-bundle", "kernel-abi", "tessel", "build"};
  const char* want = kOrder[l.number - 1];
  if (l.fields[0] != want)
    l.fail(std::string("expected '") + want + "', found '" + std::string(l.fields[0]) + "'");
  l.expect(2);
  if (l.number == 1)
    m.format = int(l.number_at(1));
  if (l.number == 2)
    m.abi = int(l.number_at(1));
  if (l.number == 3)
    m.tessel_version = l.text(1);
  if (l.number == 4)
    m.build = l.text(1);
}

void parse_body(const Line& l, Manifest& m) {
  std::string_view what = l.fields[0];
  if (what == "kernel") {
    m.kernels.push_back(parse_kernel(l));
    return;
  }
  if (m.kernels.empty())
    l.fail("'" + std::string(what) + "' before any 'kernel' line");
  Kernel& k = m.kernels.back();
  if (what == "param") {
    k.params.push_back(parse_param(l));
  } else if (what == "const") {
    l.expect(3);
    k.constants.emplace_back(l.text(1), l.text(2));
  } else if (what == "ir") {
    l.expect(4);
    k.ir = l.file_at(1);
  } else if (what == "target") {
    k.targets.push_back(parse_target(l));
  } else {
    l.fail("unknown record '" + std::string(what) + "'");
  }
}

std::string major_minor(std::string_view version) {
  size_t first = version.find('.');
  size_t second = first == std::string_view::npos ? first : version.find('.', first + 1);
  return std::string(version.substr(0, second));
}

} // namespace

uint64_t fnv1a(std::string_view bytes) {
  uint64_t h = 0xcbf29ce484222325ull;
  for (unsigned char c : bytes)
    h = (h ^ c) * 0x100000001b3ull;
  return h;
}

File file_record(std::string name, std::string_view contents) {
  return {std::move(name), contents.size(), fnv1a(contents)};
}

std::string print(const Manifest& m) {
  std::string s = "tessel-aot-bundle\t" + std::to_string(m.format) + "\nkernel-abi\t" +
                  std::to_string(m.abi) + "\ntessel\t" + m.tessel_version + "\nbuild\t" + m.build +
                  "\n";
  for (const Kernel& k : m.kernels) {
    s += "kernel\t" + k.name + "\tentry\t" + k.entry + "\tnum_warps\t" +
         std::to_string(k.num_warps) + "\tnum_stages\t" + std::to_string(k.num_stages) + "\n";
    for (const Param& p : k.params)
      s += "param\t" + p.name + "\t" + kind_name(p.kind) + "\t" +
           (p.kind == ArgKind::ptr ? dtype_name(p.dtype) : "-") + "\t" + assumption(p) + "\n";
    for (const auto& [name, value] : k.constants)
      s += "const\t" + name + "\t" + value + "\n";
    s += "ir\t" + file_fields(k.ir) + "\n";
    for (const TargetCode& t : k.targets)
      s += "target\t" + t.target + "\t" + std::to_string(t.shared_bytes) + "\t" +
           file_fields(t.cubin) + "\t" + file_fields(t.ptx) + "\n";
  }
  return s;
}

Manifest parse(std::string_view text, const std::string& path) {
  Manifest m;
  int number = 0;
  for (size_t start = 0; start < text.size();) {
    size_t end = text.find('\n', start);
    std::string_view line = text.substr(start, end == std::string_view::npos ? end : end - start);
    start = end == std::string_view::npos ? text.size() : end + 1;
    Line l{path, ++number, split_tabs(line)};
    if (number <= 4)
      parse_header(l, m);
    else if (!line.empty())
      parse_body(l, m);
  }
  if (number < 4)
    throw Error("AOT bundle manifest " + path + " is truncated (" + std::to_string(number) +
                " lines); make the bundle again with `tessel aot`");
  return m;
}

void check_versions(const Manifest& m, const std::string& path) {
  const std::string ours = version();
  if (m.format != kBundleFormat || m.abi != kKernelAbi ||
      major_minor(m.tessel_version) != major_minor(ours))
    throw Error("AOT bundle " + path + " was made by tessel " + m.tessel_version +
                " (bundle format " + std::to_string(m.format) + ", kernel ABI " +
                std::to_string(m.abi) + "), but this is tessel " + ours + " (bundle format " +
                std::to_string(kBundleFormat) + ", kernel ABI " + std::to_string(kKernelAbi) +
                ", which loads bundles of tessel " + major_minor(ours) +
                ".x); make the bundle again with this version's `tessel aot`");
}

std::string params_text(const Kernel& k) {
  std::string s;
  for (const Param& p : k.params) {
    if (!s.empty())
      s += ' ';
    s += p.name + ":" + kind_name(p.kind) + ":" +
         (p.kind == ArgKind::ptr ? std::string(dtype_name(p.dtype)) + ":" : "") + assumption(p);
  }
  return s;
}

} // namespace tessel::aot::format
