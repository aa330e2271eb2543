// Axis analysis (see axis_info.h): one forward walk over the kernel in program order; each op's
// facts follow from its operands' by the rules below (Triton's AxisInfo rules, restated).
#include "codegen/analysis/axis_info.h"

#include "tessel/codegen/gpu.h"

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

bool tracked(const ir::Type* t) {
  return t->element()->is_pointer() || (t->is_integer());
}

} // namespace

AxisInfo AxisInfo::unknown(size_t rank) {
  rank = std::max<size_t>(rank, 1);
  return {std::vector<int64_t>(rank, 1), std::vector<int64_t>(rank, 1),
          std::vector<int64_t>(rank, 1), std::nullopt};
}

AxisAnalysis::AxisAnalysis(const ir::Function& function) {
  for (size_t i = 0; i < function.body.num_args(); ++i) {
    AxisInfo a = AxisInfo::unknown(0);
    a.divisibility[0] = i < function.arg_divisibility.size() ? function.arg_divisibility[i] : 1;
    // A pointer is at least aligned to its element.
    const ir::Type* t = function.body.arg(i)->type();
    if (t->is_pointer())
      a.divisibility[0] = std::max<int64_t>(a.divisibility[0], std::max(1u, t->pointee()->element_bits() / 8));
    set(function.body.arg(i), a);
  }
  ir::walk(function.body, [&](const ir::Op& op) { visit(op); });
}

const AxisInfo& AxisAnalysis::info(const ir::Value* v) const {
  auto it = infos_.find(v);
  TESSEL_ASSERT(it != infos_.end(), "axis info of a value outside the analysed function");
  return it->second;
}

void AxisAnalysis::set(const ir::Value* v, AxisInfo info) { infos_[v] = std::move(info); }

