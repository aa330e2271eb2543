// The switch of bf16_rounding.h: the host target's feature string, and a test override.
#include "codegen/cpu/bf16_rounding.h"

#include "codegen/cpu/engine.h"

#include <atomic>

namespace tessel::codegen::cpu::detail {

namespace {
std::atomic<bool> allowed{true};
} // namespace

bool bf16_convert_instruction() {
  // The same feature list the target machine is created with, so the decision and the
  // instruction selection cannot disagree.
  static const bool host_has = [] {
    const std::string& f = host_target().features;
    return ("," + f + ",").find(",+avx512bf16,") != std::string::npos;
  }();
  return host_has && allowed.load(std::memory_order_relaxed);
}

void allow_bf16_convert_instruction(bool allow) { allowed.store(allow, std::memory_order_relaxed); }

} // namespace tessel::codegen::cpu::detail
