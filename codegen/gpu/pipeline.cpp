// The pipeline pass: software pipelining of the global loads that feed a `dot` (or a
// `dot_sparse`) in a `for` loop.
//
// Algorithm, per loop with S = num_stages >= 2 (the loop's `num_stages` attribute, else the
// compile option). A load is pipelined when
//   * its result reaches operand a or b of a dot or a dot_sparse (its compressed values and its
//     dense operand; not its metadata: sparse_metadata_note) in the same body, directly or
//     through convert_layout ops;
//   * its pointer and mask are computed in the body by pure ops from values defined before the
//     loop and from the loop's *inductions*: the induction variable, carried pointer tensors that
//     the body advances by a loop-invariant amount (`yield addptr %p, %inc`), and carried integers
//     advanced so (`yield add %x, %inc`: a block pointer's offsets after tl::advance), %inc defined
//     before the loop or computed in the body from such values only. Such a value is known at any
//     later iteration without running the iterations in between: iteration j's is the same
//     computation with iv = lo + j*step, p = p0 + j*inc and x = x0 + j*inc. A load whose address
//     depends on another carried value (the previous iteration's results) or on another load is not
//     pipelined;
//   * its `other` is absent or zero (cp.async zero-fills masked elements), it reads global memory,
//     and its copies move 4, 8 or 16 bytes (cp.async's sizes): a thread's run of contiguous
//     registers, within the pointer's contiguity and alignment and over which the mask is
//     constant or a prefix mask (prefix_mask.h: a ragged edge `k < K`; the copy's src-size is
//     then the bytes of the run's unmasked prefix, so 16-bit tiles keep 16-byte copies there).
// Rewrite: one ring `local_alloc {slots = S}` per load, its #shared layout the tile with the
// copies' contiguous dim fastest, swizzled by choose_swizzle for the cp.async writes and the
// local_load reads (both in the load's layout);
// before the loop, a barrier (the rings may take bytes that scratch before the loop used, and a
// copy may land while a slower warp still reads them), then copies for iterations 0..S-2, each
// masked by "the iteration exists" so that short loops read nothing they should not, one commit
// group per iteration; in the body
//     async_wait {pending = S-2}; barrier; local_load slot it%S (the load's type, so the dot's
//     operand path is unchanged); async_copy for iteration it+S-1 into slot (it+S-1)%S; commit
// with `it` a new carried i32 counter; after the loop async_wait {pending = 0} and a barrier, so
// that no copy (all of them masked off by then) is in flight and no warp still reads a ring when
// later ops reuse its bytes.
// On sm_90a, when the loop's dot will keep one wgmma group in flight into the next iteration
// (keeps_wgmma_in_flight, wgmma_in_flight.h), the copies run D = S-2 iterations ahead instead of
// S-1 (the slot of iteration i-1 is still being read at the top of iteration i): the prologue
// issues 0..D-1, the body waits with pending = D-1 and fills slot (it+D)%S.
// Wait counts: at the top of iteration i, S-1+i groups were committed and group i must be
// complete, so S-2 may stay in flight. The barrier after the wait makes every thread's copies
// visible and orders the previous iteration's reads of slot (i-1)%S before this iteration's copy
// into it. TESSEL_DUMP=pipeline prints, per loop, what was done or why not.
#include "codegen/gpu/pipeline.h"

#include "codegen/analysis/axis_info.h"
#include "codegen/gpu/layout_assignment.h"
#include "codegen/gpu/prefix_mask.h"
#include "codegen/gpu/swizzle.h"
#include "codegen/gpu/tma_ring.h"
#include "codegen/gpu/wgmma_in_flight.h"
#include "tessel/error.h"
#include "tessel/ir/builder.h"
#include "tessel/support/dump.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <map>
#include <optional>

