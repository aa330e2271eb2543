// The differential fuzzer's kernel generator (kernel_generator.h): the header, the steps decoded
// at trace time, and the input values.
#include "kernel_generator.h"

#include "reference_scalars.h"

#include "tessel/lang/control.h"
#include "tessel/lang/ops.h"
#include "tessel/lang/tensor.h"

#include <algorithm>
#include <cmath>
#include <functional>
#include <limits>

namespace tessel::fuzz {

namespace {

namespace tl = tessel::lang;
using tl::BinaryOp;
using tl::Tensor;

// The element types the generator gives buffers and casts to (fp8 is a storage format with rules
// of its own, left to tests/device/fp8_test.cpp).
constexpr DType kTypes[] = {DType::i8,  DType::i16,  DType::i32, DType::i64,
                            DType::u8,  DType::u16,  DType::u32, DType::u64,
                            DType::f16, DType::bf16, DType::f32, DType::f64};
constexpr size_t kNumTypes = sizeof kTypes / sizeof kTypes[0];
// Values alive at once; the pool never reallocates (the tracer tracks handles by address).
constexpr size_t kMaxValues = 512;

bool is_float_type(DType t) { return dtype_is_float(t); }
bool is_int_type(DType t) { return !dtype_is_float(t) && t != DType::i1; }
DType kind(DType t) { return static_cast<DType>(t); }

SourceLoc here(std::source_location l = std::source_location::current()) {
  return SourceLoc::from(l);
}

// The integer literals that find the edges: zero, signs, shift widths, each type's extremes.
constexpr double kIntLiterals[] = {0,     1,    -1,      2,    3,      7,          8,
                                   15,    16,   31,      32,   33,     63,         64,
                                   100,   -128, 127,     255,  -32768, 2147483647, -2147483648.0,
                                   65535, -7,   1 << 20, 4096, -100};
constexpr double kFloatLiterals[] = {0.5,
                                     -0.0,
                                     0.0,
                                     1.0,
                                     -2.0,
                                     3.0,
                                     0.1,
                                     1e-3,
                                     65504.0,
                                     1e30,
                                     std::numeric_limits<double>::infinity(),
                                     -std::numeric_limits<double>::infinity(),
                                     std::numeric_limits<double>::quiet_NaN(),
                                     0.75,
                                     -1.5};

class Builder {
public:
  Builder(std::span<const uint8_t> bytes, const KernelShape& shape, tl::Ptr out,
          std::array<tl::Ptr, 3> in, tl::Int n0, tl::Int n1, tl::Int trips)
      : r_(bytes), s_(shape), out_(out), in_(in), n0_(n0), n1_(n1), trips_(trips) {
    pool_.reserve(kMaxValues);
  }

  void build() {
    r_.seek(s_.body_begin);
    index_tiles();
    for (int i = 0; i < 3; ++i)
      push(load_input(i));
    for (int i = 0; i < s_.steps; ++i)
      step(/*depth=*/0);
    store_result();
  }

private:
  // ---- the frame: offsets and the mask of this program's tile ------------------------------

  void index_tiles() {
    Tensor pid = tl::program_id(0);
    if (s_.block.size() == 1) {
      Tensor idx = pid * s_.block[0] + tl::arange(0, s_.block[0]);
      offs_ = idx;
      mask_ = idx < n0_;
    } else {
      Tensor rows = tl::expand_dims(pid * s_.block[0] + tl::arange(0, s_.block[0]), 1);
      Tensor cols = tl::expand_dims(tl::arange(0, s_.block[1]), 0);
      offs_ = rows * s_.block[1] + cols;
      mask_ = (rows < n0_) & (cols < n1_);
      push(rows);
      push(cols);
    }
    push(offs_);
  }

  Tensor load_input(int which) {
    Tensor p = in_[size_t(which)] + offs_;
    switch (r_.below(3)) {
    case 0:
      return tl::load(p, mask_);
    case 1:
      return tl::load(p, mask_, literal_for(s_.inputs[which]));
    default: // a tile the kernel reads whole: every address is in the buffer
      return tl::load(p);
    }
  }

