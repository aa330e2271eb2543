// attention (attention.h): the argument checks, the tile heuristic and the launch of the forward
// kernel (attention_kernels.cpp).
#include "tessel/ops/attention.h"

#include "jit/thread_pool.h"
#include "stdlib/attention/varlen.h"
#include "stdlib/common/args.h"
#include "stdlib/common/kernels.h"
#include "stdlib/matmul/fp8_target.h"
#include "tessel/codegen/target.h"
#include "tessel/runtime/device.h"

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

void check_strides_and_data(const OpSite& s, const char* arg, const TensorView& v, const Heads& h) {
  if (v.shape[v.rank - 1] > 1 && v.strides[v.rank - 1] != 1)
    s.fail(fmt::format("{}'s head_dim has stride {}; head_dim must be contiguous (stride 1): copy "
                       "{} to a contiguous tensor first",
                       arg, v.strides[v.rank - 1], arg));
  for (int64_t stride : {h.s_batch, h.s_seq, h.s_head})
    if (stride < 0 || stride > INT32_MAX)
      s.fail(
          fmt::format("{} has a stride of {}; the kernel takes strides in [0, 2^31)", arg, stride));
  if (v.data == nullptr && v.numel() > 0)
    s.fail(fmt::format("{} has shape {} but a null data pointer", arg, detail::shape_str(v)));
}

// q, k and v of the forward may also be fp8 (fp8_inputs_of checks the rest); out never is.
void check_element(const OpSite& s, const char* arg, const TensorView& v) {
  if (dtype_is_fp8(v.dtype) && std::string_view(arg) != "out")
    return detail::check_dtype(s, arg, v, v.dtype); // well-formed, any fp8 type
  detail::check_float(s, arg, v);
}

Heads heads_of(const OpSite& s, const char* arg, const TensorView& v, AttentionLayout layout) {
  check_element(s, arg, v);
  const bool bshd = layout == AttentionLayout::bshd;
  if (v.rank != 4)
    s.fail(fmt::format("{} has shape {}; expected rank 4 ({})", arg, detail::shape_str(v),
                       bshd ? "[batch, seqlen, heads, head_dim]"
                            : "[batch, heads, seqlen, head_dim] (layout = bhsd)"));
  const int seq = bshd ? 1 : 2, head = bshd ? 2 : 1;
  Heads h{v.shape[0],   v.shape[seq],   v.shape[head],  v.shape[3],
          v.strides[0], v.strides[seq], v.strides[head]};
  check_strides_and_data(s, arg, v, h);
  return h;
}

// A packed varlen tensor [total_tokens, heads, head_dim] seen as `batch` entries of at most
// `max_seq` tokens: the batch stride is the token stride (the kernels start each entry at its
// first token; tiles.h, Seqs).
Heads packed_heads_of(const OpSite& s, const char* arg, const TensorView& v, int64_t batch,
                      int64_t max_seq) {
  check_element(s, arg, v);
  if (v.rank != 3)
    s.fail(fmt::format("{} has shape {}; expected rank 3 ([total_tokens, heads, head_dim]) with "
                       "cu_seqlens (varlen)",
                       arg, detail::shape_str(v)));
  Heads h{batch, max_seq, v.shape[1], v.shape[2], v.strides[0], v.strides[0], v.strides[1]};
  check_strides_and_data(s, arg, v, h);
  return h;
}

// q, k, v and out as the kernels see them, dense or varlen; `total_q`/`total_k` are what the
// kernels' seqlen parameters take (the packed token counts for varlen).
struct Problem {
  Heads q, k, v, o;
  detail::Varlen varlen;
  int64_t total_q, total_k;
};

