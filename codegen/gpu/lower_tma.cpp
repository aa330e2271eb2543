// The NVPTX lowering of tensor descriptors that go through TMA (desc_load / desc_store with a
// `tmap`, codegen/gpu/tensor_maps.cpp): the box travels between global memory and the op's
// shared scratch (allocate-shared: the box, then its mbarrier) by cp.async.bulk.tensor, reading
// the tensor map the kernel takes as its trailing parameter number `num_args + tmap`
// (`.param .align 64 .b8 [128]`, read in place through its generic address, `cvta.param`: the map
// is a grid constant and never copied).
//
//   load:  thread 0: mbarrier.init 1; fence.proxy.async;  all: barrier;
//          thread 0: arrive.expect_tx(box bytes);
//                    cp.async.bulk.tensor.Nd.shared::cluster.global.tile.mbarrier::complete_tx
//          all:      try_wait.parity 0 until the bytes landed; each thread reads its registers
//                    from the box; barrier; thread 0: mbarrier.inval (the scratch is reused).
//   store: all:      each owner writes its registers into the box; fence.proxy.async (the
//                    generic writes become visible to the async proxy); barrier;
//          thread 0: cp.async.bulk.tensor.Nd.global.shared::cta.bulk_group; commit; wait 0;
//          all:      barrier (the box is not reused before the copy read it).
// The box in shared memory is dense, row-major (TMA's innermost dimension first is the DSL's
// last), each 16-byte chunk moved by the tensor map's swizzle: byte o of the box sits at
// o ^ (((o >> 7) & (span / 16 - 1)) << 4), on a 1024-byte-aligned box, which is the hardware's
// pattern on absolute shared addresses. So a register's element is found from its coordinates
// by that formula: the box's shared layout is a linear layout (the swizzle is an XOR of index
// bits), read here without a conversion.
//
// The same pieces lower the mbarrier-ring ops (mbarrier_init / _expect_tx / _arrive / _wait and
// async_tma_load, lower_ring_op below), which the TMA ring of codegen/gpu/tma_ring.cpp puts
// around a K loop: S boxes and S mbarriers, stage i + S - 1 issued while stage i is consumed.
#include "codegen/gpu/lowering.h"
#include "codegen/gpu/scratch.h"

#include "tessel/ir/tensor_desc.h"

#include <llvm/IR/InlineAsm.h>

#include <fmt/format.h>

#include <algorithm>

