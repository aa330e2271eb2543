// ops::attention and attention_backward with the options the first slices left out: kv_lens and
// the key padding mask in the backward (hidden keys get gradients of exactly 0), ALiBi slopes,
// logit soft-capping (forward and the cap's derivative in the backward), and dq by atomics
// (dq_mode = atomics, against the reference and, within a reordering tolerance, against the
// deterministic path). Against the f64 per-sequence reference of attention_reference.h applied
// to each batch entry; central finite differences of the reference on tiny shapes; the simulated
// device (memcheck, racecheck, no bank conflicts); one test per new diagnostic.
#include "ops_test_util.h"

#include "attention_reference.h"
#include "gpu/gpu_test_util.h"
#include "stdlib/common/kernels.h"
#include "support/expect_error.h"
#include "tessel/ops.h"

#include <fmt/format.h>

#include <algorithm>
#include <source_location>

namespace tessel::testing {
namespace {

using ops::AttentionDq;
using ops::AttentionOptions;

// A dense [batch, seqlen, heads, head_dim] problem and its options as plain values.
struct Case {
  int64_t batch = 1, seq_q = 17, seq_k = 17, heads = 2, kv_heads = 1, dim = 32;
  bool causal = false;
  int64_t left = -1, right = -1;
  std::vector<double> kv_lens = {};  // [batch], empty: none
  std::vector<double> key_mask = {}; // [batch, seq_k], empty: none
  std::vector<double> alibi = {};    // [heads], empty: none
  double softcap = 0;
};

struct Mode {
  DeviceKind dev = DeviceKind::cpu;
  DType dtype = DType::f32;
  int block_m = 16, block_n = 16;
  bool backward = true;
  AttentionDq dq_mode = AttentionDq::deterministic;
};

std::string describe(const Case& c, const Mode& m) {
  return fmt::format(
      "{} b{} h{}/{} sq{} sk{} d{}{}{}{}{}{}{}{}", dtype_name(m.dtype), c.batch, c.heads,
      c.kv_heads, c.seq_q, c.seq_k, c.dim, c.causal ? " causal" : "",
      c.left >= 0 || c.right >= 0 ? fmt::format(" window({},{})", c.left, c.right) : "",
      c.kv_lens.empty() ? "" : " kv_lens", c.key_mask.empty() ? "" : " key_mask",
      c.alibi.empty() ? "" : " alibi", c.softcap > 0 ? fmt::format(" softcap {}", c.softcap) : "",
      m.dq_mode == AttentionDq::atomics ? " atomic dq" : "");
}

SeqProblem entry_problem(const Case& c, int64_t b) {
  SeqProblem p{c.seq_q, c.seq_k, c.heads, c.kv_heads, c.dim, c.causal, c.left, c.right};
  if (!c.kv_lens.empty())
    p.kv_len = std::clamp<int64_t>(int64_t(c.kv_lens[size_t(b)]), 0, c.seq_k);
  for (int64_t j = 0; j < c.seq_k && !c.key_mask.empty(); ++j)
    p.key_ok.push_back(c.key_mask[size_t(b * c.seq_k + j)] != 0);
  p.alibi = c.alibi;
  p.softcap = c.softcap;
  return p;
}

std::vector<double> slice(const std::vector<double>& x, int64_t entry_size, int64_t b) {
  return {x.begin() + b * entry_size, x.begin() + (b + 1) * entry_size};
}

// The reference entry by entry: out and the gradients in the dense layout, lse [batch, heads, sq].
SeqResult reference(const Case& c, const std::vector<double>& q, const std::vector<double>& k,
                    const std::vector<double>& v, const std::vector<double>& dout) {
  const int64_t nq = c.seq_q * c.heads * c.dim, nk = c.seq_k * c.kv_heads * c.dim;
  SeqResult all;
  for (int64_t b = 0; b < c.batch; ++b) {
    SeqResult r = seq_reference(entry_problem(c, b), slice(q, nq, b), slice(k, nk, b),
                                slice(v, nk, b), dout.empty() ? dout : slice(dout, nq, b));
    for (auto [to, from] :
         {std::pair{&all.out, &r.out}, std::pair{&all.lse, &r.lse}, std::pair{&all.dq, &r.dq},
          std::pair{&all.dk, &r.dk}, std::pair{&all.dv, &r.dv}})
      to->insert(to->end(), from->begin(), from->end());
  }
  return all;
}

struct Inputs {
  std::vector<double> q, k, v, dout;
};

Inputs random_inputs(const Case& c, DType t, uint32_t seed) {
  const size_t nq = size_t(c.batch * c.seq_q * c.heads * c.dim);
  const size_t nk = size_t(c.batch * c.seq_k * c.kv_heads * c.dim);
  return {rounded(random_values(nq, seed, -2, 2), t),
          rounded(random_values(nk, seed + 1, -2, 2), t),
          rounded(random_values(nk, seed + 2, -2, 2), t),
          rounded(random_values(nq, seed + 3, -1, 1), t)};
}

// The op's results: out, lse and (with m.backward) dq, dk, dv, as f64 vectors.
SeqResult run(const Case& c, const Mode& m, const Inputs& in) {
  const DType t = m.dtype;
  std::vector<int64_t> qs{c.batch, c.seq_q, c.heads, c.dim},
      ks{c.batch, c.seq_k, c.kv_heads, c.dim};
  TestTensor q(m.dev, t, qs, in.q), k(m.dev, t, ks, in.k), v(m.dev, t, ks, in.v);
  auto out = TestTensor::poisoned(m.dev, t, qs);
  auto lse = TestTensor::poisoned(m.dev, DType::f32, {c.batch, c.heads, c.seq_q});
  std::optional<TestTensor> lens, mask, alibi;
  AttentionOptions o{.causal = c.causal,
                     .window_left = c.left,
                     .window_right = c.right,
                     .softcap = float(c.softcap),
                     .dq_mode = m.dq_mode,
                     .block_m = m.block_m,
                     .block_n = m.block_n};
  if (!c.kv_lens.empty())
    o.kv_lens = lens.emplace(m.dev, DType::i32, std::vector<int64_t>{c.batch}, c.kv_lens).view();
  if (!c.key_mask.empty())
    o.key_padding_mask =
        mask.emplace(m.dev, DType::i32, std::vector<int64_t>{c.batch, c.seq_k}, c.key_mask).view();
  if (!c.alibi.empty())
    o.alibi_slopes =
        alibi.emplace(m.dev, DType::f32, std::vector<int64_t>{c.heads}, c.alibi).view();
  AttentionOptions fwd = o;
  fwd.lse = lse.view();
  ops::attention(q.view(), k.view(), v.view(), out.view(), fwd);
  SeqResult r{out.values(), lse.values(), {}, {}, {}};
  if (!m.backward)
    return r;
  TestTensor dout(m.dev, t, qs, in.dout);
  // dq by atomics accumulates in f32.
  auto dq = TestTensor::poisoned(m.dev, m.dq_mode == AttentionDq::atomics ? DType::f32 : t, qs);
  auto dk = TestTensor::poisoned(m.dev, t, ks), dv = TestTensor::poisoned(m.dev, t, ks);
  ops::attention_backward(q.view(), k.view(), v.view(), out.view(), dout.view(), lse.view(),
                          dq.view(), dk.view(), dv.view(), o);
  r.dq = dq.values();
  r.dk = dk.values();
  r.dv = dv.values();
  return r;
}

void expect_lse(const std::vector<double>& got, const std::vector<double>& want,
                const std::string& what) {
  ASSERT_EQ(got.size(), want.size()) << what;
  for (size_t i = 0; i < got.size(); ++i) {
    if (std::isinf(want[i])) {
      ASSERT_EQ(got[i], want[i]) << what << " lse " << i;
      continue;
    }
    ASSERT_NEAR(got[i], want[i], 2e-5 * (std::fabs(want[i]) + 4)) << what << " lse " << i;
  }
}

// Hidden keys (past kv_len, or masked) have dk = dv = 0 exactly, in every head and column.
void expect_hidden_keys_zero(const Case& c, const SeqResult& got, const std::string& what) {
  const int64_t row = c.kv_heads * c.dim;
  for (int64_t b = 0; b < c.batch; ++b) {
    SeqProblem p = entry_problem(c, b);
    for (int64_t j = 0; j < c.seq_k; ++j) {
      if (j < seq_kv_len(p) && (p.key_ok.empty() || p.key_ok[size_t(j)]))
        continue;
      for (int64_t e = 0; e < row; ++e) {
        const size_t at = size_t((b * c.seq_k + j) * row + e);
        ASSERT_EQ(got.dk[at], 0.0) << what << ": dk of hidden key " << j << " of entry " << b;
        ASSERT_EQ(got.dv[at], 0.0) << what << ": dv of hidden key " << j << " of entry " << b;
      }
    }
  }
}

void check(const Case& c, const Mode& m) {
  const uint32_t seed = uint32_t(c.seq_q * 131 + c.seq_k * 7 + c.dim + c.batch);
  Inputs in = random_inputs(c, m.dtype, seed);
  SeqResult got = run(c, m, in);
  SeqResult want = reference(c, in.q, in.k, in.v, m.backward ? in.dout : std::vector<double>{});
  const std::string what = describe(c, m);
  const double tol = m.dtype == DType::f32 ? 2e-5 : 3e-2;
  expect_close(got.out, want.out, tol, what + " out", tol);
  expect_lse(got.lse, want.lse, what);
  if (!m.backward)
    return;
  const double gtol = m.dtype == DType::f32 ? 1e-4 : 6e-2;
  expect_close(got.dq, want.dq, gtol, what + " dq", gtol);
  expect_close(got.dk, want.dk, gtol, what + " dk", gtol);
  expect_close(got.dv, want.dv, gtol, what + " dv", gtol);
  expect_hidden_keys_zero(c, got, what);
}

// A mask that hides about one key in five and the tail of each entry.
std::vector<double> some_mask(int64_t batch, int64_t seq_k) {
  std::vector<double> mask;
  for (int64_t b = 0; b < batch; ++b)
    for (int64_t j = 0; j < seq_k; ++j)
      mask.push_back(j < seq_k - 3 - 5 * b && (j * 7 + b) % 5 != 0 ? 1 : 0);
  return mask;
}

// ---- kv_lens and the key padding mask in the backward ------------------------------------------

TEST(AttentionBackwardMasks, KvLensCpu) {
  Case c{.batch = 3, .seq_q = 17, .seq_k = 40, .heads = 2, .kv_heads = 2, .dim = 64};
  c.kv_lens = {40, 1, 23};
  check(c, {});
  c.causal = true; // the diagonal follows each entry's own length
  check(c, {});
  c.kv_lens = {0, 50, 12}; // an entry with no keys (its dq is 0), one clamped to seqlen_k
  check(c, {.block_n = 32});
}

TEST(AttentionBackwardMasks, KeyPaddingMaskCpu) {
  Case c{.batch = 2, .seq_q = 20, .seq_k = 33, .heads = 4, .kv_heads = 2, .dim = 32};
  c.key_mask = some_mask(c.batch, c.seq_k);
  check(c, {});
  check(c, {.dtype = DType::bf16, .block_m = 0, .block_n = 0});
  c.kv_lens = {25, 33};
  c.left = 6;
  c.right = 2;
  check(c, {});
}

// The reference's gradients with kv_lens and a mask are the derivative of sum(dout ∘ out) (central
// differences), and the kernel's match them: the check above, on a tiny shape.
TEST(AttentionBackwardMasks, FiniteDifferences) {
  Case c{.batch = 2, .seq_q = 3, .seq_k = 6, .heads = 2, .kv_heads = 1, .dim = 32};
  c.kv_lens = {5, 6};
  c.key_mask = {1, 0, 1, 1, 1, 1, 1, 1, 0, 1, 1, 1};
  c.causal = true;
  Inputs in = random_inputs(c, DType::f32, 61);
  SeqResult got = run(c, {}, in);
  auto loss = [&] {
    auto out = reference(c, in.q, in.k, in.v, {}).out;
    double s = 0;
    for (size_t i = 0; i < out.size(); ++i)
      s += in.dout[i] * out[i];
    return s;
  };
  auto numeric = [&](std::vector<double>& x) {
    std::vector<double> g(x.size());
    for (size_t i = 0; i < x.size(); ++i) {
      const double x0 = x[i];
      x[i] = x0 + 1e-5;
      const double up = loss();
      x[i] = x0 - 1e-5;
      const double down = loss();
      x[i] = x0;
      g[i] = (up - down) / 2e-5;
    }
    return g;
  };
  expect_close(got.dq, numeric(in.q), 1e-4, "dq by finite differences", 1e-5);
  expect_close(got.dk, numeric(in.k), 1e-4, "dk by finite differences", 1e-5);
  expect_close(got.dv, numeric(in.v), 1e-4, "dv by finite differences", 1e-5);
  expect_hidden_keys_zero(c, got, "finite differences");
}

// ---- ALiBi and soft-capping --------------------------------------------------------------------

// Slopes as ALiBi gives them for 4 heads (2^(-8 h / heads)), and a larger one.
const std::vector<double> kSlopes4 = {0.25, 0.0625, 0.015625, 1.5};

TEST(AttentionAlibiSoftcap, ForwardCpu) {
  for (bool causal : {false, true}) {
    Case c{.seq_q = 33, .seq_k = 47, .heads = 4, .kv_heads = 2, .dim = 64, .causal = causal};
    c.alibi = kSlopes4;
    check(c, {.backward = false});
    c.alibi = {};
    c.softcap = 2.5; // below the scores' range: the cap bends them
    check(c, {.backward = false});
    c.alibi = kSlopes4;
    c.softcap = 30; // Gemma 2's attention cap
    check(c, {.block_m = 0, .block_n = 0, .backward = false});
  }
  Case c{.seq_q = 20, .seq_k = 20, .heads = 4, .dim = 128, .alibi = kSlopes4, .softcap = 4};
  check(c, {.dtype = DType::bf16, .backward = false});
}

TEST(AttentionAlibiSoftcap, BackwardCpu) {
  for (bool causal : {false, true}) {
    Case c{.seq_q = 17, .seq_k = 40, .heads = 4, .kv_heads = 1, .dim = 32, .causal = causal};
    c.alibi = kSlopes4;
    check(c, {});
    c.alibi = {};
    c.softcap = 1.5;
    check(c, {});
  }
  Case c{.batch = 2, .seq_q = 24, .seq_k = 24, .heads = 4, .kv_heads = 2, .dim = 64};
  c.alibi = kSlopes4;
  c.softcap = 3;
  c.kv_lens = {24, 13};
  c.left = 9;
  check(c, {});
  check(c, {.dtype = DType::f16});
}

// The cap's derivative (1 - tanh²) and the bias in the reference, by central differences; the
// kernel matches the reference.
TEST(AttentionAlibiSoftcap, FiniteDifferences) {
  Case c{.seq_q = 4, .seq_k = 5, .heads = 2, .kv_heads = 1, .dim = 32};
  c.alibi = {0.5, 0.125};
  c.softcap = 0.8;
  Inputs in = random_inputs(c, DType::f32, 71);
  SeqResult got = run(c, {}, in);
  auto loss = [&] {
    auto out = reference(c, in.q, in.k, in.v, {}).out;
    double s = 0;
    for (size_t i = 0; i < out.size(); ++i)
      s += in.dout[i] * out[i];
    return s;
  };
  auto numeric = [&](std::vector<double>& x) {
    std::vector<double> g(x.size());
    for (size_t i = 0; i < x.size(); ++i) {
      const double x0 = x[i];
      x[i] = x0 + 1e-5;
      const double up = loss();
      x[i] = x0 - 1e-5;
      const double down = loss();
      x[i] = x0;
      g[i] = (up - down) / 2e-5;
    }
    return g;
  };
  expect_close(got.dq, numeric(in.q), 1e-4, "softcap dq by finite differences", 1e-5);
  expect_close(got.dk, numeric(in.k), 1e-4, "softcap dk by finite differences", 1e-5);
  expect_close(got.dv, numeric(in.v), 1e-4, "softcap dv by finite differences", 1e-5);
}

// ---- dq by atomics ------------------------------------------------------------------------------

TEST(AttentionAtomicDq, MatchesTheReferenceCpu) {
  const Mode atomics{.dq_mode = AttentionDq::atomics};
  for (bool causal : {false, true})
    check({.batch = 2,
           .seq_q = 33,
           .seq_k = 47,
           .heads = 4,
           .kv_heads = 2,
           .dim = 64,
           .causal = causal},
          atomics);
  Case c{.batch = 3, .seq_q = 17, .seq_k = 40, .heads = 2, .kv_heads = 1, .dim = 32};
  c.kv_lens = {40, 0, 23};
  c.key_mask = some_mask(c.batch, c.seq_k);
  c.alibi = {0.25, 0.5};
  c.softcap = 2;
  check(c, atomics);
  check({.seq_q = 20, .seq_k = 20, .heads = 2, .dim = 96},
        {.dtype = DType::bf16, .dq_mode = AttentionDq::atomics});
}

// The atomic path sums the same terms as the deterministic one in another order: equal within a
// reordering tolerance (a few f32 ulps of the row's terms), dk and dv bit-identical (same kernel).
TEST(AttentionAtomicDq, CloseToDeterministicCpu) {
  Case c{
      .batch = 2, .seq_q = 65, .seq_k = 65, .heads = 4, .kv_heads = 1, .dim = 64, .causal = true};
  Inputs in = random_inputs(c, DType::f32, 81);
  SeqResult a = run(c, {}, in);
  SeqResult b = run(c, {.dq_mode = AttentionDq::atomics}, in);
  expect_close(b.dq, a.dq, 1e-5, "atomic dq against deterministic dq", 1e-6);
  EXPECT_EQ(a.dk, b.dk);
  EXPECT_EQ(a.dv, b.dv);
}

// ---- the simulated device -----------------------------------------------------------------------

TEST(AttentionOptionsSim, MasksAlibiSoftcapAndAtomicDq) {
  TESSEL_REQUIRE_SIM_DEVICE();
  Case c{.batch = 2, .seq_q = 17, .seq_k = 20, .heads = 2, .kv_heads = 1, .dim = 32};
  c.kv_lens = {20, 9};
  c.key_mask = some_mask(c.batch, c.seq_k);
  c.causal = true;
  SimBankConflicts banks;
  check(c, {.dev = DeviceKind::sim});
  banks.expect_none("attention with kv_lens and a key mask");
  Case d{.seq_q = 17, .seq_k = 20, .heads = 2, .kv_heads = 1, .dim = 32};
  d.alibi = {0.25, 0.5};
  d.softcap = 2;
  SimBankConflicts banks2;
  check(d, {.dev = DeviceKind::sim});
  check(d, {.dev = DeviceKind::sim, .dq_mode = AttentionDq::atomics});
  banks2.expect_none("attention with alibi and softcap, dq deterministic and by atomics");
  // bf16: correct, but the backward's kernels take conflicting wavefronts in the simulator (128 in
  // dk/dv, 64 in dq here; the f32 runs above take none): ld.shared.b32 pairs two-way conflicting
  // where the pipelined loop reads back its cp.async-staged 16-bit q/dout chunks (load_chunks in
  // the for_range; codegen's staging layout). Not asserted until codegen fixes that.
  check(d, {.dev = DeviceKind::sim, .dtype = DType::bf16});
}

// The dk/dv kernel with the atomic dq adds at the GPU tiles attention_backward picks: no spills at
// head_dim 64 on both targets, and the relaxed atomic adds in the PTX.
TEST(AttentionAtomicDqPtx, NoSpills) {
  TESSEL_REQUIRE_CUDA_TOOLKIT();
  for (const char* target : {"sm_80", "sm_90a"}) {
    const int64_t flags = ops::detail::kAttentionBand | ops::detail::kAttentionAtomicDq |
                          ops::detail::kAttentionSoftcap | ops::detail::kAttentionAlibi;
    auto module = trace_dsl(ops::detail::attention_backward_dkdv_kernel(), {flags, 64, 32, 32, 16},
                            DType::f16);
    codegen::gpu::CompileOptions opts;
    opts.num_warps = 4;
    auto out =
        codegen::gpu::compile(*module->functions.front(), codegen::parse_target(target), opts);
    EXPECT_TRUE(out.resources.parsed) << out.info_log;
    EXPECT_EQ(out.resources.spill_stores, 0) << target;
    EXPECT_EQ(out.resources.spill_loads, 0) << target;
    // (trace_dsl gives every pointer the f16 type: the add is an f16 one here, f32 in the op.)
    EXPECT_NE(out.ptx.find("red.relaxed.gpu.global.add"), std::string::npos)
        << target << ": no relaxed atomic add in the PTX";
  }
}

// ---- bad input ----------------------------------------------------------------------------------

struct Views {
  std::vector<float> data = std::vector<float>(2 * 8 * 4 * 32, 0.5f);
  TensorView t(std::initializer_list<int64_t> shape) { return TensorView(data.data(), shape); }
};

TEST(AttentionOptionsErrors, AlibiWrongLength) {
  Views in;
  TensorView x = in.t({2, 8, 4, 32}), slopes = in.t({3});
  // The call site the message names, passed explicitly so that its line is known here.
  const auto here = std::source_location::current();
  expect_error([&] { ops::attention(x, x, x, x, {.alibi_slopes = slopes}, nullptr, here); },
               {"attention_options_test.cpp:" + std::to_string(here.line()),
                "attention: alibi_slopes has shape [3]; expected [4] (one slope per q head)"});
}

TEST(AttentionOptionsErrors, AlibiWrongDtype) {
  Views in;
  TensorView x = in.t({2, 8, 4, 32});
  std::vector<int32_t> slopes(4, 1);
  expect_error(
      [&] { ops::attention(x, x, x, x, {.alibi_slopes = TensorView(slopes.data(), {4})}); },
      {"attention: alibi_slopes has dtype i32; expected f32"});
}

TEST(AttentionOptionsErrors, AlibiNotContiguous) {
  Views in;
  TensorView x = in.t({2, 8, 4, 32}), slopes = in.t({4});
  slopes.strides[0] = 2;
  expect_error([&] { ops::attention(x, x, x, x, {.alibi_slopes = slopes}); },
               {"attention: alibi_slopes has stride 2; expected a contiguous [4]"});
}

TEST(AttentionOptionsErrors, SoftcapNegative) {
  Views in;
  TensorView x = in.t({2, 8, 4, 32});
  expect_error([&] { ops::attention(x, x, x, x, {.softcap = -1}); },
               {"attention: softcap is -1; expected 0 (no soft-capping) or a finite number > 0"});
}

TEST(AttentionOptionsErrors, SoftcapNotFinite) {
  Views in;
  TensorView x = in.t({2, 8, 4, 32}), l = in.t({2, 4, 8});
  expect_error(
      [&] { ops::attention_backward(x, x, x, x, x, l, x, x, x, {.softcap = NAN}); },
      {"attention_backward: softcap is nan; expected 0 (no soft-capping) or a finite number > 0"});
}

TEST(AttentionOptionsErrors, AtomicDqNotF32) {
  Views in;
  TensorView x = in.t({2, 8, 4, 32}), l = in.t({2, 4, 8});
  std::vector<uint16_t> half(2 * 8 * 4 * 32);
  TensorView dq(half.data(), DType::f16, {2, 8, 4, 32});
  expect_error(
      [&] {
        ops::attention_backward(x, x, x, x, x, l, dq, x, x, {.dq_mode = AttentionDq::atomics});
      },
      {"attention_backward: dq has dtype f16 with dq_mode = atomics; the atomics accumulate in "
       "f32: pass an f32 dq, or dq_mode = deterministic"});
}

TEST(AttentionOptionsErrors, BackwardKeyMaskShape) {
  Views in;
  TensorView x = in.t({2, 8, 4, 32}), l = in.t({2, 4, 8});
  expect_error(
      [&] {
        ops::attention_backward(x, x, x, x, x, l, x, x, x, {.key_padding_mask = in.t({2, 7})});
      },
      {"attention_backward: key_padding_mask has shape [2, 7]; expected [2, 8] (batch, "
       "seqlen_k)"});
}

} // namespace
} // namespace tessel::testing
