// The PTX tokenizer: see lexer.h.
#include "lexer.h"

#include <cctype>
#include <cstdlib>
#include <cstring>
#include <string>

namespace tessel::sim {

namespace {

bool ident_start(char c) {
  return std::isalpha(static_cast<unsigned char>(c)) || c == '_' || c == '$' || c == '%' ||
         c == '.';
}
bool ident_char(char c) {
  return std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '$' || c == '.' ||
         c == ':';
}

} // namespace

void Lexer::skip_space() {
  while (pos_ < text_.size()) {
    char c = text_[pos_];
    if (c == '\n') {
      ++line_;
      column_ = 1;
      ++pos_;
    } else if (c == ' ' || c == '\t' || c == '\r' || c == '\f' || c == '\v') {
      ++column_;
      ++pos_;
    } else if (c == '/' && pos_ + 1 < text_.size() && text_[pos_ + 1] == '/') {
      while (pos_ < text_.size() && text_[pos_] != '\n')
        ++pos_;
    } else if (c == '/' && pos_ + 1 < text_.size() && text_[pos_ + 1] == '*') {
      pos_ += 2;
      column_ += 2;
      while (pos_ < text_.size() &&
             !(text_[pos_] == '*' && pos_ + 1 < text_.size() && text_[pos_ + 1] == '/')) {
        if (text_[pos_] == '\n') {
          ++line_;
          column_ = 1;
        } else {
          ++column_;
        }
        ++pos_;
      }
      pos_ = std::min(pos_ + 2, text_.size());
      column_ += 2;
    } else {
      return;
    }
  }
}

void Lexer::skip_line() {
  has_peek_ = false;
  while (pos_ < text_.size() && text_[pos_] != '\n')
    ++pos_;
}

Token Lexer::peek() {
  if (!has_peek_) {
    peeked_ = next();
    has_peek_ = true;
  }
  return peeked_;
}

Token Lexer::next() {
  if (has_peek_) {
    has_peek_ = false;
    return peeked_;
  }
  skip_space();
  Token tok;
  tok.line = line_;
  tok.column = column_;
  if (pos_ >= text_.size())
    return tok;
  size_t start = pos_;
  char c = text_[pos_];
  auto finish = [&](Tok kind) {
    tok.kind = kind;
    tok.text = text_.substr(start, pos_ - start);
    column_ += static_cast<int>(pos_ - start);
    return tok;
  };
  if (c == '.' && pos_ + 1 < text_.size() &&
      std::isdigit(static_cast<unsigned char>(text_[pos_ + 1]))) {
    // A float such as .5: fall through to the number path below.
  } else if (ident_start(c)) {
    ++pos_;
    while (pos_ < text_.size() && ident_char(text_[pos_])) {
      // `::` is part of qualifiers (shared::cta) but a single ':' ends a label.
      if (text_[pos_] == ':' && !(pos_ + 1 < text_.size() && text_[pos_ + 1] == ':') &&
          !(pos_ > 0 && text_[pos_ - 1] == ':'))
        break;
      ++pos_;
    }
    return finish(Tok::ident);
  }
  if (std::isdigit(static_cast<unsigned char>(c)) || c == '.') {
    // 0f/0F: 8 hex digits of an f32; 0d/0D: 16 hex digits of an f64.
    if (c == '0' && pos_ + 1 < text_.size() &&
        (text_[pos_ + 1] == 'f' || text_[pos_ + 1] == 'F' || text_[pos_ + 1] == 'd' ||
         text_[pos_ + 1] == 'D')) {
      bool f32 = text_[pos_ + 1] == 'f' || text_[pos_ + 1] == 'F';
      pos_ += 2;
      size_t digits = pos_;
      while (pos_ < text_.size() && std::isxdigit(static_cast<unsigned char>(text_[pos_])))
        ++pos_;
      std::string hex(text_.substr(digits, pos_ - digits));
      if (hex.size() != (f32 ? 8u : 16u)) {
        pos_ = start + 1;
        return finish(Tok::punct);
      }
      tok.float_bits = std::strtoull(hex.c_str(), nullptr, 16);
      tok.float_is_f32 = f32;
      return finish(Tok::floating);
    }
    if (c == '0' && pos_ + 1 < text_.size() && (text_[pos_ + 1] == 'x' || text_[pos_ + 1] == 'X')) {
      pos_ += 2;
      size_t digits = pos_;
      while (pos_ < text_.size() && std::isxdigit(static_cast<unsigned char>(text_[pos_])))
        ++pos_;
      if (pos_ == digits) {
        pos_ = start + 1;
        return finish(Tok::punct);
      }
      tok.int_value =
          std::strtoull(std::string(text_.substr(digits, pos_ - digits)).c_str(), nullptr, 16);
    } else {
      size_t p = pos_;
      while (p < text_.size() && std::isdigit(static_cast<unsigned char>(text_[p])))
        ++p;
      bool is_float = p < text_.size() && (text_[p] == '.' || text_[p] == 'e' || text_[p] == 'E');
      if (is_float) {
        std::string s(text_.substr(pos_, 64));
        char* end = nullptr;
        double v = std::strtod(s.c_str(), &end);
        pos_ += static_cast<size_t>(end - s.c_str());
        std::memcpy(&tok.float_bits, &v, 8);
        return finish(Tok::floating);
      }
      // Octal (leading 0) and binary (0b) are rare in generated PTX; decimal covers the rest.
      if (c == '0' && p < text_.size() && (text_[p] == 'b' || text_[p] == 'B')) {
        ++p;
        size_t digits = p;
        while (p < text_.size() && (text_[p] == '0' || text_[p] == '1'))
          ++p;
        tok.int_value =
            std::strtoull(std::string(text_.substr(digits, p - digits)).c_str(), nullptr, 2);
      } else {
        tok.int_value = std::strtoull(std::string(text_.substr(pos_, p - pos_)).c_str(), nullptr,
                                      c == '0' && p - pos_ > 1 ? 8 : 10);
      }
      pos_ = p;
    }
    if (pos_ < text_.size() && (text_[pos_] == 'U' || text_[pos_] == 'u')) {
      tok.is_unsigned = true;
      ++pos_;
    }
    return finish(Tok::integer);
  }
  if (c == '"') {
    ++pos_;
    while (pos_ < text_.size() && text_[pos_] != '"' && text_[pos_] != '\n')
      ++pos_;
    if (pos_ < text_.size() && text_[pos_] == '"')
      ++pos_;
    return finish(Tok::string);
  }
  ++pos_;
  return finish(Tok::punct);
}

} // namespace tessel::sim
