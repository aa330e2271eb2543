// Errors of the PTX simulator as values. Everything a user can cause (malformed PTX, an
// instruction outside the subset, a bad launch, a memory or race error found while the
// kernel runs) is an `Error` that names the kernel, the PTX line and column, the `.loc`
// source line when the PTX has one, the thread and block, and the address involved.
// `Result<T>` carries either a value or an `Error`; nothing in the public API throws.
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <variant>

namespace tessel::sim {

struct Dim3 {
  uint32_t x = 1, y = 1, z = 1;
  uint64_t count() const { return uint64_t(x) * y * z; }
  bool operator==(const Dim3&) const = default;
};

enum class ErrorKind {
  parse,       // malformed PTX text
  unsupported, // an instruction or directive outside the simulated subset
  bad_launch,  // unknown entry, wrong arguments, block too large, too much shared memory
  memcheck,    // out-of-bounds, misaligned or uninitialised access
  racecheck,   // shared/global hazard between threads not ordered by barriers or atomics
  sync,        // barrier deadlock, mbarrier hang/misuse, cp.async data read before its wait
  limit,       // the instruction budget of a launch ran out
  io,          // a file the command line tool could not read or write
  assertion,   // the kernel called __assertfail (CUDA's assert, tessel's device_assert)
};

const char* error_kind_name(ErrorKind kind);

struct Error {
  ErrorKind kind = ErrorKind::parse;
  std::string message;
  std::string kernel;      // entry or function name, empty when not known
  std::string instruction; // the PTX mnemonic, empty when not known
  int ptx_line = 0;        // 1-based; 0 when not known
  int ptx_column = 0;
  std::string source_file; // from .loc/.file, empty when the PTX has no line info
  int source_line = 0;
  bool has_thread = false;
  Dim3 thread{0, 0, 0};
  Dim3 block{0, 0, 0};
  bool has_address = false;
  uint64_t address = 0;

  // One line: "memcheck: kernel k, ptx line 12 (kernel.cu:7), thread (3,0,0) block (1,0,0),
  // address 0x...: <message>".
  std::string to_string() const;
};

// A value or an Error. `ok()` tells which; `value()`/`error()` read it.
template <typename T> class [[nodiscard]] Result {
public:
  Result(T value) : data_(std::move(value)) {}
  Result(Error error) : data_(std::move(error)) {}
  bool ok() const { return data_.index() == 0; }
  explicit operator bool() const { return ok(); }
  T& value() { return std::get<0>(data_); }
  const T& value() const { return std::get<0>(data_); }
  const Error& error() const { return std::get<1>(data_); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }
  T& operator*() { return value(); }
  const T& operator*() const { return value(); }

private:
  std::variant<T, Error> data_;
};

// A status: empty when the operation succeeded.
class [[nodiscard]] Status {
public:
  Status() = default;
  Status(Error error) : error_(std::move(error)), failed_(true) {}
  bool ok() const { return !failed_; }
  explicit operator bool() const { return ok(); }
  const Error& error() const { return error_; }

private:
  Error error_;
  bool failed_ = false;
};

} // namespace tessel::sim
