// Every op family of the tile IR through the NVPTX backend: reductions along each axis (in
// thread, across lanes, across warps), argmax/argmin, custom combines, scans, dot, control flow
// with carried tensors, math from libdevice, f16/bf16. Each kernel must compile to a cubin for
// sm_80 and sm_90a without spills; the instructions that must appear are checked.
#include "gpu_test_util.h"
#include "test_kernels.h"

#include "support/expect_error.h"

#include "tessel/codegen/transforms.h"
#include "tessel/ir/parser.h"
#include "tessel/ir/pass.h"

#include <cmath>
#include <cstdio>
#include <cstdlib>

namespace tessel::codegen::gpu {
namespace {

namespace tl = tessel::lang;

// `local_ok`: libdevice's sinf/cosf keep a small local array for huge arguments (as with nvcc).
CompiledKernel build(const Kernel& k, std::vector<int64_t> consts, const char* target = "sm_80",
                     DType dtype = DType::f32, bool local_ok = false) {
  auto module = testing::trace_dsl(k, std::move(consts), dtype);
  CompiledKernel out = compile(*module->functions.front(), parse_target(target));
  EXPECT_TRUE(out.resources.parsed) << out.info_log;
  EXPECT_EQ(out.resources.spill_stores, 0) << k.name();
  if (!local_ok) {
    EXPECT_EQ(ptx_stats(out.ptx).get("local"), 0) << k.name();
  }
  return out;
}

const Kernel& reduce_rows() {
  static const Kernel k = tl::kernel("reduce_rows", [](tl::Ptr out, tl::Ptr idx, tl::Ptr in,
                                                       tl::Const<int> R, tl::Const<int> C) {
    auto rows = tl::expand_dims(tl::arange(0, R), 1);
    auto cols = tl::expand_dims(tl::arange(0, C), 0);
    auto x = tl::load(in + rows * C + cols);
    tl::store(out + tl::arange(0, R), tl::max(x, 1) + tl::min(x, 1));
    tl::store(idx + tl::arange(0, R), tl::argmax(x, 1).to(tl::f32) + tl::argmin(x, 1).to(tl::f32));
    tl::store(out + R + tl::arange(0, C), tl::sum(x, 0)); // down the columns: across warps
  });
  return k;
}

TEST(GpuOps, ReductionsAlongBothAxes) {
  TESSEL_REQUIRE_CUDA_TOOLKIT();
  for (const char* t : {"sm_80", "sm_90a"}) {
    CompiledKernel k = build(reduce_rows(), {32, 128}, t);
    PtxStats s = ptx_stats(k.ptx);
    EXPECT_GT(s.get("shfl.sync"), 0);
    EXPECT_GT(s.get("bar.sync"), 0);
    EXPECT_GT(k.shared_bytes, 0);
  }
}

const Kernel& custom_reduce() {
  static const Kernel k =
      tl::kernel("custom_reduce", [](tl::Ptr out, tl::Ptr in, tl::Const<int> B) {
        auto x = tl::load(in + tl::arange(0, B));
        auto prod = tl::reduce(x, 0, [](tl::Tensor a, tl::Tensor b) { return a * b; });
        tl::store(out, prod);
      });
  return k;
}

TEST(GpuOps, CustomCombine) {
  TESSEL_REQUIRE_CUDA_TOOLKIT();
  CompiledKernel k = build(custom_reduce(), {512});
  EXPECT_EQ(ptx_stats(k.ptx).get("shfl.sync"), 5);
  EXPECT_NE(k.ptx.find("mul.rn.f32"), std::string::npos);
}

const Kernel& scan() {
  static const Kernel k = tl::kernel("scan", [](tl::Ptr out, tl::Ptr in, tl::Const<int> B) {
    auto offs = tl::arange(0, B);
    tl::store(out + offs, tl::cumsum(tl::load(in + offs), 0));
  });
  return k;
}

TEST(GpuOps, Scan) {
  TESSEL_REQUIRE_CUDA_TOOLKIT();
  // 64 elements over 128 threads: one per lane, two warps along the row (the others replicate).
  CompiledKernel k = build(scan(), {64});
  PtxStats s = ptx_stats(k.ptx);
  EXPECT_GT(s.get("bar.sync"), 0);
  EXPECT_NE(k.ptx.find("shfl.sync.up"), std::string::npos);
}

// Parallel scans: in-thread runs, Hillis-Steele shfl.sync.up across the lanes along the axis,
// the warps' totals through shared memory; no spills and no local memory for long rows (the
// sequential per-row scan spilled above ~128 elements), along both axes of 2-D tiles.
TEST(GpuOps, ParallelScansWithoutSpills) {
  TESSEL_REQUIRE_CUDA_TOOLKIT();
  struct Case {
    const Kernel* k;
    std::vector<int64_t> consts;
    DType dtype;
    int lane_steps; // log2(lanes along the axis), per scan
  };
  const std::vector<Case> cases = {
      {&testing::scan_1d_kernel(), {4096}, DType::f32, 5},
      {&testing::scan_1d_kernel(), {1024}, DType::f16, 5},
      {&testing::scan_1d_kernel(), {2048}, DType::bf16, 5},
      {&testing::scan_1d_kernel(), {4096}, DType::i32, 5},
      {&testing::scan_2d_kernel(), {64, 64}, DType::f32, 1},
      {&testing::scan_2d_kernel(), {16, 256}, DType::f32, 3},
      {&testing::scan_2d_kernel(), {64, 128}, DType::f16, 2},
  };
  for (const char* t : {"sm_80", "sm_90a"})
    for (const Case& c : cases) {
      SCOPED_TRACE(::testing::Message() << t << " " << c.k->name() << " " << c.consts[0]);
      CompiledKernel k = build(*c.k, c.consts, t, c.dtype);
      EXPECT_EQ(k.resources.spill_loads, 0) << k.info_log;
      EXPECT_EQ(k.resources.stack_bytes, 0) << k.info_log;
      PtxStats s = ptx_stats(k.ptx);
      size_t ups = 0;
      for (size_t at = k.ptx.find("shfl.sync.up"); at != std::string::npos;
           at = k.ptx.find("shfl.sync.up", at + 1))
        ++ups;
      // Hillis-Steele steps plus the exclusive step, per scanned row of each thread (i64-free).
      EXPECT_GE(ups, static_cast<size_t>(c.lane_steps + 1));
      std::printf("[ scan     ] %s %s %lld: %d registers, %zu shfl.sync.up, %lld shared bytes\n", t,
                  c.k->name().c_str(), static_cast<long long>(c.consts[0]), k.resources.registers,
                  ups, static_cast<long long>(k.shared_bytes));
      EXPECT_GT(s.get("bar.sync"), 0);
      EXPECT_GT(k.shared_bytes, 0);
    }
}

TEST(GpuOps, ControlFlowCarriesTensors) {
  TESSEL_REQUIRE_CUDA_TOOLKIT();
  for (const char* t : {"sm_80", "sm_90a"})
    build(tessel::testing::control_kernel(), {512}, t);
}

const Kernel& math() {
  static const Kernel k = tl::kernel("math", [](tl::Ptr out, tl::Ptr in, tl::Const<int> B) {
    auto offs = tl::arange(0, B);
    auto x = tl::load(in + offs);
    auto y = tl::exp(x) + tl::exp2(x) + tl::log(x) + tl::log2(x) + tl::sqrt(x) + tl::rsqrt(x) +
             tl::sin(x) + tl::cos(x) + tl::erf(x) + tl::tanh(x) + tl::sigmoid(x) + tl::floor(x) +
             tl::ceil(x) + tl::abs(x) + tl::fma(x, x, x) + tl::maximum(x, 0.5) +
             tl::minimum(x, 0.25);
    tl::store(out + offs, y);
  });
  return k;
}

// f16 add/sub/mul/fma run two registers per instruction in the packed forms; bf16 likewise on
// sm_90 (add/sub/mul.rn.bf16x2), while sm_80 has only fma.rn.bf16x2 and LLVM computes bf16
// add/sub/mul in f32 (exact: one rounding of an exactly representable f32 result).
// add/sub/mul run packed; fma does not: ir.h computes f16/bf16 in f32 and rounds after each op,
// and a native fma.rn.f16x2 rounds once, which gives other bits than the CPU on some inputs
// (codegen/scalar_semantics.h), so fma is an f32 fma rounded back.
TEST(GpuOps, PackedHalfArithmetic) {
  auto ptx = [](const char* target, DType d) {
    auto module = testing::trace_dsl(testing::half_arith_kernel(), {256}, d);
    return compile(*module->functions.front(), parse_target(target), {}, Stage::Ptx).ptx;
  };
  auto has = [](const std::string& text, const std::string& s) {
    return text.find(s) != std::string::npos;
  };
  for (const char* t : {"sm_80", "sm_90a"}) {
    const std::string p = ptx(t, DType::f16);
    for (const char* insn : {"add.rn.f16x2", "sub.rn.f16x2", "mul.rn.f16x2", "fma.rn.f32"})
      EXPECT_TRUE(has(p, insn)) << t << ": no " << insn << "\n" << p;
    for (const char* scalar : {"add.rn.f16 ", "mul.rn.f16 ", "fma.rn.f16 ", "fma.rn.f16x2"})
      EXPECT_FALSE(has(p, scalar)) << t << ": unpacked " << scalar;
  }
  const std::string p90 = ptx("sm_90a", DType::bf16);
  for (const char* insn : {"add.rn.bf16x2", "sub.rn.bf16x2", "mul.rn.bf16x2", "fma.rn.f32"})
    EXPECT_TRUE(has(p90, insn)) << "sm_90a: no " << insn << "\n" << p90;
  EXPECT_FALSE(has(p90, "fma.rn.bf16x2")) << "sm_90a: bf16 fma rounded once";
  const std::string p80 = ptx("sm_80", DType::bf16);
  // sm_80 has no bf16 add: LLVM computes the pairs in f32 (exact, the same bits).
  EXPECT_FALSE(has(p80, "add.rn.bf16x2")) << "sm_80 has no bf16 add";
  EXPECT_FALSE(has(p80, "fma.rn.bf16x2")) << "sm_80: bf16 fma rounded once";
}

TEST(GpuOps, MathFromLibdevice) {
  TESSEL_REQUIRE_CUDA_TOOLKIT();
  for (DType d : {DType::f32, DType::f16, DType::bf16, DType::f64})
    build(math(), {256}, "sm_90a", d, /*local_ok=*/true);
}

const Kernel& small_dot() {
  static const Kernel k =
      tl::kernel("small_dot", [](tl::Ptr c, tl::Ptr a, tl::Ptr b, tl::Const<int> M,
                                 tl::Const<int> N, tl::Const<int> K) {
        auto rm = tl::expand_dims(tl::arange(0, M), 1);
        auto rn = tl::expand_dims(tl::arange(0, N), 0);
        auto rk = tl::arange(0, K);
        auto x = tl::load(a + rm * K + tl::expand_dims(rk, 0));
        auto y = tl::load(b + tl::expand_dims(rk, 1) * N + rn);
        tl::store(c + rm * N + rn, tl::dot(x, y));
      });
  return k;
}

// f32 with input_precision ieee: no tensor-core instruction takes it, the FMA loop does.
const Kernel& small_dot_ieee() {
  static const Kernel k =
      tl::kernel("small_dot_ieee", [](tl::Ptr c, tl::Ptr a, tl::Ptr b, tl::Const<int> M,
                                      tl::Const<int> N, tl::Const<int> K) {
        auto rm = tl::expand_dims(tl::arange(0, M), 1);
        auto rn = tl::expand_dims(tl::arange(0, N), 0);
        auto rk = tl::arange(0, K);
        auto x = tl::load(a + rm * K + tl::expand_dims(rk, 0));
        auto y = tl::load(b + tl::expand_dims(rk, 1) * N + rn);
        tl::store(c + rm * N + rn, tl::dot(x, y, tl::Precision::ieee));
      });
  return k;
}

TEST(GpuOps, DotAsFma) {
  TESSEL_REQUIRE_CUDA_TOOLKIT();
  CompiledKernel k = build(small_dot_ieee(), {32, 32, 16});
  EXPECT_EQ(ptx_stats(k.ptx).get("mma"), 0);
  EXPECT_GE(ptx_stats(k.ptx).get("fma"), 32 * 32 * 16 / 128);
  build(small_dot(), {32, 32, 16}, "sm_90a", DType::f16);
}

// ---- bad input ----

const char* kTransposeIr =
    R"(kernel @transpose(%arg0: ptr<f32> {div = 16}, %arg1: ptr<f32> {div = 16}) {
  %0 = arange {start = 0, end = 256} : tensor<256xi32>
  %1 = expand_dims %0 {axis = 1} : tensor<256x1xi32>
  %2 = constant {value = 256} : tensor<256x1xi32>
  %3 = mul %1, %2 : tensor<256x1xi32>
  %4 = broadcast %3 : tensor<256x256xi32>
  %5 = expand_dims %0 {axis = 0} : tensor<1x256xi32>
  %6 = broadcast %5 : tensor<256x256xi32>
  %7 = add %4, %6 : tensor<256x256xi32>
  %8 = splat %arg0 : tensor<256x256xptr<f32>>
  %9 = addptr %8, %7 : tensor<256x256xptr<f32>>
  %10 = load %9 : tensor<256x256xf32>
  %11 = permute %10 {order = [1, 0]} : tensor<256x256xf32>
  %12 = splat %arg1 : tensor<256x256xptr<f32>>
  %13 = addptr %12, %7 : tensor<256x256xptr<f32>>
  store %13, %11
  return
}
)";

