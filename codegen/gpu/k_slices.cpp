// The k-slices pass: register double-buffering of the next k-slice of a pipelined mma.sync loop,
// so that the ldmatrix of slice j+1 overlaps the mma of slice j (CUTLASS's sm_80 mainloop does
// the same; this is written from the plan in docs/gpu_codegen.md, not from its code).
//
// The form it rewrites, as pipeline and prepare-dot-operands leave it (S stages, P = S-2):
//     ^(iv, acc, .., it):  async_wait {pending = P}; barrier
//                          sa = local_slot ra, it % S;  a = local_load sa : MxK #dot_op
//                          sb = local_slot rb, it % S;  b = local_load sb : KxN #dot_op
//                          (copies for iteration it+S-1, commit)
//                          d = dot a, b, acc : #mma;  yield d, .., it + 1
// With k the instruction's K and n = K / k >= 2, it becomes
//     before the loop:     async_wait {pending = P}; barrier
//                          a0 = local_load (local_slot ra, 0) {offsets = [0, 0]} : Mxk
//                          b0 = local_load (local_slot rb, 0) {offsets = [0, 0]} : kxN
//     ^(iv, acc, .., it, a0, b0):  sa, sb, copies, commit as before
//                          a1 = local_load sa {offsets = [0, k]};  b1 = .. {[k, 0]}
//                          d0 = dot a0, b0, acc
//                          ..  (slice j+1's loads, then slice j's dot)
//                          async_wait {pending = P}; barrier
//                          a0' = local_load (local_slot ra, (it+1) % S) {[0, 0]}; b0' likewise
//                          d = dot a(n-1), b(n-1), d(n-2);  yield d, .., it + 1, a0', b0'
// Wait counts: the moved wait sits after the iteration's commit, where (as at the top of the next
// iteration before) S-1+it+1 groups were committed and group it+1 must be complete: pending stays
// P. The moved barrier follows every read of slot it % S (slices 1..n-1 here, slice 0 in the
// iteration before), so it still orders them before the next iteration's copies into that slot;
// the pre-loop pair is the old top-of-iteration-0 pair. The last iteration's carried slices read
// the slot of an iteration that does not exist, which the masked copies zero-filled (complete by
// the same wait): nothing reads memory the copies have not written.
//
// When it applies: the loop's dot is on mma.sync (an #mma result; wgmma reads its operands from
// shared memory itself), a and b are whole-tile local_loads of slots of two rings at the same
// `it % S`, used by the dot alone, and n >= 2. Registers: each operand's fragments live are then
// at most two slices (the current and the next) where the old form held all n, so no config holds
// more fragment registers than before; n = 1 would carry the whole tile across the back-edge
// (twice the fragments) and stays as it is. TESSEL_DUMP=pipeline says, per loop, what was done.
#include "codegen/gpu/k_slices.h"

#include "codegen/gpu/byte_transpose.h"
#include "codegen/gpu/layout_assignment.h"
#include "codegen/gpu/mma_layout.h"
#include "codegen/gpu/mma_select.h"
#include "tessel/error.h"
#include "tessel/ir/builder.h"
#include "tessel/support/dump.h"

#include <fmt/format.h>

#include <optional>

namespace tessel::codegen::gpu {

namespace {

using ir::Op;
using ir::Opcode;
using ir::Value;

int64_t uses_in(ir::Block& scope, const Value* v) {
  int64_t n = 0;
  ir::walk(scope, [&](const Op& op) {
    for (const Value* o : op.operands())
      n += o == v;
  });
  return n;
}

Op* def_of(const Value* v, Opcode opcode) {
  Op* def = v->defining_op();
  return def && def->opcode() == opcode ? def : nullptr;
}

// The matched form of one loop (see the banner).
struct Form {
  Op* wait;
  Op* barrier;
  Op* dot;
  Op* loads[2];  // a's and b's whole-tile local_load
  Op* slots[2];  // their local_slot
  Value* it;     // the carried iteration counter
  Value* stages; // S, the rem's divisor
  const MmaInfo* info;
  std::array<int32_t, 2> warps;
  int32_t m, n, k;
};

class KSlicer {
public:
  KSlicer(ir::Context& ctx, Op& loop, int num_warps)
      : ctx_(ctx), loop_(loop), body_(loop.region(0)), num_warps_(num_warps), b_(ctx) {}

