// `dot a, b, acc` of the CPU lowering, as a register-blocked micro-kernel over arrays in the
// accumulator's compute type ct (f32 for f16/bf16/f32 operands, f64 for f64, i32 for integers).
//
//  1. Widen once: a (MxK) and b (KxN) are written into ct arrays by one vectorizable loop nest
//     each (f16 -> f32 is exact, and so is bf16 -> f32; i8 sign-extends to i32), so the product
//     never converts an element more than once; an operand stored in ct is read in place. a
//     stays row-major; b is then packed in panels of V columns (see `column_panels`), also when
//     it is f32: a vector copy of K*N elements for M*N*K multiply-adds. An operand that is a
//     transpose (`trans(x)`, attention's K tile in q kᵀ) is written from x's rows by blocks of
//     L x L elements transposed in registers (L = the lanes of one vector register), straight into
//     b's panels: element by element, its column reads a row of x apart were scalar loads with
//     their address arithmetic (15% of the CPU attention forward at head_dim 32, seqlen 512). An
//     operand read through
//     masked fused loads (a matmul's edge-masked tiles) is written by two copies of its loop: one
//     without masks, taken where every mask holds (each checked as cheaply as its form allows,
//     lower_memory.cpp), and the masked one for the edge tiles.
//  2. C = acc, an MxN ct array; acc's own array when this dot is its only reader (the carried
//     accumulator of a K loop, whose yield then has nothing to copy either).
//  3. For each block of R rows and V columns of C (V = two vector registers of ct, R = 8 where the
//     host has 32 vector registers, else 4): R vectors of V lanes are loaded into SSA values and
//     carried through a loop over k that does, for each row r,
//         c[r] = fmuladd(splat(a[i0 + r, k]), b[k, j0 .. j0 + V), c[r])
//     and are stored back after it. The accumulators stay in registers for all of K, b's row
//     slice is loaded once per k for R rows, and the code is R vector FMAs per k whatever M, N and
//     K are, so LLVM has no large scalar loop nest to unroll and vectorize (the old scalar
//     C[m, :] += a[m, k] * b[k, :] loop nest cost 1.3 s of O3 for one 32x32x16 f16 dot).
//  4. Accumulators narrower than ct (f16, bf16) are rounded once, at the end, as ir.h says.
// fp8 operands (f8e4m3, f8e5m2, either pair; their accumulator is f32) are decoded exactly to f32
// in step 1, by the scalar semantics' rules: their products are exact in f32, as on mma.sync.
// With precision tf32 (asked for explicitly; the CPU default is ieee) step 1 also rounds each f32
// operand to tf32 exactly as the GPU does, so CPU and GPU agree within f32 summation order.
//
// `dot_sparse a, b, acc, meta` (2:4 sparsity, ops.def) is the same dot with step 1's a written
// from the compressed operand: element (i, k) of the dense M x K array is the kept value of k's
// group of 4 that the metadata puts at position k % 4, or 0. A group whose nibble names one
// position twice or out of order (undefined on mma.sp) makes NaN, so misread or bad metadata shows.
//
// Each C element is still accumulated as acc + a[i,0]*b[0,j] + a[i,1]*b[1,j] + ... in order, one
// ct rounding per step (fmuladd may fuse the multiply; f16 and bf16 products are exact in f32,
// so for them fusing changes nothing).
#include "codegen/cpu/engine.h"
#include "codegen/cpu/lowering.h"

#include <fmt/format.h>

#include <algorithm>

