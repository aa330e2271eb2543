// The execution profile of a simulated launch: dynamic instruction counts per opcode and per
// PTX line, and the shared-memory bank-conflict accounting per PTX line. Counts are summed
// over every warp of every CTA. A "thread instruction" is one instruction executed by one
// active lane (guarded-off lanes of an active warp count, as on hardware issue slots).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace tessel::sim {

struct LineProfile {
  int ptx_line = 0;
  int source_line = 0;          // from .loc, 0 when absent
  std::string opcode;           // e.g. "ld.shared.f32"
  uint64_t warp_executions = 0; // times a warp issued an instruction of this line
  uint64_t thread_instructions = 0;
  // Shared-memory accounting (zero for other instructions). A request is one warp-wide
  // access; a wavefront is one pass through the 32 banks. `ideal_wavefronts` is what the
  // access needs without bank conflicts; the difference is the conflict cost.
  uint64_t shared_requests = 0;
  uint64_t wavefronts = 0;
  uint64_t ideal_wavefronts = 0;
  uint64_t bank_conflicts() const { return wavefronts - ideal_wavefronts; }
};

struct OpcodeCount {
  std::string opcode; // base opcode, e.g. "ld", "mma"
  uint64_t thread_instructions = 0;
  uint64_t warp_executions = 0;
};

struct Profile {
  uint64_t thread_instructions = 0;
  uint64_t warp_instructions = 0;
  std::vector<OpcodeCount> opcodes; // sorted by opcode name
  std::vector<LineProfile> lines;   // executed lines, in PTX line order

  uint64_t total_wavefronts() const;
  uint64_t total_bank_conflicts() const;
  const LineProfile* line(int ptx_line) const;
  // Human-readable summary: opcode counts, then the lines with shared-memory accesses.
  std::string to_string() const;
};

} // namespace tessel::sim
