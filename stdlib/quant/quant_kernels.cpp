// The quantized and low-rank matmul kernels (see quant_kernels.h). In-matrix offsets are i32 (the
// ops check that every operand's largest offset fits).
//
// The int4 weights become f16 by magic-number arithmetic, not an int -> float conversion: a
// nibble q OR'd into the mantissa of 1024.0h (0x6400) is the f16 1024 + q exactly, and
// subtracting 1024 leaves q exactly; the scale is then applied in f32 as before, so the weights
// are bit-identical to (f32(q) - z) * s rounded to x's dtype.
#include "stdlib/quant/quant_kernels.h"

#include "stdlib/quant/fused_epilogue.h"
#include "stdlib/quant/output_tile.h"
#include "tessel/lang/control.h"
#include "tessel/lang/ops.h"

#include <fmt/format.h>

#include <cmath>

namespace tessel::ops::detail {
namespace {

namespace tl = tessel::lang;

// Round to nearest, ties to even, of f32 values of magnitude below 2^22 (where t + 0.5 is exact):
// floor(t + 0.5) rounds ties up, so a tie that landed on an odd integer steps back by one.
tl::Tensor round_half_even(const tl::Tensor& t) {
  auto r = tl::floor(t + 0.5);
  auto odd = (r - 2.0 * tl::floor(r * 0.5)) != 0.0;
  return tl::where(((r - t) == 0.5) & odd, r - 1.0, r);
}

// The nibbles `n` (i16, 0..15) as f16 values: 0x6400 | n is the f16 1024 + n (1024's ulp is 1),
// and the subtraction is exact, so no int -> float conversion is needed.
tl::Tensor nibbles_to_f16(const tl::Tensor& n) {
  return tl::bitcast(n | 0x6400, DType::f16) - 1024.0;
}

// The weights of packed rows `kr` ([BK, 1], weight rows kr + k_off) from their nibbles `q`
// ([BK, BN] f16, 0..15): (q - zero) * scale of their group in f32 (q is exact in f16 and f32),
// rounded to `dtype`.
struct Dequant {
  tl::Ptr scales, zeros;
  tl::Int N, group;
  bool has_zeros;
  DType dtype;

