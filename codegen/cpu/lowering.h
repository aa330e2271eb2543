// Private to codegen/cpu: the state shared by the files that lower tile IR to LLVM IR, one file
// per op family (lower_elementwise.cpp, lower_memory.cpp, lower_atomic.cpp, lower_reduce.cpp,
// lower_dot.cpp, lower_control.cpp, lower_debug.cpp; bounds checks of checked mode in
// lower_checks.cpp) around the driver in lower_kernel.cpp.
//
// How tensors are lowered. A rank-0 value (scalar or pointer) is a plain LLVM SSA value. A tensor
// value is one of two things:
//   * stored: a flat row-major array in the kernel's stack frame (an alloca in the entry block),
//     filled by one loop per dimension so that the innermost loop walks the contiguous dimension;
//   * lazy: an expression that `element(v, index)` re-emits at a multi-index wherever the value is
//     read. Elementwise chains, index arithmetic and shape ops (broadcast, expand_dims, permute,
//     reshape: index remappings, shifts and masks since dims are powers of two) stay lazy, so
//     `store(out + offs, load(in + offs, m) * 2, m)` becomes a loop with affine addresses that
//     LLVM's loop vectorizer turns into vector code, and the pointer tensor never exists.
// Loads, reductions, scans, dots, block arguments and control-flow results are always stored; a
// lazy candidate is stored when re-evaluating it would cost too much (several uses or a use inside
// a nested region, weighed by `lazy_cost`). Lazy evaluation never creates basic blocks, so values
// emitted for one element can be reused within the same basic block (the element cache).
//
// Element values travel in a "compute type": f16 and bf16 as f32 (rounded back after each op, as
// ir.h requires), i1 as i1, pointers as `ptr`. In memory they use a "storage type": f16 as `half`,
// bf16 as i16 (explicit round-to-nearest-even conversion), i1 as i8.
//
// A load whose value flows, through single-use lazy ops, into one consumer in the same block with
// no memory write in between is itself lazy ("fused"): `store(out, load(in) * 2)` is one loop.
// Element i is then read before element i is written but possibly after element j < i was
// written: an in-place update whose store addresses overlap other elements' load addresses sees
// new values, as it does on a GPU, where the threads of a program are not ordered either.
#pragma once

#include "tessel/ir/atomic.h"
#include "tessel/ir/ir.h"

#include <llvm/IR/IRBuilder.h>
#include <llvm/IR/LLVMContext.h>
#include <llvm/IR/Module.h>

#include <functional>
#include <initializer_list>
#include <map>
#include <string_view>
#include <unordered_map>
#include <unordered_set>
#include <vector>

namespace tessel::codegen::cpu::detail {

// One i64 index per dimension of a tensor (empty for rank 0).
using Index = std::vector<llvm::Value*>;

// How an IR value is represented in the LLVM function being built.
struct Rep {
  enum class Kind : uint8_t { None, Scalar, Stored, Lazy };
  Kind kind = Kind::None;
  llvm::Value* scalar = nullptr;  // Kind::Scalar
  llvm::Value* storage = nullptr; // Kind::Stored: pointer to the flat array
};

class Lowering {
public:
  Lowering(llvm::LLVMContext& ctx, llvm::Module& module, const ir::Function& function);

  // Builds the kernel function named `symbol` with the ABI of codegen/cpu.h.
  llvm::Function* run(const std::string& symbol);
  int64_t stack_bytes() const { return stack_bytes_; }

  // ---- types (lower_kernel.cpp) ----
  llvm::Type* compute_type(const ir::Type* t); // t: scalar or pointer (the element)
  llvm::Type* storage_type(const ir::Type* t);
  llvm::Value* to_storage(llvm::Value* v, const ir::Type* elem);
  llvm::Value* from_storage(llvm::Value* v, const ir::Type* elem);
  llvm::Value* load_element(llvm::Value* ptr, const ir::Type* elem);
  void store_element(llvm::Value* v, llvm::Value* ptr, const ir::Type* elem);

