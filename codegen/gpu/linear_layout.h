// Linear layouts: which thread, warp and register of a GPU program holds which element of a tile.
//
// ## The idea
//
// A distributed tensor of shape 64x64 lives in the registers of 4 warps of 32 lanes. A layout
// answers "register r of lane l of warp w holds element (i, j)": it is a function
//
//     L : (register, lane, warp, block) -> (dim0, dim1, ...)
//
// from the hardware's coordinates to the tensor's. Because every size involved is a power of
// two, each coordinate is a bit vector, and every layout codegen needs (blocked, slices of
// blocked, MMA accumulators and operands, swizzled shared memory) is *linear over GF(2)*: the
// image of an input is the XOR of the images of its set bits,
//
//     L(a ^ b) = L(a) ^ L(b),
//
// so L is fully described by the image of each input bit, its *basis vectors*. The map goes
// hardware -> tensor (not the other way) because it is then a function even when several threads
// hold copies of one element (broadcast: some bases are zero) — the inverse would not be.
//
// ## A worked example
//
// A blocked layout for a 1-D tensor<16xf32>, 2 elements per thread, 4 lanes, 2 warps (think of a
// tiny "warp" of 4 lanes). Input bits: register r0; lanes l0 l1; warps w0. Output: 4 bits of i.
//
//     basis        image (i)
//     register 0   1          thread's 2 elements are adjacent
//     lane 0       2
//     lane 1       4
//     warp 0       8
//
//     (r, l, w) -> i = r*1 ^ l0*2 ^ l1*4 ^ w*8        e.g. (r=1, l=3, w=1) -> 1^2^4^8 = 15
//
//     i   : 0  1  2  3  4  5  6  7  8  9 10 11 12 13 14 15
//     lane: 0  0  1  1  2  2  3  3  0  0  1  1  2  2  3  3
//     warp: 0  0  0  0  0  0  0  0  1  1  1  1  1  1  1  1
//
// With a shape of 8 instead of 16 the warp bit would map to 0: both warps hold the same elements
// (replication). With a shape of 32 one more register basis (image 16) gives each thread a second
// pair, 16 elements away: registers {0, 1, 16, 17} for lane 0 of warp 0.
//
// ## What follows from linearity
//
//  * Vector width: a thread holds a contiguous run of 2^k elements along dimension d iff register
//    bases 0..k-1 are 1, 2, 4, ... along d and zero elsewhere (`contiguous_registers`).
//  * Conversion between layouts A and B of one tensor: C = B^-1 o A maps A's hardware
//    coordinates to B's. If C maps lane and warp bits to themselves and register bits to
//    registers, the conversion is a renaming of registers; if it keeps warp bits but moves lane
//    bits, warp shuffles do it; otherwise the data crosses warps: shared memory
//    (`classify_conversion`). Because B may replicate elements it is not invertible in general;
//    `pseudo_invert` picks for every element one owner (the lowest hardware coordinate).
//  * Slicing (the layout of a reduction's result): drop an output dimension; bases that only
//    moved along it become zero, i.e. replication.
//
// Bits are flattened as follows. Output bits are the bits of the row-major linear index of the
// element (the last dimension's bits lowest), so a layout is also a map to offsets in a row-major
// buffer. Input bits are register bits, then lane, warp, block bits, each lowest first.
//
// Layouts are values: every transformation returns a new layout and is [[nodiscard]].
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <vector>

namespace tessel::codegen::gpu {

// The hardware input dimensions, in their bit order.
enum class InDim : uint8_t { Register, Lane, Warp, Block };
inline constexpr int kNumInDims = 4;
const char* in_dim_name(InDim d); // "register", "lane", "warp", "block"

// How a conversion between two layouts of one tensor moves data (classify_conversion).
enum class ConversionKind : uint8_t {
  None,         // the layouts are equal
  Registers,    // within each thread: renaming registers
  WarpShuffle,  // within each warp: shfl.sync
  SharedMemory, // across warps: through shared memory
};
const char* conversion_kind_name(ConversionKind k);

class LinearLayout {
public:
  // One basis vector: its image, one coordinate per output dimension.
  using Basis = std::vector<int32_t>;

