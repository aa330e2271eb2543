// The shape, sort, scan and tuple-reduction ops on the simulated GPU: the kernels of
// tests/dsl/shapes_kernels.h compiled by the GPU code generator and run in the PTX simulator
// against the same references as on the CPU backend (small tiles, to keep simulator time low);
// deterministic sums and the tree scans give the same bits as the CPU backend for num_warps
// 1, 2, 4 and 8; and the kernels compile for sm_80 and sm_90a without spills or local memory.
#include "dsl/shapes_kernels.h"
#include "gpu/gpu_test_util.h"
#include "support/require_sim_device.h"

#include <gtest/gtest.h>

namespace tessel::testing {

namespace {

std::vector<double> values_of(const Kernel& k, DeviceKind where, const Inputs& in, size_t out_len,
                              std::vector<int64_t> ints, bool two_d, int warps,
                              std::vector<int32_t>* indices = nullptr) {
  Outputs o = run_case(k, where, in, out_len, std::move(ints), two_d, warps);
  if (indices)
    *indices = o.indices;
  return o.values;
}

Inputs random_inputs(DType t, size_t len, uint64_t seed, int index_hi) {
  std::mt19937_64 rng(seed);
  std::uniform_real_distribution<double> dist(-4, 4);
  std::uniform_int_distribution<int> ints(-50, 49), index(-1, index_hi);
  Inputs in{t, {}, {}, {}};
  for (size_t i = 0; i < len; ++i) {
    bool fl = dtype_is_float(t);
    in.a.push_back(fl ? round_to_dtype(i % 5 ? dist(rng) : std::trunc(dist(rng)), t) : ints(rng));
    in.b.push_back(fl ? round_to_dtype(dist(rng), t) : ints(rng));
    in.ia.push_back(index(rng));
  }
  return in;
}

void same_bits(const std::vector<double>& a, const std::vector<double>& b, size_t count,
               const std::string& what) {
  for (size_t i = 0; i < count; ++i) {
    bool same = a[i] == b[i] ? std::signbit(a[i]) == std::signbit(b[i])
                             : std::isnan(a[i]) && std::isnan(b[i]);
    EXPECT_TRUE(same) << what << " element " << i << ": " << a[i] << " vs " << b[i];
  }
}

// Every 1-D op: the simulator writes what the CPU backend writes (which shapes_ops_test.cpp
// checks against the references), bit for bit: all of them are exact or fixed-order trees,
// except cumsum's scan_sum, whose GPU order differs (compared with a tolerance).
TEST(ShapesOnTheSimulator, OneDimensionalOpsMatchTheCpuBackend) {
  REQUIRE_SIM_DEVICE();
  struct C {
    int op;
    DType t;
    int64_t N, n;
    int K;
  };
  const C cases[] = {
      {Join, DType::f32, 16, 11, 1},
      {Interleave, DType::f16, 32, 32, 1},
      {Cat, DType::i32, 8, 5, 1},
      {Split, DType::f32, 16, 13, 1},
      {Flip, DType::f32, 64, 50, 1},
      {Flip, DType::i8, 1, 1, 1},
      {Gather, DType::f32, 32, 30, 1},
      {Sort, DType::f32, 32, 27, 1},
      {SortDesc, DType::i32, 16, 16, 1},
      {SortIdx, DType::f16, 16, 9, 1},
      {SortIdxDesc, DType::f32, 64, 64, 1},
      {TopK, DType::f32, 32, 20, 4},
      {Histogram, DType::i32, 64, 40, 8},
      {CumsumRev, DType::i32, 32, 31, 1},
      {Cumprod, DType::f32, 16, 16, 1},
      {Recurrence, DType::f32, 32, 25, 1},
      {RecurrenceRev, DType::f32, 16, 16, 1},
      {CumsumTree, DType::f32, 64, 60, 1},
      {Cumsum, DType::f32, 64, 60, 1},
  };
  for (const C& c : cases) {
    SCOPED_TRACE("op " + std::to_string(c.op) + " " + dtype_name(c.t) +
                 " N=" + std::to_string(c.N));
    Inputs in = random_inputs(c.t, size_t(2 * c.N), 11, int(c.op == Histogram ? c.K : c.N));
    if (c.op == Histogram)
      for (int32_t& v : in.ia)
        v = v % (c.K + 2);
    size_t len = size_t(std::max<int64_t>(2 * c.N, c.K));
    std::vector<int32_t> ci, si;
    auto cpu = values_of(shapes_1d_kernel(), DeviceKind::cpu, in, len, {c.n, c.op, c.N, c.K}, false,
                         4, &ci);
    auto sim = values_of(shapes_1d_kernel(), DeviceKind::sim, in, len, {c.n, c.op, c.N, c.K}, false,
                         4, &si);
    if (c.op == Cumsum) {
      for (size_t i = 0; i < size_t(c.N); ++i)
        EXPECT_NEAR(sim[i], cpu[i], 1e-4 * std::max(1.0, std::fabs(cpu[i]))) << i;
    } else {
      same_bits(sim, cpu, len, "values");
    }
    EXPECT_EQ(si, ci);
  }
}

TEST(ShapesOnTheSimulator, TwoDimensionalOpsMatchTheCpuBackend) {
  REQUIRE_SIM_DEVICE();
  for (int op : {Flip0, Sort0, Cat1, Gather1, Cummax0, MaxIdx0, MinIdx1, MeanVar1, TupleArgmax1,
                 Ravel, SumKeep0}) {
    SCOPED_TRACE("op2 " + std::to_string(op));
    Inputs in = random_inputs(DType::f32, 8 * 16, 5, 16);
    std::vector<int32_t> ci, si;
    std::vector<int64_t> ints{7, 13, op, 8, 16};
    auto cpu = values_of(shapes_2d_kernel(), DeviceKind::cpu, in, 2 * 8 * 16, ints, true, 4, &ci);
    auto sim = values_of(shapes_2d_kernel(), DeviceKind::sim, in, 2 * 8 * 16, ints, true, 4, &si);
    if (op == SumKeep0 || op == MeanVar1) { // built-in sums: the order is the backend's
      for (size_t i = 0; i < 16; ++i)       // MeanVar1: 8 means, 8 variances (NaN for empty rows)
        EXPECT_TRUE(std::isnan(cpu[i]) ? std::isnan(sim[i]) : std::fabs(sim[i] - cpu[i]) <= 1e-4)
            << i << ": " << sim[i] << " vs " << cpu[i];
    } else {
      same_bits(sim, cpu, cpu.size(), "values");
    }
    EXPECT_EQ(si, ci);
  }
}

// The deterministic sum and the tree scan: one result, bit for bit, on the CPU backend and on the
// simulated GPU with 1, 2, 4 and 8 warps.
TEST(ShapesOnTheSimulator, DeterministicSumsHaveTheSameBitsForEveryNumWarps) {
  REQUIRE_SIM_DEVICE();
  Inputs in = random_inputs(DType::f32, 16 * 64, 99, 1);
  for (double& v : in.a)
    v = round_to_dtype(v * 1e3 * std::exp(v), DType::f32); // wide range: order matters
  std::vector<int64_t> ints{16, 61, DetSum1, 16, 64};
  auto cpu = values_of(shapes_2d_kernel(), DeviceKind::cpu, in, 2 * 16 * 64, ints, true, 4);
  Inputs in1 = random_inputs(DType::f32, 2 * 128, 3, 1);
  std::vector<int64_t> scan{128, CumsumTree, 128, 1};
  auto cpu_scan = values_of(shapes_1d_kernel(), DeviceKind::cpu, in1, 256, scan, false, 4);
  for (int warps : {1, 2, 4, 8}) {
    SCOPED_TRACE("num_warps " + std::to_string(warps));
    same_bits(values_of(shapes_2d_kernel(), DeviceKind::sim, in, 2 * 16 * 64, ints, true, warps),
              cpu, 16, "deterministic sum");
    same_bits(values_of(shapes_1d_kernel(), DeviceKind::sim, in1, 256, scan, false, warps),
              cpu_scan, 128, "tree scan");
  }
}

// PTX for sm_80 and sm_90a: nvJitLink accepts it, no spills, no local memory.
TEST(ShapesPtx, CompilesWithoutSpillsForSm80AndSm90a) {
  TESSEL_REQUIRE_CUDA_TOOLKIT();
  struct C {
    const Kernel* k;
    std::vector<int64_t> consts;
    DType t;
  };
  const C cases[] = {
      {&shapes_1d_kernel(), {SortIdx, 256, 1}, DType::f32},
      {&shapes_1d_kernel(), {TopK, 128, 8}, DType::f16},
      {&shapes_1d_kernel(), {Recurrence, 256, 1}, DType::f32},
      {&shapes_1d_kernel(), {Gather, 64, 1}, DType::i32},
      {&shapes_1d_kernel(), {Histogram, 128, 16}, DType::i32},
      {&shapes_1d_kernel(), {Cat, 128, 1}, DType::f32},
      {&shapes_2d_kernel(), {Flip0, 32, 32}, DType::f32},
      {&shapes_2d_kernel(), {MeanVar1, 16, 64}, DType::f32},
      {&shapes_2d_kernel(), {DetSum1, 16, 128}, DType::bf16},
      {&shapes_2d_kernel(), {TupleArgmax1, 16, 64}, DType::f32},
  };
  for (const C& c : cases)
    for (const char* target : {"sm_80", "sm_90a"}) {
      SCOPED_TRACE(c.k->name() + " op " + std::to_string(c.consts[0]) + " " + target);
      auto module = trace_dsl(*c.k, c.consts, c.t);
      auto out = codegen::gpu::compile(*module->functions.front(), codegen::parse_target(target));
      EXPECT_TRUE(out.resources.parsed) << out.info_log;
      EXPECT_EQ(out.resources.spill_stores, 0);
      EXPECT_EQ(out.resources.spill_loads, 0);
      EXPECT_EQ(codegen::gpu::ptx_stats(out.ptx).get("local"), 0);
    }
}

} // namespace
} // namespace tessel::testing
