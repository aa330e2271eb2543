// The escape hatches of the language (tessel/lang/escape_hatch.h): inline PTX applied elementwise
// (inline_asm / inline_asm_volatile ops) and CUDA C++ device functions (extern_call ops). This
// file checks what the user wrote — dtypes, pack, the constraint count against the operands,
// arity, the C++ fallback's signature — with errors at the user's line, and records the op; the
// backends lower it (codegen/gpu/lower_escape.cpp, codegen/cpu/lower_escape.cpp).
#include "tessel/lang/escape_hatch.h"

#include "dsl/tracer.h"
#include "dsl/type_rules.h"

#include <cctype>

namespace tessel::lang {

using detail::builder_at;
using detail::fail;
using detail::type_str;
using ir::Opcode;

namespace {

constexpr const char* kAsm = "inline_asm_elementwise";
constexpr const char* kExtern = "extern_cuda";

std::string dtype_list(const std::vector<DType>& ts) {
  std::string s = "(";
  for (size_t i = 0; i < ts.size(); ++i)
    s += (i ? ", " : "") + std::string(dtype_name(ts[i]));
  return s + ")";
}

// Elements an inline asm can take or give: numbers with registers (no i1, no pointers; fp8
// travels as its bits, so it goes through tl::bitcast).
void check_asm_dtype(DType t, const SourceLoc& loc, const std::string& what) {
  if (t == DType::i1)
    fail(loc, kAsm,
         what + " is i1, which has no PTX register form here; convert to i32 first "
                "(x.to(tl::i32))");
  if (t == DType::f8e4m3 || t == DType::f8e5m2)
    fail(loc, kAsm,
         what + " is " + dtype_name(t) + "; pass its bits instead (tl::bitcast(x, tl::u8))");
}

// Extern functions take and return 32- and 64-bit numbers (the C ABI that NVRTC and LLVM's
// NVPTX backend agree on without casts: int, unsigned, long long, unsigned long long, float,
// double).
bool extern_dtype_ok(DType t) {
  return t == DType::i32 || t == DType::u32 || t == DType::i64 || t == DType::u64 ||
         t == DType::f32 || t == DType::f64;
}

// The fallback's signature against the operands' dtypes and the result's.
void check_fallback(const HostFallback& f, const std::vector<DType>& args, DType result,
                    const SourceLoc& loc, const char* op) {
  if (!f)
    return;
  if (f.params() != args || f.result() != result)
    fail(loc, op,
         "the C++ fallback takes " + dtype_list(f.params()) + " and returns " +
             dtype_name(f.result()) + ", but the call passes " + dtype_list(args) +
             " and returns " + dtype_name(result) +
             "; give the fallback exactly those scalar types (e.g. int32_t for i32, float for "
             "f32, tessel::half for f16)");
}

// The fallback's slot in the module being traced (-1 without one).
int64_t register_fallback(const HostFallback& f, const SourceLoc& loc) {
  if (!f)
    return -1;
  std::vector<ir::HostCallback>& slots = detail::Tracer::current(loc).module().host_callbacks;
  slots.push_back(f.callback());
  return int64_t(slots.size() - 1);
}

// The operands broadcast to one shape.
std::vector<ir::Value*> broadcast_all(std::vector<ir::Value*> vs, const SourceLoc& loc,
                                      const char* op) {
  Shape shape;
  for (ir::Value* v : vs)
    shape = detail::broadcast_shapes(shape, v->type()->dims(), loc, op);
  for (ir::Value*& v : vs)
    v = detail::broadcast_to_shape(v, shape, loc, op);
  return vs;
}

// Each operand constraint names a register class as wide as what it carries (h 16, r/f 32, l/d 64
// bits), so that LLVM never meets a value it cannot place (which it reports by exiting).
void check_register_widths(std::string_view constraints, const std::vector<ir::Value*>& args,
                           DType result, int pack, const SourceLoc& loc) {
  std::vector<std::string_view> cs = ir::asm_operand_constraints(constraints);
  size_t next = 0;
  auto check = [&](unsigned bits, const std::string& what) {
    ir::AsmPacking p = ir::asm_packing(bits, pack);
    const unsigned want = ir::asm_register_bits(bits, p.per_register);
    for (int j = 0; j < p.registers; ++j, ++next) {
      const std::string_view c = cs[next];
      const unsigned got = ir::asm_letter_bits(ir::asm_constraint_letter(c));
      if (got == want)
        continue;
      const char* fix = want == 16 ? "h" : want == 32 ? "r (or f)" : "l (or d)";
      fail(loc, kAsm,
           "constraint \"" + std::string(c) + "\" (operand $" + std::to_string(next) + ", " + what +
               ") must name a " + std::to_string(want) + "-bit register: use " + fix +
               (got == 0 ? "; tessel knows the register classes h, r, l, f and d" : ""));
    }
  };
  check(dtype_bytes(result) * 8, "the result");
  for (size_t i = 0; i < args.size(); ++i)
    check(args[i]->type()->element_bits(), "argument " + std::to_string(i));
}

// The operand count the constraints must name, with the packing spelled out for the message.
void check_constraints(std::string_view constraints, const std::vector<ir::Value*>& args,
                       DType result, int pack, const SourceLoc& loc) {
  const int outputs = ir::asm_packing(dtype_bytes(result) * 8, pack).registers;
  int inputs = 0;
  for (const ir::Value* v : args)
    inputs += ir::asm_packing(v->type()->element_bits(), pack).registers;
  ir::AsmConstraintCount c = ir::count_asm_constraints(constraints);
  if (!c.outputs_first)
    fail(loc, kAsm,
         "constraints \"" + std::string(constraints) +
             "\" list an output ('=...') after an input; outputs come first, as in \"=r,r,r\"");
  if (c.outputs == outputs && c.inputs == inputs)
    return check_register_widths(constraints, args, result, pack, loc);
  fail(loc, kAsm,
       "constraints \"" + std::string(constraints) + "\" name " + std::to_string(c.outputs) +
           " output(s) and " + std::to_string(c.inputs) + " input(s), but " +
           std::to_string(args.size()) + " argument(s) of dtypes " + dtype_list([&] {
             std::vector<DType> ts;
             for (const ir::Value* v : args)
               ts.push_back(v->type()->element()->dtype());
             return ts;
           }()) +
           " returning " + dtype_name(result) + " with pack " + std::to_string(pack) + " need " +
           std::to_string(outputs) + " output(s) and " + std::to_string(inputs) +
           " input(s) (elements under 32 bits share a 32-bit register; wider ones take one "
           "operand per element of the pack)");
}

bool is_identifier(const std::string& s) {
  if (s.empty() || std::isdigit(static_cast<unsigned char>(s[0])))
    return false;
  for (char c : s)
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '_')
      return false;
  return true;
}

} // namespace

