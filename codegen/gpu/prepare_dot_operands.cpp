// The `prepare-dot-operands` pass: every dot that MMA selection (mma_select.h) puts on tensor
// cores gets its layouts and its shared-memory staging written into the IR, so that the emission
// (lower_mma.cpp) only reads them.
//
// For such a dot, in place (after assign-layouts, before cse and allocate-shared):
//   - the result and the accumulator take the `#mma` layout of mma_layout.h (a convert_layout of
//     the accumulator before the dot, one of the result back to its old layout after it);
//   - each operand is staged: a `local_alloc` in the swizzled `#shared` layout of
//     mma_shared_layout (its contiguous dimension the one the operand's registers run along, so
//     the writes are 16-byte vectors), a `barrier` (the previous reads of the buffer, e.g. of the
//     last loop iteration, are done), the `local_store`s, a `barrier`, and a `local_load` into the
//     `#dot_op` layout the instruction reads, which the emission reads with ldmatrix;
//   - an operand that already comes from a `local_load` used only by this dot (the pipeliner's
//     form: a ring buffer filled by async copies) is not staged again: that local_load's result
//     is retyped to `#dot_op` and its buffer -- the whole ring, local_alloc {slots} and its
//     local_slot results -- to the swizzled `#shared` layout of the staged case, chosen for the
//     ring's cp.async writes and the #dot_op reads.
//   - an accumulator carried by a for loop (`acc = dot(a, b, acc)`) is carried in #mma itself.
// On sm_90a a dot on wgmma reads its operands from buffers in the wgmma layouts (a retyped ring or
// a staged buffer), except an A that is neither a ring slot nor a load in the dot's own block
// (a computed A, or one loaded before the dot's loop): that one is converted to the register
// layout of wgmma's A fragment (wgmma_a_register_layout) once, right after its definition.
// A dot left on the FMA loop gets a convert_layout of a and b to the layouts the loop reads
// (fma_dot_operand_layout), unless they have them. Statistics: mma, wgmma, fma, staged, retyped,
// carried, chained, a in registers, fma operand conversions.
#include "codegen/gpu/byte_transpose.h"
#include "codegen/gpu/layout_assignment.h"
#include "codegen/gpu/mma_layout.h"
#include "codegen/gpu/mma_select.h"
#include "codegen/gpu/sparse_layouts.h"
#include "codegen/gpu/swizzle.h"
#include "codegen/gpu/tma_ring.h"
#include "codegen/gpu/wgmma_in_flight.h"

#include "tessel/error.h"

namespace tessel::codegen::gpu {

namespace {

using ir::Opcode;

int elem_bytes(const ir::Type* t) { return std::max(1u, t->element_bits() / 8); }

// The #shared layout of a row-major buffer whose element i lives at `s.apply(i)`: bit b of a
// buffer position p names the element s.apply(1 << b) (the swizzle is a linear involution).
LinearLayout shared_of_swizzle(const std::vector<int32_t>& shape, const detail::Swizzle& s) {
  std::array<std::vector<LinearLayout::Basis>, kNumInDims> bases;
  const int64_t numel = int64_t(shape[0]) * shape[1];
  for (int64_t bit = 1; bit < numel; bit *= 2) {
    const int64_t i = s.apply(bit);
    bases[0].push_back({static_cast<int32_t>(i / shape[1]), static_cast<int32_t>(i % shape[1])});
  }
  return LinearLayout(std::move(bases), shape);
}

// The buffer layout of an operand written from registers in `from` and read in `to`: for 16-bit
// elements (read with ldmatrix) the chunk swizzle of mma_shared_layout, and for 8-bit ones stored
// contiguous along K (`k_dim`), which ldmatrix reads as b16 pairs (lower_mma.cpp), too; for
// others (plain loads of 4 bytes or less, whose lanes walk the buffer differently: tf32 B reads 4
// rows of 8 words, 8-bit B stored along N one byte per k) the swizzle the conversion search of
// swizzle.h finds conflict-free for both sides.
LinearLayout operand_shared_layout(const LinearLayout& from, const LinearLayout& to, int eb,
                                   int contiguous, int k_dim) {
  const std::vector<int32_t>& shape = from.out_shape();
  if (eb == 2 || (eb == 1 && contiguous == k_dim))
    return mma_shared_layout(shape, contiguous, eb);
  // A paired 8-bit B (byte_transpose.h) is read as ldmatrix rows of 16 bytes.
  const LinearLayout rows = eb == 1 && is_paired_b(to) ? byte_transpose_rows(to) : to;
  detail::AccessSide write{&from, detail::access_vector(from, eb), /*store=*/true,
                           /*owners_only=*/true, /*ignore_warp=*/{}};
  detail::AccessSide read{&rows, detail::access_vector(rows, eb), /*store=*/false,
                          /*owners_only=*/false, /*ignore_warp=*/{}};
  return shared_of_swizzle(shape,
                           detail::choose_swizzle(write, read, int64_t(shape[0]) * shape[1], eb));
}

// The dimension a register layout's threads hold consecutive elements along (the last on ties).
int contiguous_dim(const LinearLayout& l) {
  return l.contiguous_registers(0) > l.contiguous_registers(1) ? 0 : 1;
}

class PrepareDotOperands {
public:
  PrepareDotOperands(ir::Module& module, ir::Function& f, const Target& target, int num_warps,
                     bool wgmma, ir::PassStats& stats)
      : ctx_(module.ctx), f_(f), target_(target), num_warps_(num_warps), wgmma_(wgmma),
        stats_(stats) {}

