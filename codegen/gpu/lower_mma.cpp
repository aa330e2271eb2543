// The NVPTX lowering of explicit shared memory (local_alloc, local_store, local_load, barrier; the
// pipeliner's local_slot and cp.async ops are in lower_async.cpp) and of dots on tensor cores
// (result in an #mma layout: mma.sync).
//
// Every shared access is derived from two layouts: the register layout of the value and the
// #shared layout of the buffer. Their composition `offsets` (mma_layout.h: buffer_offsets) maps
// (register, lane, warp) to the element's index in the buffer; a thread's run of registers whose
// indices are consecutive (and aligned) is one vector access. A local_load of 16-bit elements into
// a layout whose 8-element rows are 16 contiguous bytes of the buffer is read with ldmatrix
// (plan_ldmatrix; .trans when the rows run along the other dimension). The dot then walks the
// instruction grid: for each repetition along M and N, the accumulator's 4 elements, and for each
// repetition along K, the A and B registers, packed 32 bits at a time (tf32: the f32 rounded to
// tf32, to nearest with ties away, as the CPU backend does), into one mma.sync (inline PTX from
// mma_instrs.def's row); with precision tf32x3 each f32 is split into tf32 high and low parts and
// three mma.sync (lo*hi, hi*lo, hi*hi) give nearly f32 products.
#include "codegen/gpu/byte_transpose.h"
#include "codegen/gpu/lowering.h"
#include "codegen/gpu/mma_select.h"
#include "codegen/gpu/store_words.h"

#include <llvm/ADT/STLFunctionalExtras.h>
#include <llvm/IR/InlineAsm.h>
#include <llvm/IR/IntrinsicsNVPTX.h>

#include <fmt/format.h>

#include <optional>

