// The TMA ring: software pipelining of tensor-descriptor boxes through mbarriers (sm_90a).
//
// A K loop `acc = dot(da.load({m, k}), db.load({k, n}), acc)` whose descriptors go through TMA
// (assign-tensor-maps gave both desc_loads a `tmap`) and whose dot runs on wgmma gets, instead of
// cp.async rings, S = num_stages box slots per operand and S mbarriers (one per stage, both
// operands' boxes completing on it):
//
//   before the loop:  barrier (the rings may take bytes earlier scratch used);
//                     thread 0 initialises mbarrier s (count 1) for s < S; barrier;
//                     for j < S-1, if iteration j exists: expect_tx(bar j, the stage's bytes),
//                     async_tma_load a and b of iteration j into slot j on bar j
//   iteration it:     wait bar it%S for phase (it/S)&1; the dot reads slot it%S of each ring;
//                     barrier; if iteration it+S-1 exists: expect_tx + the two loads into slot
//                     (it+S-1)%S = (it-1)%S
//   after the loop:   barrier (later buffers may take the rings' bytes)
//
// Phases: slot s completes its f-th fill (f = 0, 1, ..) as phase f, and iteration it consumes
// fill it/S of slot it%S, so it waits for parity (it/S)&1. Each fill is waited for by the one
// iteration that consumes it, and iterations that do not exist issue nothing, so no copy is in
// flight after the loop and no phase is skipped.
//
// The refill point: slot (it-1)%S was read by iteration it-1's wgmma. prepare-dot-operands puts
// `wgmma_wait {pending = 1}` right after the dot (the ring is a TMA ring: wgmma_in_flight.cpp),
// which retires it-1's group in this warpgroup, and the barrier after it does so for every
// warpgroup, so the refill at the end of the body overwrites nothing a wgmma still reads, with
// the full S-1 iterations of lead (the cp.async form gives up one stage for the in-flight group:
// its refill sits at the top of the body, before the dot).
//
// The box layout: TMA writes a box row-major, each 16-byte chunk c of row r at chunk
// c ^ (r / (128 / W)) % (W / 16) for the swizzle span W (lower_tma.cpp's box_offset), which is
// wgmma_shared_layout(box, contiguous = 1) when the box's rows are exactly W bytes. A box with
// rows of n x 128 bytes goes as n column blocks of 128-byte rows, block j at j x rows x 128 bytes
// of the slot (one async_tma_load, n copies, one expect_tx of them all), which is that layout's
// order of the W-byte columns (wgmma reads them through the descriptor's leading byte offset).
// The ring gets
// that layout, the dot reads the slot in place (prepare-dot-operands checks the layout again) and
// a matrix descriptor with the same swizzle mode reads it. No fence.proxy.async: TMA writes
// through the async proxy, which wgmma reads, and the mbarrier wait makes the bytes visible.
#include "codegen/gpu/tma_ring.h"

#include "codegen/gpu/layout_assignment.h"
#include "codegen/gpu/mma_select.h"
#include "codegen/gpu/wgmma_layout.h"
#include "tessel/dtype.h"
#include "tessel/ir/builder.h"
#include "tessel/ir/tensor_desc.h"

#include <fmt/format.h>

#include <algorithm>
#include <map>
#include <optional>
#include <span>

