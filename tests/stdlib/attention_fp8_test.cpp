// ops::attention with fp8 q, k, v and FlashAttention-3-style descales (attention.h, descale_q/k/v)
// against an f64 reference of the dequantized math written here: q = descale_q · q8 (k, v
// likewise), softmax(q kᵀ · scale + mask) v with exact probabilities. The kernel differs from that
// reference in one documented way: P, in [0, 1], is rounded to v's fp8 type before the PV product.
// The tolerance is that rounding's bound, computed per output element (fp8_bound below), plus the
// output's own rounding. CPU and the simulated device at sm_89 and sm_90a (memcheck and racecheck
// on; zero bank conflicts, NoBankConflicts); PTX unspilled at head_dim 64 and
// 128 with fp8 mma.sync; bad input.
#include "ops_test_util.h"

#include "gpu/gpu_test_util.h"
#include "stdlib/common/kernels.h"
#include "support/expect_error.h"
#include "support/scoped_env.h"
#include "tessel/ops.h"

#include <fmt/format.h>

#include <algorithm>

namespace tessel::testing {
namespace {

using ops::AttentionOptions;

struct Problem {
  int64_t batch, heads, kv_heads, seqlen_q, seqlen_k, dim;
};

// bshd, contiguous.
size_t at(int64_t seq, int64_t heads, int64_t dim, int64_t b, int64_t s, int64_t h, int64_t d) {
  return size_t(((b * seq + s) * heads + h) * dim + d);
}

// One fp8 input: the stored values and its descale per (batch, kv head) (all equal per tensor).
struct Quantized {
  std::vector<double> q8;      // fp8 values, as stored
  std::vector<double> descale; // [batch * kv_heads]
};

// Real values in [-2 · base, 2 · base] quantized with a descale of amax / (largest finite), times
// a factor that differs per (batch, kv head) when `per_head` (so a wrong descale index shows).
Quantized quantize(const Problem& p, int64_t seq, int64_t heads, uint32_t seed, DType t,
                   bool per_head, double base) {
  const double qmax = t == DType::f8e4m3 ? 448 : 57344;
  Quantized out;
  for (int64_t b = 0; b < p.batch; ++b)
    for (int64_t kh = 0; kh < p.kv_heads; ++kh)
      out.descale.push_back(base * 2.0 / qmax * (per_head ? 1.0 + 0.25 * double(b * 3 + kh) : 1));
  const std::vector<double> real =
      random_values(size_t(p.batch * seq * heads * p.dim), seed, -2 * base, 2 * base);
  out.q8.resize(real.size());
  const int64_t group = heads / p.kv_heads;
  for (int64_t b = 0; b < p.batch; ++b)
    for (int64_t s = 0; s < seq; ++s)
      for (int64_t h = 0; h < heads; ++h)
        for (int64_t d = 0; d < p.dim; ++d) {
          const size_t i = at(seq, heads, p.dim, b, s, h, d);
          const double scale = out.descale[size_t(b * p.kv_heads + h / group)];
          out.q8[i] = round_to_dtype(real[i] / scale, t);
        }
  return out;
}

struct Reference {
  std::vector<double> out, lse, bound;
};

// The largest error of rounding P to `t` once, as a share of p: half an ulp of a normal value
// (e4m3 has 3 mantissa bits, e5m2 2), and an absolute half-spacing below the smallest normal
// (e4m3 subnormals are 2^-9 apart, e5m2's 2^-16).
double p_rel(DType t) { return t == DType::f8e4m3 ? 0x1p-4 : 0x1p-3; }
double p_abs(DType t) { return t == DType::f8e4m3 ? 0x1p-10 : 0x1p-17; }

// softmax(q kᵀ · scale) v of the dequantized inputs, in f64, causal or not, and per output element
// the bound of P's rounding: the kernel rounds exp2(s - m) with m the running maximum, which
// the final rescale by exp2(m - m_final) <= 1 maps to an error of at most
// max(p_rel · p_j, p_abs) for the final p_j = exp(s_j - max), so
// |out - ref| <= Σ_j max(p_rel · p_j, p_abs) · |v_j| / Σ_j p_j.
Reference reference(const Problem& p, const Quantized& q, const Quantized& k, const Quantized& v,
                    bool causal, DType t) {
  Reference r;
  r.out.assign(q.q8.size(), 0.0);
  r.bound.assign(q.q8.size(), 0.0);
  r.lse.assign(size_t(p.batch * p.heads * p.seqlen_q), -INFINITY);
  const double scale = 1.0 / std::sqrt(double(p.dim));
  const int64_t group = p.heads / p.kv_heads;
  for (int64_t b = 0; b < p.batch; ++b)
    for (int64_t h = 0; h < p.heads; ++h) {
      const size_t dsi = size_t(b * p.kv_heads + h / group);
      const double dq = q.descale[dsi], dk = k.descale[dsi], dv = v.descale[dsi];
      for (int64_t i = 0; i < p.seqlen_q; ++i) {
        std::vector<double> s(size_t(p.seqlen_k), -INFINITY);
        double mx = -INFINITY;
        const int64_t last = causal ? i + p.seqlen_k - p.seqlen_q : p.seqlen_k - 1;
        for (int64_t j = 0; j <= last && j < p.seqlen_k; ++j) {
          double dot = 0;
          for (int64_t d = 0; d < p.dim; ++d)
            dot += dq * q.q8[at(p.seqlen_q, p.heads, p.dim, b, i, h, d)] * dk *
                   k.q8[at(p.seqlen_k, p.kv_heads, p.dim, b, j, h / group, d)];
          s[size_t(j)] = dot * scale;
          mx = std::max(mx, s[size_t(j)]);
        }
        if (mx == -INFINITY)
          continue;
        double sum = 0;
        for (double& x : s)
          sum += (x = std::exp(x - mx));
        r.lse[size_t((b * p.heads + h) * p.seqlen_q + i)] = mx + std::log(sum);
        for (int64_t j = 0; j < p.seqlen_k; ++j) {
          if (s[size_t(j)] == 0)
            continue; // invisible (exp(-inf))
          const double err = std::max(p_rel(t) * s[size_t(j)], p_abs(t));
          for (int64_t d = 0; d < p.dim; ++d) {
            const size_t o = at(p.seqlen_q, p.heads, p.dim, b, i, h, d);
            const double vj = dv * v.q8[at(p.seqlen_k, p.kv_heads, p.dim, b, j, h / group, d)];
            r.out[o] += s[size_t(j)] / sum * vj;
            r.bound[o] += err * std::fabs(vj) / sum;
          }
        }
      }
    }
  return r;
}

struct Run {
  DeviceKind dev = DeviceKind::cpu;
  DType dtype = DType::f8e4m3;
  DType out_dtype = DType::f16;
  bool causal = false;
  bool per_head = false;
};

std::string describe(const Problem& p, const Run& run) {
  return fmt::format(
      "{} -> {} b{} h{}/{} sq{} sk{} d{}{}{}{}", dtype_name(run.dtype), dtype_name(run.out_dtype),
      p.batch, p.heads, p.kv_heads, p.seqlen_q, p.seqlen_k, p.dim, run.causal ? " causal" : "",
      run.per_head ? " per-head descales" : "", run.dev == DeviceKind::sim ? " (simulated)" : "");
}

void check(const Problem& p, const Run& run) {
  const uint32_t seed = uint32_t(p.seqlen_q * 131 + p.seqlen_k * 7 + p.dim);
  const Quantized q = quantize(p, p.seqlen_q, p.heads, seed, run.dtype, run.per_head, 1.0);
  const Quantized k = quantize(p, p.seqlen_k, p.kv_heads, seed + 1, run.dtype, run.per_head, 0.5);
  const Quantized v = quantize(p, p.seqlen_k, p.kv_heads, seed + 2, run.dtype, run.per_head, 3.0);
  const std::vector<int64_t> qs{p.batch, p.seqlen_q, p.heads, p.dim};
  const std::vector<int64_t> ks{p.batch, p.seqlen_k, p.kv_heads, p.dim};
  TestTensor tq(run.dev, run.dtype, qs, q.q8), tk(run.dev, run.dtype, ks, k.q8);
  TestTensor tv(run.dev, run.dtype, ks, v.q8);
  const std::vector<int64_t> ds_shape =
      run.per_head ? std::vector<int64_t>{p.batch, p.kv_heads} : std::vector<int64_t>{1};
  auto first = [](const std::vector<double>& d) { return std::vector<double>{d[0]}; };
  TestTensor dq(run.dev, DType::f32, ds_shape, run.per_head ? q.descale : first(q.descale));
  TestTensor dk(run.dev, DType::f32, ds_shape, run.per_head ? k.descale : first(k.descale));
  TestTensor dv(run.dev, DType::f32, ds_shape, run.per_head ? v.descale : first(v.descale));
  auto out = TestTensor::poisoned(run.dev, run.out_dtype, qs);
  auto lse = TestTensor::poisoned(run.dev, DType::f32, {p.batch, p.heads, p.seqlen_q});
  AttentionOptions o{.causal = run.causal, .lse = lse.view()};
  o.descale_q = dq.view();
  o.descale_k = dk.view();
  o.descale_v = dv.view();
  ops::attention(tq.view(), tk.view(), tv.view(), out.view(), o);

  const Reference want = reference(p, q, k, v, run.causal, run.dtype);
  const std::string what = describe(p, run);
  const std::vector<double> got = out.values();
  double vmax = 0;
  for (double w : want.out)
    vmax = std::max(vmax, std::fabs(w));
  for (size_t i = 0; i < got.size(); ++i) {
    // P's rounding (the bound), the output's rounding, and f32 scores and sums (1e-5 of the
    // output's scale: the fp8 products are exact in f32, their sums over head_dim are not).
    const double tol =
        want.bound[i] + rtol_for(run.out_dtype) * std::fabs(want.out[i]) + 1e-5 * vmax;
    ASSERT_LE(std::fabs(got[i] - want.out[i]), tol)
        << what << ": element " << i << " is " << got[i] << ", expected " << want.out[i];
  }
  const std::vector<double> got_lse = lse.values();
  for (size_t i = 0; i < got_lse.size(); ++i) {
    if (std::isinf(want.lse[i])) {
      ASSERT_EQ(got_lse[i], want.lse[i]) << what << " lse " << i;
      continue;
    }
    // The lse does not see P's rounding: f32 scores, exp2/log2 in f32.
    ASSERT_NEAR(got_lse[i], want.lse[i], 2e-5 * (std::fabs(want.lse[i]) + 4))
        << what << " lse " << i;
  }
}

// Ragged lengths against the CPU's 64 x 64 tiles (1, 17, 129), causal and not, GQA, head_dim 32
// to 128, both fp8 types, both descale shapes, every output dtype.
TEST(AttentionFp8, RaggedShapesCpu) {
  for (bool causal : {false, true}) {
    check({1, 2, 1, 17, 17, 64}, {.causal = causal});
    check({2, 4, 2, 129, 129, 128}, {.out_dtype = DType::bf16, .causal = causal, .per_head = true});
    check({1, 2, 2, 1, 17, 32}, {.out_dtype = DType::f32, .causal = causal});
    check({1, 1, 1, 17, 129, 64}, {.dtype = DType::f8e5m2, .causal = causal, .per_head = true});
  }
}

// sm_89's fp8 mma.sync (m16n8k32), with the op's GPU tiles (32 x 32 at head_dim 64, 16 x 32 at
// 128); memcheck and racecheck on (findings are errors).
TEST(AttentionFp8, SimulatedSm89) {
  TESSEL_REQUIRE_SIM_DEVICE();
  ScopedEnv target("TESSEL_SIM_TARGET", "sm_89");
  check({1, 2, 1, 17, 33, 64}, {.dev = DeviceKind::sim, .causal = true});
  check({2, 1, 1, 33, 20, 128},
        {.dev = DeviceKind::sim, .out_dtype = DType::bf16, .per_head = true});
  check({1, 1, 1, 17, 17, 64}, {.dev = DeviceKind::sim, .dtype = DType::f8e5m2});
}

// sm_90a: fp8 takes mma.sync there too (wgmma's fp8 B operand must be K-major, which V for PV is
// not without a transpose; docs/stdlib.md).
TEST(AttentionFp8, SimulatedSm90a) {
  TESSEL_REQUIRE_SIM_DEVICE();
  ScopedEnv target("TESSEL_SIM_TARGET", "sm_90a");
  check({1, 2, 2, 17, 33, 64}, {.dev = DeviceKind::sim, .causal = true, .per_head = true});
  check({1, 1, 1, 1, 17, 128}, {.dev = DeviceKind::sim});
}

// Zero bank conflicts in the fp8 forward at sm_89 and sm_90a. Disabled until session 8: the
// scratch writes of 8-bit layout conversions (the K tile's among them) were 16-byte runs
// that the NVPTX backend split into 4 st.shared.u32 16 bytes apart (4-way conflicts, 480 extra
// wavefronts over these launches on each target), now one st.shared.v4.b32 (store_words.h); the
// 8-bit B operands (Kᵀ and V, stored along N) are read with ldmatrix.trans and prmt
// (byte_transpose.h) instead of ld.shared.u8.
TEST(AttentionFp8, NoBankConflicts) {
  TESSEL_REQUIRE_SIM_DEVICE();
  for (const char* t : {"sm_89", "sm_90a"}) {
    ScopedEnv target("TESSEL_SIM_TARGET", t);
    SimBankConflicts banks;
    check({1, 2, 1, 17, 33, 64}, {.dev = DeviceKind::sim, .causal = true});
    check({1, 1, 1, 33, 20, 128}, {.dev = DeviceKind::sim});
    banks.expect_none(fmt::format("fp8 attention forward on {}", t));
  }
}

// The forward traced for fp8 as the op launches it on a GPU: out f16, lse and descales f32, the
// masks i32, q, k, v `t`.
std::unique_ptr<ir::Module> trace_fp8(DType t, std::vector<int64_t> consts) {
  const Kernel& k = ops::detail::attention_forward_kernel();
  std::vector<lang::ParamBinding> b;
  size_t next_const = 0, next_ptr = 0;
  for (const lang::ParamSpec& ps : k.def().params) {
    lang::ParamBinding pb;
    if (ps.kind == lang::ParamKind::Ptr) {
      const size_t i = next_ptr++; // out, lse, q, k, v, 4 i32 inputs, alibi, 3 descales
      pb.dtype = i == 0 ? DType::f16 : i == 1 || i >= 9 ? DType::f32 : i <= 4 ? t : DType::i32;
      pb.divisibility = 16;
    } else if (ps.kind == lang::ParamKind::Int) {
      pb.divisibility = 16;
    } else if (ps.kind == lang::ParamKind::Const) {
      pb.const_int = consts[next_const++];
    }
    b.push_back(pb);
  }
  auto module = lang::trace(k.def(), b);
  ir::PassManager pm(/*verify_each=*/true);
  codegen::add_default_pipeline(pm);
  pm.run(*module);
  return module;
}

// The tiles the op picks for fp8 on a GPU (attention.cpp, fp8_tiles: 32 x 32 at 4 warps with
// head_dim 64 in one chunk, 16 x 32 at 2 warps with head_dim 128 in chunks of 32), causal and not,
// on sm_89 and sm_90a: no spills, 16-byte loads, and the dots on the fp8 mma.sync, not wgmma, their
// B operands read with ldmatrix.trans and prmt.
TEST(AttentionFp8Ptx, NoSpillsAndFp8Mma) {
  TESSEL_REQUIRE_CUDA_TOOLKIT();
  for (const char* target : {"sm_89", "sm_90a"})
    for (int64_t dim : {64, 128})
      for (int64_t band : {0, 1}) {
        const int64_t flags =
            ops::detail::kAttentionSaveLse | (band ? ops::detail::kAttentionBand : 0);
        auto module =
            trace_fp8(DType::f8e4m3, {flags, dim, dim == 64 ? 64 : 32, dim > 64 ? 16 : 32, 32});
        const std::string what =
            fmt::format("fp8 attention {} head_dim {} band {}", target, dim, band);
        const std::string ptx = expect_lean_ptx(*module, target, dim > 64 ? 2 : 4, what);
        EXPECT_NE(ptx.find("mma.sync.aligned.m16n8k32.row.col.f32.e4m3.e4m3.f32"),
                  std::string::npos)
            << what;
        EXPECT_EQ(ptx.find("wgmma"), std::string::npos) << what;
        // Kᵀ and V (8-bit B operands stored along N) through ldmatrix.trans and prmt.
        EXPECT_NE(ptx.find("ldmatrix.sync.aligned.m8n8.x4.trans.shared.b16"), std::string::npos)
            << what;
        EXPECT_GT(codegen::gpu::ptx_stats(ptx).get("prmt"), 0) << what;
      }
}

// ---- bad input ----------------------------------------------------------------------------------

struct Fp8Inputs {
  TestTensor q, k, v, out, ds;
  explicit Fp8Inputs(DeviceKind dev = DeviceKind::cpu, DType t = DType::f8e4m3)
      : q(dev, t, {1, 4, 2, 64}, std::vector<double>(512, 1.0)),
        k(dev, t, {1, 4, 2, 64}, std::vector<double>(512, 1.0)),
        v(dev, t, {1, 4, 2, 64}, std::vector<double>(512, 1.0)),
        out(TestTensor::poisoned(dev, DType::f16, {1, 4, 2, 64})), ds(dev, DType::f32, {1}, {0.5}) {
  }
  AttentionOptions with_descales() {
    AttentionOptions o;
    o.descale_q = o.descale_k = o.descale_v = ds.view();
    return o;
  }
};

TEST(AttentionFp8Errors, Fp8BeforeSm89) {
  TESSEL_REQUIRE_SIM_DEVICE();
  ScopedEnv target("TESSEL_SIM_TARGET", "sm_80");
  Fp8Inputs in(DeviceKind::sim);
  expect_error(
      [&] {
        ops::attention(in.q.view(), in.k.view(), in.v.view(), in.out.view(), in.with_descales());
      },
      {"attention: q is f8e4m3 and k is f8e4m3: fp8 operands need the fp8 tensor cores of sm_89",
       "the simulated device's target sm_80", "TESSEL_SIM_TARGET=sm_89"});
}

TEST(AttentionFp8Errors, MissingDescale) {
  Fp8Inputs in;
  AttentionOptions o = in.with_descales();
  o.descale_k = {};
  expect_error([&] { ops::attention(in.q.view(), in.k.view(), in.v.view(), in.out.view(), o); },
               {"attention: q, k and v are f8e4m3 but descale_k is missing",
                "shape [1] per tensor, or [batch, kv_heads] = [1, 2] per kv head"});
}

TEST(AttentionFp8Errors, DescaleWithoutFp8) {
  TestTensor q(DeviceKind::cpu, DType::f16, {1, 4, 2, 64}, std::vector<double>(512, 1.0));
  auto out = TestTensor::poisoned(DeviceKind::cpu, DType::f16, {1, 4, 2, 64});
  Fp8Inputs in;
  AttentionOptions o;
  o.descale_v = in.ds.view();
  expect_error([&] { ops::attention(q.view(), q.view(), q.view(), out.view(), o); },
               {"attention: descale_v is given but q is f16; the descales dequantize fp8 inputs"});
}

TEST(AttentionFp8Errors, BadDescaleShapeAndDtype) {
  Fp8Inputs in;
  TestTensor wrong(DeviceKind::cpu, DType::f32, {2, 2}, {1, 1, 1, 1});
  AttentionOptions o = in.with_descales();
  o.descale_q = wrong.view();
  expect_error([&] { ops::attention(in.q.view(), in.k.view(), in.v.view(), in.out.view(), o); },
               {"attention: descale_q has shape [2, 2]; expected [1] (per tensor) or a contiguous "
                "[batch, kv_heads] = [1, 2] (per kv head)"});
  TestTensor per_head(DeviceKind::cpu, DType::f32, {1, 2}, {1, 1});
  o.descale_q = per_head.view();
  expect_error([&] { ops::attention(in.q.view(), in.k.view(), in.v.view(), in.out.view(), o); },
               {"descale_q, descale_k and descale_v have shapes [1, 2], [1] and [1]; expected one "
                "shape for all three"});
  TestTensor f16(DeviceKind::cpu, DType::f16, {1}, {1});
  o = in.with_descales();
  o.descale_v = f16.view();
  expect_error([&] { ops::attention(in.q.view(), in.k.view(), in.v.view(), in.out.view(), o); },
               {"attention: descale_v has dtype f16; expected f32"});
}

TEST(AttentionFp8Errors, MixedFp8TypesAndFp8Out) {
  Fp8Inputs in;
  TestTensor v5(DeviceKind::cpu, DType::f8e5m2, {1, 4, 2, 64}, std::vector<double>(512, 1.0));
  expect_error(
      [&] {
        ops::attention(in.q.view(), in.k.view(), v5.view(), in.out.view(), in.with_descales());
      },
      {"attention: v has dtype f8e5m2 but q has f8e4m3; q, k and v must share one dtype"});
  expect_error(
      [&] {
        ops::attention(in.q.view(), in.k.view(), in.v.view(), in.v.view(), in.with_descales());
      },
      {"attention: out has dtype f8e4m3; expected f32, f16 or bf16"});
}

TEST(AttentionFp8Errors, BackwardIsNotFp8) {
  Fp8Inputs in;
  expect_error(
      [&] {
        ops::attention_backward(in.q.view(), in.k.view(), in.v.view(), in.out.view(), in.out.view(),
                                in.out.view(), in.out.view(), in.out.view(), in.out.view(),
                                in.with_descales());
      },
      {"attention_backward: q is f8e4m3; fp8 attention is forward only"});
}

TEST(AttentionFp8Errors, KeyTileBelowTheFp8MmaK) {
  TESSEL_REQUIRE_SIM_DEVICE();
  ScopedEnv target("TESSEL_SIM_TARGET", "sm_89");
  Fp8Inputs in(DeviceKind::sim);
  AttentionOptions o = in.with_descales();
  o.block_n = 16;
  expect_error([&] { ops::attention(in.q.view(), in.k.view(), in.v.view(), in.out.view(), o); },
               {"attention: block_n is 16 with fp8 q, k, v on a GPU", "pass block_n >= 32 or 0"});
}

} // namespace
} // namespace tessel::testing
