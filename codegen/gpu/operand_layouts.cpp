// The layouts the algorithms of scans and FMA dots read their operands in (layout_assignment.h):
// assign-layouts and prepare-dot-operands write them into the IR as convert_layouts; the emission
// (lower_reduce.cpp) only checks that its operands have them.
#include "codegen/gpu/layout_assignment.h"

#include <algorithm>

namespace tessel::codegen::gpu {

namespace {

using Basis = LinearLayout::Basis;

Basis unit(int rank, int dim, int32_t v) {
  Basis b(rank, 0);
  b[dim] = v;
  return b;
}

bool is_zero(const Basis& b) {
  return std::all_of(b.begin(), b.end(), [](int32_t c) { return c == 0; });
}

// A (keep = 0, K the second dim): the rows of the result's layout `lc` with the whole K in
// registers; B (keep = 1, K the first dim): its columns.
LinearLayout dot_reads(const LinearLayout& lc, const std::vector<int32_t>& shape, int32_t k_size,
                       int keep, bool k_first_dim) {
  std::array<std::vector<LinearLayout::Basis>, kNumInDims> bases;
  for (int32_t k = 1; k < k_size; k *= 2)
    bases[0].push_back(k_first_dim ? LinearLayout::Basis{k, 0} : LinearLayout::Basis{0, k});
  auto project = [&](const LinearLayout::Basis& c) {
    return k_first_dim ? LinearLayout::Basis{0, c[keep]} : LinearLayout::Basis{c[keep], 0};
  };
  for (const auto& c : lc.bases(InDim::Register))
    if (c[keep] != 0)
      bases[0].push_back(project(c));
  for (InDim in : {InDim::Lane, InDim::Warp})
    for (const auto& c : lc.bases(in))
      bases[static_cast<int>(in)].push_back(project(c));
  return LinearLayout(std::move(bases), shape);
}

} // namespace

// True when `l` is lowered by the parallel scan as it is: dim-separable, no replicated registers,
// its register bits along `axis` the lowest bits of the axis coordinate (1, 2, ... in order), then
// consecutive lane bits, then warp bits, each in increasing order.
bool scan_ready(const LinearLayout& l, int axis) {
  if (!l.is_dim_separable())
    return false;
  int32_t next = 1;
  for (const Basis& c : l.bases(InDim::Register)) {
    if (is_zero(c))
      return false;
    if (c[axis] != 0) {
      if (c[axis] != next)
        return false;
      next *= 2;
    }
  }
  std::vector<int> lanes = l.bits_along(InDim::Lane, axis);
  for (size_t i = 0; i < lanes.size(); ++i) {
    if (lanes[i] != lanes[0] + static_cast<int>(i) || l.basis(InDim::Lane, lanes[i])[axis] != next)
      return false;
    next *= 2;
  }
  for (int w : l.bits_along(InDim::Warp, axis)) {
    if (l.basis(InDim::Warp, w)[axis] != next)
      return false;
    next *= 2;
  }
  return next == l.out_shape()[axis];
}

// The layout a scan along `axis` runs in when its operand's is not scan_ready: each thread holds
// a contiguous run of the axis (numel / threads elements, at most the whole axis), the lowest
// lane bits continue along the axis, then the warps; the rest of the lanes and warps spread over
// the other dimensions (fastest first), replicating where those are too small, and further
// registers cover what the threads do not.
LinearLayout scan_layout(const std::vector<int32_t>& shape, int axis, int num_warps) {
  const int rank = static_cast<int>(shape.size());
  int64_t numel = 1;
  for (int32_t s : shape)
    numel *= s;
  const int64_t threads = int64_t(32) * num_warps;
  const int32_t run =
      static_cast<int32_t>(std::min<int64_t>(shape[axis], std::max<int64_t>(1, numel / threads)));
  std::array<std::vector<Basis>, kNumInDims> bases;
  std::vector<int32_t> covered(rank, 1);
  for (int32_t v = 1; v < run; v *= 2)
    bases[0].push_back(unit(rank, axis, v));
  covered[axis] = run;
  auto next_basis = [&]() {
    if (covered[axis] < shape[axis]) {
      Basis b = unit(rank, axis, covered[axis]);
      covered[axis] *= 2;
      return b;
    }
    for (int d = rank - 1; d >= 0; --d)
      if (d != axis && covered[d] < shape[d]) {
        Basis b = unit(rank, d, covered[d]);
        covered[d] *= 2;
        return b;
      }
    return Basis(rank, 0);
  };
  for (int i = 0; i < 5; ++i)
    bases[1].push_back(next_basis());
  for (int w = 1; w < num_warps; w *= 2)
    bases[2].push_back(next_basis());
  for (int d = rank - 1; d >= 0; --d)
    for (; covered[d] < shape[d]; covered[d] *= 2)
      bases[0].push_back(unit(rank, d, covered[d]));
  return LinearLayout(std::move(bases), shape);
}

LinearLayout fma_dot_operand_layout(const LinearLayout& result, const std::vector<int32_t>& shape,
                                    int operand) {
  TESSEL_ASSERT(operand == 0 || operand == 1, "an FMA dot reads a or b in a dot-operand layout");
  return operand == 0 ? dot_reads(result, shape, shape[1], /*keep=*/0, /*k_first_dim=*/false)
                      : dot_reads(result, shape, shape[0], /*keep=*/1, /*k_first_dim=*/true);
}

} // namespace tessel::codegen::gpu
