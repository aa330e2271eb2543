// The paired column order of an 8-bit B operand stored along N and its ldmatrix.trans + prmt
// read (byte_transpose.h has the mapping and why it is exact).
#include "codegen/gpu/byte_transpose.h"

#include "tessel/error.h"

#include <algorithm>
#include <array>
#include <utility>

namespace tessel::codegen::gpu {

namespace {

// n bits 0, 1, 2, 3 -> 1, 2, 3, 0: the instruction's g (bits 0..2) moves up one, its second n8
// repetition (bit 3) becomes the byte within a 2-byte pair.
int32_t paired_column(int32_t n) { return (n & ~15) | ((n & 7) << 1) | ((n >> 3) & 1); }

bool is_basis(const LinearLayout::Basis& b, int32_t k, int32_t n) { return b[0] == k && b[1] == n; }

// The register bits of a paired B layout other than x0, x1, j (bits 0..2) and the pair bit.
std::vector<int> group_bits(int reg_bits, int pair_bit) {
  std::vector<int> bits;
  for (int i = 3; i < reg_bits; ++i)
    if (i != pair_bit)
      bits.push_back(i);
  return bits;
}

// The register bit of `acc`'s first n8 repetition (basis (0, 8)).
int n8_bit(const LinearLayout& acc) {
  for (int i = 0; i < acc.in_bits(InDim::Register); ++i)
    if (is_basis(acc.basis(InDim::Register, i), 0, 8))
      return i;
  TESSEL_UNREACHABLE("an accumulator without two n8 repetitions in a warp cannot be paired");
}

} // namespace

LinearLayout pair_columns(const LinearLayout& l) {
  TESSEL_ASSERT(l.rank() == 2 && l.out_shape()[1] >= 16,
                "pair_columns of a layout below 16 columns");
  std::array<std::vector<LinearLayout::Basis>, kNumInDims> bases;
  for (InDim d : {InDim::Register, InDim::Lane, InDim::Warp, InDim::Block})
    for (const LinearLayout::Basis& b : l.bases(d))
      bases[static_cast<int>(d)].push_back({b[0], paired_column(b[1])});
  return LinearLayout(std::move(bases), l.out_shape());
}

LinearLayout pair_accumulator(const LinearLayout& acc) {
  const LinearLayout paired = pair_columns(acc);
  const int p = n8_bit(acc);
  std::array<std::vector<LinearLayout::Basis>, kNumInDims> bases;
  for (InDim d : {InDim::Register, InDim::Lane, InDim::Warp, InDim::Block})
    bases[static_cast<int>(d)] = paired.bases(d);
  auto& reg = bases[static_cast<int>(InDim::Register)];
  std::rotate(reg.begin(), reg.begin() + p, reg.begin() + p + 1); // bit p first, 0..p-1 after
  return LinearLayout(std::move(bases), acc.out_shape());
}

int32_t paired_register(const LinearLayout& acc, int32_t r) {
  const int p = n8_bit(acc);
  const int32_t low = r & ((1 << p) - 1);
  return (r >> p & 1) | low << 1 | (r >> (p + 1)) << (p + 1);
}

bool is_paired_b(const LinearLayout& pb) {
  if (pb.rank() != 2 || pb.in_bits(InDim::Register) < 4 || pb.in_bits(InDim::Lane) != 5)
    return false;
  const auto& reg = pb.bases(InDim::Register);
  const auto& lane = pb.bases(InDim::Lane);
  bool pair = false;
  for (int i = 3; i < pb.in_bits(InDim::Register); ++i)
    pair = pair || is_basis(reg[i], 0, 1);
  return pair && is_basis(reg[0], 1, 0) && is_basis(reg[1], 2, 0) && is_basis(reg[2], 16, 0) &&
         is_basis(lane[0], 4, 0) && is_basis(lane[1], 8, 0) && is_basis(lane[2], 0, 2) &&
         is_basis(lane[3], 0, 4) && is_basis(lane[4], 0, 8);
}

bool can_pair_columns(const LinearLayout& b) {
  if (b.rank() != 2 || b.out_shape()[1] < 16 || b.in_bits(InDim::Register) < 4)
    return false;
  for (const LinearLayout::Basis& r : b.bases(InDim::Register))
    if (is_basis(r, 0, 8))
      return true;
  return false;
}

LinearLayout byte_transpose_rows(const LinearLayout& pb) {
  const auto& reg = pb.bases(InDim::Register);
  const auto& lane = pb.bases(InDim::Lane);
  int pair_bit = -1;
  for (int i = 0; i < pb.in_bits(InDim::Register); ++i)
    if (is_basis(reg[i], 0, 1))
      pair_bit = i;
  TESSEL_ASSERT(pair_bit >= 3 && lane.size() == 5, "byte_transpose_rows of an unpaired layout");
  std::array<std::vector<LinearLayout::Basis>, kNumInDims> bases;
  auto& r = bases[static_cast<int>(InDim::Register)];
  r = {{0, 1}, {0, 2}, {0, 4}, {0, 8}}; // the row's 16 bytes
  for (int i : group_bits(pb.in_bits(InDim::Register), pair_bit))
    r.push_back(reg[i]);
  // Address lane 8 m + i supplies row i of matrix m: i = x0 + 2 t, m = x1 + 2 j.
  bases[static_cast<int>(InDim::Lane)] = {reg[0], lane[0], lane[1], reg[1], reg[2]};
  bases[static_cast<int>(InDim::Warp)] = pb.bases(InDim::Warp);
  return LinearLayout(std::move(bases), pb.out_shape());
}

ByteTranspose::Source ByteTranspose::source(int32_t r) const {
  int32_t q = 0;
  for (size_t i = 0; i < groups.size(); ++i)
    q |= (r >> groups[i] & 1) << i;
  return {q, (r >> 1 & 1) | (r >> 2 & 1) << 1, 2 * (r & 1) + (r >> pair_bit & 1)};
}

std::optional<ByteTranspose> plan_byte_transpose(const LinearLayout& offsets) {
  const int reg_bits = offsets.in_bits(InDim::Register);
  if (offsets.rank() != 1 || reg_bits < 4 || offsets.in_bits(InDim::Lane) != 5)
    return std::nullopt;
  auto at = [&](InDim d, int i) { return offsets.basis(d, i)[0]; };
  int pair_bit = -1;
  for (int i = 3; i < reg_bits; ++i)
    if (at(InDim::Register, i) == 1)
      pair_bit = i;
  if (pair_bit < 0)
    return std::nullopt;
  // Every basis but the pair bit's and g's must move whole 16-byte rows; g's pick the 2-byte unit.
  for (int i = 0; i < reg_bits; ++i)
    if (i != pair_bit && at(InDim::Register, i) % 16 != 0)
      return std::nullopt;
  for (int i = 0; i < 2; ++i)
    if (at(InDim::Lane, i) % 16 != 0)
      return std::nullopt;
  for (int i = 2; i < 5; ++i)
    if (at(InDim::Lane, i) != 1 << (i - 1))
      return std::nullopt;
  for (int i = 0; i < offsets.in_bits(InDim::Warp); ++i)
    if (at(InDim::Warp, i) % 16 != 0)
      return std::nullopt;
  const std::vector<int> groups = group_bits(reg_bits, pair_bit);
  std::array<std::vector<LinearLayout::Basis>, kNumInDims> bases;
  for (int i : groups)
    bases[static_cast<int>(InDim::Register)].push_back({at(InDim::Register, i) / 2});
  for (auto [d, i] : {std::pair{InDim::Register, 0},
                      {InDim::Lane, 0},
                      {InDim::Lane, 1},
                      {InDim::Register, 1},
                      {InDim::Register, 2}})
    bases[static_cast<int>(InDim::Lane)].push_back({at(d, i) / 2});
  for (int i = 0; i < offsets.in_bits(InDim::Warp); ++i)
    bases[static_cast<int>(InDim::Warp)].push_back({at(InDim::Warp, i) / 2});
  LdMatrix plan{4, /*trans=*/true, LinearLayout(std::move(bases), {offsets.out_shape()[0] / 2})};
  return ByteTranspose{std::move(plan), pair_bit, offsets.in_size(InDim::Register), groups};
}

} // namespace tessel::codegen::gpu
