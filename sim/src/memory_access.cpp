// Address resolution and the memcheck/racecheck/initcheck rules: see memory_access.h.
#include "memory_access.h"

#include "bank_conflicts.h"

#include <fmt/format.h>

namespace tessel::sim {

namespace {

const char* kind_name(AccessKind k) {
  switch (k) {
  case AccessKind::read:
    return "read";
  case AccessKind::write:
    return "write";
  case AccessKind::atomic:
    return "atomic";
  }
  return "access";
}

// Whether the access stamped (linear thread `tid`, its warp's clock `clock`) of this CTA
// happens before the current warp's access: same warp (lanes run in lockstep, the
// warp-synchronous model) or ordered by the barriers both passed.
bool ordered_before(const Exec& x, uint32_t tid, uint32_t clock) {
  uint32_t u = tid / 32;
  return u == x.warp.index || x.warp.vc[u] >= clock;
}

void shared_race_checks(Exec& x, const Inst& in, ShadowByte& sh, uint32_t at, uint32_t lane,
                        AccessKind kind) {
  bool racing_writer = sh.write_clock && !ordered_before(x, sh.writer, sh.write_clock);
  if (kind == AccessKind::read && racing_writer)
    x.report(ErrorKind::racecheck, in, static_cast<int>(lane), true, at,
             fmt::format("read-after-write hazard on shared offset {}: written by thread {} "
                         "with no barrier between the write and this read",
                         at, sh.writer));
  if (kind != AccessKind::write)
    return;
  if (racing_writer) {
    x.report(ErrorKind::racecheck, in, static_cast<int>(lane), true, at,
             fmt::format("write-after-write hazard on shared offset {}: also written by "
                         "thread {} with no barrier between",
                         at, sh.writer));
    return;
  }
  for (int s = 0; s < 2; ++s)
    if (sh.read_clock[s] && !ordered_before(x, sh.reader[s], sh.read_clock[s])) {
      x.report(ErrorKind::racecheck, in, static_cast<int>(lane), true, at,
               fmt::format("write-after-read hazard on shared offset {}: read by thread {} "
                           "with no barrier between the read and this write",
                           at, sh.reader[s]));
      return;
    }
}

// Remembers a read: it replaces a remembered read it is ordered after (or of its own warp);
// otherwise it takes a free slot, or the second one.
void remember_read(const Exec& x, ShadowByte& sh, uint32_t tid) {
  uint32_t clock = x.warp.vc[x.warp.index];
  int slot = 1;
  for (int s = 0; s < 2; ++s)
    if (!sh.read_clock[s] || ordered_before(x, sh.reader[s], sh.read_clock[s])) {
      slot = s;
      break;
    }
  sh.reader[slot] = static_cast<uint16_t>(tid);
  sh.read_clock[slot] = clock;
}

// Whether checking one byte of this state would report nothing (the rules of
// shared_byte_checks and shared_race_checks, without their messages).
bool shared_byte_clean(const Exec& x, const ShadowByte& sh, AccessKind kind) {
  const LaunchOptions& opt = x.launch.options;
  if (kind != AccessKind::write && (sh.pending || (opt.check_uninitialized && !sh.initialized)))
    return false;
  if (kind == AccessKind::atomic)
    return true;
  if (opt.racecheck) {
    if (sh.write_clock && !ordered_before(x, sh.writer, sh.write_clock))
      return false;
    if (kind == AccessKind::write)
      for (int s = 0; s < 2; ++s)
        if (sh.read_clock[s] && !ordered_before(x, sh.reader[s], sh.read_clock[s]))
          return false;
  }
  return kind != AccessKind::write || !sh.pending;
}

void shared_byte_checks(Exec& x, const Inst& in, ShadowByte& sh, uint32_t at, uint32_t lane,
                        uint32_t tid, AccessKind kind);

// Fast path of shared_checks: an access of whole words whose bytes all have the same shadow
// state (one earlier access wrote or read them together, the usual case) and that reports
// nothing updates every byte the same way, so one state is checked and copied to the other
// words (shared_shadow.h keeps one state per such word).
// Anything else (mixed states, or an error to report per byte) takes the byte loop, so the
// reports and the `dropped_errors` counts stay those of the byte-wise rules.
bool shared_checks_uniform(Exec& x, const Inst& in, uint32_t off, uint32_t size, uint32_t lane,
                           AccessKind kind) {
  ShadowByte* first = x.cta.shadow.uniform_words(off, size);
  if (!first || !shared_byte_clean(x, *first, kind))
    return false;
  shared_byte_checks(x, in, *first, off, lane, x.tid_linear(lane), kind);
  x.cta.shadow.fill_words(off, size);
  return true;
}

void shared_checks(Exec& x, const Inst& in, uint32_t off, uint32_t size, uint32_t lane,
                   AccessKind kind) {
  if (shared_checks_uniform(x, in, off, size, lane, kind))
    return;
  const uint32_t tid = x.tid_linear(lane);
  for (uint32_t i = 0; i < size; ++i)
    shared_byte_checks(x, in, x.cta.shadow.byte(off + i), off + i, lane, tid, kind);
}

// The per-byte rules: initcheck, cp.async pending bits, racecheck, then the new state.
void shared_byte_checks(Exec& x, const Inst& in, ShadowByte& sh, uint32_t at, uint32_t lane,
                        uint32_t tid, AccessKind kind) {
  const LaunchOptions& opt = x.launch.options;
  if (kind != AccessKind::write) {
    if (sh.pending) {
      x.report(ErrorKind::sync, in, static_cast<int>(lane), true, at,
               fmt::format("shared memory at offset {} is read before the cp.async that writes "
                           "it was waited for (missing cp.async.wait_group/wait_all)",
                           at));
    } else if (opt.check_uninitialized && !sh.initialized) {
      x.report(ErrorKind::memcheck, in, static_cast<int>(lane), true, at,
               fmt::format("{} of uninitialised shared memory at offset {}", kind_name(kind), at));
    }
  }
  if (kind == AccessKind::atomic) {
    sh.initialized = 1;
    return;
  }
  if (opt.racecheck)
    shared_race_checks(x, in, sh, at, lane, kind);
  if (kind != AccessKind::write)
    return remember_read(x, sh, tid);
  sh.initialized = 1;
  sh.writer = static_cast<uint16_t>(tid);
  sh.write_clock = x.warp.vc[x.warp.index];
  sh.read_clock[0] = sh.read_clock[1] = 0;
  if (sh.pending)
    x.report(ErrorKind::sync, in, static_cast<int>(lane), true, at,
             fmt::format("shared offset {} is written while a cp.async to it is in flight", at));
}

// The earliest last-atomic of a warp of `cta` that the access (warp u, clock, seq) happens
// before: u's own later atomic, or another warp's atomic after a barrier with u. 0: none.
uint32_t release_of(const Exec& x, uint32_t cta, uint32_t u, uint32_t clock, uint32_t seq) {
  uint32_t best = 0;
  auto& marks = x.launch.last_atomic;
  for (auto it = marks.lower_bound(uint64_t(cta) << 8); it != marks.end() && it->first >> 8 == cta;
       ++it) {
    uint32_t v = static_cast<uint32_t>(it->first & 0xff);
    const auto& m = it->second;
    bool after = v == u ? m.seq > seq : u < m.vc.size() && m.vc[u] >= clock;
    if (after && (!best || m.seq < best))
      best = m.seq;
  }
  return best;
}

// The latest last-atomic of a warp of this CTA that the current warp is ordered after (its
// own, or another warp's before a barrier they both passed). 0: none.
uint32_t acquire_of(const Exec& x) {
  uint32_t best = 0;
  const uint32_t cta = x.cta.linear;
  auto& marks = x.launch.last_atomic;
  for (auto it = marks.lower_bound(uint64_t(cta) << 8); it != marks.end() && it->first >> 8 == cta;
       ++it) {
    uint32_t v = static_cast<uint32_t>(it->first & 0xff);
    const auto& m = it->second;
    bool before = v == x.warp.index || x.warp.vc[v] >= m.vc[v];
    if (before && m.seq > best)
      best = m.seq;
  }
  return best;
}

// Whether the global access recorded as (CTA, thread, clock, atomic sequence number) is
// ordered before the current one: by the CTA's barriers, or through global atomics treated as
// acquire-release (a warp of the recorded CTA ran an atomic after the access, by program order
// or a barrier, and a warp the current one is ordered after ran a later one: a lock, a
// ticket, a flag). Otherwise only the launch's end orders.
bool global_ordered_before(const Exec& x, uint32_t cta, uint32_t tid, uint32_t clock,
                           uint32_t seq) {
  if (cta == x.cta.linear && ordered_before(x, tid, clock))
    return true;
  if (x.launch.last_atomic.empty())
    return false;
  uint32_t released = release_of(x, cta, tid / 32, clock, seq);
  return released && acquire_of(x) > released;
}

std::string thread_name(const Exec& x, uint32_t cta, uint32_t tid) {
  return cta == x.cta.linear ? fmt::format("thread {} of this block", tid)
                             : fmt::format("thread {} of block {} (linear)", tid, cta);
}

// Fast path of global_checks, as shared_checks_uniform: when the access is whole words whose
// bytes all have one state (the stored values aside) and it reports nothing, the decisions
// are taken once and applied to the words. Otherwise false, and the byte loop decides.
bool global_checks_uniform(Exec& x, Allocation& a, size_t off, uint32_t size, uint32_t lane,
                           AccessKind kind, const uint8_t* value) {
  GlobalShadowState* w = a.shadow.uniform_words(off, size);
  if (!w)
    return false;
  const uint32_t gen = x.launch.generation;
  const bool stale = w->launch != gen;
  const GlobalShadowState s0 = stale ? GlobalShadowState{gen} : *w;
  const bool racing_writer = s0.write_clock && !global_ordered_before(x, s0.writer_cta, s0.writer,
                                                                      s0.write_clock, s0.write_seq);
  const bool reader_ordered = !s0.read_clock || global_ordered_before(x, s0.reader_cta, s0.reader,
                                                                      s0.read_clock, s0.read_seq);
  if (kind == AccessKind::read ? racing_writer && s0.writer_cta != x.cta.linear
                               : racing_writer || !reader_ordered)
    return false;
  *w = s0;
  uint8_t* values = a.values.get() + off;
  const uint32_t tid = x.tid_linear(lane);
  const uint32_t clock = x.warp.vc[x.warp.index];
  if (kind == AccessKind::read) {
    if (stale)
      std::memset(values, 0, size);
    if (reader_ordered) {
      w->reader_cta = x.cta.linear;
      w->reader = static_cast<uint16_t>(tid);
      w->read_clock = clock;
      w->read_seq = x.launch.atomic_seq;
    }
  } else {
    w->writer_cta = x.cta.linear;
    w->writer = static_cast<uint16_t>(tid);
    w->write_clock = clock;
    w->write_seq = x.launch.atomic_seq;
    w->read_clock = 0;
    if (value)
      std::memcpy(values, value, size);
    else
      std::memset(values, 0, size);
  }
  a.shadow.fill_words(off, size);
  return true;
}

// Global racecheck for one lane's access of [addr, addr+size) inside `a`; `value` is what a
// write stores (null: unknown), for the identical-value exception.
void global_checks(Exec& x, const Inst& in, Allocation& a, uint64_t addr, uint32_t size,
                   uint32_t lane, AccessKind kind, const uint8_t* value) {
  if (a.unshadowed)
    return;
  if (!a.shadowed) {
    size_t bytes = a.size * kGlobalShadowCharge;
    if (x.launch.gmem->shadow_bytes + bytes > kGlobalShadowBudget) {
      a.unshadowed = true;
      return;
    }
    a.shadow.reset(a.size);
    void* values = std::calloc(a.size ? a.size : 1, 1);
    if (!values)
      throw std::bad_alloc();
    a.values.reset(static_cast<uint8_t*>(values));
    a.shadowed = true;
    x.launch.gmem->shadow_bytes += bytes;
  }
  const size_t off = addr - a.base;
  if (global_checks_uniform(x, a, off, size, lane, kind, value))
    return;
  const uint32_t gen = x.launch.generation;
  const uint32_t tid = x.tid_linear(lane);
  const uint32_t clock = x.warp.vc[x.warp.index];
  for (uint32_t i = 0; i < size; ++i) {
    GlobalShadowState& sh = a.shadow.byte(off + i);
    uint8_t& stored = a.values[off + i];
    if (sh.launch != gen) {
      sh = GlobalShadowState{gen};
      stored = 0;
    }
    const uint64_t at = addr + i;
    bool racing_writer = sh.write_clock && !global_ordered_before(x, sh.writer_cta, sh.writer,
                                                                  sh.write_clock, sh.write_seq);
    if (kind == AccessKind::read) {
      // Exception (3), sim/README.md: a read of what a thread of the same CTA wrote is not
      // reported (replicated tensors load in every thread that holds a copy, the owner
      // alone stores; the other copies are dead).
      if (racing_writer && sh.writer_cta != x.cta.linear)
        x.report(ErrorKind::racecheck, in, static_cast<int>(lane), true, at,
                 fmt::format("global read-after-write hazard at address {:#x}: written by {} "
                             "in this launch with nothing ordering the write before this read",
                             at, thread_name(x, sh.writer_cta, sh.writer)));
      if (!sh.read_clock ||
          global_ordered_before(x, sh.reader_cta, sh.reader, sh.read_clock, sh.read_seq)) {
        sh.reader_cta = x.cta.linear;
        sh.reader = static_cast<uint16_t>(tid);
        sh.read_clock = clock;
        sh.read_seq = x.launch.atomic_seq;
      }
      continue;
    }
    bool same_value = value && stored == value[i];
    if (racing_writer && !same_value)
      x.report(ErrorKind::racecheck, in, static_cast<int>(lane), true, at,
               fmt::format("global write-after-write hazard at address {:#x}: {} wrote a "
                           "different value in this launch with nothing ordering the two writes",
                           at, thread_name(x, sh.writer_cta, sh.writer)));
    else if (sh.read_clock &&
             !global_ordered_before(x, sh.reader_cta, sh.reader, sh.read_clock, sh.read_seq))
      x.report(ErrorKind::racecheck, in, static_cast<int>(lane), true, at,
               fmt::format("global write-after-read hazard at address {:#x}: read by {} in "
                           "this launch with nothing ordering the read before this write",
                           at, thread_name(x, sh.reader_cta, sh.reader)));
    sh.writer_cta = x.cta.linear;
    sh.writer = static_cast<uint16_t>(tid);
    sh.write_clock = clock;
    sh.write_seq = x.launch.atomic_seq;
    stored = value ? value[i] : 0;
    sh.read_clock = 0;
  }
}

} // namespace

Resolved access_memory(Exec& x, const Inst& in, Space space, uint64_t addr, uint32_t size,
                       uint32_t align, uint32_t lane, AccessKind kind, const uint8_t* value) {
  Resolved r;
  Launch& L = x.launch;
  auto fail = [&](ErrorKind k, const std::string& msg) {
    x.report(k, in, static_cast<int>(lane), true, addr, msg);
    return Resolved{};
  };
  if (space == Space::generic) {
    if (addr >= kSharedWindow && addr < kSharedWindow + kWindowSize) {
      space = Space::shared;
      addr -= kSharedWindow;
    } else if (addr >= kLocalWindow && addr < kLocalWindow + kWindowSize) {
      space = Space::local;
      addr -= kLocalWindow;
    } else if (addr >= kParamWindow && addr < kParamWindow + kWindowSize) {
      space = Space::param;
    } else {
      space = Space::global;
    }
  }
  if (align > 1 && addr % align != 0)
    return fail(ErrorKind::memcheck,
                fmt::format("misaligned {}-byte {} at address {:#x} ({} space needs {}-byte "
                            "alignment)",
                            size, kind_name(kind), addr, space_name(space), align));
  switch (space) {
  case Space::global:
  case Space::const_:
  case Space::generic: {
    Allocation* alloc = L.gmem->find(addr, size);
    uint8_t* p = alloc ? alloc->data.get() + (addr - alloc->base) : nullptr;
    if (!p) {
      std::string where = addr == 0 ? " (null pointer)" : "";
      return fail(ErrorKind::memcheck,
                  fmt::format("out-of-bounds global {} of {} bytes at address {:#x}: not inside "
                              "any allocation{}",
                              kind_name(kind), size, addr, where));
    }
    if (space == Space::const_ && kind != AccessKind::read)
      return fail(ErrorKind::memcheck, "write to .const memory");
    if (L.options.racecheck && kind == AccessKind::atomic)
      L.last_atomic[uint64_t(x.cta.linear) << 8 | x.warp.index] = {++L.atomic_seq, x.warp.vc};
    else if (L.options.racecheck && space != Space::const_)
      global_checks(x, in, *alloc, addr, size, lane, kind, value);
    r.ptr = p;
    r.space = Space::global;
    return r;
  }
  case Space::shared: {
    if (addr + size > L.smem_bytes || addr >= kWindowSize)
      return fail(ErrorKind::memcheck,
                  fmt::format("out-of-bounds shared {} of {} bytes at offset {:#x}: the CTA has "
                              "{} bytes of shared memory",
                              kind_name(kind), size, addr, L.smem_bytes));
    uint32_t off = static_cast<uint32_t>(addr);
    shared_checks(x, in, off, size, lane, kind);
    r.ptr = x.cta.smem.data() + off;
    r.space = Space::shared;
    r.offset = off;
    return r;
  }
  case Space::param:
    if (addr >= kParamWindow) {
      uint64_t off = addr - kParamWindow;
      if (off + size > L.params.size())
        return fail(ErrorKind::memcheck,
                    fmt::format("parameter {} of {} bytes at offset {} is past the {} bytes of "
                                "kernel parameters",
                                kind_name(kind), size, off, L.params.size()));
      if (kind != AccessKind::read)
        return fail(ErrorKind::memcheck, "write to kernel parameters");
      r.ptr = L.params.data() + off;
      r.space = Space::param;
      return r;
    }
    [[fallthrough]]; // call-site and .func parameters live in the local window
  case Space::local: {
    uint32_t lb = L.module->local_bytes;
    if (addr + size > lb)
      return fail(ErrorKind::memcheck,
                  fmt::format("out-of-bounds local {} of {} bytes at offset {:#x}: the thread has "
                              "{} bytes of local memory",
                              kind_name(kind), size, addr, lb));
    size_t base = size_t(x.tid_linear(lane)) * lb + addr;
    uint8_t* init = x.cta.local_init.data() + base;
    if (kind == AccessKind::write) {
      std::memset(init, 1, size);
    } else if (L.options.check_uninitialized) {
      for (uint32_t i = 0; i < size; ++i)
        if (!init[i]) {
          x.report(ErrorKind::memcheck, in, static_cast<int>(lane), true, addr,
                   fmt::format("read of uninitialised local memory at offset {}", addr + i));
          break;
        }
    }
    r.ptr = x.cta.local.data() + base;
    r.space = Space::local;
    r.offset = static_cast<uint32_t>(addr);
    return r;
  }
  }
  return r;
}

void account_shared(Exec& x, const uint32_t* offsets, uint32_t mask, uint32_t bytes) {
  uint32_t ideal = 0;
  uint32_t wf = shared_wavefronts(offsets, mask, bytes, &ideal);
  uint32_t fi = x.frame.fn_index;
  ++x.launch.shared_requests[fi][x.pc];
  x.launch.wavefronts[fi][x.pc] += wf;
  x.launch.ideal_wavefronts[fi][x.pc] += ideal;
}

void shared_written(Exec& x, const Inst& in, uint32_t offset, uint32_t size, uint32_t lane) {
  shared_checks(x, in, offset, size, lane, AccessKind::write);
}

} // namespace tessel::sim