  // Two stores: the most recent full tile into the output's first half, and one chosen by the
  // bytes (often another recent one) into its second half, so that more of the steps reach an
  // output (the rest is removed as dead code by the backends, not checked).
  void store_result() {
    store_at(0, latest_full());
    store_at(s_.buffer_elements(), pick([&](const Tensor& t) { return full(t); }));
  }

  void store_at(int64_t base, const Tensor& v) {
    Tensor mask = mask_;
    if (r_.flip())
      if (Tensor m = pick([&](const Tensor& t) { return t.dtype() == DType::i1; }); m.valid())
        mask = mask_ & tl::broadcast_to(m, s_.block);
    tl::store(out_ + (offs_ + base), tl::broadcast_to(v, s_.block).to(s_.output), mask);
  }

  // ---- the pool of values -----------------------------------------------------------------

  void push(const Tensor& t) {
    if (pool_.size() < kMaxValues)
      pool_.push_back(t);
  }

  // One of the values satisfying `want`, chosen by the bytes; an empty handle when none does.
  Tensor pick(const std::function<bool(const Tensor&)>& want) {
    size_t i = pick_index(want);
    return i < pool_.size() ? pool_[i] : Tensor();
  }
  // Half the time one of the three most recent matches, so that results feed later steps (and
  // the stored value depends on more than one op); else any match. pool_.size() when none.
  size_t pick_index(const std::function<bool(const Tensor&)>& want) {
    std::vector<size_t> ok;
    for (size_t i = 0; i < pool_.size(); ++i)
      if (want(pool_[i]))
        ok.push_back(i);
    if (ok.empty())
      return pool_.size();
    if (r_.flip())
      return ok[ok.size() - 1 - r_.below(uint32_t(std::min<size_t>(3, ok.size())))];
    return ok[r_.below(uint32_t(ok.size()))];
  }
  static bool numeric(const Tensor& t) { return t.dtype() != DType::i1; }
  static bool integer(const Tensor& t) { return is_int_type(t.dtype()); }
  static bool floating(const Tensor& t) { return is_float_type(t.dtype()); }
  bool full(const Tensor& t) const { return t.shape() == s_.block; }

  // The most recent value of the tile's shape (loads always are).
  Tensor latest_full() {
    for (size_t i = pool_.size(); i-- > 0;)
      if (full(pool_[i]))
        return pool_[i];
    return offs_;
  }

  double literal_for(DType t) {
    if (is_float_type(t))
      return kFloatLiterals[r_.below(sizeof kFloatLiterals / sizeof(double))];
    for (int tries = 0; tries < 4; ++tries) {
      double v = kIntLiterals[r_.below(sizeof kIntLiterals / sizeof(double))];
      if (integer_fits(v, t))
        return v;
    }
    return 1;
  }

  // ---- steps --------------------------------------------------------------------------------

  void step(int depth) {
    switch (r_.below(depth < 2 ? 18 : 16)) {
    case 0:
    case 1:
      return arithmetic();
    case 2:
      return with_literal();
    case 3:
      return bitwise();
    case 4:
      return compare();
    case 5:
      return where();
    case 6:
      return min_max();
    case 7:
      return unary();
    case 8:
      return fma();
    case 9:
      return cast();
    case 10:
      return reduction();
    case 11:
      return reshape_round_trip();
    case 12:
      return transpose_round_trip();
    case 13:
      return scan_or_arg_reduction();
    case 14:
      return dot();
    case 15:
      return with_literal();
    case 16:
      return loop(depth);
    default:
      return branch(depth);
    }
  }

  // a op b with promotion; / and % get operands of one signedness (mixing them is a trace error).
  void arithmetic() {
    static constexpr BinaryOp ops[] = {BinaryOp::Add, BinaryOp::Sub, BinaryOp::Mul, BinaryOp::Div,
                                       BinaryOp::Rem};
    Tensor a = pick(numeric), b = pick(numeric);
    BinaryOp op = ops[r_.below(5)];
    if ((op == BinaryOp::Div || op == BinaryOp::Rem) && integer(a) && integer(b) &&
        dtype_is_unsigned(a.dtype()) != dtype_is_unsigned(b.dtype()))
      b = b.to(a.dtype());
    push(tl::binary(op, a, b, here()));
  }