  // Requires: every coordinate of every basis lies in [0, out_shape[d]); every out_shape[d] a
  // power of two. Bases may be zero (replication) and need not be independent.
  LinearLayout(std::array<std::vector<Basis>, kNumInDims> bases, std::vector<int32_t> out_shape);
  // The layout of a rank-`rank` tensor of one element held by every thread (no input bits).
  static LinearLayout empty(std::vector<int32_t> out_shape);

  // A blocked layout (Triton's BlockedEncoding) of `shape`: each thread holds
  // `size_per_thread[d]` consecutive elements along d, a warp's lanes are spread
  // `threads_per_warp[d]` along d, warps `warps_per_cta[d]`; `order` lists dimensions from the
  // fastest-varying. The tile spt*tpw*wpc is repeated over a larger shape (more registers) and
  // replicated over a smaller one (zero bases).
  // Requires: all sizes powers of two; prod(threads_per_warp) = 32 (or the warp size used);
  // order a permutation of 0..rank-1.
  static LinearLayout blocked(const std::vector<int32_t>& shape,
                              const std::vector<int32_t>& size_per_thread,
                              const std::vector<int32_t>& threads_per_warp,
                              const std::vector<int32_t>& warps_per_cta,
                              const std::vector<int>& order);

  // ---- shape ----
  int rank() const { return static_cast<int>(out_shape_.size()); }
  const std::vector<int32_t>& out_shape() const { return out_shape_; }
  int out_bits(int dim) const;
  int total_out_bits() const;
  int in_bits(InDim d) const { return static_cast<int>(bases_[idx(d)].size()); }
  int32_t in_size(InDim d) const { return int32_t(1) << in_bits(d); }
  int total_in_bits() const;
  const std::vector<Basis>& bases(InDim d) const { return bases_[idx(d)]; }
  const Basis& basis(InDim d, int bit) const { return bases_[idx(d)][bit]; }

  // ---- evaluation ----
  // The tensor coordinate held by (register, lane, warp, block).
  // Requires: each input below its in_size.
  std::vector<int32_t> apply(int32_t reg, int32_t lane, int32_t warp, int32_t block = 0) const;
  // The same as a row-major linear index.
  int64_t apply_linear(int32_t reg, int32_t lane, int32_t warp, int32_t block = 0) const;
  // Coordinates of registers 0..in_size(Register)-1 of one thread, in register order: the
  // elements the thread owns (with repeats when registers replicate).
  std::vector<std::vector<int32_t>> elements_of(int32_t lane, int32_t warp,
                                                int32_t block = 0) const;

  // ---- the GF(2) matrix ----
  // Column j (input bit j in flattened order) as a bit mask over the flattened output bits.
  // Requires: total_out_bits() <= 64.
  std::vector<uint64_t> columns() const;
  // Rebuilds a layout from columns; `in_bits` gives the number of bits per input dimension.
  static LinearLayout from_columns(const std::vector<uint64_t>& columns,
                                   const std::array<int, kNumInDims>& in_bits,
                                   std::vector<int32_t> out_shape);
  // Rank of the matrix over GF(2).
  int matrix_rank() const;
  // Surjective: every element is held by some thread.
  bool is_surjective() const { return matrix_rank() == total_out_bits(); }
  // Injective: no two hardware coordinates hold the same element.
  bool is_injective() const { return matrix_rank() == total_in_bits(); }
  bool is_bijective() const { return is_surjective() && is_injective(); }

  // ---- queries for codegen ----
  // The number of consecutive elements along `dim` held by consecutive registers starting at
  // register 0: 2^k for the largest k with register bases 0..k-1 equal to 1, 2, ..., 2^(k-1)
  // along `dim` and zero elsewhere. Postcondition: a power of two >= 1.
  int32_t contiguous_registers(int dim) const;
  // True when every basis (of every input dimension) is zero or moves along exactly one output
  // dimension by one bit: the layouts reductions and scans are lowered for directly.
  bool is_dim_separable() const;
  // Input bits of `d` whose basis moves along output dimension `dim`.
  std::vector<int> bits_along(InDim d, int dim) const;
  // Number of distinct copies of each element (2^(in bits - rank)). Requires: surjective.
  int64_t replication() const;

