// Reductions, scans and dot on NVPTX.
//
// A reduction along `axis` of a tensor in a blocked layout happens in three steps: within each
// thread (registers that differ only along the axis), across the lanes that hold different
// positions along the axis (shfl.sync butterflies, one per such lane bit), and across warps (each
// warp writes its partial to shared memory, a barrier, every thread combines the partials). The
// result is in the sliced layout, held by every thread that held its row. argmax/argmin carry the
// index along and keep the first on ties; NaNs never win (as max/min ignore them).
//
// A scan runs in a layout whose threads hold contiguous runs of the axis (the operand's when it
// is one, else a conversion): in-thread sequential scans, then shfl.sync.up (Hillis-Steele) across
// the lanes along the axis, then the warps' totals through shared memory (see lower_scan).
// dot is an FMA loop for now: each thread holds the rows of A and the columns of B its output
// elements need, with the whole K dimension in registers.
#include "codegen/gpu/lowering.h"
#include "codegen/gpu/scratch.h"

#include <llvm/IR/IntrinsicsNVPTX.h>

namespace tessel::codegen::gpu::detail {

using ir::Opcode;

namespace {

// The f32 form of a 32-bit shuffle: an f32 moves in its own register (no mov.b32 to and from an
// integer register around each shfl.sync in the PTX).
llvm::Intrinsic::ID f32_shuffle(llvm::Intrinsic::ID id) {
  switch (id) {
  case llvm::Intrinsic::nvvm_shfl_sync_bfly_i32:
    return llvm::Intrinsic::nvvm_shfl_sync_bfly_f32;
  case llvm::Intrinsic::nvvm_shfl_sync_up_i32:
    return llvm::Intrinsic::nvvm_shfl_sync_up_f32;
  case llvm::Intrinsic::nvvm_shfl_sync_idx_i32:
    return llvm::Intrinsic::nvvm_shfl_sync_idx_f32;
  case llvm::Intrinsic::nvvm_shfl_sync_down_i32:
    return llvm::Intrinsic::nvvm_shfl_sync_down_f32;
  }
  TESSEL_UNREACHABLE("not a 32-bit shfl.sync intrinsic");
}

} // namespace

llvm::Value* Lowering::shuffle(llvm::Intrinsic::ID id, llvm::Value* v, llvm::Value* arg, int c) {
  llvm::Type* t = v->getType();
  auto shfl32 = [&](llvm::Value* x) {
    return b.CreateIntrinsic(id, {}, {b.getInt32(0xffffffffu), x, arg, b.getInt32(c)});
  };
  if (t->isIntegerTy(32))
    return shfl32(v);
  if (t->isFloatTy())
    return b.CreateIntrinsic(f32_shuffle(id), {}, {b.getInt32(0xffffffffu), v, arg, b.getInt32(c)});
  if (t->isHalfTy() || t->isBFloatTy())
    return b.CreateBitCast(
        b.CreateTrunc(shfl32(b.CreateZExt(b.CreateBitCast(v, b.getInt16Ty()), b.getInt32Ty())),
                      b.getInt16Ty()),
        t);
  if (t->isIntegerTy() && t->getIntegerBitWidth() < 32)
    return b.CreateTrunc(shfl32(b.CreateZExt(v, b.getInt32Ty())), t);
  // 64-bit values: two shuffles.
  llvm::Value* i =
      t->isPointerTy() ? b.CreatePtrToInt(v, b.getInt64Ty()) : b.CreateBitCast(v, b.getInt64Ty());
  llvm::Value* lo = shfl32(b.CreateTrunc(i, b.getInt32Ty()));
  llvm::Value* hi = shfl32(b.CreateTrunc(b.CreateLShr(i, 32), b.getInt32Ty()));
  llvm::Value* r = b.CreateOr(b.CreateZExt(lo, b.getInt64Ty()),
                              b.CreateShl(b.CreateZExt(hi, b.getInt64Ty()), 32));
  return t->isPointerTy() ? b.CreateIntToPtr(r, t) : b.CreateBitCast(r, t);
}

llvm::Value* Lowering::shuffle_xor(llvm::Value* v, int lane_mask) {
  return shuffle(llvm::Intrinsic::nvvm_shfl_sync_bfly_i32, v, b.getInt32(lane_mask), 0x1f);
}

namespace {

// A partial result: the value and, for argmax/argmin, its index.
struct Acc {
  llvm::Value* value;
  llvm::Value* index = nullptr;
};

// How two partials of one reduction combine, on registers of `acc_type`.
class Combiner {
public:
  Combiner(Lowering& l, const ir::Op& op, llvm::Type* acc_type)
      : l_(l), b(l.b), op_(op), acc_type_(acc_type),
        fl_(op.operand(0)->type()->element()->is_float()),
        uns_(op.operand(0)->type()->element()->is_unsigned()) {}

