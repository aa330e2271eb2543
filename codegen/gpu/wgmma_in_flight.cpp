// wgmma groups in flight across K-loop iterations (docs/gpu_codegen.md, "Hopper: wgmma").
//
// wgmma.mma_async runs asynchronously: its accumulator registers belong to the tensor cores from
// the instruction until a wgmma.wait_group that retires its group, and reading (or writing) them
// in between is undefined (PTX ISA, "Asynchronous warpgroup level matrix multiply"); only further
// wgmma.mma_async of the same shape accumulating into them may be issued. A K loop whose dot
// waits for its own group (wait_group 0) serialises the tensor cores with the rest of the
// iteration; waiting with wait_group 1 instead retires the previous iteration's group and leaves
// the current one running while the next iteration waits for its copies, computes its addresses
// and issues its own wgmma. The price is one more ring slot: at the top of iteration i the group
// of i-1 may still read slot (i-1) mod S, and group i-2 is retired (every warpgroup passed the
// wait of iteration i-1 before the barrier that follows the copies' wait), so the copies issued
// there may fill slot (i-2) mod S: iteration i+S-2. Hence the pipeliner's distance S-2 and the
// rule here that the rings have S >= distance + 2 slots. A TMA ring (tma_ring.cpp) refills its
// slot at the end of the body, after the wait, so any S >= 2 keeps one group in flight there.
#include "codegen/gpu/wgmma_in_flight.h"

#include "codegen/gpu/layout_assignment.h"
#include "codegen/gpu/mma_select.h"
#include "codegen/gpu/tma_ring.h"
#include "tessel/error.h"

#include <fmt/format.h>

#include <algorithm>
#include <map>

