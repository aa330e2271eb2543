// Warp specialization of the TMA ring (sm_90a, issue 15): a producer warpgroup issues the copies,
// the consumer warpgroups run the wgmmas, and the two meet only at mbarriers.
//
// The TMA ring (tma_ring.cpp) has every warp wait for the stage, run its wgmma, then meet at a
// bar.sync so that thread 0 may refill the slot the previous iteration read: the refill sits on
// every warp's critical path once per iteration. Here the ring the pipeliner built is rewritten:
//
//   before the loop:  the ring's mbarriers become full[s] (count 1: the producer's expect_tx,
//                     completed by the TMA bytes) and a second ring empty[s] (count 4G, one
//                     arrive per consumer warp); the S-1 prologue copies go (the producer
//                     loop issues every stage);
//                     if (warpgroup >= G) {                             // the producer
//                       setmaxnreg.dec; for it: [it >= S] wait empty[it%S] for ((it/S)&1)^1,
//                       expect_tx + the copies of iteration it into slot it%S; exit
//                     }
//                     setmaxnreg.inc                                    // G consumers
//   the loop:         wait full[it%S] for (it/S)&1, the dot (its wgmma_wait {pending = 1}
//                     comes from prepare-dot-operands), then, if it > 0, one thread per
//                     warp arrives on empty[(it-1)%S] (the ring's barrier is gone)
//   after the loop:   as the ring left it; the exited producer counts as arrived at bar.sync.
//
// Phases: full[s] completes its f-th fill as phase f, as in the ring. empty[s] completes its f-th
// phase when all 4G consumer warps retired the wgmma group of iteration f*S + s; the producer's
// fill f of slot s (iteration it = f*S + s, f >= 1) needs phase f-1 of empty[s], parity
// ((it/S)-1)&1 =
// ((it/S)&1)^1; fill 0 needs no wait (nothing read the slot yet). The consumer arrives for
// iteration it-1 at iteration it, after `wgmma_wait {pending = 1}` retired it-1's group: the
// wait for empty[s] at iteration it is answered at consumer iteration it-S+1 <= n-1, so every
// wait the producer makes is answered, and no bar.sync is left in either loop.
//
// The rewrite works on the ring's own IR (the refill `if` moves to the producer loop with the
// slice of the body it reads, the consumer's iteration counter replaced by it - (S-1)), so
// tma_ring.cpp stays the one place that knows how a box is issued.
#include "codegen/gpu/warp_specialize.h"

#include "tessel/error.h"
#include "tessel/ir/builder.h"
#include "tessel/support/dump.h"

#include <fmt/format.h>

#include <algorithm>
#include <functional>
#include <map>
#include <optional>

namespace tessel::codegen::gpu {

namespace {

using ir::Op;
using ir::Opcode;
using ir::Value;

constexpr int kWarpgroupWarps = 4;
constexpr int kWarpgroupThreads = 128;
constexpr int kWarpThreads = 32;
constexpr int kRegisterFile = 65536;                         // 32-bit registers per SM (sm_90)
constexpr std::string_view kProducerMark = "setmaxnreg.dec"; // the producer role's first op

// The pieces of a TMA ring (tma_ring.cpp's IR) around one loop.
struct Ring {
  Op* loop = nullptr;
  Op* wait = nullptr;        // the body's mbarrier_wait on full[it % S]
  Op* refill = nullptr;      // the body's `if` that issues iteration it+S-1
  Op* sync = nullptr;        // the body's barrier before the refill
  Op* bars = nullptr;        // local_alloc of the S mbarriers
  std::vector<Op*> inits;    // mbarrier_init of each
  std::vector<Op*> prologue; // the `if`s that issue iterations 0..S-2
  int64_t stages = 0;
};

bool issues_copies(const Op& op) {
  if (op.opcode() != Opcode::If)
    return false;
  return std::any_of(op.region(0).ops().begin(), op.region(0).ops().end(),
                     [](const auto& o) { return o->opcode() == Opcode::AsyncTmaLoad; });
}

// The alloc whose slot `v` is (local_slot ring, index), or null.
Op* ring_of(const Value* v) {
  const Op* def = v->defining_op();
  if (!def || def->opcode() != Opcode::LocalSlot)
    return nullptr;
  return def->operand(0)->defining_op();
}

// The ring around `loop`, or nothing when the loop is not one tma_ring.cpp built.
std::optional<Ring> find_ring(Op& loop) {
  Ring r;
  r.loop = &loop;
  ir::Block& body = loop.region(0);
  Op* previous = nullptr;
  for (auto& op : body.ops()) {
    if (op->opcode() == Opcode::MbarrierWait && !r.wait)
      r.wait = op.get();
    if (op->opcode() == Opcode::Barrier)
      previous = op.get();
    if (issues_copies(*op)) {
      r.refill = op.get();
      r.sync = previous;
    }
  }
  if (!r.wait || !r.refill || !r.sync)
    return std::nullopt;
  r.bars = ring_of(r.wait->operand(0));
  if (!r.bars || r.bars->opcode() != Opcode::LocalAlloc)
    return std::nullopt;
  r.stages = r.bars->int_attr("slots");
  ir::Block* outer = loop.parent_block();
  for (auto& op : outer->ops()) {
    if (op.get() == &loop)
      break;
    if (op->opcode() == Opcode::MbarrierInit && ring_of(op->operand(0)) == r.bars)
      r.inits.push_back(op.get());
    if (issues_copies(*op) && !r.inits.empty())
      r.prologue.push_back(op.get());
  }
  if (r.inits.size() != size_t(r.stages))
    return std::nullopt;
  return r;
}

class WarpSpecializer {
public:
  WarpSpecializer(ir::Context& ctx, Ring ring, WarpRoles roles)
      : ctx_(ctx), r_(ring), roles_(roles), regs_(role_registers(roles)), b_(ctx) {}