  void run() {
    std::vector<ir::Op*> dots;
    ir::walk(f_.body, [&](ir::Op& op) {
      if (op.opcode() == Opcode::Dot || op.opcode() == Opcode::DotSparse)
        dots.push_back(&op);
    });
    for (ir::Op* dot : dots) {
      const ir::LayoutAttr* have = dot->result()->type()->layout();
      if (have && have->kind() == ir::LayoutKind::Mma)
        continue; // prepared already
      if (dot->opcode() == Opcode::DotSparse) {
        prepare_sparse(*dot);
        ++stats_["mma.sp"];
        continue;
      }
      std::optional<WgmmaShape> wgmma;
      if (wgmma_)
        wgmma = select_wgmma(*dot, target_, num_warps_);
      if (wgmma) {
        prepare_wgmma(*dot, *wgmma);
        ++stats_["wgmma"];
        continue;
      }
      std::optional<MmaInstr> instr = select_mma(*dot, target_);
      if (!instr) {
        read_on_fma(*dot);
        ++stats_["fma"];
        continue;
      }
      prepare(*dot, mma_info(*instr));
      ++stats_["mma"];
    }
  }

private:
  // A dot left on the FMA loop reads a and b in fma_dot_operand_layout (each thread the rows of a
  // and columns of b its outputs need, all of K): a convert_layout of each, unless it has it.
  void read_on_fma(ir::Op& dot) {
    const LinearLayout result = layout_of(dot.result());
    for (int i = 0; i < 2; ++i) {
      ir::Value* v = dot.operand(i);
      const LinearLayout want = fma_dot_operand_layout(result, shape_of(v), i);
      if (layout_of(v) == want)
        continue;
      const ir::LayoutKind kind =
          want.is_dim_separable() ? ir::LayoutKind::Blocked : ir::LayoutKind::Linear;
      dot.set_operand(i, insert(dot, Opcode::ConvertLayout, {v}, with(v, want, kind), {}));
      ++stats_["fma operand conversions"];
    }
  }

  void prepare(ir::Op& dot, const MmaInfo& info) {
    const auto dims = dot.result()->type()->dims();
    const int32_t m = static_cast<int32_t>(dims[0]), n = static_cast<int32_t>(dims[1]);
    const std::array<int32_t, 2> warps = mma_warps(m, n, num_warps_, info);
    ir::Value* staged[2] = {};
    std::vector<std::pair<ir::Value*, ir::Value*>> stores; // buffer, value
    const bool paired = pairs_columns(dot, info, warps);
    auto operand_layout = [&](int i) {
      const LinearLayout l =
          mma_operand_layout(info, i, shape_of(dot.operand(i)), warps, num_warps_);
      return i == 1 && paired ? pair_columns(l) : l;
    };
    for (int i = 0; i < 2; ++i) {
      ir::Value* v = dot.operand(i);
      const LinearLayout want = operand_layout(i);
      staged[i] = retype_pipelined(v, want, /*k_dim=*/1 - i);
      if (staged[i])
        continue;
      const LinearLayout shared = operand_shared_layout(layout_of(v), want, elem_bytes(v->type()),
                                                        contiguous_dim(layout_of(v)), 1 - i);
      ir::Value* buffer = insert(dot, Opcode::LocalAlloc, {},
                                 with(v, shared, ir::LayoutKind::Shared), {ir::Attr::of_int(-1)});
      stores.emplace_back(buffer, v);
      staged[i] = buffer; // loaded below, after the stores and a barrier
      ++stats_["staged"];
    }
    if (!stores.empty()) {
      insert(dot, Opcode::Barrier, {}, nullptr, {});
      for (const auto& [buffer, v] : stores)
        insert(dot, Opcode::LocalStore, {buffer, v}, nullptr, {});
      insert(dot, Opcode::Barrier, {}, nullptr, {});
    }
    for (int i = 0; i < 2; ++i) {
      if (staged[i]->defining_op()->opcode() != Opcode::LocalAlloc)
        continue;
      ir::Value* v = dot.operand(i);
      const LinearLayout want = operand_layout(i);
      dot.set_operand(i, insert(dot, Opcode::LocalLoad, {staged[i]},
                                with(v, want, ir::LayoutKind::DotOperand), {}));
    }
    for (int i = 0; i < 2; ++i)
      if (staged[i]->defining_op()->opcode() == Opcode::LocalLoad)
        dot.set_operand(i, staged[i]);
    const LinearLayout acc = mma_acc_layout(info, m, n, warps, num_warps_);
    set_accumulator(dot, paired ? pair_accumulator(acc) : acc);
    carry_in_mma(dot);
  }

