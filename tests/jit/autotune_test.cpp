// The autotuner in one process (tessel/jit/autotune.h): launches with the chosen config compute
// the right result, the heuristic and prune callbacks decide without a GPU, keys are bucketed,
// CPU timing writes the tuning file, TESSEL_DUMP=tune says why, on the simulated device every
// config is compiled and checked first, and each user mistake is an error naming it.
#include "jit/autotune_kernels.h"
#include "jit/autotune_search.h"
#include "support/expect_error.h"
#include "support/require_sim_device.h"
#include "support/scoped_env.h"

#include "cache/process.h"
#include "tessel/runtime/device_buffer.h"

#include <gtest/gtest.h>

#include <atomic>
#include <cmath>
#include <random>
#include <thread>

namespace {

using tessel::AutotuneOptions;
using tessel::Autotuner;
using tessel::TuneConfig;
using tessel::TuneContext;
using tessel::TuneSource;
using tessel::testing::expect_error;
using tessel::testing::ScopedEnv;
using tessel::testing::TempDir;
using tessel::testing::tune_scale_configs;
using tessel::testing::tune_scale_kernel;
using tessel::testing::tune_scale_options;

std::vector<float> random_input(size_t n, unsigned seed) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> d(-4, 4);
  std::vector<float> v(n);
  for (float& x : v)
    x = d(rng);
  return v;
}

// Launches `tuner` on n elements (output poisoned first) and checks every element.
void expect_scaled(const Autotuner& tuner, int64_t n, const tessel::LaunchOptions& o = {}) {
  std::vector<float> x = random_input(size_t(n), unsigned(n)), out(size_t(n), std::nanf(""));
  tuner.launch(o, out.data(), x.data(), n);
  for (int64_t i = 0; i < n; ++i)
    ASSERT_EQ(out[size_t(i)], 2 * x[size_t(i)]) << "element " << i << " of " << n;
}

// The tuning files of a test: a fresh writable file, no shipped ones.
struct IsolatedTuning {
  TempDir dir;
  std::string file = dir.path() + "/tuning.tsv";
  ScopedEnv writable{"TESSEL_TUNING_FILE", file.c_str()};
  ScopedEnv readonly{"TESSEL_TUNING_READONLY_FILES", nullptr};
};

TEST(Autotune, HeuristicDefaultIsTheFirstConfigOnTheCpu) {
  IsolatedTuning files;
  Autotuner tuner(tune_scale_kernel(), tune_scale_configs(), tune_scale_options());
  std::vector<float> x(1000), out(1000);
  tessel::TuneChoice c = tuner.choose({}, out.data(), x.data(), int64_t(1000));
  EXPECT_EQ(c.index, 0u);
  EXPECT_EQ(c.source, TuneSource::heuristic);
  EXPECT_EQ(tuner.choose({}, out.data(), x.data(), int64_t(1000)).source, TuneSource::memory);
  expect_scaled(tuner, 1000);
  EXPECT_FALSE(std::filesystem::exists(files.file)) << "heuristic picks are not written";
}

TEST(Autotune, TheHeuristicCallbackPicksAmongFittingConfigs) {
  IsolatedTuning files;
  AutotuneOptions o = tune_scale_options();
  o.heuristic_name = "largest block";
  o.heuristic = [](std::span<const TuneConfig> fitting, const TuneContext&) {
    return fitting.size() - 1;
  };
  Autotuner tuner(tune_scale_kernel(), tune_scale_configs(), o);
  std::vector<float> x(300), out(300);
  EXPECT_EQ(tuner.choose({}, out.data(), x.data(), 300).index, 2u);
  expect_scaled(tuner, 300);
}