  void run() {
    make_empty_ring();
    for (Op* issue : r_.prologue)
      r_.loop->parent_block()->erase(issue);
    ir::Block* outer = r_.loop->parent_block();
    split_roles();
    erase_dead(r_.loop->region(0));
    erase_dead(*outer); // the prologue's "iteration j exists" arithmetic
  }

private:
  Value* i32(int64_t v) { return b_.constant_int(ctx_.i32(), v); }
  Value* op1(Opcode opcode, std::vector<Value*> operands, const ir::Type* type) {
    return b_.value(opcode, std::move(operands), type);
  }
  void op0(Opcode opcode, std::vector<Value*> operands, std::vector<ir::Attr> attrs = {}) {
    b_.create(opcode, std::move(operands), std::span<const ir::Type* const>{}, std::move(attrs));
  }
  Value* slot(Value* ring, Value* index) {
    return op1(Opcode::LocalSlot, {ring, index}, ring->type());
  }
  // A PTX snippet with no operands; inline_asm_volatile wants one result, `$0` gets it.
  Value* asm_i32(const std::string& text) {
    return b_.value(Opcode::InlineAsmVolatile, {}, ctx_.i32(),
                    {ir::Attr::of_str(text), ir::Attr::of_str("=r"), ir::Attr::of_int(1),
                     ir::Attr::of_int(-1)});
  }
  Op* make_if(Value* cond, std::span<const ir::Type* const> types = {}) {
    return b_.create(Opcode::If, {cond}, types);
  }

  // empty[s]: a second ring of S mbarriers, initialised right after full[s] with one arrival per
  // consumer warp.
  void make_empty_ring() {
    ir::Block* outer = r_.loop->parent_block();
    b_.set_insertion_point(*outer, std::next(outer->find(r_.bars)));
    b_.set_location(r_.bars->loc);
    empty_ = b_.value(Opcode::LocalAlloc, {}, r_.bars->result()->type(), r_.bars->attrs());
    const int64_t arrivals = roles_.consumer_warps; // one per consumer warp
    for (int64_t s = 0; s < r_.stages; ++s) {
      b_.set_insertion_point(*outer, std::next(outer->find(r_.inits[size_t(s)])));
      b_.set_location(r_.inits[size_t(s)]->loc);
      op0(Opcode::MbarrierInit, {slot(empty_, i32(s))}, {ir::Attr::of_int(arrivals)});
    }
  }

