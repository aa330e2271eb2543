// Private to codegen: how device_print widens an element for the formatter
// (support/device_output.h), one rule for the CPU and the GPU lowering
// (codegen/{cpu,gpu}/lower_debug.cpp) so that both print the same text.
#pragma once

#include "support/device_output.h"
#include "tessel/error.h"
#include "tessel/ir/types.h"

namespace tessel::codegen {

// Pointers as addresses, f64 as itself, every other float (f8, f16, bf16, f32) as a double,
// unsigned integers zero-extended, the others (i1 included) sign-extended.
inline support::PrintKind print_kind(const ir::Type* elem) {
  using support::PrintKind;
  if (elem->is_pointer())
    return PrintKind::Pointer;
  if (elem->dtype() == DType::f64)
    return PrintKind::Double;
  if (elem->is_float())
    return PrintKind::Float;
  return elem->is_unsigned() ? PrintKind::Unsigned : PrintKind::Signed;
}

// The 64-bit element type a value of `kind` is cast to before it is printed (pointers: u64, after
// ptrtoint).
inline const ir::Type* print_wide_type(ir::Context& ctx, support::PrintKind kind) {
  using support::PrintKind;
  switch (kind) {
  case PrintKind::Signed:
    return ctx.scalar(DType::i64);
  case PrintKind::Unsigned:
  case PrintKind::Pointer:
    return ctx.scalar(DType::u64);
  case PrintKind::Float:
  case PrintKind::Double:
    return ctx.scalar(DType::f64);
  }
  TESSEL_UNREACHABLE("bad print kind");
}

} // namespace tessel::codegen
