//===- strip-device-asserts: remove device_assert when debugging is off -----------------------===//
//
// device_assert checks only in a launch or compile with the option `debug` (TESSEL_DEBUG=1), as
// Triton's asserts only run with debug=True. Without it the default pipeline runs this pass first,
// so each device_assert goes, and dce then deletes the condition it alone used: the kernel is the
// one it would be without the assert (no branch, no printf, no trap in the PTX).
//
//===----------------------------------------------------------------------------------------===//
#include "codegen/transforms/passes.h"

#include <vector>

namespace tessel::codegen {
namespace {

using namespace ir;

void strip(Module& module, PassStats& stats) {
  for (auto& f : module.functions) {
    std::vector<Op*> asserts;
    walk(f->body, [&](Op& op) {
      if (op.opcode() == Opcode::DeviceAssert)
        asserts.push_back(&op);
    });
    for (Op* op : asserts)
      op->parent_block()->erase(op);
    stats["erased"] += int64_t(asserts.size());
  }
}

} // namespace

PassInfo strip_device_asserts_pass() {
  return {"strip-device-asserts",
          "Removes every device_assert (the pipeline runs it unless the option debug is on).",
          strip};
}

} // namespace tessel::codegen