// A 256x256 f32 transpose goes through 256 KiB of shared memory (260 KiB padded against bank
// conflicts): more than any target has.
TEST(GpuErrors, TooMuchSharedMemory) {
  auto module = ir::parse_module(kTransposeIr, "transpose.tir");
  for (const char* t : {"sm_80", "sm_86", "sm_90a"})
    testing::expect_error(
        [&] { (void)compile(*module->functions.front(), parse_target(t), {}, Stage::Llvm); },
        {"kernel `transpose` needs 262144 bytes of shared memory", t, "at most"});
}

TEST(GpuErrors, BadNumWarps) {
  auto module = ir::parse_module(kTransposeIr, "transpose.tir");
  CompileOptions o;
  o.num_warps = 3;
  testing::expect_error(
      [&] { (void)compile(*module->functions.front(), parse_target("sm_80"), o); },
      {"num_warps must be a power of two", "not 3"});
}

TEST(GpuErrors, CpuTargetIsNotAGpu) {
  auto module = ir::parse_module(kTransposeIr, "transpose.tir");
  testing::expect_error([&] { (void)compile(*module->functions.front(), parse_target("cpu")); },
                        {"needs an NVPTX target", "'cpu'"});
}

TEST(GpuErrors, UnsupportedTargetString) {
  testing::expect_error([] { (void)testing::compile_sample("softmax", "sm_75"); },
                        {"unsupported target 'sm_75'", "sm_80, sm_86, sm_89, sm_90, sm_90a"});
}