  void with_literal() {
    static constexpr BinaryOp ops[] = {BinaryOp::Add, BinaryOp::Sub, BinaryOp::Mul, BinaryOp::Div,
                                       BinaryOp::Rem, BinaryOp::Shl, BinaryOp::Shr, BinaryOp::And};
    Tensor a = pick(numeric);
    BinaryOp op = ops[r_.below(integer(a) ? 8 : 5)];
    bool left = r_.flip();
    double v = literal_for(a.dtype());
    push(tl::binary_scalar(op, a, v, /*integral=*/!is_float_type(a.dtype()), left, here()));
  }

  void bitwise() {
    static constexpr BinaryOp ops[] = {BinaryOp::And, BinaryOp::Or, BinaryOp::Xor, BinaryOp::Shl,
                                       BinaryOp::Shr};
    Tensor a = pick(integer), b = pick(integer);
    if (!a.valid())
      return;
    if (r_.flip()) {
      push(tl::umulhi(a, b.to(a.dtype())));
      return;
    }
    push(tl::binary(ops[r_.below(5)], a, b, here()));
  }

  void compare() {
    static constexpr BinaryOp ops[] = {BinaryOp::Lt, BinaryOp::Le, BinaryOp::Gt,
                                       BinaryOp::Ge, BinaryOp::Eq, BinaryOp::Ne};
    Tensor a = pick(numeric), b = pick(numeric);
    push(tl::binary(ops[r_.below(6)], a, b, here()));
  }

  void where() {
    Tensor c = pick([](const Tensor& t) { return t.dtype() == DType::i1; });
    if (!c.valid())
      return compare();
    Tensor a = pick(numeric);
    if (r_.flip())
      push(tl::where(c, a, literal_for(a.dtype())));
    else
      push(tl::where(c, a, pick(numeric)));
  }

  void min_max() {
    Tensor a = pick(numeric), b = pick(numeric);
    push(r_.flip() ? tl::minimum(a, b) : tl::maximum(a, b));
  }

  void unary() {
    Tensor a = pick(numeric);
    if (integer(a)) {
      switch (r_.below(5)) {
      case 0:
        return push(-a);
      case 1:
        return push(tl::abs(a));
      case 2:
        return push(~a);
      case 3:
        return push(tl::popc(a));
      default:
        return push(tl::clz(a));
      }
    }
    using Fn = Tensor (*)(const Tensor&, std::source_location);
    static constexpr Fn fns[] = {tl::abs,  tl::floor,   tl::ceil,  tl::sqrt, tl::exp,  tl::log,
                                 tl::tanh, tl::sigmoid, tl::rsqrt, tl::exp2, tl::log2, tl::erf};
    // The page bounds the math functions in f32 only: f64 gets the exact ones.
    if (r_.below(13) == 12 || a.dtype() == DType::f64)
      return push(r_.flip() ? -a : fns[r_.below(4)](a, std::source_location::current()));
    push(fns[r_.below(12)](a, std::source_location::current()));
  }

  void fma() {
    Tensor a = pick(floating);
    if (!a.valid())
      return;
    push(tl::fma(a, pick(numeric), pick(numeric)));
  }

  void cast() {
    Tensor a = pick([](const Tensor&) { return true; });
    DType to = r_.below(8) == 0 ? DType::i1 : kTypes[r_.below(kNumTypes)];
    // docs/semantics.md: a 64-bit integer above 2^53 may round twice on its way to bf16.
    if (to == DType::bf16 && (a.dtype() == DType::i64 || a.dtype() == DType::u64))
      to = DType::f32;
    push(a.to(to));
  }

