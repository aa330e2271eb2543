// Parsing PTX text into a decoded module. The module is immutable after parsing and can be
// launched many times (and from several devices). Parse errors carry line and column;
// instructions outside the simulated subset are reported with their name and line.
#pragma once

#include <tessel/sim/error.h>

#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace tessel::sim {

struct Module; // defined in src/ptx_module.h

struct ParamInfo {
  std::string name;
  uint32_t size = 0;
  uint32_t align = 1;
};

struct KernelInfo {
  std::string name;
  std::vector<ParamInfo> params;
  uint32_t static_shared_bytes = 0;
  size_t instructions = 0;
};

// `source_name` names the text in error messages (a file name, or "<ptx>").
Result<std::shared_ptr<const Module>> parse_module(std::string_view ptx,
                                                   std::string_view source_name = "<ptx>");

// The kernels (.entry functions) of a module, in declaration order.
std::vector<KernelInfo> module_kernels(const Module& module);

} // namespace tessel::sim
