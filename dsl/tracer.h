// Private: the state of one trace — the module being built, the builder, and the frames that
// record which outer handles a control-flow body reassigns (see lang/control.h).
#pragma once

#include "tessel/ir/builder.h"
#include "tessel/lang/tensor.h"

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace tessel::lang::detail {

struct Assignment {
  Tensor* handle;
  ir::Value* original; // the handle's value when the body began
};

class Tracer {
public:
  Tracer(ir::Module& module, ir::Function& function);
  ~Tracer();
  Tracer(const Tracer&) = delete;
  Tracer& operator=(const Tracer&) = delete;

  // The trace running on this thread; throws tessel::Error (at `loc`) when there is none, i.e.
  // when a tile operation is called outside a kernel being traced.
  static Tracer& current(const SourceLoc& loc);
  static Tracer* current_or_null();

  // This trace's number, unique in the process (never 0), and the kernel it traces. Handles
  // remember the number so that one kept from an earlier trace is caught (Tensor::value).
  uint64_t id() const { return id_; }
  const std::string& kernel_name() const { return function_.name; }
  // The kernel that trace `id` traced ("" when unknown).
  static std::string kernel_of(uint64_t id);

  ir::Module& module() { return module_; }
  ir::Function& function() { return function_; }
  ir::Context& ctx();
  ir::Builder& builder() { return builder_; }

  // Control-flow nesting depth: 0 in the kernel body.
  int depth() const { return int(frames_.size()); }
  void push_frame() { frames_.emplace_back(); }
  std::vector<Assignment> pop_frame();
  // Called when `handle` (created at `handle_depth`) is reassigned; `original` is its old value.
  void note_assignment(Tensor* handle, int handle_depth, ir::Value* original);

  // Keeps a block from a discovery trace alive until the trace ends (see dsl/control.cpp).
  void keep(std::unique_ptr<ir::Block> block) { kept_.push_back(std::move(block)); }

  // Kernel parameters: the IR argument of each non-Const parameter.
  std::vector<ir::Value*> param_values;

private:
  ir::Module& module_;
  ir::Function& function_;
  ir::Builder builder_;
  std::vector<std::vector<Assignment>> frames_;
  std::vector<std::unique_ptr<ir::Block>> kept_;
  Tracer* previous_;
  uint64_t id_;
};

// Throws the error for a handle made by trace `made_by` but used while `running` traces (null
// when no trace runs).
[[noreturn]] void fail_foreign_handle(const SourceLoc& use, uint64_t made_by,
                                      const Tracer* running);

// A builder positioned where the trace is, located at `loc`.
ir::Builder& builder_at(const SourceLoc& loc);

} // namespace tessel::lang::detail
