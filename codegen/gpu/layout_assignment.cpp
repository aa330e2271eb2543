// Layout assignment (see layout_assignment.h): anchors at loads and stores, then one backward walk
// in which each op asks for its operands' layouts.
#include "codegen/gpu/layout_assignment.h"

#include "codegen/gpu/prefix_mask.h"

#include <algorithm>
#include <bit>

namespace tessel::codegen::gpu {

using ir::Opcode;

std::vector<int32_t> shape_of(const ir::Value* v) {
  std::vector<int32_t> s;
  for (int64_t d : v->type()->dims())
    s.push_back(static_cast<int32_t>(d));
  return s;
}

LinearLayout make_blocked(const std::vector<int32_t>& shape, int num_warps, int vec,
                          const std::vector<int>& order) {
  const size_t rank = shape.size();
  std::vector<int32_t> spt(rank, 1), tpw(rank, 1), wpc(rank, 1);
  spt[order[0]] = std::max(1, std::min(vec, shape[order[0]]));
  int lanes = 32;
  for (int d : order) {
    int32_t t = std::min<int32_t>(lanes, std::max(1, shape[d] / spt[d]));
    tpw[d] = t;
    lanes /= t;
  }
  tpw[order[0]] *= lanes; // leftover lanes replicate
  int warps = num_warps;
  // Warps go along the slowest dimensions first so that a warp's lanes stay along the fast one.
  for (auto it = order.rbegin(); it != order.rend(); ++it) {
    int d = *it;
    int32_t room = std::max(1, shape[d] / (spt[d] * tpw[d]));
    int32_t w = std::min<int32_t>(warps, room);
    wpc[d] = w;
    warps /= w;
  }
  wpc[order.back()] *= warps;
  return LinearLayout::blocked(shape, spt, tpw, wpc, order);
}

namespace {

std::vector<int> default_order(size_t rank) {
  std::vector<int> order;
  for (int d = static_cast<int>(rank) - 1; d >= 0; --d)
    order.push_back(d);
  return order;
}

int64_t numel(const std::vector<int32_t>& s) {
  int64_t n = 1;
  for (int32_t x : s)
    n *= x;
  return n;
}

int64_t floor_pow2(int64_t v) {
  return v <= 1 ? 1 : int64_t(1) << (63 - std::countl_zero(static_cast<uint64_t>(v)));
}

// The mask operand of a global access, or null: load ptr, mask, other; store ptr, value, mask;
// atomic_OP ptr, value, mask; atomic_load ptr, mask; atomic_store ptr, value, mask; atomic_cas has
// none.
const ir::Value* mask_of(const ir::Op& op) {
  if (op.opcode() == Opcode::Load || op.opcode() == Opcode::AtomicLoad)
    return op.num_operands() > 1 ? op.operand(1) : nullptr;
  if (op.opcode() == Opcode::AtomicCas)
    return nullptr;
  return op.num_operands() > 2 ? op.operand(2) : nullptr;
}

// True when `load` is an operand of a dot in the body of a `for` the pipeliner may take (its own
// num_stages is not 1): its copies can be cp.async of whole runs under a prefix mask.
bool feeds_pipelined_dot(const ir::Op& load) {
  const ir::Block* body = load.parent_block();
  const ir::Op* loop = body ? body->parent_op() : nullptr;
  if (load.opcode() != Opcode::Load || !loop || loop->opcode() != Opcode::For)
    return false;
  const ir::Attr& stages = loop->attr("num_stages");
  if (stages.kind == ir::Attr::Kind::Int && stages.i == 1)
    return false;
  for (const auto& user : body->ops())
    if (user->opcode() == Opcode::Dot &&
        (user->operand(0) == load.result() || user->operand(1) == load.result()))
      return true;
  return false;
}

} // namespace

LayoutPlan::LayoutPlan(const ir::Function& function, const analysis::AxisAnalysis& axis,
                       int num_warps)
    : axis_(axis), num_warps_(num_warps) {
  // Anchors: the first load or store of each shape sets that shape's default (atomics anchor
  // their own operands, one element per register, but set no default).
  ir::walk(function.body, [&](const ir::Op& op) {
    if (op.opcode() != Opcode::Load && op.opcode() != Opcode::Store)
      return;
    if (op.operand(0)->type()->rank() == 0)
      return;
    shape_default_.try_emplace(shape_of(op.operand(0)), anchor(op));
  });
  visit_block(function.body);
}

LinearLayout LayoutPlan::default_for(const std::vector<int32_t>& shape) const {
  auto it = shape_default_.find(shape);
  if (it != shape_default_.end())
    return it->second;
  int64_t per_thread = std::max<int64_t>(1, numel(shape) / (32 * num_warps_));
  return make_blocked(shape, num_warps_, static_cast<int>(std::min<int64_t>(4, per_thread)),
                      default_order(shape.size()));
}

LinearLayout LayoutPlan::anchor(const ir::Op& op) const {
  const ir::Value* ptr = op.operand(0);
  std::vector<int32_t> shape = shape_of(ptr);
  const analysis::AxisInfo& info = axis_.info(ptr);
  // Fastest dimension: the most contiguous, ties to the last.
  std::vector<int> order = default_order(shape.size());
  std::stable_sort(order.begin(), order.end(),
                   [&](int a, int b) { return info.contiguity[a] > info.contiguity[b]; });
  const int d0 = order[0];
  const int64_t elem_bytes = std::max(1u, ptr->type()->element()->pointee()->element_bits() / 8);
  int64_t vec = 16 / elem_bytes;
  vec = std::min(vec, info.contiguity[d0]);
  vec = std::min(vec, std::max<int64_t>(1, info.divisibility[d0] / elem_bytes));
  // A mask that varies inside the run caps it, except a prefix mask on a load the pipeliner may
  // stream: its cp.async copies move whole runs with a src-size (prefix_mask.h), so the tile keeps
  // the pointer's 16-byte runs at ragged edges (the synchronous `vec` stays capped: vector_of).
  vec = floor_pow2(std::max<int64_t>(1, vec));
  if (const ir::Value* mask = mask_of(op))
    if (!feeds_pipelined_dot(op) || !is_prefix_mask(*mask, d0, vec, axis_))
      vec = std::min(vec, axis_.info(mask).constancy[d0]);
  // An atomic is one instruction per element: consecutive lanes on consecutive elements make a
  // warp's atomics one contiguous span (coalesced), which runs of registers per thread would not.
  if (op.has(ir::ATOMIC))
    vec = 1;
  vec = std::min<int64_t>(vec, std::max<int64_t>(1, numel(shape) / (32 * num_warps_)));
  vec = floor_pow2(std::max<int64_t>(1, vec));
  return make_blocked(shape, num_warps_, static_cast<int>(vec), order);
}

int vector_dim(const LinearLayout& l) {
  int dim = 0;
  if (l.in_bits(InDim::Register) == 0)
    return dim;
  const auto& b0 = l.basis(InDim::Register, 0);
  for (int d = 0; d < l.rank(); ++d)
    if (b0[d] != 0)
      dim = d;
  return dim;
}

int access_width(const ir::Op& op) {
  const ir::Attr& vec = op.attr("vec");
  return vec.kind == ir::Attr::Kind::Int ? static_cast<int>(vec.i) : 1;
}

LayoutPlan::Vector LayoutPlan::vector_of(const ir::Op& op, const LinearLayout& layout) const {
  Vector v;
  const ir::Value* ptr = op.operand(0);
  if (layout.in_bits(InDim::Register) == 0)
    return v;
  v.dim = vector_dim(layout);
  const analysis::AxisInfo& info = axis_.info(ptr);
  const int64_t elem_bytes = std::max(1u, ptr->type()->element()->pointee()->element_bits() / 8);
  int64_t w = layout.contiguous_registers(v.dim);
  w = std::min(w, 16 / elem_bytes);
  w = std::min(w, info.contiguity[v.dim]);
  w = std::min(w, std::max<int64_t>(1, info.divisibility[v.dim] / elem_bytes));
  if (const ir::Value* mask = mask_of(op))
    w = std::min(w, axis_.info(mask).constancy[v.dim]);
  v.width = static_cast<int>(floor_pow2(std::max<int64_t>(1, w)));
  return v;
}

const LinearLayout* LayoutPlan::of(const ir::Value* v) const {
  auto it = layouts_.find(v);
  return it == layouts_.end() ? nullptr : &it->second;
}

// The walk runs backwards, so the first request met is the last user's (rule 3), and every anchor
// request met later is an earlier anchor's: an anchor request replaces whatever is there, which
// leaves the first anchor in program order (rule 2).
void LayoutPlan::request(const ir::Value* v, const LinearLayout& l, bool anchor) {
  if (v->type()->rank() == 0)
    return;
  auto [it, inserted] = requested_.try_emplace(v, Request{l, anchor});
  if (!inserted && anchor)
    it->second = Request{l, anchor};
}

LinearLayout LayoutPlan::decided(const ir::Value* v) const {
  auto it = requested_.find(v);
  if (it != requested_.end())
    return it->second.layout;
  return default_for(shape_of(v));
}

void LayoutPlan::visit_block(const ir::Block& block) {
  for (auto it = block.ops().rbegin(); it != block.ops().rend(); ++it)
    visit(**it);
}

void LayoutPlan::set(const ir::Value* v, const LinearLayout& l) {
  if (v->type()->rank() != 0)
    layouts_.insert_or_assign(v, l);
}

// The layouts of `op`'s results: loads, atomics and reductions anchor theirs (coalesced
// addresses; the input's default layout, sliced), every other op takes what its users asked for.
void LayoutPlan::assign_results(const ir::Op& op) {
  if ((op.opcode() == Opcode::Load || op.has(ir::ATOMIC)) && op.num_results() == 1 &&
      op.result()->type()->rank() != 0) {
    set(op.result(), anchor(op));
    return;
  }
  // A TMA box is read from shared memory in the default layout of its shape (threads along the
  // contiguous dimension, as a global load's).
  if (op.opcode() == Opcode::DescLoad) {
    set(op.result(), default_for(shape_of(op.result())));
    return;
  }
  if (op.has(ir::REDUCTION)) {
    LinearLayout in = default_for(shape_of(op.operand(0)));
    if (op.result()->type()->rank() != 0)
      set(op.result(), in.slice(static_cast<int>(op.int_attr("axis"))));
    request(op.operand(0), in, /*anchor=*/true);
    return;
  }
  for (const ir::Value* r : op.results())
    if (r->type()->rank() != 0)
      set(r, decided(r));
}

void LayoutPlan::visit(const ir::Op& op) {
  assign_results(op);
  auto result_layout = [&](size_t i) { return *of(op.result(i)); };
  switch (ir::family_of(op.opcode())) {
  case ir::OpFamily::Source:
  case ir::OpFamily::Reduction: // its operand was requested with its result
    return;
  case ir::OpFamily::Shape:
    return request_shape_operand(op);
  case ir::OpFamily::Elementwise:
    // Elementwise ops want their result's layout for their operands.
    if (op.result()->type()->rank() != 0)
      for (const ir::Value* v : op.operands())
        request(v, result_layout(0));
    return;
  case ir::OpFamily::Memory: {
    // Shared-memory and cp.async ops (after the pipeline pass) state their layouts in their types;
    // global loads, stores and atomics are anchors. Debugging ops take their value in any layout
    // (their mask is converted to it: assign-layouts).
    if (op.has(ir::GPU_STAGE) || op.has(ir::DEBUG_OP) || op.operand(0)->type()->rank() == 0)
      return;
    LinearLayout a = anchor(op);
    for (const ir::Value* v : op.operands())
      request(v, a, /*anchor=*/true);
    return;
  }
  case ir::OpFamily::Scan:
    return request(op.operand(0), result_layout(0));
  case ir::OpFamily::Contraction:
    return request(op.operand(2), result_layout(0));
  case ir::OpFamily::Control:
    return visit_control(op);
  }
  TESSEL_UNREACHABLE("bad op family");
}

// A shape op's operand in the layout its result's registers read directly.
void LayoutPlan::request_shape_operand(const ir::Op& op) {
  // Only read where the result is a tensor (a scalar has no layout).
  auto result = [&] { return *of(op.result()); };
  switch (op.opcode()) {
  case Opcode::Broadcast:
    if (op.operand(0)->type()->rank() != 0)
      request(op.operand(0), result().unbroadcast(shape_of(op.operand(0))));
    return;
  case Opcode::ExpandDims:
    request(op.operand(0), result().slice(static_cast<int>(op.int_attr("axis"))));
    return;
  case Opcode::Permute: {
    const auto& order = op.attr("order").ints;
    std::vector<int> inverse(order.size());
    for (size_t i = 0; i < order.size(); ++i)
      inverse[order[i]] = static_cast<int>(i);
    request(op.operand(0), result().permute(inverse));
    return;
  }
  case Opcode::Reshape:
    if (op.operand(0)->type()->rank() != 0 && op.result()->type()->rank() != 0)
      request(op.operand(0), result().reshape(shape_of(op.operand(0))));
    return;
  case Opcode::Hint:
    if (op.result()->type()->rank() != 0)
      request(op.operand(0), result());
    return;
  default:
    return; // splat: a scalar operand
  }
}

// Loops carry their results' layouts into their regions; yields and conditions ask for them.
void LayoutPlan::visit_control(const ir::Op& op) {
  switch (op.opcode()) {
  case Opcode::For: {
    // Operands: lo, hi, step, inits...; region args: iv, carried...
    for (size_t i = 0; i < op.num_results(); ++i) {
      const ir::Value* r = op.result(i);
      if (r->type()->rank() == 0)
        continue;
      LinearLayout l = *of(r);
      set(op.region(0).arg(i + 1), l);
      request(op.operand(3 + i), l);
    }
    visit_block(op.region(0));
    break;
  }
  case Opcode::If:
    visit_block(op.region(0));
    visit_block(op.region(1));
    break;
  case Opcode::While: {
    const ir::Block& before = op.region(0);
    const ir::Block& after = op.region(1);
    for (size_t i = 0; i < op.num_results(); ++i)
      if (op.result(i)->type()->rank() != 0)
        set(after.arg(i), *of(op.result(i)));
    for (size_t i = 0; i < before.num_args(); ++i) {
      const ir::Value* a = before.arg(i);
      if (a->type()->rank() == 0)
        continue;
      LinearLayout l = decided(op.operand(i));
      set(a, l);
      request(op.operand(i), l);
    }
    visit_block(after);
    visit_block(before);
    break;
  }
  case Opcode::Yield: {
    const ir::Op* parent = op.parent_op();
    const ir::Block* blk = op.parent_block();
    for (size_t i = 0; i < op.num_operands(); ++i) {
      const ir::Value* target = nullptr;
      if (parent->opcode() == Opcode::While && blk == &parent->region(1))
        target = parent->region(0).arg(i);
      else
        target = parent->result(i);
      if (const LinearLayout* l = of(target))
        request(op.operand(i), *l);
    }
    break;
  }
  case Opcode::Condition: {
    const ir::Op* parent = op.parent_op();
    for (size_t i = 1; i < op.num_operands(); ++i)
      if (const LinearLayout* l = of(parent->result(i - 1)))
        request(op.operand(i), *l);
    break;
  }
  default:
    return; // return: no operands
  }
}

} // namespace tessel::codegen::gpu