namespace tessel::codegen::gpu {

namespace {

using ir::Op;
using ir::Opcode;
using ir::Value;

// A value of the loop known at every iteration j: start + j * inc (addptr for pointers).
struct Induction {
  Value* arg;   // the body's block argument
  Value* start; // its value at iteration 0 (outside the loop)
  Value* inc;   // per iteration, defined outside the loop
};

struct Candidate {
  Op* load;
  int vec;
  std::vector<int> order; // the tile's dims in the ring, fastest last
  detail::Swizzle swizzle;
  int dim = 0;         // the dimension each copy's run goes along
  bool prefix = false; // the mask varies inside a run (a prefix mask): copies take byte counts
};

// Also through the ops that only move a value (assign-layouts converts the `other` of a load
// whose layout is not the default one, e.g. a column-major operand's).
bool is_zero_constant(const Value* v) {
  const Op* def = v->defining_op();
  if (def && (def->opcode() == Opcode::ConvertLayout || def->opcode() == Opcode::Splat ||
              def->opcode() == Opcode::Broadcast))
    return is_zero_constant(def->operand(0));
  if (!def || def->opcode() != Opcode::Constant)
    return false;
  const ir::Attr& a = def->attrs()[0];
  return a.kind == ir::Attr::Kind::Int ? a.i == 0 : a.f == 0.0 && !std::signbit(a.f);
}

// The #shared layout of a tile stored with its dims in `order` (order.back() fastest, so that a
// thread's contiguous run stays contiguous) and swizzled by `s`: physical index bit j holds the
// element whose index, row-major over the permuted shape, is s.apply(1 << j) (the swizzle is an
// involution: it moves only bank bits, by amounts that depend only on row bits it leaves alone).
const ir::LayoutAttr* shared_attr(ir::Context& ctx, const std::vector<int64_t>& shape,
                                  const std::vector<int>& order, const detail::Swizzle& s) {
  int64_t numel = 1;
  for (int64_t d : shape)
    numel *= d;
  ir::LayoutAttr::Bases bases;
  for (int64_t bit = 1; bit < numel; bit <<= 1) {
    int64_t flat = s.apply(bit);
    std::vector<int32_t> coord(shape.size());
    for (size_t i = order.size(); i-- > 0;) {
      const int64_t d = shape[order[i]];
      coord[order[i]] = static_cast<int32_t>(flat % d);
      flat /= d;
    }
    bases[0].push_back(coord);
  }
  return ctx.layout(ir::LayoutKind::Shared, bases);
}

// A dot and a dot_sparse stream operands a and b through rings: a dot_sparse's a is the
// compressed M x K/2 values tile and b the dense K x N tile, which prepare-dot-operands reads from
// the rings as it reads a dense dot's (the k32 mma.sp fragments are the dense k16 ones of those
// tiles, sparse_layouts.h). Its metadata (operand 3) is not ringed: see sparse_metadata_note.
bool takes_ring_operands(const Op& op) {
  return op.opcode() == Opcode::Dot || op.opcode() == Opcode::DotSparse;
}

class LoopPipeliner {
public:
  LoopPipeliner(ir::Context& ctx, Op& loop, int stages, const Target& target,
                const analysis::AxisAnalysis& axis, int num_warps, bool wgmma)
      : ctx_(ctx), loop_(loop), body_(loop.region(0)), stages_(stages), distance_(stages - 1),
        target_(target), axis_(axis), num_warps_(num_warps), wgmma_(wgmma), b_(ctx) {}

