// Tokens of PTX text. Identifiers may contain dots, so a whole mnemonic
// (`ld.global.v4.f32`), a directive (`.reg`) or a special register (`%tid.x`) is one token;
// the decoder splits mnemonics at the dots. Comments (`//`, `/* */`) are skipped. Every
// token carries its 1-based line and column for error messages.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace tessel::sim {

enum class Tok : uint8_t { end, ident, integer, floating, string, punct };

struct Token {
  Tok kind = Tok::end;
  std::string_view text;
  int line = 1, column = 1;
  uint64_t int_value = 0;   // integer literals
  bool is_unsigned = false; // a `U` suffix
  uint64_t float_bits = 0;  // floating literals, as given (0f: 32-bit bits, else f64 bits)
  bool float_is_f32 = false;
  bool is(char c) const { return kind == Tok::punct && text.size() == 1 && text[0] == c; }
  bool is(std::string_view s) const { return kind == Tok::ident && text == s; }
};

class Lexer {
public:
  explicit Lexer(std::string_view text) : text_(text) {}
  // The next token; Tok::end at the end of the text. A malformed literal is returned as a
  // punct token holding the offending character, which the parser reports.
  Token next();
  Token peek();
  // Skips the rest of the current line (used for `.loc` extensions).
  void skip_line();
  int line() const { return line_; }

private:
  void skip_space();
  std::string_view text_;
  size_t pos_ = 0;
  int line_ = 1, column_ = 1;
  bool has_peek_ = false;
  Token peeked_;
};

} // namespace tessel::sim