namespace tessel::codegen::gpu {

namespace {

using ir::Op;
using ir::Opcode;
using ir::Value;

// `v` without the convert_layout ops in front of it (assign-layouts puts them on a loop's
// accumulator and a load's result).
const Value* through_conversions(const Value* v) {
  for (const Op* def = v->defining_op(); def && def->opcode() == Opcode::ConvertLayout;
       def = v->defining_op())
    v = def->operand(0);
  return v;
}

// b is a shared buffer only for wgmma (a may be in wgmma's A-fragment registers).
bool is_wgmma_dot(const Op& op) {
  if (op.opcode() != Opcode::Dot)
    return false;
  const ir::LayoutAttr* b = op.operand(1)->type()->layout();
  return b && b->kind() == ir::LayoutKind::Shared;
}

// The index j of the loop-carried value (body argument j + 1, yield operand j, result j) that
// `dot` accumulates: its accumulator is body argument j + 1 and yield operand j is its result,
// both with no other use in the body. -1 when it has none.
int carried_index(const Op& loop, const Op& dot) {
  const ir::Block& body = loop.region(0);
  const Value* acc = through_conversions(dot.operand(2));
  if (!acc->is_block_arg() || acc->owner_block() != &body || acc->index() == 0)
    return -1;
  const int j = static_cast<int>(acc->index()) - 1;
  if (through_conversions(body.terminator()->operand(j)) != dot.result())
    return -1;
  return j;
}

int64_t uses_in(const ir::Block& scope, const Value* v) {
  int64_t n = 0;
  ir::walk(scope,
           [&](const Op& op) { n += std::count(op.operands().begin(), op.operands().end(), v); });
  return n;
}

// `%r = wgmma_wait %v {pending}` inserted at `pos` of `block`.
Value* insert_wait(ir::Block& block, ir::Block::iterator pos, Value* v, int64_t pending,
                   const SourceLoc& loc) {
  const ir::Type* t = v->type();
  auto op = std::make_unique<Op>(Opcode::WgmmaWait, std::vector<Value*>{v},
                                 std::span<const ir::Type* const>(&t, 1),
                                 std::vector<ir::Attr>{ir::Attr::of_int(pending)}, loc);
  return (*block.insert(pos, std::move(op)))->result();
}

// Every use of `from` in `scope` except by `keep` reads `to`.
void redirect(ir::Block& scope, Value* from, Value* to, const Op* keep) {
  ir::walk(scope, [&](Op& op) {
    if (&op == keep)
      return;
    for (size_t i = 0; i < op.num_operands(); ++i)
      if (op.operand(i) == from)
        op.set_operand(i, to);
  });
}

// True when slot operand `v` of the dot is a local_slot of a ring with at least two slots more
// than the pipeliner's copies of `body` run ahead (its leading async_wait {pending = P}: P + 1
// iterations ahead).
bool ring_allows_in_flight(const ir::Block& body, const Value* v) {
  const Op* slot = v->defining_op();
  if (!slot || slot->opcode() != Opcode::LocalSlot || slot->parent_block() != &body)
    return false;
  const Op* ring = slot->operand(0)->defining_op();
  if (!ring || ring->opcode() != Opcode::LocalAlloc || body.ops().empty())
    return false;
  const ir::Attr& slots = ring->attr("slots");
  // Refilled after the dot's wait (tma_ring.cpp), by this loop or a warp-specialized producer
  // loop elsewhere in the kernel (warp_specialize.cpp): look from the kernel's body.
  const ir::Block* top = &body;
  while (top->parent_op() && top->parent_op()->parent_block())
    top = top->parent_op()->parent_block();
  if (is_tma_ring(*top, ring->result()))
    return slots.kind == ir::Attr::Kind::Int && slots.i >= 2;
  const Op& first = *body.ops().front();
  return slots.kind == ir::Attr::Kind::Int && first.opcode() == Opcode::AsyncWait &&
         first.int_attr("pending") + 1 + 2 <= slots.i;
}

// True when the registers of `v` (a laid-out tile) hold runs along `dim` at least as long as
// along the other dimension: prepare-dot-operands' test for the dimension a ring is
// contiguous along (its copies keep the load's vectors).
bool contiguous_along(const Value* v, int dim) {
  const ir::LayoutAttr* attr = v->type()->layout();
  if (!attr || v->type()->dims().size() != 2)
    return false;
  const LinearLayout l = from_attr(*attr, v->type()->dims());
  return dim == 0 ? l.contiguous_registers(0) > l.contiguous_registers(1)
                  : l.contiguous_registers(0) <= l.contiguous_registers(1);
}

} // namespace

bool keeps_wgmma_in_flight(const ir::Op& loop, std::span<ir::Op* const> loads, int num_stages,
                           const Target& target, int num_warps, bool wgmma) {
  if (num_stages < 3 || !wgmma || !target.has_wgmma())
    return false;
  const ir::Block& body = loop.region(0);
  const Op* dot = nullptr;
  for (const auto& op : body.ops()) {
    if (op->opcode() != Opcode::Dot)
      continue;
    if (dot)
      return false; // two dots: their groups would interleave; not handled
    dot = op.get();
  }
  std::optional<WgmmaShape> s = dot ? select_wgmma(*dot, target, num_warps) : std::nullopt;
  if (!s)
    return false;
  for (int i = 0; i < 2; ++i) {
    const Op* def = through_conversions(dot->operand(i))->defining_op();
    if (std::find(loads.begin(), loads.end(), def) == loads.end())
      return false;
    // A tf32 or 8-bit operand streamed along M or N is staged K-major every iteration (its ring
    // is not what the wgmma reads), and a staged operand is waited for at once.
    if (wgmma_needs_k_major(s->instr) && !contiguous_along(def->result(), 1 - i))
      return false;
  }
  return carried_index(loop, *dot) >= 0;
}

void place_wgmma_waits(ir::Function& f, ir::Op& dot, bool from_rings) {
  ir::Block& block = *dot.parent_block();
  Op* loop = dot.parent_op();
  const bool in_loop = loop && loop->opcode() == Opcode::For;
  const int j = in_loop ? carried_index(*loop, dot) : -1;
  // The in-flight form: the dot's result goes only to the yield, its accumulator is the carried
  // argument itself (carry_in_mma removed the conversions), both operands are refilled late enough.
  if (from_rings && j >= 0 && block.terminator()->operand(j) == dot.result() &&
      dot.operand(2) == block.arg(j + 1) && uses_in(block, dot.result()) == 1 &&
      uses_in(block, block.arg(j + 1)) == 1 && ring_allows_in_flight(block, dot.operand(0)) &&
      ring_allows_in_flight(block, dot.operand(1))) {
    Value* w = insert_wait(block, std::next(block.find(&dot)), dot.result(), 1, dot.loc);
    block.terminator()->set_operand(j, w);
    ir::Block& outer = *loop->parent_block();
    Value* r = loop->result(j);
    Value* done = insert_wait(outer, std::next(outer.find(loop)), r, 0, dot.loc);
    redirect(f.body, r, done, done->defining_op());
    return;
  }
  Value* w = insert_wait(block, std::next(block.find(&dot)), dot.result(), 0, dot.loc);
  redirect(f.body, dot.result(), w, w->defining_op());
}

void check_wgmma_in_flight(const ir::Function& f) {
  // value -> the wgmma dot whose group may still write it
  std::map<const Value*, const Op*> in_flight;
  for (bool changed = true; changed;) {
    changed = false;
    auto mark = [&](const Value* v, const Op* dot) {
      changed = in_flight.emplace(v, dot).second || changed;
    };
    ir::walk(f.body, [&](const Op& op) {
      if (is_wgmma_dot(op))
        mark(op.result(), &op);
      if (op.opcode() == Opcode::WgmmaWait && op.int_attr("pending") > 0)
        if (auto it = in_flight.find(op.operand(0)); it != in_flight.end())
          mark(op.result(), it->second);
      if (op.opcode() != Opcode::For)
        return;
      const ir::Block& body = op.region(0);
      for (size_t k = 0; k + 3 < op.num_operands(); ++k)
        if (auto it = in_flight.find(body.terminator()->operand(k)); it != in_flight.end()) {
          mark(body.arg(k + 1), it->second);
          mark(op.result(k), it->second);
        }
    });
  }
  ir::walk(f.body, [&](const Op& op) {
    for (size_t i = 0; i < op.num_operands(); ++i) {
      auto it = in_flight.find(op.operand(i));
      if (it == in_flight.end())
        continue;
      const bool allowed = (is_wgmma_dot(op) && i == 2) || op.opcode() == Opcode::WgmmaWait ||
                           (op.opcode() == Opcode::Yield && op.parent_op() &&
                            op.parent_op()->opcode() == Opcode::For);
      if (!allowed)
        throw Error(op.loc,
                    fmt::format("`{}` reads the accumulator of the wgmma dot at {} while that "
                                "wgmma may still be in flight (its registers are undefined until "
                                "a wgmma_wait {{pending = 0}}; prepare-dot-operands places one)",
                                op.name(), it->second->loc.str()));
    }
  });
}

} // namespace tessel::codegen::gpu