  // What happened, for TESSEL_DUMP=pipeline; `pipelined` tells whether the loop was rewritten.
  std::string run(bool& pipelined) {
    pipelined = false;
    if (stages_ < 2)
      return "not pipelined: num_stages is 1";
    if (!target_.has_cp_async())
      return "not pipelined: " + target_.name() + " has no cp.async (sm_80 or later)";
    find_inductions();
    std::vector<Op*> loads;
    if (!feeding_loads(loads))
      return "not pipelined: no dot or dot_sparse in the loop body";
    if (loads.empty())
      return "not pipelined: no operand of a dot comes from a global load in the loop body";
    std::string rejected;
    for (Op* load : loads) {
      std::optional<std::string> why = check(*load);
      if (why)
        rejected += fmt::format("; the load at {} stays: {}", load->loc.str(), *why);
      else
        candidates_.push_back(plan_candidate(*load));
    }
    if (candidates_.empty())
      return "not pipelined" + rejected;
    std::string which;
    for (const Candidate& c : candidates_)
      which += fmt::format("{}{} ({}-byte copies)", which.empty() ? "" : ", ", c.load->loc.str(),
                           c.vec * elem_bytes(*c.load));
    std::vector<Op*> streamed;
    for (const Candidate& c : candidates_)
      streamed.push_back(c.load);
    const bool in_flight =
        keeps_wgmma_in_flight(loop_, streamed, stages_, target_, num_warps_, wgmma_);
    if (in_flight)
      distance_ = stages_ - 2;
    rewrite(); // erases the loads
    pipelined = true;
    return fmt::format("pipelined with {} stages: the loads at {}{}{}{}", stages_, which,
                       in_flight ? " (copies S-2 iterations ahead: one wgmma group stays in flight)"
                                 : "",
                       rejected, sparse_metadata_note());
  }

private:
  static int64_t elem_bytes(const Op& load) {
    return std::max(1u, load.result()->type()->element_bits() / 8);
  }

  // Why a dot_sparse's metadata stays a load in the body, for the dump: the tile is 1/16 of the
  // weight bytes, its words pass through a validity check in registers before mma.sp may read
  // them (ops::matmul_sparse_2_4 replaces an invalid word), so its load is not one that reaches
  // the dot through layout conversions only, and prepare-dot-operands stages it with one barrier
  // of its own (the ring's wait-barrier orders the previous iteration's reads before the store).
  std::string sparse_metadata_note() const {
    std::string note;
    for (auto& op : body_.ops())
      if (op->opcode() == Opcode::DotSparse)
        note += fmt::format("; the metadata of the dot_sparse at {} is not ringed (read from "
                            "registers, staged for mma.sp by prepare-dot-operands)",
                            op->loc.str());
    return note;
  }

  // The induction variable and the carried values advanced by an invariant amount (step_of).
  void find_inductions() {
    inductions_.push_back({body_.arg(0), loop_.operand(0), loop_.operand(2)});
    const Op* yield = body_.terminator();
    for (size_t k = 0; k + 1 < body_.num_args(); ++k) {
      Value* arg = body_.arg(k + 1);
      if (Value* inc = step_of(yield->operand(k)->defining_op(), arg))
        inductions_.push_back({arg, loop_.operand(3 + k), inc});
    }
  }

  // What the body adds to the carried `arg` each iteration when it yields `next` = `addptr %arg,
  // %inc` (a carried pointer tensor, Triton's style) or `add %arg, %inc` / `add %inc, %arg` (a
  // carried integer: tl::advance keeps a block pointer's offsets so, dsl/block_ptr.cpp), with %inc
  // loop-invariant; null otherwise. Integers only: start + j*inc equals j repeated adds exactly
  // (also where i32 wraps: both are modulo 2^32); a float sum would round differently.
  Value* step_of(const Op* next, const Value* arg) const {
    if (!next)
      return nullptr;
    if (next->opcode() == Opcode::AddPtr)
      return next->operand(0) == arg && is_invariant(next->operand(1)) ? next->operand(1) : nullptr;
    if (next->opcode() != Opcode::Add || !arg->type()->is_integer())
      return nullptr;
    for (size_t i = 0; i < 2; ++i)
      if (next->operand(i) == arg && is_invariant(next->operand(1 - i)))
        return next->operand(1 - i);
    return nullptr;
  }

