// The execution engine's state (private to sim/): a launch, its CTAs, their warps and the
// call frames of a warp, plus the helpers every exec_*.cpp file uses. A warp executes one
// decoded instruction at a time for all its active lanes; the handlers loop over the lanes
// inside (`for_lanes`), so the dispatch cost is paid once per warp instruction.
//
// Address windows: device allocations are at or above kGlobalBase; generic addresses of the
// CTA's shared memory are kSharedWindow + offset and of the thread's local memory
// kLocalWindow + offset; the kernel's parameter buffer is at kParamWindow. `.shared` and
// `.local` state-space addresses are the bare offsets, as on hardware.
#pragma once

#include "ptx_module.h"
#include "word_shadow.h"

#include <tessel/sim/device.h>

#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

namespace tessel::sim {

inline constexpr uint64_t kGlobalBase = 0x0000'0001'0000'0000ull;
inline constexpr uint64_t kParamWindow = 0x0000'7d00'0000'0000ull;
inline constexpr uint64_t kSharedWindow = 0x0000'7e00'0000'0000ull;
inline constexpr uint64_t kLocalWindow = 0x0000'7f00'0000'0000ull;
inline constexpr uint64_t kWindowSize = 0x0000'0001'0000'0000ull;

// Per-byte racecheck state of global memory (see sim/README.md, "racecheck"). `launch` is
// the launch that recorded it: an older value means "untouched in this launch", so the
// shadow never needs clearing. Threads are named by CTA (linear) and linear thread id; the
// clocks are the thread's warp's own vector-clock component at the access. The byte the last
// writer stored (identical rewrites are benign) is kept beside it, in Allocation::values, so
// that the state of a word written at once is the same for its four bytes (word_shadow.h).
struct GlobalShadowState {
  uint32_t launch = 0;
  uint32_t writer_cta = 0;
  uint32_t write_clock = 0; // 0: no write in this launch
  uint32_t reader_cta = 0;
  uint32_t read_clock = 0; // 0: no read since the last write
  uint32_t write_seq = 0;  // Launch::atomic_seq at the write / the read
  uint32_t read_seq = 0;
  uint16_t writer = 0;
  uint16_t reader = 0;
  bool operator==(const GlobalShadowState&) const = default;
};

// Shadow bytes charged per byte of a racechecked allocation against kGlobalShadowBudget: the
// size of the former per-byte record (state and value), kept so that the same allocations
// are racechecked as before (the word-wise store needs about 9 bytes per byte).
inline constexpr size_t kGlobalShadowCharge = 36;

struct Allocation {
  uint64_t base = 0;
  size_t size = 0;
  std::unique_ptr<uint8_t[]> data;
  // From the first racechecked access on: the state of each byte and the value its last
  // writer stored.
  WordShadow<GlobalShadowState> shadow;
  std::unique_ptr<uint8_t[], FreeDeleter> values;
  bool shadowed = false;   // `shadow` and `values` are allocated
  bool unshadowed = false; // over the device's shadow budget: not racechecked
};

// Global racecheck charges kGlobalShadowCharge bytes per byte of an allocation it has seen; past
// this many bytes of live shadow per device, further allocations are not racechecked (a model's
// weights would otherwise cost gigabytes). See sim/README.md, "racecheck".
inline constexpr size_t kGlobalShadowBudget = size_t(1) << 30;

// The device's global memory: allocations with guard gaps between them.
class GlobalMemory {
public:
  uint64_t allocate(size_t bytes);
  bool release(uint64_t base);
  // The allocation holding [addr, addr+size), or null.
  Allocation* find(uint64_t addr, size_t size) {
    for (Allocation* a : recent_)
      if (a && addr >= a->base && addr + size <= a->base + a->size)
        return a;
    return find_slow(addr, size);
  }
  uint8_t* host(uint64_t addr, size_t size) {
    Allocation* a = find(addr, size);
    return a ? a->data.get() + (addr - a->base) : nullptr;
  }

private:
  Allocation* find_slow(uint64_t addr, size_t size);

public:
  size_t shadow_bytes = 0; // live global racecheck shadow, against kGlobalShadowBudget

private:
  std::map<uint64_t, Allocation> allocs_;
  uint64_t next_ = kGlobalBase;
  // The allocations found last, newest first: a kernel streams from a few buffers at once
  // (a GEMM's A and B), so a one-entry cache would miss on every other access.
  Allocation* recent_[4] = {};
};

// Vector-clock racecheck (sim/README.md): every warp keeps a clock with one component per
// warp of its CTA. An access stamped (warp u, clock c) happens before the current warp's
// access when the current warp's clock has vc[u] >= c; barriers join their participants.
using VectorClock = std::vector<uint32_t>;

struct StackEntry {
  uint32_t pc;
  uint32_t reconverge; // pop when pc reaches it
  uint32_t mask;
};

// The last access of a register by an instruction other than wgmma (functions with wgmma only):
// the warp's wgmma.fence count then, and where. A wgmma whose registers were accessed since
// the last fence breaks the ISA's fence rule.
struct WgmmaTouch {
  uint32_t fences = 0; // Warp::wgmma_fences at the access + 1; 0: never accessed
  uint32_t pc = 0;
};

struct Frame {
  const Function* fn = nullptr;
  uint32_t fn_index = 0;
  std::vector<uint64_t> regs;  // slot * 32 + lane
  std::vector<uint32_t> preds; // lane masks
  std::vector<StackEntry> stack;
  uint32_t returned = 0;               // lanes that executed ret in this frame
  uint32_t call_pc = 0;                // the caller's call instruction
  std::vector<WgmmaTouch> wgmma_touch; // by slot, sized on first use
};

struct AsyncCopy {
  uint32_t lane;
  uint32_t dst; // shared offset
  uint32_t size;
  uint8_t bytes[16];
};

// An issued wgmma.mma_async of one warp (exec_wgmma.cpp). The shared-memory elements it reads
// are located and checked (memcheck, racecheck) at issue and their bytes kept; it computes when
// a wgmma.wait_group completes its group, from the registers and shared memory then, and a
// shared byte that changed in between is reported.
struct WgmmaOp {
  const Inst* inst = nullptr;
  const Function* fn = nullptr;
  uint32_t pc = 0;
  size_t frame = 0;  // the issuing frame's index in Warp::frames
  uint32_t rank = 0; // the warp's place in its warpgroup: accumulator rows 16 rank .. +15
  bool scale_d = true;
  int scale_a = 1, scale_b = 1;
  std::vector<uint32_t> a_addr, b_addr; // element addresses (A: rank's 16 rows; empty: registers)
  std::vector<uint32_t> a_bits, b_bits; // their values at issue
};

// Registers an in-flight wgmma reads or writes (per slot of the issuing frame).
struct WgmmaLock {
  uint16_t accumulator = 0; // in-flight wgmmas using the slot as D
  uint16_t a_fragment = 0;  // ... as a register of A
  uint32_t pc = 0;          // the latest of them
};

// What a warp executed of one wgmma instruction: how often, and a hash of the descriptors and
// scale-d it passed (the 4 warps of a warpgroup must pass the same ones).
struct WgmmaExecuted {
  uint32_t times = 0;
  uint64_t operands = 0;
};

enum class WarpState : uint8_t { ready, at_barrier, done };

struct Warp {
  uint32_t index = 0;
  uint32_t valid = 0; // lanes that are threads of the CTA
  uint32_t exited = 0;
  WarpState state = WarpState::ready;
  uint32_t barrier = 0; // barrier id waited on
  std::vector<Frame> frames;
  std::vector<AsyncCopy> open_group;
  std::deque<std::vector<AsyncCopy>> groups;
  std::vector<std::vector<AsyncCopy>> spare_groups; // completed groups' storage, for reuse
  uint64_t clock = 0;
  VectorClock vc;           // racecheck clock, one component per warp of the CTA
  bool yield = false;       // a failed mbarrier wait: let the other warps run
  uint32_t wait_pc = 0;     // the failed wait (for the hang report)
  uint32_t wait_offset = 0; // the mbarrier it waits on
  uint32_t max_regs = 0;    // setmaxnreg's budget for the warp (0: the launch's)
  uint32_t carry = 0;       // CC.CF of each lane (add.cc / addc and the like, exec_int.cpp)
  // wgmma (exec_wgmma.cpp): issued but uncommitted ops, committed groups in flight, the
  // registers they hold, and what the warp executed (the warpgroup check at the CTA's end).
  std::vector<WgmmaOp> wgmma_open;
  std::deque<std::vector<WgmmaOp>> wgmma_groups;
  std::vector<WgmmaLock> wgmma_locks;
  uint32_t wgmma_in_flight = 0;
  size_t wgmma_frame = 0; // the frame of the latest issue (whose slots the locks name)
  bool wgmma_fenced = false;
  uint32_t wgmma_fences = 0;                        // wgmma.fence instructions executed
  std::map<uint64_t, WgmmaExecuted> wgmma_executed; // by (function << 32 | pc)
};

// An mbarrier object in shared memory (PTX ISA "Parallel synchronization ... mbarrier").
// The simulator keeps its state beside the 8 bytes of shared memory it occupies.
struct MBarrier {
  uint32_t expected = 0; // arrivals per phase (init's count)
  uint32_t pending = 0;  // arrivals still missing in the current phase
  int64_t tx = 0;        // transaction bytes still expected in the current phase
  uint64_t phase = 0;    // number of completed phases
  VectorClock arrived;   // racecheck: join of the arrivers' clocks so far
  VectorClock released;  // racecheck: what a wait on a completed phase acquires
};

struct BarrierState {
  uint32_t arrived_threads = 0;
  uint32_t expected = 0; // 0: all non-exited threads
  VectorClock joined;    // join of the clocks of the warps that arrived (racecheck)
};

struct Launch;

struct Cta {
  Dim3 id;
  uint32_t linear = 0;
  std::vector<Warp> warps;
  std::vector<uint8_t> smem;
  SharedShadow shadow;
  std::vector<uint8_t> local;      // threads * local_bytes
  std::vector<uint8_t> local_init; // same size, 1 when written
  BarrierState barriers[16];
  std::map<uint32_t, MBarrier> mbarriers; // by shared offset; erased by mbarrier.inval
  uint64_t progress = 0;                  // bumped by every arrival: a round without it can hang
};

struct ErrorKey {
  int kind;
  const void* fn;
  uint32_t pc;
  auto operator<=>(const ErrorKey&) const = default;
};

// One launch: the module, the entry, the memory and the profile counters.
struct Launch {
  const Module* module = nullptr;
  const Function* entry = nullptr;
  GlobalMemory* gmem = nullptr;
  LaunchOptions options;
  Dim3 grid, block;
  uint32_t threads_per_cta = 0;
  uint32_t warps_per_cta = 0;
  uint32_t smem_bytes = 0;
  uint32_t dynamic_smem = 0;
  std::vector<uint8_t> params;
  std::vector<uint64_t> symbol_values;
  // Profile counters per function, per instruction.
  std::vector<std::vector<uint64_t>> warp_exec, thread_exec, shared_requests, wavefronts,
      ideal_wavefronts;
  uint64_t warp_instructions = 0;
  uint64_t thread_instructions = 0;
  LaunchReport* report = nullptr;
  uint32_t generation = 0; // this launch's number on its device (global racecheck shadow)
  // Global atomics as synchronisation (racecheck): every global atomic gets a sequence number;
  // the last one of each warp is kept by (CTA << 8 | warp) with the warp's clock then.
  struct AtomicMark {
    uint32_t seq = 0;
    VectorClock vc;
  };
  uint32_t atomic_seq = 0;
  std::map<uint64_t, AtomicMark> last_atomic;
  std::set<ErrorKey> seen;
  bool aborted = false;
};

// What an instruction handler sees.
struct Exec {
  Launch& launch;
  Cta& cta;
  Warp& warp;
  Frame& frame;
  uint64_t* R; // frame.regs.data()
  uint32_t* P; // frame.preds.data()
  uint32_t pc;

