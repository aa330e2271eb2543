// decode_attention (attention.h; attention_decode is its old name): the argument checks, the split
// heuristic and the launches of the flash-decoding kernels (decode_kernels.cpp). Host block tables
// and lengths are read and checked here, since a wrong block id would otherwise read another
// sequence's cache.
#include "tessel/ops/attention.h"

#include "stdlib/common/args.h"
#include "stdlib/common/kernels.h"

#include <fmt/format.h>

#include <algorithm>
#include <climits>
#include <cmath>
#include <vector>

namespace tessel::ops {
namespace {

using detail::OpSite;

void check_strides(const OpSite& s, const char* arg, const TensorView& v) {
  if (v.shape[v.rank - 1] > 1 && v.strides[v.rank - 1] != 1)
    s.fail(fmt::format("{}'s head_dim has stride {}; head_dim must be contiguous (stride 1)", arg,
                       v.strides[v.rank - 1]));
  for (int i = 0; i < v.rank - 1; ++i)
    if (v.strides[i] < 0 || v.strides[i] > INT32_MAX)
      s.fail(fmt::format("{} has a stride of {}; the kernel takes strides in [0, 2^31)", arg,
                         v.strides[i]));
  if (v.data == nullptr && v.numel() > 0)
    s.fail(fmt::format("{} has shape {} but a null data pointer", arg, detail::shape_str(v)));
}

void check_rank(const OpSite& s, const char* arg, const TensorView& v, int rank, const char* dims) {
  if (v.rank != rank)
    s.fail(fmt::format("{} has shape {}; expected rank {} ({})", arg, detail::shape_str(v), rank,
                       dims));
}

struct Decode {
  int64_t batch, heads, dim, num_blocks, block_size, kv_heads, max_blocks;
  int64_t tq; // query tokens per sequence (1 for a rank-3 q)
};

// q [batch, heads, head_dim], or [batch, tq, heads, head_dim] for several tokens per sequence,
// seen as (batch, token, head) strides; a rank-3 view has one token.
struct Rows {
  int64_t s_batch, s_tok, s_head;
};

Rows rows_of(const TensorView& v) {
  if (v.rank == 4)
    return {v.strides[0], v.strides[1], v.strides[2]};
  return {v.strides[0], 0, v.strides[1]};
}

Decode check_tensors(const OpSite& s, const TensorView& q, const TensorView& kc,
                     const TensorView& vc, const TensorView& out) {
  detail::check_float(s, "q", q);
  if (q.rank != 3 && q.rank != 4)
    s.fail(fmt::format("q has shape {}; expected rank 3 ([batch, heads, head_dim]) or 4 ([batch, "
                       "query tokens, heads, head_dim])",
                       detail::shape_str(q)));
  check_rank(s, "k_cache", kc, 4, "[num_blocks, block_size, kv_heads, head_dim]");
  detail::check_like(s, "v_cache", vc, "k_cache", kc);
  for (auto [arg, t] : {std::pair{"k_cache", &kc}, std::pair{"v_cache", &vc}}) {
    if (t->dtype != q.dtype)
      s.fail(fmt::format("{} has dtype {} but q has {}; q and the caches must share one dtype", arg,
                         dtype_name(t->dtype), dtype_name(q.dtype)));
    detail::check_device(s, arg, *t, "q", q);
    check_strides(s, arg, *t);
  }
  detail::check_float(s, "out", out);
  detail::check_like(s, "out", out, "q", q);
  detail::check_device(s, "out", out, "q", q);
  check_strides(s, "q", q);
  check_strides(s, "out", out);
  const int r = q.rank - 3; // 1 when q has a token dimension
  Decode d{q.shape[0], q.shape[1 + r],    q.shape[2 + r], kc.shape[0], kc.shape[1], kc.shape[2],
           0,          r ? q.shape[1] : 1};
  if (kc.shape[3] != d.dim)
    s.fail(
        fmt::format("k_cache has head_dim {} but q has {}; expected the same", kc.shape[3], d.dim));
  bool known_dim = false;
  for (int64_t x : {32, 64, 96, 128, 256})
    known_dim = known_dim || d.dim == x;
  if (!known_dim)
    s.fail(
        fmt::format("q has head_dim {}; supported head dims are 32, 64, 96, 128 and 256", d.dim));
  if (d.block_size != 16 && d.block_size != 32 && d.block_size != 64 && d.block_size != 128)
    s.fail(fmt::format("k_cache has block_size {} (its dimension 1); supported block sizes are "
                       "16, 32, 64 and 128 tokens",
                       d.block_size));
  if (d.kv_heads == 0 || d.heads % d.kv_heads != 0 || d.heads / d.kv_heads > 128)
    s.fail(fmt::format("q has {} heads but the caches have {} kv heads; the kv heads must divide "
                       "the q heads, at most 128 q heads per kv head",
                       d.heads, d.kv_heads));
  // A tile holds the group's heads for every new token.
  if (d.kv_heads > 0 && d.tq * (d.heads / d.kv_heads) > 128)
    s.fail(fmt::format("q has {} query tokens per sequence and {} q heads per kv head: {} rows, "
                       "more than a decode tile's 128; pass at most {} tokens per call",
                       d.tq, d.heads / d.kv_heads, d.tq * (d.heads / d.kv_heads),
                       128 / (d.heads / d.kv_heads)));
  return d;
}

void check_table(const OpSite& s, const TensorView& table, const TensorView& lens,
                 const TensorView& q, Decode& d) {
  detail::check_dtype(s, "block_table", table, DType::i32);
  check_rank(s, "block_table", table, 2, "[batch, max_blocks]");
  if (table.shape[0] != d.batch)
    s.fail(fmt::format("block_table has shape {}; expected [{}, max_blocks] (one row per "
                       "sequence)",
                       detail::shape_str(table), d.batch));
  if (table.shape[1] > 1 && table.strides[1] != 1)
    s.fail(fmt::format("block_table's blocks have stride {}; expected 1", table.strides[1]));
  detail::check_dtype(s, "seq_lens", lens, DType::i32);
  if (lens.rank != 1 || lens.shape[0] != d.batch)
    s.fail(fmt::format("seq_lens has shape {}; expected [{}] (one length per sequence)",
                       detail::shape_str(lens), d.batch));
  detail::check_device(s, "block_table", table, "q", q);
  detail::check_device(s, "seq_lens", lens, "q", q);
  for (auto [arg, t] : {std::pair{"block_table", &table}, std::pair{"seq_lens", &lens}})
    if (t->data == nullptr && t->numel() > 0)
      s.fail(fmt::format("{} has shape {} but a null data pointer", arg, detail::shape_str(*t)));
  d.max_blocks = table.shape[1];
  if (d.tq > d.max_blocks * d.block_size)
    s.fail(fmt::format("q has {} query tokens per sequence but block_table covers {} tokens ({} "
                       "blocks of {}); the new tokens' keys must be in the cache",
                       d.tq, d.max_blocks * d.block_size, d.max_blocks, d.block_size));
  if (d.max_blocks * d.block_size > INT32_MAX || table.strides[0] > INT32_MAX ||
      d.num_blocks > INT32_MAX)
    s.fail(fmt::format("block_table has {} blocks of {} tokens per sequence (row stride {}) and "
                       "the cache {} blocks; the kernel takes 32-bit token counts, strides and "
                       "block ids",
                       d.max_blocks, d.block_size, table.strides[0], d.num_blocks));
}

// Host views only: every length within the table, every block a length reaches within the cache.
void check_host_table(const OpSite& s, const TensorView& table, const TensorView& lens,
                      const Decode& d) {
  const auto* len = static_cast<const int32_t*>(lens.data);
  const auto* ids = static_cast<const int32_t*>(table.data);
  for (int64_t b = 0; b < d.batch; ++b) {
    const int64_t n = len[b * lens.strides[0]];
    if (n < 0 || n > d.max_blocks * d.block_size)
      s.fail(fmt::format("seq_lens[{}] is {} but block_table has {} blocks of {} tokens per "
                         "sequence ({} tokens); expected 0 <= seq_lens <= {}",
                         b, n, d.max_blocks, d.block_size, d.max_blocks * d.block_size,
                         d.max_blocks * d.block_size));
    if (n < d.tq && n > 0)
      s.fail(fmt::format("seq_lens[{}] is {} but q has {} query tokens per sequence; seq_lens "
                         "counts the cached keys including the new tokens' (expected 0 or at "
                         "least {})",
                         b, n, d.tq, d.tq));
    for (int64_t p = 0; p < (n + d.block_size - 1) / d.block_size; ++p) {
      const int64_t id = ids[b * table.strides[0] + p];
      if (id < 0 || id >= d.num_blocks)
        s.fail(fmt::format("block_table[{}, {}] is {}, which is not a block of k_cache (it has "
                           "{}); sequence {} of {} tokens reads it",
                           b, p, id, d.num_blocks, b, n));
    }
  }
}

int next_pow2(int64_t n, int at_least) {
  int p = at_least;
  while (p < n)
    p *= 2;
  return p;
}

// Splits: enough programs to fill the device (a GPU wants a few hundred, the CPU's thread pool a
// few dozen), never more than the table has blocks, nor more than the workspace holds.
int splits_for(const OpSite& s, const AttentionDecodeOptions& o, const Decode& d, DeviceKind dev) {
  if (o.num_splits < 0)
    s.fail(fmt::format("num_splits is {}; expected 0 (chosen from the shape) or a count >= 1",
                       o.num_splits));
  const bool has_ws = o.workspace.data != nullptr;
  auto capacity = [&](int splits) {
    return has_ws &&
           o.workspace.numel() >= decode_attention_workspace(d.batch, d.heads, d.dim, splits, d.tq);
  };
  if (o.num_splits > 1 && !capacity(o.num_splits))
    s.fail(fmt::format("num_splits is {} but workspace holds {} f32 elements; expected at least "
                       "decode_attention_workspace(...) = {}",
                       o.num_splits, has_ws ? o.workspace.numel() : 0,
                       decode_attention_workspace(d.batch, d.heads, d.dim, o.num_splits, d.tq)));
  if (o.num_splits != 0)
    return o.num_splits;
  const int64_t target = dev == DeviceKind::cpu ? 32 : 256;
  int64_t want = std::clamp<int64_t>((target + d.batch * d.kv_heads - 1) /
                                         std::max<int64_t>(d.batch * d.kv_heads, 1),
                                     1, std::max<int64_t>(1, std::min<int64_t>(d.max_blocks, 64)));
  while (want > 1 && !capacity(int(want)))
    --want;
  return int(std::max<int64_t>(want, 1));
}

void check_workspace(const OpSite& s, const TensorView& ws, const TensorView& q) {
  detail::check_dtype(s, "workspace", ws, DType::f32);
  int64_t expected = 1;
  for (int i = ws.rank - 1; i >= 0; --i) {
    if (ws.shape[i] != 1 && ws.strides[i] != expected)
      s.fail("workspace is not contiguous; expected a contiguous f32 tensor");
    expected *= ws.shape[i];
  }
  detail::check_device(s, "workspace", ws, "q", q);
}

TensorView flat_f32(const TensorView& base, int64_t offset, int64_t n) {
  TensorView v = base;
  v.data = static_cast<float*>(base.data) + offset;
  v.rank = 1;
  v.shape[0] = n;
  v.strides[0] = 1;
  return v;
}

void check_lse(const OpSite& s, const TensorView& lse, const TensorView& q, const Decode& d) {
  detail::check_dtype(s, "lse", lse, DType::f32);
  const bool tokens = q.rank == 4;
  std::vector<int64_t> want = {d.batch, d.heads};
  if (tokens)
    want = {d.batch, d.tq, d.heads};
  bool ok = lse.rank == int(want.size());
  int64_t expected = 1;
  for (int i = int(want.size()) - 1; ok && i >= 0; --i) {
    ok = lse.shape[i] == want[size_t(i)] && (want[size_t(i)] == 1 || lse.strides[i] == expected);
    expected *= want[size_t(i)];
  }
  if (!ok)
    s.fail(fmt::format("lse has shape {}; expected a contiguous {} ({})", detail::shape_str(lse),
                       tokens ? fmt::format("[{}, {}, {}]", d.batch, d.tq, d.heads)
                              : fmt::format("[{}, {}]", d.batch, d.heads),
                       tokens ? "batch, query tokens, heads" : "batch, heads"));
  detail::check_device(s, "lse", lse, "q", q);
}

int64_t workspace_elements(const char* op, int64_t batch, int64_t heads, int64_t head_dim,
                           int num_splits, int64_t query_tokens) {
  if (batch < 0 || heads < 0 || head_dim < 0 || num_splits < 0 || query_tokens < 1)
    throw Error(fmt::format("{}: batch {}, heads {}, head_dim {}, num_splits {}, query_tokens {}: "
                            "none may be negative (query_tokens at least 1)",
                            op, batch, heads, head_dim, num_splits, query_tokens));
  return batch * query_tokens * heads * int64_t(num_splits) * (head_dim + 1);
}

void run_decode(const OpSite& s, const TensorView& q, const TensorView& k_cache,
                const TensorView& v_cache, const TensorView& block_table,
                const TensorView& seq_lens, const TensorView& out, const AttentionDecodeOptions& o,
                Stream* stream) {
  Decode d = check_tensors(s, q, k_cache, v_cache, out);
  check_table(s, block_table, seq_lens, q, d);
  const bool save_lse = o.lse.data != nullptr;
  if (save_lse)
    check_lse(s, o.lse, q, d);
  if (o.workspace.data != nullptr)
    check_workspace(s, o.workspace, q);
  if (!std::isfinite(o.softmax_scale))
    s.fail(fmt::format("softmax_scale is {}; expected a finite number (0: 1 / sqrt(head_dim))",
                       o.softmax_scale));
  if (q.device == DeviceKind::cpu)
    check_host_table(s, block_table, seq_lens, d);
  const int splits = splits_for(s, o, d, q.device);
  if (d.batch * d.heads * d.tq == 0)
    return;

  const double scale = o.softmax_scale != 0 ? o.softmax_scale : 1.0 / std::sqrt(double(d.dim));
  const int64_t pages_per_split = (d.max_blocks + splits - 1) / splits;
  const int64_t group = d.heads / d.kv_heads;
  const int dchunk = q.device == DeviceKind::cpu && d.dim != 96 ? int(d.dim) : 32;
  // 2 warps for 16-token pages: each thread then reads 16 bytes of a [16, 32] f16 chunk of K, V
  // or the group's q rows (at 4 warps, 8); longer pages take 4 (test AttentionDecodePtx.NoSpills).
  LaunchOptions launch;
  launch.num_warps = d.block_size == 16 ? 2 : 4;
  launch.stream = stream;
  const int64_t parts = d.batch * d.tq * d.heads * splits;
  const bool partial = splits > 1;
  const TensorView part_out = partial ? flat_f32(o.workspace, 0, parts * d.dim) : out;
  const TensorView part_lse = partial    ? flat_f32(o.workspace, parts * d.dim, parts)
                              : save_lse ? o.lse
                                         : q;
  const int flags =
      (partial ? detail::kDecodePartial : 0) | (save_lse ? detail::kAttentionSaveLse : 0);
  const Rows qr = rows_of(q), or_ = rows_of(out);
  detail::attention_decode_kernel().launch(
      detail::grid_at(s, splits, d.batch * d.kv_heads), launch, part_out, part_lse, q, k_cache,
      v_cache, block_table, seq_lens, qr.s_batch, qr.s_tok, qr.s_head, or_.s_batch, or_.s_tok,
      or_.s_head, k_cache.strides[0], k_cache.strides[1], k_cache.strides[2], v_cache.strides[0],
      v_cache.strides[1], v_cache.strides[2], block_table.strides[0], d.kv_heads, group, d.tq,
      d.max_blocks, pages_per_split, float(scale * M_LOG2E), flags, int(d.dim), dchunk,
      next_pow2(group * d.tq, 16), int(d.block_size));
  if (!partial)
    return;
  launch.num_warps = 4;
  detail::attention_decode_combine_kernel().launch(
      detail::grid_at(s, d.batch * d.tq * d.heads), launch, out, save_lse ? o.lse : q, part_out,
      part_lse, or_.s_batch, or_.s_tok, or_.s_head, d.heads, d.tq, splits,
      save_lse ? detail::kAttentionSaveLse : 0, int(d.dim), next_pow2(d.dim, 16),
      next_pow2(splits, 2));
}

} // namespace

int64_t decode_attention_workspace(int64_t batch, int64_t heads, int64_t head_dim, int num_splits,
                                   int64_t query_tokens) {
  return workspace_elements("decode_attention_workspace", batch, heads, head_dim, num_splits,
                            query_tokens);
}

int64_t attention_decode_workspace(int64_t batch, int64_t heads, int64_t head_dim, int num_splits,
                                   int64_t query_tokens) {
  return workspace_elements("attention_decode_workspace", batch, heads, head_dim, num_splits,
                            query_tokens);
}

void decode_attention(const TensorView& q, const TensorView& k_cache, const TensorView& v_cache,
                      const TensorView& block_table, const TensorView& seq_lens,
                      const TensorView& out, const DecodeAttentionOptions& o, Stream* stream,
                      std::source_location where) {
  run_decode({"decode_attention", where}, q, k_cache, v_cache, block_table, seq_lens, out, o,
             stream);
}

void attention_decode(const TensorView& q, const TensorView& k_cache, const TensorView& v_cache,
                      const TensorView& block_table, const TensorView& seq_lens,
                      const TensorView& out, const AttentionDecodeOptions& o, Stream* stream,
                      std::source_location where) {
  run_decode({"attention_decode", where}, q, k_cache, v_cache, block_table, seq_lens, out, o,
             stream);
}

} // namespace tessel::ops