  // True when `v` is the same at every iteration: defined before the loop, or computed in the body
  // by pure ops from such values (the tracer records `advance(p, {0, BK})`'s BK as a constant
  // where advance is called, in the body). invariant_here() recreates the latter where needed.
  bool is_invariant(const Value* v) const {
    if (ir::is_defined_outside(v, loop_))
      return true;
    const Op* def = v->defining_op();
    if (!def || def->parent_block() != &body_ || !def->has(ir::PURE) || def->num_regions() != 0)
      return false;
    return std::ranges::all_of(def->operands(), [&](const Value* o) { return is_invariant(o); });
  }

  const Induction* induction(const Value* v) const {
    for (const Induction& i : inductions_)
      if (i.arg == v)
        return &i;
    return nullptr;
  }

  // The loads in the body whose results reach a dot's (or a dot_sparse's) a or b; false when there
  // is neither.
  bool feeding_loads(std::vector<Op*>& loads) const {
    bool any_dot = false;
    for (auto& op : body_.ops()) {
      if (!takes_ring_operands(*op))
        continue;
      any_dot = true;
      for (size_t i = 0; i < 2; ++i) {
        Op* def = op->operand(i)->defining_op();
        while (def && def->opcode() == Opcode::ConvertLayout && def->parent_block() == &body_)
          def = def->operand(0)->defining_op();
        if (def && def->opcode() == Opcode::Load && def->parent_block() == &body_ &&
            std::find(loads.begin(), loads.end(), def) == loads.end())
          loads.push_back(def);
      }
    }
    return any_dot;
  }

  // Why `v` cannot be computed for a later iteration, or nothing when it can.
  std::optional<std::string> why_not_computable(const Value* v) const {
    if (ir::is_defined_outside(v, loop_) || induction(v))
      return std::nullopt;
    if (v->is_block_arg())
      return fmt::format("its address depends on the body's argument #{} (a loop-carried value, "
                         "which the previous iteration computes)",
                         v->index());
    const Op* def = v->defining_op();
    if (def->opcode() == Opcode::Load)
      return fmt::format("its address depends on the load at {}", def->loc.str());
    if (!def->has(ir::PURE) || def->num_regions() != 0 || def->parent_block() != &body_)
      return fmt::format("its address depends on `{}` at {}, which cannot be recomputed for a "
                         "later iteration",
                         def->name(), def->loc.str());
    for (const Value* operand : def->operands())
      if (auto why = why_not_computable(operand))
        return why;
    return std::nullopt;
  }

  std::optional<std::string> check(const Op& load) const {
    const ir::Type* ptr = load.operand(0)->type();
    if (ptr->rank() == 0 || ptr->element()->address_space() != 1 || !ptr->layout())
      return std::string("it is not a tensor load from global memory with a layout");
    if (load.num_operands() > 2 && !is_zero_constant(load.operand(2)))
      return std::string("its `other` is not zero (cp.async fills masked elements with zeros)");
    for (size_t i = 0; i < std::min<size_t>(2, load.num_operands()); ++i)
      if (auto why = why_not_computable(load.operand(i)))
        return why;
    const int64_t bytes = copy_width(load) * elem_bytes(load);
    if (bytes < 4)
      return fmt::format("its accesses move {} bytes per thread (alignment, contiguity or the "
                         "mask allow no more) and cp.async copies 4, 8 or 16",
                         bytes);
    return std::nullopt;
  }

  // The elements one cp.async of `load` may move: its synchronous `vec` (access_width) ignores
  // that a ragged edge's mask is a prefix of each run, which src-size handles.
  int copy_width(const Op& load) const {
    const ir::Type* ptrs = load.operand(0)->type();
    const LinearLayout l = from_attr(*ptrs->layout(), ptrs->dims());
    const int dim = vector_dim(l);
    return std::max(access_width(load),
                    prefix_copy_width(load, dim, l.contiguous_registers(dim), axis_));
  }

