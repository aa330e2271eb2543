// Tensor maps at launch (runtime/tensor_map.h): TMA's rules in the DSL's terms, then the device's
// encoder — the driver's cuTensorMapEncodeTiled (looked up in libcuda like every driver call) or
// the simulator's, which checks the same rules again in the hardware's terms.
#include "runtime/tensor_map.h"

#include "runtime/cuda_api.h"

#ifdef TESSEL_HAVE_SIM
#include <tessel/sim/tensor_map.h>
#endif

#include <fmt/format.h>

#include <algorithm>
#include <iterator>

namespace tessel::runtime {
namespace {

constexpr uint64_t kMaxDim = uint64_t(1) << 32, kMaxStrideBytes = uint64_t(1) << 40;

// The box rules, which tracing checked already (ir/tensor_desc.cpp); checked again because a
// request is a plain struct.
std::string box_violation(const TensorMapRequest& r, int64_t esize) {
  for (int i = 0; i < r.rank; ++i)
    if (r.box[i] < 1 || r.box[i] > 256)
      return fmt::format("block_shape[{}] = {} is outside 1..256", i, r.box[i]);
  const int64_t inner = r.box[r.rank - 1] * esize;
  if (inner % 16 != 0)
    return fmt::format("the innermost box dimension is {} bytes, not a multiple of 16", inner);
  if (r.swizzle && inner > r.swizzle)
    return fmt::format("the innermost box dimension is {} bytes, more than the {}-byte swizzle "
                       "span",
                       inner, r.swizzle);
  return "";
}

// CUtensorMapDataType for an element type: floats by name, integers by width (TMA copies bits).
int driver_dtype(DType t) {
  switch (t) {
  case DType::f16:
    return 6;
  case DType::bf16:
    return 9;
  case DType::f32:
    return 7;
  case DType::f64:
    return 8;
  case DType::i32:
    return 3;
  case DType::i64:
    return 5;
  case DType::i1:
  case DType::i8:
  case DType::u8:
  case DType::f8e4m3:
  case DType::f8e5m2:
    return 0;
  case DType::i16:
  case DType::u16:
    return 1;
  case DType::u32:
    return 2;
  case DType::u64:
    return 4;
  }
  return 0;
}

void encode_with_driver(const TensorMapRequest& r, TensorMapBytes& out,
                        const std::string& context) {
  const cuda::Api& api = cuda::api(context);
  if (!api.cuTensorMapEncodeTiled)
    throw Error(context + ": the CUDA driver lacks cuTensorMapEncodeTiled (TMA needs CUDA 12 "
                          "and an sm_90 GPU); update the driver");
  const uint64_t esize = dtype_bytes(r.dtype);
  uint64_t dims[5], strides[4];
  unsigned box[5], element_strides[5];
  for (int i = 0; i < r.rank; ++i) { // innermost first
    const int d = r.rank - 1 - i;
    dims[i] = uint64_t(r.shape[d]);
    box[i] = unsigned(r.box[d]);
    element_strides[i] = 1;
    if (i > 0)
      strides[i - 1] = uint64_t(r.strides[d]) * esize;
  }
  const int swizzle = r.swizzle == 128 ? 3 : r.swizzle == 64 ? 2 : r.swizzle == 32 ? 1 : 0;
  std::fill(std::begin(out.bytes), std::end(out.bytes), uint8_t(0));
  cuda::CUresult res = api.cuTensorMapEncodeTiled(
      out.bytes, driver_dtype(r.dtype), unsigned(r.rank), reinterpret_cast<void*>(r.base), dims,
      strides, box, element_strides, /*interleave=*/0, swizzle, /*l2_promotion=*/2,
      /*oob_fill=*/r.padding);
  cuda::check(res, "cuTensorMapEncodeTiled", context);
}

#ifdef TESSEL_HAVE_SIM
sim::TensorMapDtype sim_dtype(DType t) {
  switch (dtype_bytes(t)) {
  case 1:
    return sim::TensorMapDtype::u8;
  case 2:
    return t == DType::f16    ? sim::TensorMapDtype::f16
           : t == DType::bf16 ? sim::TensorMapDtype::bf16
                              : sim::TensorMapDtype::u16;
  case 4:
    return t == DType::f32 ? sim::TensorMapDtype::f32 : sim::TensorMapDtype::u32;
  default:
    return t == DType::f64 ? sim::TensorMapDtype::f64 : sim::TensorMapDtype::u64;
  }
}
#endif

void encode_for_sim(const TensorMapRequest& r, TensorMapBytes& out, const std::string& context) {
#ifdef TESSEL_HAVE_SIM
  if (r.padding != 0)
    throw Error(context + ": the simulator copies zero-padded boxes only; NaN padding runs on a "
                          "GPU (or use Padding::zero and tl::where)");
  sim::TensorMapSpec spec;
  spec.dtype = sim_dtype(r.dtype);
  spec.rank = uint32_t(r.rank);
  spec.global_address = r.base;
  const uint64_t esize = dtype_bytes(r.dtype);
  for (int i = 0; i < r.rank; ++i) {
    const int d = r.rank - 1 - i;
    spec.global_dim[i] = uint64_t(r.shape[d]);
    spec.box_dim[i] = uint32_t(r.box[d]);
    if (i > 0)
      spec.global_strides[i - 1] = uint64_t(r.strides[d]) * esize;
  }
  spec.swizzle = r.swizzle == 128  ? sim::TensorMapSwizzle::b128
                 : r.swizzle == 64 ? sim::TensorMapSwizzle::b64
                 : r.swizzle == 32 ? sim::TensorMapSwizzle::b32
                                   : sim::TensorMapSwizzle::none;
  sim::Result<sim::TensorMap> m = sim::encode_tensor_map_tiled(spec);
  if (!m.ok())
    throw Error(context + ": " + m.error().message);
  static_assert(sizeof(m->bytes) == sizeof(out.bytes));
  std::copy(std::begin(m->bytes), std::end(m->bytes), out.bytes);
#else
  (void)r;
  (void)out;
  throw Error(context + ": this tessel was built without the PTX simulator");
#endif
}

} // namespace

std::string tensor_map_violation(const TensorMapRequest& r) {
  if (r.rank < 1 || r.rank > 5)
    return fmt::format("rank {} is outside 1..5", r.rank);
  const int64_t esize = dtype_bytes(r.dtype);
  if (r.base % 16 != 0)
    return fmt::format("the base address {:#x} is not 16-byte aligned (TMA reads from aligned "
                       "tensors; offset the coordinates instead of the pointer)",
                       r.base);
  for (int i = 0; i < r.rank; ++i)
    if (r.shape[i] < 1 || uint64_t(r.shape[i]) > kMaxDim)
      return fmt::format("shape[{}] = {} is outside 1..2^32", i, r.shape[i]);
  for (int i = 0; i + 1 < r.rank; ++i) {
    const int64_t bytes = r.strides[i] * esize;
    if (r.strides[i] < 1 || bytes % 16 != 0 || uint64_t(bytes) >= kMaxStrideBytes)
      return fmt::format("strides[{}] = {} elements of {} is {} bytes; TMA needs a positive "
                         "multiple of 16 bytes below 2^40 (pad the rows)",
                         i, r.strides[i], dtype_name(r.dtype), bytes);
  }
  if (r.strides[r.rank - 1] != 1)
    return fmt::format("strides[{}] = {}: the innermost stride must be 1", r.rank - 1,
                       r.strides[r.rank - 1]);
  return box_violation(r, esize);
}

void encode_tensor_map(DeviceKind device, const TensorMapRequest& r, TensorMapBytes& out,
                       const std::string& context) {
  if (std::string why = tensor_map_violation(r); !why.empty())
    throw Error(context + ": " + why);
  switch (device) {
  case DeviceKind::cuda:
    return encode_with_driver(r, out, context);
  case DeviceKind::sim:
    return encode_for_sim(r, out, context);
  case DeviceKind::cpu:
    break;
  }
  TESSEL_UNREACHABLE("tensor maps are for GPU launches");
}

} // namespace tessel::runtime
