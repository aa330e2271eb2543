// 2:4 structured sparsity (tessel/ops/sparse.h): magnitude pruning into values + metadata, its
// inverse, and the sparse matmul's checks and launch (its kernel: quant_kernels.cpp).
// The weights are moved as bits, so prune -> decompress reproduces every kept weight exactly.
#include "stdlib/common/args.h"
#include "stdlib/matmul/bind_chain.h"
#include "stdlib/quant/quant_kernels.h"
#include "tessel/dtype.h"
#include "tessel/ops/sparse.h"

#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <climits>
#include <cmath>
#include <cstring>
#include <vector>

namespace tessel::ops {
namespace {

using detail::OpSite;

constexpr int64_t kGroup = 4;     // weights per group along K, two of them kept
constexpr int64_t kWordRows = 16; // rows of K one 16-bit metadata word covers

void check_host(const OpSite& s, const char* arg, const TensorView& v, const char* why) {
  if (v.device != DeviceKind::cpu)
    s.fail(fmt::format("{} is on device {}; {}", arg, device_kind_name(v.device), why));
}

constexpr const char* kOffline =
    "2:4 pruning is an offline step on host tensors: pass host tensors and copy the results";

// K from a [K, N] weight: a multiple of 16, with the reasons in the message.
void check_k(const OpSite& s, const char* arg, int64_t k) {
  if (k % kGroup != 0)
    s.fail(fmt::format("{} has K = {}, not a multiple of 4: 2:4 sparsity keeps 2 of every 4 "
                       "weights along K; pad K with zero rows",
                       arg, k));
  if (k % kWordRows != 0)
    s.fail(fmt::format("{} has K = {}, not a multiple of 16: one 16-bit metadata word covers 16 "
                       "rows of K (the mma.sp metadata layout); pad K with zero rows",
                       arg, k));
}

// A contiguous [rows, cols] tensor of `dtype`.
void check_packed(const OpSite& s, const char* arg, const TensorView& v, int64_t rows, int64_t cols,
                  DType dtype, const char* what) {
  detail::check_dtype(s, arg, v, dtype);
  if (v.rank != 2 || v.shape[0] != rows || v.shape[1] != cols)
    s.fail(fmt::format("{} has shape {}; expected [{}, {}] ({})", arg, detail::shape_str(v), rows,
                       cols, what));
  if ((rows > 1 && v.strides[0] != cols) || (cols > 1 && v.strides[1] != 1))
    s.fail(fmt::format("{} is not contiguous; expected a contiguous [{}, {}] tensor", arg, rows,
                       cols));
  if (rows * cols > 0 && v.data == nullptr)
    s.fail(fmt::format("{} has a null data pointer", arg));
}

// The [K, N] weight's element (k, n) as bytes, any strides.
unsigned char* at(const TensorView& w, int64_t k, int64_t n) {
  return static_cast<unsigned char*>(w.data) +
         (k * w.strides[0] + n * w.strides[1]) * int64_t(dtype_bytes(w.dtype));
}

float magnitude(DType t, const unsigned char* p) {
  if (t == DType::f32) {
    float f;
    std::memcpy(&f, p, 4);
    return std::fabs(f);
  }
  uint16_t h;
  std::memcpy(&h, p, 2);
  return std::fabs(t == DType::f16 ? half_to_float(h) : bfloat16_to_float(h));
}

void check_weight(const OpSite& s, const char* arg, const TensorView& w) {
  detail::check_float(s, arg, w);
  if (w.rank != 2)
    s.fail(fmt::format("{} has shape {}; expected [K, N]", arg, detail::shape_str(w)));
  check_k(s, arg, w.shape[0]);
  if (w.shape[0] * w.shape[1] > 0 && w.data == nullptr)
    s.fail(fmt::format("{} has a null data pointer", arg));
}

// The positions (first, second) of group `i` of metadata word (n, j), checked.
std::pair<int, int> positions(const OpSite& s, uint16_t word, int64_t n, int64_t j, int i) {
  int nib = (word >> (4 * i)) & 0xf, first = nib & 3, second = nib >> 2;
  if (first >= second)
    s.fail(fmt::format("metadata[{}, {}] = {:#06x}: group {} (bits {}..{}, k = {}..{}) is {:#06b}, "
                       "which {}; each group holds two different positions 0..3, the first "
                       "below the second",
                       n, j, word, i, 4 * i, 4 * i + 3, kWordRows * j + kGroup * i,
                       kWordRows * j + kGroup * i + 3, nib,
                       first == second ? "names one position twice" : "is out of order"));
  return {first, second};
}

// Decompresses into a [K, N] weight of any strides (checked by the callers).
void expand(const OpSite& s, const TensorView& values, const TensorView& metadata,
            const TensorView& w) {
  const int64_t k = w.shape[0], n = w.shape[1];
  const unsigned bytes = dtype_bytes(w.dtype);
  const auto* val = static_cast<const unsigned char*>(values.data);
  const auto* meta = static_cast<const uint16_t*>(metadata.data);
  for (int64_t c = 0; c < n; ++c)
    for (int64_t j = 0; j < k / kWordRows; ++j) {
      const uint16_t word = meta[c * (k / kWordRows) + j];
      for (int i = 0; i < 4; ++i) {
        auto [first, second] = positions(s, word, c, j, i);
        const int64_t k0 = kWordRows * j + kGroup * i;
        const unsigned char* kept = val + (c * (k / 2) + k0 / 2) * bytes;
        for (int p = 0; p < kGroup; ++p) {
          unsigned char* dst = at(w, k0 + p, c);
          if (p == first)
            std::memcpy(dst, kept, bytes);
          else if (p == second)
            std::memcpy(dst, kept + bytes, bytes);
          else
            std::memset(dst, 0, bytes); // +0.0 in f32, f16 and bf16
        }
      }
    }
}

// For each nibble and position 0..3: 1 if the position holds the group's first kept weight, 2 if
// its second, 0 if neither; 3 for every position of an invalid nibble (first >= second).
constexpr std::array<std::array<uint8_t, 4>, 16> kSelect = [] {
  std::array<std::array<uint8_t, 4>, 16> t{};
  for (int nib = 0; nib < 16; ++nib)
    for (int p = 0; p < 4; ++p)
      t[size_t(nib)][size_t(p)] = (nib & 3) >= (nib >> 2) ? 3
                                  : p == (nib & 3)        ? 1
                                  : p == (nib >> 2)       ? 2
                                                          : 0;
  return t;
}();

// The CPU matmul's scratch: values/metadata of 16-bit weights into a row-major [K, N], one
// metadata word (16 rows of K) of every column at a time, so that the writes run along rows; the
// choice per position is a table lookup, not a branch (random metadata mispredicts half of them).
void expand_row_major(const OpSite& s, const uint16_t* val, const uint16_t* meta, uint16_t* w,
                      int64_t k, int64_t n) {
  const int64_t words = k / kWordRows;
  for (int64_t j = 0; j < words; ++j)
    for (int64_t c = 0; c < n; ++c) {
      const uint16_t word = meta[c * words + j];
      const uint16_t* kept = val + c * (k / 2) + (kWordRows / 2) * j;
      for (int i = 0; i < 4; ++i) {
        const auto& sel = kSelect[(word >> (4 * i)) & 0xf];
        if (sel[0] == 3)
          positions(s, word, c, j, i); // throws, naming the word and the group
        const uint16_t pick[3] = {0, kept[2 * i], kept[2 * i + 1]};
        uint16_t* col = w + (kWordRows * j + kGroup * i) * n + c;
        for (int p = 0; p < kGroup; ++p)
          col[p * n] = pick[sel[size_t(p)]];
      }
    }
}

} // namespace

void prune_2_4(const TensorView& w, const TensorView& values, const TensorView& metadata,
               std::source_location where) {
  OpSite s{"prune_2_4", where};
  check_host(s, "w", w, kOffline);
  check_weight(s, "w", w);
  const int64_t k = w.shape[0], n = w.shape[1];
  check_host(s, "values", values, kOffline);
  check_packed(s, "values", values, n, k / 2, w.dtype, "[N, K / 2]: the kept half of each column");
  check_host(s, "metadata", metadata, kOffline);
  check_packed(s, "metadata", metadata, n, k / kWordRows, DType::i16,
               "[N, K / 16]: one 16-bit word per 16 rows of K");
  const unsigned bytes = dtype_bytes(w.dtype);
  for (int64_t c = 0; c < n; ++c)
    for (int64_t r = 0; r < k; ++r)
      if (std::isnan(magnitude(w.dtype, at(w, r, c))))
        s.fail(fmt::format("w[{}, {}] is NaN; magnitude pruning needs comparable weights", r, c));
  auto* val = static_cast<unsigned char*>(values.data);
  auto* meta = static_cast<uint16_t*>(metadata.data);
  for (int64_t c = 0; c < n; ++c)
    for (int64_t g = 0; g < k / kGroup; ++g) {
      // Keep the weights that fewer than two others beat: q beats p when |w_q| > |w_p|, or equal
      // with q < p (so ties keep the lower k, and exactly two are kept).
      float m[kGroup];
      for (int p = 0; p < kGroup; ++p)
        m[p] = magnitude(w.dtype, at(w, kGroup * g + p, c));
      int kept[2], count = 0;
      for (int p = 0; p < kGroup; ++p) {
        int beaten = 0;
        for (int q = 0; q < kGroup; ++q)
          beaten += m[q] > m[p] || (m[q] == m[p] && q < p);
        if (beaten < 2)
          kept[count++] = p;
      }
      const int first = kept[0], second = kept[1];
      unsigned char* dst = val + (c * (k / 2) + 2 * g) * bytes;
      std::memcpy(dst, at(w, kGroup * g + first, c), bytes);
      std::memcpy(dst + bytes, at(w, kGroup * g + second, c), bytes);
      uint16_t& word = meta[c * (k / kWordRows) + g / 4];
      if (g % 4 == 0)
        word = 0;
      word = uint16_t(word | ((first | second << 2) << (4 * (g % 4))));
    }
}

void decompress_2_4(const TensorView& values, const TensorView& metadata, const TensorView& w,
                    std::source_location where) {
  OpSite s{"decompress_2_4", where};
  constexpr const char* why = "decompress_2_4 works on host tensors (copy device tensors first)";
  check_host(s, "w", w, why);
  check_weight(s, "w", w);
  const int64_t k = w.shape[0], n = w.shape[1];
  check_host(s, "values", values, why);
  check_packed(s, "values", values, n, k / 2, w.dtype, "[N, K / 2] for w's [K, N]");
  check_host(s, "metadata", metadata, why);
  check_packed(s, "metadata", metadata, n, k / kWordRows, DType::i16, "[N, K / 16] for w's [K, N]");
  expand(s, values, metadata, w);
}

void matmul_sparse_2_4(const TensorView& x, const TensorView& values, const TensorView& metadata,
                       const TensorView& out, const Sparse24Options& options, Stream* stream,
                       std::source_location where) {
  OpSite s{"matmul_sparse_2_4", where};
  if (x.dtype != DType::f16 && x.dtype != DType::bf16)
    s.fail(fmt::format("x has dtype {}; expected f16 or bf16 (the sparse tensor-core types)",
                       dtype_name(x.dtype)));
  detail::Rows xr = detail::rows_of(s, "x", x);
  if (x.rank != 2)
    s.fail(fmt::format("x has shape {}; expected [M, K]", detail::shape_str(x)));
  const int64_t m = xr.rows, k = xr.cols;
  check_k(s, "x", k);
  if (values.rank != 2)
    s.fail(fmt::format("values has shape {}; expected [N, K / 2]", detail::shape_str(values)));
  const int64_t n = values.shape[0];
  if (values.dtype != x.dtype)
    s.fail(fmt::format("values has dtype {} but x has {}: the weights and x share one dtype",
                       dtype_name(values.dtype), dtype_name(x.dtype)));
  check_packed(s, "values", values, n, k / 2, x.dtype, "[N, K / 2] for x's K");
  check_packed(s, "metadata", metadata, n, k / kWordRows, DType::i16, "[N, K / 16] for x's K");
  detail::check_float(s, "out", out);
  if (out.rank != 2 || out.shape[0] != m || out.shape[1] != n)
    s.fail(
        fmt::format("out has shape {}; expected [{}, {}] ([M, N])", detail::shape_str(out), m, n));
  detail::Rows outr = detail::rows_of(s, "out", out);
  for (const auto& [arg, v] :
       {std::pair{"values", &values}, {"metadata", &metadata}, {"out", &out}})
    detail::check_device(s, arg, *v, "x", x);
  if (options.num_stages < 1 || options.num_stages > 16)
    s.fail(fmt::format("options.num_stages is {}; expected 1 to 16 (the cp.async ring's depth)",
                       options.num_stages));
  if ((m > 0 ? m - 1 : 0) * std::max(xr.stride, outr.stride) + std::max(k, n) > INT32_MAX ||
      n * k / 2 > INT32_MAX)
    s.fail(fmt::format("x [{}, {}] with N = {}: every operand must span fewer than 2^31 elements",
                       m, k, n));
  // Tiles as W4A16's (the same memory-bound decode shape): on a GPU 16 rows of x for M <= 16 (one
  // row of programs streaming the weights) else 64, by 64 columns (weight rows: the mma.sp's M),
  // 64 rows of K per step (two mma.sp.m16n8k32; a 16-row x tile still gives each thread one
  // 16-byte load). The kernel (sparse_2_4_kernel.cpp) computes the transposed tile. The chain is
  // bound (checked) here for both paths, so that its errors name this op.
  const int bm = m <= 16 ? 16 : 64, bn = 64, bk = 64;
  detail::BoundChain bc =
      detail::bind_chain(s, options.epilogue, {out, 1, m, n, DType::f32, bm, bn});
  if (x.device == DeviceKind::cpu) {
    // The CPU backend multiplies the decompressed weights with ops::matmul (its vectorised tile
    // kernel): the kernel below, run on the CPU, gathers every weight element and was ~20-100x
    // slower than the dense matmul (bench/RESULTS.md). Decompressing checks the metadata. The
    // scratch is kept per thread (every element is written), so a call allocates nothing after
    // the first of its size.
    static thread_local std::vector<uint16_t> dense;
    if (dense.size() < std::max<size_t>(size_t(k * n), 1)) // never null, even for K = 0
      dense.resize(std::max<size_t>(size_t(k * n), 1));
    expand_row_major(s, static_cast<const uint16_t*>(values.data),
                     static_cast<const uint16_t*>(metadata.data), dense.data(), k, n);
    MatmulOptions mo;
    mo.epilogue = options.epilogue;
    matmul(x, TensorView(dense.data(), x.dtype, {k, n}), out, mo, stream, where);
    return;
  }
  // Device metadata is not read back (that would synchronise): the kernel turns a bad group into
  // NaN weights.
  if (m == 0 || n == 0)
    return;
  LaunchOptions lo;
  lo.num_warps = 4;
  lo.num_stages = options.num_stages;
  lo.stream = stream;
  const int64_t tiles = ((m + bm - 1) / bm) * ((n + bn - 1) / bn);
  detail::SlotArgs sa = detail::slot_args(bc, out);
  detail::sparse_2_4_kernel_for(bc.key, bc.chain)
      .launch(GridAt(Grid(tiles), where), lo, out, x, values, metadata, sa.views[0], sa.views[1],
              int(m), int(n), int(k), int(xr.stride), int(outr.stride), sa.strides[0][1],
              sa.strides[0][2], sa.strides[1][1], sa.strides[1][2], sa.scalars[0], sa.scalars[1],
              sa.scalars[2], sa.scalars[3], bm, bn, bk, xr.stride % 8 == 0 ? 8 : 1);
}

} // namespace tessel::ops
