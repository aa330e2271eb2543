// The element rules of docs/semantics.md, written a second time for the reference interpreter
// (ir_interpreter.h) from the document alone: integers as 64-bit values wrapped to their type,
// floats as long doubles rounded to their type by a rounding function of this file, not by
// codegen/scalar_semantics.cpp or tessel's host conversions. Where the backends and this file
// disagree, the differential fuzzer reports it and one of the three is wrong.
//
// A number carries an error bound besides its value: 0 when docs/semantics.md promises its bits,
// a positive bound (absolute, in the value's units) for results of the approximate math functions
// ("within 2 ulp") and of float sums (whose order is unspecified), and infinity ("opaque") when
// no bound is known — the value is then not compared.
#pragma once

#include "tessel/ir/types.h"

#include <cstdint>
#include <limits>

namespace tessel::fuzz {

inline constexpr double kOpaque = std::numeric_limits<double>::infinity();

// One element: integers (i1 included) in `i`, sign- or zero-extended from their type's width;
// floats in `f`, a value of their type; pointers as (buffer, element offset) in (`buf`, `i`).
// `err` bounds |f - exact| as described above.
struct Elem {
  int64_t i = 0;
  double f = 0;
  int32_t buf = -1;
  double err = 0;
};

bool is_float(DType k);
bool is_unsigned(DType k); // u8 ... u64 and i1 (a boolean orders false < true)
unsigned width_of(DType k);

// `bits` wrapped to the width of integer kind `k` and extended by its signedness.
int64_t wrap(DType k, uint64_t bits);
// `x` rounded once, to nearest even, to float kind `k` (overflow to +-inf, NaN stays NaN).
double round_to(DType k, long double x);
// One unit in the last place of float kind `k` at magnitude |x| (at least the smallest normal's).
double ulp(DType k, double x);

// The element of kind `k` stored at `p` (little endian) and back. Store encodes NaN as a quiet NaN
// (its sign and payload are not specified).
Elem load_elem(DType k, const uint8_t* p);
void store_elem(DType k, const Elem& e, uint8_t* p);

// Bits of two elements of kind `k` agree as the document promises: integers equal, floats equal
// bit for bit (so -0 != +0) except that any NaN matches any NaN.
bool same_bits(DType k, const Elem& a, const Elem& b);

} // namespace tessel::fuzz
