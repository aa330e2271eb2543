// The target-independent passes (codegen/transforms/): canonicalize, cse, dce, licm.
#pragma once

#include "tessel/ir/pass.h"

#include <string_view>
#include <vector>

namespace tessel::codegen {

// Every target-independent pass, in registration order (registered explicitly, no static
// constructors).
const std::vector<ir::PassInfo>& registered_passes();
// Null when no pass has this name.
const ir::PassInfo* find_pass(std::string_view name);
// Adds the pass named `name`; throws tessel::Error listing the valid names when unknown.
void add_pass(ir::PassManager& pm, std::string_view name);
// The pipeline run after tracing: canonicalize, cse, licm, dce.
void add_default_pipeline(ir::PassManager& pm);

} // namespace tessel::codegen
