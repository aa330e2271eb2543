// Private to codegen, and free of LLVM: which rule of the scalar semantics (scalar_semantics.cpp)
// gives each elementwise op its meaning. ScalarSemantics::apply dispatches on it, and
// tests/ir/op_families_test.cpp checks that every ELEMENTWISE row of ops.def has one, so that an
// op added to the table without its semantics fails a test instead of reaching a backend.
#pragma once

#include "tessel/ir/ir.h"

#include <cstdint>
#include <optional>

namespace tessel::codegen {

enum class ScalarRule : uint8_t {
  Cast,       // conversions, rounded once (ScalarSemantics::cast)
  Bitcast,    // the same bits read as another type of one width
  Select,     // select(c, a, b)
  AddPtr,     // pointer + offset, scaled by the pointee
  Compare,    // cmp_*, by signedness; an i1 result
  Arithmetic, // integer and float arithmetic computed inline
  Math,       // float functions from the target's math library (ScalarTarget::math)
  External,   // the user's code (inline_asm, extern_call): each backend lowers it itself
              // (codegen/gpu/lower_escape.cpp, codegen/cpu/lower_escape.cpp), not `apply`
};

// The rule for `op`; nothing for an op outside the elementwise family.
std::optional<ScalarRule> scalar_rule(ir::Opcode op);

} // namespace tessel::codegen
