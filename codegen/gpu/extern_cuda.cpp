// CUDA C++ device functions called from kernels (extern_cuda.h): their wrappers, NVRTC, and the
// PTX-level merge for the simulator.
#include "codegen/gpu/extern_cuda.h"

#include "codegen/gpu/nvrtc.h"

#include <fmt/format.h>

#include <cctype>
#include <map>
#include <regex>
#include <set>
#include <sstream>

namespace tessel::codegen::gpu::detail {

namespace {

// FNV-1a: a stable hash (the symbol appears in cached PTX, so it must not vary by process).
uint64_t fnv1a(std::string_view s, uint64_t h = 0xcbf29ce484222325ull) {
  for (unsigned char c : s)
    h = (h ^ c) * 0x100000001b3ull;
  return h;
}

// The CUDA C++ spelling of an extern function's parameter or result type (verify_extern_call
// allows only these).
const char* cuda_type(const ir::Type* t) {
  const ir::Type* e = t->element();
  switch (e->dtype()) {
  case DType::i32:
    return "int";
  case DType::u32:
    return "unsigned int";
  case DType::i64:
    return "long long";
  case DType::u64:
    return "unsigned long long";
  case DType::f32:
    return "float";
  case DType::f64:
    return "double";
  case DType::i1:
  case DType::i8:
  case DType::i16:
  case DType::u8:
  case DType::u16:
  case DType::f16:
  case DType::bf16:
  case DType::f8e4m3:
  case DType::f8e5m2:
    break;
  }
  TESSEL_UNREACHABLE("an extern function type the verifier rejects");
}

std::string signature_text(const ir::Type* result, const std::vector<const ir::Type*>& params) {
  std::string s = cuda_type(result);
  s += "(";
  for (size_t i = 0; i < params.size(); ++i)
    s += std::string(i ? "," : "") + cuda_type(params[i]);
  return s + ")";
}

std::vector<const ir::Type*> param_types(const ir::Op& op) {
  std::vector<const ir::Type*> out;
  for (const ir::Value* v : op.operands())
    out.push_back(v->type()->element());
  return out;
}

std::string type_list(const ExternFunctionUse& use) {
  std::string s = "(";
  for (size_t i = 0; i < use.params.size(); ++i)
    s += std::string(i ? ", " : "") + cuda_type(use.params[i]);
  return s + ")";
}

bool is_header_line(std::string_view line) {
  size_t i = line.find_first_not_of(" \t");
  if (i == std::string_view::npos)
    return true;
  line.remove_prefix(i);
  return line.starts_with(".version") || line.starts_with(".target") ||
         line.starts_with(".address_size") || line.starts_with("//");
}

// `ptx` without its .version / .target / .address_size lines and comments.
std::string body_of(const std::string& ptx) {
  std::istringstream in(ptx);
  std::string line, out;
  while (std::getline(in, line))
    if (!is_header_line(line))
      out += line + "\n";
  return out;
}

// [begin, end) of the `.extern .func` declaration of `symbol` in `ptx`; npos when absent.
std::pair<size_t, size_t> find_declaration(const std::string& ptx, const std::string& symbol) {
  for (size_t at = ptx.find(".extern .func"); at != std::string::npos;
       at = ptx.find(".extern .func", at + 1)) {
    size_t end = ptx.find(';', at);
    if (end == std::string::npos)
      break;
    std::string_view decl(ptx.data() + at, end - at);
    size_t name = decl.find(symbol);
    bool whole = name != std::string_view::npos &&
                 (name + symbol.size() == decl.size() ||
                  !(std::isalnum(static_cast<unsigned char>(decl[name + symbol.size()])) ||
                    decl[name + symbol.size()] == '_'));
    if (whole)
      return {at, end + 1};
  }
  return {std::string::npos, std::string::npos};
}

bool is_ptx_ident_char(char c) {
  return std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '$';
}

// `ptx` with every whole-word `from` replaced by `to`.
std::string rename_word(const std::string& ptx, const std::string& from, const std::string& to) {
  std::string out;
  size_t pos = 0;
  for (size_t at = ptx.find(from); at != std::string::npos; at = ptx.find(from, at + 1)) {
    const size_t end = at + from.size();
    if ((at > 0 && is_ptx_ident_char(ptx[at - 1])) ||
        (end < ptx.size() && is_ptx_ident_char(ptx[end])))
      continue;
    out.append(ptx, pos, at - pos);
    out += to;
    pos = end;
  }
  out.append(ptx, pos, std::string::npos);
  return out;
}

// NVRTC's PTX with the functions and variables it defines, other than the wrapper `keep`, renamed
// with `suffix`: two extern sources in one kernel may define the same names (their own `f`, a
// helper, NVRTC's internal functions), which would clash in the merged module the simulator runs
// and in nvJitLink's link.
std::string isolate_symbols(const std::string& ptx, const std::string& keep,
                            const std::string& suffix) {
  static const std::regex kDefinition(
      R"(^\s*(?:\.visible\s+|\.weak\s+)?(?:\.func\s*(?:\([^)]*\)\s*)?|\.(?:global|const)\s+[^;=]*?)([A-Za-z_$][A-Za-z0-9_$]*)\s*(?:\(|\[|;|=))");
  std::set<std::string> names;
  std::istringstream in(ptx);
  std::string line;
  std::smatch m;
  while (std::getline(in, line))
    if (std::regex_search(line, m, kDefinition) && m[1] != keep)
      names.insert(m[1]);
  std::string out = ptx;
  for (const std::string& n : names)
    out = rename_word(out, n, n + suffix);
  return out;
}

} // namespace

std::string extern_symbol(const ir::Op& op) {
  const std::string& name = op.attr("name").s;
  uint64_t h = fnv1a(op.attr("source").s);
  h = fnv1a(name, h);
  h = fnv1a(signature_text(op.result()->type(), param_types(op)), h);
  return fmt::format("tessel_extern_{}_{:016x}", name, h);
}

std::vector<ExternFunctionUse> extern_functions(const ir::Function& function) {
  std::vector<ExternFunctionUse> out;
  std::map<std::string, size_t> seen;
  ir::walk(function.body, [&](const ir::Op& op) {
    if (op.opcode() != ir::Opcode::ExternCall)
      return;
    std::string symbol = extern_symbol(op);
    if (seen.contains(symbol))
      return;
    seen[symbol] = out.size();
    out.push_back(ExternFunctionUse{symbol, op.attr("source").s, op.attr("name").s,
                                    op.result()->type()->element(), param_types(op), op.loc});
  });
  return out;
}

std::string wrapper_source(const ExternFunctionUse& use) {
  std::string params, args;
  for (size_t i = 0; i < use.params.size(); ++i) {
    params += fmt::format("{}{} a{}", i ? ", " : "", cuda_type(use.params[i]), i);
    args += fmt::format("{}a{}", i ? ", " : "", i);
  }
  return fmt::format("{}\n\n// tessel: the wrapper the kernel calls (C linkage, the kernel's "
                     "types).\nextern \"C\" __device__ {} {}({}) {{ return {}({}); }}\n",
                     use.source, cuda_type(use.result), use.symbol, params, use.name, args);
}

std::string compile_extern_ptx(const ExternFunctionUse& use, const Target& target,
                               const std::string& kernel) {
  std::string arch = target.name();
  if (arch.starts_with("sm_"))
    arch = "compute_" + arch.substr(3);
  const std::vector<std::string> options = {"--gpu-architecture=" + arch, "-rdc=true",
                                            "--std=c++17"};
  NvrtcOutput out;
  try {
    out = nvrtc_compile(wrapper_source(use), "extern_cuda_" + use.name + ".cu", options);
  } catch (const Error& e) {
    throw Error(use.loc,
                fmt::format("kernel `{}` calls extern_cuda function '{}', compiled for {}: "
                            "{}",
                            kernel, use.name, target.name(), e.what()));
  }
  if (out.ok)
    return isolate_symbols(out.ptx, use.symbol, "_" + use.symbol.substr(use.symbol.rfind('_') + 1));
  if (out.log.find("too few arguments") != std::string::npos ||
      out.log.find("too many arguments") != std::string::npos)
    throw Error(use.loc, fmt::format("extern_cuda function '{}' is declared with {} parameter(s) "
                                     "{}, but its CUDA C++ definition takes another number; make "
                                     "the params of tl::extern_cuda match the definition. NVRTC "
                                     "says:\n{}",
                                     use.name, use.params.size(), type_list(use), out.log));
  throw Error(use.loc, fmt::format("extern_cuda function '{}' does not compile with NVRTC for {} "
                                   "(kernel `{}`); NVRTC's log:\n{}",
                                   use.name, target.name(), kernel, out.log));
}

std::string merge_extern_ptx(const std::string& kernel_ptx, const std::vector<std::string>& symbols,
                             const std::vector<std::string>& extern_ptx) {
  std::string out = kernel_ptx;
  std::string bodies;
  for (const std::string& p : extern_ptx)
    bodies += body_of(p);
  bool placed = false;
  for (const std::string& symbol : symbols) {
    auto [begin, end] = find_declaration(out, symbol);
    if (begin == std::string::npos)
      continue; // the call was optimised away
    out.replace(begin, end - begin, placed ? "" : bodies);
    placed = true;
  }
  return out;
}

} // namespace tessel::codegen::gpu::detail