  // if (warpgroup >= G) { setmaxnreg.dec; the producer loop; exit } -- then the consumers alone
  // run setmaxnreg.inc, the loop and everything after it. The producer leaves with PTX `exit`:
  // the IR's `return` must end the kernel body, and an exited thread counts as arrived at every
  // later bar.sync over the whole CTA (PTX ISA, `exit`), so the code after the loop needs no
  // barriers of its own.
  void split_roles() {
    Op& loop = *r_.loop;
    b_.set_insertion_point_before(loop);
    b_.set_location(loop.loc);
    tid_ = asm_i32("mov.u32 $0, %tid.x;");
    Value* warpgroup = op1(Opcode::Div, {tid_, i32(kWarpgroupThreads)}, ctx_.i32());
    Value* producer =
        op1(Opcode::CmpGe, {warpgroup, i32(roles_.consumer_warps / kWarpgroupWarps)}, ctx_.i1());
    Op* roles = make_if(producer);
    {
      ir::InsertionGuard restore(b_);
      b_.set_insertion_point_to_end(roles->region(0));
      asm_i32(
          fmt::format("{}.sync.aligned.u32 {};\n\tmov.u32 $0, 0;", kProducerMark, regs_.producer));
      producer_loop();
      b_.set_insertion_point_to_end(roles->region(0));
      b_.set_location(loop.loc);
      asm_i32("mov.u32 $0, 0;\n\texit;");
      op0(Opcode::Yield, {});
      b_.set_insertion_point_to_end(roles->region(1));
      op0(Opcode::Yield, {});
    }
    asm_i32(fmt::format("setmaxnreg.inc.sync.aligned.u32 {};\n\tmov.u32 $0, 0;", regs_.consumer));
    consumer_release();
  }

  // for iv, it: [it >= S] wait empty[it % S] for ((it / S) & 1) ^ 1; issue iteration it.
  void producer_loop() {
    Op& loop = *r_.loop;
    ir::Block& cbody = loop.region(0);
    Op* p = b_.create(Opcode::For, {loop.operand(0), loop.operand(1), loop.operand(2), i32(0)},
                      ctx_.i32());
    ir::Block& body = p->region(0);
    Value* iv = body.add_arg(loop.operand(0)->type());
    Value* it = body.add_arg(ctx_.i32());
    ir::InsertionGuard restore(b_);
    b_.set_insertion_point_to_end(body);
    Value* s = op1(Opcode::Rem, {it, i32(r_.stages)}, ctx_.i32());
    Value* odd =
        op1(Opcode::And, {op1(Opcode::Div, {it, i32(r_.stages)}, ctx_.i32()), i32(1)}, ctx_.i32());
    Op* reuse = make_if(op1(Opcode::CmpGe, {it, i32(r_.stages)}, ctx_.i1()));
    {
      ir::InsertionGuard inner(b_);
      b_.set_insertion_point_to_end(reuse->region(0));
      op0(Opcode::MbarrierWait, {slot(empty_, s), op1(Opcode::Xor, {odd, i32(1)}, ctx_.i32())});
      op0(Opcode::Yield, {});
      b_.set_insertion_point_to_end(reuse->region(1));
      op0(Opcode::Yield, {});
    }
    // The refill issued iteration it'+S-1 at the consumer's iteration it': the producer's
    // iteration it is that for it' = it - (S-1), iv' = iv - (S-1) * step.
    const int64_t ahead = r_.stages - 1;
    std::map<const Value*, Value*> env;
    env[cbody.arg(0)] = op1(
        Opcode::Sub,
        {iv, op1(Opcode::Mul, {loop.operand(2), b_.constant_int(iv->type(), ahead)}, iv->type())},
        iv->type());
    env[cbody.arg(cbody.num_args() - 1)] = op1(Opcode::Sub, {it, i32(ahead)}, ctx_.i32());
    Op* issue = r_.refill;
    remap_region_operands(*issue, cbody, env);
    issue->set_operand(0, b_.constant_int(ctx_.i1(), 1)); // iteration it exists: it is the loop's
    b_.set_insertion_point_to_end(body);
    body.append(cbody.take(issue));
    op0(Opcode::Yield, {op1(Opcode::Add, {it, i32(1)}, ctx_.i32())});
  }

  // Operands of the ops inside `op`'s regions that the consumer body defines, recomputed (cloned
  // at the insertion point) for the producer's iteration.
  void remap_region_operands(Op& op, const ir::Block& cbody, std::map<const Value*, Value*>& env) {
    for (size_t r = 0; r < op.num_regions(); ++r)
      ir::walk(op.region(r), [&](Op& inner) {
        for (size_t i = 0; i < inner.num_operands(); ++i)
          if (defined_in(inner.operand(i), cbody))
            inner.set_operand(i, clone(inner.operand(i), cbody, env));
      });
  }

  static bool defined_in(const Value* v, const ir::Block& block) {
    if (v->is_block_arg())
      return v->owner_block() == &block;
    return v->defining_op()->parent_block() == &block;
  }