namespace tessel::codegen::gpu {

namespace {

using ir::Op;
using ir::Opcode;
using ir::Value;

constexpr int64_t kSwizzleRepeat = 1024; // the 128-byte mode's 8 x 128-byte pattern

// True when `op` is a reshape that only drops leading dimensions of 1 (a batch's [1, BM, BK]
// box read as the [BM, BK] tile).
bool drops_leading_ones(const Op& op) {
  if (op.opcode() != Opcode::Reshape)
    return false;
  std::span<const int64_t> in = op.operand(0)->type()->dims(), out = op.result()->type()->dims();
  if (in.size() <= out.size())
    return false;
  const size_t lead = in.size() - out.size();
  for (size_t d = 0; d < in.size(); ++d)
    if (d < lead ? in[d] != 1 : in[d] != out[d - lead])
      return false;
  return true;
}

// Where a dot operand comes from: the desc_load (through layout conversions and a reshape that
// drops leading 1s) and the value the ring's slot replaces (the reshape's 2-D result, or the
// desc_load's).
struct BoxSource {
  Op* box = nullptr;
  Value* tile = nullptr;
};

BoxSource box_source(Value* v, const ir::Block& body) {
  Value* tile = nullptr;
  for (Op* def = v->defining_op(); def && def->parent_block() == &body; def = v->defining_op()) {
    if (def->opcode() == Opcode::ConvertLayout) {
      v = def->operand(0);
    } else if (drops_leading_ones(*def)) {
      tile = def->result();
      v = def->operand(0);
    } else {
      break;
    }
  }
  Op* def = v->defining_op();
  if (!def || def->opcode() != Opcode::DescLoad || def->parent_block() != &body ||
      def->attr("tmap").kind != ir::Attr::Kind::Int)
    return {};
  return {def, tile ? tile : def->result()};
}

int64_t box_bytes(const Op& desc) {
  int64_t n = dtype_bytes(desc.result()->type()->element()->dtype());
  for (int64_t d : desc.attr("block").ints)
    n *= d;
  return n;
}

class TmaRing {
public:
  TmaRing(ir::Context& ctx, Op& loop, int stages, const Target& target, int num_warps, bool wgmma)
      : ctx_(ctx), loop_(loop), body_(loop.region(0)), stages_(stages), target_(target),
        num_warps_(num_warps), wgmma_(wgmma), b_(ctx) {}

  TmaRingResult run() {
    std::optional<std::string> why = find_boxes();
    if (boxes_.empty())
      return {};
    if (!why)
      why = check();
    if (why)
      return {false, "no TMA ring: " + *why};
    std::string what =
        fmt::format("TMA ring of {} stages: the boxes at {}, {} ({} bytes per stage)", stages_,
                    boxes_[0]->loc.str(), boxes_[1]->loc.str(), stage_bytes());
    rewrite(); // erases the boxes
    return {true, what};
  }

private:
  // The body's one dot and the desc_loads with a tmap its a and b come from (boxes_ stays empty
  // when neither is one: not a TMA loop).
  std::optional<std::string> find_boxes() {
    for (auto& op : body_.ops()) {
      if (op->opcode() != Opcode::Dot)
        continue;
      if (dot_)
        return "the loop body has two dots";
      dot_ = op.get();
    }
    if (!dot_)
      return std::nullopt;
    std::vector<Op*> boxes;
    for (int i = 0; i < 2; ++i)
      if (BoxSource src = box_source(dot_->operand(i), body_); src.box) {
        boxes.push_back(src.box);
        tiles_.push_back(src.tile);
      }
    if (boxes.empty())
      return std::nullopt;
    boxes_ = boxes;
    if (boxes.size() != 2)
      return "only one of the dot's operands is a TMA box";
    return std::nullopt;
  }

  std::optional<std::string> check() const {
    if (stages_ < 2)
      return std::string("num_stages is 1");
    if (!wgmma_ || !target_.has_wgmma())
      return "the dot is not on wgmma (" + target_.name() + (wgmma_ ? ")" : ", wgmma off)");
    std::string why;
    if (!select_wgmma(*dot_, target_, num_warps_, &why))
      return "the dot is not on wgmma: " + why;
    for (const Op* box : boxes_)
      if (auto w = box_rule(*box))
        return fmt::format("the box at {} {}", box->loc.str(), *w);
    return std::nullopt;
  }