  Acc operator()(const Acc& a, const Acc& c) const {
    switch (op_.opcode()) {
    case Opcode::ReduceSum:
      return {fl_ ? b.CreateFAdd(a.value, c.value) : b.CreateAdd(a.value, c.value)};
    case Opcode::ReduceMax:
      return {fl_ ? b.CreateIntrinsic(llvm::Intrinsic::maxnum, {acc_type_}, {a.value, c.value})
                  : b.CreateSelect(greater(a.value, c.value), a.value, c.value)};
    case Opcode::ReduceMin:
      return {fl_ ? b.CreateIntrinsic(llvm::Intrinsic::minnum, {acc_type_}, {a.value, c.value})
                  : b.CreateSelect(less(a.value, c.value), a.value, c.value)};
    case Opcode::ReduceArgmax:
    case Opcode::ReduceArgmin:
      return arg(a, c, op_.opcode() == Opcode::ReduceArgmax);
    case Opcode::Reduce:
      return custom(a, c);
    default:
      break; // lower_op sends only the reduction family here
    }
    TESSEL_UNREACHABLE("a reduction without a combine");
  }

private:
  // Integer order: unsigned for u8..u64 (setp.hi / .lo), signed otherwise.
  llvm::Value* greater(llvm::Value* x, llvm::Value* y) const {
    return uns_ ? b.CreateICmpUGT(x, y) : b.CreateICmpSGT(x, y);
  }
  llvm::Value* less(llvm::Value* x, llvm::Value* y) const {
    return uns_ ? b.CreateICmpULT(x, y) : b.CreateICmpSLT(x, y);
  }

  // The better value and its index; ties keep the first index.
  Acc arg(const Acc& a, const Acc& c, bool max) const {
    llvm::Value* better =
        fl_ ? (max ? b.CreateFCmpOGT(c.value, a.value) : b.CreateFCmpOLT(c.value, a.value))
            : (max ? greater(c.value, a.value) : less(c.value, a.value));
    llvm::Value* tie =
        b.CreateAnd(fl_ ? b.CreateFCmpOEQ(c.value, a.value) : b.CreateICmpEQ(c.value, a.value),
                    b.CreateICmpSLT(c.index, a.index));
    better = b.CreateOr(better, tie);
    if (fl_) // a number beats NaN; among NaNs the first index wins
      better = b.CreateOr(better, b.CreateAnd(b.CreateFCmpUNO(a.value, a.value),
                                              b.CreateOr(b.CreateFCmpORD(c.value, c.value),
                                                         b.CreateICmpSLT(c.index, a.index))));
    return {b.CreateSelect(better, c.value, a.value), b.CreateSelect(better, c.index, a.index)};
  }

  // The op's combine region, inlined on the two values.
  Acc custom(const Acc& a, const Acc& c) const {
    const ir::Block& region = op_.region(0);
    l_.set_vals(region.arg(0), {a.value});
    l_.set_vals(region.arg(1), {c.value});
    const ir::Op* yield = l_.lower_region_ops(region);
    l_.set_location(op_);
    return {l_.scalar(yield->operand(0))};
  }

