// CPU backend: structured control flow with scalars and tensors (for with carried tensors
// including a swap, if/else with tensor and scalar results, while), and the backend's own
// behaviour: errors that name the op and its location, object-code reload, concurrent compiles.
#include "tests/codegen/cpu_test_util.h"

#include <thread>

namespace tessel::test {
namespace {

constexpr int64_t kB = 64;

// Appends `for lo, hi, step, inits...`; `body(iv, carried)` returns the yielded values.
ir::Op*
build_for(KernelBuilder& k, ir::Value* lo, ir::Value* hi, ir::Value* step,
          std::vector<ir::Value*> inits,
          const std::function<std::vector<ir::Value*>(ir::Value*, std::vector<ir::Value*>)>& body) {
  std::vector<ir::Value*> operands{lo, hi, step};
  std::vector<const ir::Type*> types;
  for (ir::Value* v : inits) {
    operands.push_back(v);
    types.push_back(v->type());
  }
  ir::Op* op = k.b.create(Opcode::For, operands, types);
  ir::Block& region = op->region(0);
  ir::Value* iv = region.add_arg(lo->type());
  std::vector<ir::Value*> carried;
  for (const ir::Type* t : types)
    carried.push_back(region.add_arg(t));
  ir::Block* saved = k.b.block();
  k.b.set_insertion_point_to_end(region);
  k.effect(Opcode::Yield, body(iv, carried));
  k.b.set_insertion_point_to_end(*saved);
  return op;
}

TEST(CpuControl, ForWithCarriedTensorAndScalar) {
  KernelBuilder k("for_acc");
  ir::Value* out = k.arg(k.ptr(DType::f32));
  ir::Value* out_count = k.arg(k.ptr(DType::i32));
  ir::Value* in = k.arg(k.ptr(DType::f32));
  ir::Value* n = k.arg(k.i32());
  const ir::Type* vec = k.t({kB}, k.s(DType::f32));
  ir::Op* loop = build_for(
      k, k.cint(0), n, k.cint(1), {k.cfloat(0, vec), k.cint(0)},
      [&](ir::Value* i, std::vector<ir::Value*> c) -> std::vector<ir::Value*> {
        ir::Value* offs =
            k.bin(Opcode::Add, k.splat(k.bin(Opcode::Mul, i, k.cint(kB)), {kB}), k.arange(kB));
        ir::Value* x = k.load(k.addptr(in, offs));
        return {k.bin(Opcode::Add, c[0], k.un(Opcode::Exp, x)), k.bin(Opcode::Add, c[1], i)};
      });
  k.store(k.addptr(out, k.arange(kB)), loop->result(0));
  k.store(out_count, loop->result(1));
  k.ret();
  auto kernel = codegen::cpu::compile(k.fn);
  const int rows = 7;
  Buffer bin(DType::f32, rows * kB), bout(DType::f32, kB), bcount(DType::i32, 1);
  bin.fill_random(1, -2, 2);
  int32_t count = rows;
  void *po = bout.data(), *pc = bcount.data(), *pi = bin.data();
  launch(*kernel, {&po, &pc, &pi, &count}, {1, 1, 1});
  for (int j = 0; j < kB; ++j) {
    double want = 0;
    for (int r = 0; r < rows; ++r)
      want += std::exp(bin.get(r * kB + j));
    ASSERT_NEAR(bout.get(j), want, 1e-4);
  }
  EXPECT_EQ(bcount.get(0), 0 + 1 + 2 + 3 + 4 + 5 + 6);
}

// (a, b) <- (b, a + b): the yield writes each carried tensor from the other's old value.
TEST(CpuControl, ForSwapsCarriedTensors) {
  KernelBuilder k("for_swap");
  ir::Value* out_a = k.arg(k.ptr(DType::i32));
  ir::Value* out_b = k.arg(k.ptr(DType::i32));
  ir::Value* in = k.arg(k.ptr(DType::i32));
  ir::Value* a0 = k.load(k.addptr(in, k.arange(kB)));
  ir::Value* b0 = k.load(k.addptr(in, k.arange(kB, kB)));
  ir::Op* loop = build_for(k, k.cint(0), k.cint(10), k.cint(1), {a0, b0},
                           [&](ir::Value*, std::vector<ir::Value*> c) -> std::vector<ir::Value*> {
                             return {c[1], k.bin(Opcode::Add, c[0], c[1])};
                           });
  k.store(k.addptr(out_a, k.arange(kB)), loop->result(0));
  k.store(k.addptr(out_b, k.arange(kB)), loop->result(1));
  k.ret();
  auto kernel = codegen::cpu::compile(k.fn);
  Buffer bin(DType::i32, 2 * kB), ba(DType::i32, kB), bb(DType::i32, kB);
  bin.fill_random(2, -10, 10);
  void *pa = ba.data(), *pb = bb.data(), *pi = bin.data();
  launch(*kernel, {&pa, &pb, &pi}, {1, 1, 1});
  for (int j = 0; j < kB; ++j) {
    int64_t a = int64_t(bin.get(j)), b = int64_t(bin.get(kB + j));
    for (int it = 0; it < 10; ++it) {
      int64_t next = a + b;
      a = b;
      b = next;
    }
    ASSERT_EQ(ba.get(j), a);
    ASSERT_EQ(bb.get(j), b);
  }
}

TEST(CpuControl, IfElseWithTensorAndScalarResults) {
  KernelBuilder k("if_else");
  ir::Value* out = k.arg(k.ptr(DType::f32));
  ir::Value* out_s = k.arg(k.ptr(DType::i32));
  ir::Value* in = k.arg(k.ptr(DType::f32));
  ir::Value* offs =
      k.bin(Opcode::Add, k.splat(k.bin(Opcode::Mul, k.pid(), k.cint(kB)), {kB}), k.arange(kB));
  ir::Value* x = k.load(k.addptr(in, offs));
  ir::Value* even = k.cmp(Opcode::CmpEq, k.bin(Opcode::Rem, k.pid(), k.cint(2)), k.cint(0));
  ir::Op* branch = k.b.create(Opcode::If, {even}, std::vector<const ir::Type*>{x->type(), k.i32()});
  k.b.set_insertion_point_to_end(branch->region(0));
  k.effect(Opcode::Yield, {k.bin(Opcode::Mul, x, k.cfloat(2, x->type())), k.cint(10)});
  k.b.set_insertion_point_to_end(branch->region(1));
  k.effect(Opcode::Yield, {k.bin(Opcode::Add, x, k.cfloat(1, x->type())), k.cint(20)});
  k.b.set_insertion_point_to_end(k.fn.body);
  k.store(k.addptr(out, offs), branch->result(0));
  k.store(k.addptr(out_s, k.pid()), branch->result(1));
  k.ret();
  auto kernel = codegen::cpu::compile(k.fn);
  const int progs = 4;
  Buffer bin(DType::f32, progs * kB), bout(DType::f32, progs * kB), bs(DType::i32, progs);
  bin.fill_random(3, -5, 5);
  void *po = bout.data(), *ps = bs.data(), *pi = bin.data();
  launch(*kernel, {&po, &ps, &pi}, {progs, 1, 1});
  for (int p = 0; p < progs; ++p) {
    EXPECT_EQ(bs.get(p), p % 2 == 0 ? 10 : 20);
    for (int j = 0; j < kB; ++j) {
      double x = bin.get(p * kB + j);
      ASSERT_FLOAT_EQ(bout.get(p * kB + j), float(p % 2 == 0 ? x * 2 : x + 1));
    }
  }
}

// while (c < limit) { c *= 2; t += 1 }: the tensor counts the iterations.
TEST(CpuControl, WhileWithScalarAndTensor) {
  KernelBuilder k("while_loop");
  ir::Value* out = k.arg(k.ptr(DType::i32));
  ir::Value* out_c = k.arg(k.ptr(DType::i32));
  ir::Value* limit = k.arg(k.i32());
  ir::Value* t0 = k.arange(kB);
  std::vector<const ir::Type*> types{k.i32(), t0->type()};
  ir::Op* loop = k.b.create(Opcode::While, {k.cint(1), t0}, types);
  ir::Block& before = loop->region(0);
  ir::Value* c = before.add_arg(k.i32());
  ir::Value* t = before.add_arg(t0->type());
  k.b.set_insertion_point_to_end(before);
  k.effect(Opcode::Condition, {k.cmp(Opcode::CmpLt, c, limit), c, t});
  ir::Block& after = loop->region(1);
  ir::Value* c2 = after.add_arg(k.i32());
  ir::Value* t2 = after.add_arg(t0->type());
  k.b.set_insertion_point_to_end(after);
  k.effect(Opcode::Yield,
           {k.bin(Opcode::Mul, c2, k.cint(2)), k.bin(Opcode::Add, t2, k.splat(k.cint(1), {kB}))});
  k.b.set_insertion_point_to_end(k.fn.body);
  k.store(k.addptr(out, k.arange(kB)), loop->result(1));
  k.store(out_c, loop->result(0));
  k.ret();
  auto kernel = codegen::cpu::compile(k.fn);
  Buffer bout(DType::i32, kB), bc(DType::i32, 1);
  int32_t lim = 100;
  void *po = bout.data(), *pc = bc.data();
  launch(*kernel, {&po, &pc, &lim}, {1, 1, 1});
  EXPECT_EQ(bc.get(0), 128);
  for (int j = 0; j < kB; ++j)
    ASSERT_EQ(bout.get(j), j + 7); // 1, 2, 4, ..., 64: seven doublings
}

// x = load p; store p, x + 1; y = load p; store q, y * 2: the second load must see the store
// (a fused load is never moved past a memory write).
TEST(CpuControl, LoadAfterStoreSeesTheStore) {
  KernelBuilder k("rmw");
  ir::Value* p = k.arg(k.ptr(DType::f32));
  ir::Value* q = k.arg(k.ptr(DType::f32));
  ir::Value* n = k.arg(k.i32());
  ir::Value* offs = k.arange(kB);
  ir::Value* mask = k.cmp(Opcode::CmpLt, offs, k.splat(n, {kB}));
  ir::Value* x = k.load(k.addptr(p, offs), mask);
  k.store(k.addptr(p, offs), k.bin(Opcode::Add, x, k.cfloat(1, x->type())), mask);
  ir::Value* y = k.load(k.addptr(p, offs), mask);
  k.store(k.addptr(q, offs), k.bin(Opcode::Mul, y, k.cfloat(2, y->type())), mask);
  k.ret();
  auto kernel = codegen::cpu::compile(k.fn);
  for (int32_t count : {int32_t(kB), int32_t(kB - 5)}) {
    Buffer bp(DType::f32, kB), bq(DType::f32, kB);
    bp.fill_random(8, -3, 3);
    Buffer orig = bp;
    void *pp = bp.data(), *pq = bq.data();
    int32_t c = count;
    launch(*kernel, {&pp, &pq, &c}, {1, 1, 1});
    for (int j = 0; j < kB; ++j) {
      if (j < count) {
        ASSERT_FLOAT_EQ(bp.get(j), float(orig.get(j) + 1));
        ASSERT_FLOAT_EQ(bq.get(j), float((orig.get(j) + 1) * 2));
      } else {
        ASSERT_EQ(bp.get(j), orig.get(j));
        ASSERT_TRUE(std::isnan(bq.get(j)));
      }
    }
  }
}

TEST(CpuControl, UnloweredOpIsAnErrorWithItsLocation) {
  KernelBuilder k("bad");
  k.b.set_location(SourceLoc{"user_kernel.cpp", 42, 7});
  ir::Op* loop =
      build_for(k, k.cint(0), k.cint(4), k.cint(1), {}, [&](ir::Value*, std::vector<ir::Value*>) {
        k.ret(); // `return` inside a loop body
        return std::vector<ir::Value*>{};
      });
  (void)loop;
  k.ret();
  try {
    codegen::cpu::compile(k.fn);
    FAIL() << "expected tessel::Error";
  } catch (const Error& e) {
    std::string msg = e.what();
    EXPECT_NE(msg.find("user_kernel.cpp:42"), std::string::npos) << msg;
    EXPECT_NE(msg.find("return"), std::string::npos) << msg;
  }
}

// A kernel that writes program id * 3 into out[pid].
std::unique_ptr<codegen::cpu::CompiledKernel> compile_pid_kernel(const std::string& name) {
  KernelBuilder k(name);
  ir::Value* out = k.arg(k.ptr(DType::i32));
  k.store(k.addptr(out, k.pid()), k.bin(Opcode::Mul, k.pid(), k.cint(3)));
  k.ret();
  return codegen::cpu::compile(k.fn);
}

TEST(CpuEngine, ReloadFromObjectCodeAndReport) {
  auto kernel = compile_pid_kernel("pid3");
  const auto& t = kernel->times();
  EXPECT_GT(t.lower_ms + t.optimize_ms + t.codegen_ms + t.link_ms, 0);
  EXPECT_FALSE(kernel->object_code().empty());
  auto again = codegen::cpu::load("pid3", kernel->object_code(), kernel->max_stack_bytes());
  kernel.reset(); // the reloaded copy must not depend on the original
  Buffer out(DType::i32, 8);
  void* po = out.data();
  launch(*again, {&po}, {8, 1, 1});
  for (int i = 0; i < 8; ++i)
    EXPECT_EQ(out.get(i), 3 * i);
  EXPECT_FALSE(codegen::cpu::host_description().empty());
}

TEST(CpuEngine, ConcurrentCompilesOfOneName) {
  std::vector<std::unique_ptr<codegen::cpu::CompiledKernel>> kernels(4);
  std::vector<std::thread> threads;
  for (int i = 0; i < 4; ++i)
    threads.emplace_back([&, i] { kernels[i] = compile_pid_kernel("same_name"); });
  for (auto& th : threads)
    th.join();
  for (auto& kernel : kernels) {
    Buffer out(DType::i32, 4);
    void* po = out.data();
    launch(*kernel, {&po}, {4, 1, 1});
    for (int i = 0; i < 4; ++i)
      EXPECT_EQ(out.get(i), 3 * i);
  }
}

TEST(CpuEngine, PartialProgramRange) {
  auto kernel = compile_pid_kernel("range");
  Buffer out(DType::i32, 8);
  void* po = out.data();
  std::vector<void*> args{&po};
  std::array<int32_t, 3> grid{8, 1, 1};
  run_on_big_stack([&] { kernel->entry()(args.data(), grid.data(), 2, 5); });
  for (int i = 0; i < 8; ++i) {
    if (i >= 2 && i < 5)
      EXPECT_EQ(out.get(i), 3 * i);
    else
      EXPECT_EQ(out.bytes[i * 4], 0xCD);
  }
}

} // namespace
} // namespace tessel::test
