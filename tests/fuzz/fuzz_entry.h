// The one entry point every fuzz target defines (libFuzzer's name), and the way a target reports
// a broken property. The same target source links either with libFuzzer (the fuzz preset) or
// with replay_main.cpp (every build), so the seed corpus and every crash ever found run in CI
// without a clang build.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size);

namespace tessel::fuzz {

// A property of the target does not hold: prints `what` and aborts, which libFuzzer records as a
// crash (with the input) and the replay runner as a failed test.
[[noreturn]] void fail(std::string_view what);

inline std::string_view as_text(const uint8_t* data, size_t size) {
  return {reinterpret_cast<const char*>(data), size};
}

} // namespace tessel::fuzz
