// Private: the text that device_print and device_assert produce, and where it goes — one module
// for the CPU backend (codegen/cpu/debug_runtime.cpp formats on the host), the GPU lowering
// (codegen/gpu/lower_debug.cpp builds vprintf formats from the same pieces) and the simulated
// device (runtime/sim_device.cpp regroups what the simulator's vprintf wrote), so that every
// backend writes the same bytes for the same tile.
//
// One printed element is one line:
//   pid (X, Y, Z) idx (I, J) <prefix><value>
// with the program's ids, the element's coordinates in the tile (`idx ()` for a scalar) and the
// value in the printf conversion of its kind (print_conversion). A failed device_assert element
// is the line
//   device_assert failed: pid (X, Y, Z) idx (I, J): <file>:<line>: <message>
// The output is stdout, or the file TESSEL_PRINT_FILE names (appended to; read at every write).
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>

namespace tessel::support {

// How an element's value travels to the formatter: as 64 bits, read by one conversion.
enum class PrintKind : int32_t {
  Signed = 0,   // i1 .. i64, sign-extended: %lld
  Unsigned = 1, // u8 .. u64, zero-extended: %llu
  Float = 2,    // f8, f16, bf16, f32 as a double: %.9g (enough digits to tell any two f32 apart)
  Double = 3,   // f64: %.17g
  Pointer = 4,  // an address: 0x%llx
};
const char* print_conversion(PrintKind kind);

// The vprintf format of one element line of a `rank`-d tile: 3 + rank `%d` ints, then the value
// (the prefix's `%` doubled).
std::string print_line_format(size_t rank, std::string_view prefix, PrintKind kind);
// The same line formatted here; `bits` holds the value as print_conversion reads it (a double's
// bits for Float and Double).
std::string print_line(const int32_t pid[3], std::span<const int64_t> idx, std::string_view prefix,
                       PrintKind kind, uint64_t bits);

// What begins a failed-assert line.
inline constexpr std::string_view kAssertLineStart = "device_assert failed: ";
// The vprintf format of a failed-assert line (3 + rank `%d` ints); `where` is "file:line".
std::string assert_line_format(size_t rank, std::string_view where, std::string_view message);
// The same line formatted here.
std::string assert_line(const int32_t pid[3], std::span<const int64_t> idx, std::string_view where,
                        std::string_view message);

// Writes `text` to the device output in one piece (under a lock, flushed), so that the block of
// one program is never interleaved with another's. Does nothing for empty text.
void write_device_output(std::string_view text);

} // namespace tessel::support