  // A box the ring takes: 2-D, or more with outer dimensions of 1 (a batch's box, read through a
  // reshape to 2-D); rows of exactly its swizzle span, or of several 128-byte spans (TMA copies
  // those as column blocks side by side: lower_tma.cpp), so the TMA pattern is wgmma's; whole
  // 1024-byte swizzle repeats per slot; offsets known at every iteration.
  std::optional<std::string> box_rule(const Op& box) const {
    std::vector<int64_t> block = box.attr("block").ints;
    const int64_t eb = dtype_bytes(box.result()->type()->element()->dtype());
    const int64_t swizzle = box.attr("swizzle").i;
    const bool outer_ones = block.size() >= 2 && std::all_of(block.begin(), block.end() - 2,
                                                             [](int64_t d) { return d == 1; });
    if (!outer_ones || block.size() > 5)
      return fmt::format("has rank {} (the ring takes 2-D boxes, or boxes whose outer dimensions "
                         "are 1)",
                         block.size());
    block.erase(block.begin(), block.end() - 2);
    const int64_t row = block[1] * eb;
    if (swizzle == 0 || !(row == swizzle || (swizzle == 128 && row % 128 == 0)))
      return fmt::format("has {}-byte rows and swizzle {}: wgmma reads a box whose rows are one "
                         "swizzle span (32, 64 or 128 bytes) or 128-byte column blocks",
                         row, swizzle);
    if (box_bytes(box) % kSwizzleRepeat != 0 || block[0] < 8)
      return fmt::format("is {} bytes: a slot must hold whole 1024-byte swizzle patterns",
                         box_bytes(box));
    for (const Value* o : ir::desc_operands(box).offsets)
      if (auto w = why_not_computable(o))
        return "has an offset that " + *w;
    return std::nullopt;
  }

  // Why `v` cannot be recomputed for a later iteration (pure ops of the body from the induction
  // variable and values defined before the loop), or nothing.
  std::optional<std::string> why_not_computable(const Value* v) const {
    if (ir::is_defined_outside(v, loop_) || v == body_.arg(0))
      return std::nullopt;
    if (v->is_block_arg())
      return fmt::format("depends on the body's argument #{} (a loop-carried value)", v->index());
    const Op* def = v->defining_op();
    if (!def->has(ir::PURE) || def->num_regions() != 0 || def->parent_block() != &body_)
      return fmt::format("depends on `{}` at {}", def->name(), def->loc.str());
    for (const Value* operand : def->operands())
      if (auto why = why_not_computable(operand))
        return why;
    return std::nullopt;
  }

  int64_t stage_bytes() const { return box_bytes(*boxes_[0]) + box_bytes(*boxes_[1]); }

  // ---- the rewrite ----

  Value* i32(int64_t v) { return b_.constant_int(ctx_.i32(), v); }
  Value* i64(int64_t v) { return b_.constant_int(ctx_.i64(), v); }
  Value* op1(Opcode opcode, std::vector<Value*> operands, const ir::Type* type) {
    return b_.value(opcode, std::move(operands), type);
  }
  void op0(Opcode opcode, std::vector<Value*> operands, std::vector<ir::Attr> attrs = {}) {
    b_.create(opcode, std::move(operands), std::span<const ir::Type* const>{}, std::move(attrs));
  }
  Value* to_i64(Value* v) {
    return v->type() == ctx_.i64() ? v : op1(Opcode::Cast, {v}, ctx_.i64());
  }

  // The induction variable `d` iterations after `iv` (i32, as the loop's).
  Value* iv_plus(Value* iv, int64_t d) {
    if (d == 0)
      return iv;
    const ir::Type* t = iv->type();
    return op1(Opcode::Add, {iv, op1(Opcode::Mul, {loop_.operand(2), b_.constant_int(t, d)}, t)},
               t);
  }

  // True when the iteration at iv (= iv0 + d*step, in i64 so that it cannot wrap) exists.
  Value* exists(Value* iv0, int64_t d) {
    Value* step = to_i64(loop_.operand(2));
    Value* iv = to_i64(iv0);
    if (d != 0)
      iv = op1(Opcode::Add, {iv, op1(Opcode::Mul, {step, i64(d)}, ctx_.i64())}, ctx_.i64());
    Value* in_range = op1(Opcode::CmpLt, {iv, to_i64(loop_.operand(1))}, ctx_.i1());
    return op1(Opcode::And, {in_range, op1(Opcode::CmpGt, {step, i64(0)}, ctx_.i1())}, ctx_.i1());
  }

  // `v` at the iteration whose induction variable is env[iv]: its slice cloned.
  Value* clone(Value* v, std::map<const Value*, Value*>& env) {
    if (auto it = env.find(v); it != env.end())
      return it->second;
    if (ir::is_defined_outside(v, loop_))
      return v;
    const Op* def = v->defining_op();
    std::vector<Value*> operands;
    for (Value* o : def->operands())
      operands.push_back(clone(o, env));
    std::vector<const ir::Type*> types;
    for (const Value* r : def->results())
      types.push_back(r->type());
    b_.set_location(def->loc);
    Op* copy = b_.create(def->opcode(), operands, types, def->attrs());
    for (size_t i = 0; i < def->num_results(); ++i)
      env[def->result(i)] = copy->result(i);
    return env[v];
  }

