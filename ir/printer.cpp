// The IR's text form (see printer.h for an example). Values are numbered in order of definition,
// so the text depends only on the IR's structure: print -> parse -> print is the identity.
#include "tessel/ir/printer.h"

#include <charconv>
#include <unordered_map>

namespace tessel::ir {
namespace {

class Printer {
public:
  explicit Printer(PrintOptions options) : options_(options) {}

  std::string function(const Function& f) {
    out_ += "kernel @" + f.name + "(";
    for (size_t i = 0; i < f.body.num_args(); ++i) {
      Value* a = f.body.arg(i);
      names_[a] = "%arg" + std::to_string(i);
      if (i)
        out_ += ", ";
      out_ += names_[a] + ": " + a->type()->str();
      if (i < f.arg_divisibility.size() && f.arg_divisibility[i] != 1)
        out_ += " {div = " + std::to_string(f.arg_divisibility[i]) + "}";
    }
    out_ += ")";
    if (f.shared_bytes >= 0)
      out_ += " shared(" + std::to_string(f.shared_bytes) + ")";
    out_ += " {\n";
    ops(f.body, 1);
    out_ += "}\n";
    return std::move(out_);
  }

  std::string single_op(const Op& op) {
    op_line(op, 0);
    return std::move(out_);
  }

private:
  const std::string& name(const Value* v) {
    auto it = names_.find(v);
    if (it != names_.end())
      return it->second;
    // A use of a value not yet defined (only in broken IR, e.g. in an error message).
    return names_[v] = "%<undefined>";
  }
  std::string define(const Value* v) { return names_[v] = "%" + std::to_string(next_++); }

  void indent(int depth) { out_.append(size_t(depth) * 2, ' '); }

  void ops(const Block& block, int depth) {
    for (const auto& op : block.ops())
      op_line(*op, depth);
  }

  void op_line(const Op& op, int depth) {
    indent(depth);
    if (op.num_results()) {
      for (size_t i = 0; i < op.num_results(); ++i)
        out_ += (i ? ", " : "") + define(op.result(i));
      out_ += " = ";
    }
    out_ += op.name();
    for (size_t i = 0; i < op.num_operands(); ++i)
      out_ += (i ? ", " : " ") + name(op.operand(i));
    attributes(op);
    if (op.num_results()) {
      out_ += " :";
      for (size_t i = 0; i < op.num_results(); ++i)
        out_ += (i ? ", " : " ") + op.result(i)->type()->str();
    }
    for (size_t r = 0; r < op.num_regions(); ++r)
      region(op.region(r), depth);
    if (options_.locations && op.loc.known())
      location(op.loc);
    out_ += "\n";
  }

  void region(const Block& block, int depth) {
    out_ += " {\n";
    if (block.num_args()) {
      indent(depth);
      out_ += "^(";
      for (size_t i = 0; i < block.num_args(); ++i) {
        Value* a = block.arg(i);
        out_ += (i ? ", " : "") + define(a) + ": " + a->type()->str();
      }
      out_ += "):\n";
    }
    ops(block, depth + 1);
    indent(depth);
    out_ += "}";
  }

  void attributes(const Op& op) {
    const auto& specs = op.info().attrs;
    std::string_view sep = " {";
    for (size_t i = 0; i < specs.size(); ++i) {
      if (specs[i].optional && op.attrs()[i].kind == Attr::Kind::None)
        continue; // absent optional attributes are not printed
      out_ += std::string(sep) + specs[i].name + " = ";
      attr_value(op.attrs()[i]);
      sep = ", ";
    }
    if (sep == ", ")
      out_ += "}";
  }

  void attr_value(const Attr& a) {
    switch (a.kind) {
    case Attr::Kind::None:
      out_ += "none";
      return;
    case Attr::Kind::Int:
      out_ += std::to_string(a.i);
      return;
    case Attr::Kind::Float:
      out_ += format_float(a.f);
      return;
    case Attr::Kind::Ints:
      out_ += "[";
      for (size_t i = 0; i < a.ints.size(); ++i)
        out_ += (i ? ", " : "") + std::to_string(a.ints[i]);
      out_ += "]";
      return;
    case Attr::Kind::Str:
      quoted(a.str);
      return;
    }
    TESSEL_UNREACHABLE("bad attribute kind");
  }

  // A string attribute: `"` and `\` escaped, control and non-ASCII bytes as \xHH, so that the
  // text stays one line and parses back to the same bytes.
  void quoted(std::string_view s) {
    static const char kHex[] = "0123456789abcdef";
    out_ += '"';
    for (char c : s) {
      auto u = static_cast<unsigned char>(c);
      if (c == '"' || c == '\\') {
        out_ += '\\';
        out_ += c;
      } else if (u < 0x20 || u >= 0x7f) {
        out_ += "\\x";
        out_ += kHex[u >> 4];
        out_ += kHex[u & 15];
      } else {
        out_ += c;
      }
    }
    out_ += '"';
  }

  void location(const SourceLoc& loc) {
    out_ += " loc(\"";
    for (const char* p = loc.file; p && *p; ++p) {
      if (*p == '"' || *p == '\\')
        out_ += '\\';
      out_ += *p;
    }
    out_ += "\":" + std::to_string(loc.line) + ":" + std::to_string(loc.column) + ")";
  }

  PrintOptions options_;
  std::string out_;
  std::unordered_map<const Value*, std::string> names_;
  int next_ = 0;
};

} // namespace

// Shortest text that reads back as the same double; always marked as a float ("1.0", "1e+30").
std::string format_float(double v) {
  char buf[64];
  auto res = std::to_chars(buf, buf + sizeof buf, v);
  std::string s(buf, res.ptr);
  if (s.find_first_of(".einf") == std::string::npos)
    s += ".0";
  return s;
}

std::string print(const Function& function, PrintOptions options) {
  return Printer(options).function(function);
}

std::string print(const Module& module, PrintOptions options) {
  std::string out;
  for (size_t i = 0; i < module.functions.size(); ++i) {
    if (i)
      out += "\n";
    out += print(*module.functions[i], options);
  }
  return out;
}

std::string print_op(const Op& op) { return Printer(PrintOptions{}).single_op(op); }

} // namespace tessel::ir