  // What happened, for TESSEL_DUMP=pipeline.
  std::string run(bool& sliced) {
    sliced = false;
    std::string why;
    std::optional<Form> form = match(why);
    if (!form)
      return "k-slices: not split: " + why;
    if (inside_another_loop())
      return "k-slices: not split: the loop runs inside another loop (a persistent tile loop), "
             "whose live tile state already fills the register file; carrying the next slice "
             "across the back-edge made ptxas spill there";
    const int32_t slices = form->k / form->info->k;
    if (slices < 2)
      return fmt::format("k-slices: not split: K = {} is one k-slice of {} (carrying it across the "
                         "back-edge would double the fragment registers)",
                         form->k, form->info->k);
    rewrite(*form, slices);
    sliced = true;
    return fmt::format("k-slices: the {}x{}x{} dot split into {} dots of K = {}; slice j+1 read "
                       "before slice j's mma, slice 0 of the next stage carried",
                       form->m, form->n, form->k, slices, form->info->k);
  }

private:
  // Measured with MatmulPersistentPtx (sm_80 f16, 3 stages): split, the persistent 128x128x32 /
  // 8 warps and 64x128x32 / 4 warps kernels spilled 64 and 108 bytes at 255 registers; unsplit,
  // none. A standalone K loop has nothing else live around it and is split.
  bool inside_another_loop() const {
    for (Op* op = loop_.parent_op(); op; op = op->parent_op())
      if (op->opcode() == Opcode::For)
        return true;
    return false;
  }

  std::optional<Form> match(std::string& why) {
    Form f{};
    auto ops = body_.ops().begin();
    if (body_.ops().size() < 3 || (*ops)->opcode() != Opcode::AsyncWait ||
        (*std::next(ops))->opcode() != Opcode::Barrier) {
      why = "the body does not start with the pipeliner's async_wait and barrier";
      return std::nullopt;
    }
    f.wait = ops->get();
    f.barrier = std::next(ops)->get();
    int dots = 0, waits = 0;
    for (auto& op : body_.ops()) {
      dots += op->opcode() == Opcode::Dot;
      waits += op->opcode() == Opcode::AsyncWait;
      if (op->opcode() == Opcode::Dot)
        f.dot = op.get();
    }
    if (dots != 1 || waits != 1) {
      why = fmt::format("the body has {} dots and {} async_waits (one of each is handled)", dots,
                        waits);
      return std::nullopt;
    }
    const ir::LayoutAttr* acc = f.dot->result()->type()->layout();
    if (!acc || acc->kind() != ir::LayoutKind::Mma ||
        f.dot->operand(1)->type()->layout()->kind() != ir::LayoutKind::DotOperand) {
      why = "the dot is not on mma.sync";
      return std::nullopt;
    }
    for (int i = 0; i < 2; ++i) {
      Op* load = def_of(f.dot->operand(i), Opcode::LocalLoad);
      Op* slot = load ? def_of(load->operand(0), Opcode::LocalSlot) : nullptr;
      if (!slot || load->parent_block() != &body_ || slot->parent_block() != &body_ ||
          load->attr("offsets").kind == ir::Attr::Kind::Ints ||
          uses_in(body_, load->result()) != 1) {
        why = fmt::format("operand {} is not a whole ring slot read for the dot alone", "ab"[i]);
        return std::nullopt;
      }
      f.loads[i] = load;
      f.slots[i] = slot;
    }
    Op* rem = def_of(f.slots[0]->operand(1), Opcode::Rem);
    if (f.slots[1]->operand(1) != f.slots[0]->operand(1) || !rem ||
        !rem->operand(0)->is_block_arg() || rem->operand(0)->owner_block() != &body_) {
      why = "the slots are not read at the carried counter's it % S";
      return std::nullopt;
    }
    f.it = rem->operand(0);
    f.stages = rem->operand(1);
    const ir::Type* a = f.dot->operand(0)->type();
    std::optional<MmaInstr> instr =
        mma_for_types(a->element(), f.dot->result()->type()->element(), dot_precision(*f.dot),
                      f.dot->operand(1)->type()->element());
    if (!instr) {
      why = "no mma.sync row takes the dot's types";
      return std::nullopt;
    }
    f.info = &mma_info(*instr);
    f.m = static_cast<int32_t>(f.dot->result()->type()->dims()[0]);
    f.n = static_cast<int32_t>(f.dot->result()->type()->dims()[1]);
    f.k = static_cast<int32_t>(a->dims()[1]);
    f.warps = mma_warps(f.m, f.n, num_warps_, *f.info);
    return f;
  }

  // Operand `i`'s k-slice type: Mxk (a) or kxN (b) in the layout the instruction reads.
  const ir::Type* slice_type(const Form& f, int i) {
    const int32_t k = f.info->k;
    const std::vector<int32_t> shape =
        i == 0 ? std::vector<int32_t>{f.m, k} : std::vector<int32_t>{k, f.n};
    LinearLayout l = mma_operand_layout(*f.info, i, shape, f.warps, num_warps_);
    // An 8-bit B read in the paired column order (byte_transpose.h) keeps it in each slice.
    const ir::Type* t = f.dot->operand(i)->type();
    if (i == 1 && is_paired_b(from_attr(*t->layout(), t->dims())))
      l = pair_columns(l);
    const ir::Type* elem = t->element();
    return ctx_.tensor({shape[0], shape[1]}, elem, to_attr(ctx_, l, ir::LayoutKind::DotOperand));
  }