  // Whether the dot's 8-bit B, stored along N (its registers, or the pipeliner's ring it is read
  // from, run along N), is read in the paired column order (byte_transpose.h: ldmatrix.trans and
  // prmt instead of a byte per load); its accumulator then takes that order too.
  bool pairs_columns(const ir::Op& dot, const MmaInfo& info, std::array<int32_t, 2> warps) const {
    const ir::Value* v = dot.operand(1);
    if (info.operand_bits != 8 || !target_.has_ldmatrix() ||
        !can_pair_columns(mma_operand_layout(info, 1, shape_of(v), warps, num_warps_)))
      return false;
    const ir::Op* load = v->defining_op();
    const bool ring = load && load->opcode() == Opcode::LocalLoad;
    return contiguous_dim(layout_of(ring ? load->operand(0) : v)) == 1;
  }

  // dot_sparse on mma.sp.m16n8k32 (sparse_layouts.h): staged as a dense m16n8k16 dot of the same
  // types whose A is the compressed M x K/2 tile (mma.sp's A fragment is that dot's A fragment, and
  // its B two k16 B fragments), plus the metadata read into its per-thread registers from a
  // row-major buffer stored with the operands (between the same two barriers). Why a buffer and not
  // a convert_layout: the conversion's scratch layout for this small i16 tile took 4 wavefronts per
  // 2-byte store; row-major, the store's lanes write consecutive words and the reads' 8 rows of a
  // warp fall into different banks (lanes t = 2, 3 read lanes 0, 1's words: a broadcast). There is
  // no FMA fallback on a GPU: without mma.sp (before sm_80, tiles below 16 x 8 x 32) it is an
  // error.
  void prepare_sparse(ir::Op& dot) {
    std::string why;
    std::optional<MmaSp> sp = select_mma_sp(dot, target_, &why);
    if (!sp)
      throw Error(dot.loc, "dot_sparse: " + why + "; it runs on mma.sp only");
    prepare(dot, mma_info(sp->dense));
    const auto dims = dot.result()->type()->dims();
    const std::array<int32_t, 2> warps =
        mma_warps(static_cast<int32_t>(dims[0]), static_cast<int32_t>(dims[1]), num_warps_,
                  mma_info(sp->dense));
    ir::Value* meta = dot.operand(3);
    const LinearLayout want = mma_sp_meta_layout(sp->k, shape_of(meta), warps, num_warps_);
    const LinearLayout shared = mma_shared_layout(shape_of(meta), 1, 2); // row-major
    ir::Value* buffer = stage_sparse_metadata(dot, meta, shared);
    dot.set_operand(
        3, insert(dot, Opcode::LocalLoad, {buffer}, with(meta, want, ir::LayoutKind::Linear), {}));
    ++stats_["staged"];
  }