namespace tessel::codegen::cpu::detail {

namespace {

// The block of C one micro-kernel invocation keeps in registers: `rows` vectors of `cols` lanes.
struct MicroTile {
  int64_t rows = 1;
  int64_t cols = 1;
};

// Two vectors per row halve the broadcasts of a per FMA; the rows use about half the vector
// register file for accumulators (8 rows x 2 vectors of the 32 AVX-512 registers, 4 x 2 of 16),
// which leaves enough independent FMAs in flight to cover their latency. M and N are powers of
// two, so the tile divides them.
MicroTile micro_tile(int vector_bits, unsigned elem_bits, int64_t m, int64_t n) {
  int64_t lanes = std::max<int64_t>(1, vector_bits / int64_t(elem_bits));
  return MicroTile{std::min<int64_t>(m, vector_bits >= 512 ? 8 : 4),
                   std::min<int64_t>(n, 2 * lanes)};
}

// A loop for i in [0, trip) (trip >= 1) whose body maps the carried values to the next ones;
// returns the values after the last iteration. Marked not to be unrolled: its bodies here are
// already a block of vector code, and unrolling them (by 2 over k, fully over a 32-step pack)
// only added compile time (O3 and instruction selection) without changing the run time.
using CarriedBody =
    std::function<std::vector<llvm::Value*>(llvm::Value*, const std::vector<llvm::Value*>&)>;
std::vector<llvm::Value*> carried_loop(Lowering& l, int64_t trip,
                                       const std::vector<llvm::Value*>& init,
                                       const CarriedBody& body, llvm::StringRef name) {
  llvm::IRBuilder<>& b = l.b;
  llvm::BasicBlock* pre = b.GetInsertBlock();
  auto* loop = llvm::BasicBlock::Create(l.ctx, name + ".body", l.llfn);
  auto* exit = llvm::BasicBlock::Create(l.ctx, name + ".exit", l.llfn);
  b.CreateBr(loop);
  b.SetInsertPoint(loop);
  llvm::PHINode* iv = b.CreatePHI(b.getInt64Ty(), 2, name);
  iv->addIncoming(b.getInt64(0), pre);
  std::vector<llvm::Value*> state;
  std::vector<llvm::PHINode*> phis;
  for (llvm::Value* v : init) {
    llvm::PHINode* phi = b.CreatePHI(v->getType(), 2);
    phi->addIncoming(v, pre);
    phis.push_back(phi);
    state.push_back(phi);
  }
  std::vector<llvm::Value*> next = body(iv, state);
  TESSEL_ASSERT(next.size() == phis.size(), "a carried loop's body changed the number of values");
  llvm::Value* iv_next = b.CreateAdd(iv, b.getInt64(1), "", /*HasNUW=*/true, /*HasNSW=*/true);
  llvm::BasicBlock* latch = b.GetInsertBlock();
  iv->addIncoming(iv_next, latch);
  for (size_t i = 0; i < phis.size(); ++i)
    phis[i]->addIncoming(next[i], latch);
  llvm::BranchInst* back = b.CreateCondBr(b.CreateICmpSLT(iv_next, b.getInt64(trip)), loop, exit);
  llvm::MDNode* no_unroll =
      llvm::MDNode::get(l.ctx, llvm::MDString::get(l.ctx, "llvm.loop.unroll.disable"));
  llvm::MDNode* loop_id = llvm::MDNode::getDistinct(l.ctx, {nullptr, no_unroll});
  loop_id->replaceOperandWith(0, loop_id);
  back->setMetadata(llvm::LLVMContext::MD_loop, loop_id);
  b.SetInsertPoint(exit);
  return next;
}

// The lowering of one dot: its shapes, its compute type and the ct arrays it works on.
class DotLowering {
public:
  DotLowering(Lowering& l, const ir::Op& op) : l_(l), b_(l.b), op_(op) {}
  void run();

private:
  void check_operands();
  // Element (row, col) of a row-major ct array with `cols` columns.
  llvm::Value* at(llvm::Value* array, llvm::Value* row, llvm::Value* col, int64_t cols);
  llvm::Value* widen(llvm::Value* v, const ir::Type* elem);
  // `v`'s elements in ct, row-major (v's own storage when it already is such an array). The
  // micro-kernel reads R of its elements a row apart per k: R cache lines, which L1 holds.
  // A new array is not a new representation of v: v may be defined outside this region, and its
  // other uses (after an `if` that skipped this dot, say) must not read the array.
  llvm::Value* rows_of(const ir::Value* v);
  // `v`'s elements in ct, in panels of `width` columns, each stored row after row: element
  // (k, p * width + w) at (p * K + k) * width + w; packed from `rows_of(v)`. A micro-kernel then
  // reads its V values of b for one k right after those for k - 1, not a row of b further on
  // (rows a power of two apart map to few L1 sets: unpacked, the 128x128x32 f32 matmul of
  // bench_cpu ran 1.5x slower than the scalar loop nest this file replaced).
  llvm::Value* column_panels(const ir::Value* v, int64_t width);
  // x when v = trans(x) (permute [1, 0]) and its shape and `width` are whole L x L blocks of ct
  // (L: the lanes of one host vector register); null otherwise.
  const ir::Value* transpose_source(const ir::Value* v, int64_t width);
  // v = trans(x) in panels of `width` columns (width = v's column count: row-major), from
  // rows_of(x): L rows of x loaded as vectors, transposed by log2(L) rounds of two-input shuffles,
  // stored as L rows of v (`transpose_block`).
  llvm::Value* transposed_panels(const ir::Value* x, int64_t width);
  std::vector<llvm::Value*> transpose_block(std::vector<llvm::Value*> rows);
  int64_t lanes() const;
  // dot_sparse's a (M x K/2 kept values, meta M x K/16 i16) as the dense M x K array in ct.
  llvm::Value* decompressed_rows();
  // Whether v already is a row-major array of ct elements (read in place).
  bool is_ct_array(const ir::Value* v);
  // C[ib*R .. +R, jb*V .. +V) += a[ib*R .. +R, :] @ b[:, jb*V .. +V), in registers.
  void micro_kernel(llvm::Value* ib, llvm::Value* jb);
  llvm::Value* multiply_add(llvm::Value* x, llvm::Value* y, llvm::Value* acc);
  // acc's own array when the dot may accumulate into it: stored in ct, and this dot its only
  // reader (a K loop's carried accumulator: its next value is yielded into the same array, so
  // neither the copy C = acc before the dot nor the yield's copy after it happens). Else null.
  llvm::Value* accumulator_in_place();
  // C = acc in a new ct array.
  llvm::Value* copy_of_accumulator();
  void set_result();

