// Test kernels for the autotuner tests (autotune_test.cpp, autotune_file_test.cpp and the
// autotune_helper process): out = 2 * x over n elements, BLOCK elements per program, with three
// configs of BLOCK.
#pragma once

#include "tessel/tessel.h"

#include <vector>

namespace tessel::testing {

inline Kernel tune_scale_kernel() {
  namespace tl = tessel::lang;
  return tl::kernel("tune_scale", "out, x, n, BLOCK",
                    [](tl::Ptr out, tl::Ptr x, tl::Int n, tl::Const<int> BLOCK) {
                      auto offs = tl::program_id(0) * BLOCK + tl::arange(0, BLOCK);
                      auto mask = offs < n;
                      tl::store(out + offs, tl::load(x + offs, mask) * 2.0f, mask);
                    });
}

inline std::vector<TuneConfig> tune_scale_configs() {
  return {{{{"BLOCK", 64}}, 1, 1}, {{{"BLOCK", 128}}, 2, 1}, {{{"BLOCK", 256}}, 4, 2}};
}

inline AutotuneOptions tune_scale_options() {
  AutotuneOptions o;
  o.key = {"n"};
  o.grid = [](const TuneConfig& c, const TuneContext& t) {
    return Grid((t.value("n") + c.get("BLOCK") - 1) / c.get("BLOCK"));
  };
  return o;
}

} // namespace tessel::testing
