// trace(): runs a kernel's body with parameter handles bound for one specialization and returns
// the verified tile IR.
#include "tessel/lang/trace.h"

#include "dsl/tracer.h"
#include "dsl/type_rules.h"
#include "tessel/ir/verifier.h"

namespace tessel::lang {

const char* param_kind_name(ParamKind k) {
  switch (k) {
  case ParamKind::Ptr:
    return "Ptr";
  case ParamKind::Int:
    return "Int";
  case ParamKind::Float:
    return "Float";
  case ParamKind::Const:
    return "Const";
  }
  TESSEL_UNREACHABLE("bad param kind");
}

namespace detail {

Tensor param_handle(size_t index, ParamKind kind, const ParamBinding& binding) {
  Tracer& t = Tracer::current({});
  TESSEL_ASSERT(index < t.param_values.size() && t.param_values[index],
                "parameter handle for a parameter without an IR argument");
  ir::Value* v = t.param_values[index];
  if (kind == ParamKind::Int && binding.equals_one) {
    ir::Builder& b = t.builder();
    return Tensor(b.constant_int(v->type(), 1)); // specialised: the argument is 1
  }
  return Tensor(v);
}

} // namespace detail

std::unique_ptr<ir::Module> trace(const KernelDef& def, std::span<const ParamBinding> bindings) {
  TESSEL_ASSERT(bindings.size() == def.params.size(), "one binding per parameter");
  auto module = std::make_unique<ir::Module>();
  ir::Function& fn = module->add_function(def.name);
  ir::Context& ctx = module->ctx;
  detail::Tracer tracer(*module, fn);
  for (size_t i = 0; i < def.params.size(); ++i) {
    const ParamSpec& p = def.params[i];
    const ParamBinding& b = bindings[i];
    switch (p.kind) {
    case ParamKind::Ptr:
      tracer.param_values.push_back(fn.add_arg(ctx.pointer(ctx.scalar(b.dtype)), b.divisibility));
      break;
    case ParamKind::Int:
      // i32, i64 or u64 by the argument's value (jit/signature.cpp, int_arg_type).
      tracer.param_values.push_back(fn.add_arg(ctx.scalar(b.dtype), b.divisibility));
      break;
    case ParamKind::Float: // tl::Float or tl::Float64
      tracer.param_values.push_back(fn.add_arg(ctx.scalar(p.dtype)));
      break;
    case ParamKind::Const:
      tracer.param_values.push_back(nullptr);
      break;
    }
  }
  def.body(bindings);
  tracer.builder().set_location({});
  tracer.builder().set_insertion_point_to_end(fn.body);
  tracer.builder().create(ir::Opcode::Return, {}, std::span<const ir::Type* const>{});
  ir::verify_or_throw(*module, "after tracing kernel '" + def.name + "'");
  return module;
}

} // namespace tessel::lang
