// Private: the passes of this folder, one per .cpp, each described by a PassInfo (name,
// one-sentence summary, entry point). registry.cpp lists them; nothing registers itself.
#pragma once

#include "tessel/ir/pass.h"

namespace tessel::codegen {

ir::PassInfo canonicalize_pass();
ir::PassInfo contract_fma_pass();
ir::PassInfo cse_pass();
ir::PassInfo dce_pass();
ir::PassInfo expand_tensor_descriptors_pass();
ir::PassInfo licm_pass();
ir::PassInfo strip_device_asserts_pass();

} // namespace tessel::codegen
