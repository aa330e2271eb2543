// The target-independent passes (codegen/transforms/): canonicalize, cse, dce, licm, contract-fma.
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
// What the pipeline after tracing depends on: part of every cache key.
struct PipelineOptions {
  // Contract a*b + c into fma (one rounding), as Triton's enable_fp_fusion; false keeps the
  // separate roundings of the multiply and the add (docs/language.md "FMA contraction").
  bool fp_fusion = true;
  // Keep device_assert (Triton's debug=True); false removes them first (strip-device-asserts).
  bool debug = false;
};
// The pipeline run after tracing: strip-device-asserts unless options.debug,
// expand-tensor-descriptors (desc_load / desc_store as masked load / store, but those that
// assign-tensor-maps sent through TMA), canonicalize, cse, licm, dce, then contract-fma when
// options.fp_fusion.
void add_default_pipeline(ir::PassManager& pm, const PipelineOptions& options = {});

} // namespace tessel::codegen
