// TensorView construction.
#include "tessel/runtime/tensor_view.h"

#include "tessel/error.h"

namespace tessel {

const char* device_kind_name(DeviceKind kind) {
  switch (kind) {
  case DeviceKind::cpu:
    return "cpu";
  case DeviceKind::cuda:
    return "cuda";
  case DeviceKind::sim:
    return "sim";
  }
  TESSEL_UNREACHABLE("bad DeviceKind");
}

TensorView::TensorView(void* p, DType t, std::initializer_list<int64_t> dims, DeviceKind dev)
    : data(p), dtype(t), device(dev) {
  if (dims.size() > size_t(kMaxRank))
    throw Error("TensorView: rank " + std::to_string(dims.size()) + " exceeds the maximum of " +
                std::to_string(kMaxRank));
  rank = int(dims.size());
  int i = 0;
  for (int64_t d : dims)
    shape[size_t(i++)] = d;
  int64_t stride = 1;
  for (int k = rank - 1; k >= 0; --k) {
    strides[size_t(k)] = stride;
    stride *= shape[size_t(k)];
  }
}

int64_t TensorView::numel() const {
  int64_t n = 1;
  for (int k = 0; k < rank; ++k)
    n *= shape[size_t(k)];
  return n;
}

} // namespace tessel