  // Slice j of operand i from `slot` (a: columns jk.., b: rows jk..).
  Value* load_slice(const Form& f, int i, Value* slot, int32_t j) {
    const int64_t at = int64_t(j) * f.info->k;
    std::vector<int64_t> offsets =
        i == 0 ? std::vector<int64_t>{0, at} : std::vector<int64_t>{at, 0};
    b_.set_location(f.loads[i]->loc);
    return b_.value(Opcode::LocalLoad, {slot}, slice_type(f, i), {ir::Attr::of_ints(offsets)});
  }

  // The stage's wait and barrier, then slice 0 of both operands from slot `index` of the rings.
  std::array<Value*, 2> next_stage(const Form& f, Value* index) {
    b_.set_location(f.wait->loc);
    b_.create(Opcode::AsyncWait, {}, std::span<const ir::Type* const>{}, f.wait->attrs());
    b_.create(Opcode::Barrier, {}, std::span<const ir::Type* const>{});
    std::array<Value*, 2> slice0{};
    for (int i = 0; i < 2; ++i) {
      Op* slot = f.slots[i];
      b_.set_location(slot->loc);
      Value* view = b_.value(Opcode::LocalSlot, {slot->operand(0), index}, slot->result()->type());
      slice0[i] = load_slice(f, i, view, 0);
    }
    return slice0;
  }

  void rewrite(const Form& f, int32_t slices) {
    // Before the loop: iteration 0's wait, barrier and slice 0.
    b_.set_insertion_point_before(loop_);
    b_.set_location(loop_.loc);
    const std::array<Value*, 2> first = next_stage(f, b_.constant_int(ctx_.i32(), 0));
    std::vector<Value*> operands = loop_.operands();
    std::array<Value*, 2> carried{};
    for (int i = 0; i < 2; ++i) {
      operands.push_back(first[i]);
      loop_.add_result(first[i]->type());
      carried[i] = body_.add_arg(first[i]->type());
    }
    loop_.set_operands(std::move(operands));
    // The chain at the dot's place, after the iteration's copies and commit.
    b_.set_insertion_point_before(*f.dot);
    std::array<Value*, 2> cur = carried, next{};
    Value* acc = f.dot->operand(2);
    for (int32_t j = 0; j < slices; ++j) {
      if (j + 1 < slices) {
        for (int i = 0; i < 2; ++i)
          next[i] = load_slice(f, i, f.slots[i]->result(), j + 1);
      } else {
        b_.set_location(loop_.loc);
        Value* it1 = b_.value(Opcode::Add, {f.it, b_.constant_int(ctx_.i32(), 1)}, ctx_.i32());
        next = next_stage(f, b_.value(Opcode::Rem, {it1, f.stages}, ctx_.i32()));
      }
      b_.set_location(f.dot->loc);
      acc = b_.value(Opcode::Dot, {cur[0], cur[1], acc}, f.dot->result()->type(), f.dot->attrs());
      cur = next;
    }
    ir::replace_all_uses(body_, f.dot->result(), acc);
    Op* yield = body_.terminator();
    std::vector<Value*> yielded = yield->operands();
    yielded.push_back(cur[0]);
    yielded.push_back(cur[1]);
    yield->set_operands(std::move(yielded));
    body_.erase(f.dot);
    for (Op* load : f.loads)
      body_.erase(load);
    body_.erase(f.barrier);
    body_.erase(f.wait);
  }

  ir::Context& ctx_;
  Op& loop_;
  ir::Block& body_;
  int num_warps_;
  ir::Builder b_;
};

// Every `for` of `f` that the pipeliner rewrote (it carries the ring counter), innermost first.
void collect_loops(ir::Block& block, std::vector<Op*>& loops) {
  for (auto& op : block.ops()) {
    for (size_t r = 0; r < op->num_regions(); ++r)
      collect_loops(op->region(r), loops);
    if (op->opcode() == Opcode::For)
      loops.push_back(op.get());
  }
}

void slice_function(ir::Module& module, ir::Function& f, int num_warps, ir::PassStats& stats) {
  std::vector<Op*> loops;
  collect_loops(f.body, loops);
  std::string report;
  for (Op* loop : loops) {
    bool sliced = false;
    const std::string what = KSlicer(module.ctx, *loop, num_warps).run(sliced);
    ++stats[sliced ? "loops split into k-slices" : "loops not split"];
    report += fmt::format("loop at {}: {}\n", loop->loc.str(), what);
  }
  if (!report.empty() && support::dump_enabled("pipeline"))
    support::dump("pipeline", f.name, report);
}

} // namespace

ir::PassInfo k_slices_pass(const Target& target, int num_warps) {
  if (!target.is_nvptx())
    throw Error("pass 'k-slices' needs an NVPTX target (e.g. --target sm_80), found '" +
                target.name() + "'");
  auto run = [num_warps](ir::Module& module, ir::PassStats& stats) {
    for (auto& f : module.functions)
      slice_function(module, *f, num_warps, stats);
  };
  return {"k-slices",
          "Splits a pipelined mma.sync loop's dot into one dot per k-slice, reading slice j+1 "
          "before slice j's mma and carrying the next stage's slice 0 across the back-edge.",
          run};
}

} // namespace tessel::codegen::gpu
