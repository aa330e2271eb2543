// CPU backend: reductions (sum/max/min/argmax/argmin along each axis, a custom combine region),
// scan_sum, dot, and a fused masked softmax, against plain C++ references.
#include "tests/codegen/cpu_test_util.h"

#include <fmt/format.h>

namespace tessel::test {
namespace {

constexpr int64_t kR = 8, kC = 32; // an R x C tile, R != C so that axis mix-ups show

const ir::Type* reduce_result_type(KernelBuilder& k, ir::Value* x, int64_t axis,
                                   const ir::Type* elem) {
  auto sh = k.shape(x);
  sh.erase(sh.begin() + axis);
  return k.t(sh, elem);
}

// out = reduce(in[R, C], axis), stored contiguously.
std::unique_ptr<codegen::cpu::CompiledKernel> compile_reduce(Opcode op, DType kind, int64_t axis) {
  KernelBuilder k("reduce");
  bool arg = op == Opcode::ReduceArgmax || op == Opcode::ReduceArgmin;
  DType out_kind = arg ? DType::i32 : kind;
  ir::Value* out = k.arg(k.ptr(out_kind));
  ir::Value* in = k.arg(k.ptr(kind));
  ir::Value* x = k.load(k.addptr(in, k.offsets_2d(kR, kC, k.cint(kC))));
  ir::Value* r =
      k.op(op, {x}, reduce_result_type(k, x, axis, k.s(out_kind)), {ir::Attr::of_int(axis)});
  k.store(k.addptr(out, k.arange(axis == 0 ? kC : kR)), r);
  k.ret();
  return codegen::cpu::compile(k.fn);
}

TEST(CpuReduce, BuiltinReductionsEachAxis) {
  for (DType kind : {DType::f32, DType::f16, DType::bf16, DType::i32}) {
    for (Opcode op : {Opcode::ReduceSum, Opcode::ReduceMax, Opcode::ReduceMin, Opcode::ReduceArgmax,
                      Opcode::ReduceArgmin}) {
      for (int64_t axis : {0, 1}) {
        std::string what =
            fmt::format("{} {} axis {}", ir::op_info(op).name, dtype_name(kind), axis);
        auto kernel = compile_reduce(op, kind, axis);
        Buffer in(kind, kR * kC);
        in.fill_random(100 + axis, -8, 8); // integers in floats too: many ties for arg*
        bool arg = op == Opcode::ReduceArgmax || op == Opcode::ReduceArgmin;
        Buffer out(arg ? DType::i32 : kind, 64);
        void *po = out.data(), *pi = in.data();
        launch(*kernel, {&po, &pi}, {1, 1, 1});
        int64_t n_out = axis == 0 ? kC : kR, n_red = axis == 0 ? kR : kC;
        for (int64_t o = 0; o < n_out; ++o) {
          double acc = 0, best = 0;
          int64_t best_i = -1;
          for (int64_t j = 0; j < n_red; ++j) {
            double v = axis == 0 ? in.get(j * kC + o) : in.get(o * kC + j);
            acc += v;
            bool better =
                best_i < 0 ||
                ((op == Opcode::ReduceMax || op == Opcode::ReduceArgmax) ? v > best : v < best);
            if (better) {
              best = v;
              best_i = j;
            }
          }
          double want = op == Opcode::ReduceSum ? round_to(kind, acc) : arg ? double(best_i) : best;
          ASSERT_NO_FATAL_FAILURE(expect_near_rel(out.get(o), want, tolerance(kind) * 4, what));
        }
        for (int64_t o = n_out; o < 64; ++o)
          ASSERT_TRUE(arg || kind == DType::i32 || std::isnan(out.get(o))) << what;
      }
    }
  }
}

TEST(CpuReduce, MaxAndArgmaxSkipNaN) {
  for (Opcode op : {Opcode::ReduceMax, Opcode::ReduceArgmax}) {
    auto kernel = compile_reduce(op, DType::f32, 1);
    Buffer in(DType::f32, kR * kC);
    in.fill_random(7, -1, 1);
    in.set(0, NAN);    // row 0 starts with NaN
    in.set(kC + 5, 5); // row 1: max at 5 ...
    in.set(kC + 9, 5); // ... tie at 9: first index wins
    Buffer out(op == Opcode::ReduceMax ? DType::f32 : DType::i32, kR);
    void *po = out.data(), *pi = in.data();
    launch(*kernel, {&po, &pi}, {1, 1, 1});
    double best = -INFINITY;
    int best_i = 0;
    for (int j = 1; j < kC; ++j)
      if (in.get(j) > best) {
        best = in.get(j);
        best_i = j;
      }
    EXPECT_EQ(out.get(0), op == Opcode::ReduceMax ? best : best_i);
    EXPECT_EQ(out.get(1), op == Opcode::ReduceMax ? 5.0 : 5.0);
  }
}

// Float max/min along the last axis split rows longer than 16 into 16 lanes (lower_reduce.cpp,
// reduce_in_lanes); rows of 2 to 16 go into one vector (along_last_as_vector). Both must skip NaN
// wherever it falls (first lane, last lane, every lane of one chunk), give NaN only for an all-NaN
// row, and keep +-inf. Columns 2, 8 (one vector), 16 (one vector, exactly one lane group) and 64
// (four chunks).
TEST(CpuReduce, FloatMaxMinInLanesSkipNaN) {
  for (int64_t cols : {2, 8, 16, 64}) {
    for (Opcode op : {Opcode::ReduceMax, Opcode::ReduceMin}) {
      KernelBuilder k("reduce_lanes");
      ir::Value* out = k.arg(k.ptr(DType::f32));
      ir::Value* in = k.arg(k.ptr(DType::f32));
      ir::Value* x = k.load(k.addptr(in, k.offsets_2d(kR, cols, k.cint(cols))));
      ir::Value* r =
          k.op(op, {x}, reduce_result_type(k, x, 1, k.s(DType::f32)), {ir::Attr::of_int(1)});
      k.store(k.addptr(out, k.arange(kR)), r);
      k.ret();
      auto kernel = codegen::cpu::compile(k.fn);
      Buffer in_buf(DType::f32, kR * cols);
      in_buf.fill_random(int(cols) + 11, -4, 4);
      in_buf.set(0, NAN);               // row 0: NaN in lane 0
      in_buf.set(cols + cols - 1, NAN); // row 1: NaN in the last lane
      for (int64_t j = 0; j < std::min<int64_t>(cols, 16); ++j)
        in_buf.set(2 * cols + j, NAN); // row 2: a whole first chunk of NaN
      for (int64_t j = 0; j < cols; ++j)
        in_buf.set(3 * cols + j, NAN);            // row 3: all NaN
      in_buf.set(4 * cols + cols / 2, INFINITY);  // row 4: +inf
      in_buf.set(5 * cols + cols / 3, -INFINITY); // row 5: -inf
      Buffer out_buf(DType::f32, kR);
      void *po = out_buf.data(), *pi = in_buf.data();
      launch(*kernel, {&po, &pi}, {1, 1, 1});
      bool mx = op == Opcode::ReduceMax;
      for (int64_t row = 0; row < kR; ++row) {
        double best = NAN;
        for (int64_t j = 0; j < cols; ++j) {
          double v = in_buf.get(row * cols + j);
          if (!std::isnan(v) && (std::isnan(best) || (mx ? v > best : v < best)))
            best = v;
        }
        std::string what = fmt::format("{} cols {} row {}", ir::op_info(op).name, cols, row);
        if (std::isnan(best))
          EXPECT_TRUE(std::isnan(out_buf.get(row))) << what;
        else
          EXPECT_EQ(out_buf.get(row), best) << what;
      }
    }
  }
}

// Float sums along the last axis split rows longer than 16 (a multiple of 16) into 16 lanes too
// (reduce_in_lanes; before, LLVM turned a 64-column row sum into gathers across rows). Rows of
// 32, 64 and 128 columns (two, four and eight chunks) in f32, f16 and bf16 (accumulated in f32,
// rounded once) against an f64 sum; a row of -0 sums to -0 (the identity), a NaN anywhere makes
// NaN, +inf stays +inf; the output past the rows stays poisoned.
TEST(CpuReduce, FloatSumInLanes) {
  for (int64_t cols : {32, 64, 128}) {
    for (DType kind : {DType::f32, DType::f16, DType::bf16}) {
      KernelBuilder k("sum_lanes");
      ir::Value* out = k.arg(k.ptr(kind));
      ir::Value* in = k.arg(k.ptr(kind));
      ir::Value* x = k.load(k.addptr(in, k.offsets_2d(kR, cols, k.cint(cols))));
      ir::Value* r = k.op(Opcode::ReduceSum, {x}, reduce_result_type(k, x, 1, k.s(kind)),
                          {ir::Attr::of_int(1)});
      k.store(k.addptr(out, k.arange(kR)), r);
      k.ret();
      auto kernel = codegen::cpu::compile(k.fn);
      Buffer in_buf(kind, kR * cols);
      in_buf.fill_random(int(cols) + 29, -4, 4);
      for (int64_t j = 0; j < cols; ++j)
        in_buf.set(j, -0.0);                     // row 0: all -0
      in_buf.set(cols + cols - 1, NAN);          // row 1: NaN in the last lane
      in_buf.set(2 * cols + cols / 2, INFINITY); // row 2: +inf
      Buffer out_buf(kind, 2 * kR);
      for (int64_t i = 0; i < 2 * kR; ++i)
        out_buf.set(i, NAN);
      void *po = out_buf.data(), *pi = in_buf.data();
      launch(*kernel, {&po, &pi}, {1, 1, 1});
      for (int64_t row = 0; row < kR; ++row) {
        double sum = 0, magnitude = 0;
        for (int64_t j = 0; j < cols; ++j) {
          sum += in_buf.get(row * cols + j);
          magnitude += std::fabs(in_buf.get(row * cols + j));
        }
        std::string what = fmt::format("{} cols {} row {}", dtype_name(kind), cols, row);
        double got = out_buf.get(row);
        if (row == 0) {
          EXPECT_TRUE(got == 0 && std::signbit(got)) << what << ": got " << got;
        } else if (std::isnan(sum) || std::isinf(sum)) {
          EXPECT_TRUE(std::isnan(sum) ? std::isnan(got) : got == sum) << what << ": got " << got;
        } else {
          // One rounding of the result in its dtype, plus f32 summation error over the row.
          double bound = tolerance(kind) * std::max(1.0, std::fabs(sum)) + 1e-6 * magnitude;
          EXPECT_NEAR(got, round_to(kind, sum), bound) << what;
        }
      }
      for (int64_t i = kR; i < 2 * kR; ++i)
        EXPECT_TRUE(std::isnan(out_buf.get(i))) << "wrote past the rows";
    }
  }
}

// Long float rows reduce through kChains independent chains of 16 lanes each, combined lane by
// lane and then, for max/min, by a halving tree (lower_reduce.cpp). Row r of a [cols, cols] tile
// holds its extreme at column r (every lane of every chain and every group of chunks in turn) and
// a NaN at column r + 1, which max/min skip; the sums are of small integers plus 1000 at column
// r, exact in f32 in any order, so a dropped chain or lane changes the result.
TEST(CpuReduce, LongRowExtremeAtEveryColumn) {
  for (int64_t cols : {32, 64, 128, 256}) {
    for (Opcode op : {Opcode::ReduceMax, Opcode::ReduceMin, Opcode::ReduceSum}) {
      KernelBuilder k("reduce_chains");
      ir::Value* out = k.arg(k.ptr(DType::f32));
      ir::Value* in = k.arg(k.ptr(DType::f32));
      ir::Value* x = k.load(k.addptr(in, k.offsets_2d(cols, cols, k.cint(cols))));
      ir::Value* r =
          k.op(op, {x}, reduce_result_type(k, x, 1, k.s(DType::f32)), {ir::Attr::of_int(1)});
      k.store(k.addptr(out, k.arange(cols)), r);
      k.ret();
      auto kernel = codegen::cpu::compile(k.fn);
      const bool sum = op == Opcode::ReduceSum, mx = op == Opcode::ReduceMax;
      Buffer in_buf(DType::f32, cols * cols), out_buf(DType::f32, cols);
      in_buf.fill_random(int(cols) + 3, -4, 4);
      for (int64_t row = 0; row < cols; ++row) {
        for (int64_t j = 0; j < cols && sum; ++j)
          in_buf.set(row * cols + j, std::round(in_buf.get(row * cols + j)));
        in_buf.set(row * cols + row, sum ? 1000 : mx ? 100 : -100);
        if (!sum)
          in_buf.set(row * cols + (row + 1) % cols, NAN);
      }
      void *po = out_buf.data(), *pi = in_buf.data();
      launch(*kernel, {&po, &pi}, {1, 1, 1});
      for (int64_t row = 0; row < cols; ++row) {
        double want = 0;
        for (int64_t j = 0; j < cols && sum; ++j)
          want += in_buf.get(row * cols + j);
        if (!sum)
          want = mx ? 100 : -100;
        EXPECT_EQ(out_buf.get(row), want)
            << ir::op_info(op).name << " cols " << cols << " row " << row;
      }
    }
  }
}

// Integer max/min along rows of 2 to 16 elements reduce one vector (along_last_as_vector):
// signed i32 and unsigned u32 (the same bits order differently: 0x80000000 is the smallest i32 and
// a large u32), with the extremes at the first and the last column of some rows.
TEST(CpuReduce, ShortRowIntegerMaxMinSignedAndUnsigned) {
  for (int64_t cols : {2, 16})
    for (DType t : {DType::i32, DType::u32})
      for (Opcode op : {Opcode::ReduceMax, Opcode::ReduceMin}) {
        KernelBuilder k("reduce_short_int");
        ir::Value* out = k.arg(k.ptr(t));
        ir::Value* in = k.arg(k.ptr(t));
        ir::Value* x = k.load(k.addptr(in, k.offsets_2d(kR, cols, k.cint(cols))));
        ir::Value* r = k.op(op, {x}, reduce_result_type(k, x, 1, k.s(t)), {ir::Attr::of_int(1)});
        k.store(k.addptr(out, k.arange(kR)), r);
        k.ret();
        auto kernel = codegen::cpu::compile(k.fn);
        std::vector<uint32_t> bits(size_t(kR * cols)), got(size_t(kR), 0xCDCDCDCDu);
        for (size_t i = 0; i < bits.size(); ++i)
          bits[i] = uint32_t(i * 2654435761u);    // spread over the whole range, both signs
        bits[0] = 0x80000000u;                    // row 0, first column: i32 min, a large u32
        bits[size_t(2 * cols - 1)] = 0x7fffffffu; // row 1, last column: i32 max
        bits[size_t(2 * cols)] = 0xffffffffu;     // row 2, first column: -1, u32 max
        bits[size_t(4 * cols - 1)] = 0;           // row 3, last column
        void *po = got.data(), *pi = bits.data();
        launch(*kernel, {&po, &pi}, {1, 1, 1});
        bool mx = op == Opcode::ReduceMax, sgn = t == DType::i32;
        for (int64_t row = 0; row < kR; ++row) {
          uint32_t best = bits[size_t(row * cols)];
          for (int64_t j = 1; j < cols; ++j) {
            uint32_t v = bits[size_t(row * cols + j)];
            bool less = sgn ? int32_t(v) < int32_t(best) : v < best;
            bool more = sgn ? int32_t(v) > int32_t(best) : v > best;
            if (mx ? more : less)
              best = v;
          }
          EXPECT_EQ(got[size_t(row)], best) << fmt::format(
              "{} {} cols {} row {}", ir::op_info(op).name, dtype_name(t), cols, row);
        }
      }
}

// reduce with a region: product for i32, max-by-select for f32; to a scalar and along axis 0.
TEST(CpuReduce, CustomCombineRegion) {
  for (DType kind : {DType::i32, DType::f32}) {
    for (int64_t axis : {0, 1}) {
      KernelBuilder k("custom");
      ir::Value* out = k.arg(k.ptr(kind));
      ir::Value* in = k.arg(k.ptr(kind));
      ir::Value* x = k.load(k.addptr(in, k.offsets_2d(kR, kC, k.cint(kC))));
      ir::Op* red = k.b.create(Opcode::Reduce, {x}, reduce_result_type(k, x, axis, k.s(kind)),
                               {ir::Attr::of_int(axis)});
      ir::Block& region = red->region(0);
      ir::Value* a = region.add_arg(k.s(kind));
      ir::Value* b = region.add_arg(k.s(kind));
      k.b.set_insertion_point_to_end(region);
      ir::Value* c = kind == DType::i32
                         ? k.bin(Opcode::Mul, a, b)
                         : k.op(Opcode::Select, {k.cmp(Opcode::CmpGt, a, b), a, b}, a->type());
      k.effect(Opcode::Yield, {c});
      k.b.set_insertion_point_to_end(k.fn.body);
      k.store(k.addptr(out, k.arange(axis == 0 ? kC : kR)), red->result());
      k.ret();
      auto kernel = codegen::cpu::compile(k.fn);
      Buffer bin(kind, kR * kC), bout(kind, kC);
      bin.fill_random(9, kind == DType::i32 ? -2 : -10, kind == DType::i32 ? 3 : 10);
      void *po = bout.data(), *pi = bin.data();
      launch(*kernel, {&po, &pi}, {1, 1, 1});
      int64_t n_out = axis == 0 ? kC : kR, n_red = axis == 0 ? kR : kC;
      for (int64_t o = 0; o < n_out; ++o) {
        double acc = kind == DType::i32 ? 1 : -INFINITY;
        for (int64_t j = 0; j < n_red; ++j) {
          double v = axis == 0 ? bin.get(j * kC + o) : bin.get(o * kC + j);
          acc = kind == DType::i32 ? double(int32_t(int64_t(acc) * int64_t(v))) : std::max(acc, v);
        }
        ASSERT_EQ(bout.get(o), acc) << o;
      }
    }
  }
}

TEST(CpuReduce, SumOfVectorToScalar) {
  KernelBuilder k("sum1d");
  ir::Value* out = k.arg(k.ptr(DType::f32));
  ir::Value* in = k.arg(k.ptr(DType::f32));
  ir::Value* n = k.arg(k.i32());
  ir::Value* offs = k.arange(1024);
  ir::Value* mask = k.cmp(Opcode::CmpLt, offs, k.splat(n, {1024}));
  ir::Value* x = k.load(k.addptr(in, offs), mask);
  ir::Value* s = k.op(Opcode::ReduceSum, {x}, k.s(DType::f32), {ir::Attr::of_int(0)});
  k.store(out, s);
  k.ret();
  auto kernel = codegen::cpu::compile(k.fn);
  Buffer bin(DType::f32, 1000), bout(DType::f32, 1);
  bin.fill_random(3, -1, 1);
  int32_t count = 1000;
  void *po = bout.data(), *pi = bin.data();
  launch(*kernel, {&po, &pi, &count}, {1, 1, 1});
  double want = 0;
  for (int i = 0; i < 1000; ++i)
    want += bin.get(i);
  EXPECT_NEAR(bout.get(0), want, 1e-4);
}

TEST(CpuReduce, ScanSumEachAxis) {
  for (DType kind : {DType::f32, DType::i32, DType::f16}) {
    for (int64_t axis : {0, 1}) {
      KernelBuilder k("scan");
      ir::Value* out = k.arg(k.ptr(kind));
      ir::Value* in = k.arg(k.ptr(kind));
      ir::Value* offs = k.offsets_2d(kR, kC, k.cint(kC));
      ir::Value* x = k.load(k.addptr(in, offs));
      ir::Value* s = k.op(Opcode::ScanSum, {x}, x->type(), {ir::Attr::of_int(axis)});
      k.store(k.addptr(out, offs), s);
      k.ret();
      auto kernel = codegen::cpu::compile(k.fn);
      Buffer bin(kind, kR * kC), bout(kind, kR * kC);
      bin.fill_random(21, -4, 4);
      void *po = bout.data(), *pi = bin.data();
      launch(*kernel, {&po, &pi}, {1, 1, 1});
      for (int64_t r = 0; r < kR; ++r)
        for (int64_t c = 0; c < kC; ++c) {
          double want = 0;
          for (int64_t j = 0; j <= (axis == 0 ? r : c); ++j)
            want += axis == 0 ? bin.get(j * kC + c) : bin.get(r * kC + j);
          ASSERT_NO_FATAL_FAILURE(expect_near_rel(bout.get(r * kC + c), round_to(kind, want),
                                                  tolerance(kind) * 4, dtype_name(kind)));
        }
    }
  }
}

// C[M, N] = A[M, K] @ B[K, N] + C0, for float (f32 accumulate) and i8 (i32 accumulate) operands.
TEST(CpuReduce, Dot) {
  constexpr int64_t M = 16, K = 32, N = 8;
  for (DType kind : {DType::f32, DType::f16, DType::bf16, DType::i8}) {
    DType acc_kind = kind == DType::i8 ? DType::i32 : DType::f32;
    KernelBuilder k("dot");
    ir::Value* c = k.arg(k.ptr(acc_kind));
    ir::Value* a = k.arg(k.ptr(kind));
    ir::Value* b = k.arg(k.ptr(kind));
    ir::Value* av = k.load(k.addptr(a, k.offsets_2d(M, K, k.cint(K))));
    ir::Value* bv = k.load(k.addptr(b, k.offsets_2d(K, N, k.cint(N))));
    ir::Value* c_offs = k.offsets_2d(M, N, k.cint(N));
    ir::Value* c0 = k.load(k.addptr(c, c_offs));
    ir::Value* r = k.op(Opcode::Dot, {av, bv, c0}, c0->type());
    k.store(k.addptr(c, c_offs), r);
    k.ret();
    auto kernel = codegen::cpu::compile(k.fn);
    Buffer ba(kind, M * K), bb(kind, K * N), bc(acc_kind, M * N);
    ba.fill_random(31, -4, 4);
    bb.fill_random(32, -4, 4);
    bc.fill_random(33, -4, 4);
    Buffer expect = bc;
    void *pc = bc.data(), *pa = ba.data(), *pb = bb.data();
    launch(*kernel, {&pc, &pa, &pb}, {1, 1, 1});
    for (int64_t i = 0; i < M; ++i)
      for (int64_t j = 0; j < N; ++j) {
        double want = expect.get(i * N + j);
        for (int64_t kk = 0; kk < K; ++kk)
          want += ba.get(i * K + kk) * bb.get(kk * N + j);
        ASSERT_NEAR(bc.get(i * N + j), want, 1e-3) << dtype_name(kind);
      }
  }
}

// One program per row: masked load with other = -inf, max, exp, sum, divide — the fused
// softmax of DESIGN §3, with rows longer than... shorter than the block.
TEST(CpuReduce, MaskedSoftmax) {
  constexpr int64_t kBlock = 128;
  KernelBuilder k("softmax");
  const ir::Type* f32 = k.s(DType::f32);
  ir::Value* out = k.arg(k.ptr(DType::f32));
  ir::Value* in = k.arg(k.ptr(DType::f32));
  ir::Value* stride = k.arg(k.i32());
  ir::Value* ncols = k.arg(k.i32());
  ir::Value* row = k.bin(Opcode::Mul, k.pid(), stride);
  ir::Value* cols = k.arange(kBlock);
  ir::Value* mask = k.cmp(Opcode::CmpLt, cols, k.splat(ncols, {kBlock}));
  ir::Value* offs = k.bin(Opcode::Add, k.splat(row, {kBlock}), cols);
  ir::Value* x = k.load(k.addptr(in, offs), mask, k.cfloat(-INFINITY, k.t({kBlock}, f32)));
  ir::Value* mx = k.op(Opcode::ReduceMax, {x}, f32, {ir::Attr::of_int(0)});
  ir::Value* num = k.un(Opcode::Exp, k.bin(Opcode::Sub, x, k.splat(mx, {kBlock})));
  ir::Value* den = k.op(Opcode::ReduceSum, {num}, f32, {ir::Attr::of_int(0)});
  k.store(k.addptr(out, offs), k.bin(Opcode::Div, num, k.splat(den, {kBlock})), mask);
  k.ret();
  auto kernel = codegen::cpu::compile(k.fn);
  constexpr int rows = 5, n = 100, st = 104;
  Buffer bin(DType::f32, rows * st), bout(DType::f32, rows * st);
  bin.fill_random(41, -5, 5);
  int32_t s = st, c = n;
  void *po = bout.data(), *pi = bin.data();
  launch(*kernel, {&po, &pi, &s, &c}, {rows, 1, 1});
  for (int r = 0; r < rows; ++r) {
    double m = -INFINITY, sum = 0;
    for (int j = 0; j < n; ++j)
      m = std::max(m, bin.get(r * st + j));
    for (int j = 0; j < n; ++j)
      sum += std::exp(bin.get(r * st + j) - m);
    for (int j = 0; j < st; ++j) {
      if (j < n)
        ASSERT_NEAR(bout.get(r * st + j), std::exp(bin.get(r * st + j) - m) / sum, 1e-6);
      else
        ASSERT_TRUE(std::isnan(bout.get(r * st + j)));
    }
  }
}

// A bf16 log_softmax row of 1024 columns (the stdlib's shape: a masked load, the row max, the
// sum of exp of the difference fused into the reduction), whose reductions run through kChains
// chains of 16 lanes. Before the chains shared one inner loop, the SLP vectoriser indexed the
// second to fourth chains' columns as a vector of i64 indices and loaded them one by one
// (extractelement + scalar i16 load + insertelement: vpinsrw), 1.4-1.7 times the time of the
// fixed row. The optimised IR must hold no index extracted from a vector of 16 i64 indices; the
// values against an f64 reference.
TEST(CpuReduce, Bf16LogSoftmaxRowLoadsColumnsAsVectors) {
  constexpr int64_t kBlock = 1024;
  KernelBuilder k("log_softmax_bf16");
  const ir::Type* bf16 = k.s(DType::bf16);
  ir::Value* out = k.arg(k.ptr(DType::bf16));
  ir::Value* in = k.arg(k.ptr(DType::bf16));
  ir::Value* ncols = k.arg(k.i32());
  ir::Value* row = k.bin(Opcode::Mul, k.pid(), k.cint(kBlock));
  ir::Value* cols = k.arange(kBlock);
  ir::Value* mask = k.cmp(Opcode::CmpLt, cols, k.splat(ncols, {kBlock}));
  ir::Value* offs = k.bin(Opcode::Add, k.splat(row, {kBlock}), cols);
  ir::Value* x = k.load(k.addptr(in, offs), mask, k.cfloat(-INFINITY, k.t({kBlock}, bf16)));
  ir::Value* mx = k.op(Opcode::ReduceMax, {x}, bf16, {ir::Attr::of_int(0)});
  ir::Value* d = k.bin(Opcode::Sub, x, k.splat(mx, {kBlock}));
  ir::Value* sum = k.op(Opcode::ReduceSum, {k.un(Opcode::Exp, d)}, bf16, {ir::Attr::of_int(0)});
  k.store(k.addptr(out, offs), k.bin(Opcode::Sub, d, k.splat(k.un(Opcode::Log, sum), {kBlock})),
          mask);
  k.ret();
  codegen::cpu::CompileOptions options;
  options.keep_text = true;
  auto kernel = codegen::cpu::compile(k.fn, options);
  const std::string& ir = kernel->llvm_ir();
  EXPECT_EQ(ir.find("extractelement <16 x i64>"), std::string::npos)
      << "a row reduction loads its columns one by one through a vector of indices";

  constexpr int rows = 3;
  Buffer bin(DType::bf16, rows * kBlock), bout(DType::bf16, rows * kBlock);
  bin.fill_random(43, -6, 6);
  for (int64_t i = 0; i < rows * kBlock; ++i)
    bout.set(i, NAN);
  int32_t c = kBlock;
  void *po = bout.data(), *pi = bin.data();
  launch(*kernel, {&po, &pi, &c}, {rows, 1, 1});
  for (int r = 0; r < rows; ++r) {
    // The reference in f64 with the kernel's bf16 roundings (each op rounds once: the
    // difference, its exp, the sum, its log, the result; the max is exact), so only the f32
    // sum's order and exp's and log's ulps differ: within a bf16 rounding of the result.
    auto bf = [](double v) { return round_to(DType::bf16, v); };
    double m = -INFINITY, s = 0;
    for (int64_t j = 0; j < kBlock; ++j)
      m = std::max(m, bin.get(r * kBlock + j));
    for (int64_t j = 0; j < kBlock; ++j)
      s += bf(std::exp(bf(bin.get(r * kBlock + j) - m)));
    double log_sum = bf(std::log(bf(s)));
    for (int64_t j = 0; j < kBlock; ++j) {
      double want = bf(bf(bin.get(r * kBlock + j) - m) - log_sum);
      ASSERT_NEAR(bout.get(r * kBlock + j), want, tolerance(DType::bf16) * std::fabs(want) + 1e-2)
          << "row " << r << " column " << j;
    }
  }
}

} // namespace
} // namespace tessel::test
