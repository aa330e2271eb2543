// Reductions, scans and dot on NVPTX.
//
// A reduction along `axis` of a tensor in a blocked layout happens in three steps: within each
// thread (registers that differ only along the axis), across the lanes that hold different
// positions along the axis (shfl.sync butterflies, one per such lane bit), and across warps (each
// warp writes its partial to shared memory, a barrier, every thread combines the partials). The
// result is in the sliced layout, held by every thread that held its row. argmax/argmin carry the
// index along and keep the first on ties; NaNs never win (as max/min ignore them).
//
// A scan makes each thread hold whole rows along the axis (a layout conversion), scans them
// sequentially, and converts back. dot is an FMA loop for now: each thread holds the rows of A
// and the columns of B its output elements need, with the whole K dimension in registers.
#include "codegen/gpu/lowering.h"

#include <llvm/IR/IntrinsicsNVPTX.h>

namespace tessel::codegen::gpu::detail {

using ir::Opcode;

llvm::Value* Lowering::shuffle_xor(llvm::Value* v, int lane_mask) {
  llvm::Type* t = v->getType();
  auto shfl32 = [&](llvm::Value* x) {
    return b.CreateIntrinsic(llvm::Intrinsic::nvvm_shfl_sync_bfly_i32, {},
                             {b.getInt32(0xffffffffu), x, b.getInt32(lane_mask), b.getInt32(0x1f)});
  };
  if (t->isIntegerTy(32))
    return shfl32(v);
  if (t->isFloatTy())
    return b.CreateBitCast(shfl32(b.CreateBitCast(v, b.getInt32Ty())), t);
  if (t->isHalfTy() || t->isBFloatTy())
    return b.CreateBitCast(b.CreateTrunc(shfl32(b.CreateZExt(b.CreateBitCast(v, b.getInt16Ty()), b.getInt32Ty())), b.getInt16Ty()), t);
  if (t->isIntegerTy() && t->getIntegerBitWidth() < 32)
    return b.CreateTrunc(shfl32(b.CreateZExt(v, b.getInt32Ty())), t);
  // 64-bit values: two shuffles.
  llvm::Value* i = t->isPointerTy() ? b.CreatePtrToInt(v, b.getInt64Ty()) : b.CreateBitCast(v, b.getInt64Ty());
  llvm::Value* lo = shfl32(b.CreateTrunc(i, b.getInt32Ty()));
  llvm::Value* hi = shfl32(b.CreateTrunc(b.CreateLShr(i, 32), b.getInt32Ty()));
  llvm::Value* r = b.CreateOr(b.CreateZExt(lo, b.getInt64Ty()), b.CreateShl(b.CreateZExt(hi, b.getInt64Ty()), 32));
  return t->isPointerTy() ? b.CreateIntToPtr(r, t) : b.CreateBitCast(r, t);
}

namespace {

// A partial result: the value and, for argmax/argmin, its index.
struct Acc {
  llvm::Value* value;
  llvm::Value* index = nullptr;
};

} // namespace

void Lowering::lower_reduce(const ir::Op& op) {
  const ir::Value* src = op.operand(0);
  const ir::Type* elem = src->type()->element();
  const int axis = static_cast<int>(op.int_attr("axis"));
  const Opcode code = op.opcode();
  const bool arg = code == Opcode::ReduceArgmax || code == Opcode::ReduceArgmin;
  const bool fl = elem->is_float();
  const LinearLayout in = plan.default_for(shape_of(src));
  const LinearLayout out = in.slice(axis);
  if (!in.is_dim_separable())
    unsupported(op, "reductions of layouts whose bases mix dimensions");
  Vals x = vals_in(src, in);
  // Sums of f16/bf16 accumulate in f32 and round once at the end.
  llvm::Type* acc_type = reg_type(elem);
  const bool widen = code == Opcode::ReduceSum && fl && elem->element_bits() == 16;
  if (widen)
    acc_type = b.getFloatTy();

  auto combine = [&](const Acc& a, const Acc& c) -> Acc {
    switch (code) {
    case Opcode::ReduceSum:
      return {fl ? b.CreateFAdd(a.value, c.value) : b.CreateAdd(a.value, c.value)};
    case Opcode::ReduceMax:
      return {fl ? b.CreateIntrinsic(llvm::Intrinsic::maxnum, {acc_type}, {a.value, c.value})
                 : b.CreateSelect(b.CreateICmpSGT(a.value, c.value), a.value, c.value)};
    case Opcode::ReduceMin:
      return {fl ? b.CreateIntrinsic(llvm::Intrinsic::minnum, {acc_type}, {a.value, c.value})
                 : b.CreateSelect(b.CreateICmpSLT(a.value, c.value), a.value, c.value)};
    case Opcode::ReduceArgmax:
    case Opcode::ReduceArgmin: {
      const bool max = code == Opcode::ReduceArgmax;
      llvm::Value* better = fl ? (max ? b.CreateFCmpOGT(c.value, a.value) : b.CreateFCmpOLT(c.value, a.value))
                               : (max ? b.CreateICmpSGT(c.value, a.value) : b.CreateICmpSLT(c.value, a.value));
      llvm::Value* tie = b.CreateAnd(fl ? b.CreateFCmpOEQ(c.value, a.value) : b.CreateICmpEQ(c.value, a.value),
                                     b.CreateICmpSLT(c.index, a.index));
      better = b.CreateOr(better, tie);
      if (fl) // a number beats NaN; among NaNs the first index wins
        better = b.CreateOr(better, b.CreateAnd(b.CreateFCmpUNO(a.value, a.value),
                                                b.CreateOr(b.CreateFCmpORD(c.value, c.value),
                                                           b.CreateICmpSLT(c.index, a.index))));
      return {b.CreateSelect(better, c.value, a.value), b.CreateSelect(better, c.index, a.index)};
    }
    case Opcode::Reduce: {
      const ir::Block& region = op.region(0);
      set_vals(region.arg(0), {a.value});
      set_vals(region.arg(1), {c.value});
      const ir::Op* yield = lower_region_ops(region);
      set_location(op);
      return {scalar(yield->operand(0))};
    }
    case Opcode::Constant: case Opcode::ProgramId: case Opcode::NumPrograms: case Opcode::Arange:
    case Opcode::Splat: case Opcode::Broadcast: case Opcode::Reshape: case Opcode::ExpandDims:
    case Opcode::Permute: case Opcode::Add: case Opcode::Sub: case Opcode::Mul: case Opcode::Div:
    case Opcode::Rem: case Opcode::Min: case Opcode::Max: case Opcode::And: case Opcode::Or:
    case Opcode::Xor: case Opcode::Shl: case Opcode::Shr: case Opcode::Neg: case Opcode::Not:
    case Opcode::Abs: case Opcode::Fma: case Opcode::Exp: case Opcode::Exp2: case Opcode::Log:
    case Opcode::Log2: case Opcode::Sqrt: case Opcode::Rsqrt: case Opcode::Sin: case Opcode::Cos:
    case Opcode::Erf: case Opcode::Tanh: case Opcode::Sigmoid: case Opcode::Floor:
    case Opcode::Ceil: case Opcode::CmpEq: case Opcode::CmpNe: case Opcode::CmpLt:
    case Opcode::CmpLe: case Opcode::CmpGt: case Opcode::CmpGe: case Opcode::Select:
    case Opcode::Cast: case Opcode::AddPtr: case Opcode::Load: case Opcode::Store:
    case Opcode::ScanSum: case Opcode::Dot: case Opcode::For: case Opcode::If: case Opcode::While:
    case Opcode::Yield: case Opcode::Condition: case Opcode::Return:
      TESSEL_UNREACHABLE("not a reduction");
    }
    TESSEL_UNREACHABLE("bad opcode");
  };

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
  if (!warp_bits.empty()) {
    const int32_t groups = int32_t(1) << warp_bits.size();
    int64_t out_numel = 1;
    for (int32_t s : out.out_shape())
      out_numel *= s;
    const int64_t value_bytes = std::max<int64_t>(1, acc_type->getPrimitiveSizeInBits() / 8);
    const int64_t value_region = (out_numel * groups * value_bytes + 15) / 16 * 16;
    llvm::Value* base = scratch(value_region + (arg ? out_numel * groups * 4 : 0));
    llvm::Value* index_base = b.CreateGEP(b.getInt8Ty(), base, b.getInt32(static_cast<int32_t>(value_region)));
    llvm::Value* group = b.getInt32(0);
    for (size_t j = 0; j < warp_bits.size(); ++j)
      group = b.CreateOr(group, b.CreateShl(b.CreateAnd(b.CreateLShr(warp_id(), warp_bits[j]), 1), static_cast<int>(j)));
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
               {&out, vec, /*store=*/false, /*owners_only=*/false, {}}, {}};
      g.swizzle = choose_swizzle(g.write, g.read, out_numel, bytes);
      record_accesses(g.write, g.swizzle, bytes, "reduce partials");
      record_accesses(g.read, g.swizzle, bytes, "reduce partials");
      return g;
    };
    const Region values = region(value_bytes);
    const Region indices = arg ? region(4) : values;
    auto at = [&](llvm::Value* element, llvm::Value* g) {
      return b.CreateAdd(b.CreateMul(g, b.getInt32(static_cast<int32_t>(out_numel))), element);
    };
    const int32_t nregs = static_cast<int32_t>(acc.size());
    only_if(owner_predicate(out, warp_bits), [&] {
      for (int32_t r = 0; r < nregs; r += values.write.vec) {
        Vals xs;
        for (int32_t i = 0; i < values.write.vec; ++i)
          xs.push_back(acc[r + i].value);
        store_shared(acc_type, base, at(shared_index(out, r, values.swizzle), group), xs);
      }
      if (arg)
        for (int32_t r = 0; r < nregs; r += indices.write.vec) {
          Vals xs;
          for (int32_t i = 0; i < indices.write.vec; ++i)
            xs.push_back(acc[r + i].index);
          store_shared(b.getInt32Ty(), index_base, at(shared_index(out, r, indices.swizzle), group), xs);
        }
    });
    barrier();
    std::vector<Acc> total(acc.size(), Acc{nullptr});
    for (int32_t g = 0; g < groups; ++g) {
      std::vector<Acc> part(acc.size(), Acc{nullptr});
      for (int32_t r = 0; r < nregs; r += values.read.vec) {
        Vals xs = load_shared(acc_type, base, at(shared_index(out, r, values.swizzle), b.getInt32(g)), values.read.vec);
        for (int32_t i = 0; i < values.read.vec; ++i)
          part[r + i].value = xs[i];
      }
      if (arg)
        for (int32_t r = 0; r < nregs; r += indices.read.vec) {
          Vals xs = load_shared(b.getInt32Ty(), index_base, at(shared_index(out, r, indices.swizzle), b.getInt32(g)),
                                indices.read.vec);
          for (int32_t i = 0; i < indices.read.vec; ++i)
            part[r + i].index = xs[i];
        }
      for (int32_t r = 0; r < nregs; ++r)
        total[r] = total[r].value ? combine(total[r], part[r]) : part[r];
    }
    acc = std::move(total);
  }
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

