// Private: evaluation of elementwise ops on constant scalars, with exactly the semantics that ir.h
// states (two's-complement integers wrapping at the type's width, f16/bf16 computed in f32 and
// rounded to nearest even after each op, C division). Used by canonicalize.cpp.
#pragma once

#include "tessel/ir/ir.h"

#include <optional>
#include <vector>

namespace tessel::codegen {

// A constant's value as its attribute holds it: `i` for integer elements (sign-extended from the
// type's width; i1 is 0 or 1), `f` for float elements (exactly representable in the type).
using ConstValue = ir::Attr;

// The value of `op` (an elementwise op) applied to constant operands of element types
// `operand_elements`, giving an element of type `result_element`; nothing when the result is
// unspecified by ir.h (division by zero, out-of-range shifts or float -> int casts) or when the op
// is not folded for these types (i1 arithmetic other than bitwise ops and equality).
std::optional<ConstValue> fold_elementwise(ir::Opcode op, const std::vector<ConstValue>& operands,
                                           const ir::Type* operand_element,
                                           const ir::Type* result_element);

// `v` rounded to the float type `element` (round to nearest even, overflow to infinity).
double round_to_float_type(double v, DType element);
// `v` wrapped to the integer type `element` (sign-extended; i1 keeps the low bit).
int64_t wrap_to_int_type(int64_t v, DType element);

} // namespace tessel::codegen