  // The copy width, the ring's dim order (the copies' contiguous dim fastest) and its swizzle:
  // cp.async writes and local_load reads, both in the load's layout, conflict-free where
  // choose_swizzle finds a way. The swizzle is chosen over the tile with its dims in that order.
  Candidate plan_candidate(Op& load) const {
    const int64_t eb = elem_bytes(load);
    const ir::Type* t = load.result()->type();
    const ir::Type* ptrs = load.operand(0)->type();
    // The copy width, along the dimension the pointer's registers run.
    const int width = copy_width(load);
    const int dim = vector_dim(from_attr(*ptrs->layout(), ptrs->dims()));
    std::vector<int> order;
    for (int d = 0; d < static_cast<int>(t->rank()); ++d)
      if (d != dim)
        order.push_back(d);
    order.push_back(dim);
    const LinearLayout layout = from_attr(*t->layout(), t->dims()).permute(order);
    detail::AccessSide write{&layout, width, /*store=*/true, /*owners_only=*/true, {}};
    detail::AccessSide read{&layout,
                            detail::access_vector(layout, eb),
                            /*store=*/false,
                            /*owners_only=*/false,
                            {}};
    detail::Swizzle s = detail::choose_swizzle(write, read, t->num_elements(), eb);
    // The swizzle must keep each copy's run contiguous; else copy unswizzled at the planned width.
    Candidate c{&load, write.vec, order, s, dim};
    if (write.vec * eb < 4 || (int64_t(1) << s.vec_bits) < write.vec)
      c = {&load, width, order, detail::Swizzle{}, dim};
    c.prefix = load.num_operands() > 1 && axis_.info(load.operand(1)).constancy[dim] < c.vec;
    return c;
  }

  // ---- the rewrite ----

  Value* i32(int64_t v) { return b_.constant_int(ctx_.i32(), v); }
  Value* i64(int64_t v) { return b_.constant_int(ctx_.i64(), v); }
  Value* op1(Opcode opcode, std::vector<Value*> operands, const ir::Type* type) {
    return b_.value(opcode, std::move(operands), type);
  }
  Value* to_i64(Value* v) {
    return v->type() == ctx_.i64() ? v : op1(Opcode::Cast, {v}, ctx_.i64());
  }

  // True when iteration `iv` (computed as iv0 + d*step, in i64 so it cannot wrap) exists.
  Value* exists(Value* iv0, int64_t d, bool check_step) {
    Value* step = to_i64(loop_.operand(2));
    Value* iv = to_i64(iv0);
    if (d != 0)
      iv = op1(Opcode::Add, {iv, op1(Opcode::Mul, {step, i64(d)}, ctx_.i64())}, ctx_.i64());
    Value* in_range = op1(Opcode::CmpLt, {iv, to_i64(loop_.operand(1))}, ctx_.i1());
    if (!check_step)
      return in_range;
    return op1(Opcode::And, {in_range, op1(Opcode::CmpGt, {step, i64(0)}, ctx_.i1())}, ctx_.i1());
  }

  // Each induction's value `d` iterations after `base` (iv: base(iv); pointers: base(p)).
  std::map<const Value*, Value*> shifted(int64_t d, bool from_start) {
    std::map<const Value*, Value*> env;
    for (const Induction& ind : inductions_) {
      Value* base = from_start ? ind.start : ind.arg;
      if (d == 0) {
        env[ind.arg] = base;
        continue;
      }
      Value* inc = invariant_here(ind.inc);
      const ir::Type* t = inc->type();
      Value* delta = op1(Opcode::Mul, {inc, b_.constant_int(t, d)}, t);
      env[ind.arg] = op1(base->type()->is_pointer_like() ? Opcode::AddPtr : Opcode::Add,
                         {base, delta}, base->type());
    }
    return env;
  }

  // `v` at the iteration `env` describes: the ops of its slice cloned with the inductions replaced.
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

  // `v` (is_invariant) at the builder's insertion point, before the loop or at the top of the
  // body: itself when defined before the loop, else its slice of the body cloned there (the body's
  // own ops may come after the point, e.g. advance's constant after the loads).
  Value* invariant_here(Value* v) {
    std::map<const Value*, Value*> none;
    return clone(v, none);
  }

