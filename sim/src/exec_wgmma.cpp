// wgmma (sm_90a): wgmma.mma_async, fence, commit_group and wait_group, asynchronous as the
// PTX ISA defines them. A warpgroup is 4 consecutive warps (warp w is in group w / 4); warp
// rank r = w % 4 owns accumulator rows 16r..16r+15, so each warp computes its own slice: its A
// rows (registers or descriptor) times all of B (descriptor). Fragment layouts, with
// g = lane / 4, t = lane % 4 and e = 4 / element size elements per register:
//   A registers i = 0..3: row g + 8 (i & 1), k = e t + (element) + 4 e (i >> 1);
//   D (f32/s32) i = 0..N/2-1: row g + 8 ((i >> 1) & 1), column 8 (i >> 2) + 2 t + (i & 1);
//   D (f16x2)   j = 0..N/4-1: row g + 8 (j & 1), columns 8 (j >> 1) + 2 t + {0, 1}.
// An op computes when wgmma.wait_group completes its group (never at issue), so code that
// touches its registers earlier, changes its shared operands, or never waits is reported; its
// shared reads are racechecked at issue and again at completion (a buffer released before the
// wait races with its next writer). Also checked: the fence rule (no other access of a wgmma's
// registers after the last wgmma.fence), and that the 4 warps of a warpgroup execute each wgmma
// instruction equally often with the same descriptors (at the CTA's end).
#include "executor.h"
#include "half.h"
#include "memory_access.h"
#include "wgmma.h"

#include <cmath>
#include <cstring>
#include <fmt/format.h>

