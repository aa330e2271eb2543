// Private: checked CPU launches (LaunchOptions::checked, TESSEL_DEBUG=1) — the byte ranges of
// the views passed, the argument array with the BoundsTable slot that checked kernels read
// (codegen/cpu.h), and the error that names the first out-of-bounds access.
#pragma once

#include "jit/signature.h"
#include "tessel/codegen/cpu.h"
#include "tessel/jit/kernel.h"

#include <array>
#include <cstdint>
#include <span>

namespace tessel::jit {

// The bit of SignatureKey::launch that selects the checked specialization of a CPU launch.
inline constexpr uint64_t kCheckedLaunch = uint64_t(1) << 62;

// True when this launch is a debug launch (its device_asserts run): `options.debug`, or
// TESSEL_DEBUG set to anything but "" or "0" (read once per process).
bool debug_launch(const LaunchOptions& options);
// True when this launch is checked: `options.checked`, or a debug launch (a CPU debug launch is
// bounds-checked too, and its asserts report through the BoundsTable).
bool checked_launch(const LaunchOptions& options);

// The bytes a view covers: from its lowest to past its highest element, whatever the strides
// (so a strided view's gaps count as inside it). Empty for a view without elements.
codegen::cpu::ByteRange view_bytes(const TensorView& view);

// The argument array of one checked launch: the packed arguments, then the BoundsTable.
class CheckedLaunch {
public:
  CheckedLaunch(const lang::KernelDef& def, std::span<const detail::ArgValue> args,
                const PackedArgs& packed);
  CheckedLaunch(const CheckedLaunch&) = delete;
  CheckedLaunch& operator=(const CheckedLaunch&) = delete;

  void* const* pointers() const { return pointers_.data(); }
  // Throws the violation the programs recorded, if any (call after they all ran).
  void throw_if_violated(const std::array<int32_t, 3>& grid) const;

private:
  const lang::KernelDef& def_;
  std::span<const detail::ArgValue> args_;
  std::array<size_t, kMaxParams> param_of_arg_{}; // IR argument -> kernel parameter
  std::array<codegen::cpu::ByteRange, kMaxParams> ranges_{};
  codegen::cpu::BoundsTable table_;
  std::array<void*, kMaxParams + 1> pointers_{};
};

} // namespace tessel::jit
