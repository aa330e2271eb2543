// Private: the tensor maps of TMA kernels (sm_90a tensor descriptors), built at launch. A request
// says what the kernel's descriptor and the launch's arguments give — the base address, the
// shape and strides in elements (outermost first, as the DSL writes them), the box, the swizzle
// and the padding — and encode_tensor_map checks it by TMA's rules with messages in those terms
// ("shape[1]", "strides[0]"), then builds the 128 bytes with the device's own encoder: the
// driver's cuTensorMapEncodeTiled for a CUDA GPU, sim::encode_tensor_map_tiled for the
// simulated device.
#pragma once

#include "tessel/dtype.h"
#include "tessel/error.h"
#include "tessel/runtime/tensor_view.h"

#include <cstdint>
#include <string>

namespace tessel::runtime {

struct TensorMapRequest {
  DType dtype = DType::f32;
  int rank = 1; // 1..5
  uint64_t base = 0;
  int64_t shape[5] = {}, strides[5] = {}, box[5] = {}; // outermost first; strides in elements
  int swizzle = 0;                                     // bytes: 0, 32, 64, 128
  int padding = 0;                                     // 0 zero, 1 NaN
};

// The opaque object a kernel receives (CUtensorMap's size and alignment). Not zeroed on
// construction: launches keep a few on the stack, and encode_tensor_map writes all 128 bytes.
struct alignas(64) TensorMapBytes {
  uint8_t bytes[128];
};

// The first rule `r` breaks, as "shape[1] = 0 is outside 1..2^32", or "" when it breaks none.
std::string tensor_map_violation(const TensorMapRequest& r);

// Checks `r` and encodes it for `device` (cuda or sim) into `out`. A broken rule, or an encoder
// that refuses, throws tessel::Error "<context>: <the rule>".
void encode_tensor_map(DeviceKind device, const TensorMapRequest& r, TensorMapBytes& out,
                       const std::string& context);

} // namespace tessel::runtime