Tensor inline_asm_elementwise(std::string_view asm_text, std::string_view constraints,
                              const std::vector<Tensor>& args, DType dtype, bool is_pure, int pack,
                              HostFallback fallback, std::source_location l) {
  const SourceLoc loc = SourceLoc::from(l);
  if (args.empty())
    fail(loc, kAsm, "needs at least one argument tile (its shape is the result's)");
  if (pack != 1 && pack != 2 && pack != 4)
    fail(loc, kAsm,
         "pack must be 1, 2 or 4 elements per asm instance, not " + std::to_string(pack));
  if (asm_text.empty())
    fail(loc, kAsm, "the asm string is empty");
  check_asm_dtype(dtype, loc, "the result dtype");
  std::vector<ir::Value*> values;
  std::vector<DType> arg_types;
  for (size_t i = 0; i < args.size(); ++i) {
    ir::Value* v = args[i].value(loc);
    if (v->type()->is_pointer_like())
      fail(loc, kAsm,
           "argument " + std::to_string(i) + " is a pointer tile " + type_str(v->type()) +
               "; inline asm takes numbers (load the values first)");
    DType t = v->type()->element()->dtype();
    check_asm_dtype(t, loc, "argument " + std::to_string(i));
    values.push_back(v);
    arg_types.push_back(t);
  }
  check_constraints(constraints, values, dtype, pack, loc);
  check_fallback(fallback, arg_types, dtype, loc, kAsm);
  values = broadcast_all(std::move(values), loc, kAsm);
  ir::Builder& b = builder_at(loc);
  const ir::Type* rt = b.ctx().with_element(values[0]->type(), b.ctx().scalar(dtype));
  const int64_t slot = register_fallback(fallback, loc);
  return Tensor(
      b.value(is_pure ? Opcode::InlineAsm : Opcode::InlineAsmVolatile, values, rt,
              {ir::Attr::of_str(std::string(asm_text)), ir::Attr::of_str(std::string(constraints)),
               ir::Attr::of_int(pack), ir::Attr::of_int(slot)}));
}