  Value* clone(Value* v, const ir::Block& cbody, std::map<const Value*, Value*>& env) {
    if (auto it = env.find(v); it != env.end())
      return it->second;
    if (!defined_in(v, cbody))
      return v;
    const Op* def = v->defining_op();
    if (!def->has(ir::PURE) || def->num_regions() != 0)
      throw Error(fmt::format("warp-specialize: the TMA ring's refill reads `{}` at {}, which the "
                              "producer cannot recompute (a bug in the ring's IR)",
                              def->name(), def->loc.str()));
    std::vector<Value*> operands;
    for (Value* o : def->operands())
      operands.push_back(clone(o, cbody, env));
    std::vector<const ir::Type*> types;
    for (const Value* res : def->results())
      types.push_back(res->type());
    Op* copy = b_.create(def->opcode(), operands, types, def->attrs());
    for (size_t i = 0; i < def->num_results(); ++i)
      env[def->result(i)] = copy->result(i);
    return env[v];
  }

  // The consumer body loses its barrier (nothing refills a slot behind its back any more) and
  // gains, at its end -- after the wgmma_wait {pending = 1} that retires iteration it-1's group --
  // one arrive per warp (lane 0) on empty[(it - 1) % S]. Per warp, not per warpgroup as in
  // CUTLASS: an arrive orders only its own warp's earlier accesses before the producer's next
  // copy (the PTX memory model; the simulator's racecheck reports the other three warps' wgmma
  // reads otherwise), and four arrives per warpgroup cost four shared-memory atomics.
  void consumer_release() {
    ir::Block& body = r_.loop->region(0);
    body.erase(r_.sync);
    Value* it = body.arg(body.num_args() - 1);
    b_.set_insertion_point_before(*body.terminator());
    b_.set_location(r_.loop->loc);
    Value* first =
        op1(Opcode::CmpEq, {op1(Opcode::Rem, {tid_, i32(kWarpThreads)}, ctx_.i32()), i32(0)},
            ctx_.i1());
    Value* cond = op1(Opcode::And, {first, op1(Opcode::CmpGt, {it, i32(0)}, ctx_.i1())}, ctx_.i1());
    Op* release = make_if(cond);
    ir::InsertionGuard restore(b_);
    b_.set_insertion_point_to_end(release->region(0));
    Value* read =
        op1(Opcode::Rem, {op1(Opcode::Add, {it, i32(r_.stages - 1)}, ctx_.i32()), i32(r_.stages)},
            ctx_.i32());
    op0(Opcode::MbarrierArrive, {slot(empty_, read)}, {ir::Attr{}});
    op0(Opcode::Yield, {});
    b_.set_insertion_point_to_end(release->region(1));
    op0(Opcode::Yield, {});
  }

  // Pure ops of `block` that only the moved refill used.
  static void erase_dead(ir::Block& block) {
    for (bool changed = true; changed;) {
      changed = false;
      for (auto it = block.ops().begin(); it != block.ops().end();) {
        Op* op = (it++)->get();
        if (op->has(ir::PURE) && op->num_regions() == 0 && !used(block, *op)) {
          block.erase(op);
          changed = true;
        }
      }
    }
  }

  static bool used(const ir::Block& block, const Op& op) {
    bool found = false;
    ir::walk(block, [&](const Op& user) {
      for (const Value* v : user.operands())
        found = found || v->defining_op() == &op;
    });
    return found;
  }

