// The stdlib's entries in the kernel registry (tessel/ops/registry.h): every op kernel is there
// under its documented name, and each default specialization (what the op launches for rows of
// 1024 f32 columns) compiles for sm_80 and sm_90a through the registry without spills.
#include "tessel/ops/registry.h"

#include "gpu/gpu_test_util.h"
#include "tessel/codegen/gpu.h"
#include "tessel/jit/registry.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <string>
#include <vector>

namespace tessel::testing {
namespace {

// docs/stdlib.md's table, in registration order.
const std::vector<std::string> kOpKernels = {"rms_norm",
                                             "add_rms_norm",
                                             "ops.layer_norm",
                                             "add_layer_norm",
                                             "rms_norm_backward",
                                             "layer_norm_backward",
                                             "rms_norm_weight_grad",
                                             "layer_norm_weight_grad",
                                             "norm_weight_grad_parts",
                                             "ops.softmax",
                                             "log_softmax",
                                             "softmax_backward",
                                             "log_softmax_backward",
                                             "softmax_rows",
                                             "silu",
                                             "silu_backward",
                                             "gelu",
                                             "gelu_backward",
                                             "swiglu",
                                             "swiglu_backward",
                                             "geglu",
                                             "geglu_backward",
                                             "mean_pool",
                                             "l2_normalize",
                                             "add",
                                             "mul",
                                             "cross_entropy",
                                             "cross_entropy_reduce",
                                             "cross_entropy_backward",
                                             "cross_entropy_rows",
                                             "cross_entropy_rows_backward",
                                             "rotary_embedding",
                                             "dropout",
                                             "argmax",
                                             "topk",
                                             "ops.matmul",
                                             "ops.matmul_f16",
                                             "ops.matmul_bf16",
                                             "matmul_split_k_reduce",
                                             "ops.attention",
                                             "ops.attention_decode",
                                             "attention_decode_combine",
                                             "quant_scales",
                                             "ops.quantize",
                                             "ops.dequantize",
                                             "quantize_per_token_int8",
                                             "rms_norm_quantize_int8",
                                             "matmul_w4a16",
                                             "matmul_w4a16_marlin",
                                             "matmul_lora",
                                             "matmul_multi_lora",
                                             "quantize_fp8_blockwise",
                                             "matmul_fp8_blockwise",
                                             "matmul_sparse_2_4"};

// The warps the op launches its default specialization with (docs/stdlib.md).
int op_num_warps(const std::string& name) {
  if (name == "mean_pool" || name.starts_with("ops.matmul") || name == "quantize_fp8_blockwise" ||
      name == "matmul_fp8_blockwise")
    return 8;
  // The parts of the norms' weight gradient: a 256-column block at 1 warp, as the ops launch it.
  return name == "rotary_embedding" || name == "norm_weight_grad_parts" ? 1 : 4;
}

TEST(OpsRegistry, EveryOpKernelIsRegistered) {
  ops::register_kernels();
  ops::register_kernels(); // a second call registers nothing twice
  // The samples may be registered too (by another test of this program): they are not ops.
  const std::vector<std::string> samples = {"vector_add", "softmax", "layer_norm", "matmul",
                                            "attention"};
  std::vector<std::string> names;
  for (const RegisteredKernel& k : registered_kernels())
    if (std::find(samples.begin(), samples.end(), k.name) == samples.end())
      names.push_back(k.name);
  EXPECT_EQ(names, kOpKernels);
}

TEST(OpsRegistry, DefaultsNameEveryParameter) {
  ops::register_kernels();
  for (const std::string& name : kOpKernels) {
    RegisteredKernel k = find_registered_kernel(name);
    EXPECT_FALSE(k.summary.empty()) << name;
    ASSERT_EQ(k.defaults.params.size(), k.kernel().def().params.size()) << name;
    for (const SignatureParam& p : k.defaults.params)
      EXPECT_FALSE(p.name.empty()) << name;
  }
}

// min_sm is what `tessel prebuild` skips by: a kernel it names cannot compile before that SM.
TEST(OpsRegistry, MinSmNamesTargetsThatCannotCompile) {
  TESSEL_REQUIRE_CUDA_TOOLKIT();
  ops::register_kernels();
  int named = 0;
  for (const std::string& name : kOpKernels) {
    if (ops::min_sm(name) == 0)
      continue;
    ++named;
    RegisteredKernel k = find_registered_kernel(name);
    CompileOptions options;
    options.num_warps = op_num_warps(name);
    options.cache = CacheMode::off;
    EXPECT_THROW(k.kernel().compile(Target::parse("sm_80"), k.defaults, options), Error) << name;
  }
  EXPECT_EQ(named, 1); // matmul_fp8_blockwise
  EXPECT_EQ(ops::min_sm("no such kernel"), 0);
}

TEST(OpsRegistry, EveryOpCompilesUnspilled) {
  TESSEL_REQUIRE_CUDA_TOOLKIT();
  ops::register_kernels();
  for (const std::string& name : kOpKernels)
    // The earliest target the kernel allows (fp8 tensor cores exist from sm_89), and sm_90a.
    for (const char* target : {ops::min_sm(name) == 89 ? "sm_89" : "sm_80", "sm_90a"}) {
      RegisteredKernel k = find_registered_kernel(name);
      CompileOptions options;
      options.num_warps = op_num_warps(name);
      options.cache = CacheMode::off;
      CompileResult r = k.kernel().compile(Target::parse(target), k.defaults, options);
      std::string what = name + " " + target;
      EXPECT_EQ(r.entry, k.kernel().name()) << what;
      EXPECT_TRUE(r.resources.parsed) << what;
      EXPECT_GT(r.resources.registers, 0) << what;
      EXPECT_EQ(r.resources.spill_stores, 0) << what;
      EXPECT_EQ(r.resources.spill_loads, 0) << what;
      codegen::gpu::PtxStats st = codegen::gpu::ptx_stats(r.ptx);
      EXPECT_EQ(st.get("local"), 0) << what;
      // f32 rows, 16-byte aligned, strides divisible by 16: every kernel reads 16 bytes at once,
      // but rotary_embedding, whose 64 pairs at one warp are two per thread (8 bytes).
      // A pipelined operand's 16-byte reads are cp.async.cg (16 bytes by definition in PTX).
      const int64_t wide = st.get(name == "rotary_embedding" ? "ld.global.v2" : "ld.global.v4");
      EXPECT_TRUE(wide > 0 || r.ptx.find("cp.async.cg") != std::string::npos) << what;
    }
}

} // namespace
} // namespace tessel::testing