void AxisAnalysis::visit(const ir::Op& op) {
  // Region arguments first (walk visits the parent before its regions' ops).
  for (size_t r = 0; r < op.num_regions(); ++r)
    for (ir::Value* a : op.region(r).args())
      set(a, AxisInfo::unknown(a->type()->rank()));
  if (op.opcode() == Opcode::For) {
    // The induction variable lo, lo+step, ...: divisible by gcd(lo, step).
    AxisInfo iv = AxisInfo::unknown(0);
    iv.divisibility[0] = gcd(info(op.operand(0)).divisibility[0], info(op.operand(2)).divisibility[0]);
    set(op.region(0).arg(0), iv);
  }
  if (op.num_results() != 1) {
    for (ir::Value* r : op.results())
      set(r, AxisInfo::unknown(r->type()->rank()));
    return;
  }
  const ir::Value* res = op.result();
  const std::vector<int64_t> shape = dims_of(res);
  const size_t rank = shape.size();
  AxisInfo out = AxisInfo::unknown(res->type()->rank());
  auto in = [&](size_t i) -> const AxisInfo& { return info(op.operand(i)); };

  switch (op.opcode()) {
  case Opcode::Constant: {
    const ir::Attr& v = op.attrs()[0];
    if (v.kind == ir::Attr::Kind::Int) {
      out.constant = v.i;
      for (size_t d = 0; d < rank; ++d) {
        out.constancy[d] = shape[d];
        out.divisibility[d] = pow2_divisor(v.i);
      }
    } else {
      out.constancy = shape;
    }
    break;
  }
  case Opcode::Arange: {
    out.contiguity[0] = shape[0];
    out.divisibility[0] = pow2_divisor(op.int_attr("start"));
    break;
  }
  case Opcode::Splat: {
    const AxisInfo& a = in(0);
    for (size_t d = 0; d < rank; ++d) {
      out.constancy[d] = shape[d];
      out.divisibility[d] = a.divisibility[0];
    }
    out.constant = a.constant;
    break;
  }
  case Opcode::Broadcast: {
    const AxisInfo& a = in(0);
    std::vector<int64_t> from = dims_of(op.operand(0));
    for (size_t d = 0; d < rank; ++d) {
      bool expanded = from[d] == 1 && shape[d] != 1;
      out.contiguity[d] = expanded ? 1 : a.contiguity[d];
      out.constancy[d] = expanded ? shape[d] : a.constancy[d];
      out.divisibility[d] = a.divisibility[d];
    }
    out.constant = a.constant;
    break;
  }
  case Opcode::ExpandDims: {
    AxisInfo a = in(0);
    size_t axis = static_cast<size_t>(op.int_attr("axis"));
    if (op.operand(0)->type()->rank() == 0) {
      a.contiguity.clear();
      a.constancy.clear();
      int64_t div = a.divisibility[0];
      a.divisibility.clear();
      for (size_t d = 0; d < rank; ++d) {
        a.contiguity.push_back(1);
        a.constancy.push_back(1);
        a.divisibility.push_back(div);
      }
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
    break;
  }
  case Opcode::Add:
  case Opcode::Sub:
  case Opcode::AddPtr: {
    if (!tracked(res->type()))
      break;
    const AxisInfo& a = in(0);
    const AxisInfo& b = in(1);
    const bool is_sub = op.opcode() == Opcode::Sub;
    // addptr scales the offset by the pointee's size in bytes.
    int64_t scale = 1;
    if (op.opcode() == Opcode::AddPtr)
      scale = std::max<int64_t>(1, res->type()->element()->pointee()->element_bits() / 8);
    for (size_t d = 0; d < rank; ++d) {
      int64_t c = gcd(a.contiguity[d], b.constancy[d]);
      if (!is_sub)
        c = std::max(c, gcd(a.constancy[d], b.contiguity[d]));
      out.contiguity[d] = c;
      out.constancy[d] = gcd(a.constancy[d], b.constancy[d]);
      out.divisibility[d] = gcd(a.divisibility[d], mul_div(b.divisibility[d], scale));
    }
    if (a.constant && b.constant && op.opcode() != Opcode::AddPtr)
      out.constant = is_sub ? *a.constant - *b.constant : *a.constant + *b.constant;
    break;
  }
  case Opcode::Mul: {
    if (!tracked(res->type()))
      break;
    const AxisInfo& a = in(0);
    const AxisInfo& b = in(1);
    for (size_t d = 0; d < rank; ++d) {
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
    break;
  }
  case Opcode::Shl: {
    if (!tracked(res->type()))
      break;
    const AxisInfo& a = in(0);
    const AxisInfo& b = in(1);
    for (size_t d = 0; d < rank; ++d) {
      out.constancy[d] = gcd(a.constancy[d], b.constancy[d]);
      if (b.constant && *b.constant >= 0 && *b.constant < 30) {
        if (*b.constant == 0)
          out.contiguity[d] = a.contiguity[d];
        int64_t da = a.contiguity[d] > 1 && *b.constant != 0 ? 1 : a.divisibility[d];
        out.divisibility[d] = mul_div(da, int64_t(1) << *b.constant);
      }
    }
    break;
  }
  case Opcode::Div:
  case Opcode::Shr: {
    if (!tracked(res->type()))
      break;
    const AxisInfo& a = in(0);
    const AxisInfo& b = in(1);
    std::optional<int64_t> divisor = b.constant;
    if (divisor && op.opcode() == Opcode::Shr)
      divisor = *divisor >= 0 && *divisor < 30 ? std::optional<int64_t>(int64_t(1) << *divisor)
                                               : std::nullopt;
    for (size_t d = 0; d < rank; ++d) {
      out.constancy[d] = gcd(a.constancy[d], b.constancy[d]);
      if (divisor && *divisor > 0 && std::has_single_bit(static_cast<uint64_t>(*divisor))) {
        // Runs [k*c .. k*c + c-1] with c | divisor... : k*m, ..., k*m + m-1 divide to one value
        // when the run starts at a multiple of the divisor.
        if (*divisor == 1) {
          out.contiguity[d] = a.contiguity[d];
          out.divisibility[d] = a.divisibility[d];
        } else {
          out.constancy[d] = std::max(out.constancy[d],
                                      gcd(a.contiguity[d], gcd(a.divisibility[d], *divisor)));
          out.divisibility[d] = std::max<int64_t>(1, a.divisibility[d] / *divisor);
        }
      }
    }
    break;
  }
  case Opcode::Rem: {
    if (!tracked(res->type()))
      break;
    const AxisInfo& a = in(0);
    const AxisInfo& b = in(1);
    for (size_t d = 0; d < rank; ++d) {
      out.constancy[d] = gcd(a.constancy[d], b.constancy[d]);
      if (b.constant && *b.constant > 0 && std::has_single_bit(static_cast<uint64_t>(*b.constant))) {
        out.contiguity[d] = gcd(a.contiguity[d], *b.constant);
        out.divisibility[d] = gcd(a.divisibility[d], *b.constant);
      }
    }
    break;
  }
  case Opcode::CmpEq:
  case Opcode::CmpNe:
  case Opcode::CmpLt:
  case Opcode::CmpLe:
  case Opcode::CmpGt:
  case Opcode::CmpGe: {
    if (!tracked(op.operand(0)->type()))
      break;
    const AxisInfo& a = in(0);
    const AxisInfo& b = in(1);
    const bool ordered = op.opcode() != Opcode::CmpEq && op.opcode() != Opcode::CmpNe;
    for (size_t d = 0; d < rank; ++d) {
      int64_t c = gcd(a.constancy[d], b.constancy[d]);
      // x < n with x contiguous from multiples of k and n a multiple of k (and constant): the
      // result changes only at multiples of k.
      if (ordered) {
        c = std::max(c, gcd(gcd(a.contiguity[d], b.constancy[d]), gcd(a.divisibility[d], b.divisibility[d])));
        c = std::max(c, gcd(gcd(b.contiguity[d], a.constancy[d]), gcd(a.divisibility[d], b.divisibility[d])));
      }
      out.constancy[d] = std::max<int64_t>(1, c);
    }
    break;
  }
  case Opcode::And:
  case Opcode::Or:
  case Opcode::Xor: {
    const AxisInfo& a = in(0);
    const AxisInfo& b = in(1);
    for (size_t d = 0; d < rank; ++d)
      out.constancy[d] = gcd(a.constancy[d], b.constancy[d]);
    break;
  }
  case Opcode::Select: {
    const AxisInfo& c = in(0);
    const AxisInfo& a = in(1);
    const AxisInfo& b = in(2);
    for (size_t d = 0; d < rank; ++d) {
      out.constancy[d] = gcd(c.constancy[d], gcd(a.constancy[d], b.constancy[d]));
      if (tracked(res->type())) {
        out.contiguity[d] = std::min(gcd(c.constancy[d], a.contiguity[d]),
                                     gcd(c.constancy[d], b.contiguity[d]));
        out.divisibility[d] = gcd(a.divisibility[d], b.divisibility[d]);
      }
    }
    break;
  }
  case Opcode::Cast: {
    const AxisInfo& a = in(0);
    out.constancy = a.constancy;
    if (tracked(res->type()) && tracked(op.operand(0)->type()) && !op.operand(0)->type()->is_bool() &&
        res->type()->element_bits() >= op.operand(0)->type()->element_bits()) {
      out.contiguity = a.contiguity;
      out.divisibility = a.divisibility;
      out.constant = a.constant;
    }
    break;
  }
  case Opcode::Load: {
    // Equal addresses load equal values.
    out.constancy = in(0).constancy;
    break;
  }
  case Opcode::Neg:
  case Opcode::Not:
  case Opcode::Abs:
  case Opcode::Min:
  case Opcode::Max:
  case Opcode::Fma:
  case Opcode::Exp:
  case Opcode::Exp2:
  case Opcode::Log:
  case Opcode::Log2:
  case Opcode::Sqrt:
  case Opcode::Rsqrt:
  case Opcode::Sin:
  case Opcode::Cos:
  case Opcode::Erf:
  case Opcode::Tanh:
  case Opcode::Sigmoid:
  case Opcode::Floor:
  case Opcode::Ceil: {
    // Elementwise functions of constant runs are constant runs.
    for (size_t d = 0; d < rank; ++d) {
      int64_t c = shape[d];
      for (size_t i = 0; i < op.num_operands(); ++i)
        c = gcd(c, in(i).constancy[d]);
      out.constancy[d] = c;
    }
    if (op.opcode() == Opcode::Neg && in(0).constant)
      out.constant = -*in(0).constant;
    break;
  }
  case Opcode::ProgramId:
  case Opcode::NumPrograms:
  case Opcode::Reshape:
  case Opcode::Permute:
  case Opcode::Store:
  case Opcode::ReduceSum:
  case Opcode::ReduceMax:
  case Opcode::ReduceMin:
  case Opcode::ReduceArgmax:
  case Opcode::ReduceArgmin:
  case Opcode::Reduce:
  case Opcode::ScanSum:
  case Opcode::Dot:
  case Opcode::For:
  case Opcode::If:
  case Opcode::While:
  case Opcode::Yield:
  case Opcode::Condition:
  case Opcode::Return:
    break;
  }
  if (out.constant && tracked(res->type()))
    for (size_t d = 0; d < rank; ++d)
      out.constancy[d] = shape[d];
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

namespace tessel::codegen::gpu {

std::string print_axis_info(const ir::Module& module) {
  std::string out;
  for (const auto& f : module.functions)
    out += analysis::print_axis_info(*f);
  return out;
}

} // namespace tessel::codegen::gpu
