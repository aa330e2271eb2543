// ops::attention and attention_backward with variable-length batches (cu_seqlens_q/k, packed
// [total_tokens, heads, head_dim]) and with dropout (Philox keep bits regenerated in the backward),
// against the f64 reference of attention_reference.h applied entry by entry with the same keep
// bits computed on the host: ragged lengths (0, 1, 17, 40) against 16 x 16 tiles, causal and
// windows, GQA, f32 and bf16, padded strides; the simulated device (memcheck and racecheck on);
// every varlen and dropout diagnostic with its message.
#include "ops_test_util.h"

#include "attention_reference.h"
#include "gpu/gpu_test_util.h"
#include "stdlib/common/kernels.h"
#include "support/expect_error.h"
#include "tessel/ops.h"

#include <fmt/format.h>

#include <algorithm>
#include <numeric>

namespace tessel::testing {
namespace {

using ops::AttentionOptions;

struct Case {
  std::vector<int64_t> lens_q, lens_k; // per batch entry
  int64_t heads = 2, kv_heads = 1, dim = 32;
  bool causal = false;
  int64_t left = -1, right = -1;
  float p = 0; // dropout
  uint64_t seed = 0, offset = 0;
};

struct Mode {
  DeviceKind dev = DeviceKind::cpu;
  DType dtype = DType::f32;
  bool dense = false;    // [batch, seqlen, heads, head_dim] without cu_seqlens (equal lengths)
  bool pass_max = false; // max_seqlen_q/k given (else read from cu_seqlens on the host)
  int64_t pad = 0;
  int block_m = 16, block_n = 16;
  bool backward = false;
};

std::vector<double> prefix(const std::vector<int64_t>& lens) {
  std::vector<double> cu{0};
  for (int64_t l : lens)
    cu.push_back(cu.back() + double(l));
  return cu;
}

std::string describe(const Case& c, const Mode& m) {
  std::string lens;
  for (size_t b = 0; b < c.lens_q.size(); ++b)
    lens += fmt::format(" {}x{}", c.lens_q[b], c.lens_k[b]);
  return fmt::format("{}{} h{}/{} d{}{}{}{}{}", dtype_name(m.dtype), m.dense ? " dense" : " varlen",
                     c.heads, c.kv_heads, c.dim, lens, c.causal ? " causal" : "",
                     c.left >= 0 || c.right >= 0 ? fmt::format(" window({},{})", c.left, c.right)
                                                 : "",
                     c.p > 0 ? fmt::format(" dropout {}", c.p) : "");
}

// The packed values of rows [begin, begin + n) of a [tokens, heads, dim] array.
std::vector<double> rows_of(const std::vector<double>& x, int64_t row_size, int64_t begin,
                            int64_t n) {
  return {x.begin() + begin * row_size, x.begin() + (begin + n) * row_size};
}

void put_rows(std::vector<double>& x, int64_t row_size, int64_t begin,
              const std::vector<double>& rows) {
  std::copy(rows.begin(), rows.end(), x.begin() + begin * row_size);
}

struct Expected {
  std::vector<double> out, lse, dq, dk, dv;
};

Expected expected(const Case& c, const Mode& m, const std::vector<double>& q,
                  const std::vector<double>& k, const std::vector<double>& v,
                  const std::vector<double>& dout) {
  auto cu_q = prefix(c.lens_q), cu_k = prefix(c.lens_k);
  const int64_t total_q = int64_t(cu_q.back()), total_k = int64_t(cu_k.back());
  const int64_t qrow = c.heads * c.dim, krow = c.kv_heads * c.dim;
  Expected e{std::vector<double>(q.size()), std::vector<double>(size_t(c.heads * total_q)),
             std::vector<double>(q.size()), std::vector<double>(k.size()),
             std::vector<double>(k.size())};
  for (size_t b = 0; b < c.lens_q.size(); ++b) {
    const int64_t q0 = int64_t(cu_q[b]), k0 = int64_t(cu_k[b]), sq = c.lens_q[b];
    // The lse row and key index of the dropout counter (attention.h).
    auto lse_row = [&](int64_t h, int64_t i) {
      return m.dense ? (int64_t(b) * c.heads + h) * sq + i : h * total_q + q0 + i;
    };
    SeqProblem p{sq, c.lens_k[b], c.heads, c.kv_heads, c.dim, c.causal, c.left, c.right};
    if (c.p > 0) {
      p.p = c.p;
      p.keep = [&, k0](int64_t h, int64_t i, int64_t j) {
        return attention_keep(c.seed, c.offset, lse_row(h, i), total_k, k0 + j, c.p);
      };
      if (m.dense)
        p.keep = [&](int64_t h, int64_t i, int64_t j) {
          return attention_keep(c.seed, c.offset, lse_row(h, i), c.lens_k[b], j, c.p);
        };
    }
    SeqResult r = seq_reference(p, rows_of(q, qrow, q0, sq), rows_of(k, krow, k0, c.lens_k[b]),
                                rows_of(v, krow, k0, c.lens_k[b]),
                                dout.empty() ? std::vector<double>{} : rows_of(dout, qrow, q0, sq));
    put_rows(e.out, qrow, q0, r.out);
    put_rows(e.dq, qrow, q0, r.dq);
    put_rows(e.dk, krow, k0, r.dk);
    put_rows(e.dv, krow, k0, r.dv);
    for (int64_t h = 0; h < c.heads; ++h)
      for (int64_t i = 0; i < sq; ++i)
        e.lse[size_t(lse_row(h, i))] = r.lse[size_t(h * sq + i)];
  }
  return e;
}

double tol_for(DType t, bool grads) {
  if (grads)
    return t == DType::f32 ? 1e-4 : 6e-2;
  return t == DType::f32 ? 2e-5 : 3e-2;
}

void check(const Case& c, const Mode& m) {
  auto cu_q = prefix(c.lens_q), cu_k = prefix(c.lens_k);
  const int64_t batch = int64_t(c.lens_q.size());
  const int64_t total_q = int64_t(cu_q.back()), total_k = int64_t(cu_k.back());
  const uint32_t seed = uint32_t(total_q * 7 + total_k * 3 + c.dim);
  const DType t = m.dtype;
  auto q0 = rounded(random_values(size_t(total_q * c.heads * c.dim), seed, -2, 2), t);
  auto k0 = rounded(random_values(size_t(total_k * c.kv_heads * c.dim), seed + 1, -2, 2), t);
  auto v0 = rounded(random_values(size_t(total_k * c.kv_heads * c.dim), seed + 2, -2, 2), t);
  std::vector<int64_t> qs{total_q, c.heads, c.dim}, ks{total_k, c.kv_heads, c.dim};
  std::vector<int64_t> lse_shape{c.heads, total_q};
  if (m.dense) {
    qs = {batch, c.lens_q[0], c.heads, c.dim};
    ks = {batch, c.lens_k[0], c.kv_heads, c.dim};
    lse_shape = {batch, c.heads, c.lens_q[0]};
  }
  TestTensor q(m.dev, t, qs, q0, m.pad), k(m.dev, t, ks, k0, m.pad), v(m.dev, t, ks, v0, m.pad);
  auto out = TestTensor::poisoned(m.dev, t, qs, m.pad);
  auto lse = TestTensor::poisoned(m.dev, DType::f32, lse_shape);
  TestTensor cuq(m.dev, DType::i32, {batch + 1}, cu_q), cuk(m.dev, DType::i32, {batch + 1}, cu_k);
  AttentionOptions o{.causal = c.causal,
                     .window_left = c.left,
                     .window_right = c.right,
                     .dropout_p = c.p,
                     .dropout_seed = c.seed,
                     .dropout_offset = c.offset,
                     .block_m = m.block_m,
                     .block_n = m.block_n};
  if (!m.dense) {
    o.cu_seqlens_q = cuq.view();
    o.cu_seqlens_k = cuk.view();
    if (m.pass_max) {
      o.max_seqlen_q = *std::max_element(c.lens_q.begin(), c.lens_q.end());
      o.max_seqlen_k = *std::max_element(c.lens_k.begin(), c.lens_k.end());
    }
  }
  AttentionOptions fwd = o;
  fwd.lse = lse.view();
  ops::attention(q.view(), k.view(), v.view(), out.view(), fwd);
  const std::string what = describe(c, m);
  std::vector<double> do0;
  if (m.backward)
    do0 = rounded(random_values(q0.size(), seed + 3, -1, 1), t);
  Expected want = expected(c, m, q0, k0, v0, do0);
  expect_close(out.values(), want.out, tol_for(t, false), what + " out", tol_for(t, false));
  EXPECT_TRUE(out.padding_untouched()) << what;
  auto got_lse = lse.values();
  for (size_t i = 0; i < got_lse.size(); ++i) {
    if (std::isinf(want.lse[i])) {
      ASSERT_EQ(got_lse[i], want.lse[i]) << what << " lse " << i;
      continue;
    }
    ASSERT_NEAR(got_lse[i], want.lse[i], 2e-5 * (std::fabs(want.lse[i]) + 4))
        << what << " lse " << i;
  }
  if (!m.backward)
    return;
  TestTensor dout(m.dev, t, qs, do0, m.pad);
  auto dq = TestTensor::poisoned(m.dev, t, qs, m.pad);
  auto dk = TestTensor::poisoned(m.dev, t, ks, m.pad);
  auto dv = TestTensor::poisoned(m.dev, t, ks, m.pad);
  ops::attention_backward(q.view(), k.view(), v.view(), out.view(), dout.view(), lse.view(),
                          dq.view(), dk.view(), dv.view(), o);
  const double tol = tol_for(t, true);
  expect_close(dq.values(), want.dq, tol, what + " dq", tol);
  expect_close(dk.values(), want.dk, tol, what + " dk", tol);
  expect_close(dv.values(), want.dv, tol, what + " dv", tol);
  EXPECT_TRUE(dq.padding_untouched() && dk.padding_untouched() && dv.padding_untouched()) << what;
}

// ---- varlen -------------------------------------------------------------------------------------

TEST(AttentionVarlen, RaggedEntriesCpu) {
  // An empty entry, a single token, entries longer and shorter than their keys, one longer than a
  // tile: each entry is its own sequence (its own bottom-right diagonal).
  Case c{.lens_q = {17, 0, 1, 40, 9},
         .lens_k = {17, 5, 33, 40, 2},
         .heads = 4,
         .kv_heads = 2,
         .dim = 64};
  for (bool causal : {false, true}) {
    c.causal = causal;
    check(c, {});
    check(c, {.dtype = DType::bf16, .pass_max = true, .pad = 8, .block_m = 0, .block_n = 0});
  }
  c.causal = false;
  c.left = 6;
  c.right = 2;
  check(c, {.pass_max = true});
}

TEST(AttentionVarlen, BackwardCpu) {
  Case c{.lens_q = {17, 1, 0, 24}, .lens_k = {20, 1, 3, 24}, .heads = 2, .kv_heads = 1, .dim = 32};
  for (bool causal : {false, true}) {
    c.causal = causal;
    check(c, {.backward = true});
  }
  c.causal = false;
  c.left = 4;
  c.right = 0;
  check(c, {.dtype = DType::bf16, .pad = 8, .backward = true});
}

// On the simulated device (forward and backward), without bank conflicts (SimBankConflicts).
TEST(AttentionVarlen, SimulatedDevice) {
  TESSEL_REQUIRE_SIM_DEVICE();
  SimBankConflicts banks;
  Case c{.lens_q = {5, 0, 17},
         .lens_k = {9, 2, 17},
         .heads = 2,
         .kv_heads = 1,
         .dim = 32,
         .causal = true};
  check(c, {.dev = DeviceKind::sim, .pass_max = true, .backward = true});
  banks.expect_none("attention varlen");
}

// ---- dropout ------------------------------------------------------------------------------------

TEST(AttentionDropout, ForwardAndBackwardCpu) {
  Case c{.lens_q = {17, 17},
         .lens_k = {33, 33},
         .heads = 2,
         .kv_heads = 1,
         .dim = 32,
         .p = 0.25f,
         .seed = 0x1234'5678'9abcULL,
         .offset = 77};
  check(c, {.dense = true, .backward = true});
  c.causal = true;
  c.p = 0.6f;
  check(c, {.dense = true, .backward = true});
  check(c, {.dtype = DType::bf16, .dense = true, .block_m = 0, .block_n = 0});
}

TEST(AttentionDropout, WithVarlen) {
  Case c{.lens_q = {9, 0, 20},
         .lens_k = {12, 4, 20},
         .heads = 2,
         .kv_heads = 2,
         .dim = 32,
         .causal = true,
         .p = 0.3f,
         .seed = 5,
         .offset = 1ULL << 33};
  check(c, {.backward = true});
}

// p = 0 is the kernel without dropout: the same bits as not asking for it, whatever the seed.
TEST(AttentionDropout, ZeroProbabilityIsThePlainKernel) {
  const std::vector<int64_t> shape{1, 17, 2, 32};
  auto x = random_values(17 * 2 * 32, 9);
  TestTensor q(DeviceKind::cpu, DType::f32, shape, x), k(DeviceKind::cpu, DType::f32, shape, x);
  auto a = TestTensor::poisoned(DeviceKind::cpu, DType::f32, shape);
  auto b = TestTensor::poisoned(DeviceKind::cpu, DType::f32, shape);
  ops::attention(q.view(), k.view(), k.view(), a.view(), {.causal = true});
  ops::attention(q.view(), k.view(), k.view(), b.view(),
                 {.causal = true, .dropout_p = 0, .dropout_seed = 99});
  EXPECT_EQ(a.values(), b.values());
}

// The kept fraction is about 1 - p: the mask is not all-keep or all-drop (which the reference
// comparison above would also pass if the kernel and the reference both ignored p).
TEST(AttentionDropout, KeepsAboutOneMinusP) {
  int kept = 0, n = 0;
  for (int64_t row = 0; row < 64; ++row)
    for (int64_t key = 0; key < 64; ++key, ++n)
      kept += attention_keep(7, 0, row, 64, key, 0.25f);
  EXPECT_NEAR(double(kept) / n, 0.75, 0.03);
}

// The reference's gradients with a fixed keep mask are the derivative of sum(dout ∘ out): central
// differences on a tiny shape check them (and so the kernels, which match them above).
TEST(AttentionDropout, ReferenceGradientsByFiniteDifferences) {
  SeqProblem p{3, 5, 2, 1, 32, /*causal=*/true};
  p.p = 0.4f;
  p.keep = [](int64_t h, int64_t i, int64_t j) {
    return attention_keep(21, 0, h * 3 + i, 5, j, 0.4f);
  };
  auto q0 = random_values(3 * 2 * 32, 61, -1, 1), k0 = random_values(5 * 32, 62, -1, 1);
  auto v0 = random_values(5 * 32, 63, -1, 1), do0 = random_values(3 * 2 * 32, 64, -1, 1);
  SeqResult r = seq_reference(p, q0, k0, v0, do0);
  auto loss = [&] {
    auto out = seq_reference(p, q0, k0, v0).out;
    double s = 0;
    for (size_t i = 0; i < out.size(); ++i)
      s += do0[i] * out[i];
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
  expect_close(r.dq, numeric(q0), 1e-5, "dropout dq by finite differences", 1e-6);
  expect_close(r.dk, numeric(k0), 1e-5, "dropout dk by finite differences", 1e-6);
  expect_close(r.dv, numeric(v0), 1e-5, "dropout dv by finite differences", 1e-6);
}

TEST(AttentionDropout, SimulatedDevice) {
  TESSEL_REQUIRE_SIM_DEVICE();
  Case c{.lens_q = {9},
         .lens_k = {20},
         .heads = 1,
         .kv_heads = 1,
         .dim = 32,
         .p = 0.5f,
         .seed = 3,
         .offset = 11};
  check(c, {.dev = DeviceKind::sim, .dense = true, .backward = true});
}

// ---- bad input ----------------------------------------------------------------------------------

struct Packed {
  std::vector<float> data = std::vector<float>(64 * 4 * 32, 0.5f);
  std::vector<int32_t> cu_q = {0, 10, 30}, cu_k = {0, 20, 40};
  TensorView x() { return TensorView(data.data(), {40, 4, 32}); }
  AttentionOptions options() {
    return {.cu_seqlens_q = TensorView(cu_q.data(), {int64_t(cu_q.size())}),
            .cu_seqlens_k = TensorView(cu_k.data(), {int64_t(cu_k.size())})};
  }
};

TEST(AttentionVarlenErrors, NonMonotone) {
  Packed in;
  in.cu_q = {0, 12, 7};
  int line = __LINE__ + 1;
  expect_error([&] { ops::attention(in.x(), in.x(), in.x(), in.x(), in.options()); },
               {"attention_varlen_test.cpp:" + std::to_string(line),
                "attention: cu_seqlens_q[2] = 7 is less than cu_seqlens_q[1] = 12; expected "
                "non-decreasing prefix sums of the sequence lengths"});
}

TEST(AttentionVarlenErrors, NegativeStart) {
  Packed in;
  in.cu_k = {-1, 20, 40};
  expect_error([&] { ops::attention(in.x(), in.x(), in.x(), in.x(), in.options()); },
               {"attention: cu_seqlens_k[0] is -1; expected a non-negative token index"});
}

TEST(AttentionVarlenErrors, PastTheTokens) {
  Packed in;
  in.cu_k = {0, 20, 41};
  expect_error([&] { ops::attention(in.x(), in.x(), in.x(), in.x(), in.options()); },
               {"attention: cu_seqlens_k[2] = 41 is past k's 40 tokens"});
}

TEST(AttentionVarlenErrors, WrongSize) {
  Packed in;
  in.cu_k = {0, 20, 30, 40};
  expect_error([&] { ops::attention(in.x(), in.x(), in.x(), in.x(), in.options()); },
               {"attention: cu_seqlens_k has shape [4] but cu_seqlens_q has [3]; expected one "
                "entry per batch entry plus one in both"});
  in.cu_q = {0};
  in.cu_k = {0};
  expect_error([&] { ops::attention(in.x(), in.x(), in.x(), in.x(), in.options()); },
               {"attention: cu_seqlens_q has shape [1]; expected [batch + 1]"});
}

TEST(AttentionVarlenErrors, WrongDtype) {
  Packed in;
  std::vector<float> cu = {0, 10, 30};
  AttentionOptions o = in.options();
  o.cu_seqlens_q = TensorView(cu.data(), {3});
  expect_error([&] { ops::attention(in.x(), in.x(), in.x(), in.x(), o); },
               {"attention: cu_seqlens_q has dtype f32; expected i32"});
}

TEST(AttentionVarlenErrors, OnlyOneGiven) {
  Packed in;
  AttentionOptions o = in.options();
  o.cu_seqlens_k = {};
  expect_error([&] { ops::attention(in.x(), in.x(), in.x(), in.x(), o); },
               {"attention: cu_seqlens_q is given but cu_seqlens_k is not; varlen needs both"});
}

TEST(AttentionVarlenErrors, MaxSeqlenTooSmall) {
  Packed in;
  AttentionOptions o = in.options();
  o.max_seqlen_q = 16;
  expect_error([&] { ops::attention(in.x(), in.x(), in.x(), in.x(), o); },
               {"attention: cu_seqlens_q has a sequence of 20 tokens but max_seqlen_q is 16"});
}

TEST(AttentionVarlenErrors, Rank) {
  Packed in;
  TensorView q4(in.data.data(), {1, 40, 4, 32});
  expect_error([&] { ops::attention(q4, in.x(), in.x(), q4, in.options()); },
               {"attention: q has shape [1, 40, 4, 32]; expected rank 3 ([total_tokens, heads, "
                "head_dim]) with cu_seqlens (varlen)"});
}

TEST(AttentionVarlenErrors, WithKvLens) {
  Packed in;
  AttentionOptions o = in.options();
  o.kv_lens = TensorView(in.cu_q.data(), {2});
  expect_error([&] { ops::attention(in.x(), in.x(), in.x(), in.x(), o); },
               {"attention: kv_lens or key_padding_mask is given with cu_seqlens (varlen)"});
}

TEST(AttentionVarlenErrors, Bhsd) {
  Packed in;
  AttentionOptions o = in.options();
  o.layout = ops::AttentionLayout::bhsd;
  expect_error([&] { ops::attention(in.x(), in.x(), in.x(), in.x(), o); },
               {"attention: layout is bhsd with cu_seqlens (varlen)"});
}

TEST(AttentionVarlenErrors, BadLseShape) {
  Packed in;
  AttentionOptions o = in.options();
  o.lse = TensorView(in.data.data(), {1, 4, 40});
  expect_error([&] { ops::attention(in.x(), in.x(), in.x(), in.x(), o); },
               {"attention: lse has shape [1, 4, 40]; expected [4, 40] (heads, total_q) with "
                "cu_seqlens"});
}

TEST(AttentionVarlenErrors, DeviceViewsNeedMaxSeqlen) {
  TESSEL_REQUIRE_SIM_DEVICE();
  TestTensor x(DeviceKind::sim, DType::f32, {40, 4, 32}, random_values(40 * 128, 1));
  TestTensor cuq(DeviceKind::sim, DType::i32, {3}, {0, 10, 30});
  TestTensor cuk(DeviceKind::sim, DType::i32, {3}, {0, 20, 40});
  AttentionOptions o{.cu_seqlens_q = cuq.view(), .cu_seqlens_k = cuk.view(), .max_seqlen_k = 20};
  expect_error([&] { ops::attention(x.view(), x.view(), x.view(), x.view(), o); },
               {"attention: max_seqlen_q is 0 but cu_seqlens_q is on device sim; pass "
                "max_seqlen_q"});
}

TEST(AttentionDropoutErrors, ProbabilityOutOfRange) {
  Packed in;
  TensorView x(in.data.data(), {2, 10, 4, 32});
  for (float p : {1.0f, -0.5f, NAN})
    expect_error([&] { ops::attention(x, x, x, x, {.dropout_p = p}); },
                 {"attention: dropout_p is", "expected a probability in [0, 1) (0: no dropout)"});
}

// The forward and both backward kernels with varlen and with dropout (causal) at the GPU tiles
// the ops pick (attention.cpp's tiles_for: forward 32 x 16 at 4 warps for head_dim 64, 16 x 16 at
// 2 above; backward 4 warps): zero spills and no local memory for sm_80 and sm_90a.
TEST(AttentionVarlenPtx, NoSpills) {
  TESSEL_REQUIRE_CUDA_TOOLKIT();
  using namespace ops::detail;
  for (const char* target : {"sm_80", "sm_90a"})
    for (int64_t dim : {64, 128})
      for (int64_t extra : {kAttentionVarlen, kAttentionDropout}) {
        const int64_t bm = dim > 64 ? 16 : 32;
        std::string what = fmt::format("{} head_dim {} flags {}", target, dim, extra);
        auto fwd =
            trace_dsl(attention_forward_kernel(),
                      {kAttentionSaveLse | kAttentionBand | extra, dim, 32, bm, 16}, DType::f16);
        expect_lean_ptx(*fwd, target, dim > 64 ? 2 : 4, "forward " + what);
        for (const Kernel* k :
             {&attention_backward_dkdv_kernel(), &attention_backward_dq_kernel()}) {
          auto module = trace_dsl(*k, {kAttentionBand | extra, dim, 32, bm, 16}, DType::f16);
          codegen::gpu::CompileOptions opts;
          opts.num_warps = 4;
          auto out = codegen::gpu::compile(*module->functions.front(),
                                           codegen::parse_target(target), opts);
          EXPECT_TRUE(out.resources.parsed) << out.info_log;
          EXPECT_EQ(out.resources.spill_stores, 0) << k->name() << " " << what;
          EXPECT_EQ(out.resources.spill_loads, 0) << k->name() << " " << what;
          EXPECT_EQ(codegen::gpu::ptx_stats(out.ptx).get("local"), 0) << k->name() << " " << what;
        }
      }
}

} // namespace
} // namespace tessel::testing