  // The metadata's row-major buffer and its store. When prepare() staged A or B (barrier, stores,
  // barrier, their local_loads), the store joins theirs, before the barrier that publishes them.
  // When both come from the pipeliner's rings, nothing was staged: the store goes right before the
  // dot, followed by a barrier of its own, and the buffer is allocated right after the ring's
  // wait-barrier at the top of the body (before A's local_load). That barrier orders the earlier
  // reads of the buffer's bytes -- the previous iteration's, and those of whatever shared them
  // before it -- before this store; and allocate-shared (which leaves local_alloc buffers to the
  // passes that make them) gives no op between that barrier and the dot the same bytes, since the
  // buffer is live from there. So the metadata costs one barrier per iteration.
  ir::Value* stage_sparse_metadata(ir::Op& dot, ir::Value* meta, const LinearLayout& shared) {
    ir::Op* staged = staged_load(dot, 0);
    if (!staged)
      staged = staged_load(dot, 1);
    const ir::Type* type = with(meta, shared, ir::LayoutKind::Shared);
    if (staged) {
      ir::Op& barrier = **std::prev(staged->parent_block()->find(staged));
      ir::Value* buffer = insert(barrier, Opcode::LocalAlloc, {}, type, {ir::Attr::of_int(-1)});
      insert(barrier, Opcode::LocalStore, {buffer, meta}, nullptr, {});
      return buffer;
    }
    ir::Op* load_a = dot.operand(0)->defining_op();
    TESSEL_ASSERT(load_a && load_a->opcode() == Opcode::LocalLoad,
                  "prepare() reads a dot_sparse's A with a local_load");
    ir::Op* top = barrier_before(*load_a);
    TESSEL_ASSERT(top && load_a->parent_block() == dot.parent_block(),
                  "a dot_sparse's ring-read A follows the pipeliner's barrier in the dot's block");
    ir::Block* block = top->parent_block();
    auto op = std::make_unique<ir::Op>(Opcode::LocalAlloc, std::vector<ir::Value*>{},
                                       std::span<const ir::Type* const>(&type, 1),
                                       std::vector<ir::Attr>{ir::Attr::of_int(-1)}, dot.loc);
    ir::Value* buffer = block->insert(std::next(block->find(top)), std::move(op))->get()->result();
    insert(dot, Opcode::LocalStore, {buffer, meta}, nullptr, {});
    insert(dot, Opcode::Barrier, {}, nullptr, {});
    ++stats_["metadata barriers"];
    return buffer;
  }

  // The local_load of `dot`'s operand `i` when prepare() staged it and it comes first (the barrier
  // after the stores right before it), else null.
  static ir::Op* staged_load(ir::Op& dot, size_t i) {
    ir::Op* load = dot.operand(i)->defining_op();
    if (!load || load->opcode() != Opcode::LocalLoad)
      return nullptr;
    ir::Block* block = load->parent_block();
    auto at = block->find(load);
    if (at == block->ops().begin() || (*std::prev(at))->opcode() != Opcode::Barrier)
      return nullptr;
    return load;
  }

  // wgmma (sm_90a) reads a and b from shared memory itself: each operand becomes a buffer in a
  // wgmma_shared_layout -- the pipeliner's ring retyped, or a buffer staged here -- and the dot
  // takes the buffers as its a and b. st.shared and cp.async write through the generic proxy and
  // wgmma reads through the async proxy, so each writer runs fence_async_shared before the
  // barrier that hands its writes to the wgmma.
  void prepare_wgmma(ir::Op& dot, const WgmmaShape& s) {
    ir::Value* buffers[2] = {};
    std::vector<ir::Op*> loads; // the pipeliner's local_loads the dot no longer needs
    std::vector<std::pair<ir::Value*, ir::Value*>> stores; // buffer, value
    const bool k_major = wgmma_needs_k_major(s.instr);
    for (int i = 0; i < 2; ++i) {
      ir::Value* v = dot.operand(i);
      buffers[i] = wgmma_pipelined(v, k_major ? std::optional<int>(1 - i) : std::nullopt);
      if (buffers[i]) {
        loads.push_back(v->defining_op());
        continue;
      }
      if (i == 0 && !k_major && !loaded_here(v, dot)) {
        buffers[0] = a_in_registers(v, s);
        continue;
      }
      const int eb = elem_bytes(v->type());
      // The tf32 and 8-bit rows read K-major buffers only: an operand whose registers run along
      // M or N (a B loaded row-major) is first converted to K-contiguous registers (transposed).
      const int contiguous = k_major ? 1 - i : wgmma_contiguous(i, shape_of(v), layout_of(v), eb);
      if (k_major && contiguous_dim(layout_of(v)) != contiguous) {
        v = transposed(dot, v, contiguous, eb);
        ++stats_["transposed"];
      }
      const LinearLayout shared = wgmma_shared_layout(shape_of(v), contiguous, eb);
      buffers[i] = insert(dot, Opcode::LocalAlloc, {}, with(v, shared, ir::LayoutKind::Shared),
                          {ir::Attr::of_int(-1)});
      stores.emplace_back(buffers[i], v);
      ++stats_["staged"];
    }
    if (!stores.empty()) {
      insert(dot, Opcode::Barrier, {}, nullptr, {});
      for (const auto& [buffer, v] : stores)
        insert(dot, Opcode::LocalStore, {buffer, v}, nullptr, {});
      insert(dot, Opcode::FenceAsyncShared, {}, nullptr, {});
      insert(dot, Opcode::Barrier, {}, nullptr, {});
    }
    for (int i = 0; i < 2; ++i)
      dot.set_operand(i, buffers[i]);
    for (ir::Op* load : loads)
      load->parent_block()->erase(load);
    set_accumulator(dot, wgmma_acc_layout(s));
    carry_in_mma(dot);
    place_wgmma_waits(f_, dot, /*from_rings=*/loads.size() == 2); // wgmma_in_flight.cpp
  }