  // ---- values (lower_kernel.cpp) ----
  const Rep& rep(const ir::Value* v) const;
  void set_scalar(const ir::Value* v, llvm::Value* s);
  void set_stored(const ir::Value* v, llvm::Value* storage);
  // The element of `v` at `index` (v's rank many indices), in v's compute type.
  llvm::Value* element(const ir::Value* v, const Index& index);
  // The value of a rank-0 IR value.
  llvm::Value* scalar(const ir::Value* v);
  // Address of element `index` of a stored array holding `type`'s elements.
  llvm::Value* element_address(llvm::Value* storage, const ir::Type* type, const Index& index);
  // A fresh stack array for a tensor of `type`, or of `elem_override`'s elements when given.
  llvm::Value* new_array(const ir::Type* type, llvm::Type* elem_override = nullptr);
  // Writes every element of `v` into `storage` (an array shaped like v).
  void copy_into(const ir::Value* v, llvm::Value* storage);
  // v's storage, storing it first into a new array when it is lazy.
  llvm::Value* stored(const ir::Value* v);
  // One loop per dimension of `shape` (dims of size 1 get no loop); `body` emits one element.
  // The innermost loop of a nest of two or more, when it has at most 64 trips, is marked not to
  // be unrolled (lower_kernel.cpp).
  void loop_nest(std::span<const int64_t> shape, const std::function<void(const Index&)>& body);
  // A counted loop for i in [lo, hi) (i64); `body` may leave the builder in another block.
  // `rolled`: marked llvm.loop.unroll.disable (the loop vectorizer still vectorizes it).
  void counted_loop(llvm::Value* lo, llvm::Value* hi, const std::function<void(llvm::Value*)>& body,
                    llvm::StringRef name = "i", bool rolled = false);
  llvm::Value* i64(int64_t v) { return b.getInt64(v); }

  // ---- ops ----
  void lower_block(const ir::Block& block);
  void lower_op(const ir::Op& op); // dispatches on ir::family_of
  void lower_grid_query(const ir::Op& op);
  void lower_lazy(const ir::Op& op);
  void lower_return(const ir::Op& op);
  [[noreturn]] void unsupported(const ir::Op& op, std::string_view why);

  // lower_elementwise.cpp: lazy ops evaluated at an index, and the scalar semantics of each
  // elementwise opcode on compute-typed operands.
  llvm::Value* lazy_element(const ir::Op& op, const Index& index);
  llvm::Value* apply_elementwise(const ir::Op& op, std::span<llvm::Value* const> args);
  llvm::Value* round_to(llvm::Value* v, const ir::Type* elem); // f16/bf16 rounding of an f32
  llvm::Value* constant_of(const ir::Type* elem, const ir::Attr& value);
  llvm::Value* cast_value(llvm::Value* v, const ir::Type* from, const ir::Type* to);
  // An f64 rounded once to f16 or bf16 (`to`), returned in the f32 compute type.
  llvm::Value* narrow_from_f64(llvm::Value* d, const ir::Type* to);
  // lower_escape.cpp: inline_asm / extern_call through their C++ fallbacks (host callbacks).
  void lower_escape_hatch(const ir::Op& op);
  llvm::Value* host_call(const ir::Op& op, std::span<llvm::Value* const> args);
  // Per-element cost of evaluating `v` lazily (0 for scalars); decides materialisation.
  int lazy_cost(const ir::Value* v);
  static bool can_be_lazy(ir::Opcode op);

  // lower_memory.cpp
  void lower_load(const ir::Op& op);
  void lower_store(const ir::Op& op);
  // lower_atomic.cpp
  void lower_atomic(const ir::Op& op);
  void lower_atomic_store(const ir::Op& op);
  llvm::Value* atomic_element(const ir::Op& op, llvm::Value* ptr, llvm::Value* val,
                              llvm::Value* cmp);
  llvm::Value* atomic_cas_loop(llvm::Value* ptr, const ir::Type* elem, ir::MemSem sem,
                               const std::function<llvm::Value*(llvm::Value*)>& update);
  // lower_debug.cpp: device_print and device_assert (ops.def's DEBUG_OP rows; debug_barrier and
  // assume are nothing on the CPU).
  void lower_debug(const ir::Op& op);
  void lower_device_print(const ir::Op& op);
  void lower_device_assert(const ir::Op& op);
  // The row-major linear index (i64) of `index` in `shape`.
  llvm::Value* linear_index(std::span<const int64_t> shape, const Index& index);
  // A constant i64 array holding `shape` (null for rank 0).
  llvm::Value* dims_constant(std::span<const int64_t> shape);
  // lower_reduce.cpp
  void lower_reduce(const ir::Op& op);
  void lower_scan(const ir::Op& op);
  // lower_dot.cpp
  void lower_dot(const ir::Op& op);
  // lower_control.cpp
  void lower_control_op(const ir::Op& op); // the control family: for, if, while, terminators
  void lower_for(const ir::Op& op);
  void lower_if(const ir::Op& op);
  void lower_while(const ir::Op& op);
  // Lowers every op of `region` but its terminator, which it returns (null when the region is
  // empty). Bind the region's arguments first with `bind`.
  const ir::Op* lower_region_ops(const ir::Block& region, const ir::Op& owner);
  // Binds `v` to an LLVM scalar (rank 0) or to the storage of a tensor.
  void bind(const ir::Value* v, llvm::Value* scalar_or_storage);
  // Writes tensor `values[i]` into `targets[i]` and returns the scalar ones (null for tensors).
  // With `may_alias` the targets may be read by the values (carried loop state: a swap yields
  // one carried tensor into another's storage), so values go through temporaries first.
  std::vector<llvm::Value*> write_values(std::span<const ir::Value* const> values,
                                         std::span<llvm::Value* const> targets, bool may_alias);

