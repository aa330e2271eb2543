// DLPack import/export and the checks of a view against a kernel parameter.
#include "tessel/runtime/dlpack.h"

#include "tessel/error.h"

#include <dlpack/dlpack.h>

#include <cstring>
#include <string>

namespace tessel::runtime {
namespace {

// DLPack 0.8 added kDLBool = 6 and 1.1 the fp8 codes; 0.6 (the installed header) names none.
constexpr uint8_t kDLBoolCode = 6;
constexpr uint8_t kDLFloat8E4M3FnCode = 10; // kDLFloat8_e4m3fn: no infinities, as tessel's f8e4m3
constexpr uint8_t kDLFloat8E5M2Code = 12;   // kDLFloat8_e5m2

std::string dl_dtype_text(DLDataType t) {
  const char* code = t.code == kDLInt                ? "int"
                     : t.code == kDLUInt             ? "uint"
                     : t.code == kDLFloat            ? "float"
                     : t.code == kDLBfloat           ? "bfloat"
                     : t.code == kDLBoolCode         ? "bool"
                     : t.code == kDLFloat8E4M3FnCode ? "float8_e4m3fn"
                     : t.code == kDLFloat8E5M2Code   ? "float8_e5m2"
                                                     : "code ";
  std::string s = code;
  if (s == "code ")
    s += std::to_string(t.code) + " ";
  s += std::to_string(t.bits);
  if (t.lanes != 1)
    s += "x" + std::to_string(t.lanes);
  return s;
}

DType dtype_from_dl(DLDataType t) {
  auto unsupported = [&](const std::string& why) -> DType {
    throw Error("DLPack tensor of element type " + dl_dtype_text(t) + " is not supported: " + why);
  };
  if (t.lanes != 1)
    return unsupported("vector lanes; pass a tensor of scalars");
  if (t.code == kDLInt) {
    switch (t.bits) {
    case 8:
      return DType::i8;
    case 16:
      return DType::i16;
    case 32:
      return DType::i32;
    case 64:
      return DType::i64;
    }
  } else if (t.code == kDLFloat) {
    switch (t.bits) {
    case 16:
      return DType::f16;
    case 32:
      return DType::f32;
    case 64:
      return DType::f64;
    }
  } else if (t.code == kDLBfloat && t.bits == 16) {
    return DType::bf16;
  } else if (t.code == kDLBoolCode && t.bits == 8) {
    return DType::i1;
  } else if (t.code == kDLUInt) {
    switch (t.bits) {
    case 8:
      return DType::u8;
    case 16:
      return DType::u16;
    case 32:
      return DType::u32;
    case 64:
      return DType::u64;
    }
  } else if (t.code == kDLFloat8E4M3FnCode && t.bits == 8) {
    return DType::f8e4m3;
  } else if (t.code == kDLFloat8E5M2Code && t.bits == 8) {
    return DType::f8e5m2;
  }
  return unsupported("tessel takes int8/16/32/64, uint8/16/32/64, float16/32/64, bfloat16, "
                     "float8_e4m3fn, float8_e5m2 and bool (the other fp8 variants — e4m3 with "
                     "infinities, fnuz — have other encodings)");
}

DLDataType dl_from_dtype(DType t) {
  switch (t) {
  case DType::i1:
    return {kDLBoolCode, 8, 1};
  case DType::i8:
    return {kDLInt, 8, 1};
  case DType::i16:
    return {kDLInt, 16, 1};
  case DType::i32:
    return {kDLInt, 32, 1};
  case DType::i64:
    return {kDLInt, 64, 1};
  case DType::f16:
    return {kDLFloat, 16, 1};
  case DType::bf16:
    return {kDLBfloat, 16, 1};
  case DType::f32:
    return {kDLFloat, 32, 1};
  case DType::f64:
    return {kDLFloat, 64, 1};
  case DType::u8:
    return {kDLUInt, 8, 1};
  case DType::u16:
    return {kDLUInt, 16, 1};
  case DType::u32:
    return {kDLUInt, 32, 1};
  case DType::u64:
    return {kDLUInt, 64, 1};
  case DType::f8e4m3:
    return {kDLFloat8E4M3FnCode, 8, 1};
  case DType::f8e5m2:
    return {kDLFloat8E5M2Code, 8, 1};
  }
  TESSEL_UNREACHABLE("bad DType");
}

const char* device_name(DeviceKind d) {
  switch (d) {
  case DeviceKind::cpu:
    return "CPU";
  case DeviceKind::cuda:
    return "CUDA";
  case DeviceKind::sim:
    return "simulated-device";
  }
  TESSEL_UNREACHABLE("bad DeviceKind");
}

// What a DLManagedTensor made by to_dlpack owns.
struct Exported {
  DLManagedTensor managed{};
  int64_t shape[TensorView::kMaxRank] = {};
  int64_t strides[TensorView::kMaxRank] = {};
  std::shared_ptr<void> owner;
};

void delete_exported(DLManagedTensor* t) { delete static_cast<Exported*>(t->manager_ctx); }

// The number of elements of `t` (shape checked non-null for rank > 0): extents must be
// non-negative, and the count of a non-empty tensor must fit in int64 (found by the DLPack fuzzer:
// the row-major stride product overflowed).
int64_t element_count(const DLTensor& t) {
  int64_t numel = 1;
  bool empty = false;
  for (int k = 0; k < t.ndim; ++k) {
    if (t.shape[k] < 0)
      throw Error("DLPack tensor has a negative extent " + std::to_string(t.shape[k]) +
                  " in dimension " + std::to_string(k));
    empty = empty || t.shape[k] == 0;
  }
  for (int k = 0; !empty && k < t.ndim; ++k)
    if (__builtin_mul_overflow(numel, t.shape[k], &numel))
      throw Error("DLPack tensor's extents multiply past 2^63 elements (dimension " +
                  std::to_string(k) + " has extent " + std::to_string(t.shape[k]) + ")");
  return empty ? 0 : numel;
}

// data + byte_offset, computed as an address: a null data pointer of an empty tensor stays null,
// and an offset that wraps the address space is an error rather than a wild pointer.
void* offset_data(const DLTensor& t) {
  if (!t.data)
    return nullptr;
  uintptr_t address = 0;
  if (__builtin_add_overflow(reinterpret_cast<uintptr_t>(t.data), t.byte_offset, &address))
    throw Error("DLPack tensor's byte_offset " + std::to_string(t.byte_offset) +
                " runs past the end of the address space");
  return reinterpret_cast<void*>(address);
}

} // namespace

TensorView from_dlpack(const DLTensor& t) {
  TensorView v;
  // Read as an int: a producer with a newer dlpack.h may send a device type this header's enum
  // lacks, and loading that as DLDeviceType is undefined (found by the DLPack fuzzer, UBSan).
  int device_type = 0;
  static_assert(sizeof(device_type) == sizeof(t.device.device_type));
  std::memcpy(&device_type, &t.device.device_type, sizeof(device_type));
  switch (device_type) {
  case kDLCPU:
  case kDLCUDAHost:
    v.device = DeviceKind::cpu;
    break;
  case kDLCUDA:
  case kDLCUDAManaged:
    v.device = DeviceKind::cuda;
    break;
  default:
    throw Error("DLPack tensor on device type " + std::to_string(device_type) +
                " is not supported: tessel takes CPU (1), CUDA (2), CUDA host (3) and CUDA "
                "managed (13) memory");
  }
  v.device_index = t.device.device_id;
  v.dtype = dtype_from_dl(t.dtype);
  if (t.ndim < 0 || t.ndim > TensorView::kMaxRank)
    throw Error("DLPack tensor of rank " + std::to_string(t.ndim) + " is not supported: at most " +
                std::to_string(TensorView::kMaxRank) + " dimensions");
  v.rank = t.ndim;
  if (v.rank > 0 && !t.shape)
    throw Error("DLPack tensor of rank " + std::to_string(v.rank) + " has a null shape pointer");
  int64_t numel = element_count(t);
  int64_t contiguous = 1;
  for (int k = v.rank - 1; k >= 0; --k) {
    v.shape[size_t(k)] = t.shape[k];
    v.strides[size_t(k)] = t.strides ? t.strides[k] : contiguous; // null strides: row-major
    // Only an empty tensor's suffix products can overflow; its strides address nothing.
    if (__builtin_mul_overflow(contiguous, t.shape[k], &contiguous))
      contiguous = 0;
  }
  if (!t.data && numel > 0)
    throw Error("DLPack tensor has a null data pointer but " + std::to_string(numel) + " elements");
  v.data = offset_data(t);
  return v;
}

TensorView from_dlpack(const DLManagedTensor& t) { return from_dlpack(t.dl_tensor); }

void check_tensor(const TensorView& v, std::string_view name, DType dtype, int rank,
                  DeviceKind device) {
  std::string what = "tensor '" + std::string(name) + "'";
  if (v.dtype != dtype)
    throw Error(what + " has elements of type " + dtype_name(v.dtype) + ", expected " +
                dtype_name(dtype));
  if (rank >= 0 && v.rank != rank)
    throw Error(what + " has rank " + std::to_string(v.rank) + ", expected rank " +
                std::to_string(rank));
  if (v.device != device)
    throw Error(what + " is in " + device_name(v.device) + " memory, expected " +
                device_name(device) + " memory");
}

DLManagedTensor* to_dlpack(const TensorView& v, std::shared_ptr<void> owner) {
  if (v.device == DeviceKind::sim)
    throw Error("to_dlpack: the tensor is in simulated-device memory (TESSEL_DEVICE=sim), which "
                "no other framework can address; copy it to the host first");
  auto* e = new Exported;
  e->owner = std::move(owner);
  for (int k = 0; k < v.rank; ++k) {
    e->shape[k] = v.shape[size_t(k)];
    e->strides[k] = v.strides[size_t(k)];
  }
  DLTensor& t = e->managed.dl_tensor;
  t.data = v.data;
  t.device = {v.device == DeviceKind::cuda ? kDLCUDA : kDLCPU, v.device_index};
  t.ndim = v.rank;
  t.dtype = dl_from_dtype(v.dtype);
  t.shape = e->shape;
  t.strides = e->strides;
  t.byte_offset = 0;
  e->managed.manager_ctx = e;
  e->managed.deleter = &delete_exported;
  return &e->managed;
}

} // namespace tessel::runtime