  // A reduction along one axis, brought back to the tile's rank by expand_dims (1-D tiles reduce
  // to a scalar, which broadcasts).
  void reduction() {
    Tensor a =
        pick([&](const Tensor& t) { return numeric(t) && t.rank() == int(s_.block.size()); });
    if (!a.valid())
      return;
    int axis = int(r_.below(uint32_t(s_.block.size())));
    int which = dtype_is_unsigned(a.dtype()) ? 0 : int(r_.below(3)); // no max/min on unsigned
    Tensor r = which == 0 ? tl::sum(a, axis) : which == 1 ? tl::max(a, axis) : tl::min(a, axis);
    push(s_.block.size() == 1 ? r : tl::expand_dims(r, axis));
  }

  // cumsum along an axis (the shape stays), or argmax/argmin brought back by expand_dims. Unsigned
  // tiles go through i64 (argmax/argmin have no unsigned form yet).
  void scan_or_arg_reduction() {
    Tensor a =
        pick([&](const Tensor& t) { return numeric(t) && t.rank() == int(s_.block.size()); });
    if (!a.valid())
      return;
    if (dtype_is_unsigned(a.dtype()))
      a = a.to(DType::i64);
    int axis = int(r_.below(uint32_t(s_.block.size())));
    if (r_.flip())
      return push(tl::cumsum(a, axis));
    Tensor r = r_.flip() ? tl::argmax(a, axis) : tl::argmin(a, axis);
    push(s_.block.size() == 1 ? r : tl::expand_dims(r, axis));
  }

  // A square tile times itself-shaped tile on the tensor cores: f16 or bf16 operands with an f32
  // accumulator (products exact, the sum's order unspecified), or i8 with i32 (exact).
  void dot() {
    if (s_.block.size() != 2 || s_.block[0] != s_.block[1] || s_.block[0] < 16)
      return with_literal();
    static constexpr DType operand_types[] = {DType::f16, DType::bf16, DType::i8};
    DType t = operand_types[r_.below(3)];
    Tensor a = pick([&](const Tensor& x) { return full(x) && numeric(x); });
    Tensor b = pick([&](const Tensor& x) { return full(x) && numeric(x); });
    Tensor acc = pick([&](const Tensor& x) { return full(x) && numeric(x); });
    if (!a.valid())
      return;
    DType acc_type = t == DType::i8 ? DType::i32 : DType::f32;
    if (r_.flip())
      return push(tl::dot(a.to(t), b.to(t), acc.to(acc_type)));
    push(tl::dot(a.to(t), b.to(t)));
  }

  void reshape_round_trip() {
    Tensor a = pick([&](const Tensor& t) { return full(t); });
    int64_t n = s_.tile_elements();
    if (!a.valid() || n < 2)
      return;
    std::vector<int64_t> other =
        s_.block.size() == 2 ? std::vector<int64_t>{n} : std::vector<int64_t>{2, n / 2};
    if (s_.block.size() == 2 && r_.flip())
      other = {s_.block[1], s_.block[0]};
    Tensor t = tl::reshape(a, other);
    if (r_.flip()) // depends on where each element went, so a wrong order shows
      t = t + position(other);
    push(tl::reshape(t, s_.block));
  }

  // The row-major index of each element of a tile of `shape` (rank 1 or 2), as i32.
  static Tensor position(const std::vector<int64_t>& shape) {
    if (shape.size() == 1)
      return tl::arange(0, shape[0]);
    return tl::expand_dims(tl::arange(0, shape[0]), 1) * shape[1] +
           tl::expand_dims(tl::arange(0, shape[1]), 0);
  }

  void transpose_round_trip() {
    if (s_.block.size() != 2)
      return with_literal();
    Tensor a = pick([&](const Tensor& t) { return full(t); });
    Tensor b = pick([&](const Tensor& t) { return full(t) && numeric(t); });
    Tensor t = tl::trans(a);
    if (b.valid() && numeric(a) && r_.flip())
      t = tl::maximum(t, tl::trans(b));
    if (r_.flip())
      t = t + position({s_.block[1], s_.block[0]});
    push(tl::trans(t));
  }

  // ---- control flow -------------------------------------------------------------------------