  Value* slot(Value* ring, Value* index) {
    return op1(Opcode::LocalSlot, {ring, index}, ring->type());
  }

  // Stage `index` of the iteration whose induction variable is `iv`, issued where `valid` holds:
  // one expect_tx of both boxes' bytes, then each box's copy, all on the stage's mbarrier.
  void issue(Value* iv, Value* valid, Value* index) {
    Op* guard = b_.create(Opcode::If, {valid}, std::span<const ir::Type* const>{});
    {
      ir::InsertionGuard restore(b_);
      b_.set_insertion_point_to_end(guard->region(0));
      Value* bar = slot(bars_, index);
      op0(Opcode::MbarrierExpectTx, {bar}, {ir::Attr::of_int(stage_bytes())});
      std::map<const Value*, Value*> env{{body_.arg(0), iv}};
      for (size_t i = 0; i < boxes_.size(); ++i) {
        std::vector<Value*> operands{slot(rings_[i], index), bar};
        for (Value* o : ir::desc_operands(*boxes_[i]).offsets) {
          Value* c = clone(o, env);
          operands.push_back(c->type() == ctx_.i32() ? c : op1(Opcode::Cast, {c}, ctx_.i32()));
        }
        b_.set_location(boxes_[i]->loc);
        op0(Opcode::AsyncTmaLoad, operands, {boxes_[i]->attr("tmap")});
      }
      op0(Opcode::Yield, {});
      b_.set_insertion_point_to_end(guard->region(1));
      op0(Opcode::Yield, {});
    }
  }

  void make_rings() {
    for (size_t i = 0; i < boxes_.size(); ++i) {
      const ir::Type* t = tiles_[i]->type(); // 2-D: a batch's box has dropped its leading 1
      const std::vector<int32_t> shape{int32_t(t->dims()[0]), int32_t(t->dims()[1])};
      const LinearLayout l = wgmma_shared_layout(shape, 1, int(dtype_bytes(t->element()->dtype())));
      const ir::Type* ring = ctx_.with_layout(t, to_attr(ctx_, l, ir::LayoutKind::Shared));
      b_.set_location(boxes_[i]->loc);
      rings_.push_back(b_.value(Opcode::LocalAlloc, {}, ring,
                                {ir::Attr::of_int(-1), ir::Attr::of_int(stages_)}));
    }
    const ir::Type* bar =
        ctx_.with_layout(ctx_.tensor({1}, ctx_.i64()), ctx_.layout(ir::LayoutKind::Shared, {}));
    b_.set_location(loop_.loc);
    bars_ =
        b_.value(Opcode::LocalAlloc, {}, bar, {ir::Attr::of_int(-1), ir::Attr::of_int(stages_)});
  }

  void prologue() {
    b_.set_location(loop_.loc);
    op0(Opcode::Barrier, {}); // the rings may take bytes that scratch before the loop used
    for (int64_t s = 0; s < stages_; ++s)
      op0(Opcode::MbarrierInit, {slot(bars_, i32(s))}, {ir::Attr::of_int(1)});
    op0(Opcode::Barrier, {}); // no thread waits on an mbarrier before it is initialised
    for (int64_t j = 0; j + 1 < stages_; ++j) {
      b_.set_location(loop_.loc);
      issue(iv_plus(loop_.operand(0), j), exists(loop_.operand(0), j), i32(j));
    }
  }

  // A carried i32 counter of iterations (0, 1, ...): the slots and phases rotate with it.
  Value* add_counter() {
    b_.set_location(loop_.loc);
    std::vector<Value*> operands = loop_.operands();
    operands.push_back(i32(0));
    loop_.set_operands(std::move(operands));
    loop_.add_result(ctx_.i32());
    Value* it = body_.add_arg(ctx_.i32());
    Op* yield = body_.terminator();
    b_.set_insertion_point_before(*yield);
    std::vector<Value*> yielded = yield->operands();
    yielded.push_back(op1(Opcode::Add, {it, i32(1)}, ctx_.i32()));
    yield->set_operands(std::move(yielded));
    return it;
  }

