// associative_scan over a tuple of values with a user combine, cumsum with options, cumprod.
//
// The general scan is composed from existing ops along the last dim (the scanned dim is moved
// there): after level s every block of 2^(s+1) elements is scanned, by combining the last
// element of its scanned lower half (a pick, dsl/compose.h) into every element of its scanned
// upper half: m levels for 2^m elements, each one combine on half the tile. The tree of combines
// is fixed by the index bits, so floats give the same bits on every backend and num_warps.
#include "dsl/compose.h"

#include "dsl/tracer.h"
#include "dsl/type_rules.h"

namespace tessel::lang {

using detail::fail;
using detail::type_str;

namespace {

void check_values(const Values& values, Loc l, const char* op) {
  SourceLoc loc = SourceLoc::from(l);
  if (values.empty())
    fail(loc, op, "needs at least one value");
  for (const Tensor& v : values) {
    detail::require_numbers(v, l, op);
    if (v.shape(l) != values.front().shape(l))
      fail(loc, op,
           "the values must have one shape, got " + type_str(values.front().value(loc)->type()) +
               " and " + type_str(v.value(loc)->type()));
  }
}

// combine(lhs, rhs), each result converted to its value's dtype and broadcast to `shape`.
Values apply(const Combine& combine, const Values& lhs, const Values& rhs, const Shape& shape,
             Loc l, const char* op) {
  SourceLoc loc = SourceLoc::from(l);
  Values r = combine(lhs, rhs);
  if (r.size() != lhs.size())
    fail(loc, op,
         "the combine function returned " + std::to_string(r.size()) + " values for " +
             std::to_string(lhs.size()) + " inputs; it must return one per input");
  for (size_t i = 0; i < r.size(); ++i) {
    if (!r[i].valid())
      fail(loc, op, "the combine function returned an empty handle");
    r[i] = broadcast_to(cast(r[i], lhs[i].dtype(l), l), shape, l);
  }
  return r;
}

// One level: blocks of 2 * half elements, each lower half scanned, combined into the upper half.
Values scan_level(const Values& values, int64_t half, const Combine& combine, Loc l,
                  const char* op) {
  const Tensor& first = values.front();
  int64_t n = first.shape(l).back();
  Shape three = detail::with_tail(first, {n / (2 * half), 2, half}, l);
  int pair_axis = int(three.size()) - 2;
  Values lo, hi, carry;
  for (const Tensor& v : values) {
    Tensor r = reshape(v, three, l);
    lo.push_back(detail::pick(r, pair_axis, 0, l));
    hi.push_back(detail::pick(r, pair_axis, 1, l));
    carry.push_back(expand_dims(detail::pick(lo.back(), pair_axis, half - 1, l), pair_axis, l));
  }
  Values upper = apply(combine, carry, hi, hi.front().shape(l), l, op);
  Values out;
  for (size_t i = 0; i < values.size(); ++i)
    out.push_back(
        reshape(detail::swap_last_two(join(lo[i], upper[i], l), l), values[i].shape(l), l));
  return out;
}

Tensor promoted(const Tensor& x, const std::optional<DType>& dtype, Loc l) {
  return cast(x, dtype ? *dtype : detail::default_sum_dtype(x.dtype(l)), l);
}

} // namespace

Values associative_scan(const Values& values, int axis, const Combine& combine, bool reverse,
                        Loc l) {
  check_values(values, l, "associative_scan");
  int d = detail::normalize_dim(values.front(), axis, l, "associative_scan");
  Values v;
  for (const Tensor& x : values) {
    Tensor t = detail::axis_to_last(x, d, l);
    v.push_back(reverse ? flip(t, -1, l) : t);
  }
  int64_t n = v.front().shape(l).back();
  for (int64_t half = 1; half < n; half *= 2)
    v = scan_level(v, half, combine, l, "associative_scan");
  for (Tensor& t : v)
    t = detail::last_to_axis(reverse ? flip(t, -1, l) : t, d, l);
  return v;
}

Tensor associative_scan(const Tensor& x, int axis,
                        const std::function<Tensor(Tensor, Tensor)>& combine, bool reverse, Loc l) {
  Combine each = [&](const Values& a, const Values& b) { return Values{combine(a[0], b[0])}; };
  return associative_scan(Values{x}, axis, each, reverse, l).front();
}

Tensor cumsum(const Tensor& x, int axis, const ScanOptions& options, Loc l) {
  detail::require_numbers(x, l, "cumsum");
  Tensor y = promoted(x, options.dtype, l);
  if (!options.reverse)
    return detail::raw_cumsum(y, axis, l);
  int d = detail::normalize_dim(y, axis, l, "cumsum");
  return flip(detail::raw_cumsum(flip(y, d, l), d, l), d, l);
}

Tensor cumprod(const Tensor& x, int axis, const ScanOptions& options, Loc l) {
  SourceLoc loc = SourceLoc::from(l);
  detail::require_numbers(x, l, "cumprod");
  Tensor y = promoted(x, options.dtype, l);
  return associative_scan(
      y, axis, [loc](Tensor a, Tensor b) { return binary(BinaryOp::Mul, a, b, loc); },
      options.reverse, l);
}

} // namespace tessel::lang
