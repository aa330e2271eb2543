// The NVIDIA GPU backend: tile IR -> layouts -> LLVM IR for nvptx64-nvidia-cuda (NVVM intrinsics,
// libdevice) -> LLVM O3 -> PTX -> nvJitLink -> cubin, with a resource report. Works without a GPU:
// nothing here touches the CUDA driver. libdevice and nvJitLink come from the CUDA toolkit, found
// at run time ($TESSEL_LIBDEVICE, $TESSEL_NVJITLINK, else $CUDA_HOME / $CUDA_PATH /
// /usr/local/cuda), so tessel builds and runs its CPU backend where CUDA is absent.
//
// The compiled kernel's ABI: `.entry NAME(params...)` with one parameter per kernel argument
// (pointers as 64-bit global addresses, i32 / f32 / ... by value), launched with
// num_warps * 32 threads per block and `shared_bytes` of dynamic shared memory; program_id(a)
// is %ctaid.{x,y,z}, num_programs(a) %nctaid. A kernel whose tensor descriptors go through TMA
// (sm_90a, codegen/gpu/tensor_maps.cpp) takes one more `.param .align 64 .b8 [128]` per entry of
// `tensor_maps` after them: a CUtensorMap the launch builds from the arguments.
#pragma once

#include "tessel/codegen/target.h"
#include "tessel/dtype.h"
#include "tessel/ir/ir.h"
#include "tessel/ir/pass.h"

#include <array>
#include <cstdint>
#include <map>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace tessel::codegen::gpu {

struct CompileOptions {
  int num_warps = 4;     // warps per program; a power of two in [1, 32]
  int num_stages = 2;    // software-pipelining depth (the pipeline pass; 1 = none)
  int opt_level = 3;     // LLVM optimisation level
  bool line_info = true; // .loc / .file directives pointing at the user's source
  // The tile-IR pipeline's contract-fma (tessel/codegen/transforms.h PipelineOptions), carried
  // here so that it reaches the pipeline the JIT runs and the cache key.
  bool fp_fusion = true;
  // Keep device_assert: a failing element printf's its line and calls __assertfail (the
  // simulator reports it; a CUDA GPU fails the launch with CUDA_ERROR_ASSERT).
  bool debug = false;
  // sm_90a: tl::dot on wgmma.mma_async where the tile allows it (docs/gpu_codegen.md, "Hopper:
  // wgmma"); false keeps every dot on mma.sync, as on sm_80 (for comparisons).
  bool wgmma = true;
};

// What nvJitLink's info log says of the kernel (ptxas -v).
struct ResourceReport {
  int registers = 0;
  int64_t spill_stores = 0; // bytes
  int64_t spill_loads = 0;  // bytes
  int64_t stack_bytes = 0;  // stack frame
  int64_t static_shared_bytes = 0;
  int64_t const_bytes = 0; // constant bank 0 (kernel parameters) included
  bool parsed = false;     // the log had a usage line for the kernel
};

// Instruction counts read from PTX text (see ptx_stats).
struct PtxStats {
  std::map<std::string, int64_t> counts; // e.g. "ld.global.v4" -> 2, "shfl.sync" -> 10
  int64_t instructions = 0;
  int64_t get(const std::string& key) const {
    auto it = counts.find(key);
    return it == counts.end() ? 0 : it->second;
  }
};

// Milliseconds per stage.
struct StageTimes {
  double layout_ms = 0;    // axis analysis + layout assignment
  double lower_ms = 0;     // tile IR -> LLVM IR
  double libdevice_ms = 0; // reading and linking libdevice
  double optimize_ms = 0;  // LLVM O3
  double ptx_ms = 0;       // NVPTX code generation
  double cubin_ms = 0;     // nvJitLink
  double total_ms() const {
    return layout_ms + lower_ms + libdevice_ms + optimize_ms + ptx_ms + cubin_ms;
  }
};

// A tensor map the kernel takes as a trailing 128-byte parameter (TMA on sm_90a), and how a
// launch builds it: each field is a kernel argument (its index among the code's arguments, i.e.
// the parameters that are not Const) or a constant. Dimensions outermost first, as the DSL's
// descriptor; strides in elements (the innermost is 1).
struct TensorMapField {
  int arg = -1;        // the argument holding the value, or -1 for `value`
  bool is_i64 = false; // the argument is a 64-bit integer
  int64_t value = 0;
  bool operator==(const TensorMapField&) const = default;
};
struct TensorMapParam {
  int base_arg = 0; // the pointer argument
  DType dtype = DType::f32;
  std::vector<TensorMapField> shape, strides;
  std::vector<int64_t> box;
  int64_t swizzle = 0; // bytes: 0, 32, 64, 128
  int64_t padding = 0; // 0 zero, 1 NaN
  SourceLoc loc;       // the first op that reads it, for launch errors
};

