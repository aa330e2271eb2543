// Immediate post-dominators by iterative data flow over basic blocks: pdom(exit) = {exit},
// pdom(b) = {b} ∪ ⋂ pdom(s) over successors s. Post-dominator sets of one block form a chain,
// so the immediate one is the strict post-dominator whose own set is one smaller. Blocks
// that cannot reach the exit (endless loops) keep the full set and get no reconvergence
// point, which is safe: their sides run to completion separately.
#include "cfg.h"

#include <cstdint>
#include <vector>

namespace tessel::sim {

namespace {

bool ends_block(const Inst& in) {
  return in.op == Op::bra || in.op == Op::ret || in.op == Op::exit || in.op == Op::trap;
}

using Bits = std::vector<uint64_t>;

} // namespace

void compute_reconvergence(Function& fn) {
  const size_t n = fn.code.size();
  if (n == 0)
    return;
  // Leaders: the first instruction, branch targets, and instructions after a block end.
  std::vector<int> block_of(n + 1, -1);
  std::vector<uint8_t> leader(n + 1, 0);
  leader[0] = 1;
  for (size_t i = 0; i < n; ++i) {
    const Inst& in = fn.code[i];
    if (in.op == Op::bra)
      leader[in.ops[0].index] = 1;
    if (ends_block(in))
      leader[i + 1] = 1;
  }
  std::vector<uint32_t> start;
  for (size_t i = 0; i < n; ++i) {
    if (leader[i])
      start.push_back(static_cast<uint32_t>(i));
    block_of[i] = static_cast<int>(start.size() - 1);
  }
  const size_t nb = start.size();
  const size_t exit_node = nb; // virtual exit
  const size_t words = (nb + 1 + 63) / 64;
  std::vector<std::vector<size_t>> succ(nb);
  for (size_t b = 0; b < nb; ++b) {
    size_t last = (b + 1 < nb ? start[b + 1] : n) - 1;
    const Inst& in = fn.code[last];
    bool falls = true;
    if (in.op == Op::bra) {
      succ[b].push_back(block_of[in.ops[0].index]);
      falls = in.guard != kNoSlot;
    } else if (in.op == Op::ret || in.op == Op::exit || in.op == Op::trap) {
      succ[b].push_back(exit_node);
      falls = in.guard != kNoSlot;
    }
    if (falls)
      succ[b].push_back(last + 1 < n ? block_of[last + 1] : exit_node);
  }
  std::vector<Bits> pdom(nb + 1, Bits(words, ~uint64_t(0)));
  pdom[exit_node].assign(words, 0);
  pdom[exit_node][exit_node / 64] |= uint64_t(1) << (exit_node % 64);
  for (bool changed = true; changed;) {
    changed = false;
    for (size_t bi = nb; bi-- > 0;) {
      Bits next(words, ~uint64_t(0));
      for (size_t s : succ[bi])
        for (size_t w = 0; w < words; ++w)
          next[w] &= pdom[s][w];
      next[bi / 64] |= uint64_t(1) << (bi % 64);
      if (next != pdom[bi]) {
        pdom[bi] = std::move(next);
        changed = true;
      }
    }
  }
  auto count = [&](const Bits& b) {
    size_t c = 0;
    for (uint64_t w : b)
      c += static_cast<size_t>(__builtin_popcountll(w));
    return c;
  };
  std::vector<uint8_t> reaches_exit(nb + 1, 0);
  reaches_exit[exit_node] = 1;
  for (bool changed = true; changed;) {
    changed = false;
    for (size_t b = 0; b < nb; ++b) {
      if (reaches_exit[b])
        continue;
      for (size_t s : succ[b])
        if (reaches_exit[s]) {
          reaches_exit[b] = 1;
          changed = true;
          break;
        }
    }
  }
  for (size_t b = 0; b < nb; ++b) {
    size_t last = (b + 1 < nb ? start[b + 1] : n) - 1;
    Inst& in = fn.code[last];
    if (in.op != Op::bra)
      continue;
    in.reconverge = kNoReconverge;
    size_t own = count(pdom[b]);
    if (!reaches_exit[b])
      continue;
    for (size_t d = 0; d <= nb; ++d) {
      if (d == b || !(pdom[b][d / 64] >> (d % 64) & 1))
        continue;
      if (count(pdom[d]) == own - 1) {
        in.reconverge = d == exit_node ? kNoReconverge : start[d];
        break;
      }
    }
  }
}

} // namespace tessel::sim