  ir::Context& ctx_;
  Ring r_;
  WarpRoles roles_;
  RoleRegisters regs_;
  ir::Builder b_;
  Value* empty_ = nullptr; // the empty[s] ring
  Value* tid_ = nullptr;   // %tid.x
};

// An op the producer warpgroup would run too (everything before the loop runs on every warp) and
// that writes memory through the layouts: the producer's warps are outside the layouts, their
// lanes alias warp 0's elements, and the copies would write the same bytes twice (the
// simulator's racecheck reports ops::matmul's accumulator conversion). Such a kernel keeps the
// plain ring until the split moves above that code.
bool writes_through_layouts(const Op& op) {
  switch (op.opcode()) {
  case Opcode::ConvertLayout: // through shared scratch, in general
  case Opcode::Store:
  case Opcode::LocalStore:
  case Opcode::DescStore:
  case Opcode::DescLoad: // a box and its mbarrier in scratch
  case Opcode::ReduceSum:
  case Opcode::ReduceMax:
  case Opcode::ReduceMin:
  case Opcode::ReduceArgmax:
  case Opcode::ReduceArgmin:
  case Opcode::Reduce:
  case Opcode::ScanSum:
  case Opcode::AsyncCopy:
    return true;
  default:
    return op.has(ir::ATOMIC);
  }
}

// Why the ops before `loop` (in program order, from the kernel's start) keep it from being
// specialized, or nothing.
std::optional<std::string> shared_by_the_producer(const ir::Block& body, const Op& loop) {
  std::optional<std::string> why;
  bool done = false;
  std::function<void(const ir::Block&)> visit = [&](const ir::Block& block) {
    for (const auto& op : block.ops()) {
      if (done)
        return;
      if (op.get() == &loop) {
        done = true;
        return;
      }
      if (writes_through_layouts(*op)) {
        why = fmt::format("`{}` at {} before the loop would run on the producer warps too",
                          op->name(), op->loc.str());
        done = true;
        return;
      }
      for (size_t r = 0; r < op->num_regions(); ++r)
        visit(op->region(r));
    }
  };
  visit(body);
  return why;
}

void collect_loops(ir::Block& block, std::vector<Op*>& loops) {
  for (auto& op : block.ops()) {
    for (size_t r = 0; r < op->num_regions(); ++r)
      collect_loops(op->region(r), loops);
    if (op->opcode() == Opcode::For)
      loops.push_back(op.get());
  }
}

} // namespace

void check_warp_roles(const WarpRoles& roles, int num_warps, const std::string& where) {
  auto fail = [&](const std::string& rule) {
    throw Error(fmt::format("{}: warp roles of {} producer and {} consumer warps do not partition "
                            "the warps: {}",
                            where, roles.producer_warps, roles.consumer_warps, rule));
  };
  if (roles.producer_warps % kWarpgroupWarps != 0 || roles.consumer_warps % kWarpgroupWarps != 0)
    fail("each role must be whole warpgroups of 4 warps (wgmma and setmaxnreg act per warpgroup)");
  if (roles.producer_warps != kWarpgroupWarps)
    fail("exactly one producer warpgroup (4 warps) issues the TMA copies");
  if (roles.consumer_warps < kWarpgroupWarps)
    fail("at least one consumer warpgroup must run the wgmmas");
  if (roles.consumer_warps != num_warps)
    fail(fmt::format("the consumers must be the {} warps the kernel's layouts were assigned for "
                     "(num_warps), the producer warpgroup comes on top",
                     num_warps));
}

RoleRegisters role_registers(const WarpRoles& roles) {
  RoleRegisters r;
  const int consumer_threads = roles.consumer_warps * 32;
  const int budget = (kRegisterFile - roles.producer_warps * 32 * r.producer) / consumer_threads;
  r.consumer = std::min(r.consumer, budget / 8 * 8); // setmaxnreg takes multiples of 8
  return r;
}

int producer_warps(const ir::Function& f) {
  int warps = 0;
  ir::walk(f.body, [&](const Op& op) {
    if (op.opcode() != Opcode::If || op.region(0).empty())
      return;
    const Op& first = *op.region(0).ops().front();
    if (first.opcode() == Opcode::InlineAsmVolatile &&
        first.attr("asm").s.starts_with(kProducerMark))
      warps = kWarpgroupWarps;
  });
  return warps;
}

bool warp_specialize_profitable(const Target& target, int num_warps) {
  return target.has_wgmma() && (num_warps == 4 || num_warps == 8);
}

ir::PassInfo warp_specialize_pass(const Target& target, int num_warps, WarpRoles roles) {
  if (!target.has_wgmma())
    throw Error("pass 'warp-specialize' needs sm_90a (wgmma, setmaxnreg), found '" + target.name() +
                "'");
  check_warp_roles(roles, num_warps, "pass 'warp-specialize'");
  auto run = [roles](ir::Module& module, ir::PassStats& stats) {
    for (auto& f : module.functions) {
      std::vector<Op*> loops;
      collect_loops(f->body, loops);
      std::string report;
      for (Op* loop : loops) {
        std::optional<Ring> ring = find_ring(*loop);
        if (!ring)
          continue;
        if (std::optional<std::string> why = shared_by_the_producer(f->body, *loop)) {
          ++stats["loops not warp-specialized"];
          report += fmt::format("loop at {}: not warp-specialized: {}\n", loop->loc.str(), *why);
          continue;
        }
        WarpSpecializer(module.ctx, *ring, roles).run();
        ++stats["loops warp-specialized"];
        report +=
            fmt::format("loop at {}: warp-specialized: 1 producer and {} consumer "
                        "warpgroups, {} stages\n",
                        loop->loc.str(), roles.consumer_warps / kWarpgroupWarps, ring->stages);
      }
      if (!report.empty() && support::dump_enabled("pipeline"))
        support::dump("pipeline", f->name, report);
    }
  };
  return {"warp-specialize",
          "Splits each TMA ring into a producer warpgroup that issues the copies and consumer "
          "warpgroups that run the wgmmas, meeting at full/empty mbarriers.",
          run};
}

} // namespace tessel::codegen::gpu