// The tensor maps a kernel's desc_load / desc_store ops read (their `tmap` attributes, set by
// the assign-tensor-maps pass), in parameter order.
std::vector<TensorMapParam> tensor_map_params(const ir::Function& function);
// The pass that sends tensor descriptors through TMA on `target` (sm_90 and later): each
// desc_load / desc_store whose base, shape and strides are kernel arguments or constants gets a
// `tmap` (equal descriptors share one); the others stay for expand-tensor-descriptors. On other
// targets it changes nothing. The JIT runs it right after tracing, so the cache key sees it.
ir::PassInfo assign_tensor_maps_pass(const Target& target);

// How far compile() goes.
enum class Stage : uint8_t { Llvm, Ptx, Cubin };

// One warp-wide shared-memory access the lowering emits (layout conversions, cross-warp
// reduction scratch), as the lanes address it: what tests/gpu enumerates to prove the buffers'
// swizzles free of bank conflicts. Offsets are bytes from the start of the exchange's buffer
// (a reduction's group offset, the same for a whole warp, is left out: it cannot change banks'
// relative load).
struct SharedAccess {
  std::string what; // e.g. "convert 64x8 f32"
  bool store = false;
  uint32_t bytes = 4;                 // per lane: 1, 2, 4, 8 or 16
  uint32_t active = 0;                // lanes taking part
  std::array<uint32_t, 32> offsets{}; // per lane
};

struct CompiledKernel {
  std::string name; // the kernel's name (the PTX entry)
  Target target;
  int num_warps = 4;
  int64_t shared_bytes = 0; // dynamic shared memory to launch with
  std::string layouts;      // the IR annotated with each value's layout (`--emit ir-final`)
  std::string llvm_ir;      // after O3
  std::string ptx;
  std::string cubin;    // empty unless Stage::Cubin
  std::string info_log; // nvJitLink's
  ResourceReport resources;
  StageTimes times;
  std::vector<SharedAccess> shared_accesses; // every warp-wide shared access, once per op
  std::vector<TensorMapParam> tensor_maps;   // trailing tensor-map parameters (TMA)
};

// Compiles one kernel of verified IR for `target` (an NVPTX target). Throws tessel::Error for IR
// the backend cannot lower (naming the op and its location), a kernel needing more shared memory
// than the target has, a dtype the target cannot do, or a missing libdevice / nvJitLink.
CompiledKernel compile(const ir::Function& function, const Target& target,
                       const CompileOptions& options = {}, Stage until = Stage::Cubin);

// PTX -> cubin for `target` with nvJitLink; fills `cubin`, `info_log` and `resources`.
void link_cubin(const std::string& ptx, const std::string& kernel_name, const Target& target,
                CompiledKernel& out);
// The same, linking `more_ptx` (relocatable PTX defining functions the kernel's PTX declares
// .extern, e.g. NVRTC's output for tl::extern_cuda) into the one cubin.
void link_cubin(const std::string& ptx, std::span<const std::string> more_ptx,
                const std::string& kernel_name, const Target& target, CompiledKernel& out);

// Counts instruction kinds in PTX text: global loads/stores by vector width ("ld.global",
// "ld.global.v2", "ld.global.v4", "st.global.v4"...), "ld.shared", "st.shared", "shfl.sync",
// "bar.sync", "mma", "wgmma", "cp.async", "ldmatrix", "fma", "ex2.approx", "local" (ld/st.local),
// "cp.async.bulk" (TMA's copies, commits and waits; "cp.async.bulk.tensor" the box copies alone)
// and "mbarrier".
PtxStats ptx_stats(const std::string& ptx);

// Parses nvJitLink's / ptxas's info log for `kernel_name`'s usage lines.
ResourceReport parse_info_log(const std::string& log, const std::string& kernel_name);

// NVRTC as the cache key of a kernel that calls tl::extern_cuda functions sees it: "nvrtc 13.0"
// (its version), or "nvrtc absent" when it cannot be loaded (compiling such a kernel then fails
// with the error naming the paths tried).
std::string nvrtc_identity();

// Where libdevice.10.bc and libnvJitLink.so are looked for, in order.
std::string libdevice_path();
std::string nvjitlink_path();

// The GPU passes (IR to IR, tessel-opt --target ... --passes=...): "assign-layouts" (layouts in
// the tensor types, explicit convert_layout ops; codegen/gpu/assign_layouts.cpp). Throws
// tessel::Error for an unknown name or a target that is not NVPTX.
// "pipeline" (cp.async software pipelining of the loads that feed a dot, `num_stages` deep unless
// a loop says otherwise; codegen/gpu/pipeline.cpp), "allocate-shared".
void add_gpu_pass(ir::PassManager& pm, std::string_view name, const Target& target,
                  int num_warps = 4, int num_stages = 2);
bool is_gpu_pass(std::string_view name);
ir::PassInfo assign_layouts_pass(const Target& target, int num_warps = 4);

// The axis analysis of every kernel of `module`, as text (`tessel-opt --print-axis-info`).
std::string print_axis_info(const ir::Module& module);

} // namespace tessel::codegen::gpu
