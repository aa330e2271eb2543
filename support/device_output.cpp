// The text of device_print / device_assert and the device output stream (device_output.h).
#include "support/device_output.h"

#include "tessel/error.h"

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <mutex>

namespace tessel::support {
namespace {

// printf needs `%%` for a literal `%` in the user's strings.
std::string escape_percent(std::string_view s) {
  std::string out;
  for (char c : s) {
    out += c;
    if (c == '%')
      out += '%';
  }
  return out;
}

std::string pid_and_idx_format(size_t rank) {
  std::string f = "pid (%d, %d, %d) idx (";
  for (size_t i = 0; i < rank; ++i)
    f += i ? ", %d" : "%d";
  return f + ")";
}

std::string pid_and_idx(const int32_t pid[3], std::span<const int64_t> idx) {
  std::string s = "pid (" + std::to_string(pid[0]) + ", " + std::to_string(pid[1]) + ", " +
                  std::to_string(pid[2]) + ") idx (";
  for (size_t i = 0; i < idx.size(); ++i)
    s += (i ? ", " : "") + std::to_string(idx[i]);
  return s + ")";
}

std::string format_value(PrintKind kind, uint64_t bits) {
  char buf[64];
  const char* conv = print_conversion(kind);
  switch (kind) {
  case PrintKind::Signed:
    std::snprintf(buf, sizeof buf, conv, static_cast<long long>(bits));
    return buf;
  case PrintKind::Unsigned:
  case PrintKind::Pointer:
    std::snprintf(buf, sizeof buf, conv, static_cast<unsigned long long>(bits));
    return buf;
  case PrintKind::Float:
  case PrintKind::Double: {
    double d;
    std::memcpy(&d, &bits, sizeof d);
    std::snprintf(buf, sizeof buf, conv, d);
    return buf;
  }
  }
  TESSEL_UNREACHABLE("bad print kind");
}

std::mutex& output_mutex() {
  static std::mutex m;
  return m;
}

} // namespace

const char* print_conversion(PrintKind kind) {
  switch (kind) {
  case PrintKind::Signed:
    return "%lld";
  case PrintKind::Unsigned:
    return "%llu";
  case PrintKind::Float:
    return "%.9g";
  case PrintKind::Double:
    return "%.17g";
  case PrintKind::Pointer:
    return "0x%llx";
  }
  TESSEL_UNREACHABLE("bad print kind");
}

std::string print_line_format(size_t rank, std::string_view prefix, PrintKind kind) {
  return pid_and_idx_format(rank) + " " + escape_percent(prefix) + print_conversion(kind) + "\n";
}

std::string print_line(const int32_t pid[3], std::span<const int64_t> idx, std::string_view prefix,
                       PrintKind kind, uint64_t bits) {
  return pid_and_idx(pid, idx) + " " + std::string(prefix) + format_value(kind, bits) + "\n";
}

std::string assert_line_format(size_t rank, std::string_view where, std::string_view message) {
  return std::string(kAssertLineStart) + pid_and_idx_format(rank) + ": " + escape_percent(where) +
         ": " + escape_percent(message) + "\n";
}

std::string assert_line(const int32_t pid[3], std::span<const int64_t> idx, std::string_view where,
                        std::string_view message) {
  return std::string(kAssertLineStart) + pid_and_idx(pid, idx) + ": " + std::string(where) + ": " +
         std::string(message) + "\n";
}

void write_device_output(std::string_view text) {
  if (text.empty())
    return;
  std::lock_guard lock(output_mutex());
  const char* path = std::getenv("TESSEL_PRINT_FILE");
  if (path && *path) {
    if (std::FILE* f = std::fopen(path, "ab")) {
      std::fwrite(text.data(), 1, text.size(), f);
      std::fclose(f);
      return;
    }
    std::fprintf(stderr,
                 "tessel: cannot open TESSEL_PRINT_FILE '%s'; device output follows on "
                 "stdout\n",
                 path);
  }
  std::fwrite(text.data(), 1, text.size(), stdout);
  std::fflush(stdout);
}

} // namespace tessel::support
