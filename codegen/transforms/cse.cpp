//===- cse: common subexpression elimination --------------------------------------------------===//
//
// Algorithm: a walk in program order with a scoped table of the pure ops seen so far, keyed by
// everything that decides an op's value: opcode, operands (sorted for commutative ops, so that
// `add a, b` and `add b, a` meet), attributes and result types. An op whose key is already in a
// visible scope is replaced by the earlier op's results and unlinked ("eliminated"). Entering a
// region opens a scope and leaving it closes it, so an op in a region may reuse an equivalent op
// of an enclosing block defined before it, never one of a sibling or nested region (which does not
// dominate it). Operands are rewritten through the replacement map as the walk reaches them, which
// lets chains of duplicates collapse in one walk. Ops with regions and ops that are not PURE
// (loads, stores, control flow) are never merged. Replaced ops are freed at the end of the pass so
// their addresses cannot be reused while the map holds them.
//
//===----------------------------------------------------------------------------------------===//
#include "codegen/transforms/passes.h"

#include <algorithm>
#include <array>
#include <bit>
#include <unordered_map>

namespace tessel::codegen {
namespace {

using namespace ir;

bool is_candidate(const Op& op) {
  return op.has(PURE) && op.num_regions() == 0 && op.num_results();
}

// The bytes of `v` appended to `key`.
template <typename T> void append(std::string& key, const T& v) {
  const auto bytes = std::bit_cast<std::array<char, sizeof(T)>>(v);
  key.append(bytes.data(), bytes.size());
}

// A string equal for two ops exactly when they compute the same values.
std::string key_of(const Op& op) {
  std::string key;
  append(key, op.opcode());
  std::vector<const Value*> operands(op.operands().begin(), op.operands().end());
  if (op.has(COMMUTATIVE)) // the order only has to be canonical, not meaningful
    std::ranges::sort(operands, std::less<const Value*>());
  append(key, operands.size());
  for (const Value* v : operands)
    append(key, v);
  for (const Attr& a : op.attrs()) {
    append(key, a.kind);
    append(key, a.i);
    append(key, a.f); // bitwise: -0.0 and 0.0 differ, NaN equals itself
    append(key, a.ints.size());
    for (int64_t i : a.ints)
      append(key, i);
  }
  for (size_t i = 0; i < op.num_results(); ++i)
    append(key, op.result(i)->type());
  return key;
}

class Cse {
public:
  explicit Cse(PassStats& stats) : stats_(stats) {}

  void block(Block& b) {
    scopes_.emplace_back();
    for (auto it = b.ops().begin(); it != b.ops().end();) {
      Op& op = **it;
      for (size_t i = 0; i < op.num_operands(); ++i)
        if (auto found = replaced_.find(op.operand(i)); found != replaced_.end())
          op.set_operand(i, found->second);
      for (size_t r = 0; r < op.num_regions(); ++r)
        block(op.region(r));
      if (!is_candidate(op)) {
        ++it;
        continue;
      }
      std::string key = key_of(op);
      if (Op* earlier = lookup(key)) {
        for (size_t i = 0; i < op.num_results(); ++i)
          replaced_[op.result(i)] = earlier->result(i);
        stats_["eliminated"]++;
        graveyard_.push_back(std::move(*it));
        it = b.ops().erase(it);
        continue;
      }
      scopes_.back().emplace(std::move(key), &op);
      ++it;
    }
    scopes_.pop_back();
  }

private:
  Op* lookup(const std::string& key) const {
    for (auto scope = scopes_.rbegin(); scope != scopes_.rend(); ++scope)
      if (auto found = scope->find(key); found != scope->end())
        return found->second;
    return nullptr;
  }

  PassStats& stats_;
  // Innermost scope last. Lookups only, never iterated.
  std::vector<std::unordered_map<std::string, Op*>> scopes_;
  std::unordered_map<const Value*, Value*> replaced_;
  std::vector<std::unique_ptr<Op>> graveyard_;
};

void run(Module& module, PassStats& stats) {
  for (auto& f : module.functions)
    Cse(stats).block(f->body);
}

} // namespace

PassInfo cse_pass() {
  return {"cse", "Replaces a pure op by an equivalent one that dominates it.", run};
}

} // namespace tessel::codegen
