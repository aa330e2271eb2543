// The per-thread trace state and the reassignment bookkeeping of Tensor handles.
#include "dsl/tracer.h"

namespace tessel::lang::detail {
namespace {
thread_local Tracer* g_current = nullptr;
}

Tracer::Tracer(ir::Module& module, ir::Function& function)
    : module_(module), function_(function), builder_(module.ctx), previous_(g_current) {
  builder_.set_insertion_point_to_end(function.body);
  g_current = this;
}

Tracer::~Tracer() {
  g_current = previous_;
}

ir::Context& Tracer::ctx() {
  return module_.ctx;
}

Tracer* Tracer::current_or_null() {
  return g_current;
}

Tracer& Tracer::current(const SourceLoc& loc) {
  if (!g_current)
    throw Error(loc, "a tile operation was called outside a kernel being traced; tile operations "
                     "only run inside the lambda given to tessel::lang::kernel()");
  return *g_current;
}

std::vector<Assignment> Tracer::pop_frame() {
  TESSEL_ASSERT(!frames_.empty(), "pop_frame without push_frame");
  std::vector<Assignment> out = std::move(frames_.back());
  frames_.pop_back();
  return out;
}

void Tracer::note_assignment(Tensor* handle, int handle_depth, ir::Value* original) {
  if (frames_.empty() || handle_depth >= depth())
    return;
  auto& frame = frames_.back();
  for (const Assignment& a : frame)
    if (a.handle == handle)
      return;
  frame.push_back({handle, original});
}

ir::Builder& builder_at(const SourceLoc& loc) {
  ir::Builder& b = Tracer::current(loc).builder();
  b.set_location(loc);
  return b;
}

} // namespace tessel::lang::detail
