// tessel::Error is the one exception type a user of tessel sees: every mistake a user can make
// (a shape mismatch in a kernel, a wrong launch argument, malformed IR text) throws it, with the
// user's source location when one is known. Compiler bugs are not user errors; they trip
// TESSEL_ASSERT, which stays on in every build type.
#pragma once

#include <cstdint>
#include <source_location>
#include <stdexcept>
#include <string>

namespace tessel {

// A place in the user's source: a C++ file and line (from std::source_location), or a line and
// column of IR text. `file` points at interned or static storage; empty when unknown.
struct SourceLoc {
  const char* file = "";
  uint32_t line = 0;
  uint32_t column = 0;

  static SourceLoc from(const std::source_location& l) {
    return {l.file_name(), static_cast<uint32_t>(l.line()), static_cast<uint32_t>(l.column())};
  }
  bool known() const { return line != 0; }
  // "file:line" (or "file:line:col" when the column is known); "<unknown>" when not known.
  std::string str() const;
};

class Error : public std::runtime_error {
public:
  explicit Error(const std::string& message) : std::runtime_error(message) {}
  // The message is prefixed with "file:line: " when `where` is known.
  Error(const SourceLoc& where, const std::string& message);
};

namespace detail {
[[noreturn]] void assertion_failed(const char* condition, const char* message, const char* file,
                                   int line);
}

} // namespace tessel

// Internal invariant: a compiler bug when it fails, never a user error. Always on.
#define TESSEL_ASSERT(cond, msg)                                                                   \
  do {                                                                                             \
    if (!(cond))                                                                                   \
      ::tessel::detail::assertion_failed(#cond, msg, __FILE__, __LINE__);                          \
  } while (0)

#define TESSEL_UNREACHABLE(msg)                                                                    \
  ::tessel::detail::assertion_failed("unreachable", msg, __FILE__, __LINE__)
