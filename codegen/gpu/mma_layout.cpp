// The fragment layouts of mma.sync, tiled over warps and repetitions, the swizzled shared layout
// of staged operands, and the ldmatrix plan of an operand read (mma_layout.h).
#include "codegen/gpu/mma_layout.h"

#include "tessel/error.h"

#include <algorithm>
#include <bit>

namespace tessel::codegen::gpu {

namespace {

using Basis = LinearLayout::Basis;
using Bases = std::array<std::vector<Basis>, kNumInDims>;

constexpr int kReg = static_cast<int>(InDim::Register);
constexpr int kLane = static_cast<int>(InDim::Lane);
constexpr int kWarp = static_cast<int>(InDim::Warp);

constexpr MmaInfo kInfos[] = {
#define TESSEL_MMA(Id, M, N, K, A, C, AB, CB, NEEDS)                                               \
  {MmaInstr::Id, #Id, M, N, K, A, C, AB, CB, &Target::NEEDS},
#include "codegen/gpu/mma_instrs.def"
#undef TESSEL_MMA
};

Basis at(int32_t row, int32_t col) { return Basis{row, col}; }

// Repetitions of `step` along one dimension until `extent`: step, 2 step, 4 step, ...
void repeat(std::vector<Basis>& out, int32_t step, int32_t extent, bool along_rows) {
  for (int32_t s = step; s < extent; s *= 2)
    out.push_back(along_rows ? at(s, 0) : at(0, s));
}

// Warp bases: the M bits (warp tile m / wm), the N bits, then replication. `keep_m` / `keep_n`
// zero the bits of the other dimension for operands.
std::vector<Basis> warp_bases(int32_t m, int32_t n, std::array<int32_t, 2> warps, int num_warps,
                              bool keep_m, bool keep_n) {
  std::vector<Basis> out;
  for (int32_t w = 1; w < warps[0]; w *= 2)
    out.push_back(keep_m ? at(m / warps[0] * w, 0) : at(0, 0));
  for (int32_t w = 1; w < warps[1]; w *= 2)
    out.push_back(keep_n ? at(0, n / warps[1] * w) : at(0, 0));
  for (int32_t w = warps[0] * warps[1]; w < num_warps; w *= 2)
    out.push_back(at(0, 0));
  return out;
}

int32_t basis_value(const LinearLayout& l, InDim d, int bit) {
  return bit < l.in_bits(d) ? l.basis(d, bit)[0] : 0;
}

} // namespace

const MmaInfo& mma_info(MmaInstr id) { return kInfos[static_cast<int>(id)]; }

std::array<int32_t, 2> mma_warps(int32_t m, int32_t n, int num_warps, const MmaInfo& info) {
  TESSEL_ASSERT(m >= info.m && n >= info.n, "mma_warps: tile below one instruction");
  std::array<int32_t, 2> w{1, 1};
  for (int placed = 1; placed < num_warps; placed *= 2) {
    const int32_t tile_m = m / w[0], tile_n = n / w[1];
    const bool can_m = tile_m > info.m, can_n = tile_n > info.n;
    if (can_m && (tile_m >= tile_n || !can_n))
      w[0] *= 2;
    else if (can_n)
      w[1] *= 2;
    else
      break; // the rest of the warps replicate the tile
  }
  return w;
}

LinearLayout mma_acc_layout(const MmaInfo& info, int32_t m, int32_t n, std::array<int32_t, 2> warps,
                            int num_warps) {
  Bases b;
  b[kReg] = {at(0, 1), at(8, 0)};
  repeat(b[kReg], info.n, n / warps[1], /*along_rows=*/false);
  repeat(b[kReg], info.m, m / warps[0], /*along_rows=*/true);
  b[kLane] = {at(0, 2), at(0, 4), at(1, 0), at(2, 0), at(4, 0)};
  b[kWarp] = warp_bases(m, n, warps, num_warps, true, true);
  return LinearLayout(std::move(b), {m, n});
}

LinearLayout mma_operand_layout(const MmaInfo& info, int opidx, const std::vector<int32_t>& shape,
                                std::array<int32_t, 2> warps, int num_warps) {
  TESSEL_ASSERT(opidx == 0 || opidx == 1, "an mma operand is A (0) or B (1)");
  const int32_t e = info.per_register();
  Bases b;
  if (opidx == 0) { // A: M x K
    const int32_t m = shape[0], k = shape[1];
    for (int32_t x = 1; x < e; x *= 2)
      b[kReg].push_back(at(0, x));
    b[kReg].push_back(at(8, 0));
    b[kReg].push_back(at(0, 4 * e));
    repeat(b[kReg], info.k, k, /*along_rows=*/false);
    repeat(b[kReg], info.m, m / warps[0], /*along_rows=*/true);
    b[kLane] = {at(0, e), at(0, 2 * e), at(1, 0), at(2, 0), at(4, 0)};
    b[kWarp] = warp_bases(m, /*n=*/1, warps, num_warps, true, false);
    return LinearLayout(std::move(b), shape);
  }
  const int32_t k = shape[0], n = shape[1]; // B: K x N
  for (int32_t x = 1; x < e; x *= 2)
    b[kReg].push_back(at(x, 0));
  b[kReg].push_back(at(4 * e, 0));
  repeat(b[kReg], info.k, k, /*along_rows=*/true);
  repeat(b[kReg], info.n, n / warps[1], /*along_rows=*/false);
  b[kLane] = {at(e, 0), at(2 * e, 0), at(0, 1), at(0, 2), at(0, 4)};
  b[kWarp] = warp_bases(/*m=*/1, n, warps, num_warps, false, true);
  return LinearLayout(std::move(b), shape);
}

LinearLayout mma_shared_layout(const std::vector<int32_t>& shape, int contiguous, int elem_bytes) {
  TESSEL_ASSERT(shape.size() == 2 && (contiguous == 0 || contiguous == 1), "a 2-d operand tile");
  const int strided = 1 - contiguous;
  const int32_t cols = shape[contiguous], rows = shape[strided];
  const int32_t vec = std::min<int32_t>(cols, 16 / elem_bytes);
  const int32_t chunks = cols / vec;
  const int32_t max_phase = std::min<int32_t>(8, chunks);
  const int32_t per_phase = std::max<int32_t>(1, 8 / chunks);
  auto coord = [&](int32_t along_strided, int32_t along_contiguous) {
    Basis c(2, 0);
    c[strided] = along_strided;
    c[contiguous] = along_contiguous;
    return c;
  };
  Bases b;
  for (int32_t c = 1; c < cols; c *= 2)
    b[kReg].push_back(coord(0, c));
  for (int32_t r = 1; r < rows; r *= 2) {
    // Row bit r moves the chunk column by (r / per_phase) when it is one of the phase bits.
    const int32_t phase_bit = r / per_phase;
    const bool swizzles = r >= per_phase && phase_bit < max_phase;
    b[kReg].push_back(coord(r, swizzles ? vec * phase_bit : 0));
  }
  return LinearLayout(std::move(b), shape);
}

LinearLayout buffer_offsets(const LinearLayout& reg_layout, const LinearLayout& shared_layout) {
  TESSEL_ASSERT(reg_layout.out_shape() == shared_layout.out_shape(), "one tile, two shapes");
  return reg_layout.compose(shared_layout.invert());
}

int shared_access_width(const LinearLayout& offsets, int64_t elem_bytes) {
  int vec = static_cast<int>(std::min<int64_t>(offsets.contiguous_registers(0), 16 / elem_bytes));
  auto aligned = [&](int v) {
    const int vbits = std::countr_zero(static_cast<unsigned>(v));
    for (InDim d : {InDim::Register, InDim::Lane, InDim::Warp})
      for (int i = d == InDim::Register ? vbits : 0; i < offsets.in_bits(d); ++i)
        if (offsets.basis(d, i)[0] % v != 0)
          return false;
    return true;
  };
  while (vec > 1 && !aligned(vec))
    vec /= 2;
  return std::max(vec, 1);
}

LdMatrix plan_ldmatrix(const LinearLayout& offsets) {
  LdMatrix plan{0, false, LinearLayout::empty({1})};
  const int reg_bits = offsets.in_bits(InDim::Register);
  if (reg_bits < 1 || offsets.in_bits(InDim::Lane) != 5)
    return plan;
  auto b = [&](InDim d, int bit) { return basis_value(offsets, d, bit); };
  // Every basis but the row's three contiguous ones must keep rows 16-byte aligned.
  auto aligned_except = [&](std::initializer_list<std::pair<InDim, int>> row) {
    for (InDim d : {InDim::Register, InDim::Lane, InDim::Warp})
      for (int i = 0; i < offsets.in_bits(d); ++i) {
        bool in_row = false;
        for (const auto& [rd, ri] : row)
          in_row = in_row || (rd == d && ri == i);
        if (!in_row && (b(d, i) & 7) != 0)
          return false;
      }
    return true;
  };
  const bool direct = b(InDim::Register, 0) == 1 && b(InDim::Lane, 0) == 2 &&
                      b(InDim::Lane, 1) == 4 &&
                      aligned_except({{InDim::Register, 0}, {InDim::Lane, 0}, {InDim::Lane, 1}});
  const bool trans = b(InDim::Lane, 2) == 1 && b(InDim::Lane, 3) == 2 && b(InDim::Lane, 4) == 4 &&
                     aligned_except({{InDim::Lane, 2}, {InDim::Lane, 3}, {InDim::Lane, 4}});
  if (!direct && !trans)
    return plan;
  const int matrix_bits = std::min(2, reg_bits - 1);
  auto reg = [&](int bit) { return bit <= matrix_bits ? b(InDim::Register, bit) : 0; };
  Bases bases;
  // Lane i supplies row i % 8 of matrix i / 8.
  if (direct)
    bases[kLane] = {
        {b(InDim::Lane, 2)}, {b(InDim::Lane, 3)}, {b(InDim::Lane, 4)}, {reg(1)}, {reg(2)}};
  else
    bases[kLane] = {
        {b(InDim::Register, 0)}, {b(InDim::Lane, 0)}, {b(InDim::Lane, 1)}, {reg(1)}, {reg(2)}};
  for (int i = 1 + matrix_bits; i < reg_bits; ++i)
    bases[kReg].push_back({b(InDim::Register, i)});
  for (int i = 0; i < offsets.in_bits(InDim::Warp); ++i)
    bases[kWarp].push_back({b(InDim::Warp, i)});
  plan.num = 1 << matrix_bits;
  plan.trans = trans;
  plan.address = LinearLayout(std::move(bases), offsets.out_shape());
  return plan;
}

} // namespace tessel::codegen::gpu
