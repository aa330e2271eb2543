// Private to codegen/gpu: the state shared by the files that lower tile IR to LLVM IR for NVPTX,
// one file per op family (lower_elementwise.cpp, lower_memory.cpp, lower_atomic.cpp,
// lower_debug.cpp, lower_reduce.cpp, lower_control.cpp, convert_layout.cpp) around the driver in
// lower_kernel.cpp.
//
// The emission decides nothing: layouts (and the conversions between them), access widths and
// shared-memory offsets are in the IR the GPU passes wrote (compile.cpp).
//
// How tensors are lowered. Every tensor value has a distributed layout (layout_assignment.h); in
// LLVM it is the list of its registers in this thread: `Vals[r]` holds the element at
// layout.apply(r, lane, warp). Rank-0 values are one LLVM value, the same in every thread.
// Element types in registers: f16 as `half`, bf16 as `bfloat`, i1 as `i1`, pointers as
// `ptr addrspace(1)` (generic `ptr` for other address spaces). f16/bf16 arithmetic other than
// add/sub/mul/neg/abs (whose native rounding gives the same bits) is done in f32 and rounded back,
// as ir.h specifies (codegen/scalar_semantics.h).
//
// Shared memory is one dynamic buffer (`global_smem`) of the kernel's `shared(N)` bytes; each op
// that needs scratch (layout conversions, reductions and scans across warps, a dot's operand
// conversions) uses the bytes allocate-shared planned for it (scratch_offset / scratch_bytes in the
// IR; allocate_shared.cpp), after the `barrier` op allocate-shared put before it where one is
// needed.
#pragma once

#include "codegen/gpu/layout_assignment.h"
#include "codegen/gpu/mma_layout.h"
#include "codegen/gpu/swizzle.h"
#include "codegen/gpu/wgmma_layout.h"
#include "tessel/codegen/target.h"
#include "tessel/ir/ir.h"

#include <llvm/IR/DIBuilder.h>
#include <llvm/IR/IRBuilder.h>
#include <llvm/IR/Intrinsics.h>
#include <llvm/IR/LLVMContext.h>
#include <llvm/IR/Module.h>

#include <functional>
#include <map>
#include <span>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace tessel::codegen::gpu::detail {

using Vals = std::vector<llvm::Value*>;

class Lowering {
public:
  Lowering(llvm::LLVMContext& ctx, llvm::Module& module, const ir::Function& function,
           const Target& target, int num_warps, bool line_info);

  // Builds the kernel entry named like the IR function.
  llvm::Function* run();
  int64_t shared_bytes() const { return shared_bytes_; }
  // Every warp-wide shared-memory access emitted, once per op (for the bank-conflict proof).
  std::vector<SharedAccess> take_shared_accesses() { return std::move(shared_accesses_); }
  int num_warps() const { return num_warps_; }

  // ---- types ----
  llvm::Type* reg_type(const ir::Type* elem); // the element's register type
  llvm::Type* mem_type(const ir::Type* elem); // in memory (i1 as i8)
  llvm::Value* to_mem(llvm::Value* v, const ir::Type* elem);
  llvm::Value* from_mem(llvm::Value* v, const ir::Type* elem);

  // ---- values ----
  const Vals& vals(const ir::Value* v) const;
  void set_vals(const ir::Value* v, Vals vs);
  // The registers of `v` in layout `want` (converted when v has another layout).
  Vals vals_in(const ir::Value* v, const LinearLayout& want);
  llvm::Value* scalar(const ir::Value* v) { return vals(v).at(0); }
  const LinearLayout& layout(const ir::Value* v) const;

  // ---- thread coordinates ----
  llvm::Value* lane_id() { return lane_; }
  llvm::Value* warp_id() { return warp_; }
  // The coordinate along `dim` of register `reg` of this thread in `l` (i32).
  llvm::Value* coordinate(const LinearLayout& l, int32_t reg, int dim);
  // The register part of a coordinate (constant per register).
  static std::vector<int32_t> reg_coord(const LinearLayout& l, int32_t reg);
  // Map from the register part of a coordinate to the register holding it.
  static std::map<std::vector<int32_t>, int32_t> reg_index(const LinearLayout& l);

