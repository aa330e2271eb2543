// Linear layouts over GF(2): construction, evaluation, the matrix view (rank, pseudo-inverse,
// composition) and the shape transformations codegen applies. See linear_layout.h.
#include "codegen/gpu/linear_layout.h"

#include "tessel/error.h"

#include <algorithm>
#include <bit>
#include <fmt/format.h>

namespace tessel::codegen::gpu {

namespace {

int log2_exact(int64_t v) {
  TESSEL_ASSERT(v >= 1 && std::has_single_bit(static_cast<uint64_t>(v)),
                "layout sizes must be powers of two");
  return std::countr_zero(static_cast<uint64_t>(v));
}

// Row echelon form over GF(2) that remembers, for each stored vector, which inputs produced it.
class Echelon {
public:
  // Adds `v` (produced by input mask `combo`); returns false when v is dependent on earlier ones.
  bool add(uint64_t v, uint64_t combo) {
    reduce(v, combo);
    if (v == 0)
      return false;
    rows_.push_back({v, combo, 63 - std::countl_zero(v)});
    std::sort(rows_.begin(), rows_.end(),
              [](const Row& a, const Row& b) { return a.pivot > b.pivot; });
    return true;
  }
  // Reduces v by the stored rows; combo accumulates the inputs used.
  void reduce(uint64_t& v, uint64_t& combo) const {
    for (const Row& r : rows_)
      if (v >> r.pivot & 1) {
        v ^= r.vec;
        combo ^= r.combo;
      }
  }
  bool contains(uint64_t v) const {
    uint64_t c = 0;
    reduce(v, c);
    return v == 0;
  }
  int rank() const { return static_cast<int>(rows_.size()); }

private:
  struct Row {
    uint64_t vec;
    uint64_t combo;
    int pivot;
  };
  std::vector<Row> rows_; // sorted by decreasing pivot
};

} // namespace

const char* in_dim_name(InDim d) {
  switch (d) {
  case InDim::Register:
    return "register";
  case InDim::Lane:
    return "lane";
  case InDim::Warp:
    return "warp";
  case InDim::Block:
    return "block";
  }
  TESSEL_UNREACHABLE("bad InDim");
}

const char* conversion_kind_name(ConversionKind k) {
  switch (k) {
  case ConversionKind::None:
    return "none";
  case ConversionKind::Registers:
    return "registers";
  case ConversionKind::WarpShuffle:
    return "warp-shuffle";
  case ConversionKind::SharedMemory:
    return "shared-memory";
  }
  TESSEL_UNREACHABLE("bad ConversionKind");
}

LinearLayout::LinearLayout(std::array<std::vector<Basis>, kNumInDims> bases,
                           std::vector<int32_t> out_shape)
    : bases_(std::move(bases)), out_shape_(std::move(out_shape)) {
  check_invariants();
}

LinearLayout LinearLayout::empty(std::vector<int32_t> out_shape) {
  return LinearLayout({}, std::move(out_shape));
}

void LinearLayout::check_invariants() const {
  for (int32_t s : out_shape_)
    TESSEL_ASSERT(s >= 1 && std::has_single_bit(static_cast<uint32_t>(s)),
                  "layout output sizes must be powers of two");
  TESSEL_ASSERT(total_out_bits() <= 62, "layouts are limited to 2^62 elements");
  for (const auto& dim : bases_)
    for (const Basis& b : dim) {
      TESSEL_ASSERT(b.size() == out_shape_.size(), "a basis needs one coordinate per output dim");
      for (size_t d = 0; d < b.size(); ++d)
        TESSEL_ASSERT(b[d] >= 0 && b[d] < out_shape_[d], "basis coordinate out of range");
    }
}

LinearLayout LinearLayout::blocked(const std::vector<int32_t>& shape,
                                   const std::vector<int32_t>& size_per_thread,
                                   const std::vector<int32_t>& threads_per_warp,
                                   const std::vector<int32_t>& warps_per_cta,
                                   const std::vector<int>& order) {
  const size_t rank = shape.size();
  TESSEL_ASSERT(size_per_thread.size() == rank && threads_per_warp.size() == rank &&
                    warps_per_cta.size() == rank && order.size() == rank,
                "blocked layout parameters need one entry per dimension");
  std::array<std::vector<Basis>, kNumInDims> bases;
  // Next coordinate bit to assign along each dimension; bits at or past the shape's become zero
  // bases (replication).
  std::vector<int> next_bit(rank, 0);
  auto push = [&](InDim in, int dim) {
    Basis b(rank, 0);
    if ((int64_t(1) << next_bit[dim]) < shape[dim])
      b[dim] = int32_t(1) << next_bit[dim];
    ++next_bit[dim];
    bases[static_cast<int>(in)].push_back(std::move(b));
  };
  for (int dim : order)
    for (int i = 0; i < log2_exact(size_per_thread[dim]); ++i)
      push(InDim::Register, dim);
  for (int dim : order)
    for (int i = 0; i < log2_exact(threads_per_warp[dim]); ++i)
      push(InDim::Lane, dim);
  for (int dim : order)
    for (int i = 0; i < log2_exact(warps_per_cta[dim]); ++i)
      push(InDim::Warp, dim);
  // Repeat the tile over the rest of the shape with more registers.
  for (int dim : order)
    while ((int64_t(1) << next_bit[dim]) < shape[dim])
      push(InDim::Register, dim);
  // A thread's zero register bases would only duplicate its own elements: drop them.
  auto& regs = bases[0];
  std::erase_if(regs, [](const Basis& b) {
    return std::all_of(b.begin(), b.end(), [](int32_t c) { return c == 0; });
  });
  return LinearLayout(std::move(bases), shape);
}

int LinearLayout::out_bits(int dim) const { return log2_exact(out_shape_[dim]); }

int LinearLayout::total_out_bits() const {
  int n = 0;
  for (int d = 0; d < rank(); ++d)
    n += out_bits(d);
  return n;
}

int LinearLayout::total_in_bits() const {
  int n = 0;
  for (const auto& dim : bases_)
    n += static_cast<int>(dim.size());
  return n;
}

uint64_t LinearLayout::flatten(const Basis& b) const {
  uint64_t flat = 0;
  int shift = 0;
  for (int d = rank() - 1; d >= 0; --d) {
    flat |= static_cast<uint64_t>(b[d]) << shift;
    shift += out_bits(d);
  }
  return flat;
}

LinearLayout::Basis LinearLayout::unflatten(uint64_t bits) const {
  Basis b(rank(), 0);
  for (int d = rank() - 1; d >= 0; --d) {
    b[d] = static_cast<int32_t>(bits & ((uint64_t(1) << out_bits(d)) - 1));
    bits >>= out_bits(d);
  }
  return b;
}

std::vector<int32_t> LinearLayout::apply(int32_t reg, int32_t lane, int32_t warp,
                                         int32_t block) const {
  return unflatten(static_cast<uint64_t>(apply_linear(reg, lane, warp, block)));
}

int64_t LinearLayout::apply_linear(int32_t reg, int32_t lane, int32_t warp, int32_t block) const {
  const int32_t in[kNumInDims] = {reg, lane, warp, block};
  uint64_t flat = 0;
  for (int d = 0; d < kNumInDims; ++d) {
    TESSEL_ASSERT(in[d] >= 0 && in[d] < (int32_t(1) << bases_[d].size()), "input out of range");
    for (size_t bit = 0; bit < bases_[d].size(); ++bit)
      if (in[d] >> bit & 1)
        flat ^= flatten(bases_[d][bit]);
  }
  return static_cast<int64_t>(flat);
}

std::vector<std::vector<int32_t>> LinearLayout::elements_of(int32_t lane, int32_t warp,
                                                            int32_t block) const {
  std::vector<std::vector<int32_t>> out;
  for (int32_t r = 0; r < in_size(InDim::Register); ++r)
    out.push_back(apply(r, lane, warp, block));
  return out;
}

std::vector<uint64_t> LinearLayout::columns() const {
  std::vector<uint64_t> cols;
  for (const auto& dim : bases_)
    for (const Basis& b : dim)
      cols.push_back(flatten(b));
  return cols;
}

LinearLayout LinearLayout::from_columns(const std::vector<uint64_t>& columns,
                                        const std::array<int, kNumInDims>& in_bits,
                                        std::vector<int32_t> out_shape) {
  LinearLayout shape_only = empty(out_shape);
  std::array<std::vector<Basis>, kNumInDims> bases;
  size_t j = 0;
  for (int d = 0; d < kNumInDims; ++d)
    for (int i = 0; i < in_bits[d]; ++i) {
      TESSEL_ASSERT(j < columns.size(), "fewer columns than input bits");
      bases[d].push_back(shape_only.unflatten(columns[j++]));
    }
  TESSEL_ASSERT(j == columns.size(), "more columns than input bits");
  return LinearLayout(std::move(bases), std::move(out_shape));
}

int LinearLayout::matrix_rank() const {
  Echelon e;
  for (uint64_t c : columns())
    e.add(c, 0);
  return e.rank();
}

int32_t LinearLayout::contiguous_registers(int dim) const {
  const auto& regs = bases(InDim::Register);
  int k = 0;
  for (; k < static_cast<int>(regs.size()); ++k) {
    Basis want(rank(), 0);
    want[dim] = int32_t(1) << k;
    if (regs[k] != want)
      break;
  }
  return int32_t(1) << k;
}

bool LinearLayout::is_dim_separable() const {
  for (const auto& dim : bases_)
    for (const Basis& b : dim) {
      int nonzero = 0;
      for (int32_t c : b) {
        if (c == 0)
          continue;
        if (!std::has_single_bit(static_cast<uint32_t>(c)))
          return false;
        ++nonzero;
      }
      if (nonzero > 1)
        return false;
    }
  return true;
}

std::vector<int> LinearLayout::bits_along(InDim d, int dim) const {
  std::vector<int> out;
  const auto& bs = bases(d);
  for (int i = 0; i < static_cast<int>(bs.size()); ++i)
    if (bs[i][dim] != 0)
      out.push_back(i);
  return out;
}

int64_t LinearLayout::replication() const {
  TESSEL_ASSERT(is_surjective(), "replication() requires a surjective layout");
  return int64_t(1) << (total_in_bits() - total_out_bits());
}

// Drops register bases that are zero or dependent on earlier register bases.
static void drop_redundant_registers(std::vector<LinearLayout::Basis>& regs,
                                     const LinearLayout& shape_of) {
  Echelon e;
  std::vector<LinearLayout::Basis> kept;
  for (auto& b : regs) {
    uint64_t flat = 0;
    int shift = 0;
    for (int d = shape_of.rank() - 1; d >= 0; --d) {
      flat |= static_cast<uint64_t>(b[d]) << shift;
      shift += shape_of.out_bits(d);
    }
    if (e.add(flat, 0))
      kept.push_back(b);
  }
  regs = std::move(kept);
}

LinearLayout LinearLayout::slice(int dim) const {
  TESSEL_ASSERT(dim >= 0 && dim < rank(), "slice dimension out of range");
  std::array<std::vector<Basis>, kNumInDims> bases = bases_;
  std::vector<int32_t> shape = out_shape_;
  shape.erase(shape.begin() + dim);
  for (auto& in : bases)
    for (Basis& b : in)
      b.erase(b.begin() + dim);
  drop_redundant_registers(bases[0], empty(shape));
  return LinearLayout(std::move(bases), std::move(shape));
}

LinearLayout LinearLayout::expand_dims(int dim) const {
  TESSEL_ASSERT(dim >= 0 && dim <= rank(), "expand_dims dimension out of range");
  std::array<std::vector<Basis>, kNumInDims> bases = bases_;
  std::vector<int32_t> shape = out_shape_;
  shape.insert(shape.begin() + dim, 1);
  for (auto& in : bases)
    for (Basis& b : in)
      b.insert(b.begin() + dim, 0);
  return LinearLayout(std::move(bases), std::move(shape));
}

LinearLayout LinearLayout::unbroadcast(const std::vector<int32_t>& operand_shape) const {
  TESSEL_ASSERT(static_cast<int>(operand_shape.size()) == rank(), "unbroadcast: rank mismatch");
  std::array<std::vector<Basis>, kNumInDims> bases = bases_;
  for (int d = 0; d < rank(); ++d) {
    TESSEL_ASSERT(operand_shape[d] == out_shape_[d] || operand_shape[d] == 1,
                  "unbroadcast: shape does not broadcast");
    if (operand_shape[d] == 1)
      for (auto& in : bases)
        for (Basis& b : in)
          b[d] = 0;
  }
  drop_redundant_registers(bases[0], empty(operand_shape));
  return LinearLayout(std::move(bases), operand_shape);
}

LinearLayout LinearLayout::permute(const std::vector<int>& order) const {
  TESSEL_ASSERT(static_cast<int>(order.size()) == rank(), "permute: order needs rank entries");
  std::array<std::vector<Basis>, kNumInDims> bases = bases_;
  std::vector<int32_t> shape(rank());
  for (int i = 0; i < rank(); ++i)
    shape[i] = out_shape_[order[i]];
  for (auto& in : bases)
    for (Basis& b : in) {
      Basis p(rank());
      for (int i = 0; i < rank(); ++i)
        p[i] = b[order[i]];
      b = std::move(p);
    }
  return LinearLayout(std::move(bases), std::move(shape));
}

LinearLayout LinearLayout::reshape(const std::vector<int32_t>& shape) const {
  int64_t old_n = 1, new_n = 1;
  for (int32_t s : out_shape_)
    old_n *= s;
  for (int32_t s : shape)
    new_n *= s;
  TESSEL_ASSERT(old_n == new_n, "reshape must keep the number of elements");
  std::array<int, kNumInDims> in_bits{};
  for (int d = 0; d < kNumInDims; ++d)
    in_bits[d] = static_cast<int>(bases_[d].size());
  return from_columns(columns(), in_bits, shape);
}

std::vector<uint64_t> LinearLayout::pseudo_inverse_columns() const {
  Echelon e;
  std::vector<uint64_t> cols = columns();
  for (size_t j = 0; j < cols.size(); ++j)
    e.add(cols[j], uint64_t(1) << j);
  TESSEL_ASSERT(e.rank() == total_out_bits(), "pseudo_inverse requires a surjective layout");
  std::vector<uint64_t> inv;
  for (int b = 0; b < total_out_bits(); ++b) {
    uint64_t v = uint64_t(1) << b, combo = 0;
    e.reduce(v, combo);
    TESSEL_ASSERT(v == 0, "output bit not in the image");
    inv.push_back(combo);
  }
  return inv;
}

LinearLayout LinearLayout::invert() const {
  TESSEL_ASSERT(is_bijective(), "invert requires a bijective layout");
  std::vector<uint64_t> inv = pseudo_inverse_columns();
  std::array<int, kNumInDims> in_bits{total_out_bits(), 0, 0, 0};
  return from_columns(inv, in_bits, {int32_t(1) << total_in_bits()});
}

LinearLayout LinearLayout::compose(const LinearLayout& outer) const {
  TESSEL_ASSERT(outer.in_bits(InDim::Register) == total_out_bits() &&
                    outer.total_in_bits() == total_out_bits(),
                "compose: outer must read this layout's flattened output as its registers");
  std::vector<uint64_t> outer_cols = outer.columns();
  std::vector<uint64_t> result;
  for (uint64_t c : columns()) {
    uint64_t r = 0;
    for (int b = 0; b < total_out_bits(); ++b)
      if (c >> b & 1)
        r ^= outer_cols[b];
    result.push_back(r);
  }
  std::array<int, kNumInDims> in_bits{};
  for (int d = 0; d < kNumInDims; ++d)
    in_bits[d] = static_cast<int>(bases_[d].size());
  return from_columns(result, in_bits, outer.out_shape());
}

std::string LinearLayout::str() const {
  std::string out;
  for (int d = 0; d < kNumInDims; ++d) {
    if (bases_[d].empty())
      continue;
    out += fmt::format("{}{}=[", out.empty() ? "" : " ", in_dim_name(static_cast<InDim>(d)));
    for (size_t i = 0; i < bases_[d].size(); ++i)
      out += fmt::format("{}[{}]", i ? "," : "", fmt::join(bases_[d][i], ","));
    out += "]";
  }
  out += fmt::format("{}shape=[{}]", out.empty() ? "" : " ", fmt::join(out_shape_, ","));
  return out;
}

HwCoord split_in_bits(const LinearLayout& layout, uint64_t flat_in) {
  int32_t parts[kNumInDims] = {};
  int shift = 0;
  for (int d = 0; d < kNumInDims; ++d) {
    int n = layout.in_bits(static_cast<InDim>(d));
    parts[d] = static_cast<int32_t>((flat_in >> shift) & ((uint64_t(1) << n) - 1));
    shift += n;
  }
  return {parts[0], parts[1], parts[2], parts[3]};
}

ConversionKind classify_conversion(const LinearLayout& src, const LinearLayout& dst) {
  TESSEL_ASSERT(src.out_shape() == dst.out_shape(), "conversion between different shapes");
  if (src == dst)
    return ConversionKind::None;
  std::vector<uint64_t> s = src.columns(), d = dst.columns();
  auto column = [](const LinearLayout& l, const std::vector<uint64_t>& cols, InDim in, int bit) {
    int offset = 0;
    for (int i = 0; i < static_cast<int>(in); ++i)
      offset += l.in_bits(static_cast<InDim>(i));
    return bit < l.in_bits(in) ? cols[offset + bit] : uint64_t(0);
  };
  // A dst thread (l, w) needs dst(r, l, w) for every r; it has src(*, l, w) when the dst's
  // register bases and the differences dst(l) ^ src(l), dst(w) ^ src(w) of its lane and warp
  // bases lie in the span of the src's register bases (linearity). Warp shuffles suffice when
  // they lie in the span of the src's register and lane bases.
  auto fits = [&](bool with_lanes) {
    Echelon span;
    for (int i = 0; i < src.in_bits(InDim::Register); ++i)
      span.add(column(src, s, InDim::Register, i), 0);
    if (with_lanes)
      for (int i = 0; i < src.in_bits(InDim::Lane); ++i)
        span.add(column(src, s, InDim::Lane, i), 0);
    for (int i = 0; i < dst.in_bits(InDim::Register); ++i)
      if (!span.contains(column(dst, d, InDim::Register, i)))
        return false;
    for (InDim in : {InDim::Lane, InDim::Warp, InDim::Block}) {
      if (with_lanes && in == InDim::Lane) {
        for (int i = 0; i < dst.in_bits(in); ++i)
          if (!span.contains(column(dst, d, in, i)))
            return false;
        continue;
      }
      int n = std::max(src.in_bits(in), dst.in_bits(in));
      for (int i = 0; i < n; ++i)
        if (!span.contains(column(dst, d, in, i) ^ column(src, s, in, i)))
          return false;
    }
    return true;
  };
  if (fits(/*with_lanes=*/false))
    return ConversionKind::Registers;
  if (fits(/*with_lanes=*/true))
    return ConversionKind::WarpShuffle;
  return ConversionKind::SharedMemory;
}

} // namespace tessel::codegen::gpu
