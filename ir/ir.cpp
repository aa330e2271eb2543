// The op table (from ops.def) and the containers: Op, Block, Function, Module.
#include "tessel/ir/ir.h"

#include "ir/verify_ops.h"

#include <array>
#include <sstream>

namespace tessel::ir {

namespace {

// Parses an ops.def attribute list such as "start:int,end:int".
std::vector<AttrSpec> parse_attr_specs(std::string_view spec) {
  std::vector<AttrSpec> out;
  while (!spec.empty()) {
    size_t comma = spec.find(',');
    std::string_view item = spec.substr(0, comma);
    size_t colon = item.find(':');
    TESSEL_ASSERT(colon != std::string_view::npos, "ops.def attribute without a kind");
    std::string_view kind = item.substr(colon + 1);
    AttrSpec a{std::string(item.substr(0, colon)), AttrSpec::Kind::Int};
    if (kind.ends_with('?')) {
      a.optional = true;
      kind.remove_suffix(1);
    }
    if (kind == "int")
      a.kind = AttrSpec::Kind::Int;
    else if (kind == "float")
      a.kind = AttrSpec::Kind::Float;
    else if (kind == "num")
      a.kind = AttrSpec::Kind::Num;
    else if (kind == "ints")
      a.kind = AttrSpec::Kind::Ints;
    else if (kind == "str")
      a.kind = AttrSpec::Kind::Str;
    else
      TESSEL_UNREACHABLE("ops.def attribute of unknown kind");
    out.push_back(std::move(a));
    if (comma == std::string_view::npos)
      break;
    spec.remove_prefix(comma + 1);
  }
  return out;
}

const std::vector<OpInfo>& op_table() {
  static const std::vector<OpInfo> table = [] {
    std::vector<OpInfo> t;
#define TESSEL_OP(id, name, operands, results, regions, traits, attrs, verifier)                   \
  t.push_back(OpInfo{Opcode::id, name, operands, results, regions, traits,                         \
                     parse_attr_specs(attrs), &verifier});
#include "tessel/ir/ops.def"
#undef TESSEL_OP
    return t;
  }();
  return table;
}

} // namespace

const OpInfo& op_info(Opcode op) { return op_table()[static_cast<size_t>(op)]; }

const OpInfo* find_op_info(std::string_view name) {
  for (const OpInfo& info : op_table())
    if (name == info.name)
      return &info;
  return nullptr;
}

// ---- Block -------------------------------------------------------------------------------------

std::vector<Value*> Block::args() const {
  std::vector<Value*> out;
  for (const auto& a : args_)
    out.push_back(a.get());
  return out;
}

Value* Block::add_arg(const Type* t) {
  args_.push_back(std::unique_ptr<Value>(new Value(t, nullptr, this, unsigned(args_.size()))));
  return args_.back().get();
}

void Block::erase_args() { args_.clear(); }

Op* Block::terminator() const {
  if (ops_.empty() || !ops_.back()->has(TERMINATOR))
    return nullptr;
  return ops_.back().get();
}

Block::iterator Block::insert(iterator pos, std::unique_ptr<Op> op) {
  op->parent_ = this;
  return ops_.insert(pos, std::move(op));
}

Block::iterator Block::find(Op* op) {
  for (auto it = ops_.begin(); it != ops_.end(); ++it)
    if (it->get() == op)
      return it;
  TESSEL_UNREACHABLE("op is not in this block");
}

std::unique_ptr<Op> Block::take(Op* op) {
  auto it = find(op);
  std::unique_ptr<Op> owned = std::move(*it);
  ops_.erase(it);
  owned->parent_ = nullptr;
  return owned;
}

// ---- Op ----------------------------------------------------------------------------------------

Op::Op(Opcode opcode, std::vector<Value*> operands, std::span<const Type* const> result_types,
       std::vector<Attr> attrs, SourceLoc loc_)
    : loc(loc_), opcode_(opcode), operands_(std::move(operands)), attrs_(std::move(attrs)) {
  const OpInfo& i = info();
  // Builders name the required attributes only; the optional ones (ops.def "?") start absent.
  while (attrs_.size() < i.attrs.size() && i.attrs[attrs_.size()].optional)
    attrs_.emplace_back();
  TESSEL_ASSERT(i.num_operands == VAR || size_t(i.num_operands) == operands_.size(),
                "operand count differs from ops.def");
  TESSEL_ASSERT(i.num_results == VAR || size_t(i.num_results) == result_types.size(),
                "result count differs from ops.def");
  TESSEL_ASSERT(attrs_.size() == i.attrs.size(), "attribute count differs from ops.def");
  for (Value* v : operands_)
    TESSEL_ASSERT(v != nullptr, "null operand");
  for (const Type* t : result_types)
    add_result(t);
  for (int r = 0; r < i.num_regions; ++r)
    regions_.push_back(std::make_unique<Block>(this));
}

std::vector<Value*> Op::results() const {
  std::vector<Value*> out;
  for (const auto& r : results_)
    out.push_back(r.get());
  return out;
}

Value* Op::add_result(const Type* t) {
  results_.push_back(
      std::unique_ptr<Value>(new Value(t, this, nullptr, unsigned(results_.size()))));
  return results_.back().get();
}

const Attr& Op::attr(std::string_view name) const {
  const auto& specs = info().attrs;
  for (size_t i = 0; i < specs.size(); ++i)
    if (specs[i].name == name)
      return attrs_[i];
  TESSEL_UNREACHABLE("op has no attribute of this name");
}

void Op::set_attr(std::string_view name, Attr value) {
  const auto& specs = info().attrs;
  for (size_t i = 0; i < specs.size(); ++i)
    if (specs[i].name == name) {
      attrs_[i] = std::move(value);
      return;
    }
  TESSEL_UNREACHABLE("op has no attribute of this name");
}

Op* Op::parent_op() const { return parent_ ? parent_->parent_op() : nullptr; }

// ---- Function, Module, walks -------------------------------------------------------------------

Function& Module::add_function(std::string name) {
  functions.push_back(std::make_unique<Function>());
  functions.back()->name = std::move(name);
  return *functions.back();
}

Function* Module::find(std::string_view name) const {
  for (const auto& f : functions)
    if (f->name == name)
      return f.get();
  return nullptr;
}

void walk(Block& block, const std::function<void(Op&)>& fn) {
  for (auto& op : block.ops()) {
    fn(*op);
    for (size_t r = 0; r < op->num_regions(); ++r)
      walk(op->region(r), fn);
  }
}

void walk(const Block& block, const std::function<void(const Op&)>& fn) {
  for (const auto& op : block.ops()) {
    fn(*op);
    for (size_t r = 0; r < op->num_regions(); ++r)
      walk(static_cast<const Block&>(op->region(r)), fn);
  }
}

void replace_all_uses(Block& scope, Value* from, Value* to) {
  walk(scope, [&](Op& op) {
    for (size_t i = 0; i < op.num_operands(); ++i)
      if (op.operand(i) == from)
        op.set_operand(i, to);
  });
}

bool is_defined_outside(const Value* v, const Op& op) {
  const Block* def_block = v->is_block_arg() ? v->owner_block() : v->defining_op()->parent_block();
  // Defined outside `op` unless its block is one of op's regions or nested inside them.
  for (const Block* b = def_block; b;) {
    const Op* parent = b->parent_op();
    if (parent == &op)
      return false;
    if (!parent)
      return true;
    b = parent->parent_block();
  }
  return true;
}

} // namespace tessel::ir
