// encode_tensor_map_tiled: cuTensorMapEncodeTiled's validation rules, and the simulator's
// own layout of the 128 opaque bytes (read back by decode_tensor_map for cp.async.bulk.tensor).
#include "tensor_map_layout.h"

#include <fmt/format.h>

#include <cstring>

namespace tessel::sim {

namespace {

Error rule(std::string message) {
  Error e;
  e.kind = ErrorKind::bad_launch;
  e.message = "tensor map: " + std::move(message);
  return e;
}

uint32_t swizzle_span(TensorMapSwizzle s) {
  switch (s) {
  case TensorMapSwizzle::none:
    return 0;
  case TensorMapSwizzle::b32:
    return 32;
  case TensorMapSwizzle::b64:
    return 64;
  case TensorMapSwizzle::b128:
    return 128;
  }
  return 0;
}

} // namespace

uint32_t tensor_map_element_size(TensorMapDtype dtype) {
  switch (dtype) {
  case TensorMapDtype::u8:
    return 1;
  case TensorMapDtype::u16:
  case TensorMapDtype::f16:
  case TensorMapDtype::bf16:
    return 2;
  case TensorMapDtype::u32:
  case TensorMapDtype::s32:
  case TensorMapDtype::f32:
  case TensorMapDtype::tf32:
    return 4;
  case TensorMapDtype::u64:
  case TensorMapDtype::s64:
  case TensorMapDtype::f64:
    return 8;
  }
  return 1;
}

Result<TensorMap> encode_tensor_map_tiled(const TensorMapSpec& s) {
  if (s.rank < 1 || s.rank > 5)
    return rule(fmt::format("rank {} is outside 1..5", s.rank));
  if (s.global_address % 16 != 0)
    return rule(fmt::format("global address {:#x} is not 16-byte aligned", s.global_address));
  const uint32_t esize = tensor_map_element_size(s.dtype);
  for (uint32_t i = 0; i < s.rank; ++i) {
    if (s.global_dim[i] == 0 || s.global_dim[i] > (uint64_t(1) << 32))
      return rule(fmt::format("global_dim[{}] = {} is outside 1..2^32", i, s.global_dim[i]));
    if (s.box_dim[i] == 0 || s.box_dim[i] > 256)
      return rule(fmt::format("box_dim[{}] = {} is outside 1..256", i, s.box_dim[i]));
    if (s.element_strides[i] == 0 || s.element_strides[i] > 8)
      return rule(fmt::format("element_strides[{}] = {} is outside 1..8", i, s.element_strides[i]));
  }
  for (uint32_t i = 0; i + 1 < s.rank; ++i) {
    uint64_t st = s.global_strides[i];
    if (st % 16 != 0 || st >= (uint64_t(1) << 40))
      return rule(
          fmt::format("global_strides[{}] = {} bytes is not a multiple of 16 below 2^40", i, st));
  }
  if (s.rank > 1 && s.global_strides[0] < s.global_dim[0] * esize)
    return rule(fmt::format("global_strides[0] = {} bytes is less than a row of global_dim[0] "
                            "= {} elements of {} bytes",
                            s.global_strides[0], s.global_dim[0], esize));
  const uint32_t inner = s.box_dim[0] * esize;
  if (inner % 16 != 0)
    return rule(fmt::format("box_dim[0] = {} elements is {} bytes, not a multiple of 16",
                            s.box_dim[0], inner));
  if (uint32_t span = swizzle_span(s.swizzle); span && inner > span)
    return rule(fmt::format("the box's inner dimension is {} bytes, more than the {}-byte "
                            "swizzle span (use a smaller box_dim[0] or a wider swizzle)",
                            inner, span));
  TensorMap m;
  TensorMapLayout l;
  l.magic = kTensorMapMagic;
  l.rank = static_cast<uint8_t>(s.rank);
  l.element_size = static_cast<uint8_t>(esize);
  l.swizzle = static_cast<uint8_t>(s.swizzle);
  l.global_address = s.global_address;
  for (uint32_t i = 0; i < 5; ++i) {
    l.global_dim[i] = i < s.rank ? s.global_dim[i] : 1;
    l.box_dim[i] = static_cast<uint16_t>(i < s.rank ? s.box_dim[i] : 1);
    l.element_strides[i] = static_cast<uint8_t>(i < s.rank ? s.element_strides[i] : 1);
  }
  for (uint32_t i = 0; i < 4; ++i)
    l.global_strides[i] = i + 1 < s.rank ? s.global_strides[i] : 0;
  static_assert(sizeof(TensorMapLayout) <= sizeof(TensorMap::bytes));
  std::memcpy(m.bytes, &l, sizeof l);
  return m;
}

} // namespace tessel::sim
