// `dot` on the CPU backend (codegen/cpu/lower_dot.cpp) against a plain f64 reference: f16, bf16,
// f32 and f64 operands with f32 (or their own type's) accumulators, i8 with i32, over square and
// non-square shapes with K from 16 to 128, lazy and transposed operands and accumulators, and a
// DSL matmul that carries the accumulator through a loop with masked edges. Outputs are poisoned
// (NaN, 0xCD) before the kernel writes them.
//
// Tolerances follow from ir.h's semantics, not from the implementation: f16 and bf16 operands are
// exact in f32, and so are their products (11 + 11 and 8 + 8 significant bits), so the only error
// of an f32 accumulator is one f32 rounding per step of the sum: |got - exact| <= K * 2^-24 *
// (|acc| + sum |a_ik * b_kj|). (f32 operands add one rounding per product, f64 uses 2^-53.) An
// f16 or bf16 accumulator adds one final rounding. Accumulating in f16 instead of f32 would miss
// these bounds by orders of magnitude, and the integer cases check exactness.
#include "codegen/cpu_test_util.h"
#include "support/host_array.h"
#include "tessel/tessel.h"

#include <fmt/format.h>

namespace tessel::test {
namespace {

struct Shape {
  int64_t m, n, k;
};

std::string shape_name(const Shape& s) { return fmt::format("{}x{}x{}", s.m, s.n, s.k); }

// Square and non-square tiles, K from 16 to 128, N below a vector register (2, 8), M of 1.
const std::vector<Shape>& shapes() {
  static const std::vector<Shape> all = {
      {16, 16, 16},  {32, 32, 16}, {64, 32, 32}, {16, 64, 64}, {8, 128, 128},
      {128, 16, 32}, {32, 8, 128}, {4, 2, 16},   {1, 32, 64},  {64, 64, 16},
  };
  return all;
}

// The unit roundoff of a float accumulator type (0 for integers: they must be exact).
double unit_roundoff(DType k) {
  switch (k) {
  case DType::f16:
    return std::ldexp(1.0, -11);
  case DType::bf16:
    return std::ldexp(1.0, -8);
  case DType::f32:
    return std::ldexp(1.0, -24);
  case DType::f64:
    return std::ldexp(1.0, -53);
  default:
    return 0;
  }
}

// How an operand reaches the dot: loaded, or computed lazily from an f32 load by a cast (the
// lowering then reads it through the elementwise path instead of from an array), or loaded
// transposed (a stored [K, M], b stored [N, K], each permuted: attention's q kᵀ; the lowering
// transposes such operands by blocks in registers when their dims are whole blocks).
enum class Operand : uint8_t { Loaded, CastFromF32, Transposed };

struct DotCase {
  DType in;  // a and b
  DType acc; // accumulator and result
  Shape shape;
  Operand operand = Operand::Loaded;
  bool zero_acc = false; // acc is a splat constant 0 instead of a load
};

// out[M, N] = dot(a[M, K], b[K, N], acc[M, N]), one program.
std::unique_ptr<codegen::cpu::CompiledKernel> build_dot(const DotCase& c) {
  const auto [m, n, k] = c.shape;
  KernelBuilder kb("dot");
  DType mem_in = c.operand == Operand::CastFromF32 ? DType::f32 : c.in;
  ir::Value* out = kb.arg(kb.ptr(c.acc));
  ir::Value* acc_ptr = kb.arg(kb.ptr(c.acc));
  ir::Value* a_ptr = kb.arg(kb.ptr(mem_in));
  ir::Value* b_ptr = kb.arg(kb.ptr(mem_in));
  ir::Value* a = kb.load(kb.addptr(a_ptr, kb.offsets_2d(m, k, kb.cint(k))));
  ir::Value* b = kb.load(kb.addptr(b_ptr, kb.offsets_2d(k, n, kb.cint(n))));
  if (c.operand == Operand::Transposed) {
    auto transposed = [&](ir::Value* p, int64_t rows, int64_t cols) { // [cols, rows] in memory
      ir::Value* x = kb.load(kb.addptr(p, kb.offsets_2d(cols, rows, kb.cint(rows))));
      return kb.op(Opcode::Permute, {x}, kb.t({rows, cols}, kb.s(c.in)),
                   {ir::Attr::of_ints({1, 0})});
    };
    a = transposed(a_ptr, m, k);
    b = transposed(b_ptr, k, n);
  }
  if (c.operand == Operand::CastFromF32) {
    a = kb.cast(a, kb.s(c.in));
    b = kb.cast(b, kb.s(c.in));
  }
  ir::Value* c_offs = kb.offsets_2d(m, n, kb.cint(n));
  const ir::Type* acc_type = kb.t({m, n}, kb.s(c.acc));
  ir::Value* acc = !c.zero_acc       ? kb.load(kb.addptr(acc_ptr, c_offs))
                   : is_float(c.acc) ? kb.cfloat(0, acc_type)
                                     : kb.cint(0, acc_type);
  ir::Value* r = kb.op(Opcode::Dot, {a, b, acc}, acc->type());
  kb.store(kb.addptr(out, c_offs), r);
  kb.ret();
  return codegen::cpu::compile(kb.fn);
}

std::string case_name(const DotCase& c) {
  return fmt::format("{} x {} -> {} at {}{}{}", dtype_name(c.in), dtype_name(c.in),
                     dtype_name(c.acc), shape_name(c.shape),
                     c.operand == Operand::CastFromF32  ? ", cast operands"
                     : c.operand == Operand::Transposed ? ", transposed operands"
                                                        : "",
                     c.zero_acc ? ", zero acc" : "");
}

// Runs `c` on random operands in [lo, hi] and checks every element of the result against the f64
// reference within the bound of the file comment.
void check_dot(const DotCase& c, double lo, double hi, uint32_t seed) {
  SCOPED_TRACE(case_name(c));
  const auto [m, n, k] = c.shape;
  DType mem_in = c.operand == Operand::CastFromF32 ? DType::f32 : c.in;
  Buffer a(mem_in, size_t(m * k)), b(mem_in, size_t(k * n)), acc(c.acc, size_t(m * n));
  Buffer out(c.acc, size_t(m * n)); // poisoned
  a.fill_random(seed, lo, hi);
  b.fill_random(seed + 1, lo, hi);
  acc.fill_random(seed + 2, lo, hi);
  auto kernel = build_dot(c);
  void *po = out.data(), *pc = acc.data(), *pa = a.data(), *pb = b.data();
  launch(*kernel, {&po, &pc, &pa, &pb}, {1, 1, 1});
  // The operands as the dot sees them (rounded to c.in when cast from f32); a(i, p) and b(p, j).
  auto operand = [&](const Buffer& x, size_t i) { return round_to(c.in, x.get(i)); };
  const bool tr = c.operand == Operand::Transposed;
  auto a_at = [&](int64_t i, int64_t p) { return operand(a, size_t(tr ? p * m + i : i * k + p)); };
  auto b_at = [&](int64_t p, int64_t j) { return operand(b, size_t(tr ? j * k + p : p * n + j)); };
  double u = unit_roundoff(c.acc == DType::f16 || c.acc == DType::bf16 ? DType::f32 : c.acc);
  // f32 and f64 products round once each (unless fused); f16 and bf16 ones are exact in f32.
  double product_u = c.in == DType::f32 || c.in == DType::f64 ? unit_roundoff(c.in) : 0;
  for (int64_t i = 0; i < m; ++i)
    for (int64_t j = 0; j < n; ++j) {
      double init = c.zero_acc ? 0.0 : acc.get(size_t(i * n + j));
      double want = init, magnitude = std::fabs(init);
      for (int64_t p = 0; p < k; ++p) {
        double prod = a_at(i, p) * b_at(p, j);
        want += prod;
        magnitude += std::fabs(prod);
      }
      // 1% over the first-order bound covers the (K u)^2 terms.
      double bound = 1.01 * (double(k) * u + product_u) * magnitude;
      double got = out.get(size_t(i * n + j));
      if (c.acc == DType::f16 || c.acc == DType::bf16)
        bound += unit_roundoff(c.acc) * (std::fabs(want) + bound);
      ASSERT_LE(std::fabs(got - want), bound)
          << "at " << i << "," << j << ": got " << got << ", want " << want;
    }
}

TEST(CpuDot, F16OperandsF32AccMatchReference) {
  for (const Shape& s : shapes())
    check_dot({DType::f16, DType::f32, s}, -2, 2, 11);
}

TEST(CpuDot, BF16OperandsF32AccMatchReference) {
  for (const Shape& s : shapes())
    check_dot({DType::bf16, DType::f32, s}, -2, 2, 21);
}

TEST(CpuDot, F32OperandsMatchReference) {
  for (const Shape& s : shapes())
    check_dot({DType::f32, DType::f32, s}, -2, 2, 31);
}

TEST(CpuDot, F64OperandsAccumulateInF64) {
  for (const Shape& s : {Shape{16, 16, 16}, Shape{32, 64, 128}, Shape{8, 2, 32}})
    check_dot({DType::f64, DType::f64, s}, -2, 2, 41);
}

// f16 x f16 -> f16 and bf16 x bf16 -> bf16: accumulated in f32, rounded once.
TEST(CpuDot, HalfAccumulatorsRoundOnce) {
  for (const Shape& s : {Shape{16, 16, 16}, Shape{32, 64, 128}, Shape{64, 8, 32}}) {
    check_dot({DType::f16, DType::f16, s}, -1, 1, 51);
    check_dot({DType::bf16, DType::bf16, s}, -1, 1, 52);
  }
}

TEST(CpuDot, LazyOperandsAndConstantAccumulator) {
  for (DType in : {DType::f16, DType::bf16, DType::f32}) {
    check_dot({in, DType::f32, {32, 64, 32}, Operand::CastFromF32}, -3, 3, 61);
    check_dot({in, DType::f32, {16, 128, 16}, Operand::Loaded, /*zero_acc=*/true}, -3, 3, 62);
  }
}

// Transposed a and b, every shape: whole blocks of the vector width (16 x 16 f32 with AVX-512)
// take the in-register transposition, the others (N of 2 or 8, M of 1 or 4) the element copy.
TEST(CpuDot, TransposedOperandsMatchReference) {
  for (const Shape& s : shapes()) {
    check_dot({DType::f32, DType::f32, s, Operand::Transposed}, -2, 2, 91);
    check_dot({DType::bf16, DType::f32, s, Operand::Transposed}, -2, 2, 92);
    check_dot({DType::i8, DType::i32, s, Operand::Transposed}, -128, 127, 93);
  }
  check_dot({DType::f64, DType::f64, {32, 64, 128}, Operand::Transposed}, -2, 2, 94);
}

// i8 x i8 -> i32: exact, for every shape (|sums| < 2^31).
TEST(CpuDot, I8OperandsAccumulateExactlyInI32) {
  for (const Shape& s : shapes())
    check_dot({DType::i8, DType::i32, s}, -128, 127, 71);
  check_dot({DType::i8, DType::i32, {32, 32, 64}, Operand::Loaded, /*zero_acc=*/true}, -128, 127,
            72);
}

// Small integers: every partial sum is an integer below 2^24, so an f32 accumulator is exact
// while an f16 one (exact only up to 2048) or a bf16 one (256) would not be.
TEST(CpuDot, IntegerValuedHalfOperandsSumExactlyInF32) {
  for (DType in : {DType::f16, DType::bf16})
    for (const Shape& s : {Shape{32, 32, 128}, Shape{16, 64, 64}}) {
      DotCase c{in, DType::f32, s};
      SCOPED_TRACE(case_name(c));
      Buffer a(in, size_t(s.m * s.k)), b(in, size_t(s.k * s.n)), acc(DType::f32, size_t(s.m * s.n));
      Buffer out(DType::f32, size_t(s.m * s.n));
      a.fill_random(81, 0, 9); // whole numbers 0..8 (fill_random floors for integers only)
      b.fill_random(82, 0, 9);
      for (size_t i = 0; i < a.n; ++i)
        a.set(i, std::floor(a.get(i)));
      for (size_t i = 0; i < b.n; ++i)
        b.set(i, std::floor(b.get(i)) - 4);
      for (size_t i = 0; i < acc.n; ++i)
        acc.set(i, 1000.0);
      auto kernel = build_dot(c);
      void *po = out.data(), *pc = acc.data(), *pa = a.data(), *pb = b.data();
      launch(*kernel, {&po, &pc, &pa, &pb}, {1, 1, 1});
      for (int64_t i = 0; i < s.m; ++i)
        for (int64_t j = 0; j < s.n; ++j) {
          double want = 1000;
          for (int64_t p = 0; p < s.k; ++p)
            want += a.get(size_t(i * s.k + p)) * b.get(size_t(p * s.n + j));
          ASSERT_EQ(out.get(size_t(i * s.n + j)), want) << "at " << i << "," << j;
        }
    }
}

// ---- through the DSL: a matmul whose accumulator is carried through a loop over K ----------

namespace tl = tessel::lang;
using tessel::testing::HostArray;

const tessel::Kernel& tiled_matmul() {
  static const tessel::Kernel k = tl::kernel(
      "dot_test_matmul", [](tl::Ptr c, tl::Ptr a, tl::Ptr b, tl::Int M, tl::Int N, tl::Int K,
                            tl::Const<int> BM, tl::Const<int> BN, tl::Const<int> BK) {
        auto row = tl::expand_dims(tl::program_id(0) * BM + tl::arange(0, BM), 1);
        auto col = tl::expand_dims(tl::program_id(1) * BN + tl::arange(0, BN), 0);
        auto rk = tl::arange(0, BK);
        auto acc = tl::zeros({BM, BN}, tl::f32);
        tl::for_range(0, K, BK, [&](tl::Int k) {
          auto ka = tl::expand_dims(k + rk, 0);
          auto kb = tl::expand_dims(k + rk, 1);
          auto a_tile = tl::load(a + row * K + ka, (row < M) & (ka < K), 0.0);
          auto b_tile = tl::load(b + kb * N + col, (kb < K) & (col < N), 0.0);
          acc = tl::dot(a_tile, b_tile, acc);
        });
        tl::store(c + row * N + col, acc, (row < M) & (col < N));
      });
  return k;
}

// 100 x 72 x 200 (no dimension a multiple of the tile): masked edges, 4 to 13 trips over K.
TEST(CpuDot, DslMatmulWithMaskedEdgesAndCarriedAccumulator) {
  const int64_t m = 100, n = 72, k = 200;
  struct Tile {
    int bm, bn, bk;
  };
  for (DType t : {DType::f16, DType::bf16, DType::f32})
    for (Tile tile : {Tile{32, 32, 16}, Tile{64, 64, 32}, Tile{16, 128, 64}}) {
      SCOPED_TRACE(fmt::format("{} tile {}x{}x{}", dtype_name(t), tile.bm, tile.bn, tile.bk));
      HostArray a(t, size_t(m * k)), b(t, size_t(k * n)), c(DType::f32, size_t(m * n));
      a.fill_random(91, -2, 2);
      b.fill_random(92, -2, 2);
      c.poison();
      tiled_matmul().launch({(m + tile.bm - 1) / tile.bm, (n + tile.bn - 1) / tile.bn}, {}, c.arg(),
                            a.arg(), b.arg(), m, n, k, tile.bm, tile.bn, tile.bk);
      double u = unit_roundoff(DType::f32) * (t == DType::f32 ? 1 : 0);
      for (int64_t i = 0; i < m; ++i)
        for (int64_t j = 0; j < n; ++j) {
          double want = 0, magnitude = 0;
          for (int64_t p = 0; p < k; ++p) {
            double prod = a.get(size_t(i * k + p)) * b.get(size_t(p * n + j));
            want += prod;
            magnitude += std::fabs(prod);
          }
          double bound = 1.01 * (double(k) * unit_roundoff(DType::f32) + u) * magnitude;
          double got = c.get(size_t(i * n + j));
          ASSERT_LE(std::fabs(got - want), bound)
              << "at " << i << "," << j << ": got " << got << ", want " << want;
        }
    }
}

// ---- accumulating in place: only where nothing reads the accumulator afterwards ----------------

// The accumulator's array is the dot's result array only when the dot is its one reader in its
// block (lower_dot.cpp). These two kernels read it again: after the dot (mode 0: out = dot - acc)
// and on every trip of a loop it is not carried by (mode 1: out = sum over 3 trips of
// dot(a, b, acc)). Accumulating into acc's array would give 0 (mode 0), and in mode 1 a sum whose
// terms grow by a @ b each trip.
const tessel::Kernel& reread_accumulator() {
  static const tessel::Kernel k =
      tl::kernel("dot_test_reread_acc",
                 [](tl::Ptr out, tl::Ptr acc_ptr, tl::Ptr a, tl::Ptr b, tl::Const<int> M,
                    tl::Const<int> N, tl::Const<int> K, tl::Const<int> MODE) {
                   auto rows = tl::expand_dims(tl::arange(0, M), 1);
                   auto cols = tl::expand_dims(tl::arange(0, N), 0);
                   auto ks = tl::arange(0, K);
                   auto c_offs = rows * N + cols;
                   auto acc = tl::load(acc_ptr + c_offs);
                   auto a_offs = rows * K + tl::expand_dims(ks, 0);
                   auto b_offs = tl::expand_dims(ks, 1) * N + cols;
                   if (MODE == 0) {
                     auto r = tl::dot(tl::load(a + a_offs), tl::load(b + b_offs), acc);
                     tl::store(out + c_offs, r - acc);
                     return;
                   }
                   auto total = tl::zeros({M, N}, tl::f32);
                   tl::for_range(0, 3, 1, [&](tl::Int) {
                     total = total + tl::dot(tl::load(a + a_offs), tl::load(b + b_offs), acc);
                   });
                   tl::store(out + c_offs, total);
                 });
  return k;
}

// Whole numbers, so every sum is exact in f32 and the comparison is exact.
TEST(CpuDot, AccumulatorReadAgainIsNotOverwritten) {
  const int64_t m = 32, n = 64, k = 16;
  HostArray a(DType::f32, size_t(m * k)), b(DType::f32, size_t(k * n)),
      acc(DType::f32, size_t(m * n));
  a.fill_random(71, -4, 4);
  b.fill_random(72, -4, 4);
  acc.fill_random(73, -100, 100);
  for (HostArray* x : {&a, &b, &acc})
    for (size_t i = 0; i < x->size(); ++i)
      x->set(i, std::floor(x->get(i)));
  for (int mode : {0, 1}) {
    SCOPED_TRACE(mode == 0 ? "read after the dot" : "read on every trip of a loop");
    HostArray out(DType::f32, size_t(m * n));
    out.poison();
    reread_accumulator().launch({1}, {}, out.arg(), acc.arg(), a.arg(), b.arg(), int(m), int(n),
                                int(k), mode);
    for (int64_t i = 0; i < m; ++i)
      for (int64_t j = 0; j < n; ++j) {
        double ab = 0;
        for (int64_t p = 0; p < k; ++p)
          ab += a.get(size_t(i * k + p)) * b.get(size_t(p * n + j));
        double want = mode == 0 ? ab : 3 * (acc.get(size_t(i * n + j)) + ab);
        ASSERT_EQ(out.get(size_t(i * n + j)), want) << "at " << i << "," << j;
      }
  }
}

} // namespace
} // namespace tessel::test
