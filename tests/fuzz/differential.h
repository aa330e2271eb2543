// The differential check (docs/reliability.md "Differential fuzzer"): one input's kernel
// (kernel_generator.h) run three ways — on the CPU backend, on the simulated GPU (sm_80 PTX in the
// simulator, with its memory checking) and in the reference interpreter (ir_interpreter.h) — and
// the output buffers compared: bit for bit where docs/semantics.md promises identical bits
// (NaN matches any NaN), within the interpreter's error bound where it promises a bound (the math
// functions' 2 ulp, float sums in an unspecified order), not at all where no bound is known.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <vector>

namespace tessel::fuzz {

struct Outcome {
  enum class Kind {
    agreed,      // all three ran and agree
    untraceable, // the kernel did not trace (a tessel::Error: the generator's guess was wrong)
    skipped,     // the interpreter does not cover it (detail says why)
  };
  Kind kind = Kind::agreed;
  std::string detail;
  bool simulated = false; // the simulated GPU took part (it needs the simulator and the toolkit)
  int64_t exact = 0;      // output elements compared bit for bit
  int64_t bounded = 0;    // compared within an error bound
  int64_t opaque = 0;     // not compared (no bound known)
  std::string ir;         // the kernel as traced (empty when it did not trace)
};

struct DifferentialResult {
  Outcome outcome;
  // Set when the three disagree, a backend fails on a kernel that traced, or a kernel writes its
  // inputs: the report (the kernel's header and IR, the inputs and the three results at the first
  // differing element).
  std::optional<std::string> disagreement;
};

DifferentialResult run_differential(std::span<const uint8_t> bytes);

// The comparison alone, for tests of the check itself: element `i` of three output buffers of
// kind `dtype` (a tessel::DType value), with the interpreter's error bounds. Returns the index of
// the first element where `cpu` or `sim` (when given) breaks the promise, or -1.
struct OutputCompare {
  int64_t first_difference = -1;
  int64_t differences = 0;
  int64_t exact = 0, bounded = 0, opaque = 0;
};
OutputCompare compare_outputs(uint8_t dtype, const std::vector<uint8_t>& reference,
                              const std::vector<double>& bounds, const std::vector<uint8_t>& cpu,
                              const std::vector<uint8_t>* sim);

} // namespace tessel::fuzz
