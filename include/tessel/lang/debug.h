// Debugging a kernel (docs/language.md "Debugging"): printing tiles and checking conditions on the
// device, and checks and prints at trace time. Triton's device_print / device_assert /
// static_assert / static_print; `static_assert` is a C++ keyword, hence `static_assert_` (as
// `if_` and `while_`).
#pragma once

#include "tessel/lang/tensor.h"

#include <source_location>
#include <string>
#include <string_view>

namespace tessel::lang {

// Prints each element of `x` (where `mask`, broadcast to x's shape, holds) as a line
//   pid (X, Y, Z) idx (I, J) <prefix><value>
// On the CPU backend and the simulated device the lines of one program for one call are one block,
// in row-major order of the coordinates, written to stdout (or the file TESSEL_PRINT_FILE names);
// blocks of different programs come in no defined order. On a CUDA GPU the lines are printf
// output, one per element, in the order the threads print them.
void device_print(std::string_view prefix, const Tensor& x,
                  std::source_location loc = std::source_location::current());
void device_print(std::string_view prefix, const Tensor& x, const Tensor& mask,
                  std::source_location loc = std::source_location::current());

// Checks that every element of the boolean tile `cond` (where `mask` holds) is true. Only in a
// launch or compile with the option `debug` (or TESSEL_DEBUG=1); otherwise it compiles to nothing.
// A false element makes the launch throw tessel::Error once the programs ran, naming this line, the
// message, and the failing programs and elements.
void device_assert(const Tensor& cond, std::string_view message,
                   std::source_location loc = std::source_location::current());
void device_assert(const Tensor& cond, std::string_view message, const Tensor& mask,
                   std::source_location loc = std::source_location::current());

// At trace time: throws tessel::Error "FILE:LINE: static_assert failed: MESSAGE" when `cond` is
// false (a condition on Const values, shapes or dtypes).
void static_assert_(bool cond, std::string_view message,
                    std::source_location loc = std::source_location::current());

// At trace time (once per specialization traced): writes "FILE:LINE: static_print: TEXT" to the
// device output. With a tile: its type, e.g. "offs: i32[128]", and the value of a constant scalar.
void static_print(std::string_view text,
                  std::source_location loc = std::source_location::current());
void static_print(std::string_view prefix, const Tensor& x,
                  std::source_location loc = std::source_location::current());
void static_print(std::string_view prefix, double value,
                  std::source_location loc = std::source_location::current());

// ---- Triton's debug_barrier and expect_zero (issue 14; dsl/debug.cpp) -------------------------
// Every thread of the program waits here, and the program's memory accesses before it are seen
// by its accesses after (PTX bar.sync 0: a tile stored and read back in another distribution). The
// CPU backend runs a program as one thread, in order, so there it is nothing.
void debug_barrier(std::source_location loc = std::source_location::current());
// Returns x; with the option `debug`, device_asserts that x == 0 wherever `mask` holds (values
// expected to have underflowed to zero). Triton's FPSAN mode has no tessel counterpart.
Tensor expect_zero(const Tensor& x, const Tensor& mask,
                   std::source_location loc = std::source_location::current());

} // namespace tessel::lang
