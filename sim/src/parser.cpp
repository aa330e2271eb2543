// The PTX parser, module level: directives (.version/.target/.file/.section ...), function
// headers and parameters, bodies (declarations, labels, .loc), variables and initialisers.
// Instructions are read by parse_instruction.cpp; see parser.h.
#include "parser.h"

#include "decode.h"
#include "half.h"

#include <tessel/sim/module.h>

#include <cstring>

namespace tessel::sim {

// The most registers one `.reg %r<N>` declares (LLVM and nvcc declare at most a few thousand).
constexpr uint64_t kMaxRegistersPerDeclaration = 65536;

int Module::find_function(const std::string& name) const {
  for (size_t i = 0; i < functions.size(); ++i)
    if (functions[i].name == name)
      return static_cast<int>(i);
  return -1;
}

void Parser::skip_braces() {
  int depth = 0;
  for (;;) {
    Token t = lex_.next();
    if (t.kind == Tok::end)
      fail(t, "unterminated '{' section");
    if (t.is('{'))
      ++depth;
    if (t.is('}') && --depth <= 0)
      return;
  }
}

void Parser::parse_module() {
  bool is_extern = false;
  for (;;) {
    Token t = lex_.next();
    if (t.kind == Tok::end)
      return;
    if (t.kind != Tok::ident)
      fail(t, "unexpected '" + describe(t) + "' at module scope");
    std::string_view d = t.text;
    if (d == ".version") {
      Token v = lex_.next();
      if (v.kind != Tok::floating && v.kind != Tok::integer)
        fail(v, "expected a version number");
    } else if (d == ".target") {
      expect_ident("a target name");
      while (lex_.peek().is(',')) {
        lex_.next();
        expect_ident("a target name");
      }
    } else if (d == ".address_size") {
      uint64_t n = expect_int("32 or 64");
      if (n != 64)
        fail(t, ".address_size 32 is not supported", ErrorKind::unsupported);
    } else if (d == ".file") {
      int id = static_cast<int>(expect_int("a file number"));
      Token name = lex_.next();
      if (name.kind != Tok::string)
        fail(name, "expected a file name string");
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
    if (d.text != ".param" && d.text != ".reg")
      fail(d, "expected '.param', found '" + describe(d) + "'");
    Param p;
    Type type = Type::none;
    for (;;) {
      Token t = lex_.next();
      if (t.kind != Tok::ident)
        fail(t, "expected a parameter name");
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
    if (type == Type::none)
      fail(lex_.peek(), "parameter '" + p.name + "' has no type");
    p.size = type_size(type);
    if (p.align < p.size && !lex_.peek().is('['))
      p.align = p.size;
    if (lex_.peek().is('[')) {
      lex_.next();
      uint64_t n = expect_int("an array size");
      expect_punct(']');
      p.size = static_cast<uint32_t>(p.size * n);
    }
    if (p.align == 0)
      p.align = 1;
    out.push_back(p);
    Symbol sym;
    sym.name = p.name;
    sym.space = Space::param;
    sym.size = p.size;
    sym.align = p.align;
    sym.function = function_index;
    sym.param_index = static_cast<int>(out.size() - 1);
    sym.line = d.line;
    if (!is_entry) { // .func parameters live in the thread's local window
      m_.local_bytes = (m_.local_bytes + p.align - 1) / p.align * p.align;
      sym.local_offset = m_.local_bytes;
      m_.local_bytes += p.size;
    }
    function_symbols_[sym.name] = static_cast<uint32_t>(m_.symbols.size());
    m_.symbols.push_back(std::move(sym));
    Token sep = lex_.next();
    if (sep.is(')'))
      return;
    if (!sep.is(','))
      fail(sep, "expected ',' or ')' in the parameter list");
  }
}

void Parser::parse_function(bool is_entry, const Token& start) {
  function_symbols_.clear();
  std::vector<Param> returns;
  int placeholder = static_cast<int>(m_.functions.size());
  if (!is_entry && lex_.peek().is('('))
    parse_params(returns, false, placeholder);
  Token name = expect_ident("a function name");
  std::string fname(name.text);
  int index = m_.find_function(fname);
  if (index >= 0 && m_.functions[index].defined)
    fail(name, "function '" + fname + "' is defined twice");
  if (index < 0) {
    index = static_cast<int>(m_.functions.size());
    m_.functions.emplace_back();
  }
  if (index != placeholder)
    for (auto& [n, s] : function_symbols_)
      m_.symbols[s].function = index;
  Function& f = m_.functions[index];
  f = Function{};
  f.name = fname;
  f.is_entry = is_entry;
  f.line = start.line;
  f.returns = std::move(returns);
  fn_ = &f;
  fn_index_ = index;
  if (lex_.peek().is('('))
    parse_params(f.params, is_entry, index);
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
    if (t.kind != Tok::ident || t.text[0] != '.')
      break;
    lex_.next();
    if (t.text == ".noreturn")
      continue;
    if (t.text == ".maxntid" || t.text == ".reqntid" || t.text == ".minnctapersm" ||
        t.text == ".maxnreg" || t.text == ".maxnctapersm" || t.text == ".pragma") {
      Token v = lex_.next();
      while (lex_.peek().is(',')) {
        lex_.next();
        lex_.next();
      }
      if (t.text == ".pragma")
        expect_punct(';');
      (void)v;
      continue;
    }
    if (t.text == ".reqnctapercluster" || t.text == ".explicitcluster" ||
        t.text == ".maxclusterrank")
      fail(t, "'" + describe(t) + "': clusters are out of scope until the Hopper work",
           ErrorKind::unsupported);
    fail(t, "unknown function directive '" + describe(t) + "'");
  }
  Token body = lex_.next();
  if (body.is(';')) { // a prototype
    fn_ = nullptr;
    return;
  }
  if (!body.is('{'))
    fail(body, "expected '{' to begin the body of '" + fname + "'");
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
    if (t.kind == Tok::end)
      fail(t, "unexpected end of input inside '" + fn_->name + "'");
    if (t.is('}')) {
      if (--depth == 0)
        return;
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
    if (t.kind != Tok::ident)
      fail(t, "unexpected '" + describe(t) + "'");
    if (lex_.peek().is(':')) { // label
      lex_.next();
      std::string name(t.text);
      if (labels_.count(name))
        fail(t, "label '" + name + "' is defined twice");
      labels_[name] = static_cast<uint32_t>(fn_->code.size());
      continue;
    }
    std::string_view d = t.text;
    if (d == ".reg") {
      Token ty = expect_ident("a register type");
      Type type = parse_type(ty.text);
      if (lex_.peek().is(".v2") || lex_.peek().is(".v4"))
        fail(lex_.peek(), "vector registers are not supported", ErrorKind::unsupported);
      if (type == Type::none)
        fail(ty, "unknown register type '" + describe(ty) + "'");
      for (;;) {
        Token n = expect_ident("a register name");
        std::string base(n.text);
        int count = -1;
        if (lex_.peek().is('<')) {
          lex_.next();
          Token c = lex_.peek();
          uint64_t n = expect_int("a register count");
          // Each register is a name and a slot of 32 lanes: a huge count (the sim_ptx fuzzer's
          // %f<48888888888888888>) made the parse run for minutes; real PTX declares thousands.
          if (n > kMaxRegistersPerDeclaration)
            fail(c, "register count " + std::to_string(n) + " is outside 0.." +
                        std::to_string(kMaxRegistersPerDeclaration));
          count = static_cast<int>(n);
          expect_punct('>');
        }
        auto declare = [&](const std::string& name) {
          if (type == Type::pred)
            preds_[name] = fn_->num_preds++;
          else {
            regs_[name] = fn_->num_slots;
            if (fn_->reg_names.size() <= fn_->num_slots)
              fn_->reg_names.resize(fn_->num_slots + 1);
            fn_->reg_names[fn_->num_slots++] = name;
          }
        };
        if (count < 0) {
          declare(base);
        } else {
          for (int i = 0; i < count; ++i)
            declare(base + std::to_string(i));
        }
        Token sep = lex_.next();
        if (sep.is(';'))
          break;
        if (!sep.is(','))
          fail(sep, "expected ',' or ';' after a register declaration");
      }
      continue;
    }
    if (d == ".shared" || d == ".local" || d == ".global" || d == ".const") {
      Space s = d == ".shared"   ? Space::shared
                : d == ".local"  ? Space::local
                : d == ".global" ? Space::global
                                 : Space::const_;
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
    if (d.starts_with("."))
      fail(t, "unknown directive '" + std::string(d) + "' in a function body");
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
    if (t.kind != Tok::ident)
      fail(t, "expected a variable name, found '" + describe(t) + "'");
    if (t.text == ".align") {
      sym.align = static_cast<uint32_t>(expect_int("an alignment"));
    } else if (t.text == ".v2" || t.text == ".v4") {
      vec = t.text[2] - '0';
    } else if (t.text == ".ptr" || t.text == ".attribute") {
    } else if (t.text[0] == '.') {
      type = parse_type(t.text);
      if (type == Type::none)
        fail(t, "unknown variable type '" + describe(t) + "'");
    } else {
      name = t;
      break;
    }
  }
  if (type == Type::none)
    fail(name, "variable '" + std::string(name.text) + "' has no type");
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
  if (sym.align < elem)
    sym.align = elem;
  if (unsized) {
    if (space != Space::shared)
      fail(name, "only .extern .shared arrays may be unsized", ErrorKind::unsupported);
    sym.extern_dynamic = true;
    sym.size = 0;
  } else if (is_extern) {
    fail(name, "external variable '" + sym.name + "' is not defined in this module",
         ErrorKind::unsupported);
  }
  if (lex_.peek().is('=')) {
    lex_.next();
    if (space != Space::global && space != Space::const_)
      fail(name, "only .global and .const variables may have initialisers");
    parse_initializer(sym, type);
    if (sym.size && sym.init.size() > sym.size)
      fail(name, "too many initialisers for '" + sym.name + "'");
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
      if (sep.is('}'))
        break;
      if (!sep.is(','))
        fail(sep, "expected ',' or '}' in an initialiser");
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
    if (negative)
      bits ^= uint64_t(1) << (size * 8 - 1);
  } else {
    fail(t, "initialisers must be numbers", ErrorKind::unsupported);
  }
  for (unsigned i = 0; i < size; ++i)
    sym.init.push_back(static_cast<uint8_t>(bits >> (8 * i)));
}

uint64_t Parser::float_literal(const Token& t, Type type) {
  double v;
  if (t.float_is_f32) {
    float f;
    uint32_t b = static_cast<uint32_t>(t.float_bits);
    std::memcpy(&f, &b, 4);
    if (type == Type::f32 || type_size(type) == 4)
      return b;
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

Result<std::shared_ptr<const Module>> parse_module(std::string_view ptx,
                                                   std::string_view source_name) {
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
    if (!f.is_entry)
      continue;
    KernelInfo k;
    k.name = f.name;
    for (auto& p : f.params)
      k.params.push_back({p.name, p.size, p.align});
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

} // namespace tessel::sim
