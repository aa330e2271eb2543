// Runs passes in order; verifies after each when asked; dumps the IR after each under
// TESSEL_DUMP=ir.
#include "tessel/ir/pass.h"

#include "tessel/ir/printer.h"
#include "tessel/ir/verifier.h"
#include "tessel/support/dump.h"

namespace tessel::ir {

void PassManager::run(Module& module) {
  const bool dumping = support::dump_enabled("ir");
  for (const PassInfo& pass : passes_) {
    PassStats stats;
    pass.run(module, stats);
    if (verify_each_)
      verify_or_throw(module, "after pass " + pass.name);
    if (!dumping)
      continue;
    std::string title = "after " + pass.name;
    for (const auto& [name, count] : stats)
      title += " " + name + "=" + std::to_string(count);
    std::string kernel = module.functions.empty() ? "module" : module.functions.front()->name;
    support::dump("ir", kernel + " " + title, print(module));
  }
}

} // namespace tessel::ir
