// Private: the per-op verifier hooks that ops.def names (defined in verify_ops.cpp).
#pragma once

#include "tessel/ir/ir.h"

#include <optional>
#include <string>

namespace tessel::ir {
#define TESSEL_OP(id, name, operands, results, regions, traits, attrs, verifier)                   \
  std::optional<std::string> verifier(const Op& op);
#include "tessel/ir/ops.def"
#undef TESSEL_OP
} // namespace tessel::ir