  Lowering& l_;
  llvm::IRBuilder<>& b_;
  const ir::Op& op_;
  int64_t m_ = 0, k_ = 0, n_ = 0;
  llvm::Type* ct_ = nullptr;
  bool float_ = false;
  bool sparse_ = false; // dot_sparse: a is compressed, operand 3 its metadata
  // f32 operands with precision tf32 asked for explicitly (absent: ieee on the CPU).
  bool tf32_ = false;
  MicroTile tile_;
  llvm::Value* a_ = nullptr;  // a, row-major, in ct
  llvm::Value* bt_ = nullptr; // b in panels of V columns, in ct
  llvm::Value* c_ = nullptr;  // M x N in ct
};

void DotLowering::check_operands() {
  const ir::Type* a = op_.operand(0)->type();
  const ir::Type* bm = op_.operand(1)->type();
  const ir::Type* rt = op_.result()->type();
  if (a->rank() != 2 || bm->rank() != 2 || rt->rank() != 2)
    l_.unsupported(op_, "dot takes 2-d operands");
  sparse_ = op_.opcode() == ir::Opcode::DotSparse; // shapes checked by verify_dot_sparse
  m_ = a->dims()[0];
  k_ = sparse_ ? bm->dims()[0] : a->dims()[1];
  n_ = bm->dims()[1];
  if (bm->dims()[0] != k_ || rt->dims()[0] != m_ || rt->dims()[1] != n_)
    l_.unsupported(
        op_, fmt::format("shapes {} x {} -> {} do not match", a->str(), bm->str(), rt->str()));
  float_ = rt->element()->is_float();
  const ir::Attr& precision = sparse_ ? ir::Attr{} : op_.attr("precision"); // dot's alone
  tf32_ = precision.kind == ir::Attr::Kind::Int && precision.i == 1 && a->element()->is_float() &&
          a->element()->element_bits() == 32;
  if (float_ != a->is_float() || float_ != bm->is_float())
    l_.unsupported(op_, "operands and accumulator must all be float or all be integer");
}

llvm::Value* DotLowering::at(llvm::Value* array, llvm::Value* row, llvm::Value* col, int64_t cols) {
  return b_.CreateInBoundsGEP(
      ct_, array, b_.CreateAdd(b_.CreateShl(row, log2_exact(cols)), col, "", true, true));
}

llvm::Value* DotLowering::widen(llvm::Value* v, const ir::Type* elem) {
  if (tf32_) { // round to tf32 as mma.sync's operands are (lower_mma.cpp): nearest, ties away
    llvm::Value* bits = b_.CreateBitCast(v, b_.getInt32Ty());
    bits = b_.CreateAnd(b_.CreateAdd(bits, b_.getInt32(0x1000)),
                        b_.getInt32(static_cast<int32_t>(0xffffe000u)));
    return b_.CreateBitCast(bits, ct_);
  }
  if (elem->is_scalar() && dtype_is_fp8(elem->dtype())) // i8 bits, decoded exactly to f32
    return l_.cast_value(v, elem, op_.result()->type()->element());
  if (float_)
    return b_.CreateFPCast(v, ct_);
  // u8 operands are numbers 0..255 (mma.sync's .u8), i1 is 0 or 1; the signed ones sign-extend.
  return elem->is_bool() || elem->is_unsigned() ? b_.CreateZExtOrTrunc(v, ct_)
                                                : b_.CreateSExtOrTrunc(v, ct_);
}

llvm::Value* DotLowering::rows_of(const ir::Value* v) {
  const ir::Type* elem = v->type()->element();
  if (is_ct_array(v))
    return l_.rep(v).storage;
  if (const ir::Value* x = transpose_source(v, v->type()->dims()[1]))
    return transposed_panels(x, v->type()->dims()[1]);
  llvm::Value* array = l_.new_array(v->type(), ct_);
  int64_t cols = v->type()->dims()[1];
  // Twice when v reads memory through masked fused loads (the matmul's `load(a + offs, rows < M
  // & k < K)`): where every mask holds, the copy reads the rows with plain contiguous loads; with
  // a mask in each element's address (a select to a dummy slot) LLVM gathered them instead.
  l_.with_lazy_masks_fast_path(
      {v},
      [&] {
        l_.loop_nest(v->type()->dims(), [&](const Index& idx) {
          b_.CreateStore(widen(l_.element(v, idx), elem), at(array, idx[0], idx[1], cols));
        });
      },
      /*load_masks=*/true);
  return array;
}

bool DotLowering::is_ct_array(const ir::Value* v) {
  const Rep& r = l_.rep(v);
  return r.kind == Rep::Kind::Stored && l_.storage_type(v->type()->element()) == ct_ && !tf32_;
}

llvm::Value* DotLowering::decompressed_rows() {
  const ir::Value* a = op_.operand(0);
  const ir::Value* meta = op_.operand(3);
  const ir::Type* elem = a->type()->element();
  // M x K/2 pairs of ct: the M x K array, contiguous, row-major.
  llvm::Value* array = l_.new_array(a->type(), llvm::ArrayType::get(ct_, 2));
  llvm::Type* i32 = b_.getInt32Ty();
  const int64_t groups[] = {m_, k_ / 4};
  l_.loop_nest(groups, [&](const Index& idx) {
    llvm::Value *i = idx[0], *g = idx[1];
    llvm::Value* word =
        b_.CreateAnd(b_.CreateZExtOrTrunc(l_.element(meta, {i, b_.CreateLShr(g, 2)}), i32), 0xffff);
    llvm::Value* shift = b_.CreateTrunc(b_.CreateShl(b_.CreateAnd(g, 3), 2), i32);
    llvm::Value* nibble = b_.CreateAnd(b_.CreateLShr(word, shift), 15);
    llvm::Value* first = b_.CreateAnd(nibble, 3);
    llvm::Value* second = b_.CreateLShr(nibble, 2);
    llvm::Value* pair = b_.CreateShl(g, 1);
    llvm::Value* v0 = widen(l_.element(a, {i, pair}), elem);
    llvm::Value* v1 = widen(l_.element(a, {i, b_.CreateOr(pair, 1)}), elem);
    llvm::Value* bad = b_.CreateICmpUGE(first, second);
    llvm::Value* zero = llvm::ConstantFP::get(ct_, 0.0);
    for (int p = 0; p < 4; ++p) {
      llvm::Value* pos = b_.getInt32(p);
      llvm::Value* v = b_.CreateSelect(b_.CreateICmpEQ(pos, first), v0,
                                       b_.CreateSelect(b_.CreateICmpEQ(pos, second), v1, zero));
      v = b_.CreateSelect(bad, llvm::ConstantFP::getNaN(ct_), v);
      b_.CreateStore(v, at(array, i, b_.CreateOr(b_.CreateShl(g, 2), p), k_));
    }
  });
  return array;
}

int64_t DotLowering::lanes() const {
  return std::max<int64_t>(1, host_target().vector_bits / int64_t(ct_->getScalarSizeInBits()));
}

const ir::Value* DotLowering::transpose_source(const ir::Value* v, int64_t width) {
  const ir::Op* op = v->defining_op();
  if (op == nullptr || op->opcode() != ir::Opcode::Permute || v->type()->rank() != 2 ||
      is_ct_array(v))
    return nullptr;
  const auto& order = op->attr("order").ints;
  const int64_t l = lanes();
  auto dims = v->type()->dims();
  if (order.size() != 2 || order[0] != 1 || l < 2 || dims[0] % l != 0 || dims[1] % l != 0 ||
      width % l != 0)
    return nullptr;
  return op->operand(0);
}

std::vector<llvm::Value*> DotLowering::transpose_block(std::vector<llvm::Value*> rows) {
  // Round b swaps the off-diagonal b x b blocks of every 2b x 2b block: element (r, c) trades bit
  // b of its row for bit b of its column. After the rounds for every bit, (r, c) holds (c, r).
  const auto l = int64_t(rows.size());
  for (int64_t bit = 1; bit < l; bit *= 2) {
    std::vector<int> low(static_cast<size_t>(l)), high(static_cast<size_t>(l));
    for (int64_t c = 0; c < l; ++c) {
      low[size_t(c)] = int(c & bit ? l + c - bit : c);
      high[size_t(c)] = int(c & bit ? l + c : c + bit);
    }
    for (int64_t i = 0; i < l; ++i)
      if ((i & bit) == 0) {
        llvm::Value *r0 = rows[size_t(i)], *r1 = rows[size_t(i + bit)];
        rows[size_t(i)] = b_.CreateShuffleVector(r0, r1, low);
        rows[size_t(i + bit)] = b_.CreateShuffleVector(r0, r1, high);
      }
  }
  return rows;
}

llvm::Value* DotLowering::transposed_panels(const ir::Value* x, int64_t width) {
  llvm::Value* src = rows_of(x); // x's rows, contiguous: [N, K] for v = [K, N]
  const int64_t n = x->type()->dims()[0], k = x->type()->dims()[1], l = lanes();
  llvm::Value* array = l_.new_array(x->type(), ct_);
  auto* vty = llvm::FixedVectorType::get(ct_, unsigned(l));
  const llvm::Align align(ct_->getScalarSizeInBits() / 8);
  const int64_t k_blocks = k / l;
  const std::vector<llvm::Value*> none;
  carried_loop(
      l_, (n / l) * k_blocks, none,
      [&](llvm::Value* q, const std::vector<llvm::Value*>&) {
        llvm::Value* n0 = b_.CreateShl(b_.CreateLShr(q, log2_exact(k_blocks)), log2_exact(l));
        llvm::Value* k0 = b_.CreateShl(b_.CreateAnd(q, l_.i64(k_blocks - 1)), log2_exact(l));
        std::vector<llvm::Value*> rows;
        for (int64_t r = 0; r < l; ++r)
          rows.push_back(b_.CreateAlignedLoad(
              vty, at(src, b_.CreateAdd(n0, l_.i64(r), "", true, true), k0, k), align));
        rows = transpose_block(std::move(rows));
        // Row j of the block is v's row k0 + j, columns n0 .. n0 + L: in panel n0 / width, at
        // column n0 % width of that panel's row.
        llvm::Value* panel = b_.CreateLShr(n0, log2_exact(width));
        llvm::Value* w0 = b_.CreateAnd(n0, l_.i64(width - 1));
        for (int64_t j = 0; j < l; ++j) {
          llvm::Value* row = b_.CreateAdd(b_.CreateMul(panel, l_.i64(k)),
                                          b_.CreateAdd(k0, l_.i64(j), "", true, true));
          b_.CreateAlignedStore(rows[size_t(j)], at(array, row, w0, width), align);
        }
        return none;
      },
      "transpose");
  return array;
}

llvm::Value* DotLowering::column_panels(const ir::Value* v, int64_t width) {
  if (const ir::Value* x = transpose_source(v, width))
    return transposed_panels(x, width);
  // From rows_of's array: b's rows are read from memory once, whole and in order, by a
  // vectorized copy, and then packed from L1. Packing straight from a fused load (no copy) used
  // 25-90% more CPU time per matmul in bench_cpu_matmul, panel by panel or row by row.
  llvm::Value* rows = rows_of(v);
  int64_t depth = v->type()->dims()[0];
  int64_t cols = v->type()->dims()[1];
  int64_t count = cols / width;
  if (count == 1) // one panel is the row-major array itself (attention's V at head_dim 32)
    return rows;
  llvm::Value* array = l_.new_array(v->type(), ct_);
  auto* vty = llvm::FixedVectorType::get(ct_, unsigned(width));
  const llvm::Align align(ct_->getScalarSizeInBits() / 8);
  // Explicit vectors: the loop vectorizer would see a loop nest with a panel loop of a few
  // iterations, which O3 unrolls first and then vectorizes only in part. One flat loop over
  // (panel, k) that is not unrolled: a nest with K = 32 was unrolled fully, doubling O3's time
  // for the whole kernel.
  const std::vector<llvm::Value*> none;
  carried_loop(
      l_, count * depth, none,
      [&](llvm::Value* q, const std::vector<llvm::Value*>&) {
        llvm::Value* col = b_.CreateShl(b_.CreateLShr(q, log2_exact(depth)), log2_exact(width));
        llvm::Value* k = b_.CreateAnd(q, l_.i64(depth - 1));
        llvm::Value* slice = b_.CreateAlignedLoad(vty, at(rows, k, col, cols), align);
        b_.CreateAlignedStore(slice, at(array, q, l_.i64(0), width), align);
        return none;
      },
      "pack");
  return array;
}

llvm::Value* DotLowering::multiply_add(llvm::Value* x, llvm::Value* y, llvm::Value* acc) {
  if (float_)
    return b_.CreateIntrinsic(llvm::Intrinsic::fmuladd, {x->getType()}, {x, y, acc});
  return b_.CreateAdd(acc, b_.CreateMul(x, y));
}

void DotLowering::micro_kernel(llvm::Value* ib, llvm::Value* jb) {
  auto* vty = llvm::FixedVectorType::get(ct_, unsigned(tile_.cols));
  const llvm::Align align(ct_->getScalarSizeInBits() / 8);
  llvm::Value* i0 = b_.CreateShl(ib, log2_exact(tile_.rows));
  llvm::Value* j0 = b_.CreateShl(jb, log2_exact(tile_.cols));
  llvm::Value* b_panel = b_.CreateInBoundsGEP(ct_, bt_, b_.CreateMul(jb, l_.i64(k_ * tile_.cols)));
  std::vector<llvm::Value*> rows_of_c;
  std::vector<llvm::Value*> a_row, c_row;
  for (int64_t r = 0; r < tile_.rows; ++r) {
    a_row.push_back(b_.CreateAdd(i0, l_.i64(r), "", true, true));
    c_row.push_back(at(c_, a_row[r], j0, n_));
    rows_of_c.push_back(b_.CreateAlignedLoad(vty, c_row[r], align));
  }
  auto step = [&](llvm::Value* kk, const std::vector<llvm::Value*>& acc) {
    llvm::Value* b_row = b_.CreateAlignedLoad(
        vty, b_.CreateInBoundsGEP(ct_, b_panel, b_.CreateShl(kk, log2_exact(tile_.cols))), align);
    std::vector<llvm::Value*> next;
    for (int64_t r = 0; r < tile_.rows; ++r) {
      llvm::Value* a_elem = b_.CreateAlignedLoad(ct_, at(a_, a_row[r], kk, k_), align);
      llvm::Value* splat = b_.CreateVectorSplat(unsigned(tile_.cols), a_elem);
      next.push_back(multiply_add(splat, b_row, acc[r]));
    }
    return next;
  };
  std::vector<llvm::Value*> out = carried_loop(l_, k_, rows_of_c, step, "dot.k");
  for (int64_t r = 0; r < tile_.rows; ++r)
    b_.CreateAlignedStore(out[r], c_row[r], align);
}

void DotLowering::set_result() {
  const ir::Type* rt = op_.result()->type();
  const ir::Type* out_elem = rt->element();
  if (ct_ == l_.storage_type(out_elem)) {
    l_.set_stored(op_.result(), c_);
    return;
  }
  llvm::Value* storage = l_.new_array(rt);
  l_.loop_nest(rt->dims(), [&](const Index& idx) {
    llvm::Value* sum = b_.CreateLoad(ct_, at(c_, idx[0], idx[1], n_));
    l_.store_element(l_.round_to(sum, out_elem), l_.element_address(storage, rt, idx), out_elem);
  });
  l_.set_stored(op_.result(), storage);
}

llvm::Value* DotLowering::accumulator_in_place() {
  const ir::Value* acc = op_.operand(2);
  const Rep& r = l_.rep(acc);
  if (r.kind != Rep::Kind::Stored || l_.storage_type(acc->type()->element()) != ct_ ||
      !l_.single_local_use(acc))
    return nullptr;
  return r.storage;
}

llvm::Value* DotLowering::copy_of_accumulator() {
  const ir::Value* acc = op_.operand(2);
  llvm::Value* c = l_.new_array(acc->type(), ct_);
  // By loops that are not unrolled: a loop nest's inner loop over 32 columns was unrolled fully,
  // and LLVM then vectorized the loop over rows with gathers and scatters a row apart
  // (attention's accumulator times the per-row rescale, [64, 32] at head_dim 32).
  const std::vector<llvm::Value*> none;
  carried_loop(
      l_, m_, none,
      [&](llvm::Value* i, const std::vector<llvm::Value*>&) {
        carried_loop(
            l_, n_, none,
            [&](llvm::Value* j, const std::vector<llvm::Value*>&) {
              b_.CreateStore(l_.element(acc, {i, j}), at(c, i, j, n_));
              return none;
            },
            "dot.c.n");
        return none;
      },
      "dot.c.m");
  return c;
}

void DotLowering::run() {
  check_operands();
  const ir::Value* acc = op_.operand(2);
  ct_ = l_.compute_type(acc->type()->element());
  tile_ = micro_tile(host_target().vector_bits, ct_->getScalarSizeInBits(), m_, n_);
  a_ = sparse_ ? decompressed_rows() : rows_of(op_.operand(0));
  bt_ = column_panels(op_.operand(1), tile_.cols);
  c_ = accumulator_in_place();
  if (!c_)
    c_ = copy_of_accumulator();
  // Not unrolled either: one copy of the micro-kernel serves every block of C.
  const std::vector<llvm::Value*> none;
  carried_loop(
      l_, m_ / tile_.rows, none,
      [&](llvm::Value* ib, const std::vector<llvm::Value*>&) {
        carried_loop(
            l_, n_ / tile_.cols, none,
            [&](llvm::Value* jb, const std::vector<llvm::Value*>&) {
              micro_kernel(ib, jb);
              return none;
            },
            "dot.n");
        return none;
      },
      "dot.m");
  set_result();
}

} // namespace

void Lowering::lower_dot(const ir::Op& op) { DotLowering(*this, op).run(); }

} // namespace tessel::codegen::cpu::detail
