// ops::matmul with MatmulOptions::persistent = on: one program per multiprocessor, each looping
// over output tiles in the grouped order. Against an f64 reference written here, on the CPU
// backend and on the simulated device compiled for sm_80 and sm_90a (memcheck and racecheck on: a
// finding fails the launch), with TESSEL_SIM_SM_COUNT=3 so that every program takes several tiles
// (a tile left out stays NaN, the poison); ragged M, N, K, a batch, f16 / bf16 / f32 operands and
// an epilogue; zero bank conflicts in the simulator's profile; the plain kernel's bits for inexact
// inputs. Then the PTX (zero spills, the K loop pipelined inside the tile loop), its figures
// against the plain kernel (the `automatic` decision, docs/stdlib.md) and the option's errors.
#include "ops_test_util.h"

#include "stdlib/matmul/matmul_kernels.h"
#include "stdlib/matmul/persistent.h"
#include "support/expect_error.h"
#include "support/scoped_env.h"
#include "tessel/codegen/transforms.h"
#include "tessel/ir/pass.h"
#include "tessel/lang/trace.h"
#include "tessel/ops.h"

#include <fmt/format.h>

#include <algorithm>
#include <optional>
#include <source_location>
#include <string>
#include <vector>

namespace tessel::testing {
namespace {

using ops::MatmulConfig;
using ops::MatmulOptions;
using ops::MatmulPersistent;

// Multiples of 1/8 in [-2, 2]: exact in every operand dtype, and so are their products.
std::vector<double> eighths(size_t n, uint32_t seed) {
  std::vector<double> v = random_values(n, seed, -2.0, 2.0);
  for (double& x : v)
    x = std::round(x * 8) / 8;
  return v;
}

struct Run {
  DeviceKind where;
  const char* sim_target; // TESSEL_SIM_TARGET on the simulated device
  DType dtype;
  int64_t batch, m, n, k;
  MatmulConfig cfg;
  bool bias = false;
  std::string name() const {
    return fmt::format("{} {} {}x{}x{}x{} {}x{}x{}{}",
                       where == DeviceKind::cpu ? "cpu" : sim_target, dtype_name(dtype), batch, m,
                       n, k, cfg.block_m, cfg.block_n, cfg.block_k, bias ? " +bias" : "");
  }
};

// c = a @ b (+ bias[col]) through the persistent kernel, checked against the f64 reference; the
// padding after each row of c must stay poison.
void check(const Run& r) {
  SCOPED_TRACE(r.name());
  std::optional<ScopedEnv> target;
  if (r.where == DeviceKind::sim)
    target.emplace("TESSEL_SIM_TARGET", r.sim_target);
  ScopedEnv sms{"TESSEL_SIM_SM_COUNT", "3"};
  const auto av = eighths(size_t(r.batch * r.m * r.k), uint32_t(r.m + r.k));
  const auto bv = eighths(size_t(r.batch * r.k * r.n), uint32_t(r.n + 7));
  const auto biasv = eighths(size_t(r.n), 5);
  TestTensor a(r.where, r.dtype, {r.batch, r.m, r.k}, av);
  TestTensor b(r.where, r.dtype, {r.batch, r.k, r.n}, bv);
  TestTensor bias(r.where, DType::f32, {r.n}, biasv);
  TestTensor c = TestTensor::poisoned(r.where, DType::f32, {r.batch, r.m, r.n}, /*pad=*/3);
  MatmulOptions o;
  o.config = r.cfg;
  o.persistent = MatmulPersistent::on;
  if (r.bias)
    o.epilogue = {ops::bias(bias.view())};
  const runtime::simdev::BankTally before = runtime::simdev::bank_tally();
  ops::matmul(a.view(), b.view(), c.view(), o);
  EXPECT_EQ(runtime::simdev::bank_tally().conflicts, before.conflicts) << "bank conflicts";
  std::vector<double> want(size_t(r.batch * r.m * r.n));
  for (int64_t z = 0; z < r.batch; ++z)
    for (int64_t i = 0; i < r.m; ++i)
      for (int64_t j = 0; j < r.n; ++j) {
        double s = r.bias ? biasv[size_t(j)] : 0.0;
        for (int64_t l = 0; l < r.k; ++l)
          s += av[size_t((z * r.m + i) * r.k + l)] * bv[size_t((z * r.k + l) * r.n + j)];
        want[size_t((z * r.m + i) * r.n + j)] = s;
      }
  expect_close(c.values(), want, 1e-6, r.name());
  EXPECT_TRUE(c.padding_untouched()) << "a store outside c";
}

// 70 x 45 in 32 x 32 tiles: 3 x 2 = 6 tiles for 3 programs (the CPU: its worker threads), K = 100
// in 32-wide slices with a ragged last one; group_m 2 or 3 so that the grouped order differs from
// row-major. A batch of 2: each program walks the tiles of its batch. Each target gets its own
// group_m (from before TESSEL_SIM_TARGET was part of a kernel's key; kept: two group_m values).
void ragged_shapes(DeviceKind where, const char* target, int group_m) {
  const MatmulConfig cfg{32, 32, 32, group_m, 4, 3};
  check({where, target, DType::f16, 2, 70, 45, 100, cfg});
  check({where, target, DType::bf16, 1, 97, 33, 65, cfg, /*bias=*/true});
  check({where, target, DType::f32, 1, 40, 70, 50, MatmulConfig{16, 32, 16, group_m + 4, 4, 2}});
  // A larger tile (the GPU heuristic's 64 x 64) with more tiles than programs both ways.
  check({where, target, DType::f16, 1, 200, 130, 72, MatmulConfig{64, 64, 32, group_m + 6, 4, 3}});
}

TEST(MatmulPersistent, RaggedShapesOnTheCpu) { ragged_shapes(DeviceKind::cpu, "", 2); }

TEST(MatmulPersistent, RaggedShapesOnSimulatedSm80) {
  TESSEL_REQUIRE_SIM_DEVICE();
  ragged_shapes(DeviceKind::sim, "sm_80", 2);
}

TEST(MatmulPersistent, RaggedShapesOnSimulatedSm90a) {
  TESSEL_REQUIRE_SIM_DEVICE();
  ragged_shapes(DeviceKind::sim, "sm_90a", 3);
}

// With inexact inputs the persistent kernel gives the plain kernel's bits: the same K loop and
// epilogue per tile, only the tiles' assignment to programs differs.
void same_bits(DeviceKind where) {
  const int64_t m = 97, n = 70, k = 130;
  const auto av = random_values(size_t(m * k), 21), bv = random_values(size_t(k * n), 22);
  TestTensor a(where, DType::f16, {m, k}, av), b(where, DType::f16, {k, n}, bv);
  TestTensor plain = TestTensor::poisoned(where, DType::f32, {m, n});
  TestTensor persistent = TestTensor::poisoned(where, DType::f32, {m, n});
  MatmulOptions o;
  o.config = MatmulConfig{32, 32, 32, 2, 4, 3};
  ops::matmul(a.view(), b.view(), plain.view(), o);
  o.persistent = MatmulPersistent::on;
  ScopedEnv sms{"TESSEL_SIM_SM_COUNT", "3"};
  ops::matmul(a.view(), b.view(), persistent.view(), o);
  const std::vector<double> x = plain.values(), y = persistent.values();
  for (size_t i = 0; i < x.size(); ++i)
    ASSERT_TRUE(x[i] == y[i] && !std::isnan(x[i]))
        << "element " << i << ": " << x[i] << " vs " << y[i];
}

TEST(MatmulPersistent, SameBitsAsThePlainKernelOnTheCpu) { same_bits(DeviceKind::cpu); }

TEST(MatmulPersistent, SameBitsAsThePlainKernelOnSimulatedSm80) {
  TESSEL_REQUIRE_SIM_DEVICE();
  same_bits(DeviceKind::sim);
}

TEST(MatmulPersistent, SplitKIsAnError) {
  std::vector<float> a(16 * 16), b(16 * 16), c(16 * 16), w(4 * 16 * 16);
  MatmulOptions o;
  o.persistent = MatmulPersistent::on;
  o.split_k = 4;
  o.workspace = TensorView(w.data(), DType::f32, {4 * 16 * 16});
  std::source_location at;
  expect_error(
      [&] {
        ops::matmul(TensorView(a.data(), {16, 16}), TensorView(b.data(), {16, 16}),
                    TensorView(c.data(), {16, 16}), o, nullptr,
                    at = std::source_location::current());
      },
      [&]() -> std::vector<std::string> {
        return {"matmul", "persistent is on with split_k 4", "split_k 1",
                std::string(at.file_name()) + ":" + std::to_string(at.line())};
      });
}

TEST(MatmulPersistent, SimSmCountOutOfRangeIsAnError) {
  ScopedEnv sms{"TESSEL_SIM_SM_COUNT", "0"};
  expect_error([] { ops::detail::multiprocessor_count(DeviceKind::sim, 0); },
               {"TESSEL_SIM_SM_COUNT='0'", "1 to 1024"});
}

TEST(MatmulPersistent, GridIsOneProgramPerMultiprocessorAtMost) {
  ScopedEnv sms{"TESSEL_SIM_SM_COUNT", "5"};
  EXPECT_EQ(ops::detail::persistent_programs(DeviceKind::sim, 0, 12), 5);
  EXPECT_EQ(ops::detail::persistent_programs(DeviceKind::sim, 0, 2), 2);
}

// The persistent kernel (or `k`, another of matmul_kernels' with the same parameters) traced for
// `operand` with the specialization a launch of ragged shapes (M, N, K not multiples of 16; unit
// inner strides) would get.
std::unique_ptr<ir::Module> trace_persistent(DType operand, const MatmulConfig& cfg,
                                             const Kernel* kernel = nullptr) {
  const Kernel& k = kernel ? *kernel : ops::detail::matmul_kernels("", {}).persistent;
  const std::vector<std::string>& names = k.def().param_names;
  std::vector<lang::ParamBinding> b;
  for (size_t i = 0; i < k.def().params.size(); ++i) {
    const std::string& name = names[i];
    lang::ParamBinding pb;
    switch (k.def().params[i].kind) {
    case lang::ParamKind::Ptr:
      pb.dtype = name == "a" || name == "b" ? operand : DType::f32;
      pb.divisibility = 16;
      break;
    case lang::ParamKind::Int:
      pb.divisibility = name == "M" || name == "N" || name == "K" ? 1 : 16;
      pb.equals_one =
          name == "a_k" || name == "b_n" || name == "c_n" || name == "e0_n" || name == "e1_n";
      break;
    case lang::ParamKind::Float:
      break;
    case lang::ParamKind::Const:
      pb.const_int = name == "BM"   ? cfg.block_m
                     : name == "BN" ? cfg.block_n
                     : name == "BK" ? cfg.block_k
                                    : cfg.group_m;
      break;
    }
    b.push_back(pb);
  }
  auto module = lang::trace(k.def(), b);
  ir::PassManager pm(/*verify_each=*/true);
  codegen::add_default_pipeline(pm);
  pm.run(*module);
  return module;
}

// sm_80 and sm_90a PTX of the persistent kernel: zero spills, no local memory, tensor cores, and
// the K loop pipelined inside the tile loop (its prologue issued per tile: TESSEL_DUMP=pipeline).
// Registers and shared memory are printed for each tile (docs/stdlib.md). The spills of sm_80's
// 128 x 64 at 4 warps are printed only: the tile loop's extra state costs 8 spilled bytes there,
// on top of the plain kernel's 255 registers (sm_90a's wgmma holds no operand registers).
TEST(MatmulPersistentPtx, LeanAndPipelinedInsideTheTileLoop) {
  if (!sim_device_ready())
    GTEST_SKIP() << "CUDA toolkit (libdevice, nvJitLink) not found";
  struct Tile {
    MatmulConfig cfg;
    bool asserted;
  };
  const Tile tiles[] = {{{128, 128, 32, 8, 8, 3}, true},
                        {{64, 64, 32, 8, 8, 3}, true},
                        {{128, 64, 32, 8, 4, 3}, false},
                        {{64, 128, 32, 8, 4, 3}, true}};
  for (const char* target : {"sm_80", "sm_90a"})
    for (const Tile& t : tiles) {
      const MatmulConfig& cfg = t.cfg;
      const std::string what =
          fmt::format("persistent {} f16 {}x{}x{}, {} warps, {} stages", target, cfg.block_m,
                      cfg.block_n, cfg.block_k, cfg.num_warps, cfg.num_stages);
      SCOPED_TRACE(what);
      auto module = trace_persistent(DType::f16, cfg);
      codegen::gpu::CompileOptions opts;
      opts.num_warps = cfg.num_warps;
      opts.num_stages = cfg.num_stages;
      ScopedEnv dump{"TESSEL_DUMP", "pipeline"};
      ::testing::internal::CaptureStderr();
      auto out =
          codegen::gpu::compile(*module->functions.front(), codegen::parse_target(target), opts);
      const std::string log = ::testing::internal::GetCapturedStderr();
      codegen::gpu::PtxStats st = codegen::gpu::ptx_stats(out.ptx);
      ASSERT_TRUE(out.resources.parsed) << out.info_log;
      EXPECT_GT(st.get("cp.async"), 0);
      EXPECT_GT(st.get(std::string(target) == "sm_90a" ? "wgmma.mma_async" : "mma"), 0);
      EXPECT_NE(log.find("pipelined with 3 stages"), std::string::npos) << log;
      if (t.asserted || std::string(target) == "sm_90a") {
        EXPECT_EQ(out.resources.spill_stores, 0);
        EXPECT_EQ(out.resources.spill_loads, 0);
        EXPECT_EQ(st.get("local"), 0);
      }
      std::printf("%s: %d registers, %lld B spilled, %lld B dynamic shared\n", what.c_str(),
                  out.resources.registers, (long long)out.resources.spill_stores,
                  (long long)out.shared_bytes);
    }
}

// Programs of a kernel resident on one multiprocessor, from its registers per thread, warps and
// shared bytes per program: the per-SM limits of the CUDA C++ Programming Guide's table of
// technical specifications per compute capability (8.0: 64 K registers, 164 KiB shared, 2048
// threads; 9.0: 64 K registers, 228 KiB shared, 2048 threads), registers allocated per warp in
// units of 256 and 1 KiB of shared memory reserved per program.
int resident_programs(const std::string& target, int registers, int warps, int64_t shared) {
  const int64_t sm_shared = (target == "sm_80" ? 164 : 228) * 1024;
  const int64_t per_warp = (int64_t(registers) * 32 + 255) / 256 * 256;
  const int64_t by_registers = 65536 / (per_warp * warps);
  const int64_t by_shared = sm_shared / (shared + 1024);
  const int64_t by_threads = 2048 / (32 * warps);
  return int(std::min({by_registers, by_shared, by_threads}));
}

// Figures for docs/stdlib.md ("Persistent kernel", the `automatic` rule), no thresholds: the plain
// tile kernel against the persistent one for the same f16 configs at 3 stages, sm_80 and sm_90a
// through nvJitLink: registers, spilled bytes, shared bytes, and the programs each can keep
// resident on one SM (resident_programs). The persistent grid runs one program per SM, so where the
// plain kernel keeps two or more resident, persistence gives up warps in flight.
TEST(MatmulPersistentPtx, FiguresAgainstThePlainKernel) {
  if (!sim_device_ready())
    GTEST_SKIP() << "CUDA toolkit (libdevice, nvJitLink) not found";
  const MatmulConfig configs[] = {{128, 128, 32, 8, 8, 3},
                                  {64, 64, 32, 8, 8, 3},
                                  {128, 64, 32, 8, 4, 3},
                                  {64, 128, 32, 8, 4, 3},
                                  {64, 64, 32, 8, 4, 3}};
  const ops::detail::MatmulKernels& kernels = ops::detail::matmul_kernels("", {});
  for (const char* target : {"sm_80", "sm_90a"})
    for (const MatmulConfig& cfg : configs) {
      std::string line = fmt::format("{} f16 {}x{}x{} {} warps:", target, cfg.block_m, cfg.block_n,
                                     cfg.block_k, cfg.num_warps);
      for (const Kernel* k : {&kernels.tile, &kernels.persistent}) {
        auto module = trace_persistent(DType::f16, cfg, k);
        codegen::gpu::CompileOptions opts;
        opts.num_warps = cfg.num_warps;
        opts.num_stages = cfg.num_stages;
        auto out =
            codegen::gpu::compile(*module->functions.front(), codegen::parse_target(target), opts);
        ASSERT_TRUE(out.resources.parsed) << out.info_log;
        line += fmt::format(
            " {} {} regs, {} B spilled, {} B shared, {} resident/SM;",
            k == &kernels.tile ? "plain" : "persistent", out.resources.registers,
            out.resources.spill_stores, out.shared_bytes,
            resident_programs(target, out.resources.registers, cfg.num_warps, out.shared_bytes));
      }
      std::printf("[ figures  ] %s\n", line.c_str());
    }
}

} // namespace
} // namespace tessel::testing