  // `v` as a new value of pool_[k]: its element type, broadcast to its shape when it can be.
  void assign(size_t k, const Tensor& v) {
    Tensor& target = pool_[k];
    std::vector<int64_t> want = target.shape(), have = v.shape();
    bool fits = have.empty() || have.size() == want.size();
    for (size_t d = 0; fits && d < have.size(); ++d)
      fits = have[d] == want[d] || have[d] == 1;
    if (!fits)
      return;
    Tensor w = have == want ? v : tl::broadcast_to(v, want);
    target = w.to(target.dtype());
  }

  // Runs `count` steps from byte `begin` as one body; returns where the body's bytes end.
  size_t body(size_t begin, size_t outer, int count, size_t target, int depth) {
    r_.seek(begin);
    pool_.resize(outer);
    for (int i = 0; i < count; ++i)
      step(depth + 1);
    assign(target, pool_.back());
    return r_.position();
  }

  void loop(int depth) {
    if (pool_.size() + 64 > kMaxValues)
      return with_literal();
    size_t target = pick_index([](const Tensor&) { return true; });
    int count = 1 + int(r_.below(3));
    bool runtime_trips = r_.flip();
    int64_t lo = r_.below(3), hi = r_.below(6), step = 1 + r_.below(2);
    const size_t outer = pool_.size(), begin = r_.position();
    size_t end = begin;
    auto fn = [&](tl::Int iv) {
      pool_.resize(outer);
      push(iv);
      end = body(begin, outer + 1, count, target, depth);
    };
    if (runtime_trips)
      tl::for_range(0, trips_, 1, fn);
    else
      tl::for_range(lo, hi, step, fn);
    pool_.resize(outer);
    r_.seek(end);
  }

  Tensor condition() {
    switch (r_.below(3)) {
    case 0:
      return tl::program_id(0) == int64_t(r_.below(3));
    case 1:
      return trips_ > int64_t(r_.below(4));
    default: {
      Tensor s = pick(numeric);
      if (dtype_is_unsigned(s.dtype())) // max has no unsigned form yet
        s = s.to(DType::i64);
      while (s.rank() > 0)
        s = tl::max(s, 0);
      return s > 0;
    }
    }
  }

  void branch(int depth) {
    Tensor c = condition();
    size_t target = pick_index([](const Tensor&) { return true; });
    int then_count = 1 + int(r_.below(2)), else_count = int(r_.below(2));
    const size_t outer = pool_.size(), begin = r_.position();
    size_t then_end = begin, else_end = begin;
    tl::if_(
        c, [&] { then_end = body(begin, outer, then_count, target, depth); },
        [&] {
          if (else_count == 0) {
            else_end = then_end;
            return;
          }
          else_end = body(then_end, outer, else_count, target, depth);
        });
    pool_.resize(outer);
    r_.seek(else_end);
  }