  tl::Tensor operator()(const tl::Tensor& q, const tl::Tensor& k, const tl::Tensor& mask,
                        const tl::Tensor& cols) const {
    auto at = (k / group) * N + cols;
    auto s = tl::load(scales + at, mask, 0.0);
    auto z = has_zeros ? tl::load(zeros + at, mask, 0.0) : tl::full({1, 1}, 8.0, DType::f32);
    return ((q.to(DType::f32) - z) * s).to(dtype);
  }
};

// The x tile of stored weight rows `kc` ([1, BK], in K where `k_in`) for the rows `row_in`:
// x's own columns, or with act-order the columns perm[kc] (the packing stored row i =
// w[perm[i]], so x[:, perm[i]] undoes it). A device perm is not read back: an entry outside
// [0, K) makes its whole tile NaN (not an out-of-bounds read).
tl::Tensor x_tile(const tl::Tensor& x_rows, const tl::Ptr& perm, const tl::Tensor& kc,
                  const tl::Tensor& k_in, const tl::Tensor& row_in, const tl::Int& K,
                  bool permuted) {
  if (!permuted)
    return tl::load(x_rows + kc, row_in & k_in, 0.0);
  auto col = tl::load(perm + kc, k_in, 0);
  auto ok = (col >= 0) & (col < K);
  auto v = tl::load(x_rows + col, row_in & k_in & ok, 0.0);
  return tl::where(ok, v, std::nan("")).to(v.dtype());
}

// The nibbles of weight rows `k` ([R, 1]) and columns `n` ([1, BN]) in the Marlin layout
// (int4_marlin.h, whose host map this is: the tests compare the kernel against the packing): a
// gather of each weight's byte and a shift to its nibble, as f16 values 0..15. K % 16 == 0 and
// N % 64 == 0 (the op checks), so tiles are whole.
tl::Tensor marlin_nibbles(const tl::Ptr& packed, const tl::Tensor& k, const tl::Tensor& n,
                          const tl::Tensor& in, const tl::Int& N) {
  auto kk = k % 16, nn = n % 64;
  auto j = nn / 8;
  auto lane = (nn % 8) * 4 + (kk % 8) / 2;
  auto byte = (j / 2) * 4 + (j % 2) + (kk % 2) * 2;
  auto at = (((k / 16) * (N / 64) + n / 64) * 32 + lane) * 16 + byte;
  auto p16 = tl::load(packed + at, in, 0.0).to(DType::i16);
  return nibbles_to_f16((p16 >> ((kk / 8) * 4).to(DType::i16)) & 15);
}

Kernel make_w4a16_kernel(const std::string& name, Chain chain, bool marlin) {
  const std::string params =
      fmt::format("out, x, packed, scales, zeros, perm, {}, M, N, K, group, x_stride, out_stride, "
                  "{}, {}, ZEROS, PERM, BM, BN, BK",
                  kSlotPointers, kSlotStrides, kSlotScalars);
  return tl::kernel(
      name, params,
      [chain = std::move(chain), marlin](
          tl::Ptr out, tl::Ptr x, tl::Ptr packed, tl::Ptr scales, tl::Ptr zeros, tl::Ptr perm,
          tl::Ptr e0, tl::Ptr e1, tl::Int M, tl::Int N, tl::Int K, tl::Int group, tl::Int x_stride,
          tl::Int out_stride, tl::Int e0_m, tl::Int e0_n, tl::Int e1_m, tl::Int e1_n, tl::Float s0,
          tl::Float s1, tl::Float s2, tl::Float s3, tl::Const<int> ZEROS, tl::Const<int> PERM,
          tl::Const<int> BM, tl::Const<int> BN, tl::Const<int> BK) {
        Tile t = tile_of(M, N, BM, BN);
        Dequant dq{scales, zeros, N, group, ZEROS != 0, x.dtype()};
        auto half = K / 2;
        auto rk = tl::arange(0, BK);
        auto x_rows = x + t.rows * x_stride;
        tl::Tensor acc = tl::zeros({BM, BN}, DType::f32);
        if (marlin) {
          // Weight rows k0.. and k0 + BK.. per step (consecutive rows: no half split).
          tl::for_range(0, K, 2 * BK, [&](tl::Int k0) {
            for (int part = 0; part < 2; ++part) {
              auto k = k0 + part * BK + rk;
              auto kr = tl::expand_dims(k, 1), kc = tl::expand_dims(k, 0);
              auto w_in = (kr < K) & t.col_in;
              auto w = dq(marlin_nibbles(packed, kr, t.cols, w_in, N), kr, w_in, t.cols);
              auto xs = x_tile(x_rows, perm, kc, kc < K, t.row_in, K, PERM != 0);
              acc = tl::dot(xs, w, acc);
            }
          });
          store_with_chain(chain, acc, t.rows, t.cols, t.row_in & t.col_in, out, out_stride,
                           {e0, e1, e0_m, e0_n, e1_m, e1_n, s0, s1, s2, s3});
          return;
        }
        tl::for_range(0, half, BK, [&](tl::Int kp) {
          auto kr = tl::expand_dims(kp + rk, 1), kc = tl::expand_dims(kp + rk, 0);
          auto w_in = (kr < half) & t.col_in;
          auto p = tl::load(packed + (kr * N + t.cols), w_in, 0.0);
          // Low nibbles are weight rows kp.., high nibbles rows half + kp.. (the half-split
          // layout).
          auto p16 = p.to(DType::i16);
          auto w_lo = dq(nibbles_to_f16(p16 & 15), kr, w_in, t.cols);
          auto w_hi = dq(nibbles_to_f16((p16 >> 4) & 15), kr + half, w_in, t.cols);
          auto k_in = kc < half;
          auto x_lo = x_tile(x_rows, perm, kc, k_in, t.row_in, K, PERM != 0);
          auto x_hi = x_tile(x_rows, perm, kc + half, k_in, t.row_in, K, PERM != 0);
          acc = tl::dot(x_lo, w_lo, acc);
          acc = tl::dot(x_hi, w_hi, acc);
        });
        store_with_chain(chain, acc, t.rows, t.cols, t.row_in & t.col_in, out, out_stride,
                         {e0, e1, e0_m, e0_n, e1_m, e1_n, s0, s1, s2, s3});
      });
}

// Every adapter's A columns side by side ([K, L * R]: column c is rank c % R of adapter c / R), so
// that one dot computes x @ A for all of them; a row keeps only its own adapter's columns of xa,
// and one dot with B stacked the same way ([L * R, N]) adds its low-rank product. With one
// adapter (L = 1, no indices) this is plain LoRA. The epilogue chain runs on the sum.
Kernel make_lora_kernel(const std::string& name, Chain chain) {
  const std::string params = fmt::format(
      "out, x, w, a, b, idx, {}, M, N, K, rank, adapters, x_stride, w_stride, a_batch, a_stride, "
      "b_batch, b_stride, out_stride, {}, scale, {}, BM, BN, BK, R, L, INDEXED",
      kSlotPointers, kSlotStrides, kSlotScalars);
  return tl::kernel(
      name, params,
      [chain = std::move(chain)](
          tl::Ptr out, tl::Ptr x, tl::Ptr w, tl::Ptr a, tl::Ptr b, tl::Ptr idx, tl::Ptr e0,
          tl::Ptr e1, tl::Int M, tl::Int N, tl::Int K, tl::Int rank, tl::Int adapters,
          tl::Int x_stride, tl::Int w_stride, tl::Int a_batch, tl::Int a_stride, tl::Int b_batch,
          tl::Int b_stride, tl::Int out_stride, tl::Int e0_m, tl::Int e0_n, tl::Int e1_m,
          tl::Int e1_n, tl::Float scale, tl::Float s0, tl::Float s1, tl::Float s2, tl::Float s3,
          tl::Const<int> BM, tl::Const<int> BN, tl::Const<int> BK, tl::Const<int> R,
          tl::Const<int> L, tl::Const<int> INDEXED) {
        Tile t = tile_of(M, N, BM, BN);
        auto rk = tl::arange(0, BK);
        auto lr_cols = tl::expand_dims(tl::arange(0, L * R), 0);
        auto lr_rows = tl::expand_dims(tl::arange(0, L * R), 1);
        auto col_adapter = lr_cols / R, col_rank = lr_cols % R;
        auto row_adapter = lr_rows / R, row_rank = lr_rows % R;
        auto a_ok = (col_rank < rank) & (col_adapter < adapters);
        auto a_off = col_adapter * a_batch + col_rank;
        tl::Tensor acc = tl::zeros({BM, BN}, DType::f32);
        tl::Tensor xa = tl::zeros({BM, L * R}, DType::f32);
        tl::for_range(0, K, BK, [&](tl::Int k) {
          auto kr = tl::expand_dims(k + rk, 1), kc = tl::expand_dims(k + rk, 0);
          auto x_tile = tl::load(x + (t.rows * x_stride + kc), t.row_in & (kc < K), 0.0);
          auto w_tile = tl::load(w + (kr * w_stride + t.cols), (kr < K) & t.col_in, 0.0);
          auto a_tile = tl::load(a + (kr * a_stride + a_off), (kr < K) & a_ok, 0.0);
          acc = tl::dot(x_tile, w_tile, acc);
          xa = tl::dot(x_tile, a_tile, xa);
        });
        tl::Tensor bad;
        if (INDEXED) {
          // -1: no adapter. Any other index outside [0, adapters) poisons its row with NaN
          // (the op checks host indices before launching; device indices are not read back).
          auto sel = tl::load(idx + t.rows, t.row_in, -1.0);
          xa = tl::where(col_adapter == sel, xa, 0.0);
          bad = (sel < -1) | (sel >= adapters);
        }
        auto b_ok = (row_rank < rank) & (row_adapter < adapters) & t.col_in;
        auto b_tile =
            tl::load(b + (row_adapter * b_batch + row_rank * b_stride + t.cols), b_ok, 0.0);
        acc = acc + scale * tl::dot(xa.to(x.dtype()), b_tile);
        if (INDEXED)
          acc = tl::where(bad, std::nan(""), acc);
        store_with_chain(chain, acc, t.rows, t.cols, t.row_in & t.col_in, out, out_stride,
                         {e0, e1, e0_m, e0_n, e1_m, e1_n, s0, s1, s2, s3});
      });
}

} // namespace

const Kernel& quantize_int8_kernel() {
  static const Kernel k = tl::kernel(
      "ops_quantize_int8", "q, scales, x, weight, q_stride, x_stride, n, eps, NORM, BLOCK",
      [](tl::Ptr q, tl::Ptr scales, tl::Ptr x, tl::Ptr weight, tl::Int q_stride, tl::Int x_stride,
         tl::Int n, tl::Float eps, tl::Const<int> NORM, tl::Const<int> BLOCK) {
        auto row = tl::program_id(0);
        auto cols = tl::arange(0, BLOCK);
        auto in = cols < n;
        auto v = tl::load(x + row.to(DType::i64) * x_stride.to(DType::i64) + cols, in, 0.0)
                     .to(DType::f32);
        if (NORM) {
          auto rstd = tl::rsqrt(tl::sum(v * v, 0) / n + eps);
          v = v * rstd * tl::load(weight + cols, in, 0.0).to(DType::f32);
        }
        auto amax = tl::max(tl::abs(v), 0);
        auto scale = amax / 127.0;
        // An all-zero row: scale 0, and q = 0 / 1 = 0 rather than 0 / 0.
        auto t = v / tl::where(amax > 0.0, scale, 1.0);
        auto r = tl::minimum(tl::maximum(round_half_even(t), -127.0), 127.0);
        // A NaN has no int8: the max above skips NaN, so a row holding one gets a NaN scale here
        // (the result is visibly unusable) and q = 0 where x is NaN (not the clamp's -127).
        auto has_nan = tl::max((v != v).to(DType::f32), 0) > 0.0;
        scale = tl::where(has_nan, std::nan(""), scale);
        r = tl::where(t != t, 0.0, r);
        tl::store(q + row.to(DType::i64) * q_stride.to(DType::i64) + cols, r.to(DType::i8), in);
        tl::store(scales + row, scale);
      });
  return k;
}

const Kernel& w4a16_kernel_for(const std::string& key, const Chain& chain) {
  return kernel_for_chain("ops_matmul_w4a16", key, chain, [](const std::string& name, Chain c) {
    return make_w4a16_kernel(name, std::move(c), /*marlin=*/false);
  });
}

const Kernel& w4a16_marlin_kernel_for(const std::string& key, const Chain& chain) {
  return kernel_for_chain("ops_matmul_w4a16_marlin", key, chain,
                          [](const std::string& name, Chain c) {
                            return make_w4a16_kernel(name, std::move(c), /*marlin=*/true);
                          });
}

const Kernel& w4a16_marlin_kernel() { return w4a16_marlin_kernel_for("", {}); }

const Kernel& w4a16_kernel() { return w4a16_kernel_for("", {}); }

const Kernel& lora_kernel_for(const std::string& key, const Chain& chain) {
  return kernel_for_chain("ops_matmul_lora", key, chain, make_lora_kernel);
}

const Kernel& lora_kernel() { return lora_kernel_for("", {}); }

} // namespace tessel::ops::detail
