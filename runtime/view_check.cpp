// TensorView well-formedness (view_check.h).
#include "runtime/view_check.h"

#include <cstdint>

namespace tessel::runtime {
namespace {

// Every listed value is valid; anything else came from a cast. No default, so a new value is a
// -Wswitch warning here until it is listed.
bool valid(DType t) {
  switch (t) {
  case DType::i1:
  case DType::i8:
  case DType::i16:
  case DType::i32:
  case DType::i64:
  case DType::f16:
  case DType::bf16:
  case DType::f32:
  case DType::f64:
  case DType::u8:
  case DType::u16:
  case DType::u32:
  case DType::u64:
  case DType::f8e4m3:
  case DType::f8e5m2:
    return true;
  }
  return false;
}

bool valid(DeviceKind d) {
  switch (d) {
  case DeviceKind::cpu:
  case DeviceKind::cuda:
  case DeviceKind::sim:
    return true;
  }
  return false;
}

} // namespace

std::string view_problem(const TensorView& view) {
  if (view.rank < 0 || view.rank > TensorView::kMaxRank)
    return "has rank " + std::to_string(view.rank) + "; a TensorView has rank 0 to " +
           std::to_string(TensorView::kMaxRank);
  if (!valid(view.dtype))
    return "has an invalid dtype (enum value " + std::to_string(unsigned(view.dtype)) +
           "); set it to a tessel::DType";
  if (!valid(view.device))
    return "has an invalid device (enum value " + std::to_string(unsigned(view.device)) +
           "); set it to DeviceKind::cpu, cuda or sim";
  for (int k = 0; k < view.rank; ++k)
    if (view.shape[size_t(k)] < 0)
      return "has extent " + std::to_string(view.shape[size_t(k)]) + " in dimension " +
             std::to_string(k) + "; extents must be >= 0";
  return "";
}

} // namespace tessel::runtime
