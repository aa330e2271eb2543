// tessel::Error and the internal assertion handler.
#include "tessel/error.h"

#include <cstdio>
#include <cstdlib>

namespace tessel {

std::string SourceLoc::str() const {
  if (!known())
    return "<unknown>";
  std::string s = std::string(file && *file ? file : "<input>") + ":" + std::to_string(line);
  if (column)
    s += ":" + std::to_string(column);
  return s;
}

Error::Error(const SourceLoc& where, const std::string& message)
    : std::runtime_error(where.known() ? where.str() + ": " + message : message) {}

namespace detail {
void assertion_failed(const char* condition, const char* message, const char* file, int line) {
  std::fprintf(stderr, "tessel: internal error at %s:%d: %s (%s)\n", file, line, message,
               condition);
  std::abort();
}
} // namespace detail

} // namespace tessel
