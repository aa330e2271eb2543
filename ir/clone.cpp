// clone_function (tessel/ir/clone.h): one walk in program order with a map from the original's
// values and types to the copy's. Operands are always defined before their use (regions see the
// values above them), so every operand is in the map when its op is copied.
#include "tessel/ir/clone.h"

#include "tessel/error.h"

#include <unordered_map>

namespace tessel::ir {

namespace {

class Cloner {
public:
  explicit Cloner(Context& ctx) : ctx_(ctx) {}

  const Type* type(const Type* t) {
    if (auto it = types_.find(t); it != types_.end())
      return it->second;
    const Type* copy = nullptr;
    switch (t->kind()) {
    case Type::Kind::Scalar:
      copy = ctx_.scalar(t->dtype());
      break;
    case Type::Kind::Pointer:
      copy = ctx_.pointer(type(t->pointee()), t->address_space());
      break;
    case Type::Kind::Tensor:
      copy = ctx_.tensor(t->dims(), type(t->element()), layout(t->layout()));
      break;
    }
    TESSEL_ASSERT(copy, "bad type kind");
    types_.emplace(t, copy);
    return copy;
  }

  void block(const Block& from, Block& to) {
    for (const Value* a : from.args())
      values_.emplace(a, to.add_arg(type(a->type())));
    for (const auto& op : from.ops())
      to.append(this->op(*op));
  }

private:
  const LayoutAttr* layout(const LayoutAttr* l) {
    return l ? ctx_.layout(l->kind(), l->bases()) : nullptr;
  }

  Value* value(const Value* v) const {
    auto it = values_.find(v);
    TESSEL_ASSERT(it != values_.end(), "an operand used before its definition");
    return it->second;
  }

  std::unique_ptr<Op> op(const Op& from) {
    std::vector<Value*> operands;
    for (const Value* v : from.operands())
      operands.push_back(value(v));
    std::vector<const Type*> results;
    for (const Value* r : from.results())
      results.push_back(type(r->type()));
    SourceLoc loc = from.loc;
    if (loc.file)
      loc.file = ctx_.intern(loc.file);
    auto copy =
        std::make_unique<Op>(from.opcode(), std::move(operands), results, from.attrs(), loc);
    for (size_t i = 0; i < from.num_results(); ++i)
      values_.emplace(from.result(i), copy->result(i));
    for (size_t r = 0; r < from.num_regions(); ++r)
      block(from.region(r), copy->region(r));
    return copy;
  }

  Context& ctx_;
  std::unordered_map<const Type*, const Type*> types_;
  std::unordered_map<const Value*, Value*> values_;
};

} // namespace

std::unique_ptr<Module> clone_function(const Function& function) {
  auto module = std::make_unique<Module>();
  Function& copy = module->add_function(function.name);
  copy.shared_bytes = function.shared_bytes;
  copy.arg_divisibility = function.arg_divisibility;
  Cloner(module->ctx).block(function.body, copy.body); // parameters are the body's arguments
  return module;
}

} // namespace tessel::ir
