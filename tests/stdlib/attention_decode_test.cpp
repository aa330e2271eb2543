// ops::decode_attention / attention_decode (its first name; flash-decoding over a paged KV cache,
// one or several query tokens per sequence) against the f64 reference of
// attention_reference.h on keys gathered from the pages by the test itself: random block tables
// (blocks shuffled across sequences, unused table entries poisoned with ids past the cache, so a
// read of one fails), block sizes 16/32/64/128, ragged lengths (0, 1, a page and one, a full
// table), GQA and MQA, one split and several (the combine kernel), f32/f16/bf16, every head dim;
// a contiguous cache through ops::attention with seqlen_q = 1 agrees; the simulated device
// (memcheck and racecheck on); bad input with its message; PTX unspilled.
#include "ops_test_util.h"

#include "attention_reference.h"
#include "gpu/gpu_test_util.h"
#include "stdlib/common/kernels.h"
#include "support/expect_error.h"
#include "tessel/ops.h"

#include <fmt/format.h>

#include <algorithm>
#include <numeric>
#include <random>

namespace tessel::testing {
namespace {

using ops::AttentionDecodeOptions;

struct Case {
  std::vector<int64_t> lens; // per sequence
  int64_t heads = 8, kv_heads = 2, dim = 64, block_size = 16;
  int64_t max_blocks = 0; // 0: what the longest length needs, plus one
  int num_splits = 0;     // the op's option
  bool workspace = true;
  // Query tokens per sequence: 0 is q [batch, heads, head_dim] through the op's first name
  // (attention_decode); n >= 1 is q [batch, n, heads, head_dim] through decode_attention.
  int64_t tq = 0;
};

struct Cache {
  int64_t num_blocks, max_blocks;
  std::vector<double> table; // [batch, max_blocks]
};

// Each sequence's pages get distinct blocks, shuffled, with spare blocks left over; table entries
// no length reaches hold ids past the cache.
Cache random_cache(const Case& c, uint32_t seed) {
  int64_t longest = *std::max_element(c.lens.begin(), c.lens.end());
  Cache k;
  k.max_blocks = c.max_blocks ? c.max_blocks : (longest + c.block_size - 1) / c.block_size + 1;
  int64_t used = 0;
  for (int64_t l : c.lens)
    used += (l + c.block_size - 1) / c.block_size;
  k.num_blocks = used + 3;
  std::vector<int64_t> ids(size_t(k.num_blocks));
  std::iota(ids.begin(), ids.end(), 0);
  std::shuffle(ids.begin(), ids.end(), std::mt19937(seed));
  k.table.assign(size_t(int64_t(c.lens.size()) * k.max_blocks), double(1 << 30));
  size_t next = 0;
  for (size_t b = 0; b < c.lens.size(); ++b)
    for (int64_t p = 0; p < (c.lens[b] + c.block_size - 1) / c.block_size; ++p)
      k.table[b * size_t(k.max_blocks) + size_t(p)] = double(ids[next++]);
  return k;
}

std::string describe(const Case& c, DType t) {
  std::string lens;
  for (int64_t l : c.lens)
    lens += fmt::format(" {}", l);
  return fmt::format("decode {} h{}/{} d{} page {} splits {}{} tq {} lens{}", dtype_name(t),
                     c.heads, c.kv_heads, c.dim, c.block_size, c.num_splits,
                     c.workspace ? "" : " no workspace", c.tq, lens);
}

void check(const Case& c, DeviceKind dev = DeviceKind::cpu, DType t = DType::f32, int64_t pad = 0) {
  const int64_t batch = int64_t(c.lens.size());
  const uint32_t seed = uint32_t(batch * 131 + c.dim * 7 + c.block_size + c.heads);
  Cache cache = random_cache(c, seed);
  const int64_t kv_row = c.kv_heads * c.dim;
  const int64_t tokens = std::max<int64_t>(c.tq, 1), q_seq = tokens * c.heads * c.dim;
  auto q0 = rounded(random_values(size_t(batch * q_seq), seed, -2, 2), t);
  const size_t nk = size_t(cache.num_blocks * c.block_size * kv_row);
  auto k0 = rounded(random_values(nk, seed + 1, -2, 2), t);
  auto v0 = rounded(random_values(nk, seed + 2, -2, 2), t);
  std::vector<int64_t> qs{batch, c.heads, c.dim}, lse_shape{batch, c.heads};
  if (c.tq > 0) {
    qs = {batch, c.tq, c.heads, c.dim};
    lse_shape = {batch, c.tq, c.heads};
  }
  std::vector<int64_t> ks{cache.num_blocks, c.block_size, c.kv_heads, c.dim};
  TestTensor q(dev, t, qs, q0, pad), k(dev, t, ks, k0, pad), v(dev, t, ks, v0, pad);
  std::vector<double> lens(c.lens.begin(), c.lens.end());
  TestTensor table(dev, DType::i32, {batch, cache.max_blocks}, cache.table);
  TestTensor seq_lens(dev, DType::i32, {batch}, lens);
  auto out = TestTensor::poisoned(dev, t, qs, pad);
  auto lse = TestTensor::poisoned(dev, DType::f32, lse_shape);
  const int ws_splits = c.num_splits > 0 ? c.num_splits : 64;
  auto ws = TestTensor::poisoned(
      dev, DType::f32, {ops::decode_attention_workspace(batch, c.heads, c.dim, ws_splits, tokens)});
  AttentionDecodeOptions o{.lse = lse.view(), .num_splits = c.num_splits};
  if (c.workspace)
    o.workspace = ws.view();
  if (c.tq > 0)
    ops::decode_attention(q.view(), k.view(), v.view(), table.view(), seq_lens.view(), out.view(),
                          o);
  else
    ops::attention_decode(q.view(), k.view(), v.view(), table.view(), seq_lens.view(), out.view(),
                          o);

  std::vector<double> want_out(q0.size()), want_lse(size_t(batch * tokens * c.heads));
  for (int64_t b = 0; b < batch; ++b) {
    const int64_t n = c.lens[size_t(b)];
    std::vector<double> kb, vb; // the sequence's keys gathered from its pages
    for (int64_t j = 0; j < n; ++j) {
      const int64_t blk = int64_t(cache.table[size_t(b * cache.max_blocks + j / c.block_size)]);
      const size_t at = size_t((blk * c.block_size + j % c.block_size) * kv_row);
      kb.insert(kb.end(), k0.begin() + at, k0.begin() + at + kv_row);
      vb.insert(vb.end(), v0.begin() + at, v0.begin() + at + kv_row);
    }
    std::vector<double> qb(q0.begin() + b * q_seq, q0.begin() + (b + 1) * q_seq);
    // The new tokens are the last `tokens` positions of the sequence: causal, aligned to the
    // bottom-right corner as attention's band.
    SeqResult r =
        seq_reference({tokens, n, c.heads, c.kv_heads, c.dim, /*causal=*/true}, qb, kb, vb);
    std::copy(r.out.begin(), r.out.end(), want_out.begin() + b * q_seq);
    for (int64_t i = 0; i < tokens; ++i)
      for (int64_t h = 0; h < c.heads; ++h)
        want_lse[size_t((b * tokens + i) * c.heads + h)] = r.lse[size_t(h * tokens + i)];
  }
  const std::string what = describe(c, t);
  const double tol = t == DType::f32 ? 2e-5 : t == DType::f16 ? 4e-3 : 3e-2;
  expect_close(out.values(), want_out, tol, what + " out", tol);
  EXPECT_TRUE(out.padding_untouched()) << what;
  auto got_lse = lse.values();
  for (size_t i = 0; i < got_lse.size(); ++i) {
    if (std::isinf(want_lse[i])) {
      ASSERT_EQ(got_lse[i], want_lse[i]) << what << " lse " << i;
      continue;
    }
    ASSERT_NEAR(got_lse[i], want_lse[i], 2e-5 * (std::fabs(want_lse[i]) + 4))
        << what << " lse " << i;
  }
}

TEST(AttentionDecode, EveryBlockSizeCpu) {
  for (int64_t bs : {16, 32, 64, 128})
    for (int splits : {1, 3}) {
      Case c{.lens = {0, 1, bs + 1, 3 * bs, 2 * bs - 5}, .block_size = bs, .num_splits = splits};
      check(c);
    }
}

TEST(AttentionDecode, SplitsChosenAndWithoutWorkspaceCpu) {
  Case c{.lens = {200, 17, 64}, .heads = 4, .kv_heads = 4, .dim = 32, .block_size = 16};
  check(c); // num_splits 0 with a workspace: several splits
  c.workspace = false;
  check(c); // no workspace: one split
  c.workspace = true;
  c.num_splits = 13; // more splits than some sequences have pages: empty splits weigh 0
  check(c);
}

TEST(AttentionDecode, GroupedAndMultiQueryCpu) {
  for (int64_t kv_heads : {1, 2, 8})
    check({.lens = {40, 33},
           .heads = 8,
           .kv_heads = kv_heads,
           .dim = 64,
           .block_size = 32,
           .num_splits = 2});
  // 32 q heads per kv head: BLOCK_H 32.
  check({.lens = {21}, .heads = 32, .kv_heads = 1, .dim = 32, .num_splits = 2});
}

TEST(AttentionDecode, DtypesAndHeadDimsCpu) {
  check({.lens = {50, 3}, .heads = 4, .kv_heads = 2, .dim = 128, .num_splits = 2}, DeviceKind::cpu,
        DType::bf16, /*pad=*/8);
  check({.lens = {50, 3}, .heads = 4, .kv_heads = 2, .dim = 96, .num_splits = 3}, DeviceKind::cpu,
        DType::f16);
  check({.lens = {20}, .heads = 2, .kv_heads = 1, .dim = 256, .block_size = 16, .num_splits = 2},
        DeviceKind::cpu, DType::f16);
  check({.lens = {20, 47}, .heads = 2, .kv_heads = 1, .dim = 32, .num_splits = 1}, DeviceKind::cpu,
        DType::bf16);
}

// On the simulated device, with no conflicting shared-memory wavefront (the 32 these two cases
// took came from the store mask's broadcast; decode_kernels.cpp, store_rows).
TEST(AttentionDecode, SimulatedDevice) {
  TESSEL_REQUIRE_SIM_DEVICE();
  SimBankConflicts banks;
  check({.lens = {5, 40}, .heads = 4, .kv_heads = 2, .dim = 32, .num_splits = 2}, DeviceKind::sim,
        DType::f16);
  check({.lens = {33}, .heads = 2, .kv_heads = 2, .dim = 64, .block_size = 32, .num_splits = 1},
        DeviceKind::sim, DType::f32, /*pad=*/8);
  banks.expect_none("attention_decode");
}

// The contiguous-cache case (attention.h): ops::attention with seqlen_q = 1 and kv_lens, and
// attention_decode on the same cache viewed as blocks with an identity table, agree.
TEST(AttentionDecode, ContiguousCacheTwoWays) {
  const int64_t batch = 2, heads = 4, kv_heads = 2, dim = 32, seqlen = 64, bs = 16;
  auto q0 = random_values(size_t(batch * heads * dim), 1);
  auto k0 = random_values(size_t(batch * seqlen * kv_heads * dim), 2);
  auto v0 = random_values(k0.size(), 3);
  const DeviceKind cpu = DeviceKind::cpu;
  TestTensor q(cpu, DType::f32, {batch, 1, heads, dim}, q0);
  TestTensor k(cpu, DType::f32, {batch, seqlen, kv_heads, dim}, k0);
  TestTensor v(cpu, DType::f32, {batch, seqlen, kv_heads, dim}, v0);
  TestTensor lens(cpu, DType::i32, {batch}, {50, 7});
  auto a = TestTensor::poisoned(cpu, DType::f32, {batch, 1, heads, dim});
  ops::attention(q.view(), k.view(), v.view(), a.view(), {.kv_lens = lens.view()});

  TestTensor qd(cpu, DType::f32, {batch, heads, dim}, q0);
  TestTensor kd(cpu, DType::f32, {batch * seqlen / bs, bs, kv_heads, dim}, k0);
  TestTensor vd(cpu, DType::f32, {batch * seqlen / bs, bs, kv_heads, dim}, v0);
  std::vector<double> ids(size_t(batch * seqlen / bs));
  std::iota(ids.begin(), ids.end(), 0.0);
  TestTensor table(cpu, DType::i32, {batch, seqlen / bs}, ids);
  auto b = TestTensor::poisoned(cpu, DType::f32, {batch, heads, dim});
  ops::attention_decode(qd.view(), kd.view(), vd.view(), table.view(), lens.view(), b.view());
  expect_close(b.values(), a.values(), 1e-5, "decode vs attention with seqlen_q = 1", 1e-6);
}

// ---- bad input ----------------------------------------------------------------------------------

struct Inputs {
  std::vector<float> data = std::vector<float>(8 * 16 * 2 * 32, 0.5f);
  std::vector<int32_t> table = {0, 1, 2, 3, 4, 5}, lens = {30, 40};
  TensorView q() { return TensorView(data.data(), {2, 4, 32}); }
  TensorView cache() { return TensorView(data.data(), {8, 16, 2, 32}); }
  TensorView table_view() { return TensorView(table.data(), {2, 3}); }
  TensorView lens_view() { return TensorView(lens.data(), {2}); }
  void run(const AttentionDecodeOptions& o = {},
           std::source_location where = std::source_location::current()) {
    ops::attention_decode(q(), cache(), cache(), table_view(), lens_view(), q(), o, nullptr, where);
  }
};

// Several query tokens per sequence (speculative decoding, chunked prefill), causal among them:
// token counts against page boundaries, lengths equal to the token count, an empty sequence,
// GQA groups times tokens filling a tile, one split and several.
TEST(DecodeAttention, SeveralQueryTokensCpu) {
  check({.lens = {5, 40, 17}, .heads = 4, .kv_heads = 2, .dim = 32, .tq = 2});
  check({.lens = {3, 33, 0}, .heads = 8, .kv_heads = 2, .dim = 64, .num_splits = 3, .tq = 3});
  check({.lens = {16, 47},
         .heads = 2,
         .kv_heads = 2,
         .dim = 64,
         .block_size = 32,
         .num_splits = 1,
         .tq = 5});
  check({.lens = {70}, .heads = 16, .kv_heads = 2, .dim = 128, .num_splits = 2, .tq = 16},
        DeviceKind::cpu, DType::bf16);
  check({.lens = {9, 30}, .heads = 4, .kv_heads = 4, .dim = 32, .tq = 1}, DeviceKind::cpu,
        DType::f16);
}

TEST(DecodeAttention, SeveralQueryTokensSimulatedDevice) {
  TESSEL_REQUIRE_SIM_DEVICE();
  SimBankConflicts banks;
  check({.lens = {5, 40}, .heads = 4, .kv_heads = 2, .dim = 32, .num_splits = 2, .tq = 3},
        DeviceKind::sim, DType::f16);
  banks.expect_none("decode_attention with 3 query tokens");
}

TEST(DecodeAttentionErrors, QueryTokensPastTheTable) {
  std::vector<float> x(2 * 40 * 4 * 32), cache(4 * 16 * 2 * 32);
  std::vector<int32_t> table = {0, 1, 2, 3}, lens = {32, 32};
  TensorView q(x.data(), {2, 40, 4, 32}), kc(cache.data(), {4, 16, 2, 32});
  expect_error(
      [&] {
        ops::decode_attention(q, kc, kc, TensorView(table.data(), {2, 2}),
                              TensorView(lens.data(), {2}), q);
      },
      {"decode_attention: q has 40 query tokens per sequence but block_table covers 32 tokens (2 "
       "blocks of 16)"});
}

TEST(DecodeAttentionErrors, SeqLensShorterThanQueryTokens) {
  std::vector<float> x(2 * 4 * 4 * 32), cache(4 * 16 * 2 * 32);
  std::vector<int32_t> table = {0, 1, 2, 3}, lens = {20, 3};
  TensorView q(x.data(), {2, 4, 4, 32}), kc(cache.data(), {4, 16, 2, 32});
  expect_error(
      [&] {
        ops::decode_attention(q, kc, kc, TensorView(table.data(), {2, 2}),
                              TensorView(lens.data(), {2}), q);
      },
      {"decode_attention: seq_lens[1] is 3 but q has 4 query tokens per sequence; seq_lens counts "
       "the cached keys including the new tokens'"});
}

TEST(DecodeAttentionErrors, TooManyRowsForATile) {
  std::vector<float> x(1 * 9 * 32 * 32), cache(4 * 16 * 2 * 32);
  std::vector<int32_t> table = {0, 1}, lens = {20};
  TensorView q(x.data(), {1, 9, 32, 32}), kc(cache.data(), {4, 16, 2, 32});
  expect_error(
      [&] {
        ops::decode_attention(q, kc, kc, TensorView(table.data(), {1, 2}),
                              TensorView(lens.data(), {1}), q);
      },
      {"decode_attention: q has 9 query tokens per sequence and 16 q heads per kv head: 144 rows, "
       "more than a decode tile's 128; pass at most 8 tokens per call"});
}

TEST(DecodeAttentionErrors, LseShapeWithTokens) {
  std::vector<float> x(2 * 3 * 4 * 32), cache(4 * 16 * 2 * 32), l(2 * 4);
  std::vector<int32_t> table = {0, 1, 2, 3}, lens = {20, 3};
  TensorView q(x.data(), {2, 3, 4, 32}), kc(cache.data(), {4, 16, 2, 32});
  expect_error(
      [&] {
        ops::decode_attention(q, kc, kc, TensorView(table.data(), {2, 2}),
                              TensorView(lens.data(), {2}), q,
                              {.lse = TensorView(l.data(), {2, 4})});
      },
      {"decode_attention: lse has shape [2, 4]; expected a contiguous [2, 3, 4] (batch, query "
       "tokens, heads)"});
}

TEST(AttentionDecodeErrors, BlockIdPastTheCache) {
  Inputs in;
  in.table[4] = 8; // sequence 1's second page
  int line = __LINE__ + 1;
  expect_error([&] { in.run(); },
               {"attention_decode_test.cpp:" + std::to_string(line),
                "attention_decode: block_table[1, 1] is 8, which is not a block of k_cache (it "
                "has 8); sequence 1 of 40 tokens reads it"});
  in.table[4] = -2;
  expect_error([&] { in.run(); }, {"attention_decode: block_table[1, 1] is -2"});
}

TEST(AttentionDecodeErrors, UnreachedTableEntriesAreNotChecked) {
  Inputs in;
  in.table[2] = 1000; // sequence 0 has 30 tokens: two pages, the third entry is never read
  in.lens[1] = 32;    // two pages: the third entry of sequence 1 is never read either
  in.table[5] = -1;
  EXPECT_NO_THROW(in.run());
}

TEST(AttentionDecodeErrors, SeqLensPastTheTable) {
  Inputs in;
  in.lens[1] = 49;
  expect_error([&] { in.run(); },
               {"attention_decode: seq_lens[1] is 49 but block_table has 3 blocks of 16 tokens "
                "per sequence (48 tokens); expected 0 <= seq_lens <= 48"});
  in.lens[1] = -1;
  expect_error([&] { in.run(); }, {"attention_decode: seq_lens[1] is -1"});
}

TEST(AttentionDecodeErrors, BlockSize) {
  Inputs in;
  TensorView c(in.data.data(), {16, 8, 2, 32});
  expect_error(
      [&] { ops::attention_decode(in.q(), c, c, in.table_view(), in.lens_view(), in.q()); },
      {"attention_decode: k_cache has block_size 8 (its dimension 1); supported block sizes are "
       "16, 32, 64 and 128 tokens"});
}

TEST(AttentionDecodeErrors, KvHeads) {
  Inputs in;
  TensorView q(in.data.data(), {2, 3, 32});
  expect_error(
      [&] { ops::attention_decode(q, in.cache(), in.cache(), in.table_view(), in.lens_view(), q); },
      {"attention_decode: q has 3 heads but the caches have 2 kv heads; the kv heads must "
       "divide the q heads"});
}

TEST(AttentionDecodeErrors, HeadDim) {
  Inputs in;
  TensorView q(in.data.data(), {2, 4, 48}), c(in.data.data(), {4, 16, 2, 48});
  expect_error(
      [&] { ops::attention_decode(q, c, c, in.table_view(), in.lens_view(), q); },
      {"attention_decode: q has head_dim 48; supported head dims are 32, 64, 96, 128 and 256"});
}

TEST(AttentionDecodeErrors, CacheHeadDimMismatch) {
  Inputs in;
  TensorView c(in.data.data(), {4, 16, 2, 64});
  expect_error(
      [&] { ops::attention_decode(in.q(), c, c, in.table_view(), in.lens_view(), in.q()); },
      {"attention_decode: k_cache has head_dim 64 but q has 32; expected the same"});
}

TEST(AttentionDecodeErrors, TableShapeAndDtype) {
  Inputs in;
  TensorView t(in.table.data(), {3, 2});
  expect_error(
      [&] { ops::attention_decode(in.q(), in.cache(), in.cache(), t, in.lens_view(), in.q()); },
      {"attention_decode: block_table has shape [3, 2]; expected [2, max_blocks]"});
  TensorView f(in.data.data(), {2, 3});
  expect_error(
      [&] { ops::attention_decode(in.q(), in.cache(), in.cache(), f, in.lens_view(), in.q()); },
      {"attention_decode: block_table has dtype f32; expected i32"});
}

TEST(AttentionDecodeErrors, NullTable) {
  Inputs in;
  TensorView t(static_cast<int32_t*>(nullptr), {2, 3});
  expect_error(
      [&] { ops::attention_decode(in.q(), in.cache(), in.cache(), t, in.lens_view(), in.q()); },
      {"attention_decode: block_table has shape [2, 3] but a null data pointer"});
}

TEST(AttentionDecodeErrors, TableTooLongFor32Bits) {
  Inputs in;
  TensorView t(in.table.data(), {2, int64_t(1) << 28}); // shape only: it is refused before a read
  expect_error(
      [&] { ops::attention_decode(in.q(), in.cache(), in.cache(), t, in.lens_view(), in.q()); },
      {"attention_decode: block_table has 268435456 blocks of 16 tokens per sequence",
       "the kernel takes 32-bit token counts, strides and block ids"});
}

TEST(AttentionDecodeErrors, CacheDtype) {
  Inputs in;
  std::vector<uint16_t> h(8 * 16 * 2 * 32);
  TensorView c(h.data(), DType::f16, {8, 16, 2, 32});
  expect_error(
      [&] { ops::attention_decode(in.q(), c, c, in.table_view(), in.lens_view(), in.q()); },
      {"attention_decode: k_cache has dtype f16 but q has f32; q and the caches must share one "
       "dtype"});
}

TEST(AttentionDecodeErrors, WorkspaceTooSmall) {
  Inputs in;
  std::vector<float> ws(100);
  expect_error([&] { in.run({.num_splits = 2, .workspace = TensorView(ws.data(), {100})}); },
               {"attention_decode: num_splits is 2 but workspace holds 100 f32 elements; expected "
                "at least decode_attention_workspace(...) = 528"});
  expect_error([&] { in.run({.num_splits = 2}); },
               {"attention_decode: num_splits is 2 but workspace holds 0 f32 elements"});
}

TEST(AttentionDecodeErrors, NegativeSplits) {
  Inputs in;
  expect_error([&] { in.run({.num_splits = -1}); },
               {"attention_decode: num_splits is -1; expected 0 (chosen from the shape) or a "
                "count >= 1"});
}

TEST(AttentionDecodeErrors, Rank) {
  Inputs in;
  TensorView q(in.data.data(), {8, 32});
  expect_error(
      [&] { ops::attention_decode(q, in.cache(), in.cache(), in.table_view(), in.lens_view(), q); },
      {"attention_decode: q has shape [8, 32]; expected rank 3 ([batch, heads, head_dim]) or 4 "
       "([batch, query tokens, heads, head_dim])"});
}

TEST(AttentionDecodeErrors, BadLse) {
  Inputs in;
  expect_error(
      [&] {
        in.run({.lse = TensorView(in.data.data(), {4, 2})});
      },
      {"attention_decode: lse has shape [4, 2]; expected a contiguous [2, 4] (batch, "
       "heads)"});
}

// A device view's table is not read on the host (attention.h): a block id past the cache is a read
// outside k_cache that the simulator's memcheck reports, never a silent wrong value.
TEST(AttentionDecodeErrors, BlockIdPastTheCacheInTheSimulator) {
  TESSEL_REQUIRE_SIM_DEVICE();
  const DeviceKind sim = DeviceKind::sim;
  TestTensor q(sim, DType::f32, {1, 2, 32}, random_values(64, 1));
  TestTensor k(sim, DType::f32, {2, 16, 1, 32}, random_values(1024, 2));
  TestTensor table(sim, DType::i32, {1, 2}, {1, 1000});
  TestTensor lens(sim, DType::i32, {1}, {20});
  auto out = TestTensor::poisoned(sim, DType::f32, {1, 2, 32});
  expect_error(
      [&] {
        ops::attention_decode(q.view(), k.view(), k.view(), table.view(), lens.view(), out.view(),
                              {.num_splits = 1});
      },
      {"memcheck"});
}

// The decode kernel at the tiles the op launches on a GPU (head_dim in chunks of 32, 16 q heads
// per program; 2 warps for 16-token pages, so that a thread reads 16 bytes of a [16, 32] f16
// chunk, 4 for longer pages) for 16- and 32-token pages at head_dim 64 and 128, final and partial,
// and the combine kernel: zero spills, 16-byte loads, on both targets.
TEST(AttentionDecodePtx, NoSpills) {
  TESSEL_REQUIRE_CUDA_TOOLKIT();
  for (const char* target : {"sm_80", "sm_90a"}) {
    for (int64_t dim : {64, 128})
      for (int64_t page : {16, 32})
        for (int64_t flags :
             {int64_t(ops::detail::kAttentionSaveLse), int64_t(ops::detail::kDecodePartial)}) {
          // FLAGS, HEAD_DIM, DCHUNK, BLOCK_H, PAGE.
          auto module = trace_dsl(ops::detail::attention_decode_kernel(),
                                  {flags, dim, 32, 16, page}, DType::f16);
          expect_lean_ptx(
              *module, target, page == 16 ? 2 : 4,
              fmt::format("decode {} head_dim {} page {} flags {}", target, dim, page, flags));
        }
    auto module = trace_dsl(ops::detail::attention_decode_combine_kernel(),
                            {ops::detail::kAttentionSaveLse, 128, 128, 8}, DType::f32);
    expect_lean_ptx(*module, target, 4, fmt::format("decode combine {}", target));
  }
}

} // namespace
} // namespace tessel::testing