  ByteReader r_;
  const KernelShape& s_;
  tl::Ptr out_;
  std::array<tl::Ptr, 3> in_;
  tl::Int n0_, n1_, trips_;
  Tensor offs_, mask_;
  std::vector<Tensor> pool_;
};

// splitmix64: a fixed, portable sequence (std:: distributions differ between libraries).
struct Random {
  uint64_t state;
  uint64_t next() {
    uint64_t z = (state += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
  }
};

Elem random_int(DType t, Random& rng) {
  const DType k = kind(t);
  const uint64_t w = dtype_bytes(t) * 8, top = uint64_t(1) << (w - 1);
  // Zero, signs, shift widths, and the type's extremes (as bits: wrap() reads them).
  const uint64_t edges[] = {0, 1, ~uint64_t(0), w - 1, w, w + 1, 2, top, top - 1};
  uint64_t r = rng.next();
  Elem e;
  if (r % 4 == 0)
    e.i = wrap(k, edges[(r >> 8) % 9]);
  else if (r % 4 == 1)
    e.i = wrap(k, rng.next()); // any bits
  else
    e.i = wrap(k, uint64_t(int64_t((r >> 8) % 129) - 64)); // small, often negative
  return e;
}

Elem random_float(DType t, Random& rng) {
  const double inf = std::numeric_limits<double>::infinity();
  const double edges[] = {std::numeric_limits<double>::quiet_NaN(),
                          inf,
                          -inf,
                          -0.0,
                          0.0,
                          65504,
                          3.4e38,
                          1e-30,
                          6e-8,
                          -1.5,
                          0.5,
                          1e10};
  uint64_t r = rng.next();
  double v;
  if (r % 6 == 0)
    v = edges[(r >> 8) % 12];
  else if (r % 6 == 1)
    v = std::ldexp(double(int64_t((r >> 8) % 2001) - 1000), int((r >> 20) % 60) - 40);
  else
    v = double(int64_t((r >> 8) % 2001) - 1000) / 64; // [-15.6, 15.6] in steps of 1/64
  Elem e;
  e.f = round_to(kind(t), v);
  return e;
}

} // namespace

int64_t KernelShape::tile_elements() const {
  int64_t n = 1;
  for (int64_t d : block)
    n *= d;
  return n;
}

std::string KernelShape::str() const {
  std::string s = "block [" + std::to_string(block[0]);
  if (block.size() == 2)
    s += ", " + std::to_string(block[1]);
  s += "] x " + std::to_string(programs) + " programs, num_warps " + std::to_string(num_warps) +
       ", n0 " + std::to_string(n0) + ", n1 " + std::to_string(n1) + ", trips " +
       std::to_string(trips) + ", inputs " + dtype_name(inputs[0]) + " " + dtype_name(inputs[1]) +
       " " + dtype_name(inputs[2]) + ", output " + dtype_name(output) + ", seed " +
       std::to_string(seed) + ", " + std::to_string(steps) + " steps";
  return s;
}

KernelShape decode_shape(std::span<const uint8_t> bytes) {
  ByteReader r(bytes);
  KernelShape s;
  if (r.flip()) {
    int64_t rows = int64_t(1) << r.below(6), cols = int64_t(1) << r.below(7);
    if (r.below(3) == 0) // square tiles from 16 x 16: the ones tl::dot takes
      rows = cols = int64_t(16) << r.below(2);
    while (rows * cols > 1024)
      rows /= 2;
    s.block = {rows, cols};
  } else {
    s.block = {int64_t(1) << r.below(11)};
  }
  s.programs = 1 + r.below(3);
  s.num_warps = 1 << r.below(4);
  const int64_t rows = s.programs * s.block[0];
  s.n0 = r.below(4) == 0 ? rows : r.below(uint32_t(rows + 1));
  const int64_t cols = s.block.size() == 2 ? s.block[1] : 1;
  s.n1 = r.below(4) == 0 ? cols : r.below(uint32_t(cols + 1));
  for (DType& t : s.inputs)
    t = kTypes[r.below(kNumTypes)];
  s.output = kTypes[r.below(kNumTypes)];
  s.seed = r.u32();
  s.trips = r.below(5);
  s.steps = 3 + int(r.below(28));
  s.body_begin = r.position();
  return s;
}

Kernel make_kernel(std::span<const uint8_t> bytes, const KernelShape& shape) {
  auto kept = std::make_shared<std::vector<uint8_t>>(bytes.begin(), bytes.end());
  return tl::kernel("differential", "out, a, b, c, n0, n1, trips",
                    [kept, shape](tl::Ptr out, tl::Ptr a, tl::Ptr b, tl::Ptr c, tl::Int n0,
                                  tl::Int n1, tl::Int trips) {
                      Builder(*kept, shape, out, {a, b, c}, n0, n1, trips).build();
                    });
}

std::vector<uint8_t> make_input(const KernelShape& shape, int which) {
  const DType t = shape.inputs[which];
  const size_t n = size_t(shape.buffer_elements()), width = dtype_bytes(t);
  Random rng{uint64_t(shape.seed) * 3 + uint64_t(which)};
  std::vector<uint8_t> bytes(n * width);
  for (size_t i = 0; i < n; ++i)
    store_elem(kind(t), is_float_type(t) ? random_float(t, rng) : random_int(t, rng),
               bytes.data() + i * width);
  return bytes;
}

std::vector<uint8_t> make_poisoned_output(const KernelShape& shape) {
  return std::vector<uint8_t>(size_t(2 * shape.buffer_elements()) * dtype_bytes(shape.output),
                              0xA5);
}

} // namespace tessel::fuzz
