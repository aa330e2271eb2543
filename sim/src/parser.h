// The PTX parser's state (private to sim/): one Parser turns a module's text into the
// decoded form of ptx_module.h. parser.cpp reads the module structure (directives,
// functions, declarations); parse_instruction.cpp reads instructions and their operands and
// finishes each function (labels, reconvergence points). Failures are thrown as
// ParseFailure inside the parser and returned as an Error by parse_module().
#pragma once

#include "lexer.h"
#include "ptx_module.h"

#include <tessel/sim/error.h>

#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

namespace tessel::sim {

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
    if (fn_)
      e.kernel = fn_->name;
    throw ParseFailure{std::move(e)};
  }
  Token expect_punct(char c) {
    Token t = lex_.next();
    if (!t.is(c))
      fail(t, std::string("expected '") + c + "', found '" + describe(t) + "'");
    return t;
  }
  Token expect_ident(const char* what) {
    Token t = lex_.next();
    if (t.kind != Tok::ident)
      fail(t, std::string("expected ") + what + ", found '" + describe(t) + "'");
    return t;
  }
  uint64_t expect_int(const char* what) {
    Token t = lex_.next();
    if (t.kind != Tok::integer)
      fail(t, std::string("expected ") + what + ", found '" + describe(t) + "'");
    return t.int_value;
  }
  static std::string describe(const Token& t) {
    if (t.kind == Tok::end)
      return "end of input";
    return std::string(t.text);
  }

  void parse_function(bool is_entry, const Token& start);
  void parse_params(std::vector<Param>& out, bool is_entry, int function_index);
  void parse_body();
  void parse_variable(Space space, bool is_extern, int function_index);
  void parse_initializer(Symbol& sym, Type elem);
  void parse_instruction(Token first);
  void check_operand_count(const Token& mnemonic, const Inst& inst);
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

} // namespace tessel::sim