  // `v` (a tf32 or 8-bit operand whose registers run along M or N) converted to a blocked layout
  // whose threads hold 16-byte runs along K (`k_dim`), just before the dot: its local_store into
  // the K-major buffer then writes whole 16-byte chunks, as a column-major b's does, instead of one
  // element per store across the buffer's rows (which conflicts); the conversion itself goes
  // through scratch in a swizzle chosen for both sides (swizzle.h).
  ir::Value* transposed(ir::Op& dot, ir::Value* v, int k_dim, int eb) {
    const LinearLayout blocked = make_blocked(shape_of(v), num_warps_, 16 / eb, {k_dim, 1 - k_dim});
    return insert(dot, Opcode::ConvertLayout, {v}, with(v, blocked, ir::LayoutKind::Blocked), {});
  }

  // True when `v` is a global load (through convert_layouts) in the dot's own block: a tile
  // loaded for this dot alone, which goes to shared memory as it is (staged, its descriptor read
  // by the wgmma) rather than through a register conversion that costs the same trip.
  static bool loaded_here(const ir::Value* v, const ir::Op& dot) {
    const ir::Op* def = v->defining_op();
    while (def && def->opcode() == Opcode::ConvertLayout)
      def = def->operand(0)->defining_op();
    return def && def->opcode() == Opcode::Load && def->parent_block() == dot.parent_block();
  }

  // Any other A that no cp.async ring holds -- computed in registers (attention's P), or loaded
  // before the dot's loop (attention's Q tile) -- is read from registers (wgmma's register form):
  // one convert_layout to wgmma_a_register_layout placed right after A's definition, so that a
  // loop-invariant A is converted once, before the loop, instead of being stored, fenced and
  // barriered on every iteration, and an A in that layout already (the softmax of a matching
  // wgmma accumulator) is not moved at all. Returns the value the dot reads.
  ir::Value* a_in_registers(ir::Value* v, const WgmmaShape& s) {
    const LinearLayout want = wgmma_a_register_layout(s);
    ++stats_["a in registers"];
    if (layout_of(v) == want)
      return v;
    const ir::Type* type = with(v, want, ir::LayoutKind::DotOperand);
    auto conv = std::make_unique<ir::Op>(Opcode::ConvertLayout, std::vector<ir::Value*>{v},
                                         std::span<const ir::Type* const>(&type, 1),
                                         std::vector<ir::Attr>{},
                                         v->defining_op() ? v->defining_op()->loc : SourceLoc{});
    ir::Value* out = conv->result();
    if (ir::Op* def = v->defining_op()) {
      ir::Block* block = def->parent_block();
      block->insert(std::next(block->find(def)), std::move(conv));
    } else {
      ir::Block* block = v->owner_block();
      block->insert(block->ops().begin(), std::move(conv));
    }
    return out;
  }

  // The dimension a staged wgmma operand is stored contiguously along: the one its registers
  // run along (16-byte stores) when its rows are 32 bytes or more, else K.
  static int wgmma_contiguous(int opidx, const std::vector<int32_t>& shape,
                              const LinearLayout& regs, int eb) {
    const int preferred = contiguous_dim(regs);
    if (shape[preferred] * eb >= 32)
      return preferred;
    return opidx == 0 ? 1 : 0;
  }

