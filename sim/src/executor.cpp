// The warp scheduler and control flow: runs the warps of one CTA round-robin, each until it
// waits at a barrier or finishes; releases barriers when every thread they wait for has
// arrived; handles branches (with the reconvergence stack), calls, returns and exit.
// Every other instruction goes to its family's handler in exec_*.cpp.
#include "executor.h"
#include "exec_printf.h"

#include <fmt/format.h>

#include <algorithm>
#include <bit>
#include <cstring>

namespace tessel::sim {

void Exec::report(ErrorKind kind, const Inst& in, int lane, bool has_address, uint64_t address,
                  const std::string& message) {
  Launch& L = launch;
  LaunchReport& r = *L.report;
  ErrorKey key{static_cast<int>(kind), frame.fn, pc};
  if (!L.seen.insert(key).second || r.errors.size() >= L.options.max_errors) {
    ++r.dropped_errors;
    return;
  }
  Error e;
  e.kind = kind;
  e.message = message;
  e.kernel = L.entry->name;
  if (frame.fn != L.entry)
    e.kernel += " (in " + frame.fn->name + ")";
  e.instruction = in.mnemonic < L.module->mnemonics.size() ? L.module->mnemonics[in.mnemonic] : "";
  e.ptx_line = in.line;
  e.ptx_column = in.column;
  if (in.loc_line) {
    auto it = L.module->files.find(in.loc_file);
    e.source_file = it == L.module->files.end() ? "" : it->second;
    e.source_line = in.loc_line;
  }
  if (lane >= 0) {
    uint32_t t = tid_linear(static_cast<uint32_t>(lane));
    e.has_thread = true;
    e.thread = {t % L.block.x, (t / L.block.x) % L.block.y, t / (L.block.x * L.block.y)};
    e.block = cta.id;
  }
  e.has_address = has_address;
  e.address = address;
  r.errors.push_back(std::move(e));
}

namespace {

void init_frame(Launch& L, Cta& cta, Warp& w, Frame& f, const Function& fn, uint32_t fn_index) {
  f.fn = &fn;
  f.fn_index = fn_index;
  f.regs.assign(size_t(fn.num_slots) * 32, 0);
  f.preds.assign(fn.num_preds + 1, 0);
  for (auto& [slot, value] : fn.constants)
    for (int l = 0; l < 32; ++l)
      f.regs[size_t(slot) * 32 + l] = value;
  for (auto& ls : fn.launch_slots) {
    uint64_t* r = f.regs.data() + size_t(ls.slot) * 32;
    for (uint32_t l = 0; l < 32; ++l) {
      uint32_t t = w.index * 32 + l;
      uint64_t v = 0;
      switch (ls.special) {
      case Special::tid_x:
        v = t % L.block.x;
        break;
      case Special::tid_y:
        v = (t / L.block.x) % L.block.y;
        break;
      case Special::tid_z:
        v = t / (L.block.x * L.block.y);
        break;
      case Special::ntid_x:
        v = L.block.x;
        break;
      case Special::ntid_y:
        v = L.block.y;
        break;
      case Special::ntid_z:
        v = L.block.z;
        break;
      case Special::ctaid_x:
        v = cta.id.x;
        break;
      case Special::ctaid_y:
        v = cta.id.y;
        break;
      case Special::ctaid_z:
        v = cta.id.z;
        break;
      case Special::nctaid_x:
        v = L.grid.x;
        break;
      case Special::nctaid_y:
        v = L.grid.y;
        break;
      case Special::nctaid_z:
        v = L.grid.z;
        break;
      case Special::laneid:
        v = l;
        break;
      case Special::warpid:
        v = w.index;
        break;
      case Special::nwarpid:
        v = L.warps_per_cta;
        break;
      case Special::smid:
        v = 0;
        break;
      case Special::nsmid:
        v = 1;
        break;
      case Special::gridid:
        v = 1;
        break;
      case Special::lanemask_eq:
        v = 1u << l;
        break;
      case Special::lanemask_lt:
        v = (1u << l) - 1;
        break;
      case Special::lanemask_le:
        v = l == 31 ? 0xffffffffu : (2u << l) - 1;
        break;
      case Special::lanemask_gt:
        v = l == 31 ? 0 : ~((2u << l) - 1);
        break;
      case Special::lanemask_ge:
        v = ~((1u << l) - 1);
        break;
      case Special::dynamic_smem_size:
        v = L.dynamic_smem;
        break;
      case Special::total_smem_size:
        v = L.smem_bytes;
        break;
      case Special::symbol:
        v = L.symbol_values[ls.symbol];
        break;
      }
      r[l] = v;
    }
  }
}

// Removes `lanes` from every reconvergence entry of every frame of the warp.
void retire_lanes(Warp& w, uint32_t lanes) {
  for (auto& f : w.frames)
    for (auto& e : f.stack)
      e.mask &= ~lanes;
}

uint32_t first_lane(uint32_t mask) {
  return mask ? static_cast<uint32_t>(std::countr_zero(mask)) : 0;
}

// Copies `size` bytes between a caller's and a callee's parameter symbols (both in the
// thread's local window) for the lanes of `mask`.
void copy_local(Launch& L, Cta& cta, Warp& w, uint32_t mask, uint32_t dst_off, uint32_t src_off,
                uint32_t size) {
  uint32_t lb = L.module->local_bytes;
  for_lanes(mask, [&](uint32_t l) {
    uint8_t* base = cta.local.data() + size_t(w.index * 32 + l) * lb;
    std::memmove(base + dst_off, base + src_off, size);
    std::memset(cta.local_init.data() + size_t(w.index * 32 + l) * lb + dst_off, 1, size);
  });
}

// setmaxnreg.inc/dec.sync.aligned.u32 N: N in 24..256, a multiple of 8 (PTX ISA). Registers
// are not a resource the simulator runs out of; the budget is kept per warp for reports.
void set_max_registers(Exec& x, const Inst& in, uint32_t mask) {
  uint64_t n = x.src(in, 0)[first_lane(mask)];
  if (n < 24 || n > 256 || n % 8 != 0) {
    x.report(ErrorKind::sync, in, static_cast<int>(first_lane(mask)), false, 0,
             fmt::format("setmaxnreg {} is outside 24..256 or not a multiple of 8", n));
    return;
  }
  x.warp.max_regs = static_cast<uint32_t>(n);
}

// Executes the warp until it waits at a barrier, yields at a failed mbarrier wait, or
// finishes.
void run_warp(Launch& L, Cta& cta, Warp& w) {
  while (w.state == WarpState::ready) {
    if (L.aborted)
      return;
    Frame& f = w.frames.back();
    if (f.stack.empty()) {
      if (w.frames.size() == 1) {
        Exec x{L, cta, w, f, f.regs.data(), f.preds.data(), 0};
        Inst none;
        complete_async_groups(x, none, 0);
        wgmma_warp_exit(x);
        w.state = WarpState::done;
        ++cta.progress;
        return;
      }
      // Return from a call: copy return parameters back, continue after the call.
      uint32_t lanes = f.returned & ~w.exited;
      uint32_t call_pc = f.call_pc;
      const Function* callee = f.fn;
      w.frames.pop_back();
      Frame& caller = w.frames.back();
      const Inst& call = caller.fn->code[call_pc];
      if (call.ops[0].kind == OperandKind::vec) {
        const Operand& rets = call.ops[0];
        for (uint32_t i = 0; i < rets.count && i < callee->returns.size(); ++i) {
          const Symbol& dst = L.module->symbols[caller.fn->vec_pool[rets.index + i]];
          const Param& p = callee->returns[i];
          // The callee's return symbol: find it by name among the callee's param symbols.
          for (auto& s : L.module->symbols)
            if (s.function == static_cast<int>(&*callee - L.module->functions.data()) &&
                s.space == Space::param && s.name == p.name)
              copy_local(L, cta, w, lanes, dst.local_offset, s.local_offset, p.size);
        }
      }
      caller.stack.back().pc = call_pc + 1;
      caller.stack.back().mask &= ~w.exited;
      continue;
    }
    const Function& fn = *f.fn;
    const Inst* code = fn.code.data();
    uint64_t* R = f.regs.data();
    uint32_t* P = f.preds.data();
    uint64_t* warp_exec = L.warp_exec[f.fn_index].data();
    uint64_t* thread_exec = L.thread_exec[f.fn_index].data();
    Exec x{L, cta, w, f, R, P, 0};
    for (;;) {
      if (f.stack.empty())
        break;
      StackEntry& top = f.stack.back();
      if (top.mask == 0 || top.pc == top.reconverge) {
        f.stack.pop_back();
        continue;
      }
      uint32_t pc = top.pc;
      const Inst& in = code[pc];
      uint32_t active = top.mask;
      uint32_t mask = active;
      if (in.guard != kNoSlot)
        mask &= in.guard_neg ? ~P[in.guard] : P[in.guard];
      ++warp_exec[pc];
      thread_exec[pc] += static_cast<uint32_t>(std::popcount(active));
      ++w.clock;
      if (++L.warp_instructions > L.options.max_warp_instructions) {
        x.pc = pc;
        x.report(
            ErrorKind::limit, in, static_cast<int>(first_lane(active)), false, 0,
            fmt::format("the launch ran past its budget of {} warp instructions (an endless "
                        "loop?); raise sim::LaunchOptions::max_warp_instructions (tessel-sim run: "
                        "--max-instructions N) if intended",
                        L.options.max_warp_instructions));
        L.aborted = true;
        return;
      }
      x.pc = pc;
      if (fn.uses_wgmma && in.family != Family::wgmma)
        wgmma_register_access(x, in);
      switch (in.family) {
      case Family::int_arith:
        exec_int_arith(x, in, mask);
        break;
      case Family::float_arith:
        exec_float_arith(x, in, mask);
        break;
      case Family::logic:
        exec_logic(x, in, mask);
        break;
      case Family::compare:
        exec_compare(x, in, mask);
        break;
      case Family::move:
        exec_move(x, in, mask);
        break;
      case Family::convert:
        exec_convert(x, in, mask);
        break;
      case Family::memory:
        exec_memory(x, in, mask);
        break;
      case Family::atomic:
        exec_atomic(x, in, mask);
        break;
      case Family::warp:
        exec_warp(x, in, mask, active);
        break;
      case Family::mma:
        exec_mma(x, in, mask);
        break;
      case Family::async:
        exec_async(x, in, mask);
        break;
      case Family::mbarrier:
        exec_mbarrier(x, in, mask);
        break;
      case Family::wgmma:
        exec_wgmma(x, in, mask);
        break;
      case Family::misc:
        if (in.op == Op::setmaxnreg)
          set_max_registers(x, in, mask);
        break;
      case Family::control: {
        switch (in.op) {
        case Op::bra: {
          uint32_t taken = mask, not_taken = active & ~mask;
          uint32_t target = in.ops[0].index;
          if (!not_taken) {
            top.pc = target;
          } else if (!taken) {
            top.pc = pc + 1;
          } else {
            uint32_t r = in.reconverge;
            uint32_t outer = top.reconverge;
            if (r == kNoReconverge || r == outer) {
              uint32_t rr = r == kNoReconverge ? outer : r;
              top = {pc + 1, rr, not_taken};
              f.stack.push_back({target, rr, taken});
            } else {
              top.pc = r;
              f.stack.push_back({pc + 1, r, not_taken});
              f.stack.push_back({target, r, taken});
            }
          }
          continue;
        }
        case Op::exit:
        case Op::ret: {
          if (in.op == Op::ret && w.frames.size() > 1) {
            f.returned |= mask;
            for (auto& e : f.stack)
              e.mask &= ~mask;
            if (mask != active)
              top.pc = pc + 1;
            continue;
          }
          w.exited |= mask;
          retire_lanes(w, mask);
          if (mask != active)
            top.pc = pc + 1;
          continue;
        }
        case Op::trap:
          if (mask) {
            x.report(ErrorKind::sync, in, static_cast<int>(first_lane(mask)), false, 0,
                     "trap executed");
            L.aborted = true;
            return;
          }
          top.pc = pc + 1;
          continue;
        case Op::bar_sync:
        case Op::barrier_sync:
        case Op::bar_arrive:
        case Op::barrier_arrive: {
          top.pc = pc + 1;
          if (!mask)
            continue;
          uint32_t lane = first_lane(mask);
          uint32_t id = in.nops >= 1 ? static_cast<uint32_t>(x.src(in, 0)[lane]) : 0;
          if (id >= 16) {
            x.report(ErrorKind::sync, in, static_cast<int>(lane), false, 0,
                     fmt::format("barrier id {} is out of range (0-15)", id));
            L.aborted = true;
            return;
          }
          BarrierState& b = cta.barriers[id];
          if (in.nops >= 2)
            b.expected = static_cast<uint32_t>(x.src(in, 1)[lane]);
          b.arrived_threads += static_cast<uint32_t>(std::popcount(w.valid & ~w.exited));
          join_clock(b.joined, w.vc);
          ++cta.progress;
          if (in.op == Op::bar_arrive || in.op == Op::barrier_arrive) {
            ++w.vc[w.index]; // what the arriving warp does next is not released by it
            continue;
          }
          w.state = WarpState::at_barrier;
          w.barrier = id;
          return;
        }
        case Op::call: {
          top.pc = pc + 1;
          if (!mask)
            continue;
          int ti = in.ops[0].kind == OperandKind::label ? 0 : 1;
          const Function& callee = L.module->functions[in.ops[ti].index];
          if (!callee.defined && call_builtin(x, in, mask, callee)) {
            if (L.aborted)
              return;
            continue;
          }
          if (!callee.defined) {
            x.report(ErrorKind::unsupported, in, static_cast<int>(first_lane(mask)), false, 0,
                     "call to '" + callee.name + "', which has no body in this module");
            L.aborted = true;
            return;
          }
          if (w.frames.size() > 64) {
            x.report(ErrorKind::limit, in, static_cast<int>(first_lane(mask)), false, 0,
                     "call depth over 64 (recursion is not supported)");
            L.aborted = true;
            return;
          }
          // Pass arguments: caller's param symbols -> callee's formal parameters.
          const Operand* args = ti + 1 < in.nops ? &in.ops[ti + 1] : nullptr;
          int callee_index = static_cast<int>(&callee - L.module->functions.data());
          if (args && args->kind == OperandKind::vec) {
            for (uint32_t i = 0; i < args->count && i < callee.params.size(); ++i) {
              const Symbol& src = L.module->symbols[fn.vec_pool[args->index + i]];
              for (auto& s : L.module->symbols)
                if (s.function == callee_index && s.space == Space::param &&
                    s.name == callee.params[i].name)
                  copy_local(L, cta, w, mask, s.local_offset, src.local_offset,
                             callee.params[i].size);
            }
          }
          // Every lane of the entry continues at pc+1 once the callee returns; the
          // lanes that did not call (guarded off) simply wait for it.
          w.frames.emplace_back();
          Frame& nf = w.frames.back();
          init_frame(L, cta, w, nf, callee, static_cast<uint32_t>(callee_index));
          nf.call_pc = pc;
          nf.stack.push_back({0, kNoReconverge, mask});
          goto next_frame;
        }
        default:
          break;
        }
        break;
      }
      }
      top.pc = pc + 1;
      if (w.yield) {
        w.yield = false;
        return; // a failed mbarrier wait: the other warps run first
      }
    }
  next_frame:;
  }
}

} // namespace

void init_warp_frame(Launch& L, Cta& cta, Warp& w) {
  w.frames.clear();
  w.frames.emplace_back();
  uint32_t index = static_cast<uint32_t>(L.entry - L.module->functions.data());
  init_frame(L, cta, w, w.frames.back(), *L.entry, index);
  w.frames.back().stack.push_back({0, kNoReconverge, w.valid});
}

void join_clock(VectorClock& into, const VectorClock& from) {
  if (into.size() < from.size())
    into.resize(from.size(), 0);
  for (size_t i = 0; i < from.size(); ++i)
    into[i] = std::max(into[i], from[i]);
}

namespace {

// Wakes the warps waiting at barrier `id`. Racecheck: each waiter's clock joins the clocks of
// every warp that arrived (bar.sync and bar.arrive alike), then advances its own component
// so its later accesses are not mistaken for ones before the barrier. A barrier over all
// threads (no count) also orders after the warps that exited, as exited threads count as
// arrived on hardware.
void release_barrier(Cta& cta, uint32_t id) {
  BarrierState& b = cta.barriers[id];
  if (!b.expected)
    for (auto& w : cta.warps)
      if (w.state == WarpState::done)
        join_clock(b.joined, w.vc);
  for (auto& w : cta.warps)
    if (w.state == WarpState::at_barrier && w.barrier == id) {
      w.state = WarpState::ready;
      join_clock(w.vc, b.joined);
      ++w.vc[w.index];
    }
  b = BarrierState{};
}

} // namespace

// A round in which every warp that ran yielded at a failed mbarrier wait and nothing
// arrived anywhere repeats forever: reports the first waiter's mbarrier as a hang.
void report_mbarrier_hang(Launch& L, Cta& cta) {
  for (auto& w : cta.warps) {
    if (w.state != WarpState::ready)
      continue;
    Frame& f = w.frames.back();
    Exec x{L, cta, w, f, f.regs.data(), f.preds.data(), w.wait_pc};
    auto it = cta.mbarriers.find(w.wait_offset);
    std::string state =
        it == cta.mbarriers.end()
            ? "no longer initialised"
            : fmt::format("phase {}, {} of {} arrivals and {} transaction bytes "
                          "pending",
                          it->second.phase, it->second.pending, it->second.expected, it->second.tx);
    x.report(ErrorKind::sync, f.fn->code[w.wait_pc],
             static_cast<int>(first_lane(w.valid & ~w.exited)), true, w.wait_offset,
             fmt::format("mbarrier hang: warp {} waits on the mbarrier at shared offset {:#x} "
                         "({}) for a phase that can never complete: no other warp can arrive "
                         "(every warp is waiting); the budget of {} warp instructions would "
                         "never end it",
                         w.index, w.wait_offset, state, L.options.max_warp_instructions));
    break;
  }
  L.aborted = true;
}

void run_cta(Launch& L, Cta& cta) {
  for (;;) {
    uint64_t progress = cta.progress;
    bool yielded = false;
    for (auto& w : cta.warps)
      if (w.state == WarpState::ready) {
        run_warp(L, cta, w);
        if (L.aborted)
          return;
        yielded |= w.state == WarpState::ready;
      }
    bool all_done = true;
    for (auto& w : cta.warps)
      all_done &= w.state == WarpState::done;
    if (all_done)
      return check_warpgroups(L, cta);
    // Every live warp now waits at some barrier: release those whose count is complete.
    bool released = false;
    for (uint32_t id = 0; id < 16; ++id) {
      BarrierState& b = cta.barriers[id];
      uint32_t waiting = 0, live = 0;
      for (auto& w : cta.warps) {
        if (w.state == WarpState::done)
          continue;
        ++live;
        if (w.state == WarpState::at_barrier && w.barrier == id)
          ++waiting;
      }
      if (!waiting)
        continue;
      bool complete = b.expected ? b.arrived_threads >= b.expected : waiting == live;
      if (!complete)
        continue;
      release_barrier(cta, id);
      released = true;
    }
    if (yielded) {
      if (!released && cta.progress == progress)
        return report_mbarrier_hang(L, cta);
      continue;
    }
    if (!released) {
      for (auto& w : cta.warps) {
        if (w.state != WarpState::at_barrier)
          continue;
        Frame& f = w.frames.back();
        uint32_t pc = f.stack.empty() ? 0 : f.stack.back().pc - 1;
        Exec x{L, cta, w, f, f.regs.data(), f.preds.data(), pc};
        x.report(ErrorKind::sync, f.fn->code[pc], static_cast<int>(first_lane(w.valid & ~w.exited)),
                 false, 0,
                 fmt::format("barrier {} deadlock: warp {} waits for threads that never arrive "
                             "(a barrier in divergent code, or a count that does not match)",
                             w.barrier, w.index));
        break;
      }
      L.aborted = true;
      return;
    }
  }
}

} // namespace tessel::sim