  // ---- transformations ----
  // Output dimension `dim` removed; bases along it become zero; register bases that became zero
  // or dependent on earlier register bases are dropped (a thread keeps one copy of each element).
  // Requires: 0 <= dim < rank().
  [[nodiscard]] LinearLayout slice(int dim) const;
  // The inverse of `slice`-then-`expand_dims`: a size-1 dimension inserted at `dim` (no basis
  // moves along it). Requires: 0 <= dim <= rank().
  [[nodiscard]] LinearLayout expand_dims(int dim) const;
  // The layout for a tensor that `broadcast` expands to this one's shape: dims where
  // `operand_shape[d]` is 1 get size 1, bases along them become zero and register bases that
  // became zero or dependent are dropped. Requires: operand_shape broadcasts to out_shape().
  [[nodiscard]] LinearLayout unbroadcast(const std::vector<int32_t>& operand_shape) const;
  // Output dimensions permuted: new dim i is old dim order[i]. Requires: order a permutation.
  [[nodiscard]] LinearLayout permute(const std::vector<int>& order) const;
  // The same elements reinterpreted with a new shape of the same size (row-major reshape: the
  // flattened output bits are unchanged). Requires: prod(shape) = prod(out_shape()).
  [[nodiscard]] LinearLayout reshape(const std::vector<int32_t>& shape) const;

  // ---- composition and inversion (maps between flattened bit spaces) ----
  // A right inverse: for every output bit b, a hardware coordinate holding it, chosen by
  // Gaussian elimination preferring lower input bits (registers before lanes before warps), with
  // free bits set to zero. Postcondition: apply(pseudo_inverse(x)) = x for every element x.
  // Requires: surjective. Returned as columns: entry b is the hardware bit mask (flattened input
  // bits) holding output bit b.
  std::vector<uint64_t> pseudo_inverse_columns() const;
  // The inverse as a layout whose "register" input dimension is the tensor's flattened index and
  // whose single output dimension is the flattened hardware coordinate.
  // Requires: bijective. Postcondition: inverse().apply_linear(apply_linear(r,l,w)) = flat(r,l,w).
  [[nodiscard]] LinearLayout invert() const;
  // `outer` o this: first this (hardware -> tensor flattened), then `outer`, whose register input
  // bits are read as this layout's flattened output bits.
  // Requires: outer.in_bits(Register) == total_out_bits() and outer has no other input bits.
  [[nodiscard]] LinearLayout compose(const LinearLayout& outer) const;

  // Equality of shapes and bases.
  bool operator==(const LinearLayout& o) const = default;
  // e.g. "register=[[0,1],[0,2]] lane=[[0,4],...] warp=[...] shape=[4,64]"
  std::string str() const;

private:
  static int idx(InDim d) { return static_cast<int>(d); }
  // Checks the invariants of the constructor's Requires clause (TESSEL_ASSERT).
  void check_invariants() const;
  uint64_t flatten(const Basis& b) const; // basis -> flattened output bits
  Basis unflatten(uint64_t bits) const;

  std::array<std::vector<Basis>, kNumInDims> bases_;
  std::vector<int32_t> out_shape_;
};

// The hardware coordinate of a flattened input-bit mask.
struct HwCoord {
  int32_t reg = 0, lane = 0, warp = 0, block = 0;
  bool operator==(const HwCoord&) const = default;
};
HwCoord split_in_bits(const LinearLayout& layout, uint64_t flat_in);

// How converting a tensor from layout `src` to layout `dst` moves data: C = dst^-1 o src.
// Requires: same out_shape; dst surjective.
ConversionKind classify_conversion(const LinearLayout& src, const LinearLayout& dst);

} // namespace tessel::codegen::gpu