  // True in the one thread of each group holding replicated copies of `l`'s elements (zero lane
  // and warp bases: that bit is 0); null when nothing is replicated. Warp bits in `ignore_warp`
  // are not replication (the caller tells those copies apart).
  llvm::Value* owner_predicate(const LinearLayout& l, const std::vector<int>& ignore_warp = {});
  // Runs `body` only where `pred` holds (no branch when pred is null).
  void only_if(llvm::Value* pred, const std::function<void()>& body);

  // ---- shared memory ----
  // The current op's scratch of `bytes` bytes (allocate-shared's plan; its barrier is in the IR).
  llvm::Value* scratch(int64_t bytes);
  void barrier();
  // The swizzled row-major index (i32) of register `reg`'s element of `l` in a buffer holding
  // the whole tensor.
  llvm::Value* shared_index(const LinearLayout& l, int32_t reg, const Swizzle& s);
  // Stores `xs` (memory-typed, contiguous elements) at element `index` of `base` as one access.
  void store_shared(llvm::Type* mt, llvm::Value* base, llvm::Value* index,
                    std::span<llvm::Value* const> xs);
  // The same, only where `pred` holds (everywhere when null): f32/i32 runs of 1, 2 or 4 as one
  // predicated `@p st.shared` with no branch, other types under only_if.
  void store_shared_if(llvm::Value* pred, llvm::Type* mt, llvm::Value* base, llvm::Value* index,
                       std::span<llvm::Value* const> xs);
  // Loads `n` contiguous elements at element `index` of `base` as one access.
  Vals load_shared(llvm::Type* mt, llvm::Value* base, llvm::Value* index, int n);
  // Notes one access (or those of `side`) for CompiledKernel::shared_accesses.
  void record_shared_access(SharedAccess a) { shared_accesses_.push_back(std::move(a)); }
  void record_accesses(const AccessSide& side, const Swizzle& s, int64_t elem_bytes,
                       const std::string& what);

  // ---- ops ----
  void lower_block(const ir::Block& block);
  void lower_op(const ir::Op& op);
  [[noreturn]] void unsupported(const ir::Op& op, std::string_view why);
  void set_location(const ir::Op& op);