  uint64_t* reg(uint32_t slot) { return R + size_t(slot) * 32; }
  uint64_t* dst(const Inst& in, int i) { return reg(in.ops[i].index); }
  const uint64_t* src(const Inst& in, int i) { return R + size_t(in.ops[i].index) * 32; }
  uint32_t tid_linear(uint32_t lane) const { return warp.index * 32 + lane; }

  // Records an error (deduplicated per instruction and kind).
  void report(ErrorKind kind, const Inst& in, int lane, bool has_address, uint64_t address,
              const std::string& message);
};

template <typename F> inline void for_lanes(uint32_t mask, F&& f) {
  if (mask == 0xffffffffu) {
    for (uint32_t l = 0; l < 32; ++l)
      f(l);
    return;
  }
  while (mask) {
    uint32_t l = static_cast<uint32_t>(__builtin_ctz(mask));
    mask &= mask - 1;
    f(l);
  }
}

// Racecheck clocks: `into` becomes the component-wise maximum of both.
void join_clock(VectorClock& into, const VectorClock& from);

// Runs one CTA to completion (or to an error that stops the launch).
void run_cta(Launch& launch, Cta& cta);
// Sets up the entry frame of a warp whose index and valid mask are set.
void init_warp_frame(Launch& launch, Cta& cta, Warp& warp);

// Instruction families (exec_*.cpp). `mask` is the active mask after the guard predicate.
void exec_int_arith(Exec& x, const Inst& in, uint32_t mask);
void exec_float_arith(Exec& x, const Inst& in, uint32_t mask);
void exec_logic(Exec& x, const Inst& in, uint32_t mask);
void exec_compare(Exec& x, const Inst& in, uint32_t mask);
void exec_move(Exec& x, const Inst& in, uint32_t mask);
void exec_convert(Exec& x, const Inst& in, uint32_t mask);
void exec_memory(Exec& x, const Inst& in, uint32_t mask);
void exec_atomic(Exec& x, const Inst& in, uint32_t mask);
void exec_warp(Exec& x, const Inst& in, uint32_t mask, uint32_t active);
void exec_mma(Exec& x, const Inst& in, uint32_t mask);
void exec_mma_sp(Exec& x, const Inst& in, uint32_t mask); // a full warp, checked by exec_mma
void exec_async(Exec& x, const Inst& in, uint32_t mask);
void exec_mbarrier(Exec& x, const Inst& in, uint32_t mask);
void exec_tensor_copy(Exec& x, const Inst& in, uint32_t mask); // exec_tma.cpp

void exec_wgmma(Exec& x, const Inst& in, uint32_t mask);
// In functions with wgmma, for every other instruction: records the registers it accesses (the
// fence rule) and reports one that an in-flight wgmma reads or writes.
void wgmma_register_access(Exec& x, const Inst& in);
// At a warp's exit: reports the wgmma ops it never waited for.
void wgmma_warp_exit(Exec& x);
// At a CTA's end: reports a wgmma instruction not executed by all 4 warps of a warpgroup.
void check_warpgroups(Launch& launch, Cta& cta);

// Counts `bytes` of an asynchronous transfer as arrived on the mbarrier at shared `offset`
// (complete_tx); false when there is no initialised mbarrier there.
bool mbarrier_complete_tx(Exec& x, const Inst& in, uint32_t offset, int64_t bytes, uint32_t lane);

// Completes the cp.async groups of `warp` until at most `keep` remain pending.
void complete_async_groups(Exec& x, const Inst& in, size_t keep);

} // namespace tessel::sim