TEST(Autotune, PrunedConfigsAndTheChoiceAreDumped) {
  IsolatedTuning files;
  ScopedEnv dump("TESSEL_DUMP", "tune");
  AutotuneOptions o = tune_scale_options();
  o.prune = [](const TuneConfig& c, const TuneContext& t) -> std::string {
    return c.get("BLOCK") < t.value("n") / 8 ? "blocks smaller than n/8 make too many programs"
                                             : "";
  };
  Autotuner tuner(tune_scale_kernel(), tune_scale_configs(), o);
  std::vector<float> x(1000), out(1000);
  ::testing::internal::CaptureStderr();
  tessel::TuneChoice c = tuner.choose({}, out.data(), x.data(), 1000);
  std::string err = ::testing::internal::GetCapturedStderr();
  EXPECT_EQ(c.index, 1u); // 64 < 1000/8 is pruned, 128 is the first that fits
  EXPECT_NE(err.find("autotune tune_scale: n=1000 -> key n=1024 | f32,f32 | cpu "),
            std::string::npos)
      << err;
  EXPECT_NE(err.find("config 0 BLOCK=64,num_warps=1,num_stages=1: pruned: blocks smaller than "
                     "n/8 make too many programs"),
            std::string::npos)
      << err;
  EXPECT_NE(err.find("config 1 BLOCK=128,num_warps=2,num_stages=1: fits"), std::string::npos)
      << err;
  EXPECT_NE(err.find("chosen: config 1 BLOCK=128,num_warps=2,num_stages=1 (heuristic 'first "
                     "config that fits'; nothing is timed on cpu)"),
            std::string::npos)
      << err;
}

TEST(Autotune, OneBucketOneChoice) {
  IsolatedTuning files;
  int calls = 0;
  AutotuneOptions o = tune_scale_options();
  o.heuristic = [&](std::span<const TuneConfig>, const TuneContext& t) {
    ++calls;
    EXPECT_EQ(t.buckets[0], tessel::tune_bucket_pow2(t.values[0]));
    return size_t(t.buckets[0] >= 512 ? 2 : 0);
  };
  Autotuner tuner(tune_scale_kernel(), tune_scale_configs(), o);
  std::vector<float> x(1000), out(1000);
  EXPECT_EQ(tuner.choose({}, out.data(), x.data(), 100).source, TuneSource::heuristic);
  EXPECT_EQ(tuner.choose({}, out.data(), x.data(), 120).source, TuneSource::memory); // 128 too
  EXPECT_EQ(tuner.choose({}, out.data(), x.data(), 600).index, 2u);                  // 1024
  EXPECT_EQ(calls, 2);
  expect_scaled(tuner, 120);
  expect_scaled(tuner, 600);
}

// Concurrent first calls of one key decide once; every thread runs the one choice.
TEST(Autotune, ConcurrentFirstCallsDecideOnce) {
  IsolatedTuning files;
  std::atomic<int> calls{0};
  AutotuneOptions o = tune_scale_options();
  o.heuristic = [&](std::span<const TuneConfig> fitting, const TuneContext&) {
    ++calls;
    return fitting.size() - 1;
  };
  Autotuner tuner(tune_scale_kernel(), tune_scale_configs(), o);
  std::vector<std::thread> threads;
  std::vector<size_t> chosen(4);
  for (size_t t = 0; t < chosen.size(); ++t)
    threads.emplace_back([&, t] {
      std::vector<float> x(900), out(900);
      chosen[t] = tuner.choose({}, out.data(), x.data(), 900).index;
      expect_scaled(tuner, 900);
    });
  for (std::thread& t : threads)
    t.join();
  EXPECT_EQ(calls.load(), 1);
  for (size_t c : chosen)
    EXPECT_EQ(c, 2u);
}

TEST(Autotune, BucketsArePowersOfTwo) {
  EXPECT_EQ(tessel::tune_bucket_pow2(0), 0);
  EXPECT_EQ(tessel::tune_bucket_pow2(1), 1);
  EXPECT_EQ(tessel::tune_bucket_pow2(3), 4);
  EXPECT_EQ(tessel::tune_bucket_pow2(4096), 4096);
  EXPECT_EQ(tessel::tune_bucket_pow2(4097), 8192);
}

