// Builder: creates ops at an insertion point. It checks nothing beyond what the Op constructor
// asserts; the verifier checks the result, and the DSL checks user input before it builds.
#pragma once

#include "tessel/ir/ir.h"

namespace tessel::ir {

class Builder {
public:
  explicit Builder(Context& ctx) : ctx_(ctx) {}

  Context& ctx() const { return ctx_; }
  void set_insertion_point_to_end(Block& block) {
    block_ = &block;
    pos_ = block.ops().end();
  }
  // New ops go before `op`.
  void set_insertion_point_before(Op& op) {
    block_ = op.parent_block();
    pos_ = block_->find(&op);
  }
  void set_insertion_point(Block& block, Block::iterator pos) {
    block_ = &block;
    pos_ = pos;
  }
  Block* block() const { return block_; }
  Block::iterator position() const { return pos_; }
  void set_location(SourceLoc loc) { loc_ = loc; }
  SourceLoc location() const { return loc_; }

  Op* create(Opcode opcode, std::vector<Value*> operands, std::span<const Type* const> result_types,
             std::vector<Attr> attrs = {});
  Op* create(Opcode opcode, std::vector<Value*> operands, const Type* result_type,
             std::vector<Attr> attrs = {}) {
    return create(opcode, std::move(operands), std::span<const Type* const>(&result_type, 1),
                  std::move(attrs));
  }
  // Single-result convenience: the result value.
  Value* value(Opcode opcode, std::vector<Value*> operands, const Type* result_type,
               std::vector<Attr> attrs = {}) {
    return create(opcode, std::move(operands), result_type, std::move(attrs))->result();
  }

  Value* constant_int(const Type* type, int64_t v) {
    return value(Opcode::Constant, {}, type, {Attr::of_int(v)});
  }
  Value* constant_float(const Type* type, double v) {
    return value(Opcode::Constant, {}, type, {Attr::of_float(v)});
  }
  // An integer or float constant according to `type`'s element.
  Value* constant(const Type* type, double v);

private:
  Context& ctx_;
  Block* block_ = nullptr;
  Block::iterator pos_;
  SourceLoc loc_;
};

// Restores the builder's insertion point and location when it goes out of scope.
class InsertionGuard {
public:
  explicit InsertionGuard(Builder& b)
      : b_(b), block_(b.block()), pos_(b.position()), loc_(b.location()) {}
  ~InsertionGuard() {
    if (block_)
      b_.set_insertion_point(*block_, pos_);
    b_.set_location(loc_);
  }
  InsertionGuard(const InsertionGuard&) = delete;
  InsertionGuard& operator=(const InsertionGuard&) = delete;

private:
  Builder& b_;
  Block* block_;
  Block::iterator pos_;
  SourceLoc loc_;
};

} // namespace tessel::ir
