// load and store: pointer tiles with an optional mask and fill value, and the memory modifiers
// of tessel/lang/hints.h.
#include "tessel/lang/ops.h"

#include "tessel/ir/mem_hints.h"
#include "tessel/lang/hints.h"

#include "dsl/tracer.h"
#include "dsl/type_rules.h"

#include <cmath>

namespace tessel::lang {

using detail::broadcast_shapes;
using detail::broadcast_to_shape;
using detail::builder_at;
using detail::fail;
using detail::type_str;
using ir::Opcode;

namespace {

void check_pointer(ir::Value* ptr, const SourceLoc& loc, const char* op) {
  if (!ptr->type()->is_pointer_like())
    fail(loc, op,
         "the first operand must be a pointer or a tile of pointers, got " + type_str(ptr->type()) +
             " (did you forget to add offsets to a Ptr?)");
}

ir::Value* check_mask(ir::Value* mask, const SourceLoc& loc, const char* op) {
  if (!mask->type()->is_bool())
    fail(loc, op,
         "the mask must be a boolean (i1) tile, got " + type_str(mask->type()) +
             "; build it from a comparison such as offs < n");
  return mask;
}

// load's `other` given as a C++ number, converted to the pointee type as Triton does: the literal
// takes its own type (a non-integer f32, an integer i32, or i64 when it needs more) and is cast
// like any value (docs/semantics.md, "Literals"): -1.5 for i32 is -1, 300 for i8 wraps to 44.
ir::Value* other_constant(double v, DType elem, const SourceLoc& loc) {
  if (dtype_is_float(elem))
    return detail::constant_like(v, elem, {}, loc); // rounded once, to nearest even
  const bool integral = v == std::trunc(v);
  const DType literal = !integral                     ? DType::f32
                        : integer_fits(v, DType::i32) ? DType::i32
                        : integer_fits(v, DType::i64) ? DType::i64
                                                      : DType::f64;
  return detail::convert(detail::constant_like(v, literal, {}, loc), elem, loc);
}

// The options as the IR's modifiers; a combination PTX has no form for is the user's error.
ir::MemModifiers modifiers(CacheModifier cache, EvictionPolicy evict, bool is_volatile,
                           bool is_store, const SourceLoc& loc) {
  ir::MemModifiers m{cache, evict, is_volatile};
  if (auto why = ir::check_modifiers(m, is_store))
    fail(loc, is_store ? "store" : "load", *why);
  return m;
}
ir::MemModifiers modifiers(const LoadOptions& o, const SourceLoc& loc) {
  return modifiers(o.cache_modifier, o.eviction_policy, o.is_volatile, /*is_store=*/false, loc);
}
ir::MemModifiers modifiers(const StoreOptions& o, const SourceLoc& loc) {
  return modifiers(o.cache_modifier, o.eviction_policy, o.is_volatile, /*is_store=*/true, loc);
}

Tensor load_impl(ir::Value* ptr, ir::Value* mask, ir::Value* other, bool other_is_const,
                 double other_value, const SourceLoc& loc, const ir::MemModifiers& mods = {}) {
  check_pointer(ptr, loc, "load");
  Shape shape(ptr->type()->dims().begin(), ptr->type()->dims().end());
  if (mask) {
    check_mask(mask, loc, "load");
    shape = broadcast_shapes(shape, mask->type()->dims(), loc, "load");
  }
  if (other)
    shape = broadcast_shapes(shape, other->type()->dims(), loc, "load");
  ir::Value* p = broadcast_to_shape(ptr, shape, loc, "load");
  const ir::Type* pointee = ptr->type()->element()->pointee();
  DType elem = pointee->dtype();
  std::vector<ir::Value*> operands{p};
  if (mask) {
    operands.push_back(broadcast_to_shape(mask, shape, loc, "load"));
    if (other_is_const)
      other = other_constant(other_value, elem, loc);
    if (other) {
      if (other->type()->is_pointer_like())
        fail(loc, "load", "`other` must be a number, got " + type_str(other->type()));
      operands.push_back(broadcast_to_shape(detail::convert(other, elem, loc), shape, loc, "load"));
    }
  }
  ir::Builder& b = builder_at(loc);
  ir::Op* op = b.create(Opcode::Load, operands, b.ctx().tensor(shape, pointee));
  ir::set_mem_modifiers(*op, mods);
  return Tensor(op->result());
}

} // namespace

Tensor load(const Tensor& ptr, Loc l) {
  SourceLoc loc = SourceLoc::from(l);
  return load_impl(ptr.value(loc), nullptr, nullptr, false, 0, loc);
}
Tensor load(const Tensor& ptr, const Tensor& mask, Loc l) {
  SourceLoc loc = SourceLoc::from(l);
  return load_impl(ptr.value(loc), mask.value(loc), nullptr, false, 0, loc);
}
Tensor load(const Tensor& ptr, const Tensor& mask, double other, Loc l) {
  SourceLoc loc = SourceLoc::from(l);
  return load_impl(ptr.value(loc), mask.value(loc), nullptr, true, other, loc);
}
Tensor load(const Tensor& ptr, const Tensor& mask, const Tensor& other, Loc l) {
  SourceLoc loc = SourceLoc::from(l);
  return load_impl(ptr.value(loc), mask.value(loc), other.value(loc), false, 0, loc);
}

static void store_impl(ir::Value* ptr, ir::Value* value, ir::Value* mask, const SourceLoc& loc,
                       const ir::MemModifiers& mods = {}) {
  check_pointer(ptr, loc, "store");
  if (value->type()->is_pointer_like())
    fail(loc, "store", "storing pointers is not supported (value " + type_str(value->type()) + ")");
  Shape shape(ptr->type()->dims().begin(), ptr->type()->dims().end());
  auto vdims = value->type()->dims();
  Shape merged = broadcast_shapes(shape, vdims, loc, "store");
  if (mask) {
    check_mask(mask, loc, "store");
    merged = broadcast_shapes(merged, mask->type()->dims(), loc, "store");
  }
  DType elem = ptr->type()->element()->pointee()->dtype();
  std::vector<ir::Value*> operands{
      broadcast_to_shape(ptr, merged, loc, "store"),
      broadcast_to_shape(detail::convert(value, elem, loc), merged, loc, "store")};
  if (mask)
    operands.push_back(broadcast_to_shape(mask, merged, loc, "store"));
  ir::Op* op = builder_at(loc).create(Opcode::Store, operands, std::span<const ir::Type* const>{});
  ir::set_mem_modifiers(*op, mods);
}

void store(const Tensor& ptr, const Tensor& value, Loc l) {
  SourceLoc loc = SourceLoc::from(l);
  store_impl(ptr.value(loc), value.value(loc), nullptr, loc);
}
void store(const Tensor& ptr, const Tensor& value, const Tensor& mask, Loc l) {
  SourceLoc loc = SourceLoc::from(l);
  store_impl(ptr.value(loc), value.value(loc), mask.value(loc), loc);
}

Tensor load(const Tensor& ptr, const LoadOptions& o, Loc l) {
  SourceLoc loc = SourceLoc::from(l);
  return load_impl(ptr.value(loc), nullptr, nullptr, false, 0, loc, modifiers(o, loc));
}
Tensor load(const Tensor& ptr, const Tensor& mask, const LoadOptions& o, Loc l) {
  SourceLoc loc = SourceLoc::from(l);
  return load_impl(ptr.value(loc), mask.value(loc), nullptr, false, 0, loc, modifiers(o, loc));
}
Tensor load(const Tensor& ptr, const Tensor& mask, double other, const LoadOptions& o, Loc l) {
  SourceLoc loc = SourceLoc::from(l);
  return load_impl(ptr.value(loc), mask.value(loc), nullptr, true, other, loc, modifiers(o, loc));
}
Tensor load(const Tensor& ptr, const Tensor& mask, const Tensor& other, const LoadOptions& o,
            Loc l) {
  SourceLoc loc = SourceLoc::from(l);
  return load_impl(ptr.value(loc), mask.value(loc), other.value(loc), false, 0, loc,
                   modifiers(o, loc));
}
void store(const Tensor& ptr, const Tensor& value, const StoreOptions& o, Loc l) {
  SourceLoc loc = SourceLoc::from(l);
  store_impl(ptr.value(loc), value.value(loc), nullptr, loc, modifiers(o, loc));
}
void store(const Tensor& ptr, const Tensor& value, const Tensor& mask, const StoreOptions& o,
           Loc l) {
  SourceLoc loc = SourceLoc::from(l);
  store_impl(ptr.value(loc), value.value(loc), mask.value(loc), loc, modifiers(o, loc));
}

} // namespace tessel::lang