  Value* splat_int(const ir::Type* like, int64_t v) {
    const ir::Type* elem = like->element();
    return op1(Opcode::Splat, {b_.constant_int(elem, v)}, like);
  }

  // For prefix mask `mask` (prefix_mask.h) at the iteration `env` describes: at each element,
  // how many elements from it on, up to `vec`, are unmasked -- at a run's first element, the
  // length of the run's unmasked prefix. Built on the structure is_prefix_mask proved: an i1
  // constant over the run gives vec or 0, x < y gives clamp(y - x, 0, vec) (x <= y: y - x + 1),
  // a & b the smaller count; convert_layout and broadcast carry the count along.
  Value* unmasked_run(Value* mask, const Candidate& c, std::map<const Value*, Value*>& env) {
    const ir::Type* counts = ctx_.with_element(mask->type(), ctx_.i32());
    if (axis_.info(mask).constancy[c.dim] >= c.vec)
      return op1(Opcode::Select, {clone(mask, env), splat_int(counts, c.vec), splat_int(counts, 0)},
                 counts);
    const Op* def = mask->defining_op();
    TESSEL_ASSERT(def, "a prefix mask that is a block argument");
    switch (def->opcode()) {
    case Opcode::ConvertLayout:
    case Opcode::Broadcast:
      return op1(def->opcode(), {unmasked_run(def->operand(0), c, env)}, counts);
    case Opcode::ExpandDims:
      return expanded_run(*def, c, env);
    case Opcode::And:
      return op1(Opcode::Min,
                 {unmasked_run(def->operand(0), c, env), unmasked_run(def->operand(1), c, env)},
                 counts);
    case Opcode::CmpLt:
    case Opcode::CmpLe:
      return run_below(def->operand(0), def->operand(1), def->opcode() == Opcode::CmpLe, c, env);
    case Opcode::CmpGt:
    case Opcode::CmpGe:
      return run_below(def->operand(1), def->operand(0), def->opcode() == Opcode::CmpGe, c, env);
    default:
      TESSEL_UNREACHABLE("is_prefix_mask accepts no other op");
    }
  }

  // unmasked_run through an expand_dims: the operand's counts along its dimension for the run's,
  // expanded the same way (a box's in-bounds test of expand-tensor-descriptors is 1-D).
  Value* expanded_run(const Op& expand, const Candidate& c, std::map<const Value*, Value*>& env) {
    Candidate inner = c;
    inner.dim = expanded_from(expand, c.dim);
    Value* counts = unmasked_run(expand.operand(0), inner, env);
    return b_.value(Opcode::ExpandDims, {counts},
                    ctx_.with_element(expand.result()->type(), ctx_.i32()), expand.attrs());
  }

  // clamp(y - x (+ 1 when `inclusive`), 0, vec) in i64 (so that y - x cannot wrap), as i32.
  Value* run_below(Value* x, Value* y, bool inclusive, const Candidate& c,
                   std::map<const Value*, Value*>& env) {
    const ir::Type* t = ctx_.with_element(x->type(), ctx_.i64());
    auto wide = [&](Value* v) { return v->type() == t ? v : op1(Opcode::Cast, {v}, t); };
    Value* left = op1(Opcode::Sub, {wide(clone(y, env)), wide(clone(x, env))}, t);
    if (inclusive)
      left = op1(Opcode::Add, {left, splat_int(t, 1)}, t);
    left = op1(Opcode::Min, {op1(Opcode::Max, {left, splat_int(t, 0)}, t), splat_int(t, c.vec)}, t);
    return op1(Opcode::Cast, {left}, ctx_.with_element(t, ctx_.i32()));
  }

