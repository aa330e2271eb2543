// Per-op verifier hooks named in ops.def: the type and shape rules of each op, as stated in ir.h.
// Each returns a message naming the rule and the types involved, or nothing when the op is well
// formed. They run after the structural checks (verifier.cpp), so counts fixed by ops.def, SSA
// scoping and the kinds of terminators are already known to hold; the hooks check operand counts
// of variadic ops, types, shapes and attribute values.
#include "ir/verify_ops.h"

#include "tessel/dtype.h"
#include "tessel/ir/atomic.h"
#include "tessel/ir/mem_hints.h"
#include "tessel/ir/printer.h"

#include <cmath>

#include <algorithm>

namespace tessel::ir {
namespace {

using Message = std::optional<std::string>;

std::string str(const Type* t) { return t->str(); }

std::string list(const std::vector<Value*>& values) {
  std::string s = "(";
  for (size_t i = 0; i < values.size(); ++i)
    s += (i ? ", " : "") + str(values[i]->type());
  return s + ")";
}

std::string shape_str(std::span<const int64_t> dims) {
  std::string s = "[";
  for (size_t i = 0; i < dims.size(); ++i)
    s += (i ? ", " : "") + std::to_string(dims[i]);
  return s + "]";
}

bool same_shape(const Type* a, const Type* b) { return std::ranges::equal(a->dims(), b->dims()); }

bool is_scalar_int(const Type* t) { return t->is_scalar() && t->is_integer(); }
bool is_scalar_of(const Type* t, DType k) { return t->is_scalar() && t->dtype() == k; }

// The types `values` carry must equal `types`; `what` names the two sides in the message.
Message types_match(const std::vector<Value*>& values, const std::vector<const Type*>& types,
                    const std::string& what) {
  bool ok = values.size() == types.size();
  for (size_t i = 0; ok && i < values.size(); ++i)
    ok = values[i]->type() == types[i];
  if (ok)
    return std::nullopt;
  std::string want = "(";
  for (size_t i = 0; i < types.size(); ++i)
    want += (i ? ", " : "") + str(types[i]);
  return what + ": expected " + want + "), found " + list(values);
}

std::vector<const Type*> types_of(const std::vector<Value*>& values) {
  std::vector<const Type*> out;
  for (Value* v : values)
    out.push_back(v->type());
  return out;
}

// Region `r`'s terminator's operands (the structural verifier guarantees a terminator).
std::vector<Value*> yielded(const Op& op, size_t r) {
  Op* t = op.region(r).terminator();
  return t ? t->operands() : std::vector<Value*>{};
}

// Operands and result of an elementwise op all of one type.
Message same_types(const Op& op) {
  const Type* t = op.result()->type();
  for (Value* v : op.operands())
    if (v->type() != t)
      return "operands and result must have one type, found " + list(op.operands()) + " -> " +
             str(t);
  if (t->is_pointer_like())
    return "does not apply to pointers, found " + str(t);
  return std::nullopt;
}

// The shape of `t` without `axis`, or a message when `axis` is not one of t's axes.
Message reduced_shape(const Op& op, std::vector<int64_t>& out) {
  const Type* in = op.operand(0)->type();
  int64_t axis = op.int_attr("axis");
  if (axis < 0 || axis >= int64_t(in->rank()))
    return "axis " + std::to_string(axis) + " is not an axis of " + str(in);
  out.assign(in->dims().begin(), in->dims().end());
  out.erase(out.begin() + axis);
  return std::nullopt;
}

Message reduce_result(const Op& op, const Type* element) {
  std::vector<int64_t> dims;
  if (auto m = reduced_shape(op, dims))
    return m;
  const Type* r = op.result()->type();
  if (!std::ranges::equal(r->dims(), dims) || r->element() != element)
    return "result must have shape " + shape_str(dims) + " and element " + str(element) +
           " (axis " + std::to_string(op.int_attr("axis")) + " of " + str(op.operand(0)->type()) +
           " removed), found " + str(r);
  return std::nullopt;
}

// Pointer and mask of load and store: `mask` may be null.
Message check_pointer_and_mask(const Value* ptr, const Value* mask) {
  const Type* p = ptr->type();
  if (!p->is_pointer_like())
    return "pointer operand must be a pointer or tensor of pointers, found " + str(p);
  if (mask && (!mask->type()->is_bool() || !same_shape(mask->type(), p)))
    return "mask must be i1 of the pointer's shape, found " + str(mask->type()) + " for " + str(p);
  return std::nullopt;
}

} // namespace

Message verify_constant(const Op& op) {
  const Type* t = op.result()->type();
  if (t->is_pointer_like())
    return "result must be a number or a tensor of numbers, found " + str(t);
  const Attr& value = op.attrs()[0];
  DType dt = t->element()->dtype();
  if (value.kind == Attr::Kind::Float) {
    if (!std::isnan(value.f) && round_to_dtype(value.f, dt) != value.f)
      return "value " + format_float(value.f) + " is not exactly representable in " +
             str(t->element());
  } else if (value.kind == Attr::Kind::Int) {
    if (!integer_fits(double(value.i), dt) && dt != DType::i64 &&
        dt != DType::u64) // 64-bit: the bits
      return "value " + std::to_string(value.i) + " does not fit in " + str(t->element());
  }
  return std::nullopt;
}

Message verify_grid_query(const Op& op) {
  int64_t axis = op.int_attr("axis");
  if (axis < 0 || axis > 2)
    return "axis must be 0, 1 or 2, found " + std::to_string(axis);
  if (!is_scalar_of(op.result()->type(), DType::i32))
    return "result must be i32, found " + str(op.result()->type());
  return std::nullopt;
}

Message verify_arange(const Op& op) {
  int64_t start = op.int_attr("start"), end = op.int_attr("end");
  if (end <= start || !is_power_of_two(end - start))
    return "end - start must be a positive power of two, found start = " + std::to_string(start) +
           ", end = " + std::to_string(end);
  const Type* r = op.result()->type();
  if (r->rank() != 1 || r->dims()[0] != end - start || !is_scalar_of(r->element(), DType::i32))
    return "result must be tensor<" + std::to_string(end - start) + "xi32>, found " + str(r);
  return std::nullopt;
}

Message verify_splat(const Op& op) {
  const Type* in = op.operand(0)->type();
  const Type* r = op.result()->type();
  if (in->is_tensor())
    return "operand must be a scalar or pointer, found " + str(in);
  if (r->element() != in)
    return "result must be a tensor of " + str(in) + ", found " + str(r);
  return std::nullopt;
}

Message verify_broadcast(const Op& op) {
  const Type* in = op.operand(0)->type();
  const Type* r = op.result()->type();
  bool ok = in->rank() == r->rank() && in->element() == r->element();
  for (size_t i = 0; ok && i < in->rank(); ++i)
    ok = in->dims()[i] == r->dims()[i] || in->dims()[i] == 1;
  if (!ok)
    return "result must have the operand's rank and element, each dim equal or broadcast from 1, "
           "found " +
           str(in) + " -> " + str(r);
  return std::nullopt;
}

Message verify_convert_layout(const Op& op) {
  const Type* in = op.operand(0)->type();
  const Type* r = op.result()->type();
  if (!in->is_tensor() || !same_shape(in, r) || in->element() != r->element())
    return "result must be the operand's tensor type in another layout, found " + str(in) + " -> " +
           str(r);
  if (!in->layout() || !r->layout())
    return "operand and result must carry layouts, found " + str(in) + " -> " + str(r);
  return std::nullopt;
}

namespace {
bool is_shared_buffer(const Type* t) {
  return t->is_tensor() && t->layout() && t->layout()->kind() == LayoutKind::Shared;
}
} // namespace

Message verify_local_alloc(const Op& op) {
  const Type* r = op.result()->type();
  if (!is_shared_buffer(r))
    return "result must be a tensor type with a #shared layout (a shared-memory buffer), found " +
           str(r);
  if (op.int_attr("offset") < -1)
    return "offset must be a byte offset >= 0, or -1 before allocate-shared, found " +
           std::to_string(op.int_attr("offset"));
  const Attr& slots = op.attr("slots");
  if (slots.kind == Attr::Kind::Int && slots.i < 1)
    return "slots must be at least 1, found " + std::to_string(slots.i);
  return std::nullopt;
}

Message verify_local_slot(const Op& op) {
  const Type* buffer = op.operand(0)->type();
  if (!is_shared_buffer(buffer))
    return "buffer must be a tensor type with a #shared layout, found " + str(buffer);
  if (!is_scalar_of(op.operand(1)->type(), DType::i32))
    return "the slot index must be an i32 scalar, found " + str(op.operand(1)->type());
  if (op.result()->type() != buffer)
    return "result must have the buffer's type " + str(buffer) + ", found " +
           str(op.result()->type());
  return std::nullopt;
}

// cp.async moves 4, 8 or 16 bytes per copy.
Message verify_async_copy(const Op& op) {
  if (op.num_operands() != 2 && op.num_operands() != 3)
    return "takes a pointer tensor, a buffer and an optional mask, found " +
           std::to_string(op.num_operands()) + " operands";
  const Type* ptrs = op.operand(0)->type();
  const Type* buffer = op.operand(1)->type();
  if (!ptrs->is_tensor() || !ptrs->element()->is_pointer() ||
      ptrs->element()->address_space() != 1 || !ptrs->layout())
    return "the source must be a tensor of global pointers with a layout, found " + str(ptrs);
  if (!is_shared_buffer(buffer) || !same_shape(ptrs, buffer) ||
      buffer->element() != ptrs->element()->pointee())
    return "the destination must be a #shared buffer of the source's shape and pointee, found " +
           str(ptrs) + " and " + str(buffer);
  if (op.num_operands() == 3) {
    // An i1 mask, or i32 byte counts: each copy reads the count at its run's first element.
    const Type* mask = op.operand(2)->type();
    const bool counts = mask->is_integer() && mask->element_bits() == 32;
    if ((!mask->is_bool() && !counts) || !same_shape(mask, ptrs) ||
        mask->layout() != ptrs->layout())
      return "the mask must be i1 (or the i32 bytes of each copy) of the source's shape and "
             "layout, found " +
             str(mask);
  }
  const int64_t vec = op.int_attr("vec");
  const int64_t bytes = vec * std::max(1u, buffer->element_bits() / 8);
  if (vec < 1 || !is_power_of_two(vec) || (bytes != 4 && bytes != 8 && bytes != 16))
    return "vec = " + std::to_string(vec) + " elements of " + str(buffer->element()) +
           " is not a 4, 8 or 16-byte copy";
  return std::nullopt;
}

Message verify_async_wait(const Op& op) {
  if (op.int_attr("pending") < 0)
    return "pending must be >= 0, found " + std::to_string(op.int_attr("pending"));
  return std::nullopt;
}

Message verify_wgmma_wait(const Op& op) {
  if (op.int_attr("pending") < 0)
    return "pending must be >= 0, found " + std::to_string(op.int_attr("pending"));
  if (op.result()->type() != op.operand(0)->type())
    return "the result must have the accumulator's type, found " + str(op.operand(0)->type()) +
           " and " + str(op.result()->type());
  return std::nullopt;
}

namespace {
// `buffer` a shared buffer, `value` the same tensor held in registers (not #shared).
Message check_buffer_and_value(const Type* buffer, const Type* value) {
  if (!is_shared_buffer(buffer))
    return "buffer must be a tensor type with a #shared layout, found " + str(buffer);
  if (!same_shape(buffer, value) || buffer->element() != value->element() || !value->layout() ||
      value->layout()->kind() == LayoutKind::Shared)
    return "value must be the buffer's shape and element in a register layout, found " +
           str(buffer) + " and " + str(value);
  return std::nullopt;
}
} // namespace

namespace {
// With `offsets`, the result is a sub-tile of the buffer: same rank and element, each dimension
// within the buffer's from its offset.
Message check_sub_tile(const Type* buffer, const Type* value, const std::vector<int64_t>& offsets) {
  if (!is_shared_buffer(buffer))
    return "buffer must be a tensor type with a #shared layout, found " + str(buffer);
  if (value->rank() != buffer->rank() || buffer->element() != value->element() ||
      !value->layout() || value->layout()->kind() == LayoutKind::Shared)
    return "value must be a sub-tile of the buffer (its rank and element) in a register layout, "
           "found " +
           str(buffer) + " and " + str(value);
  if (offsets.size() != buffer->rank())
    return "offsets must have one entry per dimension (" + std::to_string(buffer->rank()) +
           "), found " + std::to_string(offsets.size());
  for (size_t d = 0; d < offsets.size(); ++d)
    if (offsets[d] < 0 || offsets[d] + value->dims()[d] > buffer->dims()[d])
      return "sub-tile of shape " + shape_str(value->dims()) + " at offsets " + shape_str(offsets) +
             " does not fit in " + str(buffer);
  return std::nullopt;
}
} // namespace

Message verify_local_load(const Op& op) {
  const Attr& offsets = op.attr("offsets");
  if (offsets.kind == Attr::Kind::Ints)
    return check_sub_tile(op.operand(0)->type(), op.result()->type(), offsets.ints);
  return check_buffer_and_value(op.operand(0)->type(), op.result()->type());
}

Message verify_local_store(const Op& op) {
  return check_buffer_and_value(op.operand(0)->type(), op.operand(1)->type());
}

Message verify_barrier(const Op&) { return std::nullopt; }

namespace {
// An mbarrier: a shared buffer (or ring slot) of one i64.
Message check_mbarrier(const Type* bar) {
  if (!is_shared_buffer(bar) || !is_scalar_of(bar->element(), DType::i64) ||
      bar->num_elements() != 1)
    return "the mbarrier must be a shared buffer of one i64 (tensor<1xi64, #shared>), found " +
           str(bar);
  return std::nullopt;
}
} // namespace

Message verify_mbarrier_op(const Op& op) {
  if (auto m = check_mbarrier(op.operand(0)->type()))
    return m;
  // Each op has one integer attribute: count (init, arrive) or bytes (expect_tx).
  const Attr& a = op.attrs()[0];
  if (a.kind == Attr::Kind::Int && (a.i < 1 || a.i > (int64_t(1) << 20) - 1))
    return op.info().attrs[0].name + " must be in 1..2^20-1 (an mbarrier's range), found " +
           std::to_string(a.i);
  return std::nullopt;
}

Message verify_mbarrier_wait(const Op& op) {
  if (auto m = check_mbarrier(op.operand(0)->type()))
    return m;
  const Type* phase = op.operand(1)->type();
  if (!phase->is_scalar() || !is_scalar_of(phase, DType::i32))
    return "the phase must be an i32 scalar (its parity is waited for), found " + str(phase);
  return std::nullopt;
}

Message verify_async_tma_load(const Op& op) {
  if (op.num_operands() < 3)
    return "takes the destination slot, the mbarrier and 1 to 5 i32 coordinates, found " +
           std::to_string(op.num_operands()) + " operands";
  const Type* slot = op.operand(0)->type();
  if (!is_shared_buffer(slot))
    return "the destination must be a shared buffer, found " + str(slot);
  if (auto m = check_mbarrier(op.operand(1)->type()))
    return m;
  // A box of more dimensions than its slot has leading dimensions of 1 (a batch's box).
  const size_t coords = op.num_operands() - 2;
  if (coords < slot->rank() || coords > 5)
    return "takes one i32 coordinate per dimension of the box " + str(slot) +
           " (and one per leading dimension of 1, up to 5), found " + std::to_string(coords);
  for (size_t i = 2; i < op.num_operands(); ++i)
    if (!is_scalar_of(op.operand(i)->type(), DType::i32) || !op.operand(i)->type()->is_scalar())
      return "coordinates must be i32 scalars, found " + str(op.operand(i)->type());
  if (op.int_attr("tmap") < 0)
    return "tmap must be >= 0 (a tensor-map parameter of the kernel), found " +
           std::to_string(op.int_attr("tmap"));
  return std::nullopt;
}

Message verify_reshape(const Op& op) {
  const Type* in = op.operand(0)->type();
  const Type* r = op.result()->type();
  if (in->element() != r->element() || in->num_elements() != r->num_elements())
    return "result must have the operand's element type and element count, found " + str(in) +
           " -> " + str(r);
  return std::nullopt;
}

Message verify_expand_dims(const Op& op) {
  const Type* in = op.operand(0)->type();
  const Type* r = op.result()->type();
  int64_t axis = op.int_attr("axis");
  if (axis < 0 || axis > int64_t(in->rank()))
    return "axis " + std::to_string(axis) + " must be in 0.." + std::to_string(in->rank()) +
           " for " + str(in);
  std::vector<int64_t> dims(in->dims().begin(), in->dims().end());
  dims.insert(dims.begin() + axis, 1);
  if (!std::ranges::equal(r->dims(), dims) || r->element() != in->element())
    return "result must have shape " + shape_str(dims) + ", found " + str(in) + " -> " + str(r);
  return std::nullopt;
}

Message verify_permute(const Op& op) {
  const Type* in = op.operand(0)->type();
  const Type* r = op.result()->type();
  const std::vector<int64_t>& order = op.attr("order").ints;
  std::vector<int64_t> sorted = order;
  std::ranges::sort(sorted);
  bool is_permutation = sorted.size() == in->rank();
  for (size_t i = 0; is_permutation && i < sorted.size(); ++i)
    is_permutation = sorted[i] == int64_t(i);
  if (!is_permutation)
    return "order " + shape_str(order) + " must be a permutation of the " +
           std::to_string(in->rank()) + " axes of " + str(in);
  std::vector<int64_t> dims;
  for (int64_t o : order)
    dims.push_back(in->dims()[size_t(o)]);
  if (!std::ranges::equal(r->dims(), dims) || r->element() != in->element())
    return "result must have shape " + shape_str(dims) +
           " (result dim i = operand dim order[i]), "
           "found " +
           str(in) + " -> " + str(r);
  return std::nullopt;
}

// The operand kinds come from the FLOAT_ONLY / INTEGER_ONLY traits of ops.def, the one place that
// says which ops take which types (tests/ir/op_families_test.cpp checks the scalar semantics
// against the same traits).
Message verify_arith(const Op& op) {
  if (auto m = same_types(op))
    return m;
  const Type* t = op.result()->type();
  if (op.has(INTEGER_ONLY) && !t->is_integer())
    return "operands must be integers, found " + str(t);
  if (op.has(FLOAT_ONLY) && !t->is_float())
    return "operands must be floats, found " + str(t);
  if (t->is_fp8())
    return "fp8 is a storage format (cast, select and memory ops only), found " + str(t);
  return std::nullopt;
}

Message verify_compare(const Op& op) {
  const Type* a = op.operand(0)->type();
  const Type* r = op.result()->type();
  if (op.operand(1)->type() != a)
    return "operands must have one type, found " + list(op.operands());
  if (a->is_fp8())
    return "fp8 is a storage format (cast, select and memory ops only), found " + str(a);
  if (!r->is_bool() || !same_shape(a, r))
    return "result must be i1 of the operands' shape, found " + list(op.operands()) + " -> " +
           str(r);
  return std::nullopt;
}

Message verify_select(const Op& op) {
  const Type* c = op.operand(0)->type();
  const Type* r = op.result()->type();
  if (op.operand(1)->type() != r || op.operand(2)->type() != r)
    return "both values must have the result's type, found " + list(op.operands()) + " -> " +
           str(r);
  if (!c->is_bool() || !same_shape(c, r))
    return "condition must be i1 of the result's shape, found " + str(c) + " for " + str(r);
  return std::nullopt;
}

Message verify_cast(const Op& op) {
  const Type* in = op.operand(0)->type();
  const Type* r = op.result()->type();
  if (!same_shape(in, r))
    return "result must have the operand's shape, found " + str(in) + " -> " + str(r);
  if (in->is_pointer_like() || r->is_pointer_like())
    return "casts numbers only, found " + str(in) + " -> " + str(r);
  return std::nullopt;
}

Message verify_cast_sat(const Op& op) {
  if (auto m = verify_cast(op))
    return m;
  if (!op.result()->type()->is_fp8())
    return "saturates to fp8 types only, found " + str(op.operand(0)->type()) + " -> " +
           str(op.result()->type());
  return std::nullopt;
}

// Same width, numbers only: i1 has no byte of its own and pointers are not numbers.
Message verify_bitcast(const Op& op) {
  const Type* in = op.operand(0)->type();
  const Type* r = op.result()->type();
  if (!same_shape(in, r))
    return "result must have the operand's shape, found " + str(in) + " -> " + str(r);
  if (in->is_pointer_like() || r->is_pointer_like() || in->is_bool() || r->is_bool())
    return "bitcasts numbers other than i1 only, found " + str(in) + " -> " + str(r);
  if (in->element_bits() != r->element_bits())
    return "the element types must have one width, found " + str(in) + " -> " + str(r);
  return std::nullopt;
}

Message verify_addptr(const Op& op) {
  const Type* p = op.operand(0)->type();
  const Type* off = op.operand(1)->type();
  if (!p->is_pointer_like())
    return "first operand must be a pointer or tensor of pointers, found " + str(p);
  if (!off->is_integer() || !same_shape(p, off))
    return "offset must be an integer of the pointer's shape, found " + list(op.operands());
  if (op.result()->type() != p)
    return "result must have the pointer's type " + str(p) + ", found " + str(op.result()->type());
  return std::nullopt;
}

// `vec` (elements per global access, set by assign-layouts): a power of two up to 16.
static Message check_vec(const Op& op) {
  const Attr& vec = op.attr("vec");
  if (vec.kind == Attr::Kind::Int && (vec.i < 1 || vec.i > 16 || !is_power_of_two(vec.i)))
    return "vec must be a power of two from 1 to 16 (elements per access), found " +
           std::to_string(vec.i);
  return std::nullopt;
}

// The memory modifiers (mem_hints.h): each attribute in range, a cache operator of this op, and a
// combination PTX has a form for.
static Message check_mem_modifiers(const Op& op) {
  const bool is_store = op.opcode() == Opcode::Store;
  const Attr& cache = op.attr("cache");
  if (cache.kind == Attr::Kind::Int && (cache.i < 1 || cache.i >= kNumCacheModifiers))
    return "cache must be a cache modifier from 1 (ca) to " +
           std::to_string(kNumCacheModifiers - 1) + " (wt), found " + std::to_string(cache.i);
  const Attr& evict = op.attr("evict");
  if (evict.kind == Attr::Kind::Int && (evict.i < 1 || evict.i >= kNumEvictionPolicies))
    return "evict must be 1 (evict_first) or 2 (evict_last), found " + std::to_string(evict.i);
  const Attr& vol = op.attr("volatile");
  if (vol.kind == Attr::Kind::Int && vol.i != 1)
    return "volatile must be 1 when present, found " + std::to_string(vol.i);
  return check_modifiers(mem_modifiers(op), is_store);
}

Message verify_load(const Op& op) {
  if (op.num_operands() < 1 || op.num_operands() > 3)
    return "takes a pointer, an optional mask and an optional other value, found " +
           std::to_string(op.num_operands()) + " operands";
  if (auto m =
          check_pointer_and_mask(op.operand(0), op.num_operands() > 1 ? op.operand(1) : nullptr))
    return m;
  const Type* p = op.operand(0)->type();
  const Type* r = op.result()->type();
  if (r->element() != p->element()->pointee() || !same_shape(r, p))
    return "result must be the pointee type " + str(p->element()->pointee()) +
           " in the pointer's shape, found " + str(p) + " -> " + str(r);
  if (op.num_operands() == 3 && op.operand(2)->type() != r)
    return "other value must have the result's type " + str(r) + ", found " +
           str(op.operand(2)->type());
  if (auto m = check_mem_modifiers(op))
    return m;
  return check_vec(op);
}

Message verify_store(const Op& op) {
  if (op.num_operands() < 2 || op.num_operands() > 3)
    return "takes a pointer, a value and an optional mask, found " +
           std::to_string(op.num_operands()) + " operands";
  if (auto m =
          check_pointer_and_mask(op.operand(0), op.num_operands() > 2 ? op.operand(2) : nullptr))
    return m;
  const Type* p = op.operand(0)->type();
  const Type* v = op.operand(1)->type();
  if (v->element() != p->element()->pointee() || !same_shape(v, p))
    return "value must be the pointee type " + str(p->element()->pointee()) +
           " in the pointer's shape, found " + str(v) + " for " + str(p);
  if (auto m = check_mem_modifiers(op))
    return m;
  return check_vec(op);
}

// What every atomic op shares: sem/scope in range, a pointee the op accepts, a result of the
// pointee type in the pointer's shape, and value operands (from 1 to `values`) of that type.
static Message check_atomic(const Op& op, size_t values) {
  const Type* p = op.operand(0)->type();
  const Type* r = op.result()->type();
  const int64_t sem = op.int_attr("sem"), scope = op.int_attr("scope");
  if (sem < 0 || sem >= kNumMemSems)
    return "sem must be 0 (relaxed), 1 (acquire), 2 (release) or 3 (acq_rel), found " +
           std::to_string(sem);
  if (scope < 0 || scope >= kNumMemScopes)
    return "scope must be 0 (cta), 1 (gpu) or 2 (sys), found " + std::to_string(scope);
  const Type* pointee = p->element()->pointee();
  if (pointee->is_pointer() || !atomic_accepts(op.opcode(), pointee->dtype()))
    return std::string("applies to ") + atomic_accepted_types(op.opcode()) + " elements, found " +
           str(p);
  if (r->element() != pointee || !same_shape(r, p))
    return "result must be the pointee type " + str(pointee) + " in the pointer's shape, found " +
           str(p) + " -> " + str(r);
  for (size_t i = 1; i <= values; ++i)
    if (op.operand(i)->type() != r)
      return "operand " + std::to_string(i) + " must have the result's type " + str(r) +
             ", found " + str(op.operand(i)->type());
  return std::nullopt;
}

Message verify_atomic_rmw(const Op& op) {
  if (op.num_operands() < 2 || op.num_operands() > 3)
    return "takes a pointer, a value and an optional mask, found " +
           std::to_string(op.num_operands()) + " operands";
  if (auto m =
          check_pointer_and_mask(op.operand(0), op.num_operands() > 2 ? op.operand(2) : nullptr))
    return m;
  return check_atomic(op, 1);
}

Message verify_atomic_cas(const Op& op) {
  if (auto m = check_pointer_and_mask(op.operand(0), nullptr))
    return m;
  return check_atomic(op, 2);
}

// atomic_load ptr [, mask]: a relaxed or acquire read (a load cannot release).
Message verify_atomic_load(const Op& op) {
  if (op.num_operands() < 1 || op.num_operands() > 2)
    return "takes a pointer and an optional mask, found " + std::to_string(op.num_operands()) +
           " operands";
  if (auto m =
          check_pointer_and_mask(op.operand(0), op.num_operands() > 1 ? op.operand(1) : nullptr))
    return m;
  const auto sem = static_cast<MemSem>(op.int_attr("sem"));
  if (sem == MemSem::release || sem == MemSem::acq_rel)
    return "sem must be relaxed (0) or acquire (1), found " + std::to_string(op.int_attr("sem"));
  return check_atomic(op, 0);
}

// atomic_store ptr, val [, mask]: a relaxed or release write, no result.
Message verify_atomic_store(const Op& op) {
  if (op.num_operands() < 2 || op.num_operands() > 3)
    return "takes a pointer, a value and an optional mask, found " +
           std::to_string(op.num_operands()) + " operands";
  if (auto m =
          check_pointer_and_mask(op.operand(0), op.num_operands() > 2 ? op.operand(2) : nullptr))
    return m;
  const int64_t sem = op.int_attr("sem"), scope = op.int_attr("scope");
  if (sem != static_cast<int64_t>(MemSem::relaxed) && sem != static_cast<int64_t>(MemSem::release))
    return "sem must be relaxed (0) or release (2), found " + std::to_string(sem);
  if (scope < 0 || scope >= kNumMemScopes)
    return "scope must be 0 (cta), 1 (gpu) or 2 (sys), found " + std::to_string(scope);
  const Type* p = op.operand(0)->type();
  const Type* pointee = p->element()->pointee();
  if (pointee->is_pointer() || !atomic_accepts(op.opcode(), pointee->dtype()))
    return std::string("applies to ") + atomic_accepted_types(op.opcode()) + " elements, found " +
           str(p);
  const Type* v = op.operand(1)->type();
  if (v->element() != pointee || !same_shape(v, p))
    return "value must be the pointee type " + str(pointee) + " in the pointer's shape, found " +
           str(v) + " for " + str(p);
  return std::nullopt;
}

Message verify_reduce(const Op& op) {
  if (op.operand(0)->type()->is_pointer_like())
    return "does not apply to pointers, found " + str(op.operand(0)->type());
  return reduce_result(op, op.operand(0)->type()->element());
}

Message verify_arg_reduce(const Op& op) {
  const Type* in = op.operand(0)->type();
  if (in->is_pointer_like())
    return "does not apply to pointers, found " + str(in);
  const Type* i32 = op.result()->type()->element();
  if (!is_scalar_of(i32, DType::i32))
    return "result must be i32 indices, found " + str(op.result()->type());
  return reduce_result(op, i32);
}

Message verify_custom_reduce(const Op& op) {
  if (auto m = verify_reduce(op))
    return m;
  const Type* e = op.operand(0)->type()->element();
  const Block& body = op.region(0);
  if (body.num_args() != 2 || body.arg(0)->type() != e || body.arg(1)->type() != e)
    return "combine region must take two " + str(e) + " arguments, found " + list(body.args());
  for (const auto& inner : body.ops())
    if (!inner->has(PURE) && !inner->has(TERMINATOR))
      return std::string("combine region may only hold pure ops, found '") + inner->name() + "'";
  return types_match(yielded(op, 0), {e}, "combine region must yield one " + str(e));
}

Message verify_scan(const Op& op) {
  const Type* in = op.operand(0)->type();
  std::vector<int64_t> dims;
  if (auto m = reduced_shape(op, dims))
    return m;
  if (in->is_pointer_like() || op.result()->type() != in)
    return "result must have the operand's numeric type, found " + str(in) + " -> " +
           str(op.result()->type());
  return std::nullopt;
}

Message verify_dot(const Op& op) {
  const Type* a = op.operand(0)->type();
  const Type* b = op.operand(1)->type();
  const Type* acc = op.operand(2)->type();
  const Type* r = op.result()->type();
  std::string found = list(op.operands()) + " -> " + str(r);
  if (a->rank() != 2 || b->rank() != 2 || acc->rank() != 2 || a->dims()[1] != b->dims()[0] ||
      acc->dims()[0] != a->dims()[0] || acc->dims()[1] != b->dims()[1])
    return "shapes must be MxK, KxN, MxN, found " + found;
  if (r != acc)
    return "result must have the accumulator's type, found " + found;
  // fp8 is the one family with mixed pairs (mma.sync takes e4m3 x e5m2 and e5m2 x e4m3).
  const bool fp8_pair = a->element()->is_scalar() && b->element()->is_scalar() &&
                        dtype_is_fp8(a->element()->dtype()) && dtype_is_fp8(b->element()->dtype());
  if ((a->element() != b->element() && !fp8_pair) || a->is_pointer_like())
    return "a and b must have one numeric element type (or be two fp8 types), found " + found;
  const Type* want = acc->element();
  bool ok = fp8_pair        ? is_scalar_of(want, DType::f32)
            : a->is_float() ? is_scalar_of(want, DType::f32) || want == a->element()
                            : is_scalar_of(want, DType::i32);
  if (!ok)
    return std::string("accumulator must be ") +
           (fp8_pair        ? std::string("f32")
            : a->is_float() ? "f32 or " + str(a->element())
                            : std::string("i32")) +
           ", found " + found;
  const Attr& precision = op.attr("precision");
  if (precision.kind == Attr::Kind::Int && (precision.i < 0 || precision.i > 2))
    return "precision must be 0 (ieee), 1 (tf32) or 2 (tf32x3), found " +
           std::to_string(precision.i);
  return std::nullopt;
}

// dot_sparse %a (M x K/2), %b (K x N), %acc (M x N), %meta (i16, M x K/16): f16 or bf16 operands
// (mma.sp's), an f32 accumulator (or f16 for f16 operands); K a multiple of 16 (one i16 of metadata
// covers 16 k).
Message verify_dot_sparse(const Op& op) {
  const Type* a = op.operand(0)->type();
  const Type* b = op.operand(1)->type();
  const Type* acc = op.operand(2)->type();
  const Type* meta = op.operand(3)->type();
  const Type* r = op.result()->type();
  std::string found = list(op.operands()) + " -> " + str(r);
  if (a->rank() != 2 || b->rank() != 2 || acc->rank() != 2 || meta->rank() != 2)
    return "operands must be 2-D (M x K/2, K x N, M x N, M x K/16), found " + found;
  const int64_t m = acc->dims()[0], n = acc->dims()[1], k = b->dims()[0];
  if (k % 16 != 0 || a->dims()[0] != m || a->dims()[1] * 2 != k || b->dims()[1] != n ||
      meta->dims()[0] != m || meta->dims()[1] * 16 != k)
    return "shapes must be M x K/2, K x N, M x N, M x K/16 with K a multiple of 16, found " + found;
  if (r != acc)
    return "result must have the accumulator's type, found " + found;
  if (!is_scalar_of(meta->element(), DType::i16))
    return "metadata must be i16, found " + found;
  const bool f16 = is_scalar_of(a->element(), DType::f16);
  if (a->element() != b->element() || (!f16 && !is_scalar_of(a->element(), DType::bf16)))
    return "a and b must both be f16 or both bf16, found " + found;
  if (!is_scalar_of(acc->element(), DType::f32) && !(f16 && acc->element() == a->element()))
    return std::string("accumulator must be f32") + (f16 ? " or f16" : "") + ", found " + found;
  return std::nullopt;
}

Message verify_for(const Op& op) {
  const Attr& stages = op.attr("num_stages");
  if (stages.kind == Attr::Kind::Int && (stages.i < 1 || stages.i > 16))
    return "num_stages must be between 1 and 16, found " + std::to_string(stages.i);
  if (op.num_operands() < 3)
    return "takes lo, hi, step and initial values, found " + std::to_string(op.num_operands()) +
           " operands";
  const Type* iv = op.operand(0)->type();
  if (!is_scalar_int(iv) || op.operand(1)->type() != iv || op.operand(2)->type() != iv)
    return "lo, hi and step must be scalars of one integer type, found " +
           list({op.operand(0), op.operand(1), op.operand(2)});
  std::vector<Value*> inits(op.operands().begin() + 3, op.operands().end());
  std::vector<const Type*> carried = types_of(inits);
  if (auto m = types_match(op.results(), carried, "results must have the initial values' types"))
    return m;
  std::vector<const Type*> args = {iv};
  args.insert(args.end(), carried.begin(), carried.end());
  if (auto m = types_match(op.region(0).args(), args,
                           "body arguments must be the induction variable and the carried values"))
    return m;
  return types_match(yielded(op, 0), carried, "body must yield the carried values");
}

Message verify_if(const Op& op) {
  if (op.num_operands() != 1)
    return "takes one condition, found " + std::to_string(op.num_operands()) + " operands";
  const Type* c = op.operand(0)->type();
  if (!is_scalar_of(c, DType::i1))
    return "condition must be a scalar i1, found " + str(c);
  std::vector<const Type*> results = types_of(op.results());
  for (size_t r = 0; r < 2; ++r) {
    if (op.region(r).num_args() != 0)
      return "region " + std::to_string(r) + " takes no arguments, found " +
             list(op.region(r).args());
    if (auto m = types_match(yielded(op, r), results,
                             "region " + std::to_string(r) + " must yield the results' types"))
      return m;
  }
  return std::nullopt;
}

Message verify_while(const Op& op) {
  std::vector<const Type*> carried = types_of(op.operands());
  std::vector<const Type*> results = types_of(op.results());
  if (auto m = types_match(op.region(0).args(), carried,
                           "region 0 arguments must have the initial values' types"))
    return m;
  std::vector<Value*> cond = yielded(op, 0);
  if (cond.empty())
    return std::string("region 0 must end in 'condition' with an i1");
  std::vector<Value*> passed(cond.begin() + 1, cond.end());
  if (auto m = types_match(passed, results, "'condition' must pass values of the results' types"))
    return m;
  if (auto m = types_match(op.region(1).args(), results,
                           "region 1 arguments must have the results' types"))
    return m;
  return types_match(yielded(op, 1), carried,
                     "region 1 must yield values of the initial values' types");
}

Message verify_yield(const Op& op) { return std::nullopt; } // checked by the region's owner

Message verify_condition(const Op& op) {
  if (op.num_operands() < 1 || !is_scalar_of(op.operand(0)->type(), DType::i1))
    return "first operand must be a scalar i1, found " + list(op.operands());
  return std::nullopt;
}

Message verify_return(const Op& op) { return std::nullopt; }

// hint: an integer or pointer operand, a result of its type, and each given list with one value
// >= 1 per dimension (one for a scalar).
// assume %cond: a promise on an i1 value (a tile or a scalar).
Message verify_assume(const Op& op) {
  if (!op.operand(0)->type()->is_bool())
    return "condition must be i1, found " + str(op.operand(0)->type());
  return std::nullopt;
}

Message verify_hint(const Op& op) {
  const Type* t = op.operand(0)->type();
  if (op.result()->type() != t)
    return "result must have the operand's type " + str(t) + ", found " + str(op.result()->type());
  const Type* e = t->element();
  if (!e->is_pointer() && (!e->is_integer() || e->is_bool()))
    return "applies to integer or pointer tiles (offsets, strides, pointers), found " + str(t);
  const size_t rank = std::max<size_t>(1, t->rank());
  bool any = false;
  for (const char* name : {"multiple_of", "max_contiguous", "max_constancy"}) {
    const Attr& a = op.attr(name);
    if (a.kind == Attr::Kind::None)
      continue;
    any = true;
    if (a.ints.size() != rank)
      return std::string(name) + " needs " + std::to_string(rank) +
             " value(s), one per dimension of " + str(t) + ", found " +
             std::to_string(a.ints.size());
    for (int64_t v : a.ints)
      if (v < 1)
        return std::string(name) + " values must be >= 1, found " + std::to_string(v);
  }
  if (!any)
    return std::string("needs at least one of multiple_of, max_contiguous, max_constancy");
  return std::nullopt;
}

} // namespace tessel::ir