namespace tessel::codegen::gpu::detail {

int64_t tma_box_bytes(const ir::Op& op) {
  int64_t n = dtype_bytes(ir::desc_operands(op).base->type()->pointee()->dtype());
  for (int64_t d : op.attr("block").ints)
    n *= d;
  return n;
}
int64_t tma_barrier_offset(const ir::Op& op) { return (tma_box_bytes(op) + 127) / 128 * 128; }
int64_t tma_scratch_bytes(const ir::Op& op) {
  return op.attr("tmap").kind == ir::Attr::Kind::Int ? tma_barrier_offset(op) + 16 : 0;
}

namespace {

// A call of inline PTX; `volatile_asm`: never deleted or merged.
llvm::Value* ptx(llvm::IRBuilder<>& b, llvm::Type* ret, const std::string& text,
                 const std::string& constraints, std::span<llvm::Value* const> args) {
  std::vector<llvm::Type*> types;
  for (llvm::Value* a : args)
    types.push_back(a->getType());
  auto* fn = llvm::InlineAsm::get(llvm::FunctionType::get(ret, types, false), text, constraints,
                                  /*hasSideEffects=*/true);
  return b.CreateCall(fn, llvm::ArrayRef<llvm::Value*>(args.data(), args.size()));
}

std::string repeat(const char* c, size_t n) {
  std::string s;
  for (size_t i = 0; i < n; ++i)
    s += std::string(i ? "," : "") + c;
  return s;
}

// "{$2, $1}" for two coordinates from operand `first`: TMA lists the innermost dimension first.
std::string coordinate_list(size_t rank, size_t first) {
  std::string s = "{";
  for (size_t i = 0; i < rank; ++i)
    s += fmt::format("{}${}", i ? ", " : "", first + rank - 1 - i);
  return s + "}";
}

// The leading registers of `l` that step by one along the last dimension: one shared access.
int contiguous_registers(const LinearLayout& l, int limit) {
  int n = 1;
  const int last = l.rank() - 1;
  for (int k = 0; k < l.in_bits(InDim::Register) && n * 2 <= limit; ++k) {
    const auto& basis = l.basis(InDim::Register, k);
    for (int d = 0; d < l.rank(); ++d)
      if (basis[d] != (d == last ? n : 0))
        return n;
    n *= 2;
  }
  return n;
}

// One elected thread's arrive on `bar32` that also expects `bytes` of transactions this phase.
void expect_tx(llvm::IRBuilder<>& b, llvm::Value* bar32, int64_t bytes) {
  llvm::Value* args[] = {bar32, b.getInt32(static_cast<int32_t>(bytes))};
  ptx(b, b.getInt64Ty(), "mbarrier.arrive.expect_tx.shared::cta.b64 $0, [$1], $2;",
      "=l,r,r,~{memory}", args);
}

// One box at `coords` (i32, outermost first) of the tensor map at generic address `map` into the
// shared address `box32`, its bytes completing on the mbarrier at `bar32`.
void tma_box_copy(llvm::IRBuilder<>& b, llvm::Value* map, std::span<llvm::Value* const> coords,
                  llvm::Value* box32, llvm::Value* bar32) {
  std::vector<llvm::Value*> args{box32};
  args.insert(args.end(), coords.begin(), coords.end());
  args.push_back(bar32);
  args.push_back(map);
  const size_t rank = coords.size();
  ptx(b, b.getVoidTy(),
      fmt::format("cp.async.bulk.tensor.{}d.shared::cluster.global.tile.mbarrier::complete_tx::"
                  "bytes [$0], [${}, {}], [${}];",
                  rank, rank + 2, coordinate_list(rank, 1), rank + 1),
      "r," + repeat("r", rank) + ",r,l,~{memory}", args);
}

// The thread that issues a ring's copies: thread 0, or, in a warp-specialized kernel, the
// producer warpgroup's first thread -- warp num_warps, since the layouts' warps are the consumers
// and the producer warpgroup comes on top (warp_specialize.h). Only the producer reaches the
// ring's copies there, and a kernel that is not specialized has no warp num_warps.
llvm::Value* issuing_thread(Lowering& l) {
  llvm::IRBuilder<>& b = l.b;
  llvm::Value* warp = l.warp_id();
  llvm::Value* first = b.CreateOr(b.CreateICmpEQ(warp, b.getInt32(0)),
                                  b.CreateICmpEQ(warp, b.getInt32(l.num_warps())));
  return b.CreateAnd(first, b.CreateICmpEQ(l.lane_id(), b.getInt32(0)));
}

// How a box travels (tensor_maps.cpp, ir/tensor_desc.cpp): rows wider than the swizzle span
// (only the 128-byte swizzle allows them) go as `count` boxes of one span each, side by side:
// block j is columns [j * elems, (j + 1) * elems) at byte j * bytes of the shared box, which is
// wgmma_shared_layout's order of a wide tile's W-byte columns.
struct ColumnBlocks {
  int64_t count = 1;
  int64_t elems = 0; // columns per block
  int64_t bytes = 0; // bytes per block: rows x span
};

ColumnBlocks column_blocks(std::span<const int64_t> block, int64_t elem_bytes, int64_t swizzle) {
  int64_t rows = 1;
  for (size_t d = 0; d + 1 < block.size(); ++d)
    rows *= block[d];
  const int64_t row_bytes = block.back() * elem_bytes;
  if (swizzle == 0 || row_bytes <= swizzle)
    return {1, block.back(), rows * row_bytes};
  return {row_bytes / swizzle, swizzle / elem_bytes, rows * swizzle};
}

// Every column block of a box at `coords` into `box32`, completing on `bar32` (one thread's).
void tma_blocks_copy(llvm::IRBuilder<>& b, llvm::Value* map, std::span<llvm::Value* const> coords,
                     llvm::Value* box32, llvm::Value* bar32, const ColumnBlocks& blocks) {
  std::vector<llvm::Value*> at(coords.begin(), coords.end());
  for (int64_t j = 0; j < blocks.count; ++j) {
    at.back() = b.CreateAdd(coords.back(), b.getInt32(int32_t(j * blocks.elems)));
    tma_box_copy(b, map, at, b.CreateAdd(box32, b.getInt32(int32_t(j * blocks.bytes))), bar32);
  }
}

// The mbarrier-ring ops (ops.def; the TMA ring of codegen/gpu/tma_ring.cpp emits them): `buf` is
// operand 0's shared buffer (the mbarrier, or async_tma_load's destination slot), `bar`
// async_tma_load's mbarrier. Init, expect_tx and the copies are one elected thread's; arrive and
// wait every thread's. The barrier that publishes an init to the other threads is the pass's.
void lower_ring_op(Lowering& l, const ir::Op& op, llvm::Value* buf, llvm::Value* bar) {
  llvm::IRBuilder<>& b = l.b;
  llvm::Value* addr = l.shared_address(buf);
  switch (op.opcode()) {
  case ir::Opcode::MbarrierInit:
    return l.only_if(l.elected_thread(), [&] {
      llvm::Value* args[] = {addr};
      ptx(b, b.getVoidTy(),
          fmt::format("mbarrier.init.shared::cta.b64 [$0], {};", op.int_attr("count")),
          "r,~{memory}", args);
      ptx(b, b.getVoidTy(), "fence.proxy.async.shared::cta;", "~{memory}", {});
    });
  case ir::Opcode::MbarrierExpectTx:
    return l.only_if(issuing_thread(l), [&] { expect_tx(b, addr, op.int_attr("bytes")); });
  case ir::Opcode::MbarrierArrive: {
    const ir::Attr& count = op.attr("count");
    llvm::Value* args[] = {addr};
    ptx(b, b.getInt64Ty(),
        count.kind == ir::Attr::Kind::Int
            ? fmt::format("mbarrier.arrive.shared::cta.b64 $0, [$1], {};", count.i)
            : std::string("mbarrier.arrive.shared::cta.b64 $0, [$1];"),
        "=l,r,~{memory}", args);
    return;
  }
  case ir::Opcode::MbarrierWait: // try_wait.parity reads the phase's low bit
    return l.emit_mbarrier_wait(buf, b.CreateAnd(l.scalar(op.operand(1)), b.getInt32(1)));
  case ir::Opcode::AsyncTmaLoad: {
    std::vector<llvm::Value*> coords;
    for (size_t i = 2; i < op.num_operands(); ++i)
      coords.push_back(l.scalar(op.operand(i)));
    llvm::Value* map = l.tensor_map_address(l.tensor_map_symbol(op));
    llvm::Value* bar32 = l.shared_address(bar);
    // The slot's shape is the box's; the ring takes swizzled boxes only, and rows past 128 bytes
    // have the 128-byte swizzle (ir/tensor_desc.cpp), so 128 is the span to split them by.
    const ir::Type* slot = op.operand(0)->type();
    const ColumnBlocks blocks =
        column_blocks(slot->dims(), dtype_bytes(slot->element()->dtype()), 128);
    return l.only_if(issuing_thread(l),
                     [&] { tma_blocks_copy(b, map, coords, addr, bar32, blocks); });
  }
  default:
    l.unsupported(op, "not an mbarrier-ring op");
  }
}

} // namespace

llvm::Value* Lowering::shared_address(llvm::Value* p) {
  return b.CreateTrunc(b.CreatePtrToInt(p, b.getInt64Ty()), b.getInt32Ty());
}

llvm::Value* Lowering::elected_thread() {
  return b.CreateAnd(b.CreateICmpEQ(warp_, b.getInt32(0)), b.CreateICmpEQ(lane_, b.getInt32(0)));
}

// The generic address of a tensor-map parameter: a kernel parameter's own address is in the
// .param space, which cp.async.bulk.tensor reads through a generic address (as nvcc does for a
// __grid_constant__ CUtensorMap).
llvm::Value* Lowering::tensor_map_address(const std::string& tmap) {
  return ptx(b, b.getInt64Ty(), fmt::format("mov.b64 $0, {};\n\tcvta.param.u64 $0, $0;", tmap),
             "=l", {});
}

std::string Lowering::tensor_map_symbol(const ir::Op& op) const {
  return fmt::format("{}_param_{}", fn.name, fn.body.num_args() + size_t(op.attr("tmap").i));
}

void Lowering::emit_mbarrier_init(llvm::Value* bar) {
  llvm::Value* bar32 = shared_address(bar);
  only_if(elected_thread(), [&] {
    llvm::Value* init[] = {bar32};
    ptx(b, b.getVoidTy(), "mbarrier.init.shared::cta.b64 [$0], 1;", "r,~{memory}", init);
    ptx(b, b.getVoidTy(), "fence.proxy.async.shared::cta;", "~{memory}", {});
  });
  barrier(); // no thread waits on the mbarrier before it is initialised
}

void Lowering::emit_tma_box_load(const std::string& tmap, std::span<llvm::Value* const> coords,
                                 llvm::Value* box, llvm::Value* bar, int64_t bytes) {
  llvm::Value* box32 = shared_address(box);
  llvm::Value* bar32 = shared_address(bar);
  only_if(elected_thread(), [&] {
    expect_tx(b, bar32, bytes);
    tma_box_copy(b, tensor_map_address(tmap), coords, box32, bar32);
  });
}

void Lowering::emit_mbarrier_wait(llvm::Value* bar, llvm::Value* phase) {
  llvm::Value* bar32 = shared_address(bar);
  llvm::BasicBlock* wait = llvm::BasicBlock::Create(ctx, "tma.wait", llfn);
  llvm::BasicBlock* done = llvm::BasicBlock::Create(ctx, "tma.done", llfn);
  b.CreateBr(wait);
  b.SetInsertPoint(wait);
  llvm::Value* probe[] = {bar32, phase};
  llvm::Value* ready =
      ptx(b, b.getInt1Ty(), "mbarrier.try_wait.parity.shared::cta.b64 $0, [$1], $2;",
          "=b,r,r,~{memory}", probe);
  b.CreateCondBr(ready, done, wait);
  b.SetInsertPoint(done);
}

// The byte offset (i32) of register `reg`'s element of `l` in a box swizzled by `swizzle`.
llvm::Value* Lowering::box_offset(const LinearLayout& l, int32_t reg, int64_t elem_bytes,
                                  int64_t swizzle) {
  llvm::Value* o =
      b.CreateMul(shared_index(l, reg, Swizzle{}), b.getInt32(static_cast<int32_t>(elem_bytes)));
  if (swizzle == 0)
    return o;
  std::vector<int64_t> shape(l.out_shape().begin(), l.out_shape().end());
  if (const ColumnBlocks blocks = column_blocks(shape, elem_bytes, swizzle); blocks.count > 1) {
    // Row-major byte o = row * row_bytes + col_byte sits in column block col_byte / span.
    const int64_t row_bytes = shape.back() * elem_bytes, span = swizzle;
    llvm::Value* row = b.CreateUDiv(o, b.getInt32(int32_t(row_bytes)));
    llvm::Value* col = b.CreateURem(o, b.getInt32(int32_t(row_bytes)));
    o = b.CreateAdd(b.CreateMul(b.CreateUDiv(col, b.getInt32(int32_t(span))),
                                b.getInt32(int32_t(blocks.bytes))),
                    b.CreateAdd(b.CreateMul(row, b.getInt32(int32_t(span))),
                                b.CreateURem(col, b.getInt32(int32_t(span)))));
  }
  const int32_t chunks = static_cast<int32_t>(swizzle / 16 - 1);
  llvm::Value* row = b.CreateAnd(b.CreateLShr(o, 7), b.getInt32(chunks));
  return b.CreateXor(o, b.CreateShl(row, 4));
}

void Lowering::lower_tma(const ir::Op& op) {
  if (op.opcode() != ir::Opcode::DescLoad && op.opcode() != ir::Opcode::DescStore) {
    if (!target.has_tma())
      unsupported(op, "mbarrier rings and TMA copies need sm_90 or later");
    const bool copy = op.opcode() == ir::Opcode::AsyncTmaLoad;
    return lower_ring_op(*this, op, buffer(op.operand(0)), copy ? buffer(op.operand(1)) : nullptr);
  }
  if (op.attr("tmap").kind != ir::Attr::Kind::Int)
    unsupported(op, "a tensor descriptor without a tensor map reaches the GPU backend only "
                    "through expand-tensor-descriptors (a bug: the pass did not run)");
  if (!target.has_tma())
    unsupported(op, "TMA needs sm_90 or later");
  ir::DescOperands d = ir::desc_operands(op);
  const ir::Type* elem = d.base->type()->pointee();
  llvm::Type* mt = mem_type(elem);
  const int64_t eb = dtype_bytes(elem->dtype()), swizzle = op.attr("swizzle").i;
  llvm::Value* box = scratch(tma_scratch_bytes(op)); // after allocate-shared's barrier, if needed
  llvm::Value* bar = b.CreateGEP(b.getInt8Ty(), box, b.getInt32(int32_t(tma_barrier_offset(op))));
  std::vector<llvm::Value*> coords;
  for (const ir::Value* c : d.offsets)
    coords.push_back(scalar(c));
  const std::string tmap = tensor_map_symbol(op);
  const size_t rank = coords.size();

  const ColumnBlocks blocks = column_blocks(op.attr("block").ints, eb, swizzle);
  if (op.opcode() == ir::Opcode::DescLoad) {
    emit_mbarrier_init(bar);
    llvm::Value* box32 = shared_address(box);
    llvm::Value* bar32 = shared_address(bar);
    only_if(elected_thread(), [&] {
      expect_tx(b, bar32, tma_box_bytes(op)); // all the column blocks' bytes
      tma_blocks_copy(b, tensor_map_address(tmap), coords, box32, bar32, blocks);
    });
    emit_mbarrier_wait(bar, b.getInt32(0)); // phase 0: the bytes have landed
    const LinearLayout& l = layout(op.result());
    const int run = swizzle ? std::min(contiguous_registers(l, 16 / int(eb)), 16 / int(eb))
                            : contiguous_registers(l, 16 / int(eb));
    Vals out;
    for (int32_t r = 0; r < l.in_size(InDim::Register); r += run) {
      llvm::Value* index = b.CreateUDiv(box_offset(l, r, eb, swizzle), b.getInt32(int32_t(eb)));
      for (llvm::Value* v : load_shared(mt, box, index, run))
        out.push_back(from_mem(v, elem));
    }
    set_vals(op.result(), std::move(out));
    barrier();
    only_if(elected_thread(), [&] {
      llvm::Value* args[] = {bar32};
      ptx(b, b.getVoidTy(), "mbarrier.inval.shared::cta.b64 [$0];", "r,~{memory}", args);
    });
    return;
  }

  const LinearLayout& l = layout(d.tile);
  const Vals& xs = vals(d.tile);
  const int run = contiguous_registers(l, 16 / int(eb));
  llvm::Value* owner = owner_predicate(l);
  for (int32_t r = 0; r < l.in_size(InDim::Register); r += run) {
    llvm::Value* index = b.CreateUDiv(box_offset(l, r, eb, swizzle), b.getInt32(int32_t(eb)));
    Vals mem;
    for (int i = 0; i < run; ++i)
      mem.push_back(to_mem(xs[size_t(r + i)], elem));
    store_shared_if(owner, mt, box, index, mem);
  }
  ptx(b, b.getVoidTy(), "fence.proxy.async.shared::cta;", "~{memory}", {});
  barrier();
  llvm::Value* box32 = shared_address(box);
  only_if(elected_thread(), [&] {
    llvm::Value* map = tensor_map_address(tmap);
    for (int64_t j = 0; j < blocks.count; ++j) { // each column block (one unless rows are wide)
      std::vector<llvm::Value*> args(coords.begin(), coords.end());
      args.back() = b.CreateAdd(coords.back(), b.getInt32(int32_t(j * blocks.elems)));
      args.push_back(b.CreateAdd(box32, b.getInt32(int32_t(j * blocks.bytes))));
      args.push_back(map);
      ptx(b, b.getVoidTy(),
          fmt::format("cp.async.bulk.tensor.{}d.global.shared::cta.bulk_group [${}, {}], [${}];",
                      rank, rank + 1, coordinate_list(rank, 0), rank),
          repeat("r", rank) + ",r,l,~{memory}", args);
    }
    ptx(b, b.getVoidTy(), "cp.async.bulk.commit_group;", "~{memory}", {});
    ptx(b, b.getVoidTy(), "cp.async.bulk.wait_group 0;", "~{memory}", {});
  });
  barrier();
}

} // namespace tessel::codegen::gpu::detail