  // The pipeliner's form for wgmma: `v` is a local_load of a ring slot of v's shape, used by the
  // dot alone, whose copies keep their vectors in the wgmma layout along the ring's contiguous
  // dimension. The ring is retyped to that layout, a fence_async_shared goes before the barrier
  // that follows the copies' wait, and the slot is returned (the caller drops the local_load);
  // null otherwise (the operand is then staged). With `k_dim` (the tf32 and 8-bit rows) the ring
  // qualifies only when it is contiguous along K: wgmma reads those operands K-major alone.
  ir::Value* wgmma_pipelined(ir::Value* v, std::optional<int> k_dim) {
    ir::Op* load = v->defining_op();
    if (!load || load->opcode() != Opcode::LocalLoad || uses(v) != 1)
      return nullptr;
    ir::Value* buffer = load->operand(0);
    if (buffer->type()->dims().size() != 2 || shape_of(buffer) != shape_of(v))
      return nullptr;
    const int eb = elem_bytes(v->type());
    const int contiguous = contiguous_dim(layout_of(buffer));
    if (shape_of(v)[contiguous] * eb < 32 || shape_of(v)[1 - contiguous] < 8)
      return nullptr;
    if (k_dim && contiguous != *k_dim)
      return nullptr;
    if (is_tma_ring(f_.body, ring_of(buffer))) // TMA wrote it in its own pattern (tma_ring.cpp)
      return tma_box_in_place(buffer, wgmma_shared_layout(shape_of(v), contiguous, eb));
    ir::Op* before = barrier_before(*load);
    if (!before)
      return nullptr;
    ir::Value* ring = ring_of(buffer);
    const LinearLayout shared = wgmma_shared_layout(shape_of(v), contiguous, eb);
    if (!keeps_copies(copies_into(ring), shared, eb))
      return nullptr;
    const ir::Type* type = with(buffer, shared, ir::LayoutKind::Shared);
    ring->set_type(type);
    for (ir::Value* slot : slots_of(ring))
      slot->set_type(type);
    ir::Block* block = before->parent_block();
    auto at = block->find(before);
    if (at == block->ops().begin() || (*std::prev(at))->opcode() != Opcode::FenceAsyncShared)
      insert(*before, Opcode::FenceAsyncShared, {}, nullptr, {});
    ++stats_["retyped"];
    return buffer;
  }

  // A TMA ring's slot is read in place when its layout is the wgmma layout (the box's rows are
  // one swizzle span); no fence: TMA writes through the async proxy, and its mbarrier wait
  // publishes the bytes. Null otherwise (the operand is staged from the local_load).
  ir::Value* tma_box_in_place(ir::Value* buffer, const LinearLayout& want) {
    if (layout_of(buffer) != want)
      return nullptr;
    ++stats_["tma boxes read in place"];
    return buffer;
  }

  // The nearest barrier before `op` in its block (the pipeliner's, after its async_wait), or null.
  static ir::Op* barrier_before(ir::Op& op) {
    ir::Block* block = op.parent_block();
    for (auto it = block->find(&op); it != block->ops().begin();) {
      --it;
      if ((*it)->opcode() == Opcode::Barrier)
        return it->get();
    }
    return nullptr;
  }

  // `acc = dot(a, b, acc)` in a loop: the carried accumulator itself takes the #mma layout (its
  // initial value converted before the loop, its final value after it), so that the conversions
  // set_accumulator made around the dot (two shared-memory round trips per iteration) go away and
  // the accumulator stays in registers across the K loop.
  void carry_in_mma(ir::Op& dot) {
    ir::Op* in = dot.operand(2)->defining_op();
    if (!in || in->opcode() != Opcode::ConvertLayout)
      return;
    ir::Value* arg = in->operand(0);
    ir::Op* loop = arg->is_block_arg() ? arg->owner_block()->parent_op() : nullptr;
    if (!loop || loop->opcode() != Opcode::For || arg->index() == 0 || uses(arg) != 1)
      return;
    const size_t j = arg->index() - 1; // carried value j: operand 3 + j, result j, yield operand j
    ir::Op* yield = loop->region(0).terminator();
    ir::Value* back = yield->operand(j);
    ir::Op* back_op = back->defining_op();
    if (!back_op || back_op->opcode() != Opcode::ConvertLayout ||
        back_op->operand(0) != dot.result())
      return;
    const ir::Type* mma = dot.result()->type();
    arg->set_type(mma);
    dot.set_operand(2, arg);
    in->parent_block()->erase(in);
    yield->set_operand(j, dot.result());
    if (uses(back) == 0)
      back_op->parent_block()->erase(back_op);
    ir::Value* init = loop->operand(3 + j);
    const ir::Op* init_def = init->defining_op();
    if (init_def && init_def->opcode() == Opcode::Constant)
      loop->set_operand(3 + j, insert(*loop, Opcode::Constant, {}, mma, init_def->attrs()));
    else
      loop->set_operand(3 + j, insert(*loop, Opcode::ConvertLayout, {init}, mma, {}));
    ir::Value* result = loop->result(j);
    const ir::Type* old = result->type();
    result->set_type(mma);
    auto out = std::make_unique<ir::Op>(Opcode::ConvertLayout, std::vector<ir::Value*>{result},
                                        std::span<const ir::Type* const>(&old, 1),
                                        std::vector<ir::Attr>{}, loop->loc);
    ir::replace_all_uses(f_.body, result, out->result());
    ir::Block* block = loop->parent_block();
    block->insert(after_drain(*loop), std::move(out));
    ++stats_["carried"];
  }

