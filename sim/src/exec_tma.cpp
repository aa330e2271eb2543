// cp.async.bulk.tensor in tile mode, 1D-5D: global -> shared with mbarrier complete_tx, and
// shared -> global (bulk_group). The copy happens at issue, element by element through
// access_memory, so memcheck and racecheck see every byte (attributed to the issuing
// thread; the mbarrier's complete_tx releases that thread's clock to the waiters). Box
// elements outside the tensor are zero-filled on loads and skipped on stores, as the
// hardware does. The shared box is dense, innermost dimension first, then swizzled by the
// tensor map's mode on absolute shared-address bits (sim/README.md, "TMA").
#include "executor.h"
#include "memory_access.h"
#include "tensor_map_layout.h"

#include <fmt/format.h>

#include <cstring>

namespace tessel::sim {

namespace {

uint64_t address_of(const Exec& x, const Operand& a, uint32_t l) {
  return (a.index == kNoSlot ? 0 : x.R[size_t(a.index) * 32 + l]) + static_cast<uint64_t>(a.imm);
}

// Reads and checks the tensor map at the generic (param or global) address of operand `a`.
bool read_tensor_map(Exec& x, const Inst& in, const Operand& a, uint32_t l, TensorMapLayout& m) {
  uint64_t addr = address_of(x, a, l);
  Resolved r = access_memory(x, in, Space::generic, addr, sizeof m, 64, l, AccessKind::read);
  if (!r.ptr)
    return false;
  std::memcpy(&m, r.ptr, sizeof m);
  if (m.magic != kTensorMapMagic) {
    x.report(ErrorKind::memcheck, in, static_cast<int>(l), true, addr,
             fmt::format("no tensor map at address {:#x} (build one with "
                         "sim::encode_tensor_map_tiled)",
                         addr));
    return false;
  }
  for (uint32_t i = 0; i < m.rank; ++i)
    if (m.element_strides[i] != 1) {
      x.report(ErrorKind::unsupported, in, static_cast<int>(l), true, addr,
               "tensor maps with element_strides other than 1 are not simulated");
      return false;
    }
  return true;
}

struct Box {
  int64_t start[5] = {};
  uint32_t dims[5] = {1, 1, 1, 1, 1};
  uint32_t elements = 1;
};

bool box_of(Exec& x, const Inst& in, const TensorMapLayout& m, const Operand& coords, uint32_t l,
            Box& b) {
  if (coords.count != m.rank || in.num != m.rank) {
    x.report(ErrorKind::sync, in, static_cast<int>(l), false, 0,
             fmt::format("cp.async.bulk.tensor.{}d with {} coordinates on a rank-{} tensor map",
                         in.num, coords.count, m.rank));
    return false;
  }
  for (uint32_t i = 0; i < m.rank; ++i) {
    uint32_t slot = x.frame.fn->vec_pool[coords.index + i];
    b.start[i] = static_cast<int32_t>(x.R[size_t(slot) * 32 + l]);
    b.dims[i] = m.box_dim[i];
    b.elements *= b.dims[i];
  }
  return true;
}

// The global address of box element `e` (linear, innermost first), or false when it falls
// outside the tensor.
bool element_address(const TensorMapLayout& m, const Box& b, uint32_t e, uint64_t& addr) {
  addr = m.global_address;
  for (uint32_t i = 0; i < 5; ++i) {
    int64_t c = b.start[i] + e % b.dims[i];
    e /= b.dims[i];
    if (c < 0 || static_cast<uint64_t>(c) >= m.global_dim[i])
      return false;
    addr += static_cast<uint64_t>(c) * (i == 0 ? m.element_size : m.global_strides[i - 1]);
  }
  return true;
}

bool shared_box(Exec& x, const Inst& in, uint64_t addr, uint32_t bytes, uint32_t l, uint32_t& off) {
  if (addr >= kSharedWindow && addr < kSharedWindow + kWindowSize)
    addr -= kSharedWindow;
  addr &= 0xffffffffu;
  if (addr % 128 != 0 || addr + bytes > x.launch.smem_bytes) {
    x.report(ErrorKind::memcheck, in, static_cast<int>(l), true, addr,
             fmt::format("cp.async.bulk.tensor shared box at offset {:#x} ({} bytes) is {}", addr,
                         bytes,
                         addr % 128 ? "not 128-byte aligned" : "outside the CTA's shared memory"));
    return false;
  }
  off = static_cast<uint32_t>(addr);
  return true;
}

void load(Exec& x, const Inst& in, uint32_t l) {
  TensorMapLayout m;
  Box b;
  if (!read_tensor_map(x, in, in.ops[1], l, m) || !box_of(x, in, m, in.ops[2], l, b))
    return;
  const uint32_t es = m.element_size, bytes = b.elements * es;
  uint32_t dst;
  if (!shared_box(x, in, address_of(x, in.ops[0], l), bytes, l, dst))
    return;
  uint32_t mbar = static_cast<uint32_t>(address_of(x, in.ops[3], l) & 0xffffffffu);
  uint8_t value[8];
  for (uint32_t e = 0; e < b.elements; ++e) {
    uint64_t g;
    std::memset(value, 0, sizeof value);
    if (element_address(m, b, e, g)) {
      Resolved r = access_memory(x, in, Space::global, g, es, es, l, AccessKind::read);
      if (r.ptr)
        std::memcpy(value, r.ptr, es);
    }
    uint32_t s = swizzled_offset(dst + e * es, m.swizzle);
    Resolved w = access_memory(x, in, Space::shared, s, es, es, l, AccessKind::write);
    if (w.ptr)
      std::memcpy(w.ptr, value, es);
  }
  mbarrier_complete_tx(x, in, mbar, bytes, l);
}

void store(Exec& x, const Inst& in, uint32_t l) {
  TensorMapLayout m;
  Box b;
  if (!read_tensor_map(x, in, in.ops[0], l, m) || !box_of(x, in, m, in.ops[1], l, b))
    return;
  const uint32_t es = m.element_size;
  uint32_t src;
  if (!shared_box(x, in, address_of(x, in.ops[2], l), b.elements * es, l, src))
    return;
  for (uint32_t e = 0; e < b.elements; ++e) {
    uint64_t g;
    if (!element_address(m, b, e, g))
      continue;
    uint32_t s = swizzled_offset(src + e * es, m.swizzle);
    Resolved r = access_memory(x, in, Space::shared, s, es, es, l, AccessKind::read);
    if (!r.ptr)
      continue;
    uint8_t value[8];
    std::memcpy(value, r.ptr, es);
    Resolved w = access_memory(x, in, Space::global, g, es, es, l, AccessKind::write, value);
    if (w.ptr)
      std::memcpy(w.ptr, value, es);
  }
}

} // namespace

void exec_tensor_copy(Exec& x, const Inst& in, uint32_t mask) {
  const bool is_store = in.ops[0].kind == OperandKind::addr && in.ops[0].count == 1;
  for_lanes(mask, [&](uint32_t l) { is_store ? store(x, in, l) : load(x, in, l); });
}

} // namespace tessel::sim
