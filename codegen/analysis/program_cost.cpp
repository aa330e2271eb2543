// The static cost of one program (program_cost.h): a walk over the kernel's regions that
// multiplies each op's work by the trip counts of the loops around it, and sets aside the work
// inside loops whose trip count only the launch knows.
#include "codegen/analysis/program_cost.h"

#include <fmt/format.h>

namespace tessel::codegen::analysis {
namespace {

double element_bytes(const ir::Type* t) {
  const ir::Type* e = t->element();
  if (e->is_pointer())
    e = e->pointee();
  return double(dtype_bits(e->dtype())) / 8.0;
}

double elements(const ir::Type* t) { return t->is_tensor() ? double(t->num_elements()) : 1.0; }

std::optional<int64_t> constant_int(const ir::Value* v) {
  const ir::Op* def = v->defining_op();
  if (!def || def->opcode() != ir::Opcode::Constant ||
      def->attr("value").kind != ir::Attr::Kind::Int)
    return std::nullopt;
  return def->int_attr("value");
}

// The trip count of a `for` with constant bounds and step (ir.h: no iteration for step <= 0).
std::optional<double> constant_trips(const ir::Op& loop) {
  std::optional<int64_t> lo = constant_int(loop.operand(0)), hi = constant_int(loop.operand(1)),
                         step = constant_int(loop.operand(2));
  if (!lo || !hi || !step)
    return std::nullopt;
  if (*step <= 0 || *hi <= *lo)
    return 0.0;
  return double((*hi - *lo + *step - 1) / *step);
}

std::string loop_text(const ir::Op& loop) {
  std::string at = loop.loc.known() ? " at " + loop.loc.str() : "";
  std::optional<int64_t> step =
      loop.opcode() == ir::Opcode::For ? constant_int(loop.operand(2)) : std::nullopt;
  return std::string(loop.name()) + at + (step ? fmt::format(" (step {})", *step) : "");
}

// 2·M·N·K, times the batch of a batched dot.
double dot_flops(const ir::Op& dot) {
  std::span<const int64_t> a = dot.operand(0)->type()->dims();
  std::span<const int64_t> out = dot.result()->type()->dims();
  double k = double(a.back());
  double mn = 1;
  for (int64_t d : out)
    mn *= double(d);
  return 2.0 * mn * k;
}

class CostWalk {
public:
  explicit CostWalk(ProgramCost& cost) : cost_(cost) {}

  // Adds the work of `block` times `scale` to `into`.
  void block(const ir::Block& b, double scale, Work& into) {
    for (const auto& op : b.ops())
      one(*op, scale, into);
  }

private:
  // Memory and dot ops are counted by opcode (the only ones of their families that touch global
  // memory or do a dot before GPU lowering); control flow multiplies or sets aside its regions.
  void one(const ir::Op& op, double scale, Work& into) {
    const ir::Opcode code = op.opcode();
    if (code == ir::Opcode::Load) {
      const ir::Type* t = op.result()->type();
      into.load_bytes += scale * elements(t) * element_bytes(t);
      return;
    }
    if (code == ir::Opcode::Store) {
      const ir::Type* t = op.operand(1)->type();
      into.store_bytes += scale * elements(t) * element_bytes(t);
      return;
    }
    if (code == ir::Opcode::Dot) {
      into.flops += scale * dot_flops(op);
      cost_.dot_operands.push_back(op.operand(0)->type()->element()->dtype());
      return;
    }
    if (code == ir::Opcode::For) {
      if (std::optional<double> trips = constant_trips(op))
        block(op.region(0), scale * *trips, into);
      else
        runtime_loop(op, scale);
      return;
    }
    if (code == ir::Opcode::While) {
      runtime_loop(op, scale);
      return;
    }
    if (code == ir::Opcode::If)
      cost_.has_if = true; // both branches count, below
    for (size_t r = 0; r < op.num_regions(); ++r)
      block(op.region(r), scale, into);
  }

  // A loop only the launch can count: its body per iteration is set aside as a loop of its own
  // (a run-time loop inside it becomes its own entry, counted per iteration of that loop).
  void runtime_loop(const ir::Op& op, double scale) {
    size_t at = cost_.loops.size();
    cost_.loops.push_back({loop_text(op), {}});
    Work body;
    for (size_t r = 0; r < op.num_regions(); ++r)
      block(op.region(r), scale, body);
    cost_.loops[at].per_iteration = body;
  }

  ProgramCost& cost_;
};

} // namespace

Work& Work::operator+=(const Work& o) {
  flops += o.flops;
  load_bytes += o.load_bytes;
  store_bytes += o.store_bytes;
  return *this;
}

Work Work::scaled(double n) const { return {flops * n, load_bytes * n, store_bytes * n}; }

Work ProgramCost::total(double trips) const {
  Work w = fixed;
  for (const RuntimeLoop& l : loops)
    w += l.per_iteration.scaled(trips);
  return w;
}

ProgramCost program_cost(const ir::Function& f) {
  ProgramCost cost;
  CostWalk(cost).block(f.body, 1.0, cost.fixed);
  return cost;
}

} // namespace tessel::codegen::analysis
