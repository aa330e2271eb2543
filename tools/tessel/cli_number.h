// The tessel command's whole-number flag values (--num-warps 8, -D K:num_stages=3), shared by
// `tessel compile` and `tessel aot`.
#pragma once

#include "tessel/error.h"

#include <stdexcept>
#include <string>

namespace tessel::tools {

// `v` as an int, all of it; else a tessel::Error naming `flag`.
inline int parse_int(const std::string& flag, const std::string& v) {
  try {
    size_t used = 0;
    int n = std::stoi(v, &used);
    if (used == v.size())
      return n;
  } catch (const std::logic_error&) {
  }
  throw tessel::Error(flag + " needs a number, not '" + v + "'");
}

} // namespace tessel::tools
