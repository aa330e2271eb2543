// The quantized and low-rank matmul ops: argument checks and launches of quant_kernels.cpp, and
// matmul_w8a8 as a composition of ops::matmul with a dequantising epilogue.
#include "tessel/ops/quant.h"
#include "stdlib/common/args.h"
#include "stdlib/matmul/bind_chain.h"
#include "stdlib/matmul/config.h"
#include "stdlib/matmul/epilogue.h"
#include "stdlib/quant/act_order.h"
#include "stdlib/quant/quant_kernels.h"
#include "tessel/lang/ops.h"

#include <fmt/format.h>

#include <algorithm>
#include <array>

namespace tessel::ops {
namespace {

using detail::OpSite;

constexpr int kMaxQuantRow = 16384; // a row is held in registers by one program

int64_t cdiv(int64_t a, int64_t b) { return (a + b - 1) / b; }

bool is_half(DType t) { return t == DType::f16 || t == DType::bf16; }

void check_out_dtype(const OpSite& s, const TensorView& out) { detail::check_float(s, "out", out); }

// A matrix [rows, cols] with contiguous rows (any row stride), on `ref`'s device, whose largest
// offset fits the kernels' i32 arithmetic.
detail::Rows matrix_of(const OpSite& s, const char* arg, const TensorView& v, const char* dims) {
  if (v.rank != 2)
    s.fail(fmt::format("{} has shape {}; expected [{}]", arg, detail::shape_str(v), dims));
  detail::Rows r = detail::rows_of(s, arg, v);
  if ((r.rows > 0 ? r.rows - 1 : 0) * r.stride + r.cols > INT32_MAX)
    s.fail(fmt::format("{} has shape {}: one matrix must span fewer than 2^31 elements", arg,
                       detail::shape_str(v)));
  return r;
}

void expect_shape(const OpSite& s, const char* arg, const TensorView& v, int64_t rows, int64_t cols,
                  const std::string& why) {
  if (v.rank != 2 || v.shape[0] != rows || v.shape[1] != cols)
    s.fail(fmt::format("{} has shape {}; expected [{}, {}] ({})", arg, detail::shape_str(v), rows,
                       cols, why));
}

void expect_contiguous(const OpSite& s, const char* arg, const TensorView& v) {
  if (v.rank == 2 && v.shape[0] > 1 && v.shape[1] > 0 && v.strides[0] != v.shape[1])
    s.fail(fmt::format("{} has row stride {}; expected a contiguous tensor (stride {})", arg,
                       v.strides[0], v.shape[1]));
}

void run_quantize(const OpSite& s, const TensorView& x, const TensorView* weight,
                  const TensorView& q, const TensorView& scales, float eps, Stream* stream) {
  detail::check_float(s, "x", x);
  detail::check_dtype(s, "q", q, DType::i8);
  detail::check_like(s, "q", q, "x", x);
  detail::Rows xr = detail::rows_of(s, "x", x), qr = detail::rows_of(s, "q", q);
  detail::check_row_stats(s, "scales", scales, xr.rows);
  detail::check_device(s, "scales", scales, "x", x);
  if (weight) {
    detail::check_vector(s, "weight", *weight, xr.cols, "x's last dimension");
    detail::check_device(s, "weight", *weight, "x", x);
  }
  if (xr.cols > kMaxQuantRow)
    s.fail(fmt::format("x has rows of {} elements; quantize_per_token_int8 takes rows of up to {}",
                       xr.cols, kMaxQuantRow));
  if (xr.empty())
    return;
  int block = detail::block_for(s, xr.cols, kMaxQuantRow, 0);
  detail::quantize_int8_kernel().launch(detail::grid_at(s, xr.rows),
                                        detail::launch_options(block, stream), q, scales, x,
                                        weight ? *weight : x, int(qr.stride), int(xr.stride),
                                        int(xr.cols), eps, weight ? 1 : 0, block);
}

// The dequantising epilogue of matmul_w8a8: acc (i32) * x_scales[row] * w_scales[col], in f32.
// Made as matmul's own steps are (stdlib/matmul/epilogue.h): a built-in step is identified by
// its name alone, so a call does not trace a probe kernel to identify it, as a user step would.
Epilogue dequant_step(const TensorView& x_scales, const TensorView& w_scales) {
  TensorView per_row = x_scales; // [M] as [M, 1]: broadcast along the columns
  per_row.rank = 2;
  per_row.shape[1] = 1;
  per_row.strides[0] = 1;
  per_row.strides[1] = 1;
  auto impl = std::make_shared<Epilogue::Impl>();
  impl->name = "w8a8_dequant";
  impl->fn = [](const EpilogueTile& t) {
    return t.acc.to(DType::f32) * t.operands[0] * t.operands[1];
  };
  impl->operands = {per_row, w_scales};
  impl->builtin = true;
  return Epilogue(std::shared_ptr<const Epilogue::Impl>(std::move(impl)));
}

void check_scale_vector(const OpSite& s, const char* arg, const TensorView& v, int64_t n,
                        const char* what) {
  detail::check_dtype(s, arg, v, DType::f32);
  detail::check_vector(s, arg, v, n, what);
}

int next_power_of_two(int64_t v, int lo, int hi) {
  int p = lo;
  while (p < v && p < hi)
    p *= 2;
  return p;
}

// The tile of the quantized and low-rank kernels. GPU: block_m 16 for decode (M <= 16: one row
// of programs, each streaming its own strip of the weights once), else 64; 64 columns; 4 warps.
// CPU: ops::matmul's CPU shapes (block_m M's power of two up to 64, 128 columns), whose dot is a
// register-blocked micro-kernel that wants wide tiles and no rows that do not exist.
MatmulConfig quant_config(DeviceKind device, int64_t m) {
  MatmulConfig c;
  bool cpu = device == DeviceKind::cpu;
  c.block_m = cpu ? next_power_of_two(m, 1, 64) : m <= 16 ? 16 : 64;
  c.block_n = cpu ? 128 : 64;
  c.block_k = 32;
  c.num_warps = 4;
  return c;
}

MatmulConfig w4a16_config(const OpSite& s, const W4A16Options& o, DeviceKind device, int64_t m) {
  MatmulConfig c = o.config ? *o.config : quant_config(device, m);
  int lo = device == DeviceKind::cpu ? 1 : 16;
  auto pow2 = [lo](int v) { return v >= lo && v <= 256 && (v & (v - 1)) == 0; };
  if (!pow2(c.block_m) || !pow2(c.block_n) || !pow2(c.block_k))
    s.fail(fmt::format("config is {} x {} x {}; expected block sizes that are powers of two from "
                       "{} to 256",
                       c.block_m, c.block_n, c.block_k, lo));
  return c;
}

// indices: contiguous i32 [M] on x's device; host indices are checked to be -1 (no adapter) or
// in [0, adapters). Device indices are not read back (that would synchronise): the kernel
// writes NaN into the rows of out-of-range ones.
void check_indices(const OpSite& s, const TensorView& v, const TensorView& x, int64_t m,
                   int64_t adapters) {
  detail::check_dtype(s, "indices", v, DType::i32);
  if (v.rank != 1 || v.shape[0] != m || (m > 1 && v.strides[0] != 1))
    s.fail(
        fmt::format("indices has shape {}; expected a contiguous [{}] (one adapter per row of x)",
                    detail::shape_str(v), m));
  detail::check_device(s, "indices", v, "x", x);
  if (m > 0 && v.data == nullptr)
    s.fail("indices has a null data pointer");
  if (v.device != DeviceKind::cpu)
    return;
  const auto* p = static_cast<const int32_t*>(v.data);
  for (int64_t i = 0; i < m; ++i)
    if (p[i] < -1 || p[i] >= adapters)
      s.fail(fmt::format("indices[{}] is {}; expected -1 (no adapter) or an adapter from 0 to {}",
                         i, p[i], adapters - 1));
}

} // namespace

void quantize_per_token_int8(const TensorView& x, const TensorView& q, const TensorView& scales,
                             Stream* stream, std::source_location where) {
  run_quantize({"quantize_per_token_int8", where}, x, nullptr, q, scales, 0.0f, stream);
}

void rms_norm_quantize_int8(const TensorView& x, const TensorView& weight, const TensorView& q,
                            const TensorView& scales, float eps, Stream* stream,
                            std::source_location where) {
  OpSite s{"rms_norm_quantize_int8", where};
  if (!(eps >= 0.0f))
    s.fail(fmt::format("eps is {}; expected a value >= 0", eps));
  run_quantize(s, x, &weight, q, scales, eps, stream);
}

void matmul_w8a8(const TensorView& xq, const TensorView& x_scales, const TensorView& wq,
                 const TensorView& w_scales, const TensorView& out,
                 const std::vector<Epilogue>& epilogue, Stream* stream,
                 std::source_location where) {
  OpSite s{"matmul_w8a8", where};
  detail::check_dtype(s, "xq", xq, DType::i8);
  detail::check_dtype(s, "wq", wq, DType::i8);
  check_out_dtype(s, out);
  if (xq.rank != 2 || wq.rank != 2)
    s.fail(fmt::format("xq has shape {} and wq has shape {}; expected [M, K] and [K, N]",
                       detail::shape_str(xq), detail::shape_str(wq)));
  check_scale_vector(s, "x_scales", x_scales, xq.shape[0], "xq's M");
  check_scale_vector(s, "w_scales", w_scales, wq.shape[1], "wq's N");
  detail::check_device(s, "x_scales", x_scales, "xq", xq);
  detail::check_device(s, "w_scales", w_scales, "xq", xq);
  MatmulOptions o;
  o.epilogue.push_back(dequant_step(x_scales, w_scales));
  o.epilogue.insert(o.epilogue.end(), epilogue.begin(), epilogue.end());
  matmul(xq, wq, out, o, stream, where);
}

void matmul_w4a16(const TensorView& x, const TensorView& packed, const TensorView& scales,
                  const TensorView& zeros, const TensorView& out, const W4A16Options& options,
                  Stream* stream, std::source_location where) {
  OpSite s{"matmul_w4a16", where};
  if (!is_half(x.dtype))
    s.fail(fmt::format("x has dtype {}; expected f16 or bf16", dtype_name(x.dtype)));
  detail::check_dtype(s, "packed", packed, DType::i8);
  detail::check_dtype(s, "scales", scales, DType::f32);
  check_out_dtype(s, out);
  detail::Rows xr = matrix_of(s, "x", x, "M, K");
  matrix_of(s, "packed", packed, "K / 2, N");
  int64_t m = xr.rows, k = xr.cols, n = packed.shape[1];
  if (k % 2 != 0)
    s.fail(fmt::format("x has K = {}; int4 weights pack two rows per byte: expected an even K", k));
  expect_shape(s, "packed", packed, k / 2, n, "two int4 weights of rows k and k + K / 2 per byte");
  expect_contiguous(s, "packed", packed);
  const bool marlin = options.layout == Int4Layout::marlin;
  if (marlin && (k % 16 != 0 || n % 64 != 0))
    s.fail(fmt::format("packed holds [K, N] = [{}, {}] weights in the marlin layout, which packs "
                       "[16, 64] tiles: expected K a multiple of 16 and N of 64",
                       k, n));
  if (scales.rank != 2 || scales.shape[1] != n || scales.shape[0] < 1 || k % scales.shape[0] != 0)
    s.fail(fmt::format("scales has shape {}; expected [K / group_size, N] with K = {} and N = {} "
                       "(one row per group of K)",
                       detail::shape_str(scales), k, n));
  expect_contiguous(s, "scales", scales);
  int64_t group = k / scales.shape[0];
  bool has_zeros = zeros.rank != 0 || zeros.data != nullptr;
  if (has_zeros) {
    detail::check_dtype(s, "zeros", zeros, DType::f32);
    detail::check_like(s, "zeros", zeros, "scales", scales);
    expect_contiguous(s, "zeros", zeros);
  }
  detail::Rows outr = matrix_of(s, "out", out, "M, N");
  expect_shape(s, "out", out, m, n, "x's M by packed's N");
  for (auto [arg, v] : {std::pair{"packed", &packed}, {"scales", &scales}, {"out", &out}})
    detail::check_device(s, arg, *v, "x", x);
  if (has_zeros)
    detail::check_device(s, "zeros", zeros, "x", x);
  if (options.perm.data != nullptr || options.perm.rank != 0)
    detail::check_perm(s, "options.perm", options.perm, &x, k);
  MatmulConfig cfg = w4a16_config(s, options, x.device, m);
  detail::BoundChain bc =
      detail::bind_chain(s, options.epilogue, {out, 1, m, n, DType::f32, cfg.block_m, cfg.block_n});
  if (m == 0 || n == 0)
    return;
  bool permuted = options.perm.data != nullptr;
  LaunchOptions lo;
  // The 64-row tile at 4 warps is at 255 registers already: an epilogue's operand tiles or the
  // act-order gather spill it (120 to 268 bytes on sm_80), 8 warps do not.
  lo.num_warps =
      !options.config && cfg.block_m >= 64 && (permuted || !bc.chain.empty()) ? 8 : cfg.num_warps;
  lo.stream = stream;
  detail::SlotArgs sa = detail::slot_args(bc, out);
  (marlin ? detail::w4a16_marlin_kernel_for(bc.key, bc.chain)
          : detail::w4a16_kernel_for(bc.key, bc.chain))
      .launch(GridAt(Grid(cdiv(m, cfg.block_m) * cdiv(n, cfg.block_n)), where), lo, out, x, packed,
              scales, has_zeros ? zeros : scales, permuted ? options.perm : scales, sa.views[0],
              sa.views[1], int(m), int(n), int(k), int(group), int(xr.stride), int(outr.stride),
              sa.strides[0][1], sa.strides[0][2], sa.strides[1][1], sa.strides[1][2], sa.scalars[0],
              sa.scalars[1], sa.scalars[2], sa.scalars[3], has_zeros ? 1 : 0, permuted ? 1 : 0,
              cfg.block_m, cfg.block_n, cfg.block_k);
}

namespace {

// The adapters of a LoRA call: A [L, K, r] and B [L, r, N] (a rank-2 A or B is one adapter).
struct Adapters {
  int64_t count = 1, rank = 0;
  int64_t a_batch = 0, a_stride = 0, b_batch = 0, b_stride = 0;
};

// A [L?, rows, cols] operand with contiguous rows: its batch and row strides, checked to fit i32.
std::array<int64_t, 3> adapter_operand(const OpSite& s, const char* arg, const TensorView& v,
                                       const char* dims) {
  if (v.rank != 2 && v.rank != 3)
    s.fail(fmt::format("{} has shape {}; expected [{}] or [adapters, {}]", arg,
                       detail::shape_str(v), dims, dims));
  int o = v.rank - 2;
  int64_t batch = v.rank == 3 ? v.shape[0] : 1, rows = v.shape[o], cols = v.shape[o + 1];
  int64_t sb = v.rank == 3 ? v.strides[0] : 0, sr = v.strides[o];
  if (cols > 1 && v.strides[o + 1] != 1)
    s.fail(fmt::format("{}'s last dimension has stride {}; expected a contiguous last dimension",
                       arg, v.strides[o + 1]));
  if (batch * rows * cols > 0 && v.data == nullptr)
    s.fail(fmt::format("{} has shape {} but a null data pointer", arg, detail::shape_str(v)));
  if ((batch - 1) * sb + (rows - 1) * sr + cols > INT32_MAX || sb < 0 || sr < 0)
    s.fail(fmt::format("{} has shape {}: it must span fewer than 2^31 elements", arg,
                       detail::shape_str(v)));
  return {batch, sb, sr};
}

Adapters check_adapters(const OpSite& s, const TensorView& a, const TensorView& b, int64_t k,
                        int64_t n) {
  auto [la, a_batch, a_stride] = adapter_operand(s, "a", a, "K, rank");
  auto [lb, b_batch, b_stride] = adapter_operand(s, "b", b, "rank, N");
  Adapters ad{la, a.shape[a.rank - 1], a_batch, a_stride, b_batch, b_stride};
  if (ad.rank < 1 || ad.rank > kMaxLoraRank)
    s.fail(fmt::format("a has shape {}: rank {} is not supported; expected a rank from 1 to {}",
                       detail::shape_str(a), ad.rank, kMaxLoraRank));
  if (a.shape[a.rank - 2] != k)
    s.fail(fmt::format("a has shape {}; expected {} rows (x's K)", detail::shape_str(a), k));
  if (lb != la || b.shape[b.rank - 2] != ad.rank || b.shape[b.rank - 1] != n)
    s.fail(fmt::format("b has shape {}; expected [{}, {}] (a's rank by w's N){}",
                       detail::shape_str(b), ad.rank, n,
                       la > 1 ? fmt::format(" for each of a's {} adapters", la) : ""));
  return ad;
}

struct LoraCall {
  const TensorView &x, &w, &a, &b, &out;
  const TensorView* indices; // null: one adapter for every row
  float scale;
  const std::vector<Epilogue>& epilogue;
};

void run_lora(const OpSite& s, const LoraCall& c, Stream* stream) {
  if (!is_half(c.x.dtype))
    s.fail(fmt::format("x has dtype {}; expected f16 or bf16", dtype_name(c.x.dtype)));
  for (auto [arg, v] : {std::pair{"w", &c.w}, {"a", &c.a}, {"b", &c.b}})
    if (v->dtype != c.x.dtype)
      s.fail(fmt::format("{} has dtype {} but x has dtype {}; expected one dtype", arg,
                         dtype_name(v->dtype), dtype_name(c.x.dtype)));
  check_out_dtype(s, c.out);
  detail::Rows xr = matrix_of(s, "x", c.x, "M, K");
  detail::Rows wr = matrix_of(s, "w", c.w, "K, N");
  detail::Rows outr = matrix_of(s, "out", c.out, "M, N");
  int64_t m = xr.rows, k = xr.cols, n = wr.cols;
  expect_shape(s, "w", c.w, k, n, "x's K rows");
  Adapters ad = check_adapters(s, c.a, c.b, k, n);
  expect_shape(s, "out", c.out, m, n, "x's M by w's N");
  for (auto [arg, v] : {std::pair{"w", &c.w}, {"a", &c.a}, {"b", &c.b}, {"out", &c.out}})
    detail::check_device(s, arg, *v, "x", c.x);
  if (c.indices)
    check_indices(s, *c.indices, c.x, m, ad.count);
  bool cpu = c.x.device == DeviceKind::cpu;
  // The rank padded to a power of two: at least 16 on a GPU (the mma's K), itself on the CPU.
  int r_pad = next_power_of_two(ad.rank, cpu ? 1 : 16, kMaxLoraRank);
  int l_pad = next_power_of_two(ad.count, 1, 1 << 20);
  if (int64_t(l_pad) * r_pad > kMaxLoraRank)
    s.fail(fmt::format("a has {} adapters of rank {}: {} x {} stacked rank columns (adapters and "
                       "rank padded to powers of two) exceed {}; split the adapters over calls",
                       ad.count, ad.rank, l_pad, r_pad, kMaxLoraRank));
  MatmulConfig cfg = quant_config(c.x.device, m);
  detail::BoundChain bc =
      detail::bind_chain(s, c.epilogue, {c.out, 1, m, n, DType::f32, cfg.block_m, cfg.block_n});
  if (m == 0 || n == 0)
    return;
  LaunchOptions lo;
  // Rank columns of 128, or an epilogue chain (its operand tiles: 20 bytes of spills at rank 16,
  // 108 with 4 adapters, on sm_80 at 4 warps), take 8 warps.
  lo.num_warps = l_pad * r_pad >= 128 || !bc.chain.empty() ? 8 : 4;
  lo.stream = stream;
  detail::SlotArgs sa = detail::slot_args(bc, c.out);
  detail::lora_kernel_for(bc.key, bc.chain)
      .launch(GridAt(Grid(cdiv(m, cfg.block_m) * cdiv(n, cfg.block_n)), s.where), lo, c.out, c.x,
              c.w, c.a, c.b, c.indices ? *c.indices : c.out, sa.views[0], sa.views[1], int(m),
              int(n), int(k), int(ad.rank), int(ad.count), int(xr.stride), int(wr.stride),
              int(ad.a_batch), int(ad.a_stride), int(ad.b_batch), int(ad.b_stride),
              int(outr.stride), sa.strides[0][1], sa.strides[0][2], sa.strides[1][1],
              sa.strides[1][2], c.scale, sa.scalars[0], sa.scalars[1], sa.scalars[2], sa.scalars[3],
              cfg.block_m, cfg.block_n, cfg.block_k, r_pad, l_pad, c.indices ? 1 : 0);
}

} // namespace

void matmul_lora(const TensorView& x, const TensorView& w, const TensorView& a, const TensorView& b,
                 float scale, const TensorView& out, const std::vector<Epilogue>& epilogue,
                 Stream* stream, std::source_location where) {
  OpSite s{"matmul_lora", where};
  if (a.rank != 2 || b.rank != 2)
    s.fail(fmt::format("a has shape {} and b has shape {}; expected [K, rank] and [rank, N] "
                       "(ops::matmul_multi_lora takes stacked adapters)",
                       detail::shape_str(a), detail::shape_str(b)));
  run_lora(s, {x, w, a, b, out, nullptr, scale, epilogue}, stream);
}

void matmul_multi_lora(const TensorView& x, const TensorView& w, const TensorView& a,
                       const TensorView& b, const TensorView& indices, float scale,
                       const TensorView& out, const std::vector<Epilogue>& epilogue, Stream* stream,
                       std::source_location where) {
  OpSite s{"matmul_multi_lora", where};
  if (a.rank != 3 || b.rank != 3)
    s.fail(fmt::format("a has shape {} and b has shape {}; expected [adapters, K, rank] and "
                       "[adapters, rank, N]",
                       detail::shape_str(a), detail::shape_str(b)));
  run_lora(s, {x, w, a, b, out, &indices, scale, epilogue}, stream);
}

} // namespace tessel::ops
