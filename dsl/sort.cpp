// sort, sort_with_indices and topk: a bitonic network along the last dim (after moving the sorted
// dim there), each compare-exchange step a reshape to [.., pairs, 2, distance], two picks
// (dsl/compose.h), a comparison and a join back. n = 2^m elements take m (m + 1) / 2 steps.
//
// The order is total: NaN above every number, and with indices equal values ordered by their
// index, so the result (values and indices) is unique whatever the network's order of exchanges.
#include "dsl/compose.h"

#include "dsl/tracer.h"
#include "dsl/type_rules.h"

#include <optional>

namespace tessel::lang {

using detail::fail;
using detail::type_str;

namespace {

struct Keys {
  Tensor values;
  std::optional<Tensor> indices;
};

class Bitonic {
public:
  Bitonic(bool descending, Loc l) : descending_(descending), l_(l), loc_(SourceLoc::from(l)) {}

  // Sorts along the last dim.
  Keys run(Keys k) {
    int64_t n = k.values.shape(l_).back();
    int m = detail::log2_of(n);
    for (int stage = 1; stage <= m; ++stage)
      for (int j = stage - 1; j >= 0; --j)
        k = exchange(k, n, stage, j, stage == m);
    return k;
  }

  // The last stage alone: a bitonic row comes out sorted (Triton's bitonic_merge).
  Keys merge(Keys k) {
    int64_t n = k.values.shape(l_).back();
    int m = detail::log2_of(n);
    for (int j = m - 1; j >= 0; --j)
      k = exchange(k, n, m, j, /*last=*/true);
    return k;
  }

private:
  Tensor cmp(BinaryOp op, const Tensor& a, const Tensor& b) { return binary(op, a, b, loc_); }

  // True where (a, ia) comes strictly before (b, ib) in the requested order.
  Tensor before(const Tensor& a, const std::optional<Tensor>& ia, const Tensor& b,
                const std::optional<Tensor>& ib) {
    Tensor first = cmp(descending_ ? BinaryOp::Gt : BinaryOp::Lt, a, b);
    Tensor equal = cmp(BinaryOp::Eq, a, b);
    if (dtype_is_float(a.dtype(l_))) { // NaN above every number, NaNs equal among themselves
      Tensor nan_a = cmp(BinaryOp::Ne, a, a), nan_b = cmp(BinaryOp::Ne, b, b);
      Tensor not_nan_a = cmp(BinaryOp::Eq, a, a), not_nan_b = cmp(BinaryOp::Eq, b, b);
      Tensor nan_first =
          descending_ ? cmp(BinaryOp::And, nan_a, not_nan_b) : cmp(BinaryOp::And, not_nan_a, nan_b);
      first = cmp(BinaryOp::Or, first, nan_first);
      equal = cmp(BinaryOp::Or, equal, cmp(BinaryOp::And, nan_a, nan_b));
    }
    if (!ia)
      return first;
    return cmp(BinaryOp::Or, first, cmp(BinaryOp::And, equal, cmp(BinaryOp::Lt, *ia, *ib)));
  }

