// Checks the structural rules of the IR and each op's own rules (ops.def names the hooks).
#pragma once

#include "tessel/ir/ir.h"

#include <optional>
#include <string>

namespace tessel::ir {

struct VerifyError {
  std::string message; // names the op, the rule, and the types involved
  SourceLoc loc;       // of the offending op
};

std::optional<VerifyError> verify(const Module& module);
std::optional<VerifyError> verify(const Function& function);
// Throws tessel::Error on failure; `stage` (e.g. "after tracing", "after pass cse") starts the
// message.
void verify_or_throw(const Module& module, std::string_view stage);

} // namespace tessel::ir