  // lower_elementwise.cpp
  void lower_elementwise(const ir::Op& op);
  // lower_escape.cpp: inline_asm, inline_asm_volatile, extern_call.
  void lower_escape_hatch(const ir::Op& op);
  llvm::Value* apply_elementwise(const ir::Op& op, std::span<llvm::Value* const> args);
  // True when `op` runs on register pairs in the packed f16x2/bf16x2 forms on this target.
  bool packs(const ir::Op& op) const;
  llvm::Value* apply_packed(const ir::Op& op, std::span<llvm::Value* const> pair_args);
  llvm::Value* cast_value(llvm::Value* v, const ir::Type* from, const ir::Type* to);
  llvm::Value* constant_of(const ir::Type* elem, const ir::Attr& value);
  llvm::Value* call_libdevice(const char* f32_name, const char* f64_name, llvm::Value* x);
  void lower_shape_op(const ir::Op& op);
  // lower_memory.cpp
  void lower_load(const ir::Op& op);
  void lower_store(const ir::Op& op);
  // lower_debug.cpp: device_print and device_assert (ops.def's DEBUG_OP rows) through vprintf.
  void lower_debug(const ir::Op& op);
  void lower_device_print(const ir::Op& op);
  void lower_device_assert(const ir::Op& op);
  // A NUL-terminated constant in global memory, as a generic pointer.
  llvm::Value* global_string(const std::string& text, const char* name);
  // vprintf(format, args) with `args` packed at their natural alignments (CUDA's printf ABI).
  void vprintf(llvm::Value* format, std::span<llvm::Value* const> args);
  // ctaid.x, .y, .z (i32).
  std::vector<llvm::Value*> program_ids();
  // The elements of `v` this thread prints or checks: a register, the predicate that this thread
  // owns it (null: always), its coordinates (i32). Each element of the tile is owned once.
  struct OwnedElement {
    int32_t reg;
    llvm::Value* owner;
    std::vector<llvm::Value*> coords;
  };
  std::vector<OwnedElement> owned_elements(const ir::Value* v);
  // lower_atomic.cpp
  void lower_atomic(const ir::Op& op);
  llvm::Value* atomic_element(const ir::Op& op, llvm::Value* pred, llvm::Value* ptr,
                              llvm::Value* val, llvm::Value* cmp, bool want_result);
  llvm::Value* ptx_atomic(const ir::Op& op,
                          std::span<const std::pair<llvm::Value*, std::string>> forms,
                          llvm::Value* ptr, std::span<llvm::Value* const> args, unsigned bits,
                          bool want_result);
  llvm::Value* bf16_add_cas_loop(const ir::Op& op, llvm::Value* pred, llvm::Value* ptr,
                                 llvm::Value* val);
  llvm::Value* ptx_atomic_load(const ir::Op& op, llvm::Value* pred, llvm::Value* ptr,
                               unsigned bits);
  void ptx_atomic_store(const ir::Op& op, llvm::Value* pred, llvm::Value* ptr, llvm::Value* val,
                        unsigned bits);
  void lower_atomic_store(const ir::Op& op);
  // lower_reduce.cpp
  void lower_reduce(const ir::Op& op);
  void lower_scan(const ir::Op& op);
  void lower_dot(const ir::Op& op);
  // shfl.sync of any register type (64-bit values as two shuffles) over the full warp.
  llvm::Value* shuffle(llvm::Intrinsic::ID id, llvm::Value* v, llvm::Value* arg, int c);
  llvm::Value* shuffle_xor(llvm::Value* v, int lane_mask);
  llvm::Value* shuffle_up(llvm::Value* v, int delta); // from lane - delta (own value below 0)
  llvm::Value* shuffle_idx(llvm::Value* v, llvm::Value* lane);
  // lower_mma.cpp: the GPU-stage memory ops (local_alloc / local_slot / local_store / local_load /
  // barrier, the cp.async ops via lower_async.cpp), and dots on tensor cores.
  void lower_shared_op(const ir::Op& op);
  void lower_mma(const ir::Op& op);
  // lower_wgmma.cpp (sm_90a): a dot whose b (and a, unless a is in wgmma's A-fragment register
  // layout) is a #shared buffer, and fence_async_shared.
  void lower_wgmma(const ir::Op& op);
  void lower_wgmma_wait(const ir::Op& op);
  void pin_registers(Vals& regs);
  std::vector<llvm::Value*> wgmma_a_registers(const ir::Op& op, const WgmmaShape& s);
  void lower_fence_async_shared();
  struct WgmmaOperandPlan;
  WgmmaOperandPlan wgmma_operand(const ir::Op& op, const WgmmaShape& s, int opidx);
  llvm::Value* wgmma_descriptor(const WgmmaOperandPlan& plan, int32_t reg);
  static ir::LayoutKind layout_kind(const ir::Value* v) {
    return v->type()->layout() ? v->type()->layout()->kind() : ir::LayoutKind::Linear;
  }
  // lower_tma.cpp: desc_load / desc_store through TMA (tensor descriptors with a tmap, sm_90a),
  // and the pieces a TMA pipeline reuses: an mbarrier's init by thread 0 (then a barrier), one
  // box (`coords` i32, outermost first) copied to `box` by thread 0 arriving on `bar` with
  // `bytes` to expect, and every thread's wait for the mbarrier's phase `phase` (i32).
  void lower_tma(const ir::Op& op);
  void emit_mbarrier_init(llvm::Value* bar);
  void emit_tma_box_load(const std::string& tmap, std::span<llvm::Value* const> coords,
                         llvm::Value* box, llvm::Value* bar, int64_t bytes);
  void emit_mbarrier_wait(llvm::Value* bar, llvm::Value* phase);
  llvm::Value* shared_address(llvm::Value* p); // a shared pointer as PTX's 32-bit address
  llvm::Value* elected_thread();               // thread 0 of the program
  // The PTX name of the kernel parameter holding `op`'s tensor map.
  std::string tensor_map_symbol(const ir::Op& op) const;
  llvm::Value* tensor_map_address(const std::string& tmap); // its generic address (i64)
  llvm::Value* box_offset(const LinearLayout& l, int32_t reg, int64_t elem_bytes, int64_t swizzle);
  // lower_control.cpp
  // for, if, while, return (yield and condition end their regions, lowered with their op).
  void lower_control_op(const ir::Op& op);
  void lower_for(const ir::Op& op);
  void lower_if(const ir::Op& op);
  void lower_while(const ir::Op& op);
  // Lowers the region's ops but its terminator, which it returns.
  const ir::Op* lower_region_ops(const ir::Block& region);
  // convert_layout.cpp
  Vals convert(const Vals& v, const ir::Type* elem, const LinearLayout& from,
               const LinearLayout& to);

