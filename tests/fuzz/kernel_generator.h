// The differential fuzzer's generator: bytes in, a random DSL kernel and its launch out.
//
// The first bytes are a header (FuzzedDataProvider-style, decoded by ByteReader): the block shape
// (1-D or 2-D, powers of two, at most 1024 elements), the number of programs, num_warps, the valid
// extents n0/n1 (often not powers of two, so masks cut tiles), the element types of three input
// buffers and of the output, the seed of the input values, a loop trip count and the number of
// steps. The rest are the steps, decoded *while the kernel is traced*: each picks an op and its
// operands among the values made so far (the tiles loaded from the inputs, index tiles and every
// result), reading their real types from the tracer, so that nearly every input traces. Steps are
// elementwise arithmetic with edge-case literals, integer division and shifts, comparisons and
// tl::where, casts (out of range too), the math functions, reductions along an axis brought back
// by expand_dims, reshape and transpose round trips, a run-time for_range whose body updates a
// carried value, and a tl::if_ on a scalar condition. The last full tile and one more are cast to
// the output type and stored under the mask (sometimes narrowed by a computed mask) into the two
// halves of the output buffer.
//
// Decoding is deterministic: the same bytes give the same kernel on every trace (the kernel is
// traced once per backend, and loop bodies twice), because each trace decodes the steps afresh
// and a loop body rewinds to its own first byte.
#pragma once

#include "tessel/dtype.h"
#include "tessel/jit/kernel.h"

#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

namespace tessel::fuzz {

// Reads integers from a byte string; past its end every read gives 0 (so a short input is still a
// kernel, the smallest one).
class ByteReader {
public:
  explicit ByteReader(std::span<const uint8_t> bytes) : bytes_(bytes) {}
  uint8_t byte() { return pos_ < bytes_.size() ? bytes_[pos_++] : 0; }
  uint32_t u32() {
    uint32_t v = 0;
    for (int i = 0; i < 4; ++i)
      v = v << 8 | byte();
    return v;
  }
  // A value in [0, n) (n > 0).
  uint32_t below(uint32_t n) { return n <= 256 ? byte() % n : u32() % n; }
  bool flip() { return byte() & 1; }
  size_t position() const { return pos_; }
  void seek(size_t pos) { pos_ = pos; }
  bool done() const { return pos_ >= bytes_.size(); }

private:
  std::span<const uint8_t> bytes_;
  size_t pos_ = 0;
};

// What the header decides: the launch and the buffers.
struct KernelShape {
  std::vector<int64_t> block; // 1 or 2 dims, powers of two
  int64_t programs = 1;       // along grid axis 0
  int num_warps = 4;          // 1, 2, 4 or 8
  int64_t n0 = 0, n1 = 0;     // valid rows (of all programs) and columns
  DType inputs[3] = {DType::f32, DType::f32, DType::f32};
  DType output = DType::f32;
  uint32_t seed = 0;     // of the input values
  int64_t trips = 0;     // the run-time trip count of generated loops (an Int argument)
  int steps = 0;         // 3 to 30
  size_t body_begin = 0; // where the steps start in the bytes

  int64_t tile_elements() const;
  // Elements of each buffer: one tile per program.
  int64_t buffer_elements() const { return tile_elements() * programs; }
  std::string str() const; // "block [4, 32] x 3 programs, num_warps 2, n0 11, n1 29, ..."
};

KernelShape decode_shape(std::span<const uint8_t> bytes);

// The kernel of `bytes`: (out, a, b, c, n0, n1, trips). It keeps a copy of the bytes.
Kernel make_kernel(std::span<const uint8_t> bytes, const KernelShape& shape);

// The input buffers' bytes for `shape` (random from its seed, with NaN, infinities, -0, the
// integer types' extremes and shift-width values mixed in), and the poison the output (two
// halves of buffer_elements()) starts as.
std::vector<uint8_t> make_input(const KernelShape& shape, int which);
std::vector<uint8_t> make_poisoned_output(const KernelShape& shape);

} // namespace tessel::fuzz
