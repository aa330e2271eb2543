// The PTX parser: module directives, functions, variable declarations and instructions, into
// the decoded form of ptx_module.h. Registers are resolved to slots as they are read;
// immediates and special registers get slots of their own (see ptx_module.h); labels are
// resolved when the function ends, then reconvergence points are computed (cfg.cpp).
#include "cfg.h"
#include "decode.h"
#include "half.h"
#include "lexer.h"
#include "ptx_module.h"

#include <tessel/sim/module.h>

#include <cstring>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

namespace tessel::sim {

int Module::find_function(const std::string& name) const {
  for (size_t i = 0; i < functions.size(); ++i)
    if (functions[i].name == name) return static_cast<int>(i);
  return -1;
}

namespace {

struct ParseFailure {
  Error error;
};

struct RawLabelRef {
  size_t inst;
  int operand;
  std::string name;
  int line, column;
};

class Parser {
 public:
  Parser(std::string_view text, Module& module) : lex_(text), m_(module) {}

  void parse_module();

 private:
  [[noreturn]] void fail(const Token& at, const std::string& message,
                         ErrorKind kind = ErrorKind::parse) {
    Error e;
    e.kind = kind;
    e.message = message;
    e.ptx_line = at.line;
    e.ptx_column = at.column;
    if (fn_) e.kernel = fn_->name;
    throw ParseFailure{std::move(e)};
  }
  Token expect_punct(char c) {
    Token t = lex_.next();
    if (!t.is(c)) fail(t, std::string("expected '") + c + "', found '" + describe(t) + "'");
    return t;
  }
  Token expect_ident(const char* what) {
    Token t = lex_.next();
    if (t.kind != Tok::ident) fail(t, std::string("expected ") + what + ", found '" + describe(t) + "'");
    return t;
  }
  uint64_t expect_int(const char* what) {
    Token t = lex_.next();
    if (t.kind != Tok::integer) fail(t, std::string("expected ") + what + ", found '" + describe(t) + "'");
    return t.int_value;
  }
  static std::string describe(const Token& t) {
    if (t.kind == Tok::end) return "end of input";
    return std::string(t.text);
  }

  void parse_function(bool is_entry, const Token& start);
  void parse_params(std::vector<Param>& out, bool is_entry, int function_index);
  void parse_body();
  void parse_variable(Space space, bool is_extern, int function_index);
  void parse_initializer(Symbol& sym, Type elem);
  void parse_instruction(Token first);
  void parse_operand(Inst& inst, int index, std::vector<RawLabelRef>& labels);
  uint32_t reg_slot(const Token& t);
  uint32_t const_slot(uint64_t value);
  uint32_t special_slot(Special s);
  uint32_t symbol_slot(uint32_t symbol);
  uint64_t float_literal(const Token& t, Type type);
  std::optional<uint32_t> find_symbol(std::string_view name) const;
  void finish_function();
  void skip_braces();