  // Top of the body: wait for this iteration's stage, read its slots. End: refill the slot the
  // previous iteration read.
  void steady_state(Value* it) {
    b_.set_insertion_point(body_, body_.ops().begin());
    b_.set_location(loop_.loc);
    Value* read = op1(Opcode::Rem, {it, i32(stages_)}, ctx_.i32());
    Value* phase =
        op1(Opcode::And, {op1(Opcode::Div, {it, i32(stages_)}, ctx_.i32()), i32(1)}, ctx_.i32());
    op0(Opcode::MbarrierWait, {slot(bars_, read), phase});
    for (size_t i = 0; i < boxes_.size(); ++i) {
      b_.set_location(boxes_[i]->loc);
      Value* tile = op1(Opcode::LocalLoad, {slot(rings_[i], read)}, tiles_[i]->type());
      ir::replace_all_uses(body_, tiles_[i], tile);
    }
    b_.set_insertion_point_before(*body_.terminator());
    b_.set_location(loop_.loc);
    op0(Opcode::Barrier, {}); // every warpgroup retired the wgmma that read slot (it-1)%S
    const int64_t ahead = stages_ - 1;
    Value* write = op1(Opcode::Rem, {op1(Opcode::Add, {it, i32(ahead)}, ctx_.i32()), i32(stages_)},
                       ctx_.i32());
    issue(iv_plus(body_.arg(0), ahead), exists(body_.arg(0), ahead), write);
  }

  // The replaced boxes, their reshapes and conversions, and the pure ops only they used.
  void erase_dead() {
    erase_unused_pure(); // a reshape of a box goes first: it uses the box
    for (Op* box : boxes_)
      body_.erase(box);
    erase_unused_pure();
  }

  void erase_unused_pure() {
    for (bool changed = true; changed;) {
      changed = false;
      for (auto it = body_.ops().begin(); it != body_.ops().end();) {
        Op* op = (it++)->get();
        if (op->has(ir::PURE) && op->num_regions() == 0 && !used(*op)) {
          body_.erase(op);
          changed = true;
        }
      }
    }
  }

  bool used(const Op& op) const {
    bool found = false;
    ir::walk(body_, [&](const Op& user) {
      for (const Value* v : user.operands())
        found = found || v->defining_op() == &op;
    });
    return found;
  }

  void rewrite() {
    b_.set_insertion_point_before(loop_);
    make_rings();
    prologue();
    Value* it = add_counter();
    steady_state(it);
    erase_dead();
    ir::Block* outer = loop_.parent_block();
    b_.set_insertion_point(*outer, std::next(outer->find(&loop_)));
    b_.set_location(loop_.loc);
    op0(Opcode::Barrier, {}); // later buffers may take the rings' bytes
  }

  ir::Context& ctx_;
  Op& loop_;
  ir::Block& body_;
  int64_t stages_;
  const Target& target_;
  int num_warps_;
  bool wgmma_;
  ir::Builder b_;
  Op* dot_ = nullptr;
  std::vector<Op*> boxes_;    // the desc_loads of a and b
  std::vector<Value*> tiles_; // the 2-D values their slots replace
  std::vector<Value*> rings_; // their box rings
  Value* bars_ = nullptr;     // the mbarrier ring
};

} // namespace

TmaRingResult tma_ring(ir::Context& ctx, ir::Op& loop, int num_stages, const Target& target,
                       int num_warps, bool wgmma) {
  return TmaRing(ctx, loop, num_stages, target, num_warps, wgmma).run();
}

bool is_tma_ring(const ir::Block& scope, const ir::Value* ring) {
  bool found = false;
  ir::walk(scope, [&](const Op& op) {
    if (op.opcode() != Opcode::AsyncTmaLoad)
      return;
    const Op* def = op.operand(0)->defining_op();
    found = found || op.operand(0) == ring ||
            (def && def->opcode() == Opcode::LocalSlot && def->operand(0) == ring);
  });
  return found;
}

} // namespace tessel::codegen::gpu
