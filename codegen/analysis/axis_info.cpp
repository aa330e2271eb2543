// Axis analysis (see axis_info.h): one forward walk over the kernel in program order; each op's
// facts follow from its operands' by the rules below (Triton's AxisInfo rules, restated).
#include "codegen/analysis/axis_info.h"

#include <algorithm>
#include <bit>
#include <numeric>

namespace tessel::codegen::analysis {

namespace {

using ir::Opcode;

int64_t pow2_divisor(int64_t v) {
  if (v == 0)
    return kMaxDivisibility;
  uint64_t u = static_cast<uint64_t>(v < 0 ? -v : v);
  return std::min<int64_t>(int64_t(1) << std::countr_zero(u), kMaxDivisibility);
}
int64_t gcd(int64_t a, int64_t b) { return std::gcd(a, b); }
int64_t mul_div(int64_t a, int64_t b) { return std::min(kMaxDivisibility, a * b); }

std::vector<int64_t> dims_of(const ir::Value* v) {
  auto d = v->type()->dims();
  if (d.empty())
    return {1};
  return {d.begin(), d.end()};
}

bool tracked(const ir::Type* t) { return t->element()->is_pointer() || (t->is_integer()); }

// What the rule of one op sees: the op, its operands' facts and its result's shape.
struct Rule {
  const ir::Op& op;
  const AxisAnalysis& analysis;
  std::vector<int64_t> shape;

