// The compile API (tessel/jit/compile.h) and the kernel registry (tessel/jit/registry.h): PTX,
// cubins and resource reports for GPU targets without a GPU, the CPU target's LLVM IR and
// assembly, signatures from example arguments against explicit ones, the disk cache shared with
// launches, users' kernel libraries, and one test per diagnostic.
#include "gpu/gpu_test_util.h"
#include "support/expect_error.h"
#include "tessel/samples/registry.h"
#include "tessel/tessel.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <random>
#include <vector>

namespace tessel {
namespace {

namespace tl = tessel::lang;
using P = SignatureParam;
using testing::expect_error;

const Kernel& add_kernel() {
  static const Kernel k = tl::kernel(
      "compile_api_add", [](tl::Ptr out, tl::Ptr a, tl::Ptr b, tl::Int n, tl::Const<int> BLOCK) {
        auto offs = tl::program_id(0) * BLOCK + tl::arange(0, BLOCK);
        auto mask = offs < n;
        tl::store(out + offs, tl::load(a + offs, mask) + tl::load(b + offs, mask), mask);
      });
  return k;
}

Signature explicit_add_signature() {
  return Signature{{P::pointer(DType::f32, 16, "out"), P::pointer(DType::f32, 16, "a"),
                    P::pointer(DType::f32, 16, "b"), P::integer(16, "n"),
                    P::constant(1024, "BLOCK")}};
}

// add_kernel with parameter names, which a signature may then leave out.
const Kernel& named_add_kernel() {
  static const Kernel k =
      tl::kernel("compile_api_named_add", "out, a, b, n, BLOCK",
                 [](tl::Ptr out, tl::Ptr a, tl::Ptr b, tl::Int n, tl::Const<int> BLOCK) {
                   auto offs = tl::program_id(0) * BLOCK + tl::arange(0, BLOCK);
                   auto mask = offs < n;
                   tl::store(out + offs, tl::load(a + offs, mask) + tl::load(b + offs, mask), mask);
                 });
  return k;
}

Signature unnamed_add_signature() {
  return Signature{{P::pointer(DType::f32), P::pointer(DType::f32), P::pointer(DType::f32),
                    P::integer(16), P::constant(1024)}};
}

std::vector<std::string> names_of(const Signature& s) {
  std::vector<std::string> names;
  for (const SignatureParam& p : s.params)
    names.push_back(p.name);
  return names;
}

// 16-byte aligned buffers (std::vector<float>'s storage is, on every allocator tessel runs on,
// but the test should not depend on it).
struct Buffers {
  alignas(16) float out[64], a[64], b[64];
};

TEST(CompileApi, PtxForSm80AndSm90a) {
  TESSEL_REQUIRE_CUDA_TOOLKIT();
  for (const char* name : {"sm_80", "sm_90a"}) {
    CompileOptions options;
    options.cache = CacheMode::off;
    CompileResult r = add_kernel().compile(Target::parse(name), explicit_add_signature(), options);
    EXPECT_EQ(r.target.name(), name);
    EXPECT_EQ(r.source, KernelSource::compiled);
    EXPECT_NE(r.ptx.find(".entry compile_api_add("), std::string::npos) << r.ptx;
    EXPECT_NE(r.ptx.find("ld.global"), std::string::npos) << r.ptx;
    EXPECT_NE(r.ptx.find(".target " + std::string(name)), std::string::npos);
    EXPECT_FALSE(r.binary.empty());
    EXPECT_NE(r.llvm_ir.find("nvptx64-nvidia-cuda"), std::string::npos);
    EXPECT_NE(r.final_ir.find("compile_api_add"), std::string::npos);
    EXPECT_NE(r.traced_ir.find("compile_api_add"), std::string::npos);
    EXPECT_NE(r.optimized_ir, "");
    EXPECT_GT(r.times.link_ms, 0);
  }
}

TEST(CompileApi, StatsHaveRegistersAndNoSpills) {
  TESSEL_REQUIRE_CUDA_TOOLKIT();
  CompileOptions options;
  options.cache = CacheMode::off;
  CompileResult r = add_kernel().compile(Target::parse("sm_80"), explicit_add_signature(), options);
  EXPECT_TRUE(r.resources.parsed) << r.info_log;
  EXPECT_GT(r.resources.registers, 0);
  EXPECT_EQ(r.resources.spill_stores, 0);
  EXPECT_EQ(r.resources.spill_loads, 0);
  EXPECT_EQ(r.resources.stack_bytes, 0);
  EXPECT_EQ(r.num_warps, 4);
}

// A second compile of one specialization comes from the disk cache with the same PTX, cubin and
// resources, and says so.
TEST(CompileApi, GpuSecondCompileComesFromDiskCache) {
  TESSEL_REQUIRE_CUDA_TOOLKIT();
  Signature sig = apply_defines(add_kernel(), explicit_add_signature(), {"BLOCK=512"});
  CompileResult first = add_kernel().compile(Target::parse("sm_80"), sig);
  CompileResult second = add_kernel().compile(Target::parse("sm_80"), sig);
  EXPECT_EQ(second.source, KernelSource::disk);
  EXPECT_FALSE(second.cache_key.empty());
  EXPECT_EQ(second.cache_key, first.cache_key);
  EXPECT_EQ(second.ptx, first.ptx);
  EXPECT_EQ(second.binary, first.binary);
  EXPECT_EQ(second.resources.registers, first.resources.registers);
  EXPECT_EQ(second.optimized_ir, first.optimized_ir);
  EXPECT_TRUE(second.llvm_ir.empty()); // LLVM did not run
}

TEST(CompileApi, SignatureFromArgsEqualsExplicit) {
  Buffers buf;
  int n = 4096;
  Signature from_args = Signature::from_args(buf.out, buf.a, buf.b, n, 1024);
  CompileOptions options;
  options.until = CompileUntil::ir;
  CompileResult a = add_kernel().compile(Target::cpu(), from_args, options);
  CompileResult b = add_kernel().compile(Target::cpu(), explicit_add_signature(), options);
  EXPECT_EQ(a.signature, b.signature)
      << a.signature.to_string() << " vs " << b.signature.to_string();
  EXPECT_EQ(a.traced_ir, b.traced_ir);
  EXPECT_EQ(a.optimized_ir, b.optimized_ir);
  // ... and it is what a launch with these arguments traces.
  EXPECT_EQ(a.traced_ir, add_kernel().ir_for(/*optimized=*/false, buf.out, buf.a, buf.b, n, 1024));
  EXPECT_EQ(b.signature.to_string(), "(out: *f32 align 16, a: *f32 align 16, b: *f32 align 16, "
                                     "n: i32 div 16, BLOCK: const i32 = 1024)");
}

// What an argument tells the compiler changes the signature the same way it changes a launch's
// specialization: a misaligned pointer, n == 1, n not divisible by 16.
TEST(CompileApi, SignatureFollowsArgumentFacts) {
  Buffers buf;
  CompileOptions options;
  options.until = CompileUntil::ir;
  auto sig_of = [&](const Signature& s) {
    return add_kernel().compile(Target::cpu(), s, options).signature;
  };
  Signature misaligned = sig_of(Signature::from_args(buf.out + 1, buf.a, buf.b, 64, 1024));
  EXPECT_EQ(misaligned.params[0].alignment, 1);
  EXPECT_EQ(misaligned.params[1].alignment, 16);
  Signature one = sig_of(Signature::from_args(buf.out, buf.a, buf.b, 1, 1024));
  EXPECT_TRUE(one.params[3].equals_one);
  EXPECT_EQ(one.params[3], P::integer_one());
  Signature odd = sig_of(Signature::from_args(buf.out, buf.a, buf.b, 100, 256));
  EXPECT_EQ(odd.params[3], P::integer(1));
  EXPECT_EQ(odd.params[4], P::constant(256));
  EXPECT_NE(odd, sig_of(explicit_add_signature()));
}

// The CPU target: tile IR, LLVM IR for the host, assembly and an ELF object; then the same
// specialization again from the disk cache (object only).
TEST(CompileApi, CpuTarget) {
  CompileOptions off;
  off.cache = CacheMode::off;
  CompileResult r = add_kernel().compile(Target::cpu(), explicit_add_signature(), off);
  EXPECT_EQ(r.source, KernelSource::compiled);
  EXPECT_TRUE(r.cache_key.empty());
  EXPECT_NE(r.llvm_ir.find("define"), std::string::npos);
  EXPECT_NE(r.llvm_ir.find("tessel.kernel.compile_api_add"), std::string::npos);
  EXPECT_NE(r.assembly.find("tessel.kernel.compile_api_add"), std::string::npos);
  ASSERT_GE(r.binary.size(), 4u);
  EXPECT_EQ(r.binary.substr(0, 4), "\x7f"
                                   "ELF");
  EXPECT_TRUE(r.ptx.empty());
  EXPECT_FALSE(r.resources.parsed);

  (void)add_kernel().compile(Target::cpu(), explicit_add_signature());
  CompileResult cached = add_kernel().compile(Target::cpu(), explicit_add_signature());
  EXPECT_EQ(cached.source, KernelSource::disk);
  EXPECT_FALSE(cached.cache_key.empty());
  EXPECT_EQ(cached.binary, r.binary);
  EXPECT_TRUE(cached.llvm_ir.empty());
  EXPECT_EQ(cached.optimized_ir, r.optimized_ir);
}

// A launch and a compile of one specialization share the disk cache: the compile after a launch
// loads what the launch stored. The launch's result is checked, so a wrong specialization fails.
TEST(CompileApi, CompileAfterLaunchUsesItsCacheEntry) {
  const Kernel& k = add_kernel();
  Buffers buf;
  std::mt19937 rng(7);
  std::uniform_real_distribution<float> dist(-1, 1);
  for (int i = 0; i < 64; ++i) {
    buf.a[i] = dist(rng);
    buf.b[i] = dist(rng);
    buf.out[i] = -999; // poisoned
  }
  k.launch({1}, {}, buf.out, buf.a, buf.b, 48, 64);
  for (int i = 0; i < 64; ++i)
    EXPECT_EQ(buf.out[i], i < 48 ? buf.a[i] + buf.b[i] : -999) << i;
  CompileResult r = k.compile(Target::cpu(), Signature::from_args(buf.out, buf.a, buf.b, 48, 64));
  EXPECT_EQ(r.source, KernelSource::disk);
}

TEST(CompileApi, NumStagesAndWarpsReachTheResult) {
  TESSEL_REQUIRE_CUDA_TOOLKIT();
  CompileOptions options;
  options.num_warps = 8;
  options.until = CompileUntil::ptx;
  CompileResult r =
      add_kernel().compile(Target::parse("sm_90a"), explicit_add_signature(), options);
  EXPECT_EQ(r.num_warps, 8);
  EXPECT_NE(r.ptx.find(".entry compile_api_add("), std::string::npos);
  EXPECT_TRUE(r.binary.empty()); // stopped after PTX
}

TEST(CompileApi, DefinesChangeTheSignature) {
  Signature s = apply_defines(add_kernel(), explicit_add_signature(),
                              {"BLOCK=256", "a=f16", "b.align=any", "n=1"});
  EXPECT_EQ(s.params[4], P::constant(256));
  EXPECT_EQ(s.params[1].dtype, DType::f16);
  EXPECT_EQ(s.params[2].alignment, 1);
  EXPECT_TRUE(s.params[3].equals_one);
  Signature all = apply_defines(add_kernel(), explicit_add_signature(), {"DTYPE=bf16"});
  for (int i = 0; i < 3; ++i)
    EXPECT_EQ(all.params[size_t(i)].dtype, DType::bf16);
}

// One test per diagnostic.
TEST(CompileApiErrors, BadTargetString) {
  expect_error([] { (void)Target::parse("sm_75"); },
               {"unsupported target 'sm_75'", "valid targets: cpu, sm_80, sm_86, sm_89, sm_90, "
                                              "sm_90a"});
}

TEST(CompileApiErrors, WrongArgumentCount) {
  Buffers buf;
  expect_error(
      [&] { (void)add_kernel().compile(Target::cpu(), Signature::from_args(buf.out, buf.a, 64)); },
      {"kernel 'compile_api_add' takes 5 parameters (Ptr, Ptr, Ptr, Int, Const<i32>) but the "
       "signature has 3",
       "one SignatureParam (or example argument) per parameter"});
}

TEST(CompileApiErrors, PointerForAnInteger) {
  Buffers buf;
  expect_error(
      [&] {
        (void)add_kernel().compile(Target::cpu(),
                                   Signature::from_args(buf.out, buf.a, buf.b, buf.a, 64));
      },
      {"kernel 'compile_api_add': signature parameter 3 (Int)", "takes a run-time integer",
       "gives a pointer", "SignatureParam::integer"});
}

TEST(CompileApiErrors, ConstantWithoutValue) {
  Signature s = explicit_add_signature();
  s.params[4] = P::integer(16, "BLOCK");
  expect_error([&] { (void)add_kernel().compile(Target::cpu(), s); },
               {"signature parameter 4 (BLOCK, Const<i32>)", "needs its value",
                "SignatureParam::constant(value)"});
}

TEST(CompileApiErrors, FixedElementType) {
  const Kernel fixed = tl::kernel("compile_api_fixed", [](tl::PtrOf<float> out, tl::Int n) {
    auto offs = tl::arange(0, 16);
    tl::store(out + offs, tl::load(out + offs, offs < n), offs < n);
  });
  expect_error(
      [&] {
        (void)fixed.compile(Target::cpu(),
                            Signature{{P::pointer(DType::f16, 16, "out"), P::integer(16, "n")}});
      },
      {"signature parameter 0 (out, PtrOf<f32>)", "takes elements of type f32", "gives f16"});
}

TEST(CompileApiErrors, BadNumWarps) {
  CompileOptions options;
  options.num_warps = 3;
  expect_error(
      [&] {
        (void)add_kernel().compile(Target::parse("sm_80"), explicit_add_signature(), options);
      },
      {"kernel 'compile_api_add': num_warps must be a power of two from 1 to 32, not 3"});
}

TEST(CompileApiErrors, PtxForTheCpu) {
  CompileOptions options;
  options.until = CompileUntil::ptx;
  expect_error(
      [&] { (void)add_kernel().compile(Target::cpu(), explicit_add_signature(), options); },
      {"CompileUntil::ptx needs a GPU target", "not 'cpu'"});
}

TEST(CompileApiErrors, UnknownDefine) {
  expect_error(
      [] { (void)apply_defines(add_kernel(), explicit_add_signature(), {"WIDTH=3"}); },
      {"kernel 'compile_api_add' has no parameter 'WIDTH'", "its parameters: out, a, b, n, BLOCK"});
}

TEST(CompileApiErrors, BadDefineValue) {
  expect_error([] { (void)apply_defines(add_kernel(), explicit_add_signature(), {"BLOCK=big"}); },
               {"bad value 'big' for parameter 'BLOCK'"});
}

TEST(CompileApiErrors, DefineOnAFloat) {
  RegisteredKernel k = samples::find_kernel("layer_norm");
  expect_error([&] { (void)apply_defines(k.kernel(), k.defaults, {"eps=1"}); },
               {"parameter 'eps' is a run-time float", "takes no define"});
}

// Users' kernel libraries.
TEST(KernelRegistry, LoadsAUserLibrary) {
  samples::register_samples();
  std::vector<std::string> names = load_kernel_library(TESSEL_TEST_KERNEL_LIBRARY);
  EXPECT_EQ(names, (std::vector<std::string>{"mykernel", "negate"}));
  RegisteredKernel k = find_registered_kernel("mykernel");
  EXPECT_EQ(k.library, TESSEL_TEST_KERNEL_LIBRARY);
  EXPECT_EQ(k.summary, "out = alpha * x + y");
  EXPECT_EQ(k.kernel().name(), "mykernel");
  RegisteredKernel negate = find_registered_kernel("negate");
  EXPECT_EQ(negate.kernel().name(), "negate_kernel");
  bool listed = false;
  for (const RegisteredKernel& r : registered_kernels())
    listed = listed || r.name == "negate";
  EXPECT_TRUE(listed);

  // It runs: the registered kernel is a real one.
  std::vector<float> in(300), out(300, -999);
  for (size_t i = 0; i < in.size(); ++i)
    in[i] = float(i) * 0.5f - 7;
  negate.kernel().launch({2}, {}, out.data(), in.data(), 300);
  for (size_t i = 0; i < in.size(); ++i)
    EXPECT_EQ(out[i], -in[i]) << i;

  CompileOptions options;
  options.until = CompileUntil::ir;
  CompileResult r = k.kernel().compile(Target::cpu(), k.defaults, options);
  EXPECT_NE(r.traced_ir.find("mykernel"), std::string::npos);
}

TEST(KernelRegistryErrors, UnknownName) {
  samples::register_samples();
  expect_error([] { (void)find_registered_kernel("nosuchkernel"); },
               {"unknown kernel 'nosuchkernel'; registered kernels: vector_add, softmax, "
                "layer_norm, matmul"});
}

TEST(KernelRegistryErrors, MissingLibrary) {
  expect_error([] { (void)load_kernel_library("/nonexistent/libmine.so"); },
               {"cannot load the kernel library '/nonexistent/libmine.so'",
                "No such file or directory", "linked to libtessel"});
}

TEST(KernelRegistryErrors, DuplicateName) {
  samples::register_samples();
  expect_error([] { (void)load_kernel_library(TESSEL_TEST_DUPLICATE_LIBRARY); },
               {"kernel 'vector_add' is registered twice: by the program and by '" +
                    std::string(TESSEL_TEST_DUPLICATE_LIBRARY) + "'",
                "give one of them another name"});
}

TEST(KernelRegistryErrors, LibraryRegistersNothing) {
  try {
    (void)load_kernel_library(TESSEL_TEST_KERNEL_LIBRARY); // the first load registers its kernels
  } catch (const Error&) {
    // ... unless an earlier test of this process loaded it already
  }
  expect_error([] { (void)load_kernel_library(TESSEL_TEST_KERNEL_LIBRARY); },
               {"registered no kernels", "TESSEL_REGISTER_KERNEL"});
}

TEST(KernelRegistryErrors, DuplicateExplicitRegistration) {
  samples::register_samples();
  RegisteredKernel k = samples::find_kernel("softmax");
  expect_error([&] { register_kernel(k); },
               {"kernel 'softmax' is registered twice: by the program and by the program"});
}

// Parameter names come from the kernel when the signature leaves them empty.
TEST(CompileApi, CompileTakesNamesFromTheKernel) {
  CompileOptions options;
  options.until = CompileUntil::ir;
  CompileResult r = named_add_kernel().compile(Target::cpu(), unnamed_add_signature(), options);
  EXPECT_EQ(names_of(r.signature), (std::vector<std::string>{"out", "a", "b", "n", "BLOCK"}));
  // Names the signature gives that agree with the kernel's are kept.
  Signature partly = unnamed_add_signature();
  partly.params[3].name = "n";
  r = named_add_kernel().compile(Target::cpu(), partly, options);
  EXPECT_EQ(names_of(r.signature), (std::vector<std::string>{"out", "a", "b", "n", "BLOCK"}));
  // A kernel without names leaves an unnamed signature unnamed.
  r = add_kernel().compile(Target::cpu(), unnamed_add_signature(), options);
  EXPECT_EQ(names_of(r.signature), (std::vector<std::string>{"", "", "", "", ""}));
}

TEST(CompileApi, DefinesFindNamesTakenFromTheKernel) {
  Signature s = apply_defines(named_add_kernel(), unnamed_add_signature(), {"BLOCK=256"});
  ASSERT_EQ(s.params.size(), 5u);
  EXPECT_EQ(s.params[4].int_value, 256);
}

TEST(KernelRegistry, SamplesTakeNamesFromTheirKernels) {
  samples::register_samples();
  EXPECT_EQ(names_of(samples::find_kernel("vector_add").defaults),
            (std::vector<std::string>{"out", "a", "b", "n", "BLOCK"}));
  EXPECT_EQ(names_of(samples::find_kernel("layer_norm").defaults),
            (std::vector<std::string>{"y", "x", "w", "b", "stride", "n", "eps", "BLOCK"}));
  for (const RegisteredKernel& k : registered_kernels())
    for (const SignatureParam& p : k.defaults.params)
      EXPECT_FALSE(p.name.empty()) << k.name;
  Signature s = apply_defines(samples::find_kernel("matmul").kernel(),
                              samples::find_kernel("matmul").defaults, {"BLOCK_K=32"});
  EXPECT_EQ(s.params[14].name, "BLOCK_K");
  EXPECT_EQ(s.params[14].int_value, 32);
}

TEST(CompileApiErrors, SignatureNameDiffersFromTheKernels) {
  Signature s = unnamed_add_signature();
  s.params[1].name = "x";
  expect_error([&] { (void)named_add_kernel().compile(Target::cpu(), s); },
               {"kernel 'compile_api_named_add': signature parameter 1 is named 'x' but the "
                "kernel names it 'a'",
                "leave the signature's name empty to take the kernel's"});
}

TEST(KernelRegistryErrors, DefaultsNameDiffersFromTheKernels) {
  Signature s = unnamed_add_signature();
  s.params[0].name = "dst";
  // Unregistered again when it goes out of scope, so other tests see the usual registry.
  detail::KernelRegistration misnamed("compile_api_misnamed", &named_add_kernel, s);
  expect_error([] { (void)find_registered_kernel("compile_api_misnamed"); },
               {"the default signature registered by the program for kernel "
                "'compile_api_named_add': signature parameter 0 is named 'dst' but the kernel "
                "names it 'out'"});
}

} // namespace
} // namespace tessel
