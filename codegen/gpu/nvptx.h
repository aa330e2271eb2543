// Private to codegen/gpu: the LLVM-side stages after lowering (nvptx_pipeline.cpp).
#pragma once

#include "tessel/codegen/target.h"

#include <llvm/IR/Module.h>
#include <llvm/Target/TargetMachine.h>

#include <memory>
#include <string>

namespace tessel::codegen::gpu::detail {

// `ptx_version` (times ten): the PTX ISA emitted, at least the target's (0: the target's).
std::unique_ptr<llvm::TargetMachine>
create_nvptx_target_machine(const Target& target, int opt_level, int ptx_version = 0);
// Links the libdevice functions the module calls (when it calls any; throws tessel::Error naming
// the path when libdevice is missing) and internalizes everything but `kernel`. True when
// libdevice was needed.
bool link_libdevice(llvm::Module& module, const std::string& kernel);
void optimize(llvm::Module& module, llvm::TargetMachine& tm, int opt_level);
std::string emit_ptx(llvm::Module& module, llvm::TargetMachine& tm);

} // namespace tessel::codegen::gpu::detail
