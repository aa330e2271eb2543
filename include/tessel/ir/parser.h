// Parses the text form written by print(). Errors throw tessel::Error naming the source name,
// the line and the column, and what was expected.
#pragma once

#include "tessel/ir/ir.h"

#include <memory>
#include <string_view>

namespace tessel::ir {

std::unique_ptr<Module> parse_module(std::string_view text, std::string_view source_name = "<ir>");

} // namespace tessel::ir