  // The copies of one iteration (described by `env`, existing where `valid` holds) into `slot`.
  // A copy under a prefix mask takes, instead of the mask, the bytes it reads (its src-size).
  void issue(std::map<const Value*, Value*>& env, Value* valid, Value* slot) {
    for (size_t c = 0; c < candidates_.size(); ++c) {
      const Candidate& cand = candidates_[c];
      Op& load = *cand.load;
      Value* ptrs = clone(load.operand(0), env);
      const ir::Type* mask_type = ctx_.with_element(ptrs->type(), ctx_.i1());
      b_.set_location(load.loc);
      Value* mask = op1(Opcode::Splat, {valid}, mask_type);
      if (cand.prefix) {
        const ir::Type* counts = ctx_.with_element(ptrs->type(), ctx_.i32());
        Value* bytes =
            op1(Opcode::Mul,
                {unmasked_run(load.operand(1), cand, env), splat_int(counts, elem_bytes(load))},
                counts);
        mask = op1(Opcode::Select, {mask, bytes, splat_int(counts, 0)}, counts);
      } else if (load.num_operands() > 1) {
        mask = op1(Opcode::And, {clone(load.operand(1), env), mask}, mask_type);
      }
      Value* view = op1(Opcode::LocalSlot, {rings_[c], slot}, rings_[c]->type());
      b_.create(Opcode::AsyncCopy, {ptrs, view, mask}, std::span<const ir::Type* const>{},
                {ir::Attr::of_int(cand.vec)});
    }
    b_.create(Opcode::AsyncCommit, {}, std::span<const ir::Type* const>{});
  }

  void make_rings() {
    for (const Candidate& c : candidates_) {
      const ir::Type* t = c.load->result()->type();
      std::vector<int64_t> shape(t->dims().begin(), t->dims().end());
      const ir::Type* ring = ctx_.with_layout(t, shared_attr(ctx_, shape, c.order, c.swizzle));
      b_.set_location(c.load->loc);
      rings_.push_back(b_.value(Opcode::LocalAlloc, {}, ring,
                                {ir::Attr::of_int(-1), ir::Attr::of_int(stages_)}));
    }
  }

  void prologue() {
    // The rings may reuse the bytes of scratch that ops before the loop used (allocate-shared:
    // their live ranges end there), and a thread's copies can land while a slower warp still
    // reads that scratch; every warp must be past those reads first.
    b_.set_location(loop_.loc);
    b_.create(Opcode::Barrier, {}, std::span<const ir::Type* const>{});
    for (int64_t j = 0; j < distance_; ++j) {
      b_.set_location(loop_.loc);
      std::map<const Value*, Value*> env = shifted(j, /*from_start=*/true);
      Value* valid = exists(loop_.operand(0), j, /*check_step=*/true);
      issue(env, valid, i32(j));
    }
  }

  // A carried i32 counter of iterations (0, 1, ...): the slots rotate with it.
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

  void steady_state(Value* it) {
    b_.set_insertion_point(body_, body_.ops().begin());
    b_.set_location(loop_.loc);
    b_.create(Opcode::AsyncWait, {}, std::span<const ir::Type* const>{},
              {ir::Attr::of_int(distance_ - 1)});
    b_.create(Opcode::Barrier, {}, std::span<const ir::Type* const>{});
    Value* read = op1(Opcode::Rem, {it, i32(stages_)}, ctx_.i32());
    for (size_t c = 0; c < candidates_.size(); ++c) {
      Op& load = *candidates_[c].load;
      b_.set_location(load.loc);
      Value* view = op1(Opcode::LocalSlot, {rings_[c], read}, rings_[c]->type());
      Value* tile = op1(Opcode::LocalLoad, {view}, load.result()->type());
      ir::replace_all_uses(body_, load.result(), tile);
    }
    b_.set_location(loop_.loc);
    Value* write =
        op1(Opcode::Rem, {op1(Opcode::Add, {it, i32(distance_)}, ctx_.i32()), i32(stages_)},
            ctx_.i32());
    std::map<const Value*, Value*> env = shifted(distance_, /*from_start=*/false);
    issue(env, exists(body_.arg(0), distance_, /*check_step=*/false), write);
  }

