// The list of target-independent passes and the functions that look them up
// (tessel/codegen/transforms.h). Passes are listed here explicitly, once; none registers itself.
#include "tessel/codegen/transforms.h"

#include "codegen/transforms/passes.h"
#include "tessel/error.h"

namespace tessel::codegen {

const std::vector<ir::PassInfo>& registered_passes() {
  static const std::vector<ir::PassInfo> passes = {
      canonicalize_pass(),
      cse_pass(),
      dce_pass(),
      licm_pass(),
      contract_fma_pass(),
      strip_device_asserts_pass(),
      expand_tensor_descriptors_pass(),
  };
  return passes;
}

const ir::PassInfo* find_pass(std::string_view name) {
  for (const ir::PassInfo& pass : registered_passes())
    if (pass.name == name)
      return &pass;
  return nullptr;
}

void add_pass(ir::PassManager& pm, std::string_view name) {
  if (const ir::PassInfo* pass = find_pass(name)) {
    pm.add(*pass);
    return;
  }
  std::string valid;
  for (const ir::PassInfo& pass : registered_passes())
    valid += (valid.empty() ? "" : ", ") + pass.name;
  throw Error("unknown pass '" + std::string(name) + "'; valid passes: " + valid);
}

void add_default_pipeline(ir::PassManager& pm, const PipelineOptions& options) {
  if (!options.debug) // first, so that dce deletes what only the asserts used
    add_pass(pm, "strip-device-asserts");
  // Before the cleanups, which then fold and share the boxes' index arithmetic.
  add_pass(pm, "expand-tensor-descriptors");
  for (const char* name : {"canonicalize", "cse", "licm", "dce"})
    add_pass(pm, name);
  // Last: cse has merged equal products (a shared one is not fused) and dce dropped unused ones.
  if (options.fp_fusion)
    add_pass(pm, "contract-fma");
}

} // namespace tessel::codegen
