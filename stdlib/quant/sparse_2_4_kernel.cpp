// The 2:4-sparse weight matmul's GPU kernel (tessel/ops/sparse.h) on sparse tensor cores: mma.sp
// wants the sparse operand on the left, so a program computes the transposed tile
//     out^T [BN, BM] = dot_sparse(values [BN, BK/2], x^T [BK, BM], metadata [BN, BK/16])
// (the weights' rows n are the MMA's M, x's rows its N) and stores it transposed through its
// addresses (out + m * out_stride + n), which costs nothing: the store's layout is chosen for it.
// It reads half the weight bytes plus 1/16 for the metadata and multiplies half as many weights.
//
// The metadata is checked in the kernel, as the old decompressing kernel did by its NaN weights:
// a word with a group naming one position twice or out of order is undefined behaviour on mma.sp
// (the simulator stops on it), so such a word is replaced by a valid one (0x4444: positions 0, 1
// in every group) before the dot and the weight row's output column is made NaN afterwards --
// visibly wrong rather than silently. Words and values beyond K read as 0x4444 and 0.
#include "stdlib/quant/fused_epilogue.h"
#include "stdlib/quant/quant_kernels.h"

#include "tessel/lang/control.h"
#include "tessel/lang/dot_sparse.h"
#include "tessel/lang/hints.h"
#include "tessel/lang/ops.h"

#include <fmt/format.h>

#include <cmath>

namespace tessel::ops::detail {
namespace {

namespace tl = tessel::lang;

constexpr double kValidWord = 0x4444; // every group: positions 0 and 1

// 1 where every group of the 16-bit words `word` (i32) holds two positions, the first below the
// second; else 0.
tl::Tensor group_ok(const tl::Tensor& word, int i) {
  auto nibble = (word >> (4 * i)) & 15;
  return (nibble & 3) < (nibble >> 2);
}

tl::Tensor valid_words(const tl::Tensor& word) {
  return group_ok(word, 0) & group_ok(word, 1) & group_ok(word, 2) & group_ok(word, 3);
}

// The kernel for `chain` (empty: none). The accumulator is the transposed tile out^T [BN, BM]; a
// chain is applied to its transpose, out's [BM, BN] tile with rows [BM, 1] and columns [1, BN] as
// EpilogueTile documents them, so that a user step sees the tile every other matmul gives it
// (trans is a relabelling of the registers' dims, and the store's layout is chosen for it either
// way). Without a chain the transposed tile is stored as it is, which keeps that kernel's IR, and
// PTX, what it was before the epilogue existed.
Kernel make_sparse_2_4_kernel(const std::string& name, Chain chain) {
  const std::string params =
      fmt::format("out, x, values, metadata, {}, M, N, K, x_stride, out_stride, {}, {}, BM, BN, "
                  "BK, XA",
                  kSlotPointers, kSlotStrides, kSlotScalars);
  return tl::kernel(
      name, params,
      [chain = std::move(chain)](
          tl::Ptr out, tl::Ptr x, tl::Ptr values, tl::PtrOf<int16_t> metadata, tl::Ptr e0,
          tl::Ptr e1, tl::Int M, tl::Int N, tl::Int K, tl::Int x_stride, tl::Int out_stride,
          tl::Int e0_m, tl::Int e0_n, tl::Int e1_m, tl::Int e1_n, tl::Float s0, tl::Float s1,
          tl::Float s2, tl::Float s3, tl::Const<int> BM, tl::Const<int> BN, tl::Const<int> BK,
          tl::Const<int> XA) {
        auto pid = tl::program_id(0);
        auto num_n = (N + (BN - 1)) / BN;
        auto n0 = (pid % num_n) * BN, m0 = (pid / num_n) * BM;
        auto n = tl::expand_dims(n0 + tl::arange(0, BN), 1); // [BN, 1]
        auto m = tl::expand_dims(m0 + tl::arange(0, BM), 0); // [1, BM]
        auto n_in = n < N, m_in = m < M;
        auto kv = tl::expand_dims(tl::arange(0, BK / 2), 0);  // compressed columns
        auto kw = tl::expand_dims(tl::arange(0, BK / 16), 0); // metadata words
        auto kx = tl::expand_dims(tl::arange(0, BK), 1);      // rows of x^T
        auto value_rows = values + n * (K / 2), word_rows = metadata + n * (K / 16);
        // XA (8 or 1): x_stride is a multiple of it. With 8, x^T's columns are 16-byte runs,
        // loaded and staged as vectors; element by element, the stores of the column-major x^T tile
        // hit each bank 4 times (4 columns of one swizzled buffer per warp).
        auto x_cols = x + tl::multiple_of(m * x_stride, {XA, XA});
        tl::Tensor acc = tl::zeros({BN, BM}, DType::f32);
        tl::Tensor bad = tl::zeros({BN, BK / 16}, DType::i32);
        tl::for_range(0, K, BK, [&](tl::Int k) {
          auto v = tl::load(value_rows + (k / 2 + kv), n_in & (k / 2 + kv < K / 2), 0.0);
          auto word = tl::load(word_rows + (k / 16 + kw), n_in & (k / 16 + kw < K / 16), kValidWord)
                          .to(DType::i32) &
                      0xffff;
          auto ok = valid_words(word);
          bad = bad | (1 - ok.to(DType::i32));
          auto meta = tl::where(ok, word, int(kValidWord)).to(DType::i16);
          auto xt = tl::load(x_cols + (k + kx), m_in & (k + kx < K), 0.0);
          acc = tl::dot_sparse(v, xt, meta, acc);
        });
        auto bad_rows = tl::expand_dims(tl::max(bad, 1), 1) != 0;
        acc = tl::where(bad_rows, std::nan(""), acc);
        if (chain.empty()) {
          tl::store(out + (m * out_stride + n), acc.to(out.dtype()), n_in & m_in);
          return;
        }
        auto rows = tl::expand_dims(m0 + tl::arange(0, BM), 1); // [BM, 1]
        auto cols = tl::expand_dims(n0 + tl::arange(0, BN), 0); // [1, BN]
        store_with_chain(chain, tl::trans(acc), rows, cols, (rows < M) & (cols < N), out,
                         out_stride, {e0, e1, e0_m, e0_n, e1_m, e1_n, s0, s1, s2, s3});
      });
}

} // namespace

const Kernel& sparse_2_4_kernel_for(const std::string& key, const Chain& chain) {
  return kernel_for_chain("ops_matmul_sparse_2_4", key, chain, make_sparse_2_4_kernel);
}

const Kernel& sparse_2_4_kernel() { return sparse_2_4_kernel_for("", {}); }

} // namespace tessel::ops::detail
