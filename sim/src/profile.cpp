// Profile queries and the human-readable report (profile.h).
#include <tessel/sim/profile.h>

#include <fmt/format.h>

namespace tessel::sim {

uint64_t Profile::total_wavefronts() const {
  uint64_t n = 0;
  for (auto& l : lines)
    n += l.wavefronts;
  return n;
}

uint64_t Profile::total_bank_conflicts() const {
  uint64_t n = 0;
  for (auto& l : lines)
    n += l.bank_conflicts();
  return n;
}

const LineProfile* Profile::line(int ptx_line) const {
  for (auto& l : lines)
    if (l.ptx_line == ptx_line)
      return &l;
  return nullptr;
}

std::string Profile::to_string() const {
  std::string out =
      fmt::format("instructions: {} thread, {} warp\n", thread_instructions, warp_instructions);
  out += "per opcode (thread instructions):\n";
  for (auto& o : opcodes)
    out += fmt::format("  {:<24} {:>14}\n", o.opcode, o.thread_instructions);
  bool header = false;
  for (auto& l : lines) {
    if (!l.shared_requests)
      continue;
    if (!header) {
      out += "shared memory per line (requests, wavefronts, ideal, conflicts):\n";
      header = true;
    }
    out +=
        fmt::format("  line {:>5}{:<8} {:<44} {:>10} {:>10} {:>10} {:>10}\n", l.ptx_line,
                    l.source_line ? fmt::format(" (:{})", l.source_line) : std::string(), l.opcode,
                    l.shared_requests, l.wavefronts, l.ideal_wavefronts, l.bank_conflicts());
  }
  if (header)
    out += fmt::format("bank conflicts (extra wavefronts): {}\n", total_bank_conflicts());
  return out;
}

} // namespace tessel::sim
