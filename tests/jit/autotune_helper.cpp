// A process that tunes tune_scale (tests/jit/autotune_kernels.h) once, timing on the CPU, and
// prints what it chose: `autotune_helper N` -> "config <index> <config> source <source>". The
// tuning-file tests run it as separate processes (tests/jit/autotune_file_test.cpp).
#include "jit/autotune_kernels.h"

#include <cstdio>
#include <cstdlib>
#include <vector>

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: autotune_helper N\n");
    return 2;
  }
  const int64_t n = std::atoll(argv[1]);
  tessel::AutotuneOptions o = tessel::testing::tune_scale_options();
  o.time_on_cpu = true;
  o.repeats = 3;
  try {
    tessel::Autotuner tuner(tessel::testing::tune_scale_kernel(),
                            tessel::testing::tune_scale_configs(), o);
    std::vector<float> x(size_t(n), 1.5f), out(size_t(n), 0.0f);
    tessel::TuneChoice c = tuner.choose({}, out.data(), x.data(), n);
    tuner.launch({}, out.data(), x.data(), n);
    for (float v : out)
      if (v != 3.0f) {
        std::fprintf(stderr, "wrong result %g\n", double(v));
        return 1;
      }
    std::printf("config %zu %s source %s\n", c.index, c.config->to_string().c_str(),
                tessel::tune_source_name(c.source));
  } catch (const tessel::Error& e) {
    std::fprintf(stderr, "error: %s\n", e.what());
    return 1;
  }
  return 0;
}
