// Debugging ops of the language (tessel/lang/debug.h): device_print and device_assert record the
// IR ops of ops.def's last block; static_assert_ and static_print act while the kernel is traced.
#include "tessel/lang/debug.h"

#include "dsl/tracer.h"
#include "dsl/type_rules.h"
#include "support/device_output.h"

namespace tessel::lang {

using detail::builder_at;
using detail::fail;
using detail::type_str;
using ir::Opcode;

namespace {

// `mask`, checked to be boolean, broadcast to `shape`.
ir::Value* mask_for(const Tensor& mask, std::span<const int64_t> shape, const SourceLoc& loc,
                    const char* op) {
  ir::Value* m = mask.value(loc);
  if (!m->type()->is_bool())
    fail(loc, op,
         "the mask must be a boolean (i1) tile, got " + type_str(m->type()) +
             "; build it from a comparison such as offs < n");
  return detail::broadcast_to_shape(m, shape, loc, op);
}

void print(std::string_view prefix, const Tensor& x, const Tensor* mask, const SourceLoc& loc) {
  ir::Value* v = x.value(loc);
  std::vector<ir::Value*> operands{v};
  if (mask)
    operands.push_back(mask_for(*mask, v->type()->dims(), loc, "device_print"));
  builder_at(loc).create(Opcode::DevicePrint, std::move(operands),
                         std::span<const ir::Type* const>{},
                         {ir::Attr::of_str(std::string(prefix))});
}

void check(const Tensor& cond, std::string_view message, const Tensor* mask, const SourceLoc& loc) {
  ir::Value* c = cond.value(loc);
  if (!c->type()->is_bool())
    fail(loc, "device_assert",
         "the condition must be a boolean (i1) tile, got " + type_str(c->type()) +
             "; compare it, e.g. x >= 0 or x != 0");
  std::vector<ir::Value*> operands{c};
  if (mask) {
    Shape shape = detail::broadcast_shapes(c->type()->dims(), mask->value(loc)->type()->dims(), loc,
                                           "device_assert");
    operands[0] = detail::broadcast_to_shape(c, shape, loc, "device_assert");
    operands.push_back(mask_for(*mask, shape, loc, "device_assert"));
  }
  builder_at(loc).create(Opcode::DeviceAssert, std::move(operands),
                         std::span<const ir::Type* const>{},
                         {ir::Attr::of_str(std::string(message))});
}

void trace_print(const std::string& text, const SourceLoc& loc) {
  support::write_device_output(loc.str() + ": static_print: " + text + "\n");
}

} // namespace

void device_print(std::string_view prefix, const Tensor& x, std::source_location l) {
  print(prefix, x, nullptr, SourceLoc::from(l));
}

void device_print(std::string_view prefix, const Tensor& x, const Tensor& mask,
                  std::source_location l) {
  print(prefix, x, &mask, SourceLoc::from(l));
}

void device_assert(const Tensor& cond, std::string_view message, std::source_location l) {
  check(cond, message, nullptr, SourceLoc::from(l));
}

void device_assert(const Tensor& cond, std::string_view message, const Tensor& mask,
                   std::source_location l) {
  check(cond, message, &mask, SourceLoc::from(l));
}

void static_assert_(bool cond, std::string_view message, std::source_location l) {
  if (!cond)
    throw Error(SourceLoc::from(l), "static_assert failed: " + std::string(message));
}

void static_print(std::string_view text, std::source_location l) {
  trace_print(std::string(text), SourceLoc::from(l));
}

void static_print(std::string_view prefix, const Tensor& x, std::source_location l) {
  SourceLoc loc = SourceLoc::from(l);
  ir::Value* v = x.value(loc);
  std::string text = std::string(prefix) + type_str(v->type());
  const ir::Op* def = v->defining_op();
  if (def && def->opcode() == Opcode::Constant && v->type()->rank() == 0) {
    const ir::Attr& a = def->attrs()[0];
    text += " = " + detail::format_value(a.kind == ir::Attr::Kind::Float ? a.f : double(a.i));
  }
  trace_print(text, loc);
}

void static_print(std::string_view prefix, double value, std::source_location l) {
  trace_print(std::string(prefix) + detail::format_value(value), SourceLoc::from(l));
}

// ---- debug_barrier and expect_zero --------------------------------------------------------------
void debug_barrier(std::source_location l) {
  SourceLoc loc = SourceLoc::from(l);
  builder_at(loc).create(Opcode::DebugBarrier, {}, std::span<const ir::Type* const>{});
}

// Triton's debug-build check: x == 0 where the mask holds, as a device_assert (so stripped
// without the option `debug`).
Tensor expect_zero(const Tensor& x, const Tensor& mask, std::source_location l) {
  SourceLoc loc = SourceLoc::from(l);
  ir::Value* v = x.value(loc);
  if (v->type()->is_pointer_like() || v->type()->is_bool())
    fail(loc, "expect_zero", "x must be a tile of numbers, got " + type_str(v->type()));
  Tensor zero = binary_scalar(BinaryOp::Eq, x, 0, /*integral=*/true, /*scalar_on_left=*/false, loc);
  check(zero, "expect_zero expected x == 0 where mask is true", &mask, loc);
  return x;
}

} // namespace tessel::lang