ExternFunction::ExternFunction(std::string source, std::string name, DType result,
                               std::vector<DType> params, HostFallback fallback,
                               std::source_location where)
    : source_(std::move(source)), name_(std::move(name)), result_(result),
      params_(std::move(params)), fallback_(std::move(fallback)) {
  const SourceLoc loc = SourceLoc::from(where);
  if (!is_identifier(name_))
    fail(loc, kExtern,
         "'" + name_ +
             "' is not a C++ identifier; name the __device__ function as the source "
             "defines it");
  if (source_.find(name_) == std::string::npos)
    fail(loc, kExtern, "the CUDA source does not mention '" + name_ + "'; define it there");
  auto check = [&](DType t, const std::string& what) {
    if (!extern_dtype_ok(t))
      fail(loc, kExtern,
           what + " is " + dtype_name(t) +
               "; extern functions take and return i32, u32, i64, u64, f32 or f64 (int, "
               "unsigned, long long, unsigned long long, float, double): convert around the call");
  };
  check(result_, "the result dtype");
  for (size_t i = 0; i < params_.size(); ++i)
    check(params_[i], "parameter " + std::to_string(i));
  check_fallback(fallback_, params_, result_, loc, kExtern);
}

Tensor ExternFunction::operator()(const std::vector<Tensor>& args, std::source_location l) const {
  const SourceLoc loc = SourceLoc::from(l);
  if (args.size() != params_.size())
    fail(loc, kExtern,
         "'" + name_ + "' takes " + std::to_string(params_.size()) + " argument(s) " +
             dtype_list(params_) + ", the call passes " + std::to_string(args.size()));
  std::vector<ir::Value*> values;
  for (size_t i = 0; i < args.size(); ++i) {
    ir::Value* v = args[i].value(loc);
    if (v->type()->is_pointer_like())
      fail(loc, kExtern,
           "argument " + std::to_string(i) + " of '" + name_ + "' is a pointer tile " +
               type_str(v->type()) + "; extern functions take numbers");
    values.push_back(detail::convert(v, params_[i], loc));
  }
  values = broadcast_all(std::move(values), loc, kExtern);
  ir::Builder& b = builder_at(loc);
  const ir::Type* rt = b.ctx().with_element(
      values.empty() ? b.ctx().scalar(DType::i32) : values[0]->type(), b.ctx().scalar(result_));
  const int64_t slot = register_fallback(fallback_, loc);
  return Tensor(
      b.value(Opcode::ExternCall, values, rt,
              {ir::Attr::of_str(source_), ir::Attr::of_str(name_), ir::Attr::of_int(slot)}));
}

ExternFunction extern_cuda(std::string source, std::string name, DType result,
                           std::vector<DType> params, HostFallback fallback,
                           std::source_location where) {
  return ExternFunction(std::move(source), std::move(name), result, std::move(params),
                        std::move(fallback), where);
}

} // namespace tessel::lang