void Lowering::lower_scan(const ir::Op& op) {
  const ir::Value* src = op.operand(0);
  const ir::Type* elem = src->type()->element();
  const int axis = static_cast<int>(op.int_attr("axis"));
  std::vector<int32_t> shape = shape_of(src);
  std::vector<int> order{axis};
  for (int d = static_cast<int>(shape.size()) - 1; d >= 0; --d)
    if (d != axis)
      order.push_back(d);
  // Whole rows along the axis in each thread's registers.
  LinearLayout rows = make_blocked(shape, num_warps(), shape[axis], order);
  Vals x = vals_in(src, rows);
  const bool fl = elem->is_float();
  const bool narrow = fl && elem->element_bits() == 16;
  std::map<std::vector<int32_t>, llvm::Value*> running;
  // Registers in increasing order of their axis coordinate within each row.
  std::vector<int32_t> regs(x.size());
  for (size_t r = 0; r < regs.size(); ++r)
    regs[r] = static_cast<int32_t>(r);
  std::stable_sort(regs.begin(), regs.end(), [&](int32_t a, int32_t c) {
    return reg_coord(rows, a)[axis] < reg_coord(rows, c)[axis];
  });
  Vals out(x.size());
  for (int32_t r : regs) {
    std::vector<int32_t> key = reg_coord(rows, r);
    key.erase(key.begin() + axis);
    llvm::Value* v = narrow ? b.CreateFPExt(x[r], b.getFloatTy()) : x[r];
    auto it = running.find(key);
    if (it != running.end())
      v = fl ? b.CreateFAdd(it->second, v) : b.CreateAdd(it->second, v);
    running[key] = v;
    out[r] = narrow ? b.CreateFPTrunc(v, reg_type(elem)) : v;
  }
  set_vals(op.result(), convert(out, elem, rows, layout(op.result())));
}

