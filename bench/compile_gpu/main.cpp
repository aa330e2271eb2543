// Benchmark: how long the GPU backend takes to turn each sample kernel into a cubin, per stage
// (trace, passes, layouts, lowering, libdevice, LLVM O3, PTX, nvJitLink). "first" is the first
// compile in the process (LLVM's NVPTX target initialised, libdevice read from disk); "median"
// is the median of the following runs, each from scratch (new trace, new LLVMContext) — what a
// process compiling its second kernel pays; "min" is the fastest of those runs. No GPU needed.
//
//   bench_compile_gpu [--target sm_90a] [--runs N] [--only LABEL]
#include "tessel/codegen/gpu.h"
#include "tessel/samples/registry.h"

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

namespace {

struct Row {
  double trace, passes, layout, lower, libdevice, optimize, ptx, cubin;
  double total() const {
    return trace + passes + layout + lower + libdevice + optimize + ptx + cubin;
  }
};

// One row of the table: a sample kernel, its -D defines and its pipeline depth. "matmul_f16" is
// the tensor-core matmul the Triton comparison uses (triton_compile_time.sh): f16 operands,
// 64 x 64 x 32 tiles, 4 warps, a 3-stage cp.async ring — Triton's tutorial matmul at the same
// config.
struct Case {
  const char* label;
  const char* kernel;
  std::vector<std::string> defines;
  int num_stages;
};

const std::vector<Case>& cases() {
  static const std::vector<Case> all = {
      {"vector_add", "vector_add", {}, 2},
      {"softmax", "softmax", {}, 2},
      {"layer_norm", "layer_norm", {}, 2},
      {"matmul", "matmul", {}, 2},
      {"matmul_f16", "matmul", {"DTYPE=f16", "BLOCK_K=32"}, 3},
  };
  return all;
}

Row run_once(const Case& k, const tessel::codegen::Target& target) {
  tessel::samples::TraceTimes tt;
  auto module = tessel::samples::trace_kernel(tessel::samples::find_kernel(k.kernel), k.defines,
                                              /*optimize=*/true, &tt);
  tessel::codegen::gpu::CompileOptions options;
  options.num_stages = k.num_stages;
  auto c = tessel::codegen::gpu::compile(*module->functions.front(), target, options);
  const auto& t = c.times;
  return {tt.trace_ms,    tt.passes_ms,  t.layout_ms, t.lower_ms,
          t.libdevice_ms, t.optimize_ms, t.ptx_ms,    t.cubin_ms};
}

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v.empty() ? 0 : v[v.size() / 2];
}

void print(const char* name, const char* what, const Row& r) {
  std::printf("%-11s %-7s %6.2f %6.2f %6.2f %6.2f %8.2f %7.2f %6.2f %7.2f %8.2f\n", name, what,
              r.trace, r.passes, r.layout, r.lower, r.libdevice, r.optimize, r.ptx, r.cubin,
              r.total());
}

} // namespace

int main(int argc, char** argv) {
  std::string target_name = "sm_90a";
  int runs = 7;
  std::string only; // one row's label, e.g. matmul_f16
  for (int i = 1; i < argc; ++i) {
    if (!std::strcmp(argv[i], "--target") && i + 1 < argc)
      target_name = argv[++i];
    else if (!std::strcmp(argv[i], "--runs") && i + 1 < argc)
      runs = std::max(1, std::atoi(argv[++i]));
    else if (!std::strcmp(argv[i], "--only") && i + 1 < argc)
      only = argv[++i];
  }
  try {
    tessel::codegen::Target target = tessel::codegen::parse_target(target_name);
    std::printf("cold compile to cubin for %s, milliseconds per stage (median of %d runs after the "
                "first)\n\n",
                target.name().c_str(), runs);
    std::printf("%-11s %-7s %6s %6s %6s %6s %8s %7s %6s %7s %8s\n", "kernel", "run", "trace",
                "passes", "layout", "lower", "libdev", "O3", "ptx", "cubin", "total");
    for (const Case& k : cases()) {
      if (!only.empty() && only != k.label)
        continue;
      const char* name = k.label;
      Row first = run_once(k, target);
      std::vector<Row> rows;
      for (int r = 0; r < runs; ++r)
        rows.push_back(run_once(k, target));
      auto pick = [&](double Row::*m) {
        std::vector<double> v;
        for (const Row& r : rows)
          v.push_back(r.*m);
        return median(v);
      };
      Row med{pick(&Row::trace),     pick(&Row::passes),   pick(&Row::layout), pick(&Row::lower),
              pick(&Row::libdevice), pick(&Row::optimize), pick(&Row::ptx),    pick(&Row::cubin)};
      print(name, "first", first);
      print(name, "median", med);
      // The fastest run whole (its stages as they were in that run).
      print(name, "min",
            *std::min_element(rows.begin(), rows.end(),
                              [](const Row& x, const Row& y) { return x.total() < y.total(); }));
    }
  } catch (const std::exception& e) {
    std::fprintf(stderr, "bench_compile_gpu: %s\n", e.what());
    return 1;
  }
  return 0;
}