  Lexer lex_;
  Module& m_;
  Function* fn_ = nullptr;
  int fn_index_ = -1;
  std::unordered_map<std::string, uint32_t> regs_, preds_;
  std::unordered_map<uint64_t, uint32_t> consts_;
  std::unordered_map<int, uint32_t> specials_;
  std::unordered_map<uint32_t, uint32_t> symbol_slots_;
  std::unordered_map<std::string, uint32_t> labels_;
  std::vector<RawLabelRef> label_refs_;
  std::unordered_map<std::string, uint32_t> module_symbols_, function_symbols_;
  std::unordered_map<std::string, uint32_t> mnemonic_ids_;
  int loc_file_ = 0, loc_line_ = 0;
};

void Parser::skip_braces() {
  int depth = 0;
  for (;;) {
    Token t = lex_.next();
    if (t.kind == Tok::end) fail(t, "unterminated '{' section");
    if (t.is('{')) ++depth;
    if (t.is('}') && --depth <= 0) return;
  }
}

void Parser::parse_module() {
  bool is_extern = false;
  for (;;) {
    Token t = lex_.next();
    if (t.kind == Tok::end) return;
    if (t.kind != Tok::ident) fail(t, "unexpected '" + describe(t) + "' at module scope");
    std::string_view d = t.text;
    if (d == ".version") {
      Token v = lex_.next();
      if (v.kind != Tok::floating && v.kind != Tok::integer) fail(v, "expected a version number");
    } else if (d == ".target") {
      expect_ident("a target name");
      while (lex_.peek().is(',')) {
        lex_.next();
        expect_ident("a target name");
      }
    } else if (d == ".address_size") {
      uint64_t n = expect_int("32 or 64");
      if (n != 64) fail(t, ".address_size 32 is not supported", ErrorKind::unsupported);
    } else if (d == ".file") {
      int id = static_cast<int>(expect_int("a file number"));
      Token name = lex_.next();
      if (name.kind != Tok::string) fail(name, "expected a file name string");
      m_.files[id] = std::string(name.text.substr(1, name.text.size() - 2));
      while (lex_.peek().is(',')) {
        lex_.next();
        lex_.next();
      }
    } else if (d == ".section") {
      expect_ident("a section name");
      skip_braces();
    } else if (d == ".visible" || d == ".weak" || d == ".common") {
      continue;
    } else if (d == ".extern") {
      is_extern = true;
      continue;
    } else if (d == ".entry" || d == ".func") {
      parse_function(d == ".entry", t);
    } else if (d == ".global" || d == ".const" || d == ".shared") {
      Space s = d == ".global" ? Space::global : d == ".const" ? Space::const_ : Space::shared;
      parse_variable(s, is_extern, -1);
    } else if (d == ".pragma") {
      lex_.next();
      expect_punct(';');
    } else if (d == ".local") {
      parse_variable(Space::local, is_extern, -1);
    } else {
      fail(t, "unknown directive '" + std::string(d) + "' at module scope",
           d.starts_with(".") ? ErrorKind::unsupported : ErrorKind::parse);
    }
    is_extern = false;
  }
}

void Parser::parse_params(std::vector<Param>& out, bool is_entry, int function_index) {
  // '(' [ .param .type [.ptr .space .align N] name[N] {, ...} ] ')'
  expect_punct('(');
  if (lex_.peek().is(')')) {
    lex_.next();
    return;
  }
  for (;;) {
    Token d = expect_ident("'.param'");
    if (d.text != ".param" && d.text != ".reg") fail(d, "expected '.param', found '" + describe(d) + "'");
    Param p;
    Type type = Type::none;
    for (;;) {
      Token t = lex_.next();
      if (t.kind != Tok::ident) fail(t, "expected a parameter name");
      if (t.text == ".align") {
        p.align = static_cast<uint32_t>(expect_int("an alignment"));
      } else if (t.text == ".ptr" || t.text == ".global" || t.text == ".shared" ||
                 t.text == ".local" || t.text == ".const") {
      } else if (Type ty = parse_type(t.text); t.text[0] == '.' && ty != Type::none) {
        type = ty;
      } else if (t.text[0] == '.') {
        fail(t, "unknown parameter attribute '" + describe(t) + "'");
      } else {
        p.name = std::string(t.text);
        break;
      }
    }
    if (type == Type::none) fail(lex_.peek(), "parameter '" + p.name + "' has no type");
    p.size = type_size(type);
    if (p.align < p.size && !lex_.peek().is('[')) p.align = p.size;
    if (lex_.peek().is('[')) {
      lex_.next();
      uint64_t n = expect_int("an array size");
      expect_punct(']');
      p.size = static_cast<uint32_t>(p.size * n);
    }
    if (p.align == 0) p.align = 1;
    out.push_back(p);
    Symbol sym;
    sym.name = p.name;
    sym.space = Space::param;
    sym.size = p.size;
    sym.align = p.align;
    sym.function = function_index;
    sym.param_index = static_cast<int>(out.size() - 1);
    sym.line = d.line;
    if (!is_entry) {  // .func parameters live in the thread's local window
      m_.local_bytes = (m_.local_bytes + p.align - 1) / p.align * p.align;
      sym.local_offset = m_.local_bytes;
      m_.local_bytes += p.size;
    }
    function_symbols_[sym.name] = static_cast<uint32_t>(m_.symbols.size());
    m_.symbols.push_back(std::move(sym));
    Token sep = lex_.next();
    if (sep.is(')')) return;
    if (!sep.is(',')) fail(sep, "expected ',' or ')' in the parameter list");
  }
}

void Parser::parse_function(bool is_entry, const Token& start) {
  function_symbols_.clear();
  std::vector<Param> returns;
  int placeholder = static_cast<int>(m_.functions.size());
  if (!is_entry && lex_.peek().is('(')) parse_params(returns, false, placeholder);
  Token name = expect_ident("a function name");
  std::string fname(name.text);
  int index = m_.find_function(fname);
  if (index >= 0 && m_.functions[index].defined) fail(name, "function '" + fname + "' is defined twice");
  if (index < 0) {
    index = static_cast<int>(m_.functions.size());
    m_.functions.emplace_back();
  }
  if (index != placeholder)
    for (auto& [n, s] : function_symbols_) m_.symbols[s].function = index;
  Function& f = m_.functions[index];
  f = Function{};
  f.name = fname;
  f.is_entry = is_entry;
  f.line = start.line;
  f.returns = std::move(returns);
  fn_ = &f;
  fn_index_ = index;
  if (lex_.peek().is('(')) parse_params(f.params, is_entry, index);
  uint32_t offset = 0;
  for (auto& p : f.params) {
    offset = (offset + p.align - 1) / p.align * p.align;
    p.offset = offset;
    offset += p.size;
  }
  f.param_bytes = offset;
  // Performance directives: .maxntid 256,1,1  .reqntid  .minnctapersm 2  .maxnreg 64 ...
  for (;;) {
    Token t = lex_.peek();
    if (t.kind != Tok::ident || t.text[0] != '.') break;
    lex_.next();
    if (t.text == ".noreturn") continue;
    if (t.text == ".maxntid" || t.text == ".reqntid" || t.text == ".minnctapersm" ||
        t.text == ".maxnreg" || t.text == ".maxnctapersm" || t.text == ".pragma") {
      Token v = lex_.next();
      while (lex_.peek().is(',')) {
        lex_.next();
        lex_.next();
      }
      if (t.text == ".pragma") expect_punct(';');
      (void)v;
      continue;
    }
    if (t.text == ".reqnctapercluster" || t.text == ".explicitcluster" || t.text == ".maxclusterrank")
      fail(t, "'" + describe(t) + "': clusters are out of scope until the Hopper work",
           ErrorKind::unsupported);
    fail(t, "unknown function directive '" + describe(t) + "'");
  }
  Token body = lex_.next();
  if (body.is(';')) {  // a prototype
    fn_ = nullptr;
    return;
  }
  if (!body.is('{')) fail(body, "expected '{' to begin the body of '" + fname + "'");
  f.defined = true;
  regs_.clear();
  preds_.clear();
  consts_.clear();
  specials_.clear();
  symbol_slots_.clear();
  labels_.clear();
  label_refs_.clear();
  loc_file_ = loc_line_ = 0;
  f.num_slots = 0;
  f.sink_slot = f.num_slots++;
  parse_body();
  finish_function();
  fn_ = nullptr;
}

void Parser::parse_body() {
  int depth = 1;
  for (;;) {
    Token t = lex_.next();
    if (t.kind == Tok::end) fail(t, "unexpected end of input inside '" + fn_->name + "'");
    if (t.is('}')) {
      if (--depth == 0) return;
      continue;
    }
    if (t.is('{')) {
      ++depth;
      continue;
    }
    if (t.is('@')) {
      parse_instruction(t);
      continue;
    }
    if (t.kind != Tok::ident) fail(t, "unexpected '" + describe(t) + "'");
    if (lex_.peek().is(':')) {  // label
      lex_.next();
      std::string name(t.text);
      if (labels_.count(name)) fail(t, "label '" + name + "' is defined twice");
      labels_[name] = static_cast<uint32_t>(fn_->code.size());
      continue;
    }
    std::string_view d = t.text;
    if (d == ".reg") {
      Token ty = expect_ident("a register type");
      Type type = parse_type(ty.text);
      if (lex_.peek().is(".v2") || lex_.peek().is(".v4"))
        fail(lex_.peek(), "vector registers are not supported", ErrorKind::unsupported);
      if (type == Type::none) fail(ty, "unknown register type '" + describe(ty) + "'");
      for (;;) {
        Token n = expect_ident("a register name");
        std::string base(n.text);
        int count = -1;
        if (lex_.peek().is('<')) {
          lex_.next();
          count = static_cast<int>(expect_int("a register count"));
          expect_punct('>');
        }
        auto declare = [&](const std::string& name) {
          if (type == Type::pred)
            preds_[name] = fn_->num_preds++;
          else
            regs_[name] = fn_->num_slots++;
        };
        if (count < 0) {
          declare(base);
        } else {
          for (int i = 0; i < count; ++i) declare(base + std::to_string(i));
        }
        Token sep = lex_.next();
        if (sep.is(';')) break;
        if (!sep.is(',')) fail(sep, "expected ',' or ';' after a register declaration");
      }
      continue;
    }
    if (d == ".shared" || d == ".local" || d == ".global" || d == ".const") {
      Space s = d == ".shared" ? Space::shared : d == ".local" ? Space::local
                : d == ".global" ? Space::global : Space::const_;
      parse_variable(s, false, fn_index_);
      continue;
    }
    if (d == ".param") {
      // A call-site parameter: lives in the thread's local window.
      parse_variable(Space::local, false, fn_index_);
      continue;
    }
    if (d == ".loc") {
      loc_file_ = static_cast<int>(expect_int("a file number"));
      loc_line_ = static_cast<int>(expect_int("a line number"));
      lex_.skip_line();
      continue;
    }
    if (d == ".pragma") {
      lex_.next();
      expect_punct(';');
      continue;
    }
    if (d.starts_with(".")) fail(t, "unknown directive '" + std::string(d) + "' in a function body");
    parse_instruction(t);
  }
}

void Parser::parse_variable(Space space, bool is_extern, int function_index) {
  Symbol sym;
  sym.space = space;
  sym.function = function_index;
  Type type = Type::none;
  unsigned vec = 1;
  Token name;
  for (;;) {
    Token t = lex_.next();
    if (t.kind != Tok::ident) fail(t, "expected a variable name, found '" + describe(t) + "'");
    if (t.text == ".align") {
      sym.align = static_cast<uint32_t>(expect_int("an alignment"));
    } else if (t.text == ".v2" || t.text == ".v4") {
      vec = t.text[2] - '0';
    } else if (t.text == ".ptr" || t.text == ".attribute" ) {
    } else if (t.text[0] == '.') {
      type = parse_type(t.text);
      if (type == Type::none) fail(t, "unknown variable type '" + describe(t) + "'");
    } else {
      name = t;
      break;
    }
  }
  if (type == Type::none) fail(name, "variable '" + std::string(name.text) + "' has no type");
  sym.name = std::string(name.text);
  sym.line = name.line;
  uint64_t count = vec;
  bool unsized = false;
  while (lex_.peek().is('[')) {
    lex_.next();
    if (lex_.peek().is(']')) {
      lex_.next();
      unsized = true;
      continue;
    }
    count *= expect_int("an array size");
    expect_punct(']');
  }
  unsigned elem = type_size(type);
  sym.size = static_cast<uint32_t>(count * elem);
  if (sym.align < elem) sym.align = elem;
  if (unsized) {
    if (space != Space::shared) fail(name, "only .extern .shared arrays may be unsized", ErrorKind::unsupported);
    sym.extern_dynamic = true;
    sym.size = 0;
  } else if (is_extern) {
    fail(name, "external variable '" + sym.name + "' is not defined in this module", ErrorKind::unsupported);
  }
  if (lex_.peek().is('=')) {
    lex_.next();
    if (space != Space::global && space != Space::const_)
      fail(name, "only .global and .const variables may have initialisers");
    parse_initializer(sym, type);
    if (sym.size && sym.init.size() > sym.size) fail(name, "too many initialisers for '" + sym.name + "'");
  }
  expect_punct(';');
  if (space == Space::local) {
    m_.local_bytes = (m_.local_bytes + sym.align - 1) / sym.align * sym.align;
    sym.local_offset = m_.local_bytes;
    m_.local_bytes += sym.size;
  }
  auto& scope = function_index >= 0 ? function_symbols_ : module_symbols_;
  scope[sym.name] = static_cast<uint32_t>(m_.symbols.size());
  m_.symbols.push_back(std::move(sym));
}

void Parser::parse_initializer(Symbol& sym, Type elem) {
  // A number, or a braced (possibly nested) list of numbers, in declaration order.
  unsigned size = type_size(elem);
  Token t = lex_.next();
  if (t.is('{')) {
    if (lex_.peek().is('}')) {
      lex_.next();
      return;
    }
    for (;;) {
      parse_initializer(sym, elem);
      Token sep = lex_.next();
      if (sep.is('}')) break;
      if (!sep.is(',')) fail(sep, "expected ',' or '}' in an initialiser");
    }
    return;
  }
  bool negative = false;
  if (t.is('-')) {
    negative = true;
    t = lex_.next();
  }
  uint64_t bits = 0;
  if (t.kind == Tok::integer) {
    bits = negative ? uint64_t(0) - t.int_value : t.int_value;
    if (is_float(elem)) {
      double v = negative ? -double(t.int_value) : double(t.int_value);
      Token f;
      f.kind = Tok::floating;
      std::memcpy(&f.float_bits, &v, 8);
      bits = float_literal(f, elem);
    }
  } else if (t.kind == Tok::floating) {
    bits = float_literal(t, elem);
    if (negative) bits ^= uint64_t(1) << (size * 8 - 1);
  } else {
    fail(t, "initialisers must be numbers", ErrorKind::unsupported);
  }
  for (unsigned i = 0; i < size; ++i) sym.init.push_back(static_cast<uint8_t>(bits >> (8 * i)));
}

uint64_t Parser::float_literal(const Token& t, Type type) {
  double v;
  if (t.float_is_f32) {
    float f;
    uint32_t b = static_cast<uint32_t>(t.float_bits);
    std::memcpy(&f, &b, 4);
    if (type == Type::f32 || type_size(type) == 4) return b;
    v = f;
  } else {
    std::memcpy(&v, &t.float_bits, 8);
  }
  switch (type_size(type)) {
    case 2:
      return type == Type::bf16 ? float_to_bf16(static_cast<float>(v)) : double_to_half(v);
    case 4: {
      float f = static_cast<float>(v);
      uint32_t b;
      std::memcpy(&b, &f, 4);
      return b;
    }
    default: {
      uint64_t b;
      std::memcpy(&b, &v, 8);
      return b;
    }
  }
}

uint32_t Parser::const_slot(uint64_t value) {
  auto it = consts_.find(value);
  if (it != consts_.end()) return it->second;
  uint32_t slot = fn_->num_slots++;
  consts_[value] = slot;
  fn_->constants.push_back({slot, value});
  return slot;
}

uint32_t Parser::special_slot(Special s) {
  auto it = specials_.find(static_cast<int>(s));
  if (it != specials_.end()) return it->second;
  uint32_t slot = fn_->num_slots++;
  specials_[static_cast<int>(s)] = slot;
  fn_->launch_slots.push_back({slot, s, 0});
  return slot;
}

uint32_t Parser::symbol_slot(uint32_t symbol) {
  auto it = symbol_slots_.find(symbol);
  if (it != symbol_slots_.end()) return it->second;
  uint32_t slot = fn_->num_slots++;
  symbol_slots_[symbol] = slot;
  fn_->launch_slots.push_back({slot, Special::symbol, symbol});
  return slot;
}

std::optional<uint32_t> Parser::find_symbol(std::string_view name) const {
  std::string n(name);
  if (auto it = function_symbols_.find(n); it != function_symbols_.end()) return it->second;
  if (auto it = module_symbols_.find(n); it != module_symbols_.end()) return it->second;
  return std::nullopt;
}

uint32_t Parser::reg_slot(const Token& t) {
  std::string name(t.text);
  if (auto it = regs_.find(name); it != regs_.end()) return it->second;
  if (Special s; special_register(t.text, s)) return special_slot(s);
  if (name == "%clock" || name == "%clock64" || name == "%globaltimer")
    fail(t, "'" + name + "' may only be read by mov", ErrorKind::unsupported);
  if (auto sym = find_symbol(t.text)) return symbol_slot(*sym);
  if (preds_.count(name)) fail(t, "predicate '" + name + "' used where a register is expected");
  fail(t, "undeclared register or symbol '" + name + "'");
}

void Parser::parse_operand(Inst& inst, int index, std::vector<RawLabelRef>& labels) {
  Operand& op = inst.ops[index];
  Token t = lex_.next();
  if (t.is('{')) {
    op.kind = OperandKind::vec;
    op.index = static_cast<uint32_t>(fn_->vec_pool.size());
    for (;;) {
      Token r = lex_.next();
      if (r.kind == Tok::ident && r.text == "_") {
        fn_->vec_pool.push_back(fn_->sink_slot);
      } else if (r.kind == Tok::ident) {
        fn_->vec_pool.push_back(reg_slot(r));
      } else if (r.kind == Tok::integer) {
        fn_->vec_pool.push_back(const_slot(r.int_value));
      } else if (r.kind == Tok::floating) {
        fn_->vec_pool.push_back(const_slot(float_literal(r, inst.type)));
      } else {
        fail(r, "expected a register in a vector operand, found '" + describe(r) + "'");
      }
      ++op.count;
      Token sep = lex_.next();
      if (sep.is('}')) break;
      if (!sep.is(',')) fail(sep, "expected ',' or '}' in a vector operand");
    }
    return;
  }
  if (t.is('[')) {
    op.kind = OperandKind::addr;
    Token b = lex_.next();
    if (b.kind == Tok::ident) {
      op.index = reg_slot(b);
    } else if (b.kind == Tok::integer) {
      op.imm = static_cast<int64_t>(b.int_value);
    } else {
      fail(b, "expected an address, found '" + describe(b) + "'");
    }
    Token n = lex_.next();
    if (n.is('+') || n.is('-')) {
      bool negative = n.is('-');
      Token v = lex_.next();
      if (v.is('-')) {
        negative = !negative;
        v = lex_.next();
      }
      if (v.kind != Tok::integer) fail(v, "expected an integer offset");
      op.imm += negative ? -static_cast<int64_t>(v.int_value) : static_cast<int64_t>(v.int_value);
      n = lex_.next();
    }
    if (!n.is(']')) fail(n, "expected ']' to close the address");
    return;
  }
  if (t.is('!')) {
    Token p = expect_ident("a predicate");
    auto it = preds_.find(std::string(p.text));
    if (it == preds_.end()) fail(p, "undeclared predicate '" + describe(p) + "'");
    op.kind = OperandKind::pred;
    op.index = it->second;
    op.neg = true;
    return;
  }
  if (t.is('-') || t.kind == Tok::integer || t.kind == Tok::floating) {
    bool negative = t.is('-');
    if (negative) t = lex_.next();
    uint64_t bits;
    if (t.kind == Tok::integer) {
      bits = negative ? uint64_t(0) - t.int_value : t.int_value;
      if (is_float(inst.type) && inst.op != Op::mov && type_size(inst.type) >= 4 &&
          inst.family == Family::float_arith) {
        Token f;
        f.kind = Tok::floating;
        double v = negative ? -double(t.int_value) : double(t.int_value);
        std::memcpy(&f.float_bits, &v, 8);
        bits = float_literal(f, inst.type);
      }
    } else if (t.kind == Tok::floating) {
      Type ft = inst.type;
      if (inst.op == Op::cvt) ft = inst.type2;
      if (!is_float(ft)) ft = t.float_is_f32 ? Type::f32 : Type::f64;
      bits = float_literal(t, ft);
      if (negative) bits ^= uint64_t(1) << (type_size(ft) * 8 - 1);
    } else {
      fail(t, "expected a number after '-'");
    }
    op.kind = OperandKind::imm;
    op.imm = static_cast<int64_t>(bits);
    op.index = const_slot(bits);
    return;
  }
  if (t.kind != Tok::ident) fail(t, "expected an operand, found '" + describe(t) + "'");
  std::string name(t.text);
  if (auto it = preds_.find(name); it != preds_.end()) {
    op.kind = OperandKind::pred;
    op.index = it->second;
    return;
  }
  if (name == "%clock" || name == "%clock_hi") {
    op.kind = OperandKind::clock;
    return;
  }
  if (name == "%clock64" || name == "%globaltimer") {
    op.kind = OperandKind::clock64;
    return;
  }
  if (name == "_") {
    op.kind = OperandKind::reg;
    op.index = fn_->sink_slot;
    return;
  }
  if (inst.op == Op::bra || inst.op == Op::call) {
    if (!regs_.count(name)) {
      op.kind = OperandKind::label;
      labels.push_back({fn_->code.size(), index, name, t.line, t.column});
      return;
    }
  }
  if (regs_.count(name) || name[0] == '%') {
    op.kind = OperandKind::reg;
    op.index = reg_slot(t);
    // `%r1|%p2`: a second, predicate destination (shfl.sync, setp).
    return;
  }
  if (auto sym = find_symbol(name)) {
    op.kind = OperandKind::symbol;
    op.index = symbol_slot(*sym);
    op.imm = *sym;
    return;
  }
  fail(t, "undeclared identifier '" + name + "'");
}

void Parser::parse_instruction(Token first) {
  Inst inst;
  inst.line = first.line;
  inst.column = first.column;
  inst.loc_file = loc_file_;
  inst.loc_line = loc_line_;
  Token mn = first;
  if (first.is('@')) {
    bool neg = false;
    Token p = lex_.next();
    if (p.is('!')) {
      neg = true;
      p = lex_.next();
    }
    auto it = preds_.find(std::string(p.text));
    if (p.kind != Tok::ident || it == preds_.end()) fail(p, "expected a predicate after '@'");
    inst.guard = it->second;
    inst.guard_neg = neg;
    mn = expect_ident("an instruction");
  }
  if (mn.kind != Tok::ident) fail(mn, "expected an instruction");
  DecodeError derr;
  if (!decode_mnemonic(mn.text, inst, derr))
    fail(mn, derr.message, derr.unsupported ? ErrorKind::unsupported : ErrorKind::parse);
  auto [it, inserted] = mnemonic_ids_.try_emplace(std::string(mn.text), m_.mnemonics.size());
  if (inserted) m_.mnemonics.emplace_back(mn.text);
  inst.mnemonic = it->second;
  std::vector<RawLabelRef> labels;
  if (inst.op == Op::call) {
    // call[.uni] [(ret)], target, [(args)];  -- parenthesised lists become vec operands
    int index = 0;
    for (;;) {
      Token t = lex_.peek();
      if (t.is(';')) break;
      if (index >= 3) fail(t, "too many operands for call");
      if (t.is('(')) {
        lex_.next();
        Operand& op = inst.ops[index];
        op.kind = OperandKind::vec;
        op.index = static_cast<uint32_t>(fn_->vec_pool.size());
        while (!lex_.peek().is(')')) {
          Token a = expect_ident("a parameter name");
          auto sym = find_symbol(a.text);
          if (!sym) fail(a, "undeclared parameter '" + describe(a) + "'");
          fn_->vec_pool.push_back(*sym);
          ++op.count;
          if (lex_.peek().is(',')) lex_.next();
        }
        lex_.next();
      } else {
        Token target = expect_ident("a function name");
        int f = m_.find_function(std::string(target.text));
        if (f < 0) fail(target, "call to undeclared function '" + describe(target) + "'");
        inst.ops[index].kind = OperandKind::label;
        inst.ops[index].index = static_cast<uint32_t>(f);
      }
      ++index;
      if (lex_.peek().is(',')) lex_.next();
    }
    lex_.next();
    inst.nops = static_cast<uint8_t>(index);
    fn_->code.push_back(inst);
    return;
  }
  int index = 0;
  if (!lex_.peek().is(';')) {
    for (;;) {
      if (index >= 6) fail(lex_.peek(), "too many operands");
      parse_operand(inst, index, labels);
      ++index;
      Token sep = lex_.next();
      if (sep.is('|')) {
        Token p = expect_ident("a predicate after '|'");
        auto pit = preds_.find(std::string(p.text));
        if (pit == preds_.end()) fail(p, "undeclared predicate '" + describe(p) + "'");
        inst.ops[5].kind = OperandKind::pred;
        inst.ops[5].index = pit->second;
        sep = lex_.next();
      }
      if (sep.is(';')) break;
      if (!sep.is(',')) fail(sep, "expected ',' or ';' after an operand, found '" + describe(sep) + "'");
    }
  } else {
    lex_.next();
  }
  inst.nops = static_cast<uint8_t>(index);
  for (auto& l : labels) label_refs_.push_back(l);
  fn_->code.push_back(inst);
}

void Parser::finish_function() {
  for (auto& ref : label_refs_) {
    auto it = labels_.find(ref.name);
    if (it == labels_.end()) {
      Token t;
      t.line = ref.line;
      t.column = ref.column;
      fail(t, "undefined label '" + ref.name + "'");
    }
    fn_->code[ref.inst].ops[ref.operand].index = it->second;
  }
  // A body that can fall off its end gets an implicit ret.
  if (fn_->code.empty() || (fn_->code.back().op != Op::ret && fn_->code.back().op != Op::exit &&
                            !(fn_->code.back().op == Op::bra && fn_->code.back().guard == kNoSlot))) {
    Inst r;
    r.op = Op::ret;
    r.family = Family::control;
    r.line = fn_->code.empty() ? fn_->line : fn_->code.back().line;
    auto [it, inserted] = mnemonic_ids_.try_emplace("ret", m_.mnemonics.size());
    if (inserted) m_.mnemonics.emplace_back("ret");
    r.mnemonic = it->second;
    fn_->code.push_back(r);
  }
  compute_reconvergence(*fn_);
}

}  // namespace

Result<std::shared_ptr<const Module>> parse_module(std::string_view ptx, std::string_view source_name) {
  auto module = std::make_shared<Module>();
  module->source_name = std::string(source_name);
  Parser parser(ptx, *module);
  try {
    parser.parse_module();
  } catch (ParseFailure& f) {
    return std::move(f.error);
  }
  return std::shared_ptr<const Module>(std::move(module));
}

std::vector<KernelInfo> module_kernels(const Module& module) {
  std::vector<KernelInfo> out;
  for (auto& f : module.functions) {
    if (!f.is_entry) continue;
    KernelInfo k;
    k.name = f.name;
    for (auto& p : f.params) k.params.push_back({p.name, p.size, p.align});
    k.instructions = f.code.size();
    for (auto& s : module.symbols)
      if (s.space == Space::shared && !s.extern_dynamic &&
          (s.function < 0 || !module.functions[s.function].is_entry ||
           module.functions[s.function].name == f.name))
        k.static_shared_bytes += s.size;
    out.push_back(std::move(k));
  }
  return out;
}

}  // namespace tessel::sim