  // Where an op after `loop` goes: past the pipeliner's drain (async_wait, barrier) when there is
  // one, since the copies still in flight (the last iterations' zero-filling ones) write the rings,
  // whose bytes the op's scratch may share.
  static ir::Block::iterator after_drain(ir::Op& loop) {
    ir::Block* block = loop.parent_block();
    auto it = std::next(block->find(&loop));
    auto next_is = [&](Opcode opcode) {
      return it != block->ops().end() && (*it)->opcode() == opcode;
    };
    if (next_is(Opcode::AsyncWait)) {
      ++it;
      if (next_is(Opcode::Barrier))
        ++it;
    }
    return it;
  }

  // The accumulator converted to `acc` before the dot, the result back after it.
  void set_accumulator(ir::Op& dot, const LinearLayout& acc) {
    ir::Value* c = dot.operand(2);
    const ir::Type* old = dot.result()->type();
    const ir::Type* mma = with(c, acc, ir::LayoutKind::Mma);
    // A constant accumulator (zeros, mostly) is made in the new layout, not converted to it; one
    // that is a conversion of a value in that layout already (the previous dot of a chain, as
    // attention's per-chunk QKᵀ: `s = dot(q_c, k_cᵀ, s)`) is read from that value, the round
    // trip through the conversions' scratch dropped.
    ir::Op* def = c->defining_op();
    if (def && def->opcode() == Opcode::Constant)
      dot.set_operand(2, insert(dot, Opcode::Constant, {}, mma, def->attrs()));
    else if (def && def->opcode() == Opcode::ConvertLayout && def->operand(0)->type() == mma) {
      dot.set_operand(2, def->operand(0));
      if (uses(c) == 0)
        def->parent_block()->erase(def);
      ++stats_["chained"];
    } else
      dot.set_operand(2, insert(dot, Opcode::ConvertLayout, {c}, mma, {}));
    ir::Value* r = dot.result();
    r->set_type(mma);
    auto conv = std::make_unique<ir::Op>(Opcode::ConvertLayout, std::vector<ir::Value*>{r},
                                         std::span<const ir::Type* const>(&old, 1),
                                         std::vector<ir::Attr>{}, dot.loc);
    // Every use but the new conversion's (not in the kernel yet) reads the converted result.
    ir::replace_all_uses(f_.body, r, conv->result());
    ir::Block* block = dot.parent_block();
    block->insert(std::next(block->find(&dot)), std::move(conv));
  }

  // The pipeliner's form: `v` is a local_load of a buffer of v's shape, used by the dot alone
  // (operand `k_dim` 1: A, 0: B). Its result is retyped to `want` (#dot_op) and its buffer to the
  // swizzled layout; null otherwise. A buffer that is a slot of a ring (local_alloc {slots} read
  // through local_slot, whose results repeat the ring's type) is retyped with the whole ring, so
  // that the cp.async copies fill the swizzled tiles ldmatrix reads and nothing is staged a second
  // time.
  ir::Value* retype_pipelined(ir::Value* v, const LinearLayout& want, int k_dim) {
    ir::Op* load = v->defining_op();
    if (!load || load->opcode() != Opcode::LocalLoad || uses(v) != 1)
      return nullptr;
    ir::Value* buffer = load->operand(0);
    if (buffer->type()->dims().size() != 2 || shape_of(buffer) != shape_of(v))
      return nullptr;
    ir::Value* ring = ring_of(buffer);
    const int eb = elem_bytes(v->type());
    const int contiguous = contiguous_dim(layout_of(buffer));
    // The staged case's layout when the ring's copies keep their vectors in it; else the chunk
    // swizzle along the ring's contiguous dim (a column-major ring); else the ring's own layout.
    std::vector<LinearLayout> candidates;
    const std::vector<const ir::Op*> copies = copies_into(ring);
    if (!copies.empty() && eb != 2)
      candidates.push_back(operand_shared_layout(layout_of(copies.front()->operand(0)), want, eb,
                                                 contiguous, k_dim));
    candidates.push_back(mma_shared_layout(shape_of(v), contiguous, eb));
    candidates.push_back(layout_of(buffer));
    for (const LinearLayout& shared : candidates) {
      if (!keeps_copies(copies, shared, eb))
        continue;
      const ir::Type* type = with(buffer, shared, ir::LayoutKind::Shared);
      ring->set_type(type);
      for (ir::Value* slot : slots_of(ring))
        slot->set_type(type);
      break;
    }
    v->set_type(with(v, want, ir::LayoutKind::DotOperand));
    ++stats_["retyped"];
    return v;
  }

