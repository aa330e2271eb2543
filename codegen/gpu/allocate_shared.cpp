// The allocate-shared pass: every byte of shared memory a kernel uses is planned here, before the
// emission, and written into the IR.
//
// Two kinds of buffer: the scratch an op borrows while it runs (a layout conversion through
// shared memory, the cross-warp step of a reduction or a scan; sizes from scratch.h, the functions
// the emission asks) and the buffers of `local_alloc`. A scratch buffer lives for its op only; a
// local_alloc buffer from the alloc to its last use, where a use inside a loop or branch keeps the
// buffer alive to the end of the enclosing op in the alloc's block (a loop re-reads it on the next
// iteration). Buffers whose live ranges are disjoint may share bytes: offsets are assigned
// largest buffer first, each at the lowest 16-byte-aligned offset (1024 for a buffer a dot reads
// itself, wgmma's, and for a TMA box or a TMA ring: their swizzle patterns repeat every 1024 bytes
// from an aligned address, so the matrix descriptors' base offset is 0 and a box's swizzle follows
// the hardware's pattern on absolute addresses) that overlaps no placed buffer live at the same
// time (the interference-graph first fit of Triton's Allocation.cpp, in spirit). The result:
// `scratch_offset` / `scratch_bytes` on each op that borrows scratch, `offset` on each
// local_alloc, and the kernel's total in `shared(N)`; a total above the target's limit is an error
// naming the kernel and every buffer.
//
// Sharing bytes makes a hazard: a buffer's bytes may still be read by a slow warp for the op that
// used them before. So the pass also places the barrier an op needs before it writes its scratch,
// as an explicit `barrier` op (the emission adds none of its own; Triton's Membar analysis makes
// the same argument): needed when a buffer before it in program order overlaps its bytes, or when
// a loop around it runs it again (the next iteration writes what this one's slow warps read).
// The first use of fresh bytes needs none: softmax's first reduction starts without one.
#include "codegen/gpu/layout_assignment.h"
#include "codegen/gpu/scratch.h"
#include "codegen/gpu/tma_ring.h"
#include "tessel/codegen/gpu.h"
#include "tessel/error.h"
#include "tessel/ir/printer.h"

#include <fmt/format.h>

#include <algorithm>
#include <iterator>
#include <memory>
#include <unordered_map>

namespace tessel::codegen::gpu {

namespace {

using gpu::LinearLayout;
using ir::Opcode;

constexpr int64_t kAlign = 16;
constexpr int64_t kWgmmaAlign = 1024;

struct Buffer {
  ir::Op* op; // the op that borrows it, or its local_alloc
  int64_t bytes;
  int64_t first, last; // live range, in program-order op numbers (inclusive)
  int64_t offset = -1;
  int64_t align = kAlign; // a wgmma operand: kWgmmaAlign; a TMA box: kTmaBoxAlign
};

int64_t align_up(int64_t v, int64_t align) { return (v + align - 1) / align * align; }

bool is_desc(const ir::Op& op) {
  return op.opcode() == Opcode::DescLoad || op.opcode() == Opcode::DescStore;
}

class AllocateShared {
public:
  AllocateShared(ir::Function& f, const Target& target) : f_(f), target_(target) {}

  // Returns the number of buffers placed.
  int64_t run() {
    number(f_.body);
    collect(f_.body);
    place();
    int64_t total = 0;
    for (const Buffer& b : buffers_)
      total = std::max(total, b.offset + b.bytes);
    if (total > target_.limits().max_shared_bytes)
      throw Error(over_limit(total));
    for (const Buffer& b : buffers_)
      record(b);
    for (const Buffer& b : buffers_)
      if (needs_barrier(b))
        insert_barrier_before(*b.op);
    f_.shared_bytes = total;
    return static_cast<int64_t>(buffers_.size());
  }

private:
  // Program order: each op a number; an op with regions spans to the last op inside it.
  void number(ir::Block& block) {
    for (auto& op : block.ops()) {
      first_[op.get()] = next_++;
      for (size_t r = 0; r < op->num_regions(); ++r)
        number(op->region(r));
      last_[op.get()] = next_ - 1;
    }
  }

  void collect(ir::Block& block) {
    for (auto& op : block.ops()) {
      if (op->opcode() == Opcode::LocalAlloc)
        buffers_.push_back(local_buffer(*op));
      else if (int64_t bytes = scratch_bytes(*op); bytes > 0)
        buffers_.push_back({op.get(), bytes, first_[op.get()], first_[op.get()], -1,
                            is_desc(*op) ? detail::kTmaBoxAlign : kAlign});
      for (size_t r = 0; r < op->num_regions(); ++r)
        collect(op->region(r));
    }
  }

