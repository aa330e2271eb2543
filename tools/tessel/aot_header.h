// Private to `tessel aot`: the C++ header of a bundle — one inline function per kernel that packs
// its typed arguments and calls tessel::aot::Bundle::launch (tessel/aot/bundle.h).
#pragma once

#include "runtime_aot/bundle_manifest.h"

#include <string>
#include <vector>

namespace tessel::tools {

struct HeaderKernel {
  const aot::format::Kernel* kernel;
  std::string summary; // the registry's one-line summary
};

// The text of DIR/<name>.h: `ns` is the namespace of the functions (tessel_aot by default).
std::string aot_header_text(const std::vector<HeaderKernel>& kernels, const std::string& ns,
                            const std::string& made_by);

} // namespace tessel::tools