  // True when each copy's `vec` elements stay one aligned access in a buffer laid out `shared`.
  static bool keeps_copies(const std::vector<const ir::Op*>& copies, const LinearLayout& shared,
                           int eb) {
    for (const ir::Op* copy : copies)
      if (shared_access_width(buffer_offsets(layout_of(copy->operand(0)), shared), eb) <
          copy->int_attr("vec"))
        return false;
    return true;
  }

  // The local_alloc a buffer value comes from: itself, or the ring a local_slot indexes.
  static ir::Value* ring_of(ir::Value* buffer) {
    ir::Op* def = buffer->defining_op();
    return def && def->opcode() == Opcode::LocalSlot ? def->operand(0) : buffer;
  }

  // The local_slot results of `ring`.
  std::vector<ir::Value*> slots_of(const ir::Value* ring) const {
    std::vector<ir::Value*> slots;
    ir::walk(f_.body, [&](ir::Op& op) {
      if (op.opcode() == Opcode::LocalSlot && op.operand(0) == ring)
        slots.push_back(op.result());
    });
    return slots;
  }

  // The async_copy ops into `ring` or one of its slots.
  std::vector<const ir::Op*> copies_into(const ir::Value* ring) const {
    std::vector<const ir::Op*> copies;
    ir::walk(f_.body, [&](const ir::Op& op) {
      if (op.opcode() == Opcode::AsyncCopy && ring_of(op.operand(1)) == ring)
        copies.push_back(&op);
    });
    return copies;
  }

  int64_t uses(const ir::Value* v) const {
    int64_t n = 0;
    ir::walk(f_.body, [&](const ir::Op& op) {
      for (const ir::Value* o : op.operands())
        n += o == v;
    });
    return n;
  }

  static LinearLayout layout_of(const ir::Value* v) {
    TESSEL_ASSERT(v->type()->layout(), "prepare-dot-operands runs after assign-layouts");
    return from_attr(*v->type()->layout(), v->type()->dims());
  }

  const ir::Type* with(const ir::Value* like, const LinearLayout& l, ir::LayoutKind kind) {
    return ctx_.with_layout(like->type(), to_attr(ctx_, l, kind));
  }

  // A new op just before `before`; its result (null for none).
  ir::Value* insert(ir::Op& before, Opcode opcode, std::vector<ir::Value*> operands,
                    const ir::Type* result, std::vector<ir::Attr> attrs) {
    std::vector<const ir::Type*> results;
    if (result)
      results.push_back(result);
    auto op = std::make_unique<ir::Op>(opcode, std::move(operands), results, std::move(attrs),
                                       before.loc);
    ir::Block* block = before.parent_block();
    ir::Op* placed = block->insert(block->find(&before), std::move(op))->get();
    return result ? placed->result() : nullptr;
  }

  ir::Context& ctx_;
  ir::Function& f_;
  const Target& target_;
  int num_warps_;
  bool wgmma_;
  ir::PassStats& stats_;
};

} // namespace

ir::PassInfo prepare_dot_operands_pass(const Target& target, int num_warps, bool wgmma) {
  if (!target.is_nvptx())
    throw Error("pass 'prepare-dot-operands' needs an NVPTX target (e.g. --target sm_80), found '" +
                target.name() + "'");
  auto run = [target, num_warps, wgmma](ir::Module& module, ir::PassStats& stats) {
    for (auto& f : module.functions)
      PrepareDotOperands(module, *f, target, num_warps, wgmma, stats).run();
  };
  return {"prepare-dot-operands",
          "Gives each dot selected for mma.sync its #mma result and accumulator and stages its "
          "operands through swizzled shared memory into #dot_op layouts (on sm_90a, wgmma: into "
          "the swizzled buffers the dot reads itself).",
          run};
}

} // namespace tessel::codegen::gpu
