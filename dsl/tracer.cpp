// The per-thread trace state and the reassignment bookkeeping of Tensor handles.
#include "dsl/tracer.h"

#include <mutex>
#include <set>

namespace tessel::lang::detail {
namespace {
thread_local Tracer* g_current = nullptr;

// Kernel names by trace number, for the message about a handle from another trace. Names are
// interned (one string per kernel name); the table grows by one pointer per trace, and traces
// are cached per specialization, so it stays small.
struct TraceNames {
  std::mutex mutex;
  std::set<std::string> names;
  std::vector<const std::string*> by_id; // by_id[id - 1]
};

TraceNames& trace_names() {
  static TraceNames* t = new TraceNames; // never destroyed: handles may outlive static destructors
  return *t;
}

uint64_t register_trace(const std::string& kernel) {
  TraceNames& t = trace_names();
  std::lock_guard lock(t.mutex);
  t.by_id.push_back(&*t.names.insert(kernel).first);
  return t.by_id.size();
}

} // namespace

Tracer::Tracer(ir::Module& module, ir::Function& function)
    : module_(module), function_(function), builder_(module.ctx), previous_(g_current),
      id_(register_trace(function.name)) {
  builder_.set_insertion_point_to_end(function.body);
  g_current = this;
}

std::string Tracer::kernel_of(uint64_t id) {
  TraceNames& t = trace_names();
  std::lock_guard lock(t.mutex);
  return id >= 1 && id <= t.by_id.size() ? *t.by_id[id - 1] : std::string();
}

void fail_foreign_handle(const SourceLoc& use, uint64_t made_by, const Tracer* running) {
  std::string from = Tracer::kernel_of(made_by);
  std::string origin = "a tile handle made while tracing kernel '" + from + "'";
  const char* fix = "; a handle lives only during the trace that made it (it names a value of that "
                    "kernel's IR): do not keep handles in statics or globals, or capture them "
                    "from another kernel's body, but make them inside the kernel that uses them";
  if (!running)
    throw Error(use, origin + " is used after that trace ended, outside any kernel" + fix);
  if (running->kernel_name() == from)
    throw Error(use, "a tile handle made by an earlier trace of kernel '" + from +
                         "' is used while tracing kernel '" + from +
                         "' again (a kernel is traced once per specialization)" + fix);
  throw Error(use, origin + " is used while tracing kernel '" + running->kernel_name() + "'" + fix);
}

Tracer::~Tracer() { g_current = previous_; }

ir::Context& Tracer::ctx() { return module_.ctx; }

Tracer* Tracer::current_or_null() { return g_current; }

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
