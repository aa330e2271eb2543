// TensorView well-formedness (view_check.h).
#include "runtime/view_check.h"

#include <cstdint>

namespace tessel::runtime {
namespace {

constexpr unsigned kLastDType = unsigned(DType::f8e5m2);
constexpr unsigned kLastDevice = unsigned(DeviceKind::sim);

} // namespace

std::string view_problem(const TensorView& view) {
  if (view.rank < 0 || view.rank > TensorView::kMaxRank)
    return "has rank " + std::to_string(view.rank) + "; a TensorView has rank 0 to " +
           std::to_string(TensorView::kMaxRank);
  if (unsigned(view.dtype) > kLastDType)
    return "has an invalid dtype (enum value " + std::to_string(unsigned(view.dtype)) +
           "); set it to a tessel::DType";
  if (unsigned(view.device) > kLastDevice)
    return "has an invalid device (enum value " + std::to_string(unsigned(view.device)) +
           "); set it to DeviceKind::cpu, cuda or sim";
  for (int k = 0; k < view.rank; ++k)
    if (view.shape[size_t(k)] < 0)
      return "has extent " + std::to_string(view.shape[size_t(k)]) + " in dimension " +
             std::to_string(k) + "; extents must be >= 0";
  return "";
}

} // namespace tessel::runtime
