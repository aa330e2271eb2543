// Varlen attention's argument checks (varlen.h). A wrong prefix sum is the one varlen mistake that
// would otherwise read other sequences' tokens or past the tensors, so host views are read and
// checked here, before anything is launched; device views cannot be read without a copy and a
// sync on the hot path, and are documented as unchecked (attention.h).
#include "stdlib/attention/varlen.h"

#include <fmt/format.h>

#include <algorithm>
#include <vector>

namespace tessel::ops::detail {
namespace {

void check_cu_shape(const OpSite& s, const char* arg, const TensorView& cu, const TensorView& q) {
  check_dtype(s, arg, cu, DType::i32);
  if (cu.rank != 1 || cu.shape[0] < 2)
    s.fail(fmt::format("{} has shape {}; expected [batch + 1] (prefix sums of the sequence "
                       "lengths, batch >= 1)",
                       arg, shape_str(cu)));
  check_device(s, arg, cu, "q", q);
}

std::vector<int64_t> host_values(const TensorView& cu) {
  std::vector<int64_t> v(size_t(cu.shape[0]));
  const auto* p = static_cast<const int32_t*>(cu.data);
  for (size_t i = 0; i < v.size(); ++i)
    v[i] = p[int64_t(i) * cu.strides[0]];
  return v;
}

// The longest entry of host prefix sums `cu` over `total` packed tokens of `tensor`.
int64_t check_cu_values(const OpSite& s, const char* arg, const TensorView& cu, int64_t total,
                        const char* tensor) {
  std::vector<int64_t> v = host_values(cu);
  if (v[0] < 0)
    s.fail(fmt::format("{}[0] is {}; expected a non-negative token index", arg, v[0]));
  int64_t longest = 0;
  for (size_t i = 1; i < v.size(); ++i) {
    if (v[i] < v[i - 1])
      s.fail(fmt::format("{}[{}] = {} is less than {}[{}] = {}; expected non-decreasing prefix "
                         "sums of the sequence lengths",
                         arg, i, v[i], arg, i - 1, v[i - 1]));
    longest = std::max(longest, v[i] - v[i - 1]);
  }
  if (v.back() > total)
    s.fail(fmt::format("{}[{}] = {} is past {}'s {} tokens; expected prefix sums within the "
                       "packed tensor",
                       arg, v.size() - 1, v.back(), tensor, total));
  return longest;
}

int64_t max_len(const OpSite& s, const char* cu_arg, const TensorView& cu, const char* max_arg,
                int64_t given, int64_t total, const char* tensor) {
  if (given < 0)
    s.fail(fmt::format("{} is {}; expected the longest sequence's length, or 0 to read it from "
                       "{}",
                       max_arg, given, cu_arg));
  if (cu.device != DeviceKind::cpu) {
    if (given == 0)
      s.fail(fmt::format("{} is 0 but {} is on device {}; pass {} (the longest sequence's "
                         "length): device prefix sums are not read on the host",
                         max_arg, cu_arg, device_kind_name(cu.device), max_arg));
    return given;
  }
  int64_t longest = check_cu_values(s, cu_arg, cu, total, tensor);
  if (given != 0 && longest > given)
    s.fail(fmt::format("{} has a sequence of {} tokens but {} is {}; expected {} >= the "
                       "longest length",
                       cu_arg, longest, max_arg, given, max_arg));
  return given != 0 ? given : longest;
}

} // namespace

Varlen varlen_of(const OpSite& s, const AttentionOptions& o, const TensorView& q, int64_t total_q,
                 int64_t total_k) {
  const bool has_q = o.cu_seqlens_q.data != nullptr, has_k = o.cu_seqlens_k.data != nullptr;
  if (!has_q && !has_k)
    return {};
  if (has_q != has_k)
    s.fail(fmt::format("{} is given but {} is not; varlen needs both prefix sums",
                       has_q ? "cu_seqlens_q" : "cu_seqlens_k",
                       has_q ? "cu_seqlens_k" : "cu_seqlens_q"));
  check_cu_shape(s, "cu_seqlens_q", o.cu_seqlens_q, q);
  check_cu_shape(s, "cu_seqlens_k", o.cu_seqlens_k, q);
  if (o.cu_seqlens_k.shape[0] != o.cu_seqlens_q.shape[0])
    s.fail(fmt::format("cu_seqlens_k has shape {} but cu_seqlens_q has {}; expected one entry "
                       "per batch entry plus one in both",
                       shape_str(o.cu_seqlens_k), shape_str(o.cu_seqlens_q)));
  if (o.kv_lens.data != nullptr || o.key_padding_mask.data != nullptr)
    s.fail("kv_lens or key_padding_mask is given with cu_seqlens (varlen); cut the keys with "
           "cu_seqlens_k instead");
  if (o.layout != AttentionLayout::bshd)
    s.fail("layout is bhsd with cu_seqlens (varlen); varlen tensors are packed "
           "[total_tokens, heads, head_dim]: use layout = bshd");
  Varlen v;
  v.on = true;
  v.batch = o.cu_seqlens_q.shape[0] - 1;
  v.max_q =
      max_len(s, "cu_seqlens_q", o.cu_seqlens_q, "max_seqlen_q", o.max_seqlen_q, total_q, "q");
  v.max_k =
      max_len(s, "cu_seqlens_k", o.cu_seqlens_k, "max_seqlen_k", o.max_seqlen_k, total_k, "k");
  return v;
}

} // namespace tessel::ops::detail