TEST(Autotune, TimingOnTheCpuWritesTheWinner) {
  IsolatedTuning files;
  ScopedEnv dump("TESSEL_DUMP", "tune");
  AutotuneOptions o = tune_scale_options();
  o.time_on_cpu = true;
  o.repeats = 3;
  Autotuner tuner(tune_scale_kernel(), tune_scale_configs(), o);
  std::vector<float> x(5000), out(5000);
  ::testing::internal::CaptureStderr();
  tessel::TuneChoice c = tuner.choose({}, out.data(), x.data(), 5000);
  std::string err = ::testing::internal::GetCapturedStderr();
  EXPECT_EQ(c.source, TuneSource::timed);
  for (int i = 0; i < 3; ++i)
    EXPECT_NE(err.find("config " + std::to_string(i) + " "), std::string::npos) << err;
  EXPECT_NE(err.find(" ms (median of 3)"), std::string::npos) << err;
  EXPECT_NE(err.find("fastest; written to " + files.file), std::string::npos) << err;
  std::string text = tessel::testing::read_text_file(files.file);
  EXPECT_NE(text.find("tune_scale\tn=8192\tf32,f32\tcpu "), std::string::npos) << text;
  EXPECT_NE(text.find("\t" + c.config->to_string() + "\ttimed "), std::string::npos) << text;
  expect_scaled(tuner, 5000);
}

TEST(Autotune, ConfigsAreNamedTheWayFilesNameThem) {
  TuneConfig c{{{"BLOCK_M", 128}, {"BLOCK_N", 64}}, 8, 3};
  EXPECT_EQ(c.to_string(), "BLOCK_M=128,BLOCK_N=64,num_warps=8,num_stages=3");
  EXPECT_EQ(c.get("BLOCK_N"), 64);
}

TEST(Autotune, OnTheSimulatedDeviceEveryConfigIsCompiledAndChecked) {
  REQUIRE_SIM_DEVICE();
  IsolatedTuning files;
  ScopedEnv dump("TESSEL_DUMP", "tune");
  Autotuner tuner(tune_scale_kernel(), tune_scale_configs(), tune_scale_options());
  const int64_t n = 700;
  std::vector<float> x = random_input(size_t(n), 7), poison(size_t(n), std::nanf("")),
                     out(size_t(n), 0.0f);
  using tessel::runtime::DeviceBuffer;
  DeviceBuffer dx = DeviceBuffer::allocate_on(tessel::DeviceKind::sim, size_t(n) * 4);
  DeviceBuffer dout = DeviceBuffer::allocate_on(tessel::DeviceKind::sim, size_t(n) * 4);
  dx.copy_from_host(x.data(), size_t(n) * 4);
  dout.copy_from_host(poison.data(), size_t(n) * 4);
  tessel::TensorView vx = dx.view(tessel::DType::f32, {n}),
                     vout = dout.view(tessel::DType::f32, {n});
  ::testing::internal::CaptureStderr();
  tuner.launch({}, vout, vx, n);
  std::string err = ::testing::internal::GetCapturedStderr();
  EXPECT_NE(err.find("| sim sm_80 |"), std::string::npos) << err;
  EXPECT_NE(err.find("compiled 3 configs for sm_80 in parallel"), std::string::npos) << err;
  EXPECT_NE(err.find("chosen: config 0 "), std::string::npos) << err;
  dout.copy_to_host(out.data(), size_t(n) * 4);
  for (int64_t i = 0; i < n; ++i)
    ASSERT_EQ(out[size_t(i)], 2 * x[size_t(i)]) << i;
}

