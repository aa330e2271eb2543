// The static roofline (roofline.h): FLOPs and global bytes per program, arithmetic intensity,
// and the bound it implies on each GPU of the peak table below.
#include "tools/tessel/roofline.h"

#include "codegen/analysis/program_cost.h"
#include "tessel/ir/parser.h"

#include <fmt/format.h>

#include <algorithm>

namespace tessel::tools {
namespace {

using codegen::analysis::ProgramCost;
using codegen::analysis::Work;

// Published dense peaks (no 2:4 sparsity) and HBM bandwidths, SXM parts:
//  - NVIDIA H100 Tensor Core GPU datasheet: BF16/FP16 tensor 1,979 TFLOPS, TF32 989 TFLOPS,
//    INT8/FP8 3,958 TOPS, all "shown with sparsity; specifications are one-half lower without
//    sparsity"; GPU memory bandwidth 3.35 TB/s (HBM3).
//  - NVIDIA H200 Tensor Core GPU datasheet: the same tensor figures (the same GH100 die),
//    GPU memory bandwidth 4.8 TB/s (HBM3e).
// These are wgmma peaks; mma.sync code (the sm_80 path) reaches less of them on Hopper.
struct GpuPeak {
  const char* name;
  double f16_tflops, tf32_tflops, int8_tops;
  double hbm_tb_per_s;
  const char* memory;
};
constexpr GpuPeak kPeaks[] = {
    {"H100 SXM", 989.4, 494.7, 1978.9, 3.35, "HBM3"},
    {"H200 SXM", 989.4, 494.7, 1978.9, 4.8, "HBM3e"},
};

// Which tensor peak a dot of these operands runs at, and its name.
struct PeakKind {
  const char* what = nullptr; // null: no tensor-core peak applies
  double GpuPeak::*peak = nullptr;
};

PeakKind peak_for(const ProgramCost& c) {
  if (c.dot_operands.empty())
    return {};
  switch (c.dot_operands.front()) {
  case DType::f16:
  case DType::bf16:
    return {"f16/bf16 tensor", &GpuPeak::f16_tflops};
  case DType::f32:
    return {"tf32 tensor (f32 dots)", &GpuPeak::tf32_tflops};
  case DType::i8:
    return {"int8 tensor", &GpuPeak::int8_tops};
  case DType::i1:
  case DType::i16:
  case DType::i32:
  case DType::i64:
  case DType::f64:
  case DType::u8:
  case DType::u16:
  case DType::u32:
  case DType::u64:
  case DType::f8e4m3:
  case DType::f8e5m2:
    return {};
  }
  TESSEL_UNREACHABLE("bad DType");
}

std::string work_text(const Work& w) {
  return fmt::format("{:.0f} FLOPs, {:.0f} bytes ({:.0f} loaded, {:.0f} stored)", w.flops,
                     w.bytes(), w.load_bytes, w.store_bytes);
}

std::string bound_text(const GpuPeak& g, const PeakKind& kind, double intensity) {
  std::string head = fmt::format("  {}, {:.2f} TB/s {}", g.name, g.hbm_tb_per_s, g.memory);
  if (!kind.what)
    return head + ": no tensor-core dot; bound by bandwidth\n";
  const double peak = g.*kind.peak;
  const double ridge = peak / g.hbm_tb_per_s; // TFLOP/s over TB/s: FLOP per byte
  const double bound = std::min(peak, intensity * g.hbm_tb_per_s);
  return head + fmt::format(", {:.1f} TFLOP/s {}: ridge {:.1f} FLOP/byte; {}: at most {:.1f} "
                            "TFLOP/s ({:.1f}% of peak)\n",
                            peak, kind.what, ridge,
                            intensity < ridge ? "memory-bound" : "compute-bound", bound,
                            100.0 * bound / peak);
}

} // namespace

std::string roofline_text(const CompileResult& r, std::optional<double> trips) {
  std::unique_ptr<ir::Module> m = ir::parse_module(r.optimized_ir, r.kernel);
  const ProgramCost cost = codegen::analysis::program_cost(*m->functions.front());
  std::string s = "\nroofline (static, per program, from the tile IR; no L2 reuse across "
                  "programs, masks not evaluated):\n";
  s += "  outside run-time loops: " + work_text(cost.fixed) + "\n";
  for (const auto& loop : cost.loops)
    s += fmt::format("  {}: trip count is a run-time value; per iteration: {}\n", loop.what,
                     work_text(loop.per_iteration));
  Work basis = cost.fixed;
  std::string why = "the whole program";
  if (!cost.loops.empty() && trips) {
    basis = cost.total(*trips);
    why = fmt::format("assuming {:g} iterations of each run-time loop (--trips)", *trips);
    s += "  total: " + work_text(basis) + "\n";
  } else if (!cost.loops.empty()) {
    basis = cost.loops.front().per_iteration;
    why = "one iteration of the run-time loop: the steady state as its trip count grows; "
          "--trips N for a whole program";
  }
  if (cost.has_if)
    s += "  (both branches of each `if` counted)\n";
  const double intensity = basis.bytes() > 0 ? basis.flops / basis.bytes() : 0.0;
  s += fmt::format("  intensity {:.2f} FLOP/byte ({})\n", intensity, why);
  const PeakKind kind = peak_for(cost);
  for (const GpuPeak& g : kPeaks)
    s += bound_text(g, kind, intensity);
  return s;
}

} // namespace tessel::tools