  llvm::LLVMContext& ctx;
  llvm::Module& module;
  const ir::Function& fn;
  const Target& target;
  llvm::IRBuilder<> b;
  llvm::Function* llfn = nullptr;
  llvm::BasicBlock* exit_block = nullptr;

private:
  llvm::Value* thread_part(const LinearLayout& l, InDim in, int dim);

  std::unordered_map<const ir::Value*, Vals> vals_;
  // Shared-memory buffers (local_alloc and local_slot results): their base pointers.
  std::unordered_map<const ir::Value*, llvm::Value*> buffers_;
  llvm::Value* buffer(const ir::Value* v) const;
  void lower_local_alloc(const ir::Op& op);
  // lower_async.cpp: a ring's slot, and cp.async with its commit and wait.
  void lower_local_slot(const ir::Op& op);
  void lower_async_copy(const ir::Op& op);
  void lower_async_commit();
  void lower_async_wait(const ir::Op& op);
  void lower_local_store(const ir::Op& op);
  void lower_local_load(const ir::Op& op);
  Vals ldmatrix_load(const ir::Op& op, const LdMatrix& plan, llvm::Value* base);
  // layout()'s conversions of the IR's layout attributes, by tensor type.
  mutable std::unordered_map<const ir::Type*, LinearLayout> layouts_;
  // Thread-dependent parts of coordinates, emitted once in the entry block.
  std::map<std::pair<std::string, int>, llvm::Value*> coord_cache_;
  llvm::IRBuilder<> prologue_;
  llvm::Value* lane_ = nullptr;
  llvm::Value* warp_ = nullptr;
  llvm::GlobalVariable* smem_ = nullptr;
  const ir::Op* current_op_ = nullptr;   // the op being lowered, whose scratch plan scratch() reads
  const ir::Op* scratch_user_ = nullptr; // the last op that borrowed scratch
  int64_t shared_bytes_ = 0;
  std::vector<SharedAccess> shared_accesses_;
  // vprintf's argument buffers, one per packed layout, shared by every call (lower_debug.cpp).
  std::map<llvm::Type*, llvm::Value*> printf_buffers_;
  int num_warps_;
  bool line_info_;
  std::unique_ptr<llvm::DIBuilder> dib_;
  llvm::DISubprogram* subprogram_ = nullptr;
  std::map<std::string, llvm::DIFile*> files_;
};

} // namespace tessel::codegen::gpu::detail
