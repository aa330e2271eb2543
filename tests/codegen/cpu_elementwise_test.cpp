// CPU backend: elementwise ops, casts, masked loads/stores, shape ops and scalar code, each run
// against a plain C++ reference for f32, f16, bf16 and integer types. Sizes are not multiples of
// the block, so masks matter; outputs are poisoned and the tail past n must stay untouched.
#include "tests/codegen/cpu_test_util.h"

#include <fmt/format.h>

#include <array>
#include <cstring>

namespace tessel::test {
namespace {

using codegen::cpu::CompiledKernel;
using MapBody = std::function<ir::Value*(KernelBuilder&, std::vector<ir::Value*>&)>;

constexpr int64_t kBlock = 128;
constexpr size_t kN = 1000; // not a multiple of kBlock

// out[i] = body(in_0[i], in_1[i], ...) for i < n, one program per kBlock elements.
std::unique_ptr<CompiledKernel> compile_map(const std::string& name, std::vector<DType> ins,
                                            DType out, const MapBody& body) {
  KernelBuilder k(name);
  ir::Value* out_ptr = k.arg(k.ptr(out));
  std::vector<ir::Value*> in_ptrs;
  for (DType kind : ins)
    in_ptrs.push_back(k.arg(k.ptr(kind)));
  ir::Value* n = k.arg(k.i32());
  ir::Value* base = k.bin(Opcode::Mul, k.pid(), k.cint(kBlock));
  ir::Value* offs = k.bin(Opcode::Add, k.splat(base, {kBlock}), k.arange(kBlock));
  ir::Value* mask = k.cmp(Opcode::CmpLt, offs, k.splat(n, {kBlock}));
  std::vector<ir::Value*> loaded;
  for (ir::Value* p : in_ptrs)
    loaded.push_back(k.load(k.addptr(p, offs), mask));
  ir::Value* result = body(k, loaded);
  k.store(k.addptr(out_ptr, offs), result, mask);
  k.ret();
  return codegen::cpu::compile(k.fn);
}

// Runs a map kernel over kN elements; returns the output (kN + a poisoned tail of 16).
Buffer run_map(const CompiledKernel& kernel, std::vector<Buffer>& ins, DType out_kind) {
  Buffer out(out_kind, kN + 16);
  int32_t n = kN;
  std::vector<void*> slots;
  void* out_data = out.data();
  std::vector<void*> in_data;
  for (Buffer& b : ins)
    in_data.push_back(b.data());
  slots.push_back(&out_data);
  for (void*& p : in_data)
    slots.push_back(&p);
  slots.push_back(&n);
  launch(kernel, slots, {int32_t((kN + kBlock - 1) / kBlock), 1, 1});
  for (size_t i = kN; i < kN + 16; ++i) {
    if (is_float(out_kind))
      EXPECT_TRUE(std::isnan(out.get(i))) << "masked-off element " << i << " was written";
    else
      EXPECT_EQ(out.bytes[i * size_of(out_kind)], 0xCD)
          << "masked-off element " << i << " was written";
  }
  return out;
}

const char* name_of(DType k) { return dtype_name(k); }

struct BinaryCase {
  Opcode op;
  std::function<double(double, double)> ref;
};

double c_div(double a, double b) { return std::trunc(a / b); }

TEST(CpuElementwise, BinaryArithmeticAllTypes) {
  std::vector<BinaryCase> cases = {
      {Opcode::Add, [](double a, double b) { return a + b; }},
      {Opcode::Sub, [](double a, double b) { return a - b; }},
      {Opcode::Mul, [](double a, double b) { return a * b; }},
      {Opcode::Min, [](double a, double b) { return std::min(a, b); }},
      {Opcode::Max, [](double a, double b) { return std::max(a, b); }},
  };
  for (DType kind : {DType::f32, DType::f16, DType::bf16, DType::i32, DType::i64, DType::i8}) {
    std::vector<BinaryCase> all = cases;
    if (is_float(kind)) {
      all.push_back({Opcode::Div, [](double a, double b) { return a / b; }});
      all.push_back({Opcode::Rem, [](double a, double b) { return std::fmod(a, b); }});
    } else {
      all.push_back({Opcode::Div, c_div});
      all.push_back({Opcode::Rem, [](double a, double b) { return a - c_div(a, b) * b; }});
    }
    for (const BinaryCase& c : all) {
      std::string what = fmt::format("{} {}", ir::op_info(c.op).name, name_of(kind));
      auto kernel = compile_map("binary", {kind, kind}, kind,
                                [&](KernelBuilder& k, auto& x) { return k.bin(c.op, x[0], x[1]); });
      std::vector<Buffer> ins{Buffer(kind, kN), Buffer(kind, kN)};
      double range = kind == DType::i8 ? 11 : 100;
      ins[0].fill_random(1, -range, range);
      ins[1].fill_random(2, 1, range); // nonzero divisors; signs mixed below
      for (size_t i = 0; i < kN; i += 3)
        ins[1].set(i, -ins[1].get(i));
      Buffer out = run_map(*kernel, ins, kind);
      for (size_t i = 0; i < kN; ++i) {
        double want = c.ref(ins[0].get(i), ins[1].get(i));
        if (kind == DType::i8)
          want = double(int8_t(int64_t(want)));
        want = round_to(kind, want);
        ASSERT_NO_FATAL_FAILURE(expect_near_rel(out.get(i), want, tolerance(kind), what));
      }
    }
  }
}

TEST(CpuElementwise, MinMaxIgnoreNaN) {
  auto kernel =
      compile_map("maxnan", {DType::f32, DType::f32}, DType::f32, [](KernelBuilder& k, auto& x) {
        return k.bin(Opcode::Add, k.bin(Opcode::Max, x[0], x[1]), k.bin(Opcode::Min, x[0], x[1]));
      });
  std::vector<Buffer> ins{Buffer(DType::f32, kN), Buffer(DType::f32, kN)};
  ins[0].fill_random(3, -1, 1);
  ins[1].fill_random(4, -1, 1);
  for (size_t i = 0; i < kN; i += 2)
    ins[i % 4 == 0 ? 0 : 1].set(i, NAN);
  Buffer out = run_map(*kernel, ins, DType::f32);
  for (size_t i = 0; i < kN; ++i) {
    double a = ins[0].get(i), b = ins[1].get(i);
    double want = std::isnan(a)   ? 2 * b
                  : std::isnan(b) ? 2 * a
                                  : float(std::max(a, b) + std::min(a, b));
    ASSERT_NEAR(out.get(i), want, 1e-6) << i;
  }
}

TEST(CpuElementwise, UnaryMath) {
  struct Case {
    Opcode op;
    double lo, hi;
    std::function<double(double)> ref;
  };
  std::vector<Case> cases = {
      {Opcode::Exp, -10, 10, [](double x) { return std::exp(x); }},
      {Opcode::Exp2, -10, 10, [](double x) { return std::exp2(x); }},
      {Opcode::Log, 0.01, 100, [](double x) { return std::log(x); }},
      {Opcode::Log2, 0.01, 100, [](double x) { return std::log2(x); }},
      {Opcode::Sqrt, 0, 100, [](double x) { return std::sqrt(x); }},
      {Opcode::Rsqrt, 0.01, 100, [](double x) { return 1 / std::sqrt(x); }},
      {Opcode::Sin, -6, 6, [](double x) { return std::sin(x); }},
      {Opcode::Cos, -6, 6, [](double x) { return std::cos(x); }},
      {Opcode::Erf, -3, 3, [](double x) { return std::erf(x); }},
      {Opcode::Tanh, -5, 5, [](double x) { return std::tanh(x); }},
      {Opcode::Sigmoid, -10, 10, [](double x) { return 1 / (1 + std::exp(-x)); }},
      {Opcode::Floor, -10, 10, [](double x) { return std::floor(x); }},
      {Opcode::Ceil, -10, 10, [](double x) { return std::ceil(x); }},
      {Opcode::Abs, -10, 10, [](double x) { return std::fabs(x); }},
      {Opcode::Neg, -10, 10, [](double x) { return -x; }},
  };
  for (DType kind : {DType::f32, DType::f16, DType::bf16, DType::f64}) {
    for (const Case& c : cases) {
      std::string what = fmt::format("{} {}", ir::op_info(c.op).name, name_of(kind));
      auto kernel = compile_map("unary", {kind}, kind,
                                [&](KernelBuilder& k, auto& x) { return k.un(c.op, x[0]); });
      std::vector<Buffer> ins{Buffer(kind, kN)};
      ins[0].fill_random(7, c.lo, c.hi);
      Buffer out = run_map(*kernel, ins, kind);
      // Sin/cos/exp... of f32 may differ from the double reference by a few ulp.
      double tol = kind == DType::f64 ? 1e-13 : kind == DType::f32 ? 4e-6 : tolerance(kind);
      for (size_t i = 0; i < kN; ++i)
        ASSERT_NO_FATAL_FAILURE(
            expect_near_rel(out.get(i), round_to(kind, c.ref(ins[0].get(i))), tol, what));
    }
  }
}

TEST(CpuElementwise, IntegerBitOpsAndShifts) {
  struct Case {
    Opcode op;
    std::function<int32_t(int32_t, int32_t)> ref;
  };
  std::vector<Case> cases = {
      {Opcode::And, [](int32_t a, int32_t b) { return a & b; }},
      {Opcode::Or, [](int32_t a, int32_t b) { return a | b; }},
      {Opcode::Xor, [](int32_t a, int32_t b) { return a ^ b; }},
      {Opcode::Shl, [](int32_t a, int32_t b) { return int32_t(uint32_t(a) << b); }},
      {Opcode::Shr, [](int32_t a, int32_t b) { return a >> b; }},
  };
  for (const Case& c : cases) {
    auto kernel = compile_map("bits", {DType::i32, DType::i32}, DType::i32,
                              [&](KernelBuilder& k, auto& x) { return k.bin(c.op, x[0], x[1]); });
    std::vector<Buffer> ins{Buffer(DType::i32, kN), Buffer(DType::i32, kN)};
    ins[0].fill_random(11, -100000, 100000);
    ins[1].fill_random(12, 0, 31);
    Buffer out = run_map(*kernel, ins, DType::i32);
    for (size_t i = 0; i < kN; ++i)
      ASSERT_EQ(out.get(i), c.ref(int32_t(ins[0].get(i)), int32_t(ins[1].get(i))))
          << ir::op_info(c.op).name;
  }
  auto kernel = compile_map("not", {DType::i32}, DType::i32,
                            [&](KernelBuilder& k, auto& x) { return k.un(Opcode::Not, x[0]); });
  std::vector<Buffer> ins{Buffer(DType::i32, kN)};
  ins[0].fill_random(13, -1000, 1000);
  Buffer out = run_map(*kernel, ins, DType::i32);
  for (size_t i = 0; i < kN; ++i)
    ASSERT_EQ(out.get(i), ~int32_t(ins[0].get(i)));
}

TEST(CpuElementwise, IntegerDivisionByZeroDoesNotTrap) {
  for (Opcode op : {Opcode::Div, Opcode::Rem}) {
    auto kernel = compile_map("divzero", {DType::i32, DType::i32}, DType::i32,
                              [&](KernelBuilder& k, auto& x) { return k.bin(op, x[0], x[1]); });
    std::vector<Buffer> ins{Buffer(DType::i32, kN), Buffer(DType::i32, kN)};
    ins[0].fill_random(5, -100, 100);
    ins[1].fill_random(6, -3, 3); // many zeros
    ins[0].set(0, std::numeric_limits<int32_t>::min());
    ins[1].set(0, -1);
    Buffer out = run_map(*kernel, ins, DType::i32);
    for (size_t i = 1; i < kN; ++i) {
      int32_t a = int32_t(ins[0].get(i)), b = int32_t(ins[1].get(i));
      if (b != 0) {
        ASSERT_EQ(out.get(i), op == Opcode::Div ? a / b : a % b);
      }
    }
  }
}

TEST(CpuElementwise, FmaSelectCompare) {
  for (DType kind : {DType::f32, DType::f16, DType::bf16}) {
    auto kernel =
        compile_map("fma_select", {kind, kind, kind}, kind, [&](KernelBuilder& k, auto& x) {
          ir::Value* f = k.op(Opcode::Fma, {x[0], x[1], x[2]}, x[0]->type());
          ir::Value* c = k.cmp(Opcode::CmpGt, x[0], x[1]);
          return k.op(Opcode::Select, {c, f, x[2]}, x[0]->type());
        });
    std::vector<Buffer> ins{Buffer(kind, kN), Buffer(kind, kN), Buffer(kind, kN)};
    for (int i = 0; i < 3; ++i)
      ins[i].fill_random(20 + i, -4, 4);
    Buffer out = run_map(*kernel, ins, kind);
    for (size_t i = 0; i < kN; ++i) {
      double a = ins[0].get(i), b = ins[1].get(i), c = ins[2].get(i);
      double want = a > b ? round_to(kind, std::fma(a, b, c)) : c;
      ASSERT_NO_FATAL_FAILURE(expect_near_rel(out.get(i), want, tolerance(kind), name_of(kind)));
    }
  }
  // Every comparison, as 0/1 in i32.
  for (Opcode op :
       {Opcode::CmpEq, Opcode::CmpNe, Opcode::CmpLt, Opcode::CmpLe, Opcode::CmpGt, Opcode::CmpGe}) {
    for (DType kind : {DType::f32, DType::i32}) {
      auto kernel = compile_map("cmp", {kind, kind}, DType::i32, [&](KernelBuilder& k, auto& x) {
        return k.cast(k.cmp(op, x[0], x[1]), k.i32());
      });
      std::vector<Buffer> ins{Buffer(kind, kN), Buffer(kind, kN)};
      ins[0].fill_random(30, -3, 3);
      ins[1].fill_random(31, -3, 3);
      if (kind == DType::f32)
        ins[0].set(5, NAN);
      Buffer out = run_map(*kernel, ins, DType::i32);
      for (size_t i = 0; i < kN; ++i) {
        double a = ins[0].get(i), b = ins[1].get(i);
        bool want = op == Opcode::CmpEq   ? a == b
                    : op == Opcode::CmpNe ? a != b
                    : op == Opcode::CmpLt ? a < b
                    : op == Opcode::CmpLe ? a <= b
                    : op == Opcode::CmpGt ? a > b
                                          : a >= b;
        ASSERT_EQ(out.get(i), want ? 1 : 0) << ir::op_info(op).name << " " << a << " " << b;
      }
    }
  }
}

TEST(CpuElementwise, Casts) {
  struct Case {
    DType from, to;
    double lo, hi;
  };
  std::vector<Case> cases = {
      {DType::f32, DType::i32, -1000, 1000}, {DType::i32, DType::f32, -1000, 1000},
      {DType::f32, DType::f16, -100, 100},   {DType::f16, DType::f32, -100, 100},
      {DType::f32, DType::bf16, -100, 100},  {DType::bf16, DType::f32, -100, 100},
      {DType::f16, DType::bf16, -100, 100},  {DType::f64, DType::f16, -100, 100},
      {DType::f32, DType::f64, -100, 100},   {DType::i32, DType::i8, -1000, 1000},
      {DType::i8, DType::i32, -100, 100},    {DType::i32, DType::i64, -1e6, 1e6},
      {DType::i64, DType::i32, -1e6, 1e6},   {DType::f32, DType::i1, -2, 2},
      {DType::i32, DType::i1, -2, 2},        {DType::i1, DType::i32, 0, 1.99},
      {DType::bf16, DType::i32, -100, 100},
  };
  for (const Case& c : cases) {
    std::string what = fmt::format("cast {} -> {}", name_of(c.from), name_of(c.to));
    auto kernel = compile_map("cast", {c.from}, c.to,
                              [&](KernelBuilder& k, auto& x) { return k.cast(x[0], k.s(c.to)); });
    std::vector<Buffer> ins{Buffer(c.from, kN)};
    ins[0].fill_random(40, c.lo, c.hi);
    if (c.from == DType::f32 && c.to == DType::i1)
      ins[0].set(3, 0.0);
    Buffer out = run_map(*kernel, ins, c.to);
    for (size_t i = 0; i < kN; ++i) {
      double x = ins[0].get(i);
      double want;
      if (c.to == DType::i1)
        want = x != 0;
      else if (!is_float(c.to))
        want = c.to == DType::i8 ? double(int8_t(int64_t(std::trunc(x)))) : std::trunc(x);
      else
        want = round_to(c.to, x);
      ASSERT_EQ(out.get(i), want) << what << " of " << x;
    }
  }
}

// A 4 x 8 tile, transposed with permute and flattened with reshape.
TEST(CpuElementwise, ShapeOps) {
  KernelBuilder k("shapes");
  ir::Value* out_t = k.arg(k.ptr(DType::f32));
  ir::Value* out_flat = k.arg(k.ptr(DType::f32));
  ir::Value* out_bcast = k.arg(k.ptr(DType::f32));
  ir::Value* in = k.arg(k.ptr(DType::f32));
  ir::Value* x = k.load(k.addptr(in, k.offsets_2d(4, 8, k.cint(8))));
  ir::Value* xt =
      k.op(Opcode::Permute, {x}, k.t({8, 4}, k.s(DType::f32)), {ir::Attr::of_ints({1, 0})});
  k.store(k.addptr(out_t, k.offsets_2d(8, 4, k.cint(4))), xt);
  ir::Value* flat = k.op(Opcode::Reshape, {xt}, k.t({32}, k.s(DType::f32)));
  k.store(k.addptr(out_flat, k.arange(32)), flat);
  // Row 2 of x broadcast over 4 rows: reshape x to 2x16 first to exercise both.
  ir::Value* r = k.op(Opcode::Reshape, {x}, k.t({2, 16}, k.s(DType::f32)));
  ir::Value* first = k.load(k.addptr(in, k.expand(k.arange(16), 0))); // 1 x 16
  ir::Value* sum = k.bin(Opcode::Add, r, k.broadcast(first, {2, 16}));
  k.store(k.addptr(out_bcast, k.offsets_2d(2, 16, k.cint(16))), sum);
  k.ret();
  auto kernel = codegen::cpu::compile(k.fn);
  Buffer bin(DType::f32, 32), bt(DType::f32, 32), bf(DType::f32, 32), bb(DType::f32, 32);
  bin.fill_random(50, -10, 10);
  void *pt = bt.data(), *pf = bf.data(), *pb = bb.data(), *pi = bin.data();
  launch(*kernel, {&pt, &pf, &pb, &pi}, {1, 1, 1});
  for (int r = 0; r < 4; ++r)
    for (int c = 0; c < 8; ++c)
      ASSERT_EQ(bt.get(c * 4 + r), bin.get(r * 8 + c));
  for (int i = 0; i < 32; ++i) {
    int c = i / 4, r = i % 4; // flat index of the 8x4 transpose
    ASSERT_EQ(bf.get(i), bin.get(r * 8 + c));
    ASSERT_FLOAT_EQ(bb.get(i), float(bin.get(i) + bin.get(i % 16)));
  }
}

// Scalar code: program ids on a 3-d grid, num_programs, scalar loads/stores and a masked scalar
// load whose address is out of bounds.
TEST(CpuElementwise, ScalarsAndProgramIds) {
  KernelBuilder k("scalars");
  ir::Value* out = k.arg(k.ptr(DType::i32));
  ir::Value* in = k.arg(k.ptr(DType::i32));
  ir::Value* scale = k.arg(k.i32());
  ir::Value* gx = k.op(Opcode::NumPrograms, {}, k.i32(), {ir::Attr::of_int(0)});
  ir::Value* gy = k.op(Opcode::NumPrograms, {}, k.i32(), {ir::Attr::of_int(1)});
  ir::Value* lin =
      k.bin(Opcode::Add, k.pid(0),
            k.bin(Opcode::Mul, gx, k.bin(Opcode::Add, k.pid(1), k.bin(Opcode::Mul, gy, k.pid(2)))));
  ir::Value* v = k.load(k.addptr(in, lin));
  ir::Value* never = k.cmp(Opcode::CmpLt, lin, k.cint(0));
  ir::Value* wild = k.load(k.addptr(in, k.cint(1 << 30)), never, k.cint(7));
  ir::Value* val = k.bin(Opcode::Add, k.bin(Opcode::Mul, v, scale), wild);
  val = k.bin(Opcode::Add, val, k.bin(Opcode::Mul, k.pid(2), k.cint(1000)));
  k.store(k.addptr(out, lin), val);
  k.ret();
  auto kernel = codegen::cpu::compile(k.fn);
  const int gxn = 3, gyn = 2, gzn = 2, total = gxn * gyn * gzn;
  Buffer bin(DType::i32, total), bout(DType::i32, total);
  bin.fill_random(60, -50, 50);
  void *po = bout.data(), *pi = bin.data();
  int32_t s = 3;
  launch(*kernel, {&po, &pi, &s}, {gxn, gyn, gzn});
  for (int i = 0; i < total; ++i)
    ASSERT_EQ(bout.get(i), bin.get(i) * 3 + 7 + (i / (gxn * gyn)) * 1000) << i;
}

// The program loop splits the first id of a range into (x, y, z) once and then steps with
// carries (lower_kernel.cpp): every range [begin, end) of a 4 x 3 x 5 grid, one program per id,
// must see the same ids as a division would give, each program once, and nothing outside.
TEST(CpuElementwise, ProgramIdsOfEveryRange) {
  KernelBuilder k("ranges");
  ir::Value* out = k.arg(k.ptr(DType::i32));
  ir::Value* gx = k.op(Opcode::NumPrograms, {}, k.i32(), {ir::Attr::of_int(0)});
  ir::Value* gy = k.op(Opcode::NumPrograms, {}, k.i32(), {ir::Attr::of_int(1)});
  ir::Value* lin =
      k.bin(Opcode::Add, k.pid(0),
            k.bin(Opcode::Mul, gx, k.bin(Opcode::Add, k.pid(1), k.bin(Opcode::Mul, gy, k.pid(2)))));
  // x + 10 y + 100 z + 1: a wrong carry shows as a wrong digit.
  ir::Value* code =
      k.bin(Opcode::Add, k.bin(Opcode::Add, k.pid(0), k.bin(Opcode::Mul, k.pid(1), k.cint(10))),
            k.bin(Opcode::Add, k.bin(Opcode::Mul, k.pid(2), k.cint(100)), k.cint(1)));
  k.store(k.addptr(out, lin), code);
  k.ret();
  auto kernel = codegen::cpu::compile(k.fn);
  const std::array<int32_t, 3> grid = {4, 3, 5};
  const int total = 4 * 3 * 5;
  for (int begin = 0; begin < total; ++begin)
    for (int end = begin; end <= total; ++end) {
      Buffer bout(DType::i32, total);
      for (int i = 0; i < total; ++i)
        bout.set(i, -1); // poison
      void* po = bout.data();
      std::vector<void*> args = {&po};
      run_on_big_stack([&] { kernel->entry()(args.data(), grid.data(), begin, end); });
      for (int i = 0; i < total; ++i) {
        int want = i >= begin && i < end ? i % 4 + 10 * (i / 4 % 3) + 100 * (i / 12) + 1 : -1;
        ASSERT_EQ(bout.get(i), want) << "range [" << begin << ", " << end << ") id " << i;
      }
    }
}

// A bf16 load kept in a stack array (it has two uses) is copied as its bits, as a GPU's ld/st
// does: every one of the 65536 patterns, NaN payloads and signalling NaNs included, comes out
// unchanged, from the full block and from the masked partial one (whose masked-off elements are
// `other`, rounded once). Before, the copy widened to f32 and rounded back, which quietened
// signalling NaNs and cost two roundings per element (softmax's bf16 rows).
TEST(CpuElementwise, Bf16LoadCopiedAsBits) {
  constexpr int64_t kAll = 65536, kTile = 4096;
  KernelBuilder k("bf16_bits");
  ir::Value* out = k.arg(k.ptr(DType::bf16));
  ir::Value* out2 = k.arg(k.ptr(DType::bf16));
  ir::Value* in = k.arg(k.ptr(DType::bf16));
  ir::Value* n = k.arg(k.i32());
  ir::Value* cols = k.bin(
      Opcode::Add, k.splat(k.bin(Opcode::Mul, k.pid(0), k.cint(kTile)), {kTile}), k.arange(kTile));
  ir::Value* mask = k.cmp(Opcode::CmpLt, cols, k.splat(n, {kTile}));
  ir::Value* x =
      k.load(k.addptr(in, cols), mask, k.splat(k.cfloat(-1.5, k.s(DType::bf16)), {kTile}));
  k.store(k.addptr(out, cols), x, mask);
  k.store(k.addptr(out2, cols), x, mask);
  k.ret();
  auto kernel = codegen::cpu::compile(k.fn);
  for (int64_t count : {kAll, kAll - 5}) { // the last block full, or partial
    Buffer bin(DType::bf16, kAll), bout(DType::bf16, kAll), bout2(DType::bf16, kAll);
    for (int64_t i = 0; i < kAll; ++i)
      std::memcpy(static_cast<unsigned char*>(bin.data()) + 2 * i, &i, 2);
    void *po = bout.data(), *po2 = bout2.data(), *pi = bin.data();
    int32_t cn = int32_t(count);
    launch(*kernel, {&po, &po2, &pi, &cn}, {int32_t(kAll / kTile), 1, 1});
    for (int64_t i = 0; i < count; ++i) {
      uint16_t got = 0, got2 = 0;
      std::memcpy(&got, static_cast<unsigned char*>(bout.data()) + 2 * i, 2);
      std::memcpy(&got2, static_cast<unsigned char*>(bout2.data()) + 2 * i, 2);
      ASSERT_EQ(got, uint16_t(i)) << "count " << count << " pattern " << std::hex << i;
      ASSERT_EQ(got2, uint16_t(i)) << "count " << count << " pattern " << std::hex << i;
    }
    for (int64_t i = count; i < kAll; ++i) // masked off: not written, still poisoned
      ASSERT_TRUE(std::isnan(bout.get(i))) << i;
  }
}

TEST(CpuElementwise, ChainedF16Rounding) {
  // (a * b) + c in f16 rounds after the multiply (ir.h), unlike one f32 fma.
  auto kernel = compile_map("chain", {DType::f16, DType::f16, DType::f16}, DType::f16,
                            [](KernelBuilder& k, auto& x) {
                              return k.bin(Opcode::Add, k.bin(Opcode::Mul, x[0], x[1]), x[2]);
                            });
  std::vector<Buffer> ins{Buffer(DType::f16, kN), Buffer(DType::f16, kN), Buffer(DType::f16, kN)};
  for (int i = 0; i < 3; ++i)
    ins[i].fill_random(70 + i, -30, 30);
  Buffer out = run_map(*kernel, ins, DType::f16);
  for (size_t i = 0; i < kN; ++i) {
    double m = round_to(DType::f16, ins[0].get(i) * ins[1].get(i));
    ASSERT_EQ(out.get(i), round_to(DType::f16, m + ins[2].get(i)));
  }
}

// A load read several times (x * sigmoid(x) + x) whose reads all end in one store is fused into
// that store's loop when its elements are 32-bit: the f32 kernel's optimised IR holds no stack
// array (before session 9 the block was copied to one first). bf16 keeps its copy (measured
// faster from DRAM: can_fuse_load). Both match a plain reference.
TEST(CpuElementwise, LoadReadSeveralTimesIsFusedIntoItsOneConsumer) {
  // The activations' block: with 128 elements LLVM unrolls the copy loop fully and SROA removes
  // the array, so the check would not see it.
  constexpr int64_t kWide = 1024;
  for (DType kind : {DType::f32, DType::bf16}) {
    KernelBuilder k(fmt::format("multi_use_{}", name_of(kind)));
    ir::Value* out_ptr = k.arg(k.ptr(kind));
    ir::Value* in_ptr = k.arg(k.ptr(kind));
    ir::Value* n = k.arg(k.i32());
    ir::Value* base = k.bin(Opcode::Mul, k.pid(), k.cint(kWide));
    ir::Value* offs = k.bin(Opcode::Add, k.splat(base, {kWide}), k.arange(kWide));
    ir::Value* mask = k.cmp(Opcode::CmpLt, offs, k.splat(n, {kWide}));
    ir::Value* x = k.load(k.addptr(in_ptr, offs), mask);
    ir::Value* y = k.bin(Opcode::Add, k.bin(Opcode::Mul, x, k.un(Opcode::Sigmoid, x)), x);
    k.store(k.addptr(out_ptr, offs), y, mask);
    k.ret();
    codegen::cpu::CompileOptions options;
    options.keep_text = true;
    auto kernel = codegen::cpu::compile(k.fn, options);
    const std::string& ir = kernel->llvm_ir();
    if (kind == DType::f32) {
      EXPECT_EQ(ir.find("alloca ["), std::string::npos) << "the block went through a stack array";
      EXPECT_EQ(ir.find("llvm.memcpy"), std::string::npos);
    }
    // Two programs: a full block and a partial one (the fast and the masked copy of the loop).
    constexpr int32_t count = kWide + 300;
    Buffer in(kind, count), out(kind, 2 * kWide);
    in.fill_random(17, -8, 8);
    for (int64_t i = 0; i < 2 * kWide; ++i)
      out.set(i, NAN);
    int32_t nn = count;
    void *po = out.data(), *pi = in.data();
    launch(*kernel, {&po, &pi, &nn}, {2, 1, 1});
    for (int64_t i = 0; i < 2 * kWide; ++i) {
      if (i >= count) {
        ASSERT_TRUE(std::isnan(out.get(i))) << "masked-off element " << i << " was written";
        continue;
      }
      double v = in.get(i);
      // Each op rounds to the type: sigmoid, the product, the sum.
      double s = round_to(kind, 1 / (1 + std::exp(-v)));
      double want = round_to(kind, round_to(kind, v * s) + v);
      double tol = kind == DType::f32 ? 4e-6 : 2 * tolerance(kind);
      ASSERT_NO_FATAL_FAILURE(expect_near_rel(out.get(i), want, tol, name_of(kind)));
    }
  }
}

// A load with two consumers is not fused: the first, a store over the loaded addresses (an
// in-place update), must not change what the second reads. out2 = 2 x of the values before
// `p = x + 1`.
TEST(CpuElementwise, LoadWithTwoConsumersReadsBeforeTheFirstWrites) {
  KernelBuilder k("two_consumers");
  ir::Value* p = k.arg(k.ptr(DType::f32));
  ir::Value* q = k.arg(k.ptr(DType::f32));
  ir::Value* n = k.arg(k.i32());
  ir::Value* base = k.bin(Opcode::Mul, k.pid(), k.cint(kBlock));
  ir::Value* offs = k.bin(Opcode::Add, k.splat(base, {kBlock}), k.arange(kBlock));
  ir::Value* mask = k.cmp(Opcode::CmpLt, offs, k.splat(n, {kBlock}));
  ir::Value* x = k.load(k.addptr(p, offs), mask);
  ir::Value* one = k.splat(k.cfloat(1.0, k.s(DType::f32)), {kBlock});
  k.store(k.addptr(p, offs), k.bin(Opcode::Add, x, one), mask);
  k.store(k.addptr(q, offs), k.bin(Opcode::Add, x, x), mask);
  k.ret();
  auto kernel = codegen::cpu::compile(k.fn);
  Buffer bp(DType::f32, kN), bq(DType::f32, kN);
  bp.fill_random(23, -4, 4);
  std::vector<double> before(kN);
  for (size_t i = 0; i < kN; ++i) {
    before[i] = bp.get(i);
    bq.set(i, NAN);
  }
  int32_t count = kN;
  void *pp = bp.data(), *pq = bq.data();
  launch(*kernel, {&pp, &pq, &count}, {int32_t((kN + kBlock - 1) / kBlock), 1, 1});
  for (size_t i = 0; i < kN; ++i) {
    ASSERT_EQ(bp.get(i), float(before[i] + 1)) << "element " << i;
    ASSERT_EQ(bq.get(i), float(2 * before[i])) << "element " << i << " read after the store";
  }
}

} // namespace
} // namespace tessel::test
