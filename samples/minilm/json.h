// A minimal JSON reader for the safetensors header: the whole grammar of RFC 8259 (objects,
// arrays, strings with escapes, numbers, true/false/null), values kept as a small tree. Numbers
// keep their text, so 64-bit offsets are read exactly. Errors are reported as a message with the
// byte offset; the caller adds the file name.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace tessel::minilm::json {

struct Value {
  enum class Kind : uint8_t { null, boolean, number, string, array, object };
  Kind kind = Kind::null;
  bool boolean = false;
  std::string text; // a string's contents, or a number's digits
  std::vector<Value> items;
  std::vector<std::pair<std::string, Value>> members; // in order of appearance

  const Value* find(std::string_view key) const;
  // A non-negative integer that fits 64 bits, or nullopt (a fraction, exponent, sign, overflow).
  std::optional<uint64_t> as_uint() const;
};

const char* kind_name(Value::Kind kind);

// Parses `text` as one JSON value (surrounding whitespace allowed). On failure returns nullopt
// and sets `error` ("at byte 17: expected ':' after an object key").
std::optional<Value> parse(std::string_view text, std::string& error);

} // namespace tessel::minilm::json