  // True when `load` may stay lazy: see lower_memory.cpp.
  bool can_fuse_load(const ir::Op& load);
  // A lazy (fused) load evaluated at one index.
  llvm::Value* fused_load_element(const ir::Op& load, const Index& index);
  // Masks known to hold everywhere in the code being emitted (the full-block fast path); element()
  // of one is the constant true.
  std::vector<const ir::Value*> known_true_masks;
  bool is_known_true_mask(const ir::Value* mask) const;
  // Emits `emit` (a loop over the elements of `roots`, which communicates through memory) twice:
  // once where the column masks `s + arange < n` that the lazy expressions of `roots` compute hold
  // for the whole block (checked in closed form, so the copy has no per-element mask), once for
  // the partial block. Once only when there are none. With `load_masks` the masks of the fused
  // loads among `roots`' lazy expressions join them, whatever their form (lower_dot.cpp's operand
  // tiles): the fast copy then reads those loads without a mask.
  void with_lazy_masks_fast_path(std::initializer_list<const ir::Value*> roots,
                                 const std::function<void()>& emit, bool load_masks = false);
  // True when `v` has exactly one use, in the block that defines it: that user may overwrite v's
  // storage (lower_dot.cpp accumulates into its accumulator's array).
  bool single_local_use(const ir::Value* v) const;

  // lower_checks.cpp: checked mode (CompileOptions::checked).
  // The kernel argument `v` (a pointer) is derived from, -2 when several or none.
  int64_t pointer_origin(const ir::Value* v);
  // Reads the BoundsTable slot after the arguments and the ranges of the pointer arguments.
  void load_bounds_table(llvm::Value* args);
  // Ends the current program when a program of a lower id has failed already.
  void skip_programs_after_violation(llvm::Value* program);
  // Checks the access of `op` (a load or store) to one `elem` at `address`; the builder
  // continues where it passed. Emits nothing unless `checked`.
  void check_access(const ir::Op& op, llvm::Value* address, const ir::Type* elem, bool is_store);
  struct ArgRange {
    int64_t arg;
    llvm::Value* begin;
    llvm::Value* end;
  };
  bool checked = false;
  llvm::Value* bounds_table = nullptr;
  llvm::Value* program_linear_id = nullptr;
  std::vector<ArgRange> arg_ranges; // of the pointer arguments, in argument order

  llvm::LLVMContext& ctx;
  llvm::Module& module;
  const ir::Function& fn;
  llvm::IRBuilder<> b;
  llvm::Function* llfn = nullptr;
  llvm::BasicBlock* entry_block = nullptr;   // allocas go here
  llvm::BasicBlock* program_latch = nullptr; // `return` branches here
  llvm::Value* grid[3] = {};
  llvm::Value* program_id[3] = {};

private:
  struct UseInfo {
    int count = 0;
    bool outside_block = false;   // used in a block other than the defining one
    const ir::Op* user = nullptr; // the last user seen
  };
  void count_uses(const ir::Block& block);
  bool should_store(const ir::Value* v);
  int64_t trace_origin(const ir::Value* v);

  std::unordered_map<const ir::Value*, Rep> reps_;
  std::unordered_map<const ir::Value*, UseInfo> uses_;
  std::unordered_map<const ir::Value*, int> cost_cache_;
  std::unordered_map<const ir::Value*, int64_t> origins_; // pointer_origin's results
  std::unordered_set<const ir::Value*> tracing_;          // pointer_origin's open queries
  // Element cache, valid while the builder stays in `cache_block_`.
  std::map<std::pair<const ir::Value*, Index>, llvm::Value*> cache_;
  llvm::BasicBlock* cache_block_ = nullptr;
  int64_t stack_bytes_ = 0;
};

// Shape helpers: dims are powers of two.
int64_t log2_exact(int64_t v);
std::vector<int64_t> shape_of(const ir::Type* t); // empty for rank 0

} // namespace tessel::codegen::cpu::detail