// Environment overrides point at files that do not exist: the errors name them.
class ScopedEnv {
public:
  ScopedEnv(const char* name, const char* value) : name_(name) {
    if (const char* old = std::getenv(name))
      old_ = old;
    setenv(name, value, 1);
  }
  ~ScopedEnv() {
    if (old_.empty())
      unsetenv(name_);
    else
      setenv(name_, old_.c_str(), 1);
  }

private:
  const char* name_;
  std::string old_;
};

TEST(GpuErrors, MissingLibdevice) {
  ScopedEnv env("TESSEL_LIBDEVICE", "/nonexistent/libdevice.10.bc");
  testing::expect_error([] { (void)testing::compile_sample("softmax", "sm_90a", {}, Stage::Ptx); },
                        {"libdevice", "/nonexistent/libdevice.10.bc", "TESSEL_LIBDEVICE"});
  // A kernel without math needs no libdevice.
  EXPECT_FALSE(testing::compile_sample("vector_add", "sm_90a", {}, Stage::Ptx).ptx.empty());
}

TEST(GpuErrors, MissingNvJitLink) {
  ScopedEnv env("TESSEL_NVJITLINK", "/nonexistent/libnvJitLink.so");
  testing::expect_error([] { (void)testing::compile_sample("vector_add", "sm_90a"); },
                        {"nvJitLink", "/nonexistent/libnvJitLink.so", "TESSEL_NVJITLINK"});
}

