// The DSL's typing rules: broadcasting, promotion, conversion, and error messages.
#include "dsl/type_rules.h"

#include "dsl/tracer.h"

#include <algorithm>
#include <cmath>
#include <cstdio>

namespace tessel::lang::detail {

std::string shape_str(std::span<const int64_t> shape) {
  std::string s = "[";
  for (size_t i = 0; i < shape.size(); ++i)
    s += (i ? ", " : "") + std::to_string(shape[i]);
  return s + "]";
}

std::string type_str(const ir::Type* t) {
  const ir::Type* e = t->element();
  std::string elem = e->is_pointer() ? "ptr<" + e->pointee()->str() + ">" : e->str();
  if (t->rank() == 0)
    return elem;
  return elem + shape_str(t->dims());
}

std::string format_value(double v) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.17g", v);
  return buf;
}

void fail(const SourceLoc& loc, std::string_view op, const std::string& message) {
  throw Error(loc, std::string(op) + ": " + message);
}

void check_shape(std::span<const int64_t> shape, const SourceLoc& loc, std::string_view op) {
  int64_t elements = 1;
  for (int64_t d : shape) {
    if (d > 0 && elements <= kMaxTileElements)
      elements *= d;
  }
  if (elements > kMaxTileElements)
    fail(loc, op,
         "shape " + shape_str(shape) +
             " has more than 2^24 elements; a tile is what one "
             "program holds at once — split the work over more programs or a loop");
  for (int64_t d : shape)
    if (!ir::is_power_of_two(d))
      fail(loc, op,
           "shape " + shape_str(shape) + " has a dimension that is not a power of two (" +
               std::to_string(d) +
               "); tile shapes must be powers of two — pad with a "
               "larger tile and a mask");
}

Shape broadcast_shapes(std::span<const int64_t> a, std::span<const int64_t> b, const SourceLoc& loc,
                       std::string_view op) {
  size_t rank = std::max(a.size(), b.size());
  Shape out(rank);
  for (size_t i = 0; i < rank; ++i) {
    int64_t da = i < rank - a.size() ? 1 : a[i - (rank - a.size())];
    int64_t db = i < rank - b.size() ? 1 : b[i - (rank - b.size())];
    if (da != db && da != 1 && db != 1)
      fail(loc, op,
           "cannot broadcast shapes " + shape_str(a) + " and " + shape_str(b) + " (dimension " +
               std::to_string(i) + ": " + std::to_string(da) + " vs " + std::to_string(db) + ")");
    out[i] = std::max(da, db);
  }
  return out;
}

ir::Value* broadcast_to_shape(ir::Value* v, std::span<const int64_t> shape, const SourceLoc& loc,
                              std::string_view op) {
  auto have = v->type()->dims();
  if (std::equal(have.begin(), have.end(), shape.begin(), shape.end()))
    return v;
  ir::Builder& b = builder_at(loc);
  ir::Context& ctx = b.ctx();
  const ir::Type* elem = v->type()->element();
  if (have.empty())
    return b.value(ir::Opcode::Splat, {v}, ctx.tensor(shape, elem));
  if (have.size() > shape.size())
    fail(loc, op,
         "cannot broadcast shape " + shape_str(have) + " to the lower-rank shape " +
             shape_str(shape));
  // Prepend unit dims, then stretch the unit dims.
  while (v->type()->rank() < shape.size())
    v = b.value(ir::Opcode::ExpandDims, {v},
                ctx.tensor(
                    [&] {
                      Shape s(v->type()->dims().begin(), v->type()->dims().end());
                      s.insert(s.begin(), 1);
                      return s;
                    }(),
                    elem),
                {ir::Attr::of_int(0)});
  auto now = v->type()->dims();
  for (size_t i = 0; i < shape.size(); ++i)
    if (now[i] != shape[i] && now[i] != 1)
      fail(loc, op, "cannot broadcast shape " + shape_str(have) + " to " + shape_str(shape));
  if (std::equal(now.begin(), now.end(), shape.begin(), shape.end()))
    return v;
  return b.value(ir::Opcode::Broadcast, {v}, ctx.tensor(shape, elem));
}

// The promotion table (docs/semantics.md, "Promotion"): Triton's, but f16 with bf16 gives f32
// (neither holds the other) and an integer with bf16 gives bf16.
static int float_rank(DType t) {
  switch (t) {
  case DType::f8e4m3:
  case DType::f8e5m2:
    return 1;
  case DType::f16:
  case DType::bf16:
    return 2;
  case DType::f32:
    return 3;
  case DType::f64:
    return 4;
  case DType::i1:
  case DType::i8:
  case DType::i16:
  case DType::i32:
  case DType::i64:
  case DType::u8:
  case DType::u16:
  case DType::u32:
  case DType::u64:
    return 0;
  }
  TESSEL_UNREACHABLE("bad dtype");
}

// Two different integer types: i1 yields; otherwise as C and Triton — the wider wins, and at equal
// width the unsigned one.
static DType promote_integers(DType a, DType b) {
  if (a == DType::i1 || b == DType::i1)
    return a == DType::i1 ? b : a;
  const unsigned wa = dtype_bytes(a), wb = dtype_bytes(b);
  if (wa != wb)
    return wa > wb ? a : b;
  return dtype_is_unsigned(a) ? a : b;
}

DType promote(DType a, DType b) {
  if (a == b)
    return a;
  int fa = float_rank(a), fb = float_rank(b);
  if (!fa && !fb)
    return promote_integers(a, b);
  if ((a == DType::f16 && b == DType::bf16) || (a == DType::bf16 && b == DType::f16))
    return DType::f32;
  if (dtype_is_fp8(a) && dtype_is_fp8(b)) // e4m3 with e5m2: f16 holds both exactly
    return DType::f16;
  return fa >= fb ? a : b;
}

ir::Value* convert(ir::Value* v, DType t, const SourceLoc& loc) {
  const ir::Type* elem = v->type()->element();
  if (elem->is_pointer())
    fail(loc, "cast",
         "cannot convert a pointer tile " + type_str(v->type()) + " to " + dtype_name(t));
  if (elem->dtype() == t)
    return v;
  ir::Builder& b = builder_at(loc);
  return b.value(ir::Opcode::Cast, {v}, b.ctx().with_element(v->type(), b.ctx().scalar(t)));
}

ir::Value* constant_like(double value, DType t, std::span<const int64_t> shape,
                         const SourceLoc& loc) {
  if (dtype_is_float(t)) {
    value = round_to_dtype(value, t); // the constant is what the type can hold
  } else if (!integer_fits(value, t)) {
    if (value != std::trunc(value))
      fail(loc, "constant",
           "the value " + format_value(value) + " is not an integer, but the tile is " +
               dtype_name(t) + "; convert the tile to a float type with .to() first");
    fail(loc, "constant", "the value " + format_value(value) + " does not fit in " + dtype_name(t));
  }
  ir::Builder& b = builder_at(loc);
  return b.constant(b.ctx().tensor(shape, b.ctx().scalar(t)), value);
}

} // namespace tessel::lang::detail