  // The replaced loads and the ops only they used.
  void erase_dead() {
    for (const Candidate& c : candidates_)
      body_.erase(c.load);
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
    b_.create(Opcode::AsyncWait, {}, std::span<const ir::Type* const>{}, {ir::Attr::of_int(0)});
    // Later buffers may take the rings' bytes; every warp must be done reading them.
    b_.create(Opcode::Barrier, {}, std::span<const ir::Type* const>{});
  }

  ir::Context& ctx_;
  Op& loop_;
  ir::Block& body_;
  int64_t stages_;
  int64_t distance_; // how many iterations ahead the copies run: S-1, or S-2 (wgmma in flight)
  const Target& target_;
  const analysis::AxisAnalysis& axis_; // of the function before this loop's rewrite
  int num_warps_;
  bool wgmma_;
  ir::Builder b_;
  std::vector<Induction> inductions_;
  std::vector<Candidate> candidates_;
  std::vector<Value*> rings_;
};

// Every `for` of `f`, innermost first (a pipelined inner loop is rewritten before its parent is
// looked at; the parent finds no dot of its own body and stays).
void collect_loops(ir::Block& block, std::vector<Op*>& loops) {
  for (auto& op : block.ops()) {
    for (size_t r = 0; r < op->num_regions(); ++r)
      collect_loops(op->region(r), loops);
    if (op->opcode() == Opcode::For)
      loops.push_back(op.get());
  }
}

void pipeline_function(ir::Module& module, ir::Function& f, const Target& target, int num_warps,
                       int num_stages, bool wgmma, ir::PassStats& stats) {
  std::vector<Op*> loops;
  collect_loops(f.body, loops);
  if (loops.empty())
    return;
  if (f.shared_bytes >= 0)
    throw Error(fmt::format("kernel `{}`: pass 'pipeline' must run before 'allocate-shared' (its "
                            "rings need offsets): --passes=assign-layouts,pipeline,allocate-shared",
                            f.name));
  std::string report;
  for (Op* loop : loops) {
    const ir::Attr& own = loop->attr("num_stages");
    const int stages = own.kind == ir::Attr::Kind::Int ? static_cast<int>(own.i) : num_stages;
    bool pipelined = false;
    // Descriptor boxes a wgmma dot reads go through a TMA ring (tma_ring.h), the rest as below.
    TmaRingResult ring = tma_ring(module.ctx, *loop, stages, target, num_warps, wgmma);
    // Fresh per loop: a rewrite adds values an earlier analysis does not know.
    const analysis::AxisAnalysis axis(f);
    std::string what =
        ring.ringed ? ring.what
                    : LoopPipeliner(module.ctx, *loop, stages, target, axis, num_warps, wgmma)
                          .run(pipelined);
    pipelined = pipelined || ring.ringed;
    if (!ring.ringed && !ring.what.empty())
      what += "; " + ring.what;
    ++stats[pipelined ? "loops pipelined" : "loops not pipelined"];
    report += fmt::format("loop at {}: {}\n", loop->loc.str(), what);
  }
  if (support::dump_enabled("pipeline"))
    support::dump("pipeline", f.name, report);
}

} // namespace

ir::PassInfo pipeline_pass(const Target& target, int num_warps, int num_stages, bool wgmma) {
  if (!target.is_nvptx())
    throw Error("pass 'pipeline' needs an NVPTX target (e.g. --target sm_80), found '" +
                target.name() + "'");
  auto run = [target, num_warps, num_stages, wgmma](ir::Module& module, ir::PassStats& stats) {
    for (auto& f : module.functions)
      pipeline_function(module, *f, target, num_warps, num_stages, wgmma, stats);
  };
  return {"pipeline",
          "Streams the global loads that feed a dot (or a dot_sparse's a and b) in a for loop "
          "through a ring of num_stages "
          "shared buffers filled by cp.async for iteration i+S-1 while iteration i computes.",
          run};
}

} // namespace tessel::codegen::gpu