Problem problem_of(const OpSite& s, const TensorView& q, const TensorView& k, const TensorView& v,
                   const TensorView& out, const AttentionOptions& o) {
  const bool packed = o.cu_seqlens_q.data != nullptr || o.cu_seqlens_k.data != nullptr;
  if (!packed) {
    Heads qh = heads_of(s, "q", q, o.layout), kh = heads_of(s, "k", k, o.layout);
    return {qh,     kh,    heads_of(s, "v", v, o.layout), heads_of(s, "out", out, o.layout), {},
            qh.seq, kh.seq};
  }
  for (auto [arg, t] : {std::pair{"q", &q}, std::pair{"k", &k}})
    if (t->rank != 3)
      s.fail(fmt::format("{} has shape {}; expected rank 3 ([total_tokens, heads, head_dim]) "
                         "with cu_seqlens (varlen)",
                         arg, detail::shape_str(*t)));
  detail::Varlen vl = detail::varlen_of(s, o, q, q.shape[0], k.shape[0]);
  return {packed_heads_of(s, "q", q, vl.batch, vl.max_q),
          packed_heads_of(s, "k", k, vl.batch, vl.max_k),
          packed_heads_of(s, "v", v, vl.batch, vl.max_k),
          packed_heads_of(s, "out", out, vl.batch, vl.max_q),
          vl,
          q.shape[0],
          k.shape[0]};
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

void check_lse(const OpSite& s, const TensorView& lse, const TensorView& q, const Problem& p) {
  detail::check_dtype(s, "lse", lse, DType::f32);
  if (p.varlen.on) {
    if (lse.rank != 2 || lse.shape[0] != p.q.heads || lse.shape[1] != p.total_q)
      s.fail(fmt::format("lse has shape {}; expected [{}, {}] (heads, total_q) with cu_seqlens",
                         detail::shape_str(lse), p.q.heads, p.total_q));
  } else if (lse.rank != 3 || lse.shape[0] != p.q.batch || lse.shape[1] != p.q.heads ||
             lse.shape[2] != p.q.seq) {
    s.fail(fmt::format("lse has shape {}; expected [{}, {}, {}] (batch, heads, seqlen_q)",
                       detail::shape_str(lse), p.q.batch, p.q.heads, p.q.seq));
  }
  int64_t expected = 1;
  for (int i = lse.rank - 1; i >= 0; --i) {
    if (lse.shape[i] != 1 && lse.strides[i] != expected)
      s.fail(fmt::format("lse has shape {} with strides not contiguous; expected a contiguous "
                         "tensor",
                         detail::shape_str(lse)));
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

bool is_tile(int b) { return b >= 16 && b <= 128 && (b & (b - 1)) == 0; }

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

// True when kernels on q's device compile for sm_90a, which has wgmma: the simulated device under
// TESSEL_SIM_TARGET=sm_90a, a CUDA device of compute capability 9.0 (jit::cuda_target's choice).
bool device_has_wgmma(const TensorView& q) {
  if (q.device == DeviceKind::sim)
    return codegen::parse_target(runtime::sim_target_name()).has_wgmma();
  if (q.device == DeviceKind::cuda)
    return runtime::Device::get(q.device_index).properties().sm_version() == 90;
  return false;
}

// The forward's tiles on sm_90a: its f16/bf16 dots run on wgmma when a warpgroup has 64 query
// rows, so unless the caller chose the tiles the forward takes 64 x 16 at 4 warps there (QKᵀ on
// m64n16k16 with Q as wgmma's A registers, converted once before the key loop; PV on m64n32k16
// per head_dim chunk with P in registers; prepare-dot-operands). Test
// AttentionPtx.Sm90aForwardOnWgmma.
Tiles forward_tiles(const TensorView& q, const AttentionOptions& o, Tiles t) {
  const bool half = q.dtype == DType::f16 || q.dtype == DType::bf16;
  if (!half || o.block_m != 0 || o.block_n != 0 || !device_has_wgmma(q))
    return t;
  return {64, 16, 32, 4};
}

// The largest power-of-two tile from `cap` down to `floor` whose tiles cover `len` with at most
// an eighth of padding (padded rows and keys are computed and masked); `floor` when none does.
int64_t cpu_tile(int64_t len, int64_t cap, int64_t floor) {
  for (int64_t tile = cap; tile > floor; tile /= 2)
    if ((len + tile - 1) / tile * tile - len <= len / 8)
      return tile;
  return floor;
}

// The forward's tiles on the CPU when no band limits the keys and head_dim is at most 64, unless
// the caller chose the tiles: up to 512 query rows x 512 keys (at seqlen 512 one program per
// head and one key tile). Each program copies every K and V tile of its head from memory into the
// dots' operand arrays and packs them, so more rows per program mean fewer of those copies per
// query row, and more keys per tile fewer online-softmax rescales of the accumulator and fewer
// per-tile loop overheads. The two dots then take ~75 % of the kernel's time, at about one zmm FMA
// a cycle (the peak of a Zen 4 core); the score tile [512, 512] f32 (1 MiB) and its exp2 live on
// the program's stack (the thread pool's workers have 64 MiB; above the caller's budget a launch
// runs there, jit/kernel.cpp). Same-run CPU time, f32, seqlen 512, 1 thread (bench/RESULTS.md,
// "Session 9: CPU attention"): 512 x 512 vs session 8's 128 x 64, 37.3-39.2 vs 41.4-42.8 ms at
// head_dim 64 and 21.5-23.1 vs 24.0-26.8 ms at 32; 256 x 128, 512 x 128 and 512 x 256 fell in
// between, and at seqlen 2048 all were within 6 % (512 x 512 the fastest). Fewer rows when the
// programs would not fill the worker threads twice; a tile that would pad a ragged length by more
// than an eighth falls back to session 8's 128 x 64 (or the sequence's power of two). With a band
// the 64 x 64 tiles stay: 64 x 128, 128 x 128, 32 x 64 were 3-18 % slower causal at seqlen 512.
// head_dim 96 and up stay at 64 x 64 (not measured).
Tiles cpu_forward_tiles(const TensorView& q, const AttentionOptions& o, const Band& band,
                        const Heads& qh, const Heads& kh, Tiles t) {
  if (q.device != DeviceKind::cpu || o.block_m != 0 || o.block_n != 0 || band.on || qh.dim > 64)
    return t;
  const int64_t floor_m = std::min(128, next_pow2_at_least_16(qh.seq));
  int64_t m = cpu_tile(qh.seq, 512, floor_m);
  const int64_t threads = std::max<int64_t>(1, jit::ThreadPool::instance().size());
  while (m > floor_m && qh.batch * qh.heads * ((qh.seq + m - 1) / m) < 2 * threads)
    m /= 2;
  t.m = int(m);
  t.n = int(cpu_tile(kh.seq, 512, t.n));
  return t;
}

// `grad` is shaped and strided like `like` (so the kernels can share their strides).
void check_grad(const OpSite& s, const char* arg, const TensorView& grad, const char* like_arg,
                const TensorView& like) {
  detail::check_float(s, arg, grad);
  detail::check_like(s, arg, grad, like_arg, like);
  auto strides = [](const TensorView& t) {
    std::string out = "[";
    for (int i = 0; i < t.rank; ++i)
      out += fmt::format("{}{}", i ? ", " : "", t.strides[i]);
    return out + "]";
  };
  for (int i = 0; i < grad.rank; ++i)
    if (grad.shape[i] > 1 && grad.strides[i] != like.strides[i])
      s.fail(fmt::format("{} has strides {} but {} has {}; expected the same strides", arg,
                         strides(grad), like_arg, strides(like)));
  if (grad.data == nullptr && grad.numel() > 0)
    s.fail(fmt::format("{} has shape {} but a null data pointer", arg, detail::shape_str(grad)));
}

void check_dropout(const OpSite& s, const AttentionOptions& o) {
  if (!(o.dropout_p >= 0 && o.dropout_p < 1))
    s.fail(fmt::format("dropout_p is {}; expected a probability in [0, 1) (0: no dropout)",
                       o.dropout_p));
}

// What every kernel of the op takes after its pointers and before its tiles: the checked problem,
// the band, the scale and the dropout words.
struct Common {
  Problem p;
  Band band;
  Tiles t;
  float scale_log2, softcap_log2;
  int flags;
};

Common common_of(const OpSite& s, const TensorView& q, const TensorView& k, const TensorView& v,
                 const TensorView& out, const AttentionOptions& o) {
  Problem p = problem_of(s, q, k, v, out, o);
  check_same_dtype(s, "k", k, q);
  check_same_dtype(s, "v", v, q);
  check_head_dim(s, p.q.dim);
  check_kv(s, p.q, p.k, p.v);
  if (p.varlen.on)
    detail::check_like(s, "v", v, "k", k);
  detail::check_like(s, "out", out, "q", q);
  detail::check_device(s, "k", k, "q", q);
  detail::check_device(s, "v", v, "q", q);
  check_dropout(s, o);
  if (!(o.softcap >= 0) || !std::isfinite(o.softcap))
    s.fail(fmt::format("softcap is {}; expected 0 (no soft-capping) or a finite number > 0 (scores "
                       "become softcap · tanh(s / softcap))",
                       o.softcap));
  if (!std::isfinite(o.softmax_scale))
    s.fail(fmt::format("softmax_scale is {}; expected a finite number (0: 1 / sqrt(head_dim))",
                       o.softmax_scale));
  if (p.total_q + p.total_k > INT32_MAX / 2 || p.q.batch * p.q.heads > INT32_MAX)
    s.fail(fmt::format("q has {} and k seqlen {}; the kernel takes 32-bit sequence lengths and "
                       "batch x heads",
                       dims_str(p.q), p.total_k));
  Common c{p,
           band_of(s, o, p.q.seq, p.k.seq),
           tiles_for(s, o, q.device, p.q.dim, p.q.seq, p.k.seq),
           0,
           0,
           0};
  const double scale = o.softmax_scale != 0 ? o.softmax_scale : 1.0 / std::sqrt(double(p.q.dim));
  c.scale_log2 = float(scale * M_LOG2E);
  c.softcap_log2 = float(double(o.softcap) * M_LOG2E);
  c.flags = (c.band.on ? detail::kAttentionBand : 0) |
            (p.varlen.on ? detail::kAttentionVarlen : 0) |
            (o.dropout_p > 0 ? detail::kAttentionDropout : 0) |
            (o.softcap > 0 ? detail::kAttentionSoftcap : 0);
  return c;
}

void check_alibi(const OpSite& s, const TensorView& slopes, const TensorView& q, int64_t heads) {
  detail::check_dtype(s, "alibi_slopes", slopes, DType::f32);
  if (slopes.rank != 1 || slopes.shape[0] != heads)
    s.fail(fmt::format("alibi_slopes has shape {}; expected [{}] (one slope per q head)",
                       detail::shape_str(slopes), heads));
  if (heads > 1 && slopes.strides[0] != 1)
    s.fail(fmt::format("alibi_slopes has stride {}; expected a contiguous [{}]", slopes.strides[0],
                       heads));
  detail::check_device(s, "alibi_slopes", slopes, "q", q);
}

// The optional per-key and per-head inputs (kv_lens, key_padding_mask, alibi_slopes), checked, with
// q standing in for the absent ones' pointers (the kernels never read them), and their FLAGS bits.
struct KeyInputs {
  const TensorView *lens, *mask, *alibi;
  int64_t mask_sb;
  int flags;
};

KeyInputs key_inputs_of(const OpSite& s, const AttentionOptions& o, const TensorView& q,
                        const Problem& p) {
  const bool has_lens = o.kv_lens.data != nullptr, has_mask = o.key_padding_mask.data != nullptr;
  const bool has_alibi = o.alibi_slopes.data != nullptr;
  if (has_lens)
    check_kv_lens(s, o.kv_lens, q, p.q.batch);
  if (has_mask)
    check_key_mask(s, o.key_padding_mask, q, p.q.batch, p.k.seq);
  if (has_alibi)
    check_alibi(s, o.alibi_slopes, q, p.q.heads);
  return {has_lens ? &o.kv_lens : &q, has_mask ? &o.key_padding_mask : &q,
          has_alibi ? &o.alibi_slopes : &q, has_mask ? o.key_padding_mask.strides[0] : 0,
          (has_lens ? detail::kAttentionKvLens : 0) | (has_mask ? detail::kAttentionKeyMask : 0) |
              (has_alibi ? detail::kAttentionAlibi : 0)};
}

// The descale factors of fp8 q, k, v (FlashAttention-3's descale_q/k/v) as the kernel takes them:
// three f32 tensors of one shape, [1] (per tensor: strides 0) or a contiguous [batch, kv_heads]
// (per kv head, FA3's shape), and q standing in for them when q is not fp8.
struct Descales {
  const TensorView *q, *k, *v;
  int64_t sb = 0, sh = 0;
};

bool per_tensor(const TensorView& t) { return t.rank == 1 && t.shape[0] == 1; }

bool per_kv_head(const TensorView& t, int64_t batch, int64_t kv_heads) {
  return t.rank == 2 && t.shape[0] == batch && t.shape[1] == kv_heads &&
         (kv_heads == 1 || t.strides[1] == 1) && (batch == 1 || t.strides[0] == kv_heads);
}

Descales descales_of(const OpSite& s, const AttentionOptions& o, const TensorView& q,
                     const Problem& p) {
  const std::pair<const char*, const TensorView*> all[] = {
      {"descale_q", &o.descale_q}, {"descale_k", &o.descale_k}, {"descale_v", &o.descale_v}};
  if (!dtype_is_fp8(q.dtype)) {
    for (auto [name, t] : all)
      if (t->data != nullptr)
        s.fail(fmt::format("{} is given but q is {}; the descales dequantize fp8 inputs (q, k, v "
                           "f8e4m3 or f8e5m2): pass fp8 tensors or leave {} empty",
                           name, dtype_name(q.dtype), name));
    return {&q, &q, &q};
  }
  for (auto [name, t] : all) {
    if (t->data == nullptr)
      s.fail(fmt::format("q, k and v are {} but {} is missing; fp8 attention needs descale_q, "
                         "descale_k and descale_v, the f32 factors that turn the stored values "
                         "back into the real ones (FlashAttention-3's): shape [1] per tensor, or "
                         "[batch, kv_heads] = [{}, {}] per kv head",
                         dtype_name(q.dtype), name, p.q.batch, p.k.heads));
    detail::check_dtype(s, name, *t, DType::f32);
    detail::check_device(s, name, *t, "q", q);
    if (!per_tensor(*t) && !per_kv_head(*t, p.q.batch, p.k.heads))
      s.fail(fmt::format("{} has shape {}; expected [1] (per tensor) or a contiguous [batch, "
                         "kv_heads] = [{}, {}] (per kv head)",
                         name, detail::shape_str(*t), p.q.batch, p.k.heads));
  }
  if (o.descale_k.rank != o.descale_q.rank || o.descale_v.rank != o.descale_q.rank)
    s.fail(fmt::format("descale_q, descale_k and descale_v have shapes {}, {} and {}; expected "
                       "one shape for all three (all per tensor or all per kv head)",
                       detail::shape_str(o.descale_q), detail::shape_str(o.descale_k),
                       detail::shape_str(o.descale_v)));
  const bool per_head = o.descale_q.rank == 2;
  return {&o.descale_q, &o.descale_k, &o.descale_v, per_head ? p.k.heads : 0, per_head ? 1 : 0};
}

// fp8 on a GPU: the PV dot's K is the tile's keys, and the fp8 mma.sync (m16n8k32) takes 32 at a
// time, so a key tile holds at least 32 keys there. At head_dim 64 the head goes in one chunk of
// 64 (a 64-byte fp8 row: 16-byte loads at 32 x 32 and 4 warps, where 32 one-byte columns are 8
// bytes a thread); above, chunks of 64 spill at 16 x 32 (sm_90a, with the band) and 32 stays
// (test AttentionFp8Ptx.NoSpillsAndFp8Mma).
Tiles fp8_tiles(const OpSite& s, const TensorView& q, const AttentionOptions& o, Tiles t) {
  if (!dtype_is_fp8(q.dtype) || q.device == DeviceKind::cpu)
    return t;
  if (o.block_n != 0 && o.block_n < 32)
    s.fail(fmt::format("block_n is {} with fp8 q, k, v on a GPU; the fp8 mma.sync (m16n8k32) "
                       "multiplies P and V 32 keys at a time: pass block_n >= 32 or 0",
                       o.block_n));
  t.n = std::max(t.n, 32);
  if (q.shape[q.rank - 1] == 64)
    t.dchunk = 64;
  return t;
}

int32_t lo_word(uint64_t x) { return int32_t(uint32_t(x)); }
int32_t hi_word(uint64_t x) { return int32_t(uint32_t(x >> 32)); }

} // namespace

void attention(const TensorView& q, const TensorView& k, const TensorView& v, const TensorView& out,
               const AttentionOptions& o, Stream* stream, std::source_location where) {
  OpSite s{"attention", where};
  Common c = common_of(s, q, k, v, out, o);
  c.t = fp8_tiles(s, q, o, cpu_forward_tiles(q, o, c.band, c.p.q, c.p.k, forward_tiles(q, o, c.t)));
  const Problem& p = c.p;
  const bool save_lse = o.lse.data != nullptr;
  if (save_lse)
    check_lse(s, o.lse, q, p);
  KeyInputs in = key_inputs_of(s, o, q, p);
  Descales ds = descales_of(s, o, q, p);
  detail::check_fp8_target(s, q, k, "q", "k");
  if (p.q.batch * p.q.heads * p.q.seq == 0)
    return;

  // Absent optional tensors: q stands in for their pointers, which the kernel never reads.
  const TensorView& lse = save_lse ? o.lse : q;
  const TensorView& cu_q = p.varlen.on ? o.cu_seqlens_q : q;
  const TensorView& cu_k = p.varlen.on ? o.cu_seqlens_k : q;
  const int flags = c.flags | in.flags | (save_lse ? detail::kAttentionSaveLse : 0);
  LaunchOptions launch;
  launch.num_warps = c.t.num_warps;
  launch.stream = stream;
  detail::attention_forward_kernel().launch(
      detail::grid_at(s, (p.q.seq + c.t.m - 1) / c.t.m, p.q.batch * p.q.heads), launch, out, lse, q,
      k, v, *in.lens, *in.mask, cu_q, cu_k, *in.alibi, *ds.q, *ds.k, *ds.v, p.q.s_batch, p.q.s_seq,
      p.q.s_head, p.k.s_batch, p.k.s_seq, p.k.s_head, p.v.s_batch, p.v.s_seq, p.v.s_head,
      p.o.s_batch, p.o.s_seq, p.o.s_head, in.mask_sb, ds.sb, ds.sh, p.q.heads,
      p.q.heads / p.k.heads, p.total_q, p.total_k, c.band.left, c.band.right,
      lo_word(o.dropout_seed), hi_word(o.dropout_seed), lo_word(o.dropout_offset),
      hi_word(o.dropout_offset), c.scale_log2, c.softcap_log2, o.dropout_p, flags, int(p.q.dim),
      c.t.dchunk, c.t.m, c.t.n);
}

namespace {

// dq_mode = atomics: the f32 dq the dk/dv kernel adds into, zeroed first.
void check_atomic_dq(const OpSite& s, const AttentionOptions& o, const TensorView& dq) {
  if (o.dq_mode == AttentionDq::atomics && dq.dtype != DType::f32)
    s.fail(
        fmt::format("dq has dtype {} with dq_mode = atomics; the atomics accumulate in f32: pass "
                    "an f32 dq, or dq_mode = deterministic",
                    dtype_name(dq.dtype)));
}

} // namespace

void attention_backward(const TensorView& q, const TensorView& k, const TensorView& v,
                        const TensorView& out, const TensorView& dout, const TensorView& lse,
                        const TensorView& dq, const TensorView& dk, const TensorView& dv,
                        const AttentionOptions& o, Stream* stream, std::source_location where) {
  OpSite s{"attention_backward", where};
  if (dtype_is_fp8(q.dtype))
    s.fail(fmt::format("q is {}; fp8 attention is forward only (as FlashAttention-3's): train "
                       "with f16 or bf16 q, k, v",
                       dtype_name(q.dtype)));
  Common c = common_of(s, q, k, v, out, o);
  const Problem& p = c.p;
  check_grad(s, "dout", dout, "out", out);
  check_grad(s, "dq", dq, "q", q);
  check_grad(s, "dk", dk, "k", k);
  check_grad(s, "dv", dv, "v", v);
  check_lse(s, lse, q, p);
  check_atomic_dq(s, o, dq);
  KeyInputs in = key_inputs_of(s, o, q, p);
  if (p.q.batch * p.q.heads == 0)
    return;
  LaunchOptions launch;
  // The backward holds more per tile (K, V, dK, dV or q, dout, dq): at head_dim above 64 its
  // 16 x 16 tiles need 4 warps to stay unspilled (test AttentionBackwardPtx.NoSpills).
  launch.num_warps = 4;
  launch.stream = stream;
  const int64_t group = p.q.heads / p.k.heads;
  const TensorView& cu_q = p.varlen.on ? o.cu_seqlens_q : q;
  const TensorView& cu_k = p.varlen.on ? o.cu_seqlens_k : q;
  const bool atomic_dq = o.dq_mode == AttentionDq::atomics;
  const int flags = c.flags | in.flags | (atomic_dq ? detail::kAttentionAtomicDq : 0);
  const int64_t q_blocks = (p.q.seq + c.t.m - 1) / c.t.m;
  if (atomic_dq && p.q.seq > 0)
    detail::attention_backward_zero_dq_kernel().launch(
        detail::grid_at(s, q_blocks, p.q.batch * p.q.heads), launch, dq, cu_q, p.q.s_batch,
        p.q.s_seq, p.q.s_head, p.q.heads, p.total_q, flags, int(p.q.dim), c.t.dchunk, c.t.m);
  // Each kernel writes every element of its outputs (zeros where no key or query reaches), so an
  // empty seqlen_q still zeroes dk and dv, and an empty seqlen_k dq.
  if (p.k.seq > 0)
    detail::attention_backward_dkdv_kernel().launch(
        detail::grid_at(s, (p.k.seq + c.t.n - 1) / c.t.n, p.k.batch * p.k.heads), launch, dk, dv,
        atomic_dq ? dq : q, q, k, v, out, dout, lse, *in.lens, *in.mask, *in.alibi, cu_q, cu_k,
        p.q.s_batch, p.q.s_seq, p.q.s_head, p.k.s_batch, p.k.s_seq, p.k.s_head, p.v.s_batch,
        p.v.s_seq, p.v.s_head, p.o.s_batch, p.o.s_seq, p.o.s_head, in.mask_sb, p.q.heads, group,
        p.total_q, p.total_k, c.band.left, c.band.right, lo_word(o.dropout_seed),
        hi_word(o.dropout_seed), lo_word(o.dropout_offset), hi_word(o.dropout_offset), c.scale_log2,
        c.softcap_log2, o.dropout_p, flags, int(p.q.dim), c.t.dchunk, c.t.m, c.t.n);
  if (p.q.seq > 0 && !atomic_dq)
    detail::attention_backward_dq_kernel().launch(
        detail::grid_at(s, q_blocks, p.q.batch * p.q.heads), launch, dq, q, k, v, out, dout, lse,
        *in.lens, *in.mask, *in.alibi, cu_q, cu_k, p.q.s_batch, p.q.s_seq, p.q.s_head, p.k.s_batch,
        p.k.s_seq, p.k.s_head, p.v.s_batch, p.v.s_seq, p.v.s_head, p.o.s_batch, p.o.s_seq,
        p.o.s_head, in.mask_sb, p.q.heads, group, p.total_q, p.total_k, c.band.left, c.band.right,
        lo_word(o.dropout_seed), hi_word(o.dropout_seed), lo_word(o.dropout_offset),
        hi_word(o.dropout_offset), c.scale_log2, c.softcap_log2, o.dropout_p, flags, int(p.q.dim),
        c.t.dchunk, c.t.m, c.t.n);
}

} // namespace tessel::ops