void Lowering::lower_dot(const ir::Op& op) {
  const ir::Value* res = op.result();
  const LinearLayout& lc = layout(res);
  std::vector<int32_t> shape_a = shape_of(op.operand(0)), shape_b = shape_of(op.operand(1));
  const int32_t k_size = shape_a[1];
  // A: the rows of lc's layout, the whole K in registers; B: the columns, K in registers.
  auto operand_layout = [&](int keep, bool k_first_dim) {
    std::array<std::vector<LinearLayout::Basis>, kNumInDims> bases;
    for (int32_t k = 1; k < k_size; k *= 2)
      bases[0].push_back(k_first_dim ? LinearLayout::Basis{k, 0} : LinearLayout::Basis{0, k});
    auto project = [&](const LinearLayout::Basis& c) {
      return k_first_dim ? LinearLayout::Basis{0, c[keep]} : LinearLayout::Basis{c[keep], 0};
    };
    for (const auto& c : lc.bases(InDim::Register))
      if (c[keep] != 0)
        bases[0].push_back(project(c));
    for (InDim in : {InDim::Lane, InDim::Warp})
      for (const auto& c : lc.bases(in))
        bases[static_cast<int>(in)].push_back(project(c));
    return LinearLayout(std::move(bases), k_first_dim ? shape_b : shape_a);
  };
  const LinearLayout la = operand_layout(/*keep=*/0, /*k_first_dim=*/false);
  const LinearLayout lb = operand_layout(/*keep=*/1, /*k_first_dim=*/true);
  Vals a = vals_in(op.operand(0), la);
  Vals bv = vals_in(op.operand(1), lb);
  Vals acc = vals_in(op.operand(2), lc);
  auto ia = reg_index(la), ib = reg_index(lb);
  const ir::Type* ea = op.operand(0)->type()->element();
  const ir::Type* ec = res->type()->element();
  llvm::Type* ct = reg_type(ec);
  auto widen = [&](llvm::Value* v, const ir::Type* e) -> llvm::Value* {
    if (ec->is_float())
      return v->getType() == ct ? v : b.CreateFPExt(v, ct);
    return b.CreateSExtOrTrunc(v, ct);
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
      llvm::Value* y = widen(bv[fb->second], ea);
      acc[r] = ec->is_float() ? b.CreateIntrinsic(llvm::Intrinsic::fma, {ct}, {x, y, acc[r]})
                              : b.CreateAdd(acc[r], b.CreateMul(x, y));
    }
  set_vals(res, std::move(acc));
}

} // namespace tessel::codegen::gpu::detail