// Static pruning reads the compiled config's resources: each limit alone drops it.
TEST(Autotune, ResourcesThatDoNotFitAreReasons) {
  using tessel::jit::resource_problem;
  const tessel::Target sm80 = tessel::Target::parse("sm_80");
  tessel::CompileResult r;
  r.resources.registers = 96;
  EXPECT_EQ(resource_problem(r, sm80, 4), "");
  r.shared_bytes = sm80.limits().max_shared_bytes; // all dynamic: fits exactly
  EXPECT_EQ(resource_problem(r, sm80, 4), "");
  r.resources.static_shared_bytes = 16;
  EXPECT_EQ(resource_problem(r, sm80, 4), "needs " +
                                              std::to_string(sm80.limits().max_shared_bytes + 16) +
                                              " bytes of shared memory, sm_80 allows " +
                                              std::to_string(sm80.limits().max_shared_bytes));
  r.shared_bytes = r.resources.static_shared_bytes = 0;
  r.resources.registers = 256;
  EXPECT_EQ(resource_problem(r, sm80, 1), "needs 256 registers per thread, at most 255");
  r.resources.registers = 128;
  EXPECT_EQ(resource_problem(r, sm80, 32),
            "128 registers x 1024 threads exceed the 65536 registers of a block");
  r.resources.registers = 64;
  r.resources.spill_stores = 8;
  EXPECT_EQ(resource_problem(r, sm80, 4), "spills (8 bytes stored, 0 loaded)");
}

// ---- user mistakes: one test per diagnostic -----------------------------------------------------

TEST(AutotuneErrors, KernelWithoutParameterNames) {
  namespace tl = tessel::lang;
  tessel::Kernel k = tl::kernel("unnamed", [](tl::Ptr out, tl::Const<int> BLOCK) {
    tl::store(out + tl::arange(0, BLOCK), tl::zeros({BLOCK}, tl::f32));
  });
  AutotuneOptions o;
  o.grid = [](const TuneConfig&, const TuneContext&) { return tessel::Grid(1); };
  expect_error(
      [&] {
        Autotuner t(k, {{{{"BLOCK", 16}}}}, o);
      },
      {"autotune_test.cpp:",
       "autotuner for kernel 'unnamed': the kernel has no "
       "parameter names",
       "tl::kernel(\"unnamed\", \"a, b, ...\""});
}

TEST(AutotuneErrors, NoConfigs) {
  expect_error([] { Autotuner t(tune_scale_kernel(), {}, tune_scale_options()); },
               {"autotuner for kernel 'tune_scale': no configs"});
}

TEST(AutotuneErrors, NoGrid) {
  AutotuneOptions o = tune_scale_options();
  o.grid = nullptr;
  expect_error([&] { Autotuner t(tune_scale_kernel(), tune_scale_configs(), o); },
               {"AutotuneOptions::grid is not set"});
}

TEST(AutotuneErrors, KeyIsNotAnIntParameter) {
  AutotuneOptions o = tune_scale_options();
  o.key = {"x"};
  expect_error([&] { Autotuner t(tune_scale_kernel(), tune_scale_configs(), o); },
               {"key 'x' is not an Int parameter of the kernel", "out, x, n, BLOCK"});
}

TEST(AutotuneErrors, ConfigsSetDifferentConstants) {
  std::vector<TuneConfig> c = {{{{"BLOCK", 64}}}, {{}}};
  expect_error([&] { Autotuner t(tune_scale_kernel(), c, tune_scale_options()); },
               {"config 1 (num_warps=4,num_stages=2) sets  but config 0 sets BLOCK",
                "every config sets the same constants"});
}

TEST(AutotuneErrors, ConfigNamesANonConstant) {
  std::vector<TuneConfig> c = {{{{"n", 64}}}};
  expect_error([&] { Autotuner t(tune_scale_kernel(), c, tune_scale_options()); },
               {"config 0 (n=64,num_warps=4,num_stages=2): 'n' is not a Const parameter"});
}

TEST(AutotuneErrors, ConstantSetTwice) {
  std::vector<TuneConfig> c = {{{{"BLOCK", 64}, {"BLOCK", 32}}}};
  expect_error([&] { Autotuner t(tune_scale_kernel(), c, tune_scale_options()); },
               {"sets 'BLOCK' twice"});
}

