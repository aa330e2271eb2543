// Run-time control flow: for_range, if_, while_. A handle created outside a body and reassigned
// inside it becomes a carried value or a branch result. Loops trace their body twice: once into a
// scratch block to learn which handles it reassigns, then into the loop's region with those
// handles bound to the region's arguments (see lang/control.h for why).
#include "tessel/lang/control.h"

#include "tessel/lang/ops.h"

#include "dsl/tracer.h"
#include "dsl/type_rules.h"

namespace tessel::lang {

using detail::Assignment;
using detail::builder_at;
using detail::Closure;
using detail::fail;
using detail::Tracer;
using detail::type_str;
using ir::Opcode;

namespace {

const std::span<const ir::Type* const> kNoResults{};

ir::Value* loop_bound(const Tensor& t, const SourceLoc& loc, const char* what) {
  ir::Value* v = t.value(loc);
  if (v->type()->rank() != 0 || !v->type()->is_integer() || v->type()->is_bool())
    fail(loc, "for_range",
         std::string("the ") + what + " must be an integer scalar, got " + type_str(v->type()));
  return v;
}

void restore(const std::vector<Assignment>& assigned) {
  for (const Assignment& a : assigned)
    a.handle->rebind(a.original);
}

// Where the value a body assigned to a handle was made: the line of the assignment in the
// common case (`acc = acc + x`); the control-flow op's line when the value has no op.
SourceLoc made_at(ir::Value* v, const SourceLoc& fallback) {
  ir::Op* def = v->defining_op();
  return def && def->loc.known() ? def->loc : fallback;
}

// A body that reassigns a handle inside its own closure captured it by value: the assignment
// changes the body's copy, never the variable the code after the op reads.
// `values` are the handles' values at the end of the body.
void check_captures(const std::vector<Assignment>& assigned, const std::vector<ir::Value*>& values,
                    std::span<const Closure> closures, const SourceLoc& loc, const char* op) {
  for (size_t i = 0; i < assigned.size(); ++i)
    for (const Closure& c : closures)
      if (c.holds(assigned[i].handle))
        fail(made_at(values[i], loc), op,
             std::string("the body reassigns a handle it captured by value ([=] or [x] with "
                         "`mutable`), so only the body's own copy changes and the value after "
                         "the ") +
                 op + " (at " + loc.str() +
                 ") would silently be the one before it; capture by reference: [&]");
}

// A carried value must come out of the body as it went in. A shape change is named as such:
// .to() cannot fix it.
void check_keeps_type(const ir::Type* before, ir::Value* after, const SourceLoc& loc,
                      const char* op) {
  const ir::Type* t = after->type();
  if (t == before)
    return;
  SourceLoc at = made_at(after, loc);
  if (!std::ranges::equal(t->dims(), before->dims()))
    fail(at, op,
         "a loop-carried value was " + type_str(before) + " and becomes " + type_str(t) +
             " in the loop body; a loop-carried value must keep its shape (the " + op + " is at " +
             loc.str() + ")");
  fail(at, op,
       "a handle reassigned in the body changes type from " + type_str(before) + " to " +
           type_str(t) + "; a carried value must keep its type (convert with .to() inside the " +
           "body; the " + op + " is at " + loc.str() + ")");
}

std::vector<const ir::Type*> types_of(const std::vector<ir::Value*>& values) {
  std::vector<const ir::Type*> out;
  for (ir::Value* v : values)
    out.push_back(v->type());
  return out;
}

// Runs `body` into a throw-away block to learn which outer handles it reassigns, then puts the
// handles back. Checks that none lives in the body's closure and that each keeps its type.
template <class Body>
std::vector<Assignment> discover_carried(Tracer& tracer, const ir::Type* iv_type, Body&& body,
                                         std::span<const Closure> closures, const SourceLoc& loc,
                                         const char* op) {
  ir::Builder& b = tracer.builder();
  auto scratch = std::make_unique<ir::Block>();
  ir::Value* iv = iv_type ? scratch->add_arg(iv_type) : nullptr;
  std::vector<Assignment> assigned;
  std::vector<ir::Value*> final_values;
  {
    ir::InsertionGuard guard(b);
    b.set_insertion_point_to_end(*scratch);
    tracer.push_frame();
    try {
      body(iv);
    } catch (...) {
      restore(tracer.pop_frame());
      tracer.keep(std::move(scratch));
      throw;
    }
    assigned = tracer.pop_frame();
    for (const Assignment& a : assigned)
      final_values.push_back(a.handle->value(loc));
  }
  // Values of the discovery trace may have escaped into C++ state (a handle pushed into a
  // vector): keep their ops alive so that the verifier reports such a use instead of reading
  // freed memory.
  tracer.keep(std::move(scratch));
  restore(assigned);
  check_captures(assigned, final_values, closures, loc, op);
  for (size_t i = 0; i < assigned.size(); ++i) {
    const Assignment& a = assigned[i];
    if (!a.original)
      fail(loc, op,
           "a handle that has no value before the body is assigned inside it; give it a "
           "value before the " +
               std::string(op) +
               " (e.g. tl::zeros(...)) so that the "
               "body can carry it");
    check_keeps_type(a.original->type(), final_values[i], loc, op);
  }
  return assigned;
}

// Traces `body` into `region` with the carried handles bound to `args`; returns their values at
// the end of the body (for the terminator).
template <class Body>
std::vector<ir::Value*>
trace_region(Tracer& tracer, ir::Block& region, const std::vector<Assignment>& carried,
             std::span<ir::Value* const> args, Body&& body, const SourceLoc& loc, const char* op) {
  ir::Builder& b = tracer.builder();
  for (size_t i = 0; i < carried.size(); ++i)
    carried[i].handle->rebind(args[i]);
  b.set_insertion_point_to_end(region);
  tracer.push_frame();
  std::vector<Assignment> again;
  try {
    body();
  } catch (...) {
    tracer.pop_frame();
    restore(carried);
    throw;
  }
  again = tracer.pop_frame();
  for (const Assignment& a : again) {
    bool known = false;
    for (const Assignment& c : carried)
      known = known || c.handle == a.handle;
    if (!known)
      fail(loc, op,
           "the body reassigned a different set of handles on its second trace; a body "
           "must trace the same way every time (no C++ state that changes between calls)");
  }
  std::vector<ir::Value*> out;
  for (const Assignment& c : carried) {
    ir::Value* v = c.handle->value(loc);
    check_keeps_type(c.original->type(), v, loc, op);
    out.push_back(v);
  }
  return out;
}

// After the op: the handles hold the op's results (recorded as reassignments in the enclosing
// body, if any, so that nested control flow carries them further out).
void bind_results(const std::vector<Assignment>& carried, ir::Op* op) {
  for (size_t i = 0; i < carried.size(); ++i) {
    carried[i].handle->rebind(carried[i].original);
    carried[i].handle->assign(op->result(i));
  }
}

std::vector<ir::Value*> originals(const std::vector<Assignment>& carried) {
  std::vector<ir::Value*> out;
  for (const Assignment& a : carried)
    out.push_back(a.original);
  return out;
}

} // namespace

namespace detail {

void trace_for(const Tensor& lo, const Tensor& hi, const Tensor& step,
               const std::function<void(Int)>& body, Closure closure, std::source_location l,
               std::optional<int> num_stages) {
  SourceLoc loc = SourceLoc::from(l);
  Tracer& tracer = Tracer::current(loc);
  ir::Value* vlo = loop_bound(lo, loc, "lower bound");
  ir::Value* vhi = loop_bound(hi, loc, "upper bound");
  // A step <= 0, known now or only at run time, runs no iteration (ir.h; docs/semantics.md).
  ir::Value* vstep = loop_bound(step, loc, "step");
  DType t = detail::promote(detail::promote(lo.dtype(), hi.dtype()), step.dtype());
  vlo = detail::convert(vlo, t, loc);
  vhi = detail::convert(vhi, t, loc);
  vstep = detail::convert(vstep, t, loc);
  const ir::Type* iv_type = vlo->type();
  if (num_stages && (*num_stages < 1 || *num_stages > 16))
    fail(loc, "for_range",
         "tl::Stages{" + std::to_string(*num_stages) +
             "} is out of range: a loop's pipelining depth is 1 (none) to 16 stages");

  auto carried = discover_carried(
      tracer, iv_type, [&](ir::Value* iv) { body(Int(iv)); }, std::span(&closure, 1), loc,
      "for_range");

  ir::Builder& b = builder_at(loc);
  std::vector<ir::Value*> operands{vlo, vhi, vstep};
  for (ir::Value* v : originals(carried))
    operands.push_back(v);
  ir::Op* op = b.create(Opcode::For, operands, types_of(originals(carried)));
  if (num_stages)
    op->attrs()[0] = ir::Attr::of_int(*num_stages); // ops.def: num_stages, the for's one attribute
  ir::Block& region = op->region(0);
  ir::Value* iv = region.add_arg(iv_type);
  std::vector<ir::Value*> args;
  for (const Assignment& a : carried)
    args.push_back(region.add_arg(a.original->type()));
  {
    ir::InsertionGuard guard(b);
    auto yields = trace_region(
        tracer, region, carried, args, [&] { body(Int(iv)); }, loc, "for_range");
    b.set_location(loc);
    b.create(Opcode::Yield, yields, kNoResults);
  }
  bind_results(carried, op);
}

void trace_for(int64_t lo, const Tensor& hi, int64_t step, const std::function<void(Int)>& body,
               Closure closure, std::source_location l, std::optional<int> num_stages) {
  trace_for(scalar(double(lo), hi.dtype(), l), hi, scalar(double(step), hi.dtype(), l), body,
            closure, l, num_stages);
}

void trace_for(int64_t lo, int64_t hi, int64_t step, const std::function<void(Int)>& body,
               Closure closure, std::source_location l, std::optional<int> num_stages) {
  trace_for(scalar(double(lo), DType::i32, l), scalar(double(hi), DType::i32, l),
            scalar(double(step), DType::i32, l), body, closure, l, num_stages);
}

void trace_for(const Tensor& lo, const Tensor& hi, int64_t step,
               const std::function<void(Int)>& body, Closure closure, std::source_location l,
               std::optional<int> num_stages) {
  trace_for(lo, hi, scalar(double(step), hi.dtype(), l), body, closure, l, num_stages);
}

void trace_if(const Tensor& cond, const std::function<void()>& then_body, Closure then_closure,
              const std::function<void()>& else_body, Closure else_closure,
              std::source_location l) {
  SourceLoc loc = SourceLoc::from(l);
  Tracer& tracer = Tracer::current(loc);
  ir::Value* c = cond.value(loc);
  if (c->type()->rank() != 0 || !c->type()->is_bool())
    fail(loc, "if_",
         "the condition must be a boolean scalar (i1), got " + type_str(c->type()) +
             "; for a tile of conditions use where()");
  ir::Builder& b = builder_at(loc);
  ir::Op* op = b.create(Opcode::If, {c}, kNoResults);

  // Trace each branch into its region, recording what it reassigns; put the handles back.
  struct Branch {
    std::vector<Assignment> assigned;
    std::vector<ir::Value*> values; // the handles' values at the end of the branch
  };
  auto trace_branch = [&](ir::Block& region, const std::function<void()>& fn,
                          const Closure& closure) {
    const Closure closures[] = {closure};
    Branch br;
    ir::InsertionGuard guard(b);
    b.set_insertion_point_to_end(region);
    tracer.push_frame();
    try {
      fn();
    } catch (...) {
      restore(tracer.pop_frame());
      throw;
    }
    br.assigned = tracer.pop_frame();
    for (const Assignment& a : br.assigned)
      br.values.push_back(a.handle->value(loc));
    restore(br.assigned);
    check_captures(br.assigned, br.values, closures, loc, "if_");
    return br;
  };
  auto assigned_in = [](const Branch& br, const Assignment& r) {
    for (const Assignment& a : br.assigned)
      if (a.handle == r.handle)
        return true;
    return false;
  };
  Branch then_br = trace_branch(op->region(0), then_body, then_closure);
  Branch else_br = trace_branch(op->region(1), else_body, else_closure);

  // Results: every handle either branch reassigned, in order of first assignment.
  std::vector<Assignment> results = then_br.assigned;
  for (const Assignment& a : else_br.assigned) {
    bool seen = false;
    for (const Assignment& r : results)
      seen = seen || r.handle == a.handle;
    if (!seen)
      results.push_back(a);
  }
  for (const Assignment& r : results)
    if (!r.original && (!assigned_in(then_br, r) || !assigned_in(else_br, r)))
      fail(loc, "if_",
           "a handle without a value before the if_ is assigned in only one branch; "
           "assign it in both branches or give it a value before the if_");
  auto value_in = [](const Branch& br, const Assignment& r) {
    for (size_t i = 0; i < br.assigned.size(); ++i)
      if (br.assigned[i].handle == r.handle)
        return br.values[i];
    return r.original;
  };
  std::vector<ir::Value*> then_vals, else_vals;
  for (const Assignment& r : results) {
    ir::Value* tv = value_in(then_br, r);
    ir::Value* ev = value_in(else_br, r);
    if (tv->type() != ev->type())
      fail(loc, "if_",
           "a handle gets " + type_str(tv->type()) + " in one branch and " + type_str(ev->type()) +
               " in the other; both must have one type");
    then_vals.push_back(tv);
    else_vals.push_back(ev);
    op->add_result(tv->type());
  }
  {
    ir::InsertionGuard guard(b);
    b.set_location(loc);
    b.set_insertion_point_to_end(op->region(0));
    b.create(Opcode::Yield, then_vals, kNoResults);
    b.set_insertion_point_to_end(op->region(1));
    b.create(Opcode::Yield, else_vals, kNoResults);
  }
  bind_results(results, op);
}

void trace_while(const std::function<Tensor()>& cond, Closure cond_closure,
                 const std::function<void()>& body, Closure body_closure, std::source_location l) {
  SourceLoc loc = SourceLoc::from(l);
  Tracer& tracer = Tracer::current(loc);
  const Closure closures[] = {cond_closure, body_closure};
  auto carried = discover_carried(
      tracer, nullptr,
      [&](ir::Value*) {
        (void)cond();
        body();
      },
      closures, loc, "while_");

  ir::Builder& b = builder_at(loc);
  std::vector<const ir::Type*> types = types_of(originals(carried));
  ir::Op* op = b.create(Opcode::While, originals(carried), types);
  {
    ir::InsertionGuard guard(b);
    std::vector<ir::Value*> before_args, after_args;
    for (const ir::Type* t : types)
      before_args.push_back(op->region(0).add_arg(t));
    for (const ir::Type* t : types)
      after_args.push_back(op->region(1).add_arg(t));

    ir::Value* cv = nullptr; // not a handle: assigning an outer handle would look like carrying it
    auto vals = trace_region(
        tracer, op->region(0), carried, before_args, [&] { cv = cond().value(); }, loc, "while_");
    if (cv->type()->rank() != 0 || !cv->type()->is_bool())
      fail(loc, "while_",
           "the condition must return a boolean scalar (i1), got " + type_str(cv->type()));
    for (size_t i = 0; i < vals.size(); ++i)
      if (vals[i] != before_args[i])
        fail(loc, "while_", "the condition must not reassign handles from outside it");
    std::vector<ir::Value*> cond_operands{cv};
    cond_operands.insert(cond_operands.end(), before_args.begin(), before_args.end());
    b.set_location(loc);
    b.create(Opcode::Condition, cond_operands, kNoResults);

    auto yields = trace_region(tracer, op->region(1), carried, after_args, body, loc, "while_");
    b.set_location(loc);
    b.create(Opcode::Yield, yields, kNoResults);
  }
  bind_results(carried, op);
}

} // namespace detail
} // namespace tessel::lang
