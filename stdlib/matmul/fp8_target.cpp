// Where fp8 operands can multiply (fp8_target.h).
#include "stdlib/matmul/fp8_target.h"

#include "tessel/codegen/target.h"
#include "tessel/runtime/device.h"

#include <fmt/format.h>

namespace tessel::ops::detail {

// fp8 operands multiply on the fp8 tensor cores of sm_89 and later (mma.sync .e4m3/.e5m2), and
// there is no dequantizing fallback: converting a and b to f16 in the kernel would be a different
// op (twice the shared memory and operand bytes), which a caller can ask for explicitly.
void check_fp8_target(const OpSite& s, const TensorView& a, const TensorView& b, const char* a_name,
                      const char* b_name) {
  if (!dtype_is_fp8(a.dtype) || a.device == DeviceKind::cpu)
    return;
  std::string target;
  if (a.device == DeviceKind::sim) {
    const codegen::Target t = codegen::parse_target(runtime::sim_target_name());
    if (t.has_fp8_mma())
      return;
    target = "the simulated device's target " + t.name() + " (TESSEL_SIM_TARGET)";
  } else {
    // The hardware's capability: fp8 mma.sync exists from compute capability 8.9.
    const int sm = runtime::Device::get(a.device_index).properties().sm_version();
    if (sm >= 89)
      return;
    target = fmt::format("CUDA device {} (sm_{})", a.device_index, sm);
  }
  s.fail(fmt::format("{} is {} and {} is {}: fp8 operands need the fp8 tensor cores of sm_89 or "
                     "later, but they are on {}, which multiplies f16 x f16, bf16 x bf16, f32 x "
                     "f32 and i8 x i8; run on an sm_89/sm_90 GPU (or TESSEL_SIM_TARGET=sm_89), "
                     "or convert {} and {} to f16 first (exact for both fp8 types)",
                     a_name, dtype_name(a.dtype), b_name, dtype_name(b.dtype), target, a_name,
                     b_name));
}

} // namespace tessel::ops::detail