  LinearLayout layout_of(const ir::Op& op, const ir::Value* v) const {
    const ir::LayoutAttr* attr = v->type()->layout();
    if (!attr)
      throw Error(op.loc, fmt::format("allocate-shared needs the layouts of assign-layouts, but "
                                      "the operand of `{}` has none: run "
                                      "--passes=assign-layouts,allocate-shared\n  {}",
                                      op.name(), ir::print_op(op)));
    return from_attr(*attr, v->type()->dims());
  }

  int64_t scratch_bytes(const ir::Op& op) const {
    switch (ir::family_of(op.opcode())) {
    case ir::OpFamily::Shape:
      if (op.opcode() != Opcode::ConvertLayout)
        return 0;
      return detail::conversion_scratch_bytes(
          layout_of(op, op.operand(0)), layout_of(op, op.result()), op.result()->type()->element());
    case ir::OpFamily::Reduction:
      return detail::reduce_scratch_bytes(op, layout_of(op, op.operand(0)));
    case ir::OpFamily::Scan:
      return detail::scan_scratch_bytes(op, layout_of(op, op.operand(0)));
    case ir::OpFamily::Contraction:
      // Every dot reads its operands in the layouts prepare-dot-operands converted them to.
      return 0;
    case ir::OpFamily::Memory: {
      if (is_desc(op))
        return detail::tma_scratch_bytes(op);
      if (!op.has(ir::ATOMIC))
        return 0;
      if (op.operand(0)->type()->rank() == 0)
        return detail::atomic_scratch_bytes(op, f_, nullptr);
      const LinearLayout l = layout_of(op, op.operand(0));
      return detail::atomic_scratch_bytes(op, f_, &l);
    }
    case ir::OpFamily::Source:
    case ir::OpFamily::Elementwise:
    case ir::OpFamily::Control:
      return 0;
    }
    TESSEL_UNREACHABLE("bad op family");
  }

  Buffer local_buffer(ir::Op& alloc) {
    const ir::Type* t = alloc.result()->type();
    const int64_t elem_bytes = t->element()->is_pointer() ? 8 : std::max(1u, t->element_bits() / 8);
    const ir::Attr& slots = alloc.attr("slots");
    const int64_t copies = slots.kind == ir::Attr::Kind::Int ? slots.i : 1;
    Buffer b{&alloc, t->num_elements() * elem_bytes * copies, first_[&alloc], first_[&alloc]};
    if (read_by_dot(alloc) || is_tma_ring(f_.body, alloc.result()))
      b.align = kWgmmaAlign;
    ir::walk(f_.body, [&](ir::Op& user) {
      for (ir::Value* v : user.operands())
        if (v == alloc.result())
          b.last = std::max(b.last, last_[&outermost_below(user, alloc.parent_block())]);
    });
    // An mbarrier's bytes may hold nothing else until an mbarrier.inval, which the TMA ring does
    // not issue: its few bytes stay its own to the end of the kernel.
    if (is_mbarrier_ring(alloc))
      b.last = next_;
    return b;
  }

  // True when mbarrier ops use the buffer (or its slots): a ring of mbarriers.
  bool is_mbarrier_ring(const ir::Op& alloc) const {
    bool found = false;
    ir::walk(f_.body, [&](const ir::Op& op) {
      if (op.opcode() != Opcode::MbarrierInit)
        return;
      const ir::Op* def = op.operand(0)->defining_op();
      if (def && def->opcode() == Opcode::LocalSlot)
        def = def->operand(0)->defining_op();
      found = found || def == &alloc;
    });
    return found;
  }

  // True when a dot takes the buffer (or a slot of its ring) as an operand: wgmma's form.
  bool read_by_dot(const ir::Op& alloc) const {
    bool found = false;
    ir::walk(f_.body, [&](const ir::Op& op) {
      if (op.opcode() != Opcode::Dot)
        return;
      for (int i = 0; i < 2; ++i) {
        const ir::Op* def = op.operand(i)->defining_op();
        if (def && def->opcode() == Opcode::LocalSlot)
          def = def->operand(0)->defining_op();
        found = found || def == &alloc;
      }
    });
    return found;
  }

  // `op` or the op enclosing it whose block is `block` (a use in a loop body extends to the loop).
  static ir::Op& outermost_below(ir::Op& op, const ir::Block* block) {
    ir::Op* o = &op;
    while (o->parent_block() != block && o->parent_op())
      o = o->parent_op();
    return *o;
  }

