// The JSON reader of json.h: a recursive-descent parser over the text, one function per
// production, depth-limited so a hostile header cannot exhaust the stack.
#include "samples/minilm/json.h"
#include "samples/minilm/utf8.h"

#include "tessel/error.h"

#include <fmt/format.h>

#include <limits>

namespace tessel::minilm::json {

namespace {

constexpr int kMaxDepth = 64;

class Parser {
public:
  explicit Parser(std::string_view text) : s_(text) {}

  std::optional<Value> document(std::string& error) {
    Value v;
    if (!value(v, 0) ||
        (skip_space(), pos_ != s_.size() && fail("trailing characters after the value"))) {
      error = error_;
      return std::nullopt;
    }
    return v;
  }

private:
  bool fail(const std::string& what) {
    if (error_.empty())
      error_ = fmt::format("at byte {}: {}", pos_, what);
    return false;
  }
  void skip_space() {
    while (pos_ < s_.size() &&
           (s_[pos_] == ' ' || s_[pos_] == '\t' || s_[pos_] == '\n' || s_[pos_] == '\r'))
      ++pos_;
  }
  bool literal(std::string_view word) {
    if (s_.substr(pos_, word.size()) != word)
      return fail("expected a JSON value");
    pos_ += word.size();
    return true;
  }

  bool value(Value& v, int depth) {
    if (depth > kMaxDepth)
      return fail("nesting deeper than 64 levels");
    skip_space();
    if (pos_ >= s_.size())
      return fail("unexpected end of the text");
    char c = s_[pos_];
    if (c == '{')
      return object(v, depth);
    if (c == '[')
      return array(v, depth);
    if (c == '"') {
      v.kind = Value::Kind::string;
      return string(v.text);
    }
    if (c == 't' || c == 'f') {
      v.kind = Value::Kind::boolean;
      v.boolean = c == 't';
      return literal(c == 't' ? "true" : "false");
    }
    if (c == 'n')
      return literal("null");
    return number(v);
  }

  bool object(Value& v, int depth) {
    v.kind = Value::Kind::object;
    ++pos_; // '{'
    skip_space();
    if (pos_ < s_.size() && s_[pos_] == '}')
      return ++pos_, true;
    for (;;) {
      skip_space();
      std::string key;
      if (pos_ >= s_.size() || s_[pos_] != '"')
        return fail("expected a string key in an object");
      if (!string(key))
        return false;
      skip_space();
      if (pos_ >= s_.size() || s_[pos_] != ':')
        return fail("expected ':' after an object key");
      ++pos_;
      Value member;
      if (!value(member, depth + 1))
        return false;
      v.members.emplace_back(std::move(key), std::move(member));
      skip_space();
      if (pos_ < s_.size() && s_[pos_] == ',') {
        ++pos_;
        continue;
      }
      if (pos_ < s_.size() && s_[pos_] == '}')
        return ++pos_, true;
      return fail("expected ',' or '}' in an object");
    }
  }

  bool array(Value& v, int depth) {
    v.kind = Value::Kind::array;
    ++pos_; // '['
    skip_space();
    if (pos_ < s_.size() && s_[pos_] == ']')
      return ++pos_, true;
    for (;;) {
      Value item;
      if (!value(item, depth + 1))
        return false;
      v.items.push_back(std::move(item));
      skip_space();
      if (pos_ < s_.size() && s_[pos_] == ',') {
        ++pos_;
        continue;
      }
      if (pos_ < s_.size() && s_[pos_] == ']')
        return ++pos_, true;
      return fail("expected ',' or ']' in an array");
    }
  }

  bool hex4(uint32_t& out) {
    out = 0;
    for (int k = 0; k < 4; ++k, ++pos_) {
      if (pos_ >= s_.size())
        return fail("unexpected end of the text in a \\u escape");
      char c = s_[pos_];
      int d = c >= '0' && c <= '9'   ? c - '0'
              : c >= 'a' && c <= 'f' ? c - 'a' + 10
              : c >= 'A' && c <= 'F' ? c - 'A' + 10
                                     : -1;
      if (d < 0)
        return fail("expected 4 hex digits after \\u");
      out = out << 4 | uint32_t(d);
    }
    return true;
  }