namespace tessel::sim {

namespace {

const std::string& text(const Exec& x, const Inst& in) {
  return x.launch.module->mnemonics[in.mnemonic];
}

uint64_t executed_key(const Exec& x) { return uint64_t(x.frame.fn_index) << 32 | x.pc; }

std::string reg_name(const Function& fn, uint32_t slot) {
  return slot < fn.reg_names.size() && !fn.reg_names[slot].empty() ? fn.reg_names[slot]
                                                                   : fmt::format("slot {}", slot);
}

// .sync.aligned over a warpgroup: every lane of the warp, and a CTA holding all 4 warps.
bool require_warpgroup(Exec& x, const Inst& in, uint32_t mask) {
  const uint32_t live = x.warp.valid & ~x.warp.exited;
  if (mask != 0xffffffffu || live != 0xffffffffu) {
    x.report(ErrorKind::sync, in, -1, false, 0,
             fmt::format("'{}' is .sync.aligned over a warpgroup, but only lanes {:#010x} of warp "
                         "{} execute it: all 32 lanes of the 4 warps must (no divergence)",
                         text(x, in), mask & live, x.warp.index));
    return false;
  }
  const uint32_t first = x.warp.index & ~3u;
  if ((first + 4) * 32 > x.launch.threads_per_cta) {
    x.report(ErrorKind::sync, in, 0, false, 0,
             fmt::format("'{}' needs a full warpgroup of 4 warps, but warp {} is in warpgroup {} "
                         "(warps {}..{}) of a CTA of {} threads: make the block a multiple of "
                         "128 threads",
                         text(x, in), x.warp.index, first / 4, first, first + 3,
                         x.launch.threads_per_cta));
    return false;
  }
  return true;
}

// The value of a 64-bit descriptor operand, which must be the same in every lane.
bool uniform_value(Exec& x, const Inst& in, int op, const char* what, uint64_t& value) {
  const uint64_t* v = x.src(in, op);
  value = v[0];
  for (uint32_t l = 1; l < 32; ++l)
    if (v[l] != value) {
      x.report(ErrorKind::sync, in, static_cast<int>(l), false, 0,
               fmt::format("'{}': the {} differs between lanes ({:#x} in lane 0, {:#x} in lane "
                           "{}); the warpgroup must pass one value",
                           text(x, in), what, value, v[l], l));
      return false;
    }
  return true;
}

bool read_descriptor(Exec& x, const Inst& in, int op, const char* what, MatrixDescriptor& d) {
  uint64_t bits = 0;
  if (!uniform_value(x, in, op, what, bits))
    return false;
  d = decode_matrix_descriptor(bits);
  if (std::string why = descriptor_error(d); !why.empty()) {
    x.report(ErrorKind::sync, in, 0, false, 0,
             fmt::format("'{}': bad {} {:#018x}: {}", text(x, in), what, bits, why));
    return false;
  }
  return true;
}

// Locates the elements of a descriptor operand (rows [row0, row0 + rows) of its M/N extent),
// checks them through the shared-memory accessor (each 16-byte chunk once, as lane 0 of the
// warp) and keeps their values.
void gather(Exec& x, const Inst& in, const MatrixDescriptor& d, unsigned row0, unsigned rows,
            unsigned k_extent, unsigned esize, bool mn_major, std::vector<uint32_t>& addr,
            std::vector<uint32_t>& bits) {
  addr.resize(size_t(rows) * k_extent);
  bits.assign(addr.size(), 0);
  const size_t smem = x.cta.smem.size();
  for (unsigned r = 0; r < rows; ++r)
    for (unsigned k = 0; k < k_extent; ++k) {
      const size_t i = size_t(r) * k_extent + k;
      const uint32_t a = descriptor_element_address(d, row0 + r, k, esize, mn_major);
      addr[i] = a;
      if (a % 16 == 0)
        access_memory(x, in, Space::shared, a, 16, 16, 0, AccessKind::read);
      if (a + esize <= smem)
        std::memcpy(&bits[i], x.cta.smem.data() + a, esize);
    }
}

void lock_registers(Exec& x, WgmmaOp& op, bool lock) {
  const Function& fn = *op.fn;
  auto& locks = x.warp.wgmma_locks;
  if (locks.size() < fn.num_slots)
    locks.resize(fn.num_slots);
  const Inst& in = *op.inst;
  auto mark = [&](const Operand& o, bool accumulator) {
    for (unsigned i = 0; i < o.count; ++i) {
      uint32_t slot = fn.vec_pool[o.index + i];
      if (slot == fn.sink_slot)
        continue;
      uint16_t& n = accumulator ? locks[slot].accumulator : locks[slot].a_fragment;
      n = lock ? n + 1 : n - 1;
      if (lock)
        locks[slot].pc = op.pc;
    }
  };
  mark(in.ops[0], true);
  if (wgmma_a_in_registers(in))
    mark(in.ops[1], false);
}

// A wgmma may chain onto the accumulators of in-flight wgmmas (the ISA orders those), but not
// use as A what an in-flight one writes, nor write what an in-flight one reads as A.
bool check_issue_registers(Exec& x, const Inst& in) {
  const Function& fn = *x.frame.fn;
  const auto& locks = x.warp.wgmma_locks;
  auto clash = [&](const Operand& o, bool accumulator) {
    for (unsigned i = 0; i < o.count; ++i) {
      uint32_t slot = fn.vec_pool[o.index + i];
      if (slot >= locks.size() || slot == fn.sink_slot)
        continue;
      const bool busy = accumulator ? locks[slot].a_fragment : locks[slot].accumulator;
      if (!busy)
        continue;
      x.report(ErrorKind::sync, in, 0, false, 0,
               fmt::format("'{}' uses {} as {}, but the wgmma.mma_async at ptx line {} that is "
                           "still in flight uses it as {}: wait for that wgmma "
                           "(wgmma.wait_group) first",
                           text(x, in), reg_name(fn, slot),
                           accumulator ? "an accumulator" : "a register of A",
                           fn.code[locks[slot].pc].line,
                           accumulator ? "a register of A" : "an accumulator"));
      return true;
    }
    return false;
  };
  return clash(in.ops[0], true) || (wgmma_a_in_registers(in) && clash(in.ops[1], false));
}

// The ISA requires a wgmma.fence between any other access of a register and a wgmma that uses
// it as an accumulator or an A register (wgmmas chaining on accumulators are exempt).
void check_fence_rule(Exec& x, const Inst& in) {
  const Function& fn = *x.frame.fn;
  const auto& touch = x.frame.wgmma_touch;
  auto since_fence = [&](const Operand& o, const char* role) {
    for (unsigned i = 0; i < o.count; ++i) {
      const uint32_t slot = fn.vec_pool[o.index + i];
      if (slot >= touch.size() || touch[slot].fences != x.warp.wgmma_fences + 1)
        continue;
      const Inst& by = fn.code[touch[slot].pc];
      x.report(ErrorKind::sync, in, 0, false, 0,
               fmt::format("'{}' uses {} as {}, but '{}' at ptx line {} accessed it after the "
                           "last wgmma.fence: the PTX ISA requires a wgmma.fence.sync.aligned "
                           "between other accesses of a wgmma's registers and the wgmma",
                           text(x, in), reg_name(fn, slot), role, text(x, by), by.line));
      return true;
    }
    return false;
  };
  if (!since_fence(in.ops[0], "an accumulator") && wgmma_a_in_registers(in))
    since_fence(in.ops[1], "a register of A");
}

// scale-d: a predicate (the same in every lane) or an immediate; false means D = A * B.
bool read_scale_d(Exec& x, const Inst& in, bool& scale_d) {
  const Operand& sd = in.ops[3];
  if (sd.kind != OperandKind::pred) {
    scale_d = sd.imm != 0;
    return true;
  }
  const uint32_t bits = sd.neg ? ~x.P[sd.index] : x.P[sd.index];
  if (bits != 0 && bits != 0xffffffffu) {
    x.report(ErrorKind::sync, in, 0, false, 0,
             fmt::format("'{}': scale-d differs between the lanes of warp {} ({:#010x}); the "
                         "warpgroup must pass one value",
                         text(x, in), x.warp.index, bits));
    return false;
  }
  scale_d = bits != 0;
  return true;
}

// Folds the descriptors and scale-d of this execution into the warp's hash for the instruction.
void record_operands(Exec& x, const Inst& in, bool scale_d) {
  uint64_t& h = x.warp.wgmma_executed[executed_key(x)].operands;
  auto mix = [&](uint64_t v) { h = (h ^ v) * 0x100000001b3ull; };
  if (!wgmma_a_in_registers(in))
    mix(x.src(in, 1)[0]);
  mix(x.src(in, 2)[0]);
  mix(scale_d);
}

void issue(Exec& x, const Inst& in, uint32_t mask) {
  ++x.warp.wgmma_executed[executed_key(x)].times;
  if (!require_warpgroup(x, in, mask))
    return;
  if (!x.warp.wgmma_fenced)
    x.report(ErrorKind::sync, in, 0, false, 0,
             fmt::format("'{}' in warp {} has no wgmma.fence before it: the PTX ISA requires a "
                         "wgmma.fence.sync.aligned before the first wgmma.mma_async and between "
                         "register accesses and a wgmma that uses those registers",
                         text(x, in), x.warp.index));
  if (check_issue_registers(x, in))
    return;
  check_fence_rule(x, in);
  const WgmmaForm f = wgmma_form(in);
  const WgmmaImmediates im = wgmma_immediates(in);
  WgmmaOp op;
  op.inst = &in;
  op.pc = x.pc;
  op.fn = x.frame.fn;
  op.frame = x.warp.frames.size() - 1;
  x.warp.wgmma_frame = op.frame;
  op.rank = x.warp.index % 4;
  auto imm = [&](int i, int none) { return i < 0 ? none : static_cast<int>(in.ops[i].imm); };
  op.scale_a = imm(im.scale_a, 1);
  op.scale_b = imm(im.scale_b, 1);
  if (!read_scale_d(x, in, op.scale_d))
    return;
  MatrixDescriptor bd;
  if (!read_descriptor(x, in, 2, "B descriptor", bd))
    return;
  if (!wgmma_a_in_registers(in)) {
    MatrixDescriptor ad;
    if (!read_descriptor(x, in, 1, "A descriptor", ad))
      return;
    gather(x, in, ad, 16 * op.rank, 16, f.k, f.esize, imm(im.trans_a, 0) == 1, op.a_addr,
           op.a_bits);
  }
  gather(x, in, bd, 0, in.shape_n, f.k, f.esize, imm(im.trans_b, 0) == 1, op.b_addr, op.b_bits);
  record_operands(x, in, op.scale_d);
  lock_registers(x, op, true);
  ++x.warp.wgmma_in_flight;
  x.warp.wgmma_open.push_back(std::move(op));
}

double element(Type t, uint32_t bits) {
  switch (t) {
  case Type::f16:
    return half_to_float(static_cast<uint16_t>(bits));
  case Type::bf16:
    return bf16_to_float(static_cast<uint16_t>(bits));
  case Type::tf32:
    return bits_f32(bits & 0xffffe000u);
  case Type::e4m3:
    return e4m3_to_float(static_cast<uint8_t>(bits));
  case Type::e5m2:
    return e5m2_to_float(static_cast<uint8_t>(bits));
  case Type::s8:
    return static_cast<int8_t>(bits);
  case Type::u8:
    return static_cast<uint8_t>(bits);
  case Type::f32:
    return bits_f32(bits);
  case Type::s32:
    return static_cast<int32_t>(bits);
  default:
    return 0; // wgmma_operand_error admits no other type
  }
}

// Reads the operand's elements from shared memory now; reports the first byte that changed
// since issue (the wgmma reads its operands asynchronously, any time before it completes).
std::vector<double> shared_operand(Exec& x, const WgmmaOp& op, Type t, const char* name,
                                   const std::vector<uint32_t>& addr,
                                   const std::vector<uint32_t>& issued) {
  const unsigned esize = type_size(t);
  const size_t smem = x.cta.smem.size();
  std::vector<double> v(addr.size(), 0.0);
  bool reported = false;
  Exec at = x;
  at.pc = op.pc;
  for (size_t i = 0; i < addr.size(); ++i) {
    // Racecheck again at completion, with the warp's clock now: the read may happen any time
    // up to here, so releasing the buffer (an mbarrier arrive) before the wait is a race.
    if (addr[i] % 16 == 0)
      access_memory(at, *op.inst, Space::shared, addr[i], 16, 16, 0, AccessKind::read);
    uint32_t bits = 0;
    if (addr[i] + esize <= smem)
      std::memcpy(&bits, x.cta.smem.data() + addr[i], esize);
    if (!reported && bits != issued[i]) {
      reported = true;
      at.report(ErrorKind::sync, *op.inst, 0, true, addr[i],
                fmt::format("shared memory of operand {} of '{}' (offset {:#x}) was overwritten "
                            "after the wgmma was issued and before the wgmma.wait_group that "
                            "completes it: the wgmma reads shared memory asynchronously",
                            name, text(x, *op.inst), addr[i]));
    }
    v[i] = element(t, bits);
  }
  return v;
}

// The warp's 16 x K slice of A from its 4 fragment registers (row-major).
std::vector<double> register_operand(const Inst& in, const WgmmaForm& f, const Function& fn,
                                     const uint64_t* R) {
  const unsigned K = f.k, epr = 4 / f.esize, bits = 8 * f.esize;
  const uint32_t emask = bits == 32 ? 0xffffffffu : (1u << bits) - 1;
  std::vector<double> a(16 * K, 0.0);
  for (unsigned i = 0; i < 4; ++i) {
    const uint64_t* v = R + size_t(fn.vec_pool[in.ops[1].index + i]) * 32;
    for (uint32_t l = 0; l < 32; ++l)
      for (unsigned e = 0; e < epr; ++e) {
        const unsigned row = l / 4 + 8 * (i & 1), k = epr * (l % 4) + e + 4 * epr * (i >> 1);
        a[row * K + k] = element(in.type2, (static_cast<uint32_t>(v[l]) >> (bits * e)) & emask);
      }
  }
  return a;
}

// Where accumulator element (register i, lane l) sits in the warp's 16 x N slice.
void accumulator_position(bool f16, unsigned i, unsigned half, uint32_t l, unsigned& row,
                          unsigned& col) {
  const unsigned g = l / 4, t = l % 4;
  if (f16) {
    row = g + 8 * (i & 1);
    col = 8 * (i >> 1) + 2 * t + half;
  } else {
    row = g + 8 * ((i >> 1) & 1);
    col = 8 * (i >> 2) + 2 * t + (i & 1);
  }
}

void compute(Exec& x, const WgmmaOp& op) {
  const Inst& in = *op.inst;
  const WgmmaForm f = wgmma_form(in);
  const unsigned K = f.k;
  Frame& frame = x.warp.frames[op.frame];
  const Function& fn = *frame.fn;
  uint64_t* R = frame.regs.data();
  auto reg = [&](const Operand& o, unsigned i) {
    return R + size_t(fn.vec_pool[o.index + i]) * 32;
  };
  const std::vector<double> a = wgmma_a_in_registers(in)
                                    ? register_operand(in, f, fn, R)
                                    : shared_operand(x, op, in.type2, "A", op.a_addr, op.a_bits);
  const std::vector<double> b = shared_operand(x, op, in.type3, "B", op.b_addr, op.b_bits);
  const double scale = double(op.scale_a) * op.scale_b;
  const bool f16 = type_size(in.type) == 2;
  for (unsigned i = 0; i < f.d_regs; ++i) {
    uint64_t* d = reg(in.ops[0], i);
    for (uint32_t l = 0; l < 32; ++l) {
      uint32_t out = 0;
      for (unsigned h = 0; h < (f16 ? 2u : 1u); ++h) {
        unsigned row, col;
        accumulator_position(f16, i, h, l, row, col);
        double acc = 0;
        if (op.scale_d) {
          const uint32_t old = static_cast<uint32_t>(d[l]);
          acc = f16 ? half_to_float(static_cast<uint16_t>(old >> (16 * h))) : element(in.type, old);
        }
        double sum = 0;
        for (unsigned k = 0; k < K; ++k)
          sum += a[row * K + k] * b[size_t(col) * K + k];
        const double v = acc + scale * sum;
        if (f16) {
          out |= uint32_t(double_to_half(v)) << (16 * h);
        } else if (f.integer) {
          const double c =
              in.has(kSatFinite) ? std::fmin(std::fmax(v, -2147483648.0), 2147483647.0) : v;
          out = static_cast<uint32_t>(static_cast<int64_t>(c));
        } else {
          out = f32_bits(static_cast<float>(v));
        }
      }
      d[l] = out;
    }
  }
}

void complete_groups(Exec& x, size_t keep) {
  Warp& w = x.warp;
  while (w.wgmma_groups.size() > keep) {
    for (WgmmaOp& op : w.wgmma_groups.front()) {
      if (op.frame < w.frames.size() && w.frames[op.frame].fn == op.fn)
        compute(x, op);
      lock_registers(x, op, false);
      --w.wgmma_in_flight;
    }
    w.wgmma_groups.pop_front();
  }
}

} // namespace

void exec_wgmma(Exec& x, const Inst& in, uint32_t mask) {
  switch (in.op) {
  case Op::wgmma_mma_async:
    return issue(x, in, mask);
  case Op::wgmma_fence:
    ++x.warp.wgmma_executed[executed_key(x)].times;
    if (require_warpgroup(x, in, mask)) {
      x.warp.wgmma_fenced = true;
      ++x.warp.wgmma_fences;
    }
    return;
  case Op::wgmma_commit:
    ++x.warp.wgmma_executed[executed_key(x)].times;
    if (!require_warpgroup(x, in, mask))
      return;
    x.warp.wgmma_groups.push_back(std::move(x.warp.wgmma_open));
    x.warp.wgmma_open.clear();
    return;
  case Op::wgmma_wait:
    ++x.warp.wgmma_executed[executed_key(x)].times;
    if (!require_warpgroup(x, in, mask))
      return;
    complete_groups(x, static_cast<size_t>(in.ops[0].imm));
    return;
  default:
    return; // the other ops are not in the wgmma family
  }
}

void wgmma_register_access(Exec& x, const Inst& in) {
  const Function& fn = *x.frame.fn;
  auto& touch = x.frame.wgmma_touch;
  if (touch.size() < fn.num_slots)
    touch.resize(fn.num_slots);
  const bool locked = x.warp.wgmma_in_flight && x.warp.frames.size() - 1 == x.warp.wgmma_frame;
  const auto& locks = x.warp.wgmma_locks;
  auto check = [&](uint32_t slot) {
    if (slot < touch.size())
      touch[slot] = {x.warp.wgmma_fences + 1, x.pc};
    if (!locked || slot >= locks.size() || (!locks[slot].accumulator && !locks[slot].a_fragment))
      return false;
    x.report(ErrorKind::sync, in, 0, false, 0,
             fmt::format("'{}' reads or writes {}, {} of the wgmma.mma_async at ptx line {} that "
                         "is still in flight: wait for it (wgmma.wait_group) before touching its "
                         "registers",
                         text(x, in), reg_name(fn, slot),
                         locks[slot].accumulator ? "an accumulator register" : "a register of A",
                         fn.code[locks[slot].pc].line));
    return true;
  };
  for (unsigned i = 0; i < in.nops; ++i) {
    const Operand& o = in.ops[i];
    switch (o.kind) {
    case OperandKind::reg:
      if (check(o.index))
        return;
      break;
    case OperandKind::vec:
      if (in.op == Op::call)
        break; // call lists name parameters, not registers
      for (unsigned j = 0; j < o.count; ++j)
        if (check(fn.vec_pool[o.index + j]))
          return;
      break;
    case OperandKind::addr:
      if (o.index != kNoSlot && check(o.index))
        return;
      break;
    case OperandKind::none:
    case OperandKind::imm:
    case OperandKind::pred:
    case OperandKind::label:
    case OperandKind::clock:
    case OperandKind::clock64:
    case OperandKind::symbol:
      break;
    }
  }
}

void wgmma_warp_exit(Exec& x) {
  Warp& w = x.warp;
  const WgmmaOp* left = !w.wgmma_groups.empty() ? &w.wgmma_groups.front().front()
                        : !w.wgmma_open.empty() ? &w.wgmma_open.front()
                                                : nullptr;
  if (!left)
    return;
  const bool committed = !w.wgmma_groups.empty();
  Exec at = x;
  at.pc = left->pc;
  at.report(ErrorKind::sync, *left->inst, 0, false, 0,
            fmt::format("'{}' of warp {} is still in flight when the warp exits: it was never {} "
                        "(its accumulators are never written); end the pipeline with "
                        "wgmma.commit_group and wgmma.wait_group 0",
                        text(x, *left->inst), w.index,
                        committed ? "completed by a wgmma.wait_group"
                                  : "committed (wgmma.commit_group) and waited for"));
}

void check_warpgroups(Launch& L, Cta& cta) {
  for (size_t first = 0; first + 1 <= cta.warps.size(); first += 4) {
    const size_t end = std::min(first + 4, cta.warps.size());
    for (size_t w = first; w < end; ++w)
      for (const auto& [key, mine] : cta.warps[w].wgmma_executed) {
        for (size_t v = first; v < end; ++v) {
          auto it = cta.warps[v].wgmma_executed.find(key);
          const WgmmaExecuted other =
              it == cta.warps[v].wgmma_executed.end() ? WgmmaExecuted{} : it->second;
          if (other.times == mine.times && other.operands == mine.operands)
            continue;
          Warp& warp = cta.warps[w];
          Frame& f = warp.frames.back();
          const Function& fn = L.module->functions[key >> 32];
          Exec x{L, cta, warp, f, f.regs.data(), f.preds.data(), static_cast<uint32_t>(key)};
          const Inst& in = fn.code[static_cast<uint32_t>(key)];
          if (other.times != mine.times)
            x.report(ErrorKind::sync, in, 0, false, 0,
                     fmt::format("'{}' ran {} time(s) in warp {} but {} time(s) in warp {} of "
                                 "warpgroup {}: all 4 warps of a warpgroup must execute each "
                                 "wgmma instruction (.sync.aligned)",
                                 text(x, in), mine.times, w, other.times, v, first / 4));
          else
            x.report(ErrorKind::sync, in, 0, false, 0,
                     fmt::format("'{}' got different descriptors or scale-d in warps {} and {} "
                                 "of warpgroup {}: the warpgroup must pass one value (each warp "
                                 "read its own here)",
                                 text(x, in), w, v, first / 4));
          return;
        }
      }
  }
}

} // namespace tessel::sim