TEST(GpuErrors, UnknownKernelAndParameter) {
  testing::expect_error([] { (void)samples::find_kernel("softmaxx"); },
                        {"unknown kernel 'softmaxx'", "vector_add, softmax, layer_norm, matmul"});
  testing::expect_error(
      [] { (void)samples::bindings_for(samples::find_kernel("softmax"), {"BLOCKS=2"}); },
      {"no parameter 'BLOCKS'", "out, in, stride, n_cols, BLOCK"});
}

// Info-log parsing, on the text nvJitLink writes.
TEST(ResourceReport, ParsesInfoLog) {
  const char* log =
      "ptxas info    : 0 bytes gmem\n"
      "ptxas info    : Compiling entry function 'softmax' for 'sm_90a'\n"
      "ptxas info    : Function properties for softmax\n"
      "    8 bytes stack frame, 4 bytes spill stores, 12 bytes spill loads\n"
      "ptxas info    : Used 34 registers, used 1 barriers, 2048 bytes smem, 380 bytes cmem[0]\n";
  ResourceReport r = parse_info_log(log, "softmax");
  EXPECT_TRUE(r.parsed);
  EXPECT_EQ(r.registers, 34);
  EXPECT_EQ(r.stack_bytes, 8);
  EXPECT_EQ(r.spill_stores, 4);
  EXPECT_EQ(r.spill_loads, 12);
  EXPECT_EQ(r.static_shared_bytes, 2048);
  EXPECT_EQ(r.const_bytes, 380);
  EXPECT_FALSE(parse_info_log(log, "other").parsed);
}

TEST(PtxStats, CountsVectorWidthsUnderPredicates) {
  const char* ptx = "\t@%p1 ld.global.v4.b32 {%r1, %r2, %r3, %r4}, [%rd1];\n"
                    "\tld.global.f32 %f1, [%rd2];\n"
                    "\tst.global.v2.f32 [%rd3], {%f1, %f2};\n"
                    "\tshfl.sync.bfly.b32 %r5, %r6, 16, 31, -1;\n"
                    "\tbar.sync 0;\n"
                    "\tprmt.b32 %r7, %r1, %r2, %r8;\n"
                    "$L__BB0_2:\n"
                    "\t// comment\n";
  PtxStats s = ptx_stats(ptx);
  EXPECT_EQ(s.get("ld.global.v4"), 1);
  EXPECT_EQ(s.get("ld.global"), 1);
  EXPECT_EQ(s.get("st.global.v2"), 1);
  EXPECT_EQ(s.get("shfl.sync"), 1);
  EXPECT_EQ(s.get("bar.sync"), 1);
  EXPECT_EQ(s.get("prmt"), 1);
  EXPECT_EQ(s.instructions, 6);
}

} // namespace
} // namespace tessel::codegen::gpu
