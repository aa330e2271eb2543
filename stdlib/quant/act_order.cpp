// Act-order for W4A16 (act_order.h; tessel/ops/quant.h): the permutation check, and the packing
// of the weight rows in the permutation's order. The kernel's half (reading x's columns through
// the permutation) is in quant_kernels.cpp.
#include "stdlib/quant/act_order.h"

#include "tessel/ops/quant.h"

#include <fmt/format.h>

#include <cstring>
#include <vector>

namespace tessel::ops {
namespace detail {

void check_perm(const OpSite& s, const char* arg, const TensorView& v, const TensorView* ref,
                int64_t k) {
  detail::check_dtype(s, arg, v, DType::i32);
  if (v.rank != 1 || v.shape[0] != k || (k > 1 && v.strides[0] != 1))
    s.fail(fmt::format("{} has shape {}; expected a contiguous [{}] (a permutation of K's {} rows)",
                       arg, detail::shape_str(v), k, k));
  if (ref)
    detail::check_device(s, arg, v, "x", *ref);
  if (k > 0 && v.data == nullptr)
    s.fail(fmt::format("{} has a null data pointer", arg));
  if (v.device != DeviceKind::cpu)
    return;
  const auto* p = static_cast<const int32_t*>(v.data);
  std::vector<int64_t> seen(size_t(k), -1);
  for (int64_t i = 0; i < k; ++i) {
    if (p[i] < 0 || p[i] >= k)
      s.fail(fmt::format("{}[{}] is {}; expected a permutation of 0..{} (every row of K once)", arg,
                         i, p[i], k - 1));
    if (seen[size_t(p[i])] >= 0)
      s.fail(fmt::format("{}[{}] is {}, as {}[{}] is; expected a permutation of 0..{} (every row "
                         "of K once)",
                         arg, i, p[i], arg, seen[size_t(p[i])], k - 1));
    seen[size_t(p[i])] = i;
  }
}

} // namespace detail

// The permuted copy of w (row i = w[perm[i]], in w's dtype) quantized as quantize_weights_int4
// quantizes any w: every group is then a run of consecutive rows in perm's order.
void quantize_weights_int4_act_order(const TensorView& w, int group_size, Int4Mode mode,
                                     const TensorView& perm, const TensorView& packed,
                                     const TensorView& scales, const TensorView& zeros,
                                     std::source_location where) {
  detail::OpSite s{"quantize_weights_int4_act_order", where};
  if (w.rank != 2)
    s.fail(fmt::format("w has shape {}; expected [K, N]", detail::shape_str(w)));
  if (w.device != DeviceKind::cpu || perm.device != DeviceKind::cpu)
    s.fail(fmt::format("{} is on device {}; int4 packing is an offline step on host tensors: pass "
                       "host tensors and copy the results to the device",
                       w.device != DeviceKind::cpu ? "w" : "perm",
                       device_kind_name(w.device != DeviceKind::cpu ? w.device : perm.device)));
  int64_t k = w.shape[0], n = w.shape[1];
  detail::check_perm(s, "perm", perm, nullptr, k);
  if (k * n > 0 && (w.data == nullptr || w.strides[1] != 1 || (k > 1 && w.strides[0] != n)))
    s.fail("w is not contiguous; expected a contiguous tensor");
  const size_t row_bytes = size_t(n) * dtype_bytes(w.dtype);
  std::vector<unsigned char> permuted(size_t(k) * row_bytes);
  const auto* p = static_cast<const int32_t*>(perm.data);
  const auto* src = static_cast<const unsigned char*>(w.data);
  for (int64_t i = 0; i < k; ++i)
    std::memcpy(permuted.data() + size_t(i) * row_bytes, src + size_t(p[i]) * row_bytes, row_bytes);
  TensorView wp = w;
  wp.data = permuted.data();
  quantize_weights_int4(wp, group_size, mode, packed, scales, zeros, where);
}

} // namespace tessel::ops
