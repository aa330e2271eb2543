// The matmul op's DSL kernels (see matmul_kernels.h): the tile kernel with the grouped program
// ordering and masks for ragged edges, its split-K partial form and the split-K reduction, each
// traced with the epilogue chain of its key. In-matrix offsets are i32 (the op checks that every
// operand's largest offset fits); batch and split offsets are i64.
#include "stdlib/matmul/matmul_kernels.h"

#include "stdlib/matmul/bind_chain.h"

#include "tessel/lang/control.h"
#include "tessel/lang/ops.h"
#include "tessel/lang/tensor_descriptor.h"

#include <fmt/format.h>

#include <algorithm>
#include <map>
#include <memory>
#include <mutex>
#include <utility>

namespace tessel::ops::detail {
namespace {

namespace tl = tessel::lang;

constexpr const char* kTileParams =
    "c, a, b, e0, e1, M, N, K, k_split, a_batch, a_m, a_k, b_batch, b_k, b_n, c_batch, c_m, c_n, "
    "e0_batch, e0_m, e0_n, e1_batch, e1_m, e1_n, s0, s1, s2, s3, BM, BN, BK, GROUP_M";
constexpr const char* kReduceParams =
    "c, w, e0, e1, M, N, splits, c_batch, c_m, c_n, e0_batch, e0_m, e0_n, e1_batch, e1_m, e1_n, "
    "s0, s1, s2, s3, BM, BN";

// A [BM, BN] tile of c: its row and column indices, which of them are inside c, and the mask;
// m0 and n0 its first row and column (scalars: a tensor descriptor's offsets).
struct TilePos {
  tl::Tensor rows, cols, row_in, col_in, mask;
  tl::Tensor m0, n0;
};

TilePos tile_at(const tl::Tensor& pid_m, const tl::Tensor& pid_n, const tl::Int& M,
                const tl::Int& N, int BM, int BN) {
  auto m0 = pid_m * BM, n0 = pid_n * BN;
  auto rows = tl::expand_dims(m0 + tl::arange(0, BM), 1);
  auto cols = tl::expand_dims(n0 + tl::arange(0, BN), 0);
  auto row_in = rows < M, col_in = cols < N;
  return {rows, cols, row_in, col_in, row_in & col_in, m0, n0};
}

// Triton's grouped ordering: consecutive programs take GROUP_M tile rows column by column, so a
// wave of programs shares a few rows of a and columns of b instead of sweeping all of b.
// `pid` is the tile's index in that order (the program id, or a persistent program's loop index).
TilePos grouped_tile(const tl::Tensor& pid, const tl::Int& M, const tl::Int& N, int BM, int BN,
                     int GROUP_M) {
  auto num_m = (M + (BM - 1)) / BM, num_n = (N + (BN - 1)) / BN;
  auto in_group = num_n * GROUP_M;
  auto first_m = (pid / in_group) * GROUP_M;
  auto size_m = tl::minimum(num_m - first_m, tl::scalar(GROUP_M, DType::i32));
  auto pid_m = first_m + (pid % in_group) % size_m;
  auto pid_n = (pid % in_group) / size_m;
  return tile_at(pid_m, pid_n, M, N, BM, BN);
}

// Plain row-major tile order (the reduction reads each partial once: no reuse to order for).
TilePos row_major_tile(const tl::Int& M, const tl::Int& N, int BM, int BN) {
  auto pid = tl::program_id(0);
  auto num_n = (N + (BN - 1)) / BN;
  return tile_at(pid / num_n, pid % num_n, M, N, BM, BN);
}

tl::Tensor offsets(const TilePos& t, const tl::Int& sm, const tl::Int& sn) {
  return t.rows * sm + t.cols * sn;
}

tl::Tensor batch_offset(const tl::Tensor& batch, const tl::Int& stride) {
  return batch * stride.to(DType::i64);
}

using Strides = std::array<tl::Int, 3>; // batch, row, column

// The epilogue operands and scalars of a launch.
struct Slots {
  std::array<tl::Ptr, kEpilogueOperandSlots> ptrs;
  std::array<Strides, kEpilogueOperandSlots> strides;
  std::array<tl::Tensor, kEpilogueScalarSlots> scalars;
};

// The epilogue operands' pointer tiles for the tile `t` of batch `batch`.
template <size_t... I>
std::array<tl::Tensor, sizeof...(I)> operand_tiles(const Slots& slots, const TilePos& t,
                                                   const tl::Tensor& batch,
                                                   std::index_sequence<I...>) {
  return {(slots.ptrs[I] + batch_offset(batch, slots.strides[I][0]) +
           offsets(t, slots.strides[I][1], slots.strides[I][2]))...};
}

// Applies the chain to `acc` for the tile `t` of batch `batch` and stores it into c. The context's
// handles are initialised, never assigned: in the persistent kernel this runs inside the tile
// loop, where assigning a default-constructed handle would read as carrying it (control.h).
void finish(const Chain& chain, const tl::Tensor& acc, const TilePos& t, const tl::Tensor& batch,
            const tl::Ptr& c, const Strides& cs, const Slots& slots) {
  const TileContext ctx{
      t.rows,
      t.cols,
      t.mask,
      batch,
      c + batch_offset(batch, cs[0]) + offsets(t, cs[1], cs[2]),
      operand_tiles(slots, t, batch, std::make_index_sequence<kEpilogueOperandSlots>{}),
      slots.scalars};
  tl::store(ctx.c_old_ptrs, apply_chain(chain, acc, ctx), t.mask);
}

// The accumulator over [k_lo, k_hi): BK-wide slices of a's rows and b's columns, masked at the
// edges (M, N and the end of the range) to zero. f32 operands multiply at the op's precision
// (MatmulPrecision, ieee by default: never tl::dot's tf32 GPU default unasked); 16-bit and
// integer operands take none.
tl::Tensor k_loop(const TilePos& t, const tl::Ptr& a, const tl::Ptr& b, const tl::Tensor& k_lo,
                  const tl::Tensor& k_hi, const Strides& as, const Strides& bs, int BM, int BN,
                  int BK, tl::Precision precision) {
  DType acc_type = dtype_is_float(a.dtype()) ? DType::f32 : DType::i32;
  auto rk = tl::arange(0, BK);
  tl::Tensor acc = tl::zeros({BM, BN}, acc_type);
  auto a_rows = t.rows * as[1], b_cols = t.cols * bs[2];
  tl::for_range(k_lo, k_hi, BK, [&](tl::Int k) {
    auto ka = tl::expand_dims(k + rk, 0), kb = tl::expand_dims(k + rk, 1);
    auto a_tile = tl::load(a + (a_rows + ka * as[2]), t.row_in & (ka < k_hi), 0.0);
    auto b_tile = tl::load(b + (kb * bs[1] + b_cols), (kb < k_hi) & t.col_in, 0.0);
    acc = a_tile.dtype() == DType::f32 ? tl::dot(a_tile, b_tile, acc, precision)
                                       : tl::dot(a_tile, b_tile, acc);
  });
  return acc;
}

// The TMA form of k_loop (matmul.cpp launches it when uses_tma allows: one batch, no K split,
// a and b row-major with rows of multiples of 16 bytes, boxes whose rows are one swizzle span or
// 128-byte column blocks): a and b as tensor descriptors of the whole matrices, one [BM, BK] and
// one [BK, BN] box per iteration, swizzled by their row bytes up to 128 (wider rows travel as
// 128-byte column blocks: codegen/gpu/lower_tma.cpp). On sm_90a the pipeliner streams them through
// a TMA ring read in place by wgmma (codegen/gpu/tma_ring.cpp); boxes past M, N or K read as zeros,
// which is the masked form's `other = 0`.
tl::Tensor k_loop_tma(const TilePos& t, const tl::Ptr& a, const tl::Ptr& b, const tl::Int& M,
                      const tl::Int& N, const tl::Int& K, const Strides& as, const Strides& bs,
                      int BM, int BN, int BK) {
  const int64_t eb = dtype_bytes(a.dtype());
  const auto swizzle = [&](int cols) {
    return tl::Swizzle(uint8_t(std::min<int64_t>(cols * eb, 128)));
  };
  auto da = tl::make_tensor_descriptor(a, {M, K}, {as[1], 1}, {BM, BK}, {swizzle(BK)});
  auto db = tl::make_tensor_descriptor(b, {K, N}, {bs[1], 1}, {BK, BN}, {swizzle(BN)});
  tl::Tensor acc = tl::zeros({BM, BN}, DType::f32);
  tl::for_range(0, K, BK, [&](tl::Int k) {
    acc = tl::dot(da.load({t.m0, k}), db.load({k, t.n0}), acc);
  });
  return acc;
}

struct TileArgs {
  tl::Ptr c, a, b;
  tl::Int M, N, K, k_split;
  Strides as, bs, cs;
  Slots slots;
  int BM, BN, BK, GROUP_M;
  tl::Precision precision;
};

// The batched TMA form of k_loop: 3-D descriptors [batch, M, K] and [batch, K, N], one matrix's
// box per K step at the program's batch (the leading 1 reshaped away; the TMA ring takes such
// boxes). The batch extent is kMaxGridY, the most batches a launch's grid holds (matmul.cpp's
// uses_tma checks the call's), not the call's count: a tensor map's fields must be arguments or
// constants, and the box's batch coordinate is always a real batch, so that bound never clips.
constexpr int64_t kMaxGridY = 65535;

tl::Tensor k_loop_tma_batched(const TilePos& t, const tl::Tensor& batch, const TileArgs& p) {
  const int64_t eb = dtype_bytes(p.a.dtype());
  const auto swizzle = [&](int cols) {
    return tl::Swizzle(uint8_t(std::min<int64_t>(cols * eb, 128)));
  };
  auto da = tl::make_tensor_descriptor(p.a, {kMaxGridY, p.M, p.K}, {p.as[0], p.as[1], 1},
                                       {1, p.BM, p.BK}, {swizzle(p.BK)});
  auto db = tl::make_tensor_descriptor(p.b, {kMaxGridY, p.K, p.N}, {p.bs[0], p.bs[1], 1},
                                       {1, p.BK, p.BN}, {swizzle(p.BN)});
  tl::Tensor acc = tl::zeros({p.BM, p.BN}, DType::f32);
  tl::for_range(0, p.K, p.BK, [&](tl::Int k) {
    auto x = tl::reshape(da.load({batch, t.m0, k}), {p.BM, p.BK});
    auto y = tl::reshape(db.load({batch, k, t.n0}), {p.BK, p.BN});
    acc = tl::dot(x, y, acc);
  });
  return acc;
}

// The TMA form's body: the whole K range (no split), then the chain (matmul.cpp's uses_tma);
// `batched`: the program's batch through 3-D descriptors, else the one matrix.
void tile_body_tma(const Chain& chain, const TileArgs& p, bool batched) {
  TilePos t = grouped_tile(tl::program_id(0), p.M, p.N, p.BM, p.BN, p.GROUP_M);
  auto batch = tl::program_id(1).to(DType::i64);
  auto acc = batched ? k_loop_tma_batched(t, tl::program_id(1), p)
                     : k_loop_tma(t, p.a, p.b, p.M, p.N, p.K, p.as, p.bs, p.BM, p.BN, p.BK);
  finish(chain, acc, t, batch, p.c, p.cs, p.slots);
}

// The tile kernel's body for the tile `tile` of the grouped order; `partial` stores the raw
// accumulator into the workspace (c) at split s.
void tile_body(const Chain& chain, bool partial, const TileArgs& p, const tl::Tensor& tile) {
  TilePos t = grouped_tile(tile, p.M, p.N, p.BM, p.BN, p.GROUP_M);
  auto batch = tl::program_id(1).to(DType::i64);
  auto split = tl::program_id(2);
  auto k_lo = split * p.k_split;
  auto k_hi = tl::minimum(k_lo + p.k_split, p.K);
  auto a = p.a + batch_offset(batch, p.as[0]);
  auto b = p.b + batch_offset(batch, p.bs[0]);
  auto acc = k_loop(t, a, b, k_lo, k_hi, p.as, p.bs, p.BM, p.BN, p.BK, p.precision);
  if (!partial) {
    finish(chain, acc, t, batch, p.c, p.cs, p.slots);
    return;
  }
  // The workspace is [split_k, batch, M, N], contiguous: split s starts batch * M * N further on.
  auto split_offset =
      split.to(DType::i64) * tl::num_programs(1).to(DType::i64) * p.cs[0].to(DType::i64);
  tl::store(p.c + split_offset + batch_offset(batch, p.cs[0]) + offsets(t, p.cs[1], p.cs[2]), acc,
            t.mask);
}

// The persistent form (MatmulOptions::persistent): program i of the grid's P takes tiles i, i + P,
// i + 2P ... of the grouped order, so consecutive programs still share rows of a and columns of b
// in each round; each tile's K loop is an inner loop (pipelined per tile on the GPU).
void persistent_body(const Chain& chain, const TileArgs& p) {
  auto tiles = ((p.M + (p.BM - 1)) / p.BM) * ((p.N + (p.BN - 1)) / p.BN);
  tl::for_range(tl::program_id(0), tiles, tl::num_programs(0),
                [&](tl::Int tile) { tile_body(chain, /*partial=*/false, p, tile); });
}

// tma, tma_batched: the TMA form (tile_body_tma) instead of the masked loads; never partial.
enum class TileForm { plain, partial, persistent, tma, tma_batched };

Kernel make_tile_kernel(const std::string& name, Chain chain, TileForm form,
                        tl::Precision precision) {
  return tl::kernel(
      name, kTileParams,
      [chain = std::move(chain), form, precision](
          tl::Ptr c, tl::Ptr a, tl::Ptr b, tl::Ptr e0, tl::Ptr e1, tl::Int M, tl::Int N, tl::Int K,
          tl::Int k_split, tl::Int a_batch, tl::Int a_m, tl::Int a_k, tl::Int b_batch, tl::Int b_k,
          tl::Int b_n, tl::Int c_batch, tl::Int c_m, tl::Int c_n, tl::Int e0_batch, tl::Int e0_m,
          tl::Int e0_n, tl::Int e1_batch, tl::Int e1_m, tl::Int e1_n, tl::Float s0, tl::Float s1,
          tl::Float s2, tl::Float s3, tl::Const<int> BM, tl::Const<int> BN, tl::Const<int> BK,
          tl::Const<int> GROUP_M) {
        TileArgs p{c,
                   a,
                   b,
                   M,
                   N,
                   K,
                   k_split,
                   {a_batch, a_m, a_k},
                   {b_batch, b_k, b_n},
                   {c_batch, c_m, c_n},
                   Slots{{e0, e1},
                         {Strides{e0_batch, e0_m, e0_n}, Strides{e1_batch, e1_m, e1_n}},
                         {s0, s1, s2, s3}},
                   BM,
                   BN,
                   BK,
                   GROUP_M,
                   precision};
        if (form == TileForm::persistent)
          persistent_body(chain, p);
        else if (form == TileForm::tma || form == TileForm::tma_batched)
          tile_body_tma(chain, p, form == TileForm::tma_batched);
        else
          tile_body(chain, form == TileForm::partial, p, tl::program_id(0));
      });
}

Kernel make_reduce_kernel(const std::string& name, Chain chain) {
  return tl::kernel(
      name, kReduceParams,
      [chain = std::move(chain)](tl::Ptr c, tl::Ptr w, tl::Ptr e0, tl::Ptr e1, tl::Int M, tl::Int N,
                                 tl::Int splits, tl::Int c_batch, tl::Int c_m, tl::Int c_n,
                                 tl::Int e0_batch, tl::Int e0_m, tl::Int e0_n, tl::Int e1_batch,
                                 tl::Int e1_m, tl::Int e1_n, tl::Float s0, tl::Float s1,
                                 tl::Float s2, tl::Float s3, tl::Const<int> BM, tl::Const<int> BN) {
        TilePos t = row_major_tile(M, N, BM, BN);
        auto batch = tl::program_id(1).to(DType::i64);
        // Workspace [splits, batch, M, N], contiguous; summed in order of the split index.
        auto mn = M.to(DType::i64) * N.to(DType::i64);
        auto split_stride = tl::num_programs(1).to(DType::i64) * mn;
        auto tile = w + batch * mn + (t.rows * N + t.cols);
        tl::Tensor acc = tl::zeros({BM, BN}, dtype_is_float(w.dtype()) ? DType::f32 : DType::i32);
        tl::for_range(0, splits, 1, [&](tl::Int s) {
          acc = acc + tl::load(tile + s.to(DType::i64) * split_stride, t.mask, 0.0);
        });
        Slots slots{{e0, e1},
                    {Strides{e0_batch, e0_m, e0_n}, Strides{e1_batch, e1_m, e1_n}},
                    {s0, s1, s2, s3}};
        finish(chain, acc, t, batch, c, {c_batch, c_m, c_n}, slots);
      });
}

} // namespace

// "" for ieee (the names of the default kernels stay as they were), else "_tf32" / "_tf32x3".
const char* precision_suffix(tl::Precision precision) {
  switch (precision) {
  case tl::Precision::ieee:
    return "";
  case tl::Precision::tf32:
    return "_tf32";
  case tl::Precision::tf32x3:
    return "_tf32x3";
  }
  return "";
}

const MatmulKernels& matmul_kernels(const std::string& key, const Chain& chain,
                                    tl::Precision precision) {
  static std::mutex mutex;
  static std::map<std::string, std::unique_ptr<MatmulKernels>> kernels;
  // Partials take no epilogue: one kernel per precision (copies share its specializations)
  // serves every chain.
  static std::map<tl::Precision, Kernel> partials;
  std::lock_guard<std::mutex> lock(mutex);
  const std::string suffix = precision_suffix(precision);
  auto partial = partials.find(precision);
  if (partial == partials.end())
    partial = partials
                  .emplace(precision, make_tile_kernel("ops_matmul_partial" + suffix, {},
                                                       TileForm::partial, precision))
                  .first;
  auto& slot = kernels[key + suffix];
  if (!slot)
    slot = std::make_unique<MatmulKernels>(MatmulKernels{
        make_tile_kernel(chain_kernel_name("ops_matmul", chain) + suffix, chain, TileForm::plain,
                         precision),
        partial->second, make_reduce_kernel(chain_kernel_name("ops_matmul_reduce", chain), chain),
        make_tile_kernel(chain_kernel_name("ops_matmul_persistent", chain) + suffix, chain,
                         TileForm::persistent, precision),
        make_tile_kernel(chain_kernel_name("ops_matmul_tma", chain) + suffix, chain, TileForm::tma,
                         precision),
        make_tile_kernel(chain_kernel_name("ops_matmul_tma_batched", chain) + suffix, chain,
                         TileForm::tma_batched, precision)});
  return *slot;
}

// A kernel that loads the step's operands and scalars from its parameters, applies the step to a
// zero accumulator and stores the result: its IR is the step's, for this tile.
std::string step_ir(const OpSite& site, const ChainStep& step, DType acc, int bm, int bn) {
  std::string why;
  Kernel probe = tl::kernel("epilogue_probe", "out, e0, e1, M, N, s0, s1, s2, s3",
                            [&](tl::Ptr out, tl::Ptr e0, tl::Ptr e1, tl::Int M, tl::Int N,
                                tl::Float s0, tl::Float s1, tl::Float s2, tl::Float s3) {
                              TilePos t =
                                  tile_at(tl::program_id(0), tl::program_id(1), M, N, bm, bn);
                              TileContext ctx;
                              ctx.rows = t.rows;
                              ctx.cols = t.cols;
                              ctx.mask = t.mask;
                              ctx.batch = tl::program_id(2).to(DType::i64);
                              ctx.c_old_ptrs = out + offsets(t, N, tl::scalar(1, DType::i32));
                              ctx.operand_ptrs = {e0 + offsets(t, N, tl::scalar(1, DType::i32)),
                                                  e1 + offsets(t, N, tl::scalar(1, DType::i32))};
                              ctx.scalars = {s0, s1, s2, s3};
                              tl::Tensor acc_tile = tl::zeros({bm, bn}, acc);
                              tl::Tensor result = apply_step(step, acc_tile, ctx);
                              std::string bad = bad_step_result(result, acc, bm, bn);
                              if (!bad.empty()) {
                                why = step_label(step, /*builtin=*/false) + " " + bad;
                                result = acc_tile;
                              }
                              tl::store(ctx.c_old_ptrs, result, t.mask);
                            });
  static float dummy[1];
  std::string ir =
      probe.ir_for(/*optimized=*/false, dummy, dummy, dummy, 1, 1, 0.0f, 0.0f, 0.0f, 0.0f);
  if (!why.empty())
    site.fail(why);
  return ir;
}

} // namespace tessel::ops::detail
