// Fuzz target: the differential fuzzer (differential.h, docs/reliability.md "Differential
// fuzzer"). Property, for any bytes: the kernel they describe either does not trace, is skipped by
// the interpreter (an op it does not cover), or runs on the CPU backend, on the simulated GPU and
// in the reference interpreter with outputs that agree as docs/semantics.md promises, without a
// backend failing or writing its inputs. A disagreement aborts with the report (kernel, IR, the
// inputs and three results at the first differing element), which libFuzzer saves as a crash.
//
// TESSEL_FUZZ_VERBOSE=1 prints each input's outcome (agreed / untraceable / skipped, and the
// element counts), so a corpus whose kernels stop tracing is visible; TESSEL_FUZZ_VERBOSE=2 adds
// each kernel's IR.
#include "fuzz_entry.h"

#include "differential.h"

#include <cstdio>
#include <cstdlib>

namespace {

const char* kind_name(tessel::fuzz::Outcome::Kind k) {
  switch (k) {
  case tessel::fuzz::Outcome::Kind::agreed:
    return "agreed";
  case tessel::fuzz::Outcome::Kind::untraceable:
    return "untraceable";
  case tessel::fuzz::Outcome::Kind::skipped:
    return "skipped";
  }
  return "?";
}

void print(const tessel::fuzz::Outcome& o) {
  std::fprintf(stderr, "differential: %s%s, %lld exact, %lld bounded, %lld opaque%s%s\n",
               kind_name(o.kind), o.simulated ? "" : " (no simulator)", (long long)o.exact,
               (long long)o.bounded, (long long)o.opaque, o.detail.empty() ? "" : ": ",
               o.detail.substr(0, 300).c_str());
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  tessel::fuzz::DifferentialResult r = tessel::fuzz::run_differential({data, size});
  if (r.disagreement)
    tessel::fuzz::fail(*r.disagreement);
  static const int verbose = [] {
    const char* v = std::getenv("TESSEL_FUZZ_VERBOSE");
    return v ? std::atoi(v) : 0;
  }();
  if (verbose > 0)
    print(r.outcome);
  if (verbose > 1)
    std::fprintf(stderr, "%s\n", r.outcome.ir.c_str());
  return 0;
}
