// Reductions of tuples of values with a user combine, and the options of the built-in ones
// (keep_dims, dtype, deterministic float sums), max/min with their indices, Welford mean/variance.
//
// The tuple reduction is a fixed tree along the last dim (the reduced dim is moved there): pairs
// (x[2i], x[2i+1]) are split off by picks (dsl/compose.h) and combined, halving the dim until one
// element is left. The tree depends only on the index bits, so float results are the same bits
// on the CPU backend, on the GPU and for every num_warps; `deterministic` sums use it.
#include "dsl/compose.h"

#include "dsl/tracer.h"
#include "dsl/type_rules.h"

namespace tessel::lang {

using detail::fail;
using detail::type_str;

namespace {

Values tree(Values v, const Combine& combine, Loc l) {
  SourceLoc loc = SourceLoc::from(l);
  int last = v.front().rank(l) - 1;
  for (int64_t n = v.front().shape(l).back(); n > 1; n /= 2) {
    Values even, odd;
    for (const Tensor& t : v) {
      Tensor pairs = reshape(t, detail::with_tail(t, {n / 2, 2}, l), l);
      even.push_back(detail::pick(pairs, last + 1, 0, l));
      odd.push_back(detail::pick(pairs, last + 1, 1, l));
    }
    Values r = combine(even, odd);
    if (r.size() != v.size())
      fail(loc, "reduce",
           "the combine function returned " + std::to_string(r.size()) + " values for " +
               std::to_string(v.size()) + " inputs; it must return one per input");
    for (size_t i = 0; i < r.size(); ++i) {
      if (!r[i].valid())
        fail(loc, "reduce", "the combine function returned an empty handle");
      r[i] = broadcast_to(cast(r[i], v[i].dtype(l), l), even[i].shape(l), l);
    }
    v = std::move(r);
  }
  for (Tensor& t : v)
    t = detail::pick(t, last, 0, l); // drop the dim of 1
  return v;
}

Tensor kept(const Tensor& r, int axis, bool keep_dims, Loc l) {
  return keep_dims ? expand_dims(r, axis, l) : r;
}

Tensor converted(const Tensor& x, const ReduceOptions& o, Loc l) {
  return o.dtype ? cast(x, *o.dtype, l) : x;
}

} // namespace

Values reduce(const Values& values, int axis, const Combine& combine, bool keep_dims, Loc l) {
  SourceLoc loc = SourceLoc::from(l);
  if (values.empty())
    fail(loc, "reduce", "needs at least one value");
  int d = detail::normalize_dim(values.front(), axis, l, "reduce");
  Values v;
  for (const Tensor& x : values) {
    detail::require_numbers(x, l, "reduce");
    if (x.shape(l) != values.front().shape(l))
      fail(loc, "reduce",
           "the values must have one shape, got " + type_str(values.front().value(loc)->type()) +
               " and " + type_str(x.value(loc)->type()));
    v.push_back(detail::axis_to_last(x, d, l));
  }
  v = tree(std::move(v), combine, l);
  for (Tensor& t : v)
    t = kept(t, d, keep_dims, l);
  return v;
}

Tensor sum(const Tensor& x, int axis, const ReduceOptions& o, Loc l) {
  SourceLoc loc = SourceLoc::from(l);
  DType t = o.dtype ? *o.dtype : detail::default_sum_dtype(x.dtype(l));
  if (!o.deterministic)
    return kept(detail::raw_sum(cast(x, t, l), axis, l), detail::normalize_dim(x, axis, l, "sum"),
                o.keep_dims, l);
  // f16 and bf16 add in f32 and round once, as the built-in sum does.
  DType acc = t == DType::f16 || t == DType::bf16 ? DType::f32 : t;
  Combine add = [loc](const Values& a, const Values& b) {
    return Values{binary(BinaryOp::Add, a[0], b[0], loc)};
  };
  Tensor r = reduce(Values{cast(x, acc, l)}, axis, add, o.keep_dims, l).front();
  return cast(r, t, l);
}

#define TESSEL_REDUCE_WITH_OPTIONS(NAME)                                                           \
  Tensor NAME(const Tensor& x, int axis, const ReduceOptions& o, Loc l) {                          \
    int d = detail::normalize_dim(x, axis, l, #NAME);                                              \
    return kept(NAME(converted(x, o, l), d, l), d, o.keep_dims, l);                                \
  }
TESSEL_REDUCE_WITH_OPTIONS(max)
TESSEL_REDUCE_WITH_OPTIONS(min)
TESSEL_REDUCE_WITH_OPTIONS(argmax)
TESSEL_REDUCE_WITH_OPTIONS(argmin)
#undef TESSEL_REDUCE_WITH_OPTIONS

namespace {

// The value at the index a built-in argmax/argmin chose, so value and index always agree.
std::pair<Tensor, Tensor> with_index(const Tensor& x, int axis, bool keep_dims, bool is_max,
                                     Loc l) {
  int d = detail::normalize_dim(x, axis, l, is_max ? "max_with_indices" : "min_with_indices");
  detail::require_numbers(x, l, is_max ? "max_with_indices" : "min_with_indices");
  Tensor index = is_max ? argmax(x, d, l) : argmin(x, d, l);
  Tensor value = detail::pick(x, d, expand_dims(index, d, l), l);
  return {kept(value, d, keep_dims, l), kept(index, d, keep_dims, l)};
}

} // namespace

std::pair<Tensor, Tensor> max_with_indices(const Tensor& x, int axis, bool keep_dims, Loc l) {
  return with_index(x, axis, keep_dims, /*is_max=*/true, l);
}
std::pair<Tensor, Tensor> min_with_indices(const Tensor& x, int axis, bool keep_dims, Loc l) {
  return with_index(x, axis, keep_dims, /*is_max=*/false, l);
}

std::pair<Tensor, Tensor> mean_var(const Tensor& x, int axis, Loc l) {
  return mean_var(x, axis, full(x.shape(l), 1, DType::i1, l), l);
}

std::pair<Tensor, Tensor> mean_var(const Tensor& x, int axis, const Tensor& mask, Loc l) {
  SourceLoc loc = SourceLoc::from(l);
  detail::require_numbers(x, l, "mean_var");
  if (mask.dtype(l) != DType::i1)
    fail(loc, "mean_var", "the mask must be i1, got " + type_str(mask.value(loc)->type()));
  DType t = x.dtype(l) == DType::f64 ? DType::f64 : DType::f32;
  Tensor m = broadcast_to(mask, x.shape(l), l);
  Tensor count = cast(m, t, l);
  Tensor mean = where(m, cast(x, t, l), 0.0, l);
  Tensor m2 = full(x.shape(l), 0, t, l);
  // Chan et al.'s pairwise update of (count, mean, sum of squared deviations M2):
  // n = na + nb, d = mean_b - mean_a, mean = mean_a + d nb / n, M2 = M2a + M2b + d^2 na nb / n.
  Combine chan = [l, loc](const Values& a, const Values& b) {
    auto op = [loc](BinaryOp o, const Tensor& p, const Tensor& q) { return binary(o, p, q, loc); };
    Tensor n = op(BinaryOp::Add, a[0], b[0]);
    Tensor delta = op(BinaryOp::Sub, b[1], a[1]);
    Tensor empty = binary_scalar(BinaryOp::Eq, n, 0, /*integral=*/true, false, loc);
    Tensor share = where(empty, 0.0, op(BinaryOp::Div, b[0], n), l); // nb / n, 0 when empty
    Tensor mean = op(BinaryOp::Add, a[1], op(BinaryOp::Mul, delta, share));
    Tensor spread =
        op(BinaryOp::Mul, op(BinaryOp::Mul, delta, delta), op(BinaryOp::Mul, a[0], share));
    Tensor m2 = op(BinaryOp::Add, op(BinaryOp::Add, a[2], b[2]), spread);
    return Values{n, mean, m2};
  };
  Values r = reduce(Values{count, mean, m2}, axis, chan, /*keep_dims=*/false, l);
  return {r[1], binary(BinaryOp::Div, r[2], r[0], loc)};
}

} // namespace tessel::lang
