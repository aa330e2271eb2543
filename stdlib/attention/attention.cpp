// attention (attention.h): the argument checks, the tile heuristic and the launch of the forward
// kernel (attention_kernels.cpp).
#include "tessel/ops/attention.h"

#include "stdlib/common/args.h"
#include "stdlib/common/kernels.h"

#include <fmt/format.h>

#include <algorithm>
#include <climits>
#include <cmath>

namespace tessel::ops {
namespace {

using detail::OpSite;

// One of q, k, v, out seen through the layout: sizes and strides in (batch, seq, head) order.
struct Heads {
  int64_t batch, seq, heads, dim;
  int64_t s_batch, s_seq, s_head;
};

Heads heads_of(const OpSite& s, const char* arg, const TensorView& v, AttentionLayout layout) {
  detail::check_float(s, arg, v);
  const bool bshd = layout == AttentionLayout::bshd;
  if (v.rank != 4)
    s.fail(fmt::format("{} has shape {}; expected rank 4 ({})", arg, detail::shape_str(v),
                       bshd ? "[batch, seqlen, heads, head_dim]"
                            : "[batch, heads, seqlen, head_dim] (layout = bhsd)"));
  if (v.shape[3] > 1 && v.strides[3] != 1)
    s.fail(fmt::format("{}'s head_dim has stride {}; head_dim must be contiguous (stride 1): copy "
                       "{} to a contiguous tensor first",
                       arg, v.strides[3], arg));
  const int seq = bshd ? 1 : 2, head = bshd ? 2 : 1;
  Heads h{v.shape[0],   v.shape[seq],   v.shape[head],  v.shape[3],
          v.strides[0], v.strides[seq], v.strides[head]};
  for (int64_t stride : {h.s_batch, h.s_seq, h.s_head})
    if (stride < 0 || stride > INT32_MAX)
      s.fail(
          fmt::format("{} has a stride of {}; the kernel takes strides in [0, 2^31)", arg, stride));
  if (v.data == nullptr && v.numel() > 0)
    s.fail(fmt::format("{} has shape {} but a null data pointer", arg, detail::shape_str(v)));
  return h;
}

void check_head_dim(const OpSite& s, int64_t dim) {
  for (int64_t d : {32, 64, 96, 128, 256})
    if (dim == d)
      return;
  s.fail(fmt::format("q has head_dim {}; supported head dims are 32, 64, 96, 128 and 256", dim));
}

std::string dims_str(const Heads& h) {
  return fmt::format("batch {}, seqlen {}, heads {}, head_dim {}", h.batch, h.seq, h.heads, h.dim);
}

void check_kv(const OpSite& s, const Heads& q, const Heads& k, const Heads& v) {
  if (k.batch != q.batch || k.dim != q.dim)
    s.fail(fmt::format("k has {} but q has {}; expected the same batch and head_dim", dims_str(k),
                       dims_str(q)));
  if (v.batch != k.batch || v.seq != k.seq || v.heads != k.heads || v.dim != k.dim)
    s.fail(fmt::format("v has {} but k has {}; expected the same shape", dims_str(v), dims_str(k)));
  if (k.heads == 0 || q.heads % k.heads != 0)
    s.fail(fmt::format("q has {} heads but k and v have {}; the kv heads must divide the q heads "
                       "(GQA; 1 for MQA)",
                       q.heads, k.heads));
}

void check_same_dtype(const OpSite& s, const char* arg, const TensorView& v, const TensorView& q) {
  if (v.dtype != q.dtype)
    s.fail(fmt::format("{} has dtype {} but q has {}; q, k and v must share one dtype", arg,
                       dtype_name(v.dtype), dtype_name(q.dtype)));
}

void check_lse(const OpSite& s, const TensorView& lse, const TensorView& q, const Heads& qh) {
  detail::check_dtype(s, "lse", lse, DType::f32);
  if (lse.rank != 3 || lse.shape[0] != qh.batch || lse.shape[1] != qh.heads ||
      lse.shape[2] != qh.seq)
    s.fail(fmt::format("lse has shape {}; expected [{}, {}, {}] (batch, heads, seqlen_q)",
                       detail::shape_str(lse), qh.batch, qh.heads, qh.seq));
  int64_t expected = 1;
  for (int i = 2; i >= 0; --i) {
    if (lse.shape[i] != 1 && lse.strides[i] != expected)
      s.fail(fmt::format("lse has strides [{}, {}, {}]; expected a contiguous tensor",
                         lse.strides[0], lse.strides[1], lse.strides[2]));
    expected *= lse.shape[i];
  }
  detail::check_device(s, "lse", lse, "q", q);
}

void check_kv_lens(const OpSite& s, const TensorView& lens, const TensorView& q, int64_t batch) {
  detail::check_dtype(s, "kv_lens", lens, DType::i32);
  if (lens.rank != 1 || lens.shape[0] != batch)
    s.fail(fmt::format("kv_lens has shape {}; expected [{}] (one length per batch entry)",
                       detail::shape_str(lens), batch));
  detail::check_device(s, "kv_lens", lens, "q", q);
}

void check_key_mask(const OpSite& s, const TensorView& mask, const TensorView& q, int64_t batch,
                    int64_t seqlen_k) {
  if (mask.dtype == DType::f64)
    s.fail("key_padding_mask has dtype f64; expected an integer, bool or f32/f16/bf16 mask");
  if (mask.rank != 2 || mask.shape[0] != batch || mask.shape[1] != seqlen_k)
    s.fail(fmt::format("key_padding_mask has shape {}; expected [{}, {}] (batch, seqlen_k)",
                       detail::shape_str(mask), batch, seqlen_k));
  if (seqlen_k > 1 && mask.strides[1] != 1)
    s.fail(fmt::format("key_padding_mask's seqlen_k dimension has stride {}; expected 1",
                       mask.strides[1]));
  detail::check_device(s, "key_padding_mask", mask, "q", q);
}

// The band of visible keys as the kernel takes it: bounds clamped to what the sequences can
// reach (an unbounded side is seqlen_q + seqlen_k), or nothing when every key is visible.
struct Band {
  bool on = false;
  int64_t left = 0, right = 0;
};

Band band_of(const OpSite& s, const AttentionOptions& o, int64_t seqlen_q, int64_t seqlen_k) {
  if (o.causal && o.window_right > 0)
    s.fail(fmt::format("causal is set and window_right is {}; causal means window_right = 0: set "
                       "one of them",
                       o.window_right));
  Band b;
  b.on = o.causal || o.window_left >= 0 || o.window_right >= 0;
  const int64_t reach = seqlen_q + seqlen_k;
  b.left = o.window_left < 0 ? reach : std::min(o.window_left, reach);
  b.right = o.causal ? 0 : o.window_right < 0 ? reach : std::min(o.window_right, reach);
  return b;
}

bool is_tile(int b) {
  return b >= 16 && b <= 128 && (b & (b - 1)) == 0;
}

int next_pow2_at_least_16(int64_t n) {
  int p = 16;
  while (p < n && p < 128)
    p *= 2;
  return p;
}

// Tiles: 64 x 64 on the CPU (the Q tile and a K/V tile of head_dim 128 in f32 are 64 KB, within
// L2). On a GPU, while dot is an FMA loop that holds whole operand rows in registers, head_dim
// goes in chunks of 32 and the tiles are the largest measured without spills and with 16-byte
// loads on sm_80 and sm_90a, causal or not: 32 query rows x 16 keys at 4 warps at head_dim 64,
// 16 x 16 at 2 warps above (32 x 32 spills at 64, 32 x 16 spills with the band at 128, and 16 x 16
// at 4 warps leaves each thread 8 bytes of a row: no 16-byte loads).
// Never more rows or keys than the sequences have.
struct Tiles {
  int m, n, dchunk, num_warps;
};

Tiles tiles_for(const OpSite& s, const AttentionOptions& o, DeviceKind dev, int64_t dim,
                int64_t seqlen_q, int64_t seqlen_k) {
  for (auto [name, b] : {std::pair{"block_m", o.block_m}, std::pair{"block_n", o.block_n}})
    if (b != 0 && !is_tile(b))
      s.fail(fmt::format("{} is {}; expected 0 (chosen from the shape) or a power of two from 16 "
                         "to 128",
                         name, b));
  const bool cpu = dev == DeviceKind::cpu;
  int m = cpu ? 64 : dim > 64 ? 16 : 32, n = cpu ? (dim > 128 ? 32 : 64) : 16;
  m = std::min(m, next_pow2_at_least_16(seqlen_q));
  n = std::min(n, next_pow2_at_least_16(seqlen_k));
  // head_dim columns per dot: all of them on the CPU (96: three chunks of 32), 32 on a GPU.
  int dchunk = cpu && dim != 96 ? int(dim) : 32;
  int num_warps = cpu || dim <= 64 ? 4 : 2;
  return {o.block_m ? o.block_m : m, o.block_n ? o.block_n : n, dchunk, num_warps};
}

int flags(bool band, bool kv_lens, bool key_mask, bool save_lse) {
  return (band ? detail::kAttentionBand : 0) | (kv_lens ? detail::kAttentionKvLens : 0) |
         (key_mask ? detail::kAttentionKeyMask : 0) | (save_lse ? detail::kAttentionSaveLse : 0);
}

// `grad` is shaped and strided like `like` (so the kernels can share their strides).
void check_grad(const OpSite& s, const char* arg, const TensorView& grad, const char* like_arg,
                const TensorView& like) {
  detail::check_float(s, arg, grad);
  detail::check_like(s, arg, grad, like_arg, like);
  for (int i = 0; i < grad.rank; ++i)
    if (grad.shape[i] > 1 && grad.strides[i] != like.strides[i])
      s.fail(fmt::format(
          "{} has strides [{}, {}, {}, {}] but {} has [{}, {}, {}, {}]; expected the "
          "same strides",
          arg, grad.strides[0], grad.strides[1], grad.strides[2], grad.strides[3], like_arg,
          like.strides[0], like.strides[1], like.strides[2], like.strides[3]));
  if (grad.data == nullptr && grad.numel() > 0)
    s.fail(fmt::format("{} has shape {} but a null data pointer", arg, detail::shape_str(grad)));
}

} // namespace

void attention(const TensorView& q, const TensorView& k, const TensorView& v, const TensorView& out,
               const AttentionOptions& o, Stream* stream, std::source_location where) {
  OpSite s{"attention", where};
  Heads qh = heads_of(s, "q", q, o.layout), kh = heads_of(s, "k", k, o.layout);
  Heads vh = heads_of(s, "v", v, o.layout), oh = heads_of(s, "out", out, o.layout);
  check_same_dtype(s, "k", k, q);
  check_same_dtype(s, "v", v, q);
  check_head_dim(s, qh.dim);
  check_kv(s, qh, kh, vh);
  detail::check_like(s, "out", out, "q", q);
  detail::check_device(s, "k", k, "q", q);
  detail::check_device(s, "v", v, "q", q);
  const bool save_lse = o.lse.data != nullptr, has_lens = o.kv_lens.data != nullptr;
  const bool has_mask = o.key_padding_mask.data != nullptr;
  if (save_lse)
    check_lse(s, o.lse, q, qh);
  if (has_lens)
    check_kv_lens(s, o.kv_lens, q, qh.batch);
  if (has_mask)
    check_key_mask(s, o.key_padding_mask, q, qh.batch, kh.seq);
  if (!std::isfinite(o.softmax_scale))
    s.fail(fmt::format("softmax_scale is {}; expected a finite number (0: 1 / sqrt(head_dim))",
                       o.softmax_scale));
  if (qh.seq + kh.seq > INT32_MAX / 2 || qh.batch * qh.heads > INT32_MAX)
    s.fail(fmt::format("q has {} and k seqlen {}; the kernel takes 32-bit sequence lengths and "
                       "batch x heads",
                       dims_str(qh), kh.seq));
  Band band = band_of(s, o, qh.seq, kh.seq);
  Tiles t = tiles_for(s, o, q.device, qh.dim, qh.seq, kh.seq);
  if (qh.batch * qh.heads * qh.seq == 0)
    return;

  const double scale = o.softmax_scale != 0 ? o.softmax_scale : 1.0 / std::sqrt(double(qh.dim));
  // Absent optional tensors: q stands in for their pointers, which the kernel never reads.
  const TensorView& lse = save_lse ? o.lse : q;
  const TensorView& lens = has_lens ? o.kv_lens : q;
  const TensorView& mask = has_mask ? o.key_padding_mask : q;
  LaunchOptions launch;
  launch.num_warps = t.num_warps;
  launch.stream = stream;
  detail::attention_forward_kernel().launch(
      detail::grid_at(s, (qh.seq + t.m - 1) / t.m, qh.batch * qh.heads), launch, out, lse, q, k, v,
      lens, mask, qh.s_batch, qh.s_seq, qh.s_head, kh.s_batch, kh.s_seq, kh.s_head, vh.s_batch,
      vh.s_seq, vh.s_head, oh.s_batch, oh.s_seq, oh.s_head,
      has_mask ? o.key_padding_mask.strides[0] : 0, qh.heads, qh.heads / kh.heads, qh.seq, kh.seq,
      band.left, band.right, float(scale * M_LOG2E), flags(band.on, has_lens, has_mask, save_lse),
      int(qh.dim), t.dchunk, t.m, t.n);
}

void attention_backward(const TensorView& q, const TensorView& k, const TensorView& v,
                        const TensorView& out, const TensorView& dout, const TensorView& lse,
                        const TensorView& dq, const TensorView& dk, const TensorView& dv,
                        const AttentionOptions& o, Stream* stream, std::source_location where) {
  OpSite s{"attention_backward", where};
  Heads qh = heads_of(s, "q", q, o.layout), kh = heads_of(s, "k", k, o.layout);
  Heads vh = heads_of(s, "v", v, o.layout), oh = heads_of(s, "out", out, o.layout);
  check_same_dtype(s, "k", k, q);
  check_same_dtype(s, "v", v, q);
  check_head_dim(s, qh.dim);
  check_kv(s, qh, kh, vh);
  detail::check_like(s, "out", out, "q", q);
  detail::check_device(s, "k", k, "q", q);
  detail::check_device(s, "v", v, "q", q);
  check_grad(s, "dout", dout, "out", out);
  check_grad(s, "dq", dq, "q", q);
  check_grad(s, "dk", dk, "k", k);
  check_grad(s, "dv", dv, "v", v);
  check_lse(s, lse, q, qh);
  if (o.kv_lens.data != nullptr || o.key_padding_mask.data != nullptr)
    s.fail("kv_lens and key_padding_mask are not supported by attention_backward yet; pass "
           "neither (causal and window are supported)");
  if (!std::isfinite(o.softmax_scale))
    s.fail(fmt::format("softmax_scale is {}; expected a finite number (0: 1 / sqrt(head_dim))",
                       o.softmax_scale));
  if (qh.seq + kh.seq > INT32_MAX / 2 || qh.batch * qh.heads > INT32_MAX)
    s.fail(fmt::format("q has {} and k seqlen {}; the kernel takes 32-bit sequence lengths and "
                       "batch x heads",
                       dims_str(qh), kh.seq));
  Band band = band_of(s, o, qh.seq, kh.seq);
  Tiles t = tiles_for(s, o, q.device, qh.dim, qh.seq, kh.seq);
  if (qh.batch * qh.heads == 0)
    return;
  const double scale = o.softmax_scale != 0 ? o.softmax_scale : 1.0 / std::sqrt(double(qh.dim));
  LaunchOptions launch;
  // The backward holds more per tile (K, V, dK, dV or q, dout, dq): at head_dim above 64 its
  // 16 x 16 tiles need 4 warps to stay unspilled (test AttentionBackwardPtx.NoSpills).
  launch.num_warps = 4;
  launch.stream = stream;
  const int64_t group = qh.heads / kh.heads;
  const int flag = band.on ? detail::kAttentionBand : 0;
  // Each kernel writes every element of its outputs (zeros where no key or query reaches), so an
  // empty seqlen_q still zeroes dk and dv, and an empty seqlen_k dq.
  if (kh.seq > 0)
    detail::attention_backward_dkdv_kernel().launch(
        detail::grid_at(s, (kh.seq + t.n - 1) / t.n, kh.batch * kh.heads), launch, dk, dv, q, k, v,
        out, dout, lse, qh.s_batch, qh.s_seq, qh.s_head, kh.s_batch, kh.s_seq, kh.s_head,
        vh.s_batch, vh.s_seq, vh.s_head, oh.s_batch, oh.s_seq, oh.s_head, qh.heads, group, qh.seq,
        kh.seq, band.left, band.right, float(scale * M_LOG2E), flag, int(qh.dim), t.dchunk, t.m,
        t.n);
  if (qh.seq > 0)
    detail::attention_backward_dq_kernel().launch(
        detail::grid_at(s, (qh.seq + t.m - 1) / t.m, qh.batch * qh.heads), launch, dq, q, k, v, out,
        dout, lse, qh.s_batch, qh.s_seq, qh.s_head, kh.s_batch, kh.s_seq, kh.s_head, vh.s_batch,
        vh.s_seq, vh.s_head, oh.s_batch, oh.s_seq, oh.s_head, qh.heads, group, qh.seq, kh.seq,
        band.left, band.right, float(scale * M_LOG2E), flag, int(qh.dim), t.dchunk, t.m, t.n);
}

} // namespace tessel::ops