  Lowering& l_;
  llvm::IRBuilder<>& b;
  const ir::Op& op_;
  llvm::Type* acc_type_;
  bool fl_;
  bool uns_;
};

// Stage 3 of a reduction: the partials of the warp groups along the axis (`warp_bits`) combined
// through shared memory.
std::vector<Acc> combine_across_warps(Lowering& l, const Combiner& combine, std::vector<Acc> acc,
                                      const LinearLayout& out, const std::vector<int>& warp_bits,
                                      llvm::Type* acc_type, bool arg, int64_t scratch_bytes) {
  llvm::IRBuilder<>& b = l.b;
  const int32_t groups = int32_t(1) << warp_bits.size();
  int64_t out_numel = 1;
  for (int32_t s : out.out_shape())
    out_numel *= s;
  const int64_t value_bytes = std::max<int64_t>(1, acc_type->getPrimitiveSizeInBits() / 8);
  const int64_t value_region = (out_numel * groups * value_bytes + 15) / 16 * 16;
  TESSEL_ASSERT(scratch_bytes == value_region + (arg ? out_numel * groups * 4 : 0),
                "reduction scratch differs from reduce_scratch_bytes");
  llvm::Value* base = l.scratch(scratch_bytes);
  llvm::Value* index_base =
      b.CreateGEP(b.getInt8Ty(), base, b.getInt32(static_cast<int32_t>(value_region)));
  llvm::Value* group = b.getInt32(0);
  for (size_t j = 0; j < warp_bits.size(); ++j)
    group = b.CreateOr(group, b.CreateShl(b.CreateAnd(b.CreateLShr(l.warp_id(), warp_bits[j]), 1),
                                          static_cast<int>(j)));
  // Group-major slots (group * elements + swizzled element), each side moving its runs of
  // contiguous registers with one access: one writer per (element, warp group) — lanes and
  // warps that hold copies stay out — and every thread reads each group's partials. A group's
  // offset is the same for a whole warp, so the swizzle is chosen over one group.
  struct Region {
    AccessSide write, read;
    Swizzle swizzle;
  };
  auto region = [&](int64_t bytes) {
    const int vec = access_vector(out, bytes);
    Region g{{&out, vec, /*store=*/true, /*owners_only=*/true, warp_bits},
             {&out, vec, /*store=*/false, /*owners_only=*/false, {}},
             {}};
    g.swizzle = choose_swizzle(g.write, g.read, out_numel, bytes);
    l.record_accesses(g.write, g.swizzle, bytes, "reduce partials");
    l.record_accesses(g.read, g.swizzle, bytes, "reduce partials");
    return g;
  };
  const Region values = region(value_bytes);
  const Region indices = arg ? region(4) : values;
  auto at = [&](llvm::Value* element, llvm::Value* g) {
    return b.CreateAdd(b.CreateMul(g, b.getInt32(static_cast<int32_t>(out_numel))), element);
  };
  const int32_t nregs = static_cast<int32_t>(acc.size());
  llvm::Value* owner = l.owner_predicate(out, warp_bits);
  for (int32_t r = 0; r < nregs; r += values.write.vec) {
    Vals xs;
    for (int32_t i = 0; i < values.write.vec; ++i)
      xs.push_back(acc[r + i].value);
    l.store_shared_if(owner, acc_type, base, at(l.shared_index(out, r, values.swizzle), group), xs);
  }
  if (arg)
    for (int32_t r = 0; r < nregs; r += indices.write.vec) {
      Vals xs;
      for (int32_t i = 0; i < indices.write.vec; ++i)
        xs.push_back(acc[r + i].index);
      l.store_shared_if(owner, b.getInt32Ty(), index_base,
                        at(l.shared_index(out, r, indices.swizzle), group), xs);
    }
  l.barrier();
  std::vector<Acc> total(acc.size(), Acc{nullptr});
  for (int32_t g = 0; g < groups; ++g) {
    std::vector<Acc> part(acc.size(), Acc{nullptr});
    for (int32_t r = 0; r < nregs; r += values.read.vec) {
      Vals xs =
          l.load_shared(acc_type, base, at(l.shared_index(out, r, values.swizzle), b.getInt32(g)),
                        values.read.vec);
      for (int32_t i = 0; i < values.read.vec; ++i)
        part[r + i].value = xs[i];
    }
    if (arg)
      for (int32_t r = 0; r < nregs; r += indices.read.vec) {
        Vals xs = l.load_shared(b.getInt32Ty(), index_base,
                                at(l.shared_index(out, r, indices.swizzle), b.getInt32(g)),
                                indices.read.vec);
        for (int32_t i = 0; i < indices.read.vec; ++i)
          part[r + i].index = xs[i];
      }
    for (int32_t r = 0; r < nregs; ++r)
      total[r] = total[r].value ? combine(total[r], part[r]) : part[r];
  }
  return total;
}

} // namespace

void Lowering::lower_reduce(const ir::Op& op) {
  const ir::Value* src = op.operand(0);
  const ir::Type* elem = src->type()->element();
  const int axis = static_cast<int>(op.int_attr("axis"));
  const Opcode code = op.opcode();
  const bool arg = code == Opcode::ReduceArgmax || code == Opcode::ReduceArgmin;
  const bool fl = elem->is_float();
  // The operand's layout is the one assign-layouts chose for the reduction (its shape's default).
  const LinearLayout& in = layout(src);
  const LinearLayout out = in.slice(axis);
  if (!in.is_dim_separable())
    unsupported(op, "reductions of layouts whose bases mix dimensions");
  const Vals& x = vals(src);
  // Sums of f16/bf16 accumulate in f32 and round once at the end.
  llvm::Type* acc_type = reg_type(elem);
  const bool widen = code == Opcode::ReduceSum && fl && elem->element_bits() == 16;
  if (widen)
    acc_type = b.getFloatTy();

  const Combiner combine(*this, op, acc_type);

  // 1. Within the thread.
  auto index = reg_index(out);
  std::vector<Acc> acc(out.in_size(InDim::Register), Acc{nullptr});
  for (int32_t r = 0; r < in.in_size(InDim::Register); ++r) {
    std::vector<int32_t> c = reg_coord(in, r);
    c.erase(c.begin() + axis);
    auto it = index.find(c);
    TESSEL_ASSERT(it != index.end(), "reduction key not in the sliced layout");
    Acc v{widen ? b.CreateFPExt(x[r], acc_type) : x[r]};
    if (arg)
      v.index = coordinate(in, r, axis);
    Acc& slot = acc[it->second];
    slot = slot.value ? combine(slot, v) : v;
  }
  // 2. Across lanes.
  for (int bit : in.bits_along(InDim::Lane, axis))
    for (Acc& a : acc) {
      Acc other{shuffle_xor(a.value, 1 << bit), arg ? shuffle_xor(a.index, 1 << bit) : nullptr};
      a = combine(a, other);
    }
  // 3. Across warps, through shared memory.
  std::vector<int> warp_bits = in.bits_along(InDim::Warp, axis);
  if (!warp_bits.empty())
    acc = combine_across_warps(*this, combine, std::move(acc), out, warp_bits, acc_type, arg,
                               reduce_scratch_bytes(op, in));
  Vals result;
  for (const Acc& a : acc) {
    llvm::Value* v = arg ? a.index : a.value;
    if (widen)
      v = b.CreateFPTrunc(v, reg_type(elem));
    result.push_back(v);
  }
  if (op.result()->type()->rank() == 0) {
    set_vals(op.result(), {result.at(0)});
    return;
  }
  set_vals(op.result(), convert(result, op.result()->type()->element(), out, layout(op.result())));
}

namespace {

using Basis = LinearLayout::Basis;

Basis unit(int rank, int dim, int32_t v) {
  Basis b(rank, 0);
  b[dim] = v;
  return b;
}

// The layouts of a scan's warp totals (step 3 of lower_scan), written and read.
struct TotalsLayouts {
  LinearLayout write, read;
};

TotalsLayouts warp_totals_layouts(const LinearLayout& l, const std::vector<int32_t>& shape,
                                  int axis, int32_t warps) {
  const int rank = static_cast<int>(shape.size());
  // The totals as a tensor of `shape` with the axis cut to the warps along it: written in
  // `wl` (the axis coordinate is the warp's position; lanes along the axis hold copies), read
  // in `rl` (every thread holds all the warps' totals of its rows, in its lowest registers).
  std::array<std::vector<Basis>, kNumInDims> wb, rb;
  for (int32_t v = 1; v < warps; v *= 2)
    rb[0].push_back(unit(rank, axis, v));
  for (const Basis& c : l.bases(InDim::Register))
    if (c[axis] == 0) {
      wb[0].push_back(c);
      rb[0].push_back(c);
    }
  for (const Basis& c : l.bases(InDim::Lane)) {
    Basis z = c;
    z[axis] = 0;
    wb[1].push_back(z);
    rb[1].push_back(z);
  }
  int32_t next = 1;
  for (const Basis& c : l.bases(InDim::Warp)) {
    if (c[axis] != 0) {
      wb[2].push_back(unit(rank, axis, next));
      next *= 2;
    } else {
      wb[2].push_back(c);
    }
    Basis z = c;
    z[axis] = 0;
    rb[2].push_back(z);
  }
  std::vector<int32_t> tshape = shape;
  tshape[axis] = warps;
  return {LinearLayout(std::move(wb), tshape), LinearLayout(std::move(rb), tshape)};
}

// Step 3 of lower_scan, the exchange: each warp's segment total of every row (`segment`, rows
// numbered by `row_of`) through shared memory; returns, per row, the totals of all `warps` warps
// along the axis, in axis order.
// The bytes of the warp totals exchanged by a scan (exchange_warp_totals).
int64_t warp_totals_bytes(std::vector<int32_t> shape, int axis, int32_t warps, int64_t acc_bytes) {
  shape[axis] = warps;
  int64_t numel = 1;
  for (int32_t s : shape)
    numel *= s;
  return numel * acc_bytes;
}

std::vector<Vals> exchange_warp_totals(Lowering& L, const LinearLayout& l,
                                       const std::vector<int32_t>& shape, int axis, int32_t warps,
                                       const std::map<std::vector<int32_t>, int>& row_of,
                                       const Vals& segment, llvm::Type* acc_type) {
  const TotalsLayouts totals = warp_totals_layouts(l, shape, axis, warps);
  const LinearLayout& wl = totals.write;
  const LinearLayout& rl = totals.read;
  std::vector<int32_t> tshape = shape;
  tshape[axis] = warps;
  int64_t tnumel = 1;
  for (int32_t s : tshape)
    tnumel *= s;
  const int64_t bytes = std::max<int64_t>(1, acc_type->getPrimitiveSizeInBits() / 8);
  TESSEL_ASSERT(tnumel * bytes == warp_totals_bytes(shape, axis, warps, bytes),
                "scan scratch differs from warp_totals_bytes");
  AccessSide write{&wl, access_vector(wl, bytes), /*store=*/true, /*owners_only=*/true, {}};
  AccessSide read{&rl, access_vector(rl, bytes), /*store=*/false, /*owners_only=*/false, {}};
  const Swizzle swizzle = choose_swizzle(write, read, tnumel, bytes);
  L.record_accesses(write, swizzle, bytes, "scan warp totals");
  L.record_accesses(read, swizzle, bytes, "scan warp totals");
  llvm::Value* base = L.scratch(tnumel * bytes);
  auto wrow = [&](const LinearLayout& m, int32_t r) {
    std::vector<int32_t> key = Lowering::reg_coord(m, r);
    key.erase(key.begin() + axis);
    auto it = row_of.find(key);
    TESSEL_ASSERT(it != row_of.end(), "scan row not in the totals layout");
    return it->second;
  };
  llvm::Value* owner = L.owner_predicate(wl);
  for (int32_t r = 0; r < wl.in_size(InDim::Register); r += write.vec) {
    Vals xs;
    for (int32_t i = 0; i < write.vec; ++i)
      xs.push_back(segment[wrow(wl, r + i)]);
    L.store_shared_if(owner, acc_type, base, L.shared_index(wl, r, swizzle), xs);
  }
  L.barrier();
  std::vector<Vals> tot(segment.size(), Vals(warps, nullptr));
  for (int32_t r = 0; r < rl.in_size(InDim::Register); r += read.vec) {
    Vals xs = L.load_shared(acc_type, base, L.shared_index(rl, r, swizzle), read.vec);
    for (int32_t i = 0; i < read.vec; ++i)
      tot[wrow(rl, r + i)][Lowering::reg_coord(rl, r + i)[axis]] = xs[i];
  }
  return tot;
}

} // namespace

llvm::Value* Lowering::shuffle_up(llvm::Value* v, int delta) {
  return shuffle(llvm::Intrinsic::nvvm_shfl_sync_up_i32, v, b.getInt32(delta), 0);
}

llvm::Value* Lowering::shuffle_idx(llvm::Value* v, llvm::Value* lane) {
  return shuffle(llvm::Intrinsic::nvvm_shfl_sync_idx_i32, v, lane, 0x1f);
}

// An inclusive prefix sum along the axis in a scan_ready layout L, in four steps:
//  1. each thread scans its registers along the axis sequentially (per row: the other
//     coordinates), giving its local prefixes and its total;
//  2. the lanes along the axis (consecutive lane bits j..j+k-1) scan their totals with k
//     Hillis-Steele steps of shfl.sync.up (a lane adds what the lane 2^i positions before it
//     holds when it has one), then one more shfl.sync.up gives each lane the exact exclusive
//     prefix of the lanes before it;
//  3. with several warps along the axis, each warp's segment total (shfl.sync.idx from its last
//     lane) goes to shared memory as a tensor of the rows x warps along the axis, written by one
//     lane per row and warp, a barrier, and every thread reads the totals of its rows and adds
//     those of the warps before it; that buffer is swizzled from its two layouts like every
//     exchange (swizzle.h) and recorded in shared_accesses;
//  4. each element adds the exclusive prefix of the threads and warps before it (nothing when
//     there are none, so a leading -0.0 survives, as in a sequential loop).
// f16/bf16 accumulate in f32 throughout and round once. Where the whole axis lives in one thread,
// only step 1 remains (the sequential scan).
void Lowering::lower_scan(const ir::Op& op) {
  const ir::Value* src = op.operand(0);
  const ir::Type* elem = src->type()->element();
  const int axis = static_cast<int>(op.int_attr("axis"));
  std::vector<int32_t> shape = shape_of(src);
  // assign-layouts put the operand and the result in a layout the algorithm runs in.
  const LinearLayout& l = layout(src);
  if (!scan_ready(l, axis) || !(layout(op.result()) == l))
    unsupported(op, "its operand and result need one layout whose threads hold contiguous runs "
                    "of the axis (scan_ready); run assign-layouts, which converts to one");
  const Vals& x = vals(src);
  const bool fl = elem->is_float();
  const bool narrow = fl && elem->element_bits() == 16;
  llvm::Type* acc_type = narrow ? b.getFloatTy() : reg_type(elem);
  auto add = [&](llvm::Value* p, llvm::Value* q) {
    return fl ? b.CreateFAdd(p, q) : b.CreateAdd(p, q);
  };

  // Rows: the register part of the coordinates but the axis, numbered in register order.
  std::map<std::vector<int32_t>, int> row_of;
  std::vector<int> row(x.size());
  for (size_t r = 0; r < x.size(); ++r) {
    std::vector<int32_t> key = reg_coord(l, static_cast<int32_t>(r));
    key.erase(key.begin() + axis);
    row[r] = row_of.try_emplace(key, static_cast<int>(row_of.size())).first->second;
  }
  const size_t nrows = row_of.size();

  // 1. Within the thread, registers in increasing order of their axis coordinate.
  std::vector<int32_t> regs(x.size());
  for (size_t r = 0; r < regs.size(); ++r)
    regs[r] = static_cast<int32_t>(r);
  std::stable_sort(regs.begin(), regs.end(), [&](int32_t a, int32_t c) {
    return reg_coord(l, a)[axis] < reg_coord(l, c)[axis];
  });
  Vals local(x.size());
  Vals total(nrows, nullptr);
  for (int32_t r : regs) {
    llvm::Value* v = narrow ? b.CreateFPExt(x[r], acc_type) : x[r];
    llvm::Value*& t = total[row[r]];
    t = t ? add(t, v) : v;
    local[r] = t;
  }

  llvm::Value* has_prefix = nullptr; // i1: some earlier thread holds elements of the row
  Vals prefix(nrows, nullptr);       // their sum
  // 2. Across the lanes along the axis.
  const std::vector<int> lane_bits = l.bits_along(InDim::Lane, axis);
  Vals segment = total; // per row: the total of this warp's part of the axis
  if (!lane_bits.empty()) {
    const int shift = lane_bits.front();
    const int32_t lanes = int32_t(1) << lane_bits.size();
    llvm::Value* pos = b.CreateAnd(b.CreateLShr(lane_id(), shift), lanes - 1);
    llvm::Value* last = b.CreateOr(lane_id(), b.getInt32((lanes - 1) << shift));
    for (size_t k = 0; k < nrows; ++k) {
      llvm::Value* t = total[k];
      for (int32_t d = 1; d < lanes; d *= 2) {
        llvm::Value* y = shuffle_up(t, d << shift);
        t = b.CreateSelect(b.CreateICmpUGE(pos, b.getInt32(d)), add(t, y), t);
      }
      prefix[k] = shuffle_up(t, 1 << shift);
      segment[k] = shuffle_idx(t, last);
    }
    has_prefix = b.CreateICmpNE(pos, b.getInt32(0));
  }
  // 3. Across the warps along the axis, through shared memory.
  const std::vector<int> warp_bits = l.bits_along(InDim::Warp, axis);
  if (!warp_bits.empty()) {
    const int32_t warps = int32_t(1) << warp_bits.size();
    const std::vector<Vals> tot =
        exchange_warp_totals(*this, l, shape, axis, warps, row_of, segment, acc_type);
    // The position of this warp along the axis.
    llvm::Value* wpos = b.getInt32(0);
    for (size_t j = 0; j < warp_bits.size(); ++j)
      wpos = b.CreateOr(wpos, b.CreateShl(b.CreateAnd(b.CreateLShr(warp_id(), warp_bits[j]), 1),
                                          static_cast<int>(j)));
    llvm::Value* has_warp = b.CreateICmpNE(wpos, b.getInt32(0));
    for (size_t k = 0; k < nrows; ++k) {
      llvm::Value* carry = tot[k][0];
      for (int32_t w = 1; w + 1 < warps; ++w)
        carry = b.CreateSelect(b.CreateICmpULT(b.getInt32(w), wpos), add(carry, tot[k][w]), carry);
      prefix[k] =
          prefix[k]
              ? b.CreateSelect(has_warp, b.CreateSelect(has_prefix, add(carry, prefix[k]), carry),
                               prefix[k])
              : carry;
    }
    has_prefix = has_prefix ? b.CreateOr(has_prefix, has_warp) : has_warp;
  }
  // 4. The exclusive prefix of the threads before this one.
  Vals out(x.size());
  for (size_t r = 0; r < x.size(); ++r) {
    llvm::Value* v = local[r];
    if (has_prefix)
      v = b.CreateSelect(has_prefix, add(prefix[row[r]], v), v);
    out[r] = narrow ? b.CreateFPTrunc(v, reg_type(elem)) : v;
  }
  set_vals(op.result(), std::move(out));
}

void Lowering::lower_dot(const ir::Op& op) {
  const ir::Value* res = op.result();
  const LinearLayout& lc = layout(res);
  std::vector<int32_t> shape_a = shape_of(op.operand(0)), shape_b = shape_of(op.operand(1));
  const int32_t k_size = shape_a[1];
  // prepare-dot-operands converted a and b to the layouts this loop reads (whole K per thread).
  const LinearLayout& la = layout(op.operand(0));
  const LinearLayout& lb = layout(op.operand(1));
  if (!(la == fma_dot_operand_layout(lc, shape_a, 0)) ||
      !(lb == fma_dot_operand_layout(lc, shape_b, 1)) || !(layout(op.operand(2)) == lc))
    unsupported(op, "its operands are not in the layouts an FMA dot reads (a's rows and b's "
                    "columns of each thread's outputs, the accumulator in the result's); run "
                    "prepare-dot-operands, which converts them");
  const Vals& a = vals(op.operand(0));
  const Vals& bv = vals(op.operand(1));
  Vals acc = vals(op.operand(2));
  auto ia = reg_index(la), ib = reg_index(lb);
  const ir::Type* ea = op.operand(0)->type()->element();
  const ir::Type* eb = op.operand(1)->type()->element();
  const ir::Type* ec = res->type()->element();
  llvm::Type* ct = reg_type(ec);
  auto widen = [&](llvm::Value* v, const ir::Type* e) -> llvm::Value* {
    if (dtype_is_fp8(e->dtype())) // its bits, decoded exactly (scalar semantics) to f32
      return cast_value(v, e, ec);
    if (ec->is_float())
      return v->getType() == ct ? v : b.CreateFPExt(v, ct);
    return e->is_unsigned() ? b.CreateZExtOrTrunc(v, ct) : b.CreateSExtOrTrunc(v, ct);
  };
  std::vector<std::vector<int32_t>> coords;
  for (int32_t r = 0; r < lc.in_size(InDim::Register); ++r)
    coords.push_back(reg_coord(lc, r));
  for (int32_t k = 0; k < k_size; ++k)
    for (int32_t r = 0; r < lc.in_size(InDim::Register); ++r) {
      auto fa = ia.find({coords[r][0], k});
      auto fb = ib.find({k, coords[r][1]});
      TESSEL_ASSERT(fa != ia.end() && fb != ib.end(), "dot operand register not found");
      llvm::Value* x = widen(a[fa->second], ea);
      llvm::Value* y = widen(bv[fb->second], eb);
      acc[r] = ec->is_float() ? b.CreateIntrinsic(llvm::Intrinsic::fma, {ct}, {x, y, acc[r]})
                              : b.CreateAdd(acc[r], b.CreateMul(x, y));
    }
  set_vals(res, std::move(acc));
}

// Accumulators: f16/bf16 sums in f32, argmax/argmin values in their type (scratch.h).
int64_t acc_bytes(const ir::Type* elem, bool widen) {
  return widen ? 4 : std::max<int64_t>(1, elem->element_bits() / 8);
}

int64_t reduce_scratch_bytes(const ir::Op& op, const LinearLayout& in) {
  const int axis = static_cast<int>(op.int_attr("axis"));
  const std::vector<int> warp_bits = in.bits_along(InDim::Warp, axis);
  if (warp_bits.empty())
    return 0;
  const ir::Type* elem = op.operand(0)->type()->element();
  const bool arg = op.opcode() == Opcode::ReduceArgmax || op.opcode() == Opcode::ReduceArgmin;
  const bool widen =
      op.opcode() == Opcode::ReduceSum && elem->is_float() && elem->element_bits() == 16;
  const int64_t groups = int64_t(1) << warp_bits.size();
  const LinearLayout out = in.slice(axis);
  int64_t out_numel = 1;
  for (int32_t s : out.out_shape())
    out_numel *= s;
  const int64_t value_region = (out_numel * groups * acc_bytes(elem, widen) + 15) / 16 * 16;
  return value_region + (arg ? out_numel * groups * 4 : 0);
}

int64_t scan_scratch_bytes(const ir::Op& op, const LinearLayout& l) {
  const int axis = static_cast<int>(op.int_attr("axis"));
  const ir::Type* elem = op.operand(0)->type()->element();
  const std::vector<int> warp_bits = l.bits_along(InDim::Warp, axis);
  if (warp_bits.empty())
    return 0;
  std::vector<int32_t> shape(l.out_shape().begin(), l.out_shape().end());
  const bool narrow = elem->is_float() && elem->element_bits() == 16;
  return warp_totals_bytes(shape, axis, int32_t(1) << warp_bits.size(), acc_bytes(elem, narrow));
}

} // namespace tessel::codegen::gpu::detail