  // Largest first; each at the lowest aligned offset clear of every placed buffer live with it.
  void place() {
    std::vector<Buffer*> order;
    for (Buffer& b : buffers_)
      order.push_back(&b);
    std::stable_sort(order.begin(), order.end(),
                     [](const Buffer* a, const Buffer* b) { return a->bytes > b->bytes; });
    std::vector<const Buffer*> placed;
    for (Buffer* b : order) {
      int64_t offset = 0;
      for (bool moved = true; moved;) {
        moved = false;
        for (const Buffer* p : placed)
          if (p->first <= b->last && b->first <= p->last && p->offset < offset + b->bytes &&
              offset < p->offset + p->bytes) {
            offset = align_up(p->offset + p->bytes, b->align);
            moved = true;
          }
      }
      b->offset = offset;
      placed.push_back(b);
    }
  }

  // The barrier before a scratch buffer's op (see the top of the file). local_alloc buffers are
  // ordered by the barriers of the passes that made them (pipeline, prepare-dot-operands).
  bool needs_barrier(const Buffer& b) const {
    if (b.op->opcode() == Opcode::LocalAlloc)
      return false;
    for (const ir::Op* o = b.op->parent_op(); o; o = o->parent_op())
      if (o->opcode() == Opcode::For || o->opcode() == Opcode::While)
        return true;
    for (const Buffer& p : buffers_)
      if (p.first < b.first && p.offset < b.offset + b.bytes && b.offset < p.offset + p.bytes)
        return true;
    return false;
  }

  // Unless a pass already put one right there.
  static void insert_barrier_before(ir::Op& op) {
    ir::Block* block = op.parent_block();
    auto at = block->find(&op);
    if (at != block->ops().begin() && (*std::prev(at))->opcode() == Opcode::Barrier)
      return;
    block->insert(at, std::make_unique<ir::Op>(Opcode::Barrier, std::vector<ir::Value*>{},
                                               std::span<const ir::Type* const>{},
                                               std::vector<ir::Attr>{}, op.loc));
  }

  static void set_attr(ir::Op& op, std::string_view name, int64_t value) {
    const auto& specs = op.info().attrs;
    for (size_t i = 0; i < specs.size(); ++i)
      if (specs[i].name == name) {
        op.attrs()[i] = ir::Attr::of_int(value);
        return;
      }
    TESSEL_UNREACHABLE("ops.def lacks a shared-memory attribute");
  }

  static void record(const Buffer& b) {
    if (b.op->opcode() == Opcode::LocalAlloc)
      return set_attr(*b.op, "offset", b.offset);
    set_attr(*b.op, "scratch_offset", b.offset);
    set_attr(*b.op, "scratch_bytes", b.bytes);
  }

  // The stages of a software-pipelining ring (local_alloc {slots}), else 1.
  static int64_t ring_stages(const ir::Op& op) {
    if (op.opcode() != Opcode::LocalAlloc)
      return 1;
    const ir::Attr& slots = op.attr("slots");
    return slots.kind == ir::Attr::Kind::Int ? slots.i : 1;
  }

  std::string over_limit(int64_t total) const {
    std::string list;
    bool ring = false;
    for (const Buffer& b : buffers_) {
      list += fmt::format("\n  {} bytes at offset {} for `{}` ({})", b.bytes, b.offset,
                          b.op->name(), b.op->loc.str());
      if (const int64_t stages = ring_stages(*b.op); stages > 1) {
        list += fmt::format(" — a {}-stage pipeline ring of {} bytes per stage", stages,
                            b.bytes / stages);
        ring = true;
      }
    }
    return fmt::format("kernel `{}` needs {} bytes of shared memory but {} allows at most {} bytes "
                       "per block; its buffers:{}\nuse smaller blocks{}",
                       f_.name, total, target_.name(), target_.limits().max_shared_bytes, list,
                       ring ? ", fewer num_stages or fewer layout changes"
                            : " or fewer layout changes");
  }

  ir::Function& f_;
  const Target& target_;
  int64_t next_ = 0;
  std::unordered_map<const ir::Op*, int64_t> first_, last_;
  std::vector<Buffer> buffers_;
};

} // namespace

ir::PassInfo allocate_shared_pass(const Target& target) {
  if (!target.is_nvptx())
    throw Error("pass 'allocate-shared' needs an NVPTX target (e.g. --target sm_80), found '" +
                target.name() + "'");
  auto run = [target](ir::Module& module, ir::PassStats& stats) {
    for (auto& f : module.functions)
      stats["buffers"] += AllocateShared(*f, target).run();
  };
  return {"allocate-shared",
          "Plans every op's shared-memory scratch and every local_alloc: live ranges, offsets "
          "(disjoint live ranges share bytes) and the kernel's total, checked against the target.",
          run};
}

} // namespace tessel::codegen::gpu
