// Passes over the tile IR and the manager that runs them. A pass is registered once, by name,
// with a one-sentence summary; the manager verifies after each pass (when asked) and prints the
// IR after each pass under TESSEL_DUMP=ir.
#pragma once

#include "tessel/ir/ir.h"

#include <functional>
#include <map>
#include <string>
#include <vector>

namespace tessel::ir {

// Counters a pass reports (e.g. "folded" -> 12), printed with TESSEL_DUMP=ir.
using PassStats = std::map<std::string, int64_t>;

struct PassInfo {
  std::string name;
  std::string summary;
  std::function<void(Module&, PassStats&)> run;
};

class PassManager {
public:
  // Verify after every pass (tests and debug builds do; the JIT does in debug builds).
  explicit PassManager(bool verify_each = true) : verify_each_(verify_each) {}

  void add(const PassInfo& pass) { passes_.push_back(pass); }
  void run(Module& module);
  const std::vector<PassInfo>& passes() const { return passes_; }

private:
  std::vector<PassInfo> passes_;
  bool verify_each_;
};

} // namespace tessel::ir