  // One column of the network: element i against i ^ 2^j, in blocks of 2^(stage+1) that run
  // up (toward the requested order) where bit `stage` of i is 0 and down where it is 1; in the
  // last stage every block runs up.
  Keys exchange(const Keys& k, int64_t n, int stage, int j, bool last) {
    Shape three = detail::with_tail(k.values, {n >> (j + 1), 2, int64_t(1) << j}, l_);
    int pair_axis = int(three.size()) - 2;
    auto halves = [&](const Tensor& t) {
      Tensor r = reshape(t, three, l_);
      return std::pair{detail::pick(r, pair_axis, 0, l_), detail::pick(r, pair_axis, 1, l_)};
    };
    auto [lo, hi] = halves(k.values);
    std::optional<Tensor> ilo, ihi;
    if (k.indices)
      std::tie(ilo, ihi) = halves(*k.indices);
    Tensor swap = before(hi, ihi, lo, ilo);
    if (!last) {
      // Bit `stage` of i is bit (stage - j - 1) of the block index along pair_axis - 1.
      Tensor block = detail::iota_along(int(three.size()) - 1, pair_axis - 1, n >> (j + 1), l_);
      Tensor bit = binary_scalar(BinaryOp::And,
                                 binary_scalar(BinaryOp::Shr, block, double(stage - j - 1),
                                               /*integral=*/true, /*scalar_on_left=*/false, loc_),
                                 1, /*integral=*/true, /*scalar_on_left=*/false, loc_);
      Tensor down = binary_scalar(BinaryOp::Eq, bit, 1, true, false, loc_);
      swap = where(down, before(lo, ilo, hi, ihi), swap, l_);
    }
    auto rejoin = [&](const Tensor& a, const Tensor& b) {
      Tensor first = where(swap, b, a, l_), second = where(swap, a, b, l_);
      return reshape(detail::swap_last_two(join(first, second, l_), l_), k.values.shape(l_), l_);
    };
    Keys out{rejoin(lo, hi), std::nullopt};
    if (k.indices)
      out.indices = rejoin(*ilo, *ihi);
    return out;
  }

  bool descending_;
  Loc l_;
  SourceLoc loc_;
};

Keys sort_along(const Tensor& x, int dim, bool descending, bool with_indices, Loc l,
                const char* op) {
  int d = detail::normalize_dim(x, dim, l, op);
  detail::require_numbers(x, l, op);
  Keys k{detail::axis_to_last(x, d, l), std::nullopt};
  if (with_indices) {
    int rank = x.rank(l);
    int64_t n = x.shape(l)[size_t(d)];
    k.indices = broadcast_to(detail::iota_along(rank, rank - 1, n, l), k.values.shape(l), l);
  }
  k = Bitonic(descending, l).run(k);
  k.values = detail::last_to_axis(k.values, d, l);
  if (k.indices)
    k.indices = detail::last_to_axis(*k.indices, d, l);
  return k;
}

} // namespace

Tensor sort(const Tensor& x, int dim, bool descending, Loc l) {
  return sort_along(x, dim, descending, /*with_indices=*/false, l, "sort").values;
}

std::pair<Tensor, Tensor> sort_with_indices(const Tensor& x, int dim, bool descending, Loc l) {
  Keys k = sort_along(x, dim, descending, /*with_indices=*/true, l, "sort_with_indices");
  return {k.values, *k.indices};
}

std::pair<Tensor, Tensor> topk(const Tensor& x, int k, Loc l) {
  SourceLoc loc = SourceLoc::from(l);
  int last = detail::normalize_dim(x, -1, l, "topk");
  int64_t n = x.shape(l).back();
  if (k <= 0 || k > n || !ir::is_power_of_two(k))
    fail(loc, "topk",
         "k must be a power of two from 1 to the last dim of " + type_str(x.value(loc)->type()) +
             ", got " + std::to_string(k));
  Keys s = sort_along(x, last, /*descending=*/true, /*with_indices=*/true, l, "topk");
  auto first_k = [&](const Tensor& t) {
    Tensor rows = reshape(t, detail::with_tail(t, {n / k, k}, l), l);
    return detail::pick(rows, last, 0, l);
  };
  return {first_k(s.values), first_k(*s.indices)};
}

Tensor bitonic_merge(const Tensor& x, int dim, bool descending, Loc l) {
  int d = detail::normalize_dim(x, dim, l, "bitonic_merge");
  detail::require_numbers(x, l, "bitonic_merge");
  Keys k{detail::axis_to_last(x, d, l), std::nullopt};
  if (k.values.shape(l).back() == 1)
    return x;
  return detail::last_to_axis(Bitonic(descending, l).merge(k).values, d, l);
}

} // namespace tessel::lang