namespace tessel::codegen::gpu::detail {

using ir::Opcode;

namespace {

int64_t elem_bytes_of(const ir::Type* t) { return std::max(1u, t->element_bits() / 8); }

llvm::Intrinsic::ID ldmatrix_id(int num, bool trans) {
  using namespace llvm::Intrinsic;
  switch (num) {
  case 1:
    return trans ? nvvm_ldmatrix_sync_aligned_m8n8_x1_trans_b16
                 : nvvm_ldmatrix_sync_aligned_m8n8_x1_b16;
  case 2:
    return trans ? nvvm_ldmatrix_sync_aligned_m8n8_x2_trans_b16
                 : nvvm_ldmatrix_sync_aligned_m8n8_x2_b16;
  case 4:
    return trans ? nvvm_ldmatrix_sync_aligned_m8n8_x4_trans_b16
                 : nvvm_ldmatrix_sync_aligned_m8n8_x4_b16;
  }
  TESSEL_UNREACHABLE("ldmatrix takes 1, 2 or 4 matrices");
}

// The ldmatrix calls of `plan` from `base` (group q's row address: element `row(q)` of `mt`), each
// 32-bit word taken apart as two elements of `mt` (16 bits): group q's matrix j gives registers
// 2 num q + 2 j and the one after it.
Vals ldmatrix_calls(llvm::IRBuilder<>& b, llvm::Module& module, const LdMatrix& plan,
                    llvm::Value* base, llvm::Type* mt,
                    llvm::function_ref<llvm::Value*(int32_t)> row) {
  llvm::Type* pair = llvm::FixedVectorType::get(mt, 2);
  // The intrinsic is overloaded on its pointer's address space in some LLVM versions.
  const llvm::Intrinsic::ID id = ldmatrix_id(plan.num, plan.trans);
  llvm::Type* ptr_type = base->getType();
  llvm::Function* fn = llvm::Intrinsic::isOverloaded(id)
                           ? llvm::Intrinsic::getDeclaration(&module, id, {ptr_type})
                           : llvm::Intrinsic::getDeclaration(&module, id);
  const int32_t groups = plan.address.in_size(InDim::Register);
  Vals out(size_t(2) * plan.num * groups);
  for (int32_t q = 0; q < groups; ++q) {
    llvm::Value* ptr = b.CreateGEP(mt, base, row(q));
    llvm::Value* got = b.CreateCall(fn, {ptr});
    for (int j = 0; j < plan.num; ++j) {
      llvm::Value* word =
          plan.num == 1 ? got : b.CreateExtractValue(got, {static_cast<unsigned>(j)});
      llvm::Value* two = b.CreateBitCast(word, pair);
      for (int e = 0; e < 2; ++e)
        out[2 * plan.num * q + 2 * j + e] = b.CreateExtractElement(two, b.getInt32(e));
    }
  }
  return out;
}

// The bank-conflict record of `plan`: lane i's 16-byte row, for the first group of warp 0.
SharedAccess ldmatrix_record(const LdMatrix& plan, int64_t unit_bytes, const ir::Type* elem) {
  SharedAccess a;
  a.what = fmt::format("ldmatrix.x{}{} {}", plan.num, plan.trans ? ".trans" : "", elem->str());
  a.bytes = 16;
  for (int32_t lane = 0; lane < 8 * plan.num; ++lane) {
    a.active |= 1u << lane;
    a.offsets[lane] = static_cast<uint32_t>(plan.address.apply_linear(0, lane, 0) * unit_bytes);
  }
  return a;
}

// `offsets` (of an 8-bit operand) as offsets of byte pairs, the b16 elements ldmatrix moves: None
// unless register bit 0 is a pair's second byte and every other basis keeps pairs whole. Why it
// is exact: ldmatrix (not .trans) hands lane l the 4 bytes 4 (l % 4) .. + 3 of row l / 4 of each
// 8 x 16-byte matrix, which is the 8-bit k32 fragment's register (4 consecutive k) as it is.
std::optional<LinearLayout> as_byte_pairs(const LinearLayout& offsets) {
  if (offsets.in_bits(InDim::Register) < 2 || offsets.basis(InDim::Register, 0)[0] != 1)
    return std::nullopt;
  std::array<std::vector<LinearLayout::Basis>, kNumInDims> bases;
  for (InDim d : {InDim::Register, InDim::Lane, InDim::Warp})
    for (int i = d == InDim::Register ? 1 : 0; i < offsets.in_bits(d); ++i) {
      const int32_t v = offsets.basis(d, i)[0];
      if (v % 2 != 0)
        return std::nullopt;
      bases[static_cast<int>(d)].push_back({v / 2});
    }
  return LinearLayout(std::move(bases), {offsets.out_shape()[0] / 2});
}

// A sub-tile's reads (local_load {offsets}): `offsets` maps (register, lane, warp) to the index,
// in the buffer, of the element the sub-tile layout names as if it were the tile's corner; the
// element's true index is that XOR `flip`, the index of the sub-tile's corner (o0, o1). Why XOR:
// the buffer's layout is linear over GF(2), and with each offset a multiple of the sub-tile's
// (power-of-two) extent along its dimension, o + i = o ^ i for every i inside the sub-tile, so
// index(o + i) = index(o) ^ index(i). None when an offset is not such a multiple.
struct SubTile {
  LinearLayout offsets;
  int32_t flip;
};
std::optional<SubTile> sub_tile_offsets(const LinearLayout& regs, const LinearLayout& shared,
                                        const std::vector<int64_t>& at) {
  const std::vector<int32_t>& sub = regs.out_shape();
  const std::vector<int32_t>& full = shared.out_shape();
  int64_t corner = 0;
  for (size_t d = 0; d < full.size(); ++d) {
    if (at[d] % sub[d] != 0)
      return std::nullopt;
    corner = corner * full[d] + at[d];
  }
  std::array<std::vector<LinearLayout::Basis>, kNumInDims> bases;
  for (InDim d : {InDim::Register, InDim::Lane, InDim::Warp, InDim::Block})
    bases[static_cast<int>(d)] = regs.bases(d); // the same coordinates, read in the full tile
  const LinearLayout in_full(std::move(bases), full);
  const int64_t flip = shared.invert().apply_linear(static_cast<int32_t>(corner), 0, 0);
  return SubTile{buffer_offsets(in_full, shared), static_cast<int32_t>(flip)};
}

} // namespace

llvm::Value* Lowering::buffer(const ir::Value* v) const {
  auto it = buffers_.find(v);
  TESSEL_ASSERT(it != buffers_.end(), "a shared buffer used before its local_alloc");
  return it->second;
}

// Every GPU-stage memory op: lower_kernel.cpp sends them all here.
void Lowering::lower_shared_op(const ir::Op& op) {
  switch (op.opcode()) {
  case Opcode::LocalAlloc:
    return lower_local_alloc(op);
  case Opcode::LocalSlot:
    return lower_local_slot(op); // lower_async.cpp
  case Opcode::LocalStore:
    return lower_local_store(op);
  case Opcode::LocalLoad:
    return lower_local_load(op);
  case Opcode::Barrier:
    return barrier();
  case Opcode::AsyncCopy:
    return lower_async_copy(op);
  case Opcode::AsyncCommit:
    return lower_async_commit();
  case Opcode::AsyncWait:
    return lower_async_wait(op);
  case Opcode::FenceAsyncShared:
    return lower_fence_async_shared(); // lower_wgmma.cpp
  case Opcode::WgmmaWait:
    return lower_wgmma_wait(op); // lower_wgmma.cpp
  case Opcode::MbarrierInit:
  case Opcode::MbarrierExpectTx:
  case Opcode::MbarrierArrive:
  case Opcode::MbarrierWait:
  case Opcode::AsyncTmaLoad:
    return lower_tma(op); // lower_tma.cpp: the TMA ring's ops
  default:                // lower_op sends only the memory ops other than load and store here
    unsupported(op, "a memory op without a lowering");
  }
}

void Lowering::lower_local_alloc(const ir::Op& op) {
  const int64_t offset = op.int_attr("offset");
  TESSEL_ASSERT(offset >= 0, "local_alloc before allocate-shared");
  const ir::Type* t = op.result()->type();
  const ir::Attr& slots = op.attr("slots"); // a pipeliner's ring: that many tiles back to back
  const int64_t copies = slots.kind == ir::Attr::Kind::Int ? slots.i : 1;
  TESSEL_ASSERT(offset + copies * t->num_elements() * elem_bytes_of(t) <= shared_bytes_,
                "a buffer beyond the kernel's shared(N)");
  buffers_[op.result()] =
      offset == 0 ? smem_
                  : b.CreateGEP(b.getInt8Ty(), smem_, b.getInt32(static_cast<int32_t>(offset)));
}

void Lowering::lower_local_store(const ir::Op& op) {
  const ir::Value* buf = op.operand(0);
  const ir::Value* v = op.operand(1);
  const ir::Type* elem = v->type()->element();
  const LinearLayout offsets = buffer_offsets(layout(v), layout(buf));
  const int64_t eb = elem_bytes_of(v->type());
  const int vec = shared_access_width(offsets, eb);
  llvm::Type* mt = mem_type(elem);
  llvm::Value* base = buffer(buf);
  const Vals& xs = vals(v);
  only_if(owner_predicate(layout(v)), [&] {
    for (int32_t r = 0; r < offsets.in_size(InDim::Register); r += vec) {
      Vals run;
      for (int i = 0; i < vec; ++i)
        run.push_back(to_mem(xs[r + i], elem));
      llvm::Value* index = coordinate(offsets, r, 0);
      if (eb == 1 && (vec == 8 || vec == 16))
        store_words(b, b.CreateGEP(mt, base, index), run);
      else
        store_shared(mt, base, index, run);
    }
  });
  AccessSide side{&offsets, vec, /*store=*/true, /*owners_only=*/true, /*ignore_warp=*/{}};
  record_accesses(side, Swizzle{}, eb, "local_store " + v->type()->element()->str());
}

void Lowering::lower_local_load(const ir::Op& op) {
  const ir::Value* buf = op.operand(0);
  const ir::Value* res = op.result();
  const ir::Type* elem = res->type()->element();
  // A sub-tile ({offsets}) is read through the full tile's offsets XOR the corner's index.
  std::optional<SubTile> sub;
  if (const ir::Attr& at = op.attr("offsets"); at.kind == ir::Attr::Kind::Ints) {
    sub = sub_tile_offsets(layout(res), layout(buf), at.ints);
    if (!sub)
      unsupported(op, "a sub-tile whose offsets are not multiples of its shape (the swizzled "
                      "buffer's index of the sum is then not the XOR of the two)");
  }
  const LinearLayout offsets = sub ? sub->offsets : buffer_offsets(layout(res), layout(buf));
  const int32_t flip = sub ? sub->flip : 0;
  const int64_t eb = elem_bytes_of(res->type());
  llvm::Value* base = buffer(buf);
  // Element `r`'s index, or group `r`'s row address of an ldmatrix plan, in the buffer.
  auto index = [&](const LinearLayout& l, int32_t r) -> llvm::Value* {
    llvm::Value* i = coordinate(l, r, 0);
    return flip ? b.CreateXor(i, b.getInt32(flip)) : i;
  };
  // Every access moves by the same XOR: the lanes' bank groups are permuted alike, so the
  // record of the unshifted rows has the same wavefronts; it is recorded shifted all the same.
  auto record = [&](SharedAccess a, int64_t unit) {
    for (uint32_t& o : a.offsets)
      o ^= static_cast<uint32_t>(flip * unit);
    record_shared_access(std::move(a));
  };
  // 16-byte rows stay whole under the XOR when the corner's index is a multiple of 16 bytes.
  const bool rows_whole = (int64_t(flip) * eb) % 16 == 0;
  // An 8-bit operand through ldmatrix as b16 pairs (`plan` from as_byte_pairs' offsets): each
  // 16-bit element's low byte is the register before its high byte (little-endian, as the buffer).
  auto ldmatrix_bytes = [&](const LdMatrix& plan, llvm::Value* at, const ir::Type* et) {
    llvm::Type* two = llvm::FixedVectorType::get(mem_type(et), 2);
    Vals out;
    for (llvm::Value* pair : ldmatrix_calls(b, module, plan, at, b.getInt16Ty(), [&](int32_t q) {
           llvm::Value* i = coordinate(plan.address, q, 0);
           return flip ? b.CreateXor(i, b.getInt32(flip / 2)) : i;
         })) {
      llvm::Value* bytes = b.CreateBitCast(pair, two);
      for (int e = 0; e < 2; ++e)
        out.push_back(from_mem(b.CreateExtractElement(bytes, b.getInt32(e)), et));
    }
    SharedAccess a = ldmatrix_record(plan, 2, et);
    for (uint32_t& o : a.offsets)
      o ^= static_cast<uint32_t>(flip);
    record_shared_access(std::move(a));
    return out;
  };
  // An 8-bit B stored along N in the paired column order (byte_transpose.h): one
  // ldmatrix.x4.trans per group, then each 32-bit register as one prmt of two of its words.
  auto byte_transpose_load = [&](const ByteTranspose& bt) {
    const Vals halves = ldmatrix_calls(b, module, bt.plan, base, b.getInt16Ty(), [&](int32_t q) {
      llvm::Value* i = coordinate(bt.plan.address, q, 0);
      return flip ? b.CreateXor(i, b.getInt32(flip / 2)) : i;
    });
    llvm::Type* i16x2 = llvm::FixedVectorType::get(b.getInt16Ty(), 2);
    auto word = [&](int32_t q, int32_t m) {
      llvm::Value* v = llvm::PoisonValue::get(i16x2);
      for (int e = 0; e < 2; ++e)
        v = b.CreateInsertElement(v, halves[8 * q + 2 * m + e], b.getInt32(e));
      return b.CreateBitCast(v, b.getInt32Ty());
    };
    llvm::Function* prmt = llvm::Intrinsic::getDeclaration(&module, llvm::Intrinsic::nvvm_prmt);
    llvm::Type* four = llvm::FixedVectorType::get(mem_type(elem), 4);
    Vals out(bt.num_regs);
    for (int32_t r = 0; r < bt.num_regs; r += 4) { // register bits 0, 1 (x0, x1): one register
      const ByteTranspose::Source s = bt.source(r);
      const int32_t j = s.matrix >> 1;
      llvm::Value* d = b.CreateCall(prmt, {word(s.group, 2 * j), word(s.group, 2 * j + 1),
                                           b.getInt32(int32_t(pair_selector(s.byte & 1)))});
      llvm::Value* v = b.CreateBitCast(d, four);
      for (int x = 0; x < 4; ++x)
        out[r + x] = from_mem(b.CreateExtractElement(v, b.getInt32(x)), elem);
    }
    record(ldmatrix_record(bt.plan, 2, elem), 1);
    return out;
  };
  if (eb == 2 && target.has_ldmatrix() && rows_whole) {
    LdMatrix plan = plan_ldmatrix(offsets);
    if (plan.num > 0) {
      if (!sub)
        return set_vals(res, ldmatrix_load(op, plan, base));
      Vals out = ldmatrix_calls(b, module, plan, base, mem_type(elem),
                                [&](int32_t q) { return index(plan.address, q); });
      record(ldmatrix_record(plan, 2, elem), 2);
      return set_vals(res, std::move(out));
    }
  }
  if (eb == 1 && target.has_ldmatrix() && rows_whole)
    if (std::optional<ByteTranspose> bt = plan_byte_transpose(offsets))
      return set_vals(res, byte_transpose_load(*bt));
  if (eb == 1 && target.has_ldmatrix() && rows_whole)
    if (std::optional<LinearLayout> pairs = as_byte_pairs(offsets)) {
      LdMatrix plan = plan_ldmatrix(*pairs);
      if (plan.num > 0 && !plan.trans) // .trans would move whole pairs
        return set_vals(res, ldmatrix_bytes(plan, base, elem));
    }
  int vec = shared_access_width(offsets, eb);
  while (flip % vec != 0) // the XOR must keep each vector whole
    vec /= 2;
  llvm::Type* mt = mem_type(elem);
  Vals out;
  for (int32_t r = 0; r < offsets.in_size(InDim::Register); r += vec)
    for (llvm::Value* x : load_shared(mt, base, index(offsets, r), vec))
      out.push_back(from_mem(x, elem));
  AccessSide side{&offsets, vec, /*store=*/false, /*owners_only=*/false, /*ignore_warp=*/{}};
  record_accesses(side, Swizzle{}, eb, "local_load " + res->type()->element()->str());
  set_vals(res, std::move(out));
}

Vals Lowering::ldmatrix_load(const ir::Op& op, const LdMatrix& plan, llvm::Value* base) {
  const ir::Type* elem = op.result()->type()->element();
  Vals out = ldmatrix_calls(b, module, plan, base, mem_type(elem),
                            [&](int32_t q) { return coordinate(plan.address, q, 0); });
  record_shared_access(ldmatrix_record(plan, elem_bytes_of(op.result()->type()), elem));
  return out;
}

namespace {

// One mma.sync as inline PTX: D = A * B + C for `info`'s row.
struct MmaAsm {
  llvm::InlineAsm* asm_;
  int d_regs;
};

MmaAsm mma_asm(llvm::LLVMContext& ctx, const MmaInfo& info) {
  const bool f16_acc = info.acc_bits == 16;
  const bool int_acc = std::string_view(info.acc_ptx) == "s32";
  const int d = f16_acc ? 2 : 4;
  // "f16" names a's and b's type, a mixed fp8 row's "e4m3.e5m2" both (mma_instrs.def).
  const std::string_view ab = info.operand_ptx;
  const std::string operands =
      ab.find('.') == std::string_view::npos ? fmt::format("{}.{}", ab, ab) : std::string(ab);
  std::string text = fmt::format("mma.sync.aligned.m{}n{}k{}.row.col.{}.{}.{} {{", info.m, info.n,
                                 info.k, info.acc_ptx, operands, info.acc_ptx);
  std::string constraints;
  int next = 0;
  auto group = [&](int count, const char* c, bool output) {
    text += next == 0 ? "" : ", {";
    for (int i = 0; i < count; ++i) {
      text += fmt::format("{}${}", i ? ", " : "", next++);
      constraints += fmt::format("{}{}{}", constraints.empty() ? "" : ",", output ? "=" : "", c);
    }
    text += "}";
  };
  const char* acc_c = f16_acc || int_acc ? "r" : "f";
  group(d, acc_c, true);
  group(4, "r", false);
  group(2, "r", false);
  group(d, acc_c, false);
  text += ";";
  llvm::Type* at = f16_acc || int_acc ? llvm::Type::getInt32Ty(ctx) : llvm::Type::getFloatTy(ctx);
  std::vector<llvm::Type*> outs(d, at);
  std::vector<llvm::Type*> ins(6, llvm::Type::getInt32Ty(ctx));
  ins.insert(ins.end(), d, at);
  auto* fty = llvm::FunctionType::get(llvm::StructType::get(ctx, outs), ins, false);
  return {llvm::InlineAsm::get(fty, text, constraints, /*hasSideEffects=*/false), d};
}

} // namespace

void Lowering::lower_mma(const ir::Op& op) {
  if (layout_kind(op.operand(1)) == ir::LayoutKind::Shared)
    return lower_wgmma(op); // lower_wgmma.cpp (a is a buffer too, or wgmma's A registers)
  const ir::Value* res = op.result();
  const ir::Type* ea = op.operand(0)->type()->element();
  const ir::Type* ec = res->type()->element();
  std::optional<MmaInstr> instr =
      mma_for_types(ea, ec, dot_precision(op), op.operand(1)->type()->element());
  TESSEL_ASSERT(instr, "an #mma dot whose types no mma.sync takes");
  const MmaInfo& info = mma_info(*instr);
  const std::vector<int32_t> sa = shape_of(op.operand(0)), sc = shape_of(res);
  const int32_t m = sc[0], n = sc[1], k = sa[1];
  const auto warps = mma_warps(m, n, num_warps(), info);
  // An 8-bit B read in the paired column order takes the accumulator in that order too
  // (byte_transpose.h); B's registers keep the usual order, the accumulator's are permuted.
  const LinearLayout want_b =
      mma_operand_layout(info, 1, shape_of(op.operand(1)), warps, num_warps());
  const bool paired = info.operand_bits == 8 && can_pair_columns(want_b) &&
                      layout(op.operand(1)) == pair_columns(want_b);
  const LinearLayout want_c = mma_acc_layout(info, m, n, warps, num_warps());
  TESSEL_ASSERT(layout(res) == (paired ? pair_accumulator(want_c) : want_c) &&
                    layout(op.operand(0)) == mma_operand_layout(info, 0, sa, warps, num_warps()) &&
                    (paired || layout(op.operand(1)) == want_b),
                "a tensor-core dot whose layouts are not prepare-dot-operands'");
  const int32_t reps_m = m / warps[0] / info.m, reps_n = n / warps[1] / info.n, reps_k = k / info.k;
  const int e = info.per_register();
  const Vals& a = vals(op.operand(0));
  const Vals& bv = vals(op.operand(1));
  // The loops walk the usual accumulator order; a paired accumulator's registers are permuted.
  auto at_c = [&](int32_t r) { return paired ? paired_register(want_c, r) : r; };
  Vals acc(vals(op.operand(2)).size());
  for (int32_t r = 0; r < static_cast<int32_t>(acc.size()); ++r)
    acc[r] = vals(op.operand(2))[at_c(r)];
  llvm::Type* i32 = b.getInt32Ty();
  // tf32: an f32 rounded to nearest, ties away, keeping 10 mantissa bits (as bits).
  auto tf32_bits = [&](llvm::Value* x) {
    llvm::Value* bits = b.CreateBitCast(x, i32);
    return b.CreateAnd(b.CreateAdd(bits, b.getInt32(0x1000)),
                       b.getInt32(static_cast<int32_t>(0xffffe000u)));
  };
  // tf32x3's low part: what the high part left, rounded to tf32 itself.
  auto tf32_low = [&](llvm::Value* x) {
    llvm::Value* hi = b.CreateBitCast(tf32_bits(x), x->getType());
    return tf32_bits(b.CreateFSub(x, hi));
  };
  const bool split = dot_precision(op) == DotPrecision::Tf32x3 && e == 1;
  // `e` operand elements from `vs[at]` as one 32-bit register.
  auto pack = [&](const Vals& vs, int32_t at) -> llvm::Value* {
    if (e == 1)
      return tf32_bits(vs[at]);
    llvm::Value* v = llvm::PoisonValue::get(llvm::FixedVectorType::get(vs[at]->getType(), e));
    for (int i = 0; i < e; ++i)
      v = b.CreateInsertElement(v, vs[at + i], b.getInt32(i));
    return b.CreateBitCast(v, i32);
  };
  const MmaAsm mma = mma_asm(ctx, info);
  const bool f16_acc = info.acc_bits == 16;
  llvm::Type* half2 = llvm::FixedVectorType::get(reg_type(ec), 2);
  for (int32_t mi = 0; mi < reps_m; ++mi)
    for (int32_t ni = 0; ni < reps_n; ++ni) {
      const int32_t c0 = 4 * (ni + reps_n * mi);
      std::vector<llvm::Value*> c;
      if (f16_acc) {
        for (int i = 0; i < 2; ++i) {
          llvm::Value* v = llvm::PoisonValue::get(half2);
          v = b.CreateInsertElement(v, acc[c0 + 2 * i], b.getInt32(0));
          v = b.CreateInsertElement(v, acc[c0 + 2 * i + 1], b.getInt32(1));
          c.push_back(b.CreateBitCast(v, i32));
        }
      } else {
        c.assign(acc.begin() + c0, acc.begin() + c0 + 4);
      }
      for (int32_t ki = 0; ki < reps_k; ++ki) {
        std::vector<llvm::Value*> ah, bh, al, bl;
        for (int j = 0; j < 4; ++j) {
          const int32_t at = 4 * e * (ki + reps_k * mi) + e * j;
          ah.push_back(pack(a, at));
          if (split)
            al.push_back(tf32_low(a[at]));
        }
        for (int j = 0; j < 2; ++j) {
          const int32_t at = 2 * e * (ki + reps_k * ni) + e * j;
          bh.push_back(pack(bv, at));
          if (split)
            bl.push_back(tf32_low(bv[at]));
        }
        auto issue = [&](const std::vector<llvm::Value*>& x, const std::vector<llvm::Value*>& y) {
          std::vector<llvm::Value*> args(x);
          args.insert(args.end(), y.begin(), y.end());
          args.insert(args.end(), c.begin(), c.end());
          llvm::Value* d = b.CreateCall(mma.asm_, args);
          for (int j = 0; j < mma.d_regs; ++j)
            c[j] = b.CreateExtractValue(d, {static_cast<unsigned>(j)});
        };
        if (split) { // the small terms first, so that they are not lost in the large one
          issue(al, bh);
          issue(ah, bl);
        }
        issue(ah, bh);
      }
      if (f16_acc) {
        for (int i = 0; i < 2; ++i) {
          llvm::Value* v = b.CreateBitCast(c[i], half2);
          acc[c0 + 2 * i] = b.CreateExtractElement(v, b.getInt32(0));
          acc[c0 + 2 * i + 1] = b.CreateExtractElement(v, b.getInt32(1));
        }
      } else {
        std::copy(c.begin(), c.end(), acc.begin() + c0);
      }
    }
  Vals out(acc.size());
  for (int32_t r = 0; r < static_cast<int32_t>(acc.size()); ++r)
    out[at_c(r)] = acc[r];
  set_vals(res, std::move(out));
}

} // namespace tessel::codegen::gpu::detail