  bool escape(std::string& out) {
    char e = s_[pos_++];
    switch (e) {
    case '"':
    case '\\':
    case '/':
      out += e;
      return true;
    case 'b':
      out += '\b';
      return true;
    case 'f':
      out += '\f';
      return true;
    case 'n':
      out += '\n';
      return true;
    case 'r':
      out += '\r';
      return true;
    case 't':
      out += '\t';
      return true;
    case 'u':
      break;
    default:
      return --pos_, fail(fmt::format("unknown escape '\\{}' in a string", e));
    }
    uint32_t c = 0;
    if (!hex4(c))
      return false;
    if (c >= 0xD800 && c < 0xDC00 && s_.substr(pos_, 2) == "\\u") {
      pos_ += 2;
      uint32_t lo = 0;
      if (!hex4(lo))
        return false;
      if (lo < 0xDC00 || lo >= 0xE000)
        return fail("a high surrogate \\u escape not followed by a low one");
      c = 0x10000 + ((c - 0xD800) << 10) + (lo - 0xDC00);
    } else if (c >= 0xD800 && c < 0xE000) {
      return fail("a lone surrogate \\u escape");
    }
    append_utf8(out, c);
    return true;
  }

  bool string(std::string& out) {
    ++pos_; // '"'
    for (;;) {
      if (pos_ >= s_.size())
        return fail("unterminated string");
      char c = s_[pos_++];
      if (c == '"')
        return true;
      if (static_cast<unsigned char>(c) < 0x20)
        return --pos_, fail("a control character inside a string");
      if (c != '\\') {
        out += c;
        continue;
      }
      if (pos_ >= s_.size())
        return fail("unterminated string");
      if (!escape(out))
        return false;
    }
  }

  bool digits() {
    size_t start = pos_;
    while (pos_ < s_.size() && s_[pos_] >= '0' && s_[pos_] <= '9')
      ++pos_;
    return pos_ > start;
  }

  bool number(Value& v) {
    v.kind = Value::Kind::number;
    size_t start = pos_;
    if (s_[pos_] == '-')
      ++pos_;
    if (pos_ < s_.size() && s_[pos_] == '0')
      ++pos_;
    else if (!digits())
      return pos_ = start, fail("expected a JSON value");
    if (pos_ < s_.size() && s_[pos_] == '.' && (++pos_, !digits()))
      return fail("expected digits after '.' in a number");
    if (pos_ < s_.size() && (s_[pos_] == 'e' || s_[pos_] == 'E')) {
      ++pos_;
      if (pos_ < s_.size() && (s_[pos_] == '+' || s_[pos_] == '-'))
        ++pos_;
      if (!digits())
        return fail("expected digits in a number's exponent");
    }
    v.text = std::string(s_.substr(start, pos_ - start));
    return true;
  }

  std::string_view s_;
  size_t pos_ = 0;
  std::string error_;
};

} // namespace

const Value* Value::find(std::string_view key) const {
  for (const auto& [k, v] : members)
    if (k == key)
      return &v;
  return nullptr;
}

std::optional<uint64_t> Value::as_uint() const {
  if (kind != Kind::number || text.empty())
    return std::nullopt;
  uint64_t n = 0;
  for (char c : text) {
    if (c < '0' || c > '9')
      return std::nullopt;
    uint64_t d = uint64_t(c - '0');
    if (n > (std::numeric_limits<uint64_t>::max() - d) / 10)
      return std::nullopt;
    n = n * 10 + d;
  }
  return n;
}

const char* kind_name(Value::Kind kind) {
  switch (kind) {
  case Value::Kind::null:
    return "null";
  case Value::Kind::boolean:
    return "a boolean";
  case Value::Kind::number:
    return "a number";
  case Value::Kind::string:
    return "a string";
  case Value::Kind::array:
    return "an array";
  case Value::Kind::object:
    return "an object";
  }
  TESSEL_UNREACHABLE("a json::Value::Kind without a name");
}

std::optional<Value> parse(std::string_view text, std::string& error) {
  return Parser(text).document(error);
}

} // namespace tessel::minilm::json