  const AxisInfo& in(size_t i) const { return analysis.info(op.operand(i)); }
  size_t rank() const { return shape.size(); }
  const ir::Type* result_type() const { return op.result()->type(); }
};

void constant_rule(const Rule& r, AxisInfo& out) {
  const ir::Attr& v = r.op.attrs()[0];
  if (v.kind != ir::Attr::Kind::Int) {
    out.constancy = r.shape;
    return;
  }
  out.constant = v.i;
  for (size_t d = 0; d < r.rank(); ++d) {
    out.constancy[d] = r.shape[d];
    out.divisibility[d] = pow2_divisor(v.i);
  }
}

void source_rule(const Rule& r, AxisInfo& out) {
  if (r.op.opcode() == Opcode::Constant)
    return constant_rule(r, out);
  if (r.op.opcode() == Opcode::Arange) {
    out.contiguity[0] = r.shape[0];
    out.divisibility[0] = pow2_divisor(r.op.int_attr("start"));
  }
  // program_id, num_programs: nothing known.
}

void broadcast_rule(const Rule& r, AxisInfo& out) {
  const AxisInfo& a = r.in(0);
  std::vector<int64_t> from = dims_of(r.op.operand(0));
  for (size_t d = 0; d < r.rank(); ++d) {
    bool expanded = from[d] == 1 && r.shape[d] != 1;
    out.contiguity[d] = expanded ? 1 : a.contiguity[d];
    out.constancy[d] = expanded ? r.shape[d] : a.constancy[d];
    out.divisibility[d] = a.divisibility[d];
  }
  out.constant = a.constant;
}

void expand_dims_rule(const Rule& r, AxisInfo& out) {
  AxisInfo a = r.in(0);
  size_t axis = static_cast<size_t>(r.op.int_attr("axis"));
  if (r.op.operand(0)->type()->rank() == 0) {
    int64_t div = a.divisibility[0];
    a.contiguity.assign(r.rank(), 1);
    a.constancy.assign(r.rank(), 1);
    a.divisibility.assign(r.rank(), div);
  } else {
    // Along a size-1 dimension every element starts a run: what holds for every element.
    int64_t div = kMaxDivisibility;
    for (size_t d = 0; d < a.rank(); ++d)
      div = std::min(div, a.contiguity[d] > 1 ? 1 : a.divisibility[d]);
    a.contiguity.insert(a.contiguity.begin() + axis, 1);
    a.constancy.insert(a.constancy.begin() + axis, 1);
    a.divisibility.insert(a.divisibility.begin() + axis, div);
  }
  out = a;
}

// tl::multiple_of / max_contiguous / max_constancy: the operand's facts, each raised to what the
// kernel promises (its largest power-of-two divisor; a run no longer than the dimension).
void hint_rule(const Rule& r, AxisInfo& out) {
  out = r.in(0);
  auto raise = [&](const char* name, std::vector<int64_t>& facts, bool is_run) {
    const ir::Attr& a = r.op.attr(name);
    if (a.kind != ir::Attr::Kind::Ints)
      return;
    for (size_t d = 0; d < facts.size() && d < a.ints.size(); ++d) {
      int64_t promised = pow2_divisor(a.ints[d]);
      if (is_run)
        promised = std::min(promised, r.shape[d]);
      facts[d] = std::max(facts[d], promised);
    }
  };
  raise("multiple_of", out.divisibility, /*is_run=*/false);
  raise("max_contiguous", out.contiguity, /*is_run=*/true);
  raise("max_constancy", out.constancy, /*is_run=*/true);
}

void shape_rule(const Rule& r, AxisInfo& out) {
  switch (r.op.opcode()) {
  case Opcode::Splat: {
    const AxisInfo& a = r.in(0);
    for (size_t d = 0; d < r.rank(); ++d) {
      out.constancy[d] = r.shape[d];
      out.divisibility[d] = a.divisibility[0];
    }
    out.constant = a.constant;
    return;
  }
  case Opcode::Broadcast:
    return broadcast_rule(r, out);
  case Opcode::ExpandDims:
    return expand_dims_rule(r, out);
  case Opcode::ConvertLayout:
    out = r.in(0);
    return; // the same tensor, held elsewhere
  case Opcode::Hint:
    return hint_rule(r, out);
  default:
    return; // reshape, permute: nothing known
  }
}

// add, sub, addptr.
void additive_rule(const Rule& r, AxisInfo& out) {
  if (!tracked(r.result_type()))
    return;
  const AxisInfo& a = r.in(0);
  const AxisInfo& b = r.in(1);
  const bool is_sub = r.op.opcode() == Opcode::Sub;
  const bool is_addptr = r.op.opcode() == Opcode::AddPtr;
  // addptr scales the offset by the pointee's size in bytes.
  int64_t scale = 1;
  if (is_addptr)
    scale = std::max<int64_t>(1, r.result_type()->element()->pointee()->element_bits() / 8);
  for (size_t d = 0; d < r.rank(); ++d) {
    int64_t c = gcd(a.contiguity[d], b.constancy[d]);
    if (!is_sub)
      c = std::max(c, gcd(a.constancy[d], b.contiguity[d]));
    out.contiguity[d] = c;
    out.constancy[d] = gcd(a.constancy[d], b.constancy[d]);
    out.divisibility[d] = gcd(a.divisibility[d], mul_div(b.divisibility[d], scale));
  }
  if (a.constant && b.constant && !is_addptr)
    out.constant = is_sub ? *a.constant - *b.constant : *a.constant + *b.constant;
}

void mul_rule(const Rule& r, AxisInfo& out) {
  if (!tracked(r.result_type()))
    return;
  const AxisInfo& a = r.in(0);
  const AxisInfo& b = r.in(1);
  for (size_t d = 0; d < r.rank(); ++d) {
    // x * 1 keeps x's runs; otherwise a run [k, k+1, ...] times c is no longer contiguous and
    // its divisibility holds for every element only when it held for k and its run was 1.
    if (b.constant == 1)
      out.contiguity[d] = a.contiguity[d];
    else if (a.constant == 1)
      out.contiguity[d] = b.contiguity[d];
    out.constancy[d] = gcd(a.constancy[d], b.constancy[d]);
    int64_t da = a.contiguity[d] > 1 && b.constant != 1 ? 1 : a.divisibility[d];
    int64_t db = b.contiguity[d] > 1 && a.constant != 1 ? 1 : b.divisibility[d];
    out.divisibility[d] = mul_div(da, db);
  }
  if (a.constant && b.constant)
    out.constant = *a.constant * *b.constant;
}

void shl_rule(const Rule& r, AxisInfo& out) {
  if (!tracked(r.result_type()))
    return;
  const AxisInfo& a = r.in(0);
  const AxisInfo& b = r.in(1);
  for (size_t d = 0; d < r.rank(); ++d) {
    out.constancy[d] = gcd(a.constancy[d], b.constancy[d]);
    if (b.constant && *b.constant >= 0 && *b.constant < 30) {
      if (*b.constant == 0)
        out.contiguity[d] = a.contiguity[d];
      int64_t da = a.contiguity[d] > 1 && *b.constant != 0 ? 1 : a.divisibility[d];
      out.divisibility[d] = mul_div(da, int64_t(1) << *b.constant);
    }
  }
}

// div, shr: a division by a constant power of two.
void divide_rule(const Rule& r, AxisInfo& out) {
  if (!tracked(r.result_type()))
    return;
  const AxisInfo& a = r.in(0);
  const AxisInfo& b = r.in(1);
  std::optional<int64_t> divisor = b.constant;
  if (divisor && r.op.opcode() == Opcode::Shr)
    divisor = *divisor >= 0 && *divisor < 30 ? std::optional<int64_t>(int64_t(1) << *divisor)
                                             : std::nullopt;
  const bool pow2 = divisor && *divisor > 0 && std::has_single_bit(static_cast<uint64_t>(*divisor));
  for (size_t d = 0; d < r.rank(); ++d) {
    out.constancy[d] = gcd(a.constancy[d], b.constancy[d]);
    if (!pow2)
      continue;
    // Runs [k*c .. k*c + c-1] with c | divisor... : k*m, ..., k*m + m-1 divide to one value
    // when the run starts at a multiple of the divisor.
    if (*divisor == 1) {
      out.contiguity[d] = a.contiguity[d];
      out.divisibility[d] = a.divisibility[d];
    } else {
      out.constancy[d] =
          std::max(out.constancy[d], gcd(a.contiguity[d], gcd(a.divisibility[d], *divisor)));
      out.divisibility[d] = std::max<int64_t>(1, a.divisibility[d] / *divisor);
    }
  }
}

void rem_rule(const Rule& r, AxisInfo& out) {
  if (!tracked(r.result_type()))
    return;
  const AxisInfo& a = r.in(0);
  const AxisInfo& b = r.in(1);
  for (size_t d = 0; d < r.rank(); ++d) {
    out.constancy[d] = gcd(a.constancy[d], b.constancy[d]);
    if (b.constant && *b.constant > 0 && std::has_single_bit(static_cast<uint64_t>(*b.constant))) {
      out.contiguity[d] = gcd(a.contiguity[d], *b.constant);
      out.divisibility[d] = gcd(a.divisibility[d], *b.constant);
    }
  }
}

void compare_rule(const Rule& r, AxisInfo& out) {
  if (!tracked(r.op.operand(0)->type()))
    return;
  const AxisInfo& a = r.in(0);
  const AxisInfo& b = r.in(1);
  const bool ordered = r.op.opcode() != Opcode::CmpEq && r.op.opcode() != Opcode::CmpNe;
  for (size_t d = 0; d < r.rank(); ++d) {
    int64_t c = gcd(a.constancy[d], b.constancy[d]);
    // x < n with x contiguous from multiples of k and n a multiple of k (and constant): the
    // result changes only at multiples of k.
    if (ordered) {
      int64_t div = gcd(a.divisibility[d], b.divisibility[d]);
      c = std::max(c, gcd(gcd(a.contiguity[d], b.constancy[d]), div));
      c = std::max(c, gcd(gcd(b.contiguity[d], a.constancy[d]), div));
    }
    out.constancy[d] = std::max<int64_t>(1, c);
  }
}

void select_rule(const Rule& r, AxisInfo& out) {
  const AxisInfo& c = r.in(0);
  const AxisInfo& a = r.in(1);
  const AxisInfo& b = r.in(2);
  for (size_t d = 0; d < r.rank(); ++d) {
    out.constancy[d] = gcd(c.constancy[d], gcd(a.constancy[d], b.constancy[d]));
    if (tracked(r.result_type())) {
      out.contiguity[d] =
          std::min(gcd(c.constancy[d], a.contiguity[d]), gcd(c.constancy[d], b.contiguity[d]));
      out.divisibility[d] = gcd(a.divisibility[d], b.divisibility[d]);
    }
  }
}

void cast_rule(const Rule& r, AxisInfo& out) {
  const AxisInfo& a = r.in(0);
  const ir::Type* from = r.op.operand(0)->type();
  out.constancy = a.constancy;
  if (tracked(r.result_type()) && tracked(from) && !from->is_bool() &&
      r.result_type()->element_bits() >= from->element_bits()) {
    out.contiguity = a.contiguity;
    out.divisibility = a.divisibility;
    out.constant = a.constant;
  }
}

// Any elementwise function: of constant runs, constant runs (and, bitwise, nothing more).
void pointwise_rule(const Rule& r, AxisInfo& out) {
  for (size_t d = 0; d < r.rank(); ++d) {
    int64_t c = r.shape[d];
    for (size_t i = 0; i < r.op.num_operands(); ++i)
      c = gcd(c, r.in(i).constancy[d]);
    out.constancy[d] = c;
  }
  if (r.op.opcode() == Opcode::Neg && r.in(0).constant)
    out.constant = -*r.in(0).constant;
}

// The elementwise ops that move contiguity or divisibility have a rule of their own; every other
// one (and a newly added one) gets the pointwise rule, which is right for any function.
void elementwise_rule(const Rule& r, AxisInfo& out) {
  if (r.op.has(ir::COMPARISON))
    return compare_rule(r, out);
  switch (r.op.opcode()) {
  case Opcode::Add:
  case Opcode::Sub:
  case Opcode::AddPtr:
    return additive_rule(r, out);
  case Opcode::Mul:
    return mul_rule(r, out);
  case Opcode::Shl:
    return shl_rule(r, out);
  case Opcode::Div:
  case Opcode::Shr:
    return divide_rule(r, out);
  case Opcode::Rem:
    return rem_rule(r, out);
  case Opcode::Select:
    return select_rule(r, out);
  case Opcode::Cast:
    return cast_rule(r, out);
  default:
    return pointwise_rule(r, out);
  }
}

// The integer constant `v` is (through splats and broadcasts), if it is one.
std::optional<int64_t> int_constant(const ir::Value* v) {
  const ir::Op* def = v->defining_op();
  while (def && (def->opcode() == Opcode::Splat || def->opcode() == Opcode::Broadcast))
    def = def->operand(0)->defining_op();
  if (!def || def->opcode() != Opcode::Constant || def->attrs()[0].kind != ir::Attr::Kind::Int)
    return std::nullopt;
  return def->attrs()[0].i;
}

// For `cond` = `x % C == 0` or `(x & (C - 1)) == 0` (either side of the ==): x and the largest
// power of two dividing C (for the `and` form, C - 1 must be 2^k - 1).
std::optional<std::pair<const ir::Value*, int64_t>> assumed_divisor(const ir::Value* cond) {
  const ir::Op* eq = cond->defining_op();
  if (!eq || eq->opcode() != Opcode::CmpEq)
    return std::nullopt;
  for (int side = 0; side < 2; ++side) {
    const ir::Op* lhs = eq->operand(side)->defining_op();
    if (int_constant(eq->operand(1 - side)) != 0 || !lhs || lhs->num_operands() != 2)
      continue;
    const std::optional<int64_t> c = int_constant(lhs->operand(1));
    if (!c)
      continue;
    if (lhs->opcode() == Opcode::Rem && *c != 0)
      return std::pair{lhs->operand(0), pow2_divisor(*c)};
    if (lhs->opcode() == Opcode::And && *c > 0 && (*c & (*c + 1)) == 0)
      return std::pair{lhs->operand(0), std::min(kMaxDivisibility, *c + 1)};
  }
  return std::nullopt;
}

} // namespace

void AxisAnalysis::collect_assumptions(const ir::Function& function) {
  ir::walk(function.body, [&](const ir::Op& op) {
    if (op.opcode() != Opcode::Assume)
      return;
    if (auto fact = assumed_divisor(op.operand(0)); fact && tracked(fact->first->type()))
      assumed_[fact->first] = std::max(assumed_[fact->first], fact->second);
  });
}

AxisInfo AxisInfo::unknown(size_t rank) {
  rank = std::max<size_t>(rank, 1);
  return {std::vector<int64_t>(rank, 1), std::vector<int64_t>(rank, 1),
          std::vector<int64_t>(rank, 1), std::nullopt};
}

AxisAnalysis::AxisAnalysis(const ir::Function& function) {
  collect_assumptions(function);
  for (size_t i = 0; i < function.body.num_args(); ++i) {
    AxisInfo a = AxisInfo::unknown(0);
    a.divisibility[0] = i < function.arg_divisibility.size() ? function.arg_divisibility[i] : 1;
    // A pointer is at least aligned to its element.
    const ir::Type* t = function.body.arg(i)->type();
    if (t->is_pointer())
      a.divisibility[0] =
          std::max<int64_t>(a.divisibility[0], std::max(1u, t->pointee()->element_bits() / 8));
    set(function.body.arg(i), a);
  }
  visit_block(function.body);
}

void AxisAnalysis::visit_block(const ir::Block& block) {
  for (const auto& op : block.ops()) {
    visit(*op);
    if (op->opcode() == Opcode::For) {
      visit_for(*op);
      continue;
    }
    for (size_t r = 0; r < op->num_regions(); ++r)
      visit_block(op->region(r));
  }
}

namespace {

// What holds for both a and b (a value that is one or the other): the smaller run of each kind —
// all powers of two, so the smaller divides the larger.
AxisInfo join(const AxisInfo& a, const AxisInfo& b) {
  AxisInfo out = a;
  for (size_t d = 0; d < out.rank(); ++d) {
    out.contiguity[d] = std::min(a.contiguity[d], b.contiguity[d]);
    out.divisibility[d] = gcd(a.divisibility[d], b.divisibility[d]);
    out.constancy[d] = std::min(a.constancy[d], b.constancy[d]);
  }
  if (a.constant != b.constant)
    out.constant = std::nullopt;
  return out;
}

} // namespace

// A carried value is its initial value in the first iteration and the yielded value in the
// others: its facts are those both have. They are found by iteration from the initial values'
// facts: analyse the body, join each carried value's facts with what the body yields for it, and
// repeat while that weakened anything (each round lowers some power of two or drops a constant,
// so it ends). So `p = p + inc` with an invariant inc keeps p's contiguity and the divisibility
// inc preserves, and the loads of Triton-style advanced pointers vectorize as recomputed ones do.
void AxisAnalysis::visit_for(const ir::Op& op) {
  const ir::Block& body = op.region(0);
  const ir::Op* yield = body.terminator();
  const size_t carried = body.num_args() - 1;
  if (!yield || yield->opcode() != Opcode::Yield || yield->num_operands() != carried) {
    visit_block(body); // not a well-formed loop: carried values stay unknown
    return;
  }
  for (size_t i = 0; i < carried; ++i)
    set(body.arg(i + 1), info(op.operand(3 + i)));
  for (int round = 0;; ++round) {
    TESSEL_ASSERT(round < 256, "axis analysis of a loop's carried values did not converge");
    visit_block(body);
    bool weakened = false;
    for (size_t i = 0; i < carried; ++i) {
      AxisInfo joined = join(info(body.arg(i + 1)), info(yield->operand(i)));
      if (joined == info(body.arg(i + 1)))
        continue;
      set(body.arg(i + 1), std::move(joined));
      weakened = true;
    }
    if (!weakened)
      break;
  }
  for (size_t i = 0; i < carried && i < op.num_results(); ++i)
    set(op.result(i), info(body.arg(i + 1)));
}

const AxisInfo& AxisAnalysis::info(const ir::Value* v) const {
  auto it = infos_.find(v);
  TESSEL_ASSERT(it != infos_.end(), "axis info of a value outside the analysed function");
  return it->second;
}

void AxisAnalysis::set(const ir::Value* v, AxisInfo info) {
  if (auto it = assumed_.find(v); it != assumed_.end())
    for (int64_t& d : info.divisibility)
      d = std::max(d, it->second);
  infos_[v] = std::move(info);
}

void AxisAnalysis::visit(const ir::Op& op) {
  // Region arguments first (walk visits the parent before its regions' ops).
  for (size_t r = 0; r < op.num_regions(); ++r)
    for (ir::Value* a : op.region(r).args())
      set(a, AxisInfo::unknown(a->type()->rank()));
  if (op.opcode() == Opcode::For) {
    // The induction variable lo, lo+step, ...: divisible by gcd(lo, step). The carried values
    // and the results: visit_for.
    AxisInfo iv = AxisInfo::unknown(0);
    iv.divisibility[0] =
        gcd(info(op.operand(0)).divisibility[0], info(op.operand(2)).divisibility[0]);
    set(op.region(0).arg(0), iv);
  }
  if (op.num_results() != 1) {
    for (ir::Value* r : op.results())
      set(r, AxisInfo::unknown(r->type()->rank()));
    return;
  }
  const ir::Value* res = op.result();
  const Rule r{op, *this, dims_of(res)};
  AxisInfo out = AxisInfo::unknown(res->type()->rank());
  switch (ir::family_of(op.opcode())) {
  case ir::OpFamily::Source:
    source_rule(r, out);
    break;
  case ir::OpFamily::Shape:
    shape_rule(r, out);
    break;
  case ir::OpFamily::Elementwise:
    elementwise_rule(r, out);
    break;
  case ir::OpFamily::Memory:
    // Equal addresses load equal values.
    if (op.opcode() == Opcode::Load)
      out.constancy = r.in(0).constancy;
    break;
  case ir::OpFamily::Reduction:
  case ir::OpFamily::Scan:
  case ir::OpFamily::Contraction:
  case ir::OpFamily::Control:
    break; // nothing known
  }
  if (out.constant && tracked(res->type()))
    out.constancy = r.shape;
  set(res, std::move(out));
}

namespace {

// Numbers values as ir::print does: kernel arguments %argN, then every op's results and every
// region's arguments in definition order.
class Numbering {
public:
  explicit Numbering(const ir::Function& f) {
    for (size_t i = 0; i < f.body.num_args(); ++i)
      names_[f.body.arg(i)] = "%arg" + std::to_string(i);
    block(f.body);
  }
  const std::vector<const ir::Value*>& order() const { return order_; }
  const std::string& name(const ir::Value* v) const { return names_.at(v); }

private:
  void define(const ir::Value* v) {
    names_[v] = "%" + std::to_string(next_++);
    order_.push_back(v);
  }
  void block(const ir::Block& b) {
    for (const auto& op : b.ops()) {
      for (ir::Value* r : op->results())
        define(r);
      for (size_t i = 0; i < op->num_regions(); ++i) {
        for (ir::Value* a : op->region(i).args())
          define(a);
        block(op->region(i));
      }
    }
  }
  std::unordered_map<const ir::Value*, std::string> names_;
  std::vector<const ir::Value*> order_;
  int next_ = 0;
};

std::string list(const std::vector<int64_t>& v) {
  std::string s = "[";
  for (size_t i = 0; i < v.size(); ++i)
    s += (i ? ", " : "") + std::to_string(v[i]);
  return s + "]";
}

} // namespace

std::string print_axis_info(const ir::Function& function) {
  AxisAnalysis analysis(function);
  Numbering numbering(function);
  std::string out = "axis-info @" + function.name + "\n";
  auto line = [&](const ir::Value* v, const char* what) {
    if (!tracked(v->type()))
      return;
    const AxisInfo& a = analysis.info(v);
    out += "  " + numbering.name(v) + " = " + what + ": contiguity = " + list(a.contiguity) +
           ", divisibility = " + list(a.divisibility) + ", constancy = " + list(a.constancy) + "\n";
  };
  for (size_t i = 0; i < function.body.num_args(); ++i)
    line(function.body.arg(i), "arg");
  for (const ir::Value* v : numbering.order())
    line(v, v->defining_op() ? v->defining_op()->name() : "region-arg");
  return out;
}

} // namespace tessel::codegen::analysis