TEST(AutotuneErrors, BadNumWarps) {
  std::vector<TuneConfig> c = {{{{"BLOCK", 64}}, 3, 1}};
  expect_error([&] { Autotuner t(tune_scale_kernel(), c, tune_scale_options()); },
               {"num_warps must be a power of two from 1 to 32, not 3"});
}

TEST(AutotuneErrors, BadNumStages) {
  std::vector<TuneConfig> c = {{{{"BLOCK", 64}}, 4, 0}};
  expect_error([&] { Autotuner t(tune_scale_kernel(), c, tune_scale_options()); },
               {"num_stages must be between 1 and 16, not 0"});
}

TEST(AutotuneErrors, DuplicateConfig) {
  std::vector<TuneConfig> c = {{{{"BLOCK", 64}}}, {{{"BLOCK", 64}}}};
  expect_error([&] { Autotuner t(tune_scale_kernel(), c, tune_scale_options()); },
               {"config 1 (BLOCK=64,num_warps=4,num_stages=2) is the same as config 0"});
}

TEST(AutotuneErrors, BadTimingCounts) {
  AutotuneOptions o = tune_scale_options();
  o.repeats = 0;
  expect_error([&] { Autotuner t(tune_scale_kernel(), tune_scale_configs(), o); },
               {"warmup 2 and repeats 0: need warmup >= 0 and repeats >= 1"});
}

TEST(AutotuneErrors, WrongArgumentCount) {
  Autotuner tuner(tune_scale_kernel(), tune_scale_configs(), tune_scale_options());
  std::vector<float> x(16), out(16);
  expect_error([&] { tuner.launch({}, out.data(), x.data(), 16, 64); },
               {"autotune_test.cpp:", "autotuned kernel 'tune_scale' takes 3 arguments (its "
                                      "parameters except the tuned constants BLOCK), got 4"});
}

TEST(AutotuneErrors, BadLaunchArgumentNamesTheCaller) {
  Autotuner tuner(tune_scale_kernel(), tune_scale_configs(), tune_scale_options());
  std::vector<float> out(16);
  expect_error([&] { tuner.launch({}, out.data(), nullptr, 16); }, {"autotune_test.cpp:", "'x'"});
}

TEST(AutotuneErrors, HeuristicOutOfRange) {
  IsolatedTuning files;
  AutotuneOptions o = tune_scale_options();
  o.heuristic_name = "broken";
  o.heuristic = [](std::span<const TuneConfig>, const TuneContext&) { return size_t(7); };
  Autotuner tuner(tune_scale_kernel(), tune_scale_configs(), o);
  std::vector<float> x(16), out(16);
  expect_error([&] { tuner.launch({}, out.data(), x.data(), 16); },
               {"autotune_test.cpp:", "the heuristic 'broken' returned 7, but only 3 configs fit"});
}

TEST(AutotuneErrors, NoConfigFits) {
  IsolatedTuning files;
  AutotuneOptions o = tune_scale_options();
  o.prune = [](const TuneConfig&, const TuneContext&) { return std::string("too small"); };
  Autotuner tuner(tune_scale_kernel(), tune_scale_configs(), o);
  std::vector<float> x(16), out(16);
  expect_error([&] { tuner.launch({}, out.data(), x.data(), 16); },
               {"autotune_test.cpp:", "autotuned kernel 'tune_scale': no config can run n=16",
                "config 2 BLOCK=256,num_warps=4,num_stages=2: pruned: too small",
                "add a config that fits"});
}

TEST(AutotuneErrors, UnknownKeyNameInACallback) {
  TuneContext t;
  std::vector<std::string> names = {"M", "N"};
  t.names = names;
  expect_error([&] { (void)t.value("K"); },
               {"'K' is not a key parameter (the key is M, N)", "AutotuneOptions::key"});
}

TEST(AutotuneErrors, UnknownConfigValue) {
  TuneConfig c{{{"BLOCK", 64}}};
  expect_error([&] { (void)c.get("BLOCK_K"); },
               {"autotune config BLOCK=64,num_warps=4,num_stages=2 has no value for 'BLOCK_K'"});
}

} // namespace
