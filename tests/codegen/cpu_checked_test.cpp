// CPU backend, checked mode (CompileOptions::checked), at the ABI of codegen/cpu.h: the code
// reads the BoundsTable after the arguments, a failing access is not performed and ends its
// program, later programs are skipped, and unchecked code contains no checks at all.
#include "tests/codegen/cpu_test_util.h"

#include <cmath>

namespace tessel::test {
namespace {

constexpr int64_t kB = 64;

// Program p: out[p*64 + i] = 1, then out2[p*64 + i] = in[p*64 + i].
void build_store_then_copy(KernelBuilder& k) {
  ir::Value* out = k.arg(k.ptr(DType::f32));
  ir::Value* out2 = k.arg(k.ptr(DType::f32));
  ir::Value* in = k.arg(k.ptr(DType::f32));
  const ir::Type* vec = k.t({kB}, k.s(DType::f32));
  ir::Value* offs =
      k.bin(Opcode::Add, k.splat(k.bin(Opcode::Mul, k.pid(), k.cint(kB)), {kB}), k.arange(kB));
  k.store(k.addptr(out, offs), k.cfloat(1, vec));
  k.store(k.addptr(out2, offs), k.load(k.addptr(in, offs)));
  k.ret();
}

codegen::cpu::ByteRange bytes_of(const Buffer& b, size_t elements) {
  auto begin = reinterpret_cast<uint64_t>(b.bytes.data());
  return {begin, begin + elements * size_of(b.kind)};
}

TEST(CpuChecked, UncheckedCodeHasNoChecksAndCheckedCodeCallsTheReport) {
  KernelBuilder k("store_then_copy");
  build_store_then_copy(k);
  auto plain = codegen::cpu::compile(k.fn);
  codegen::cpu::CompileOptions options;
  options.checked = true;
  auto checked = codegen::cpu::compile(k.fn, options);
  EXPECT_EQ(plain->object_code().find(codegen::cpu::kBoundsViolationSymbol), std::string::npos);
  EXPECT_NE(checked->object_code().find(codegen::cpu::kBoundsViolationSymbol), std::string::npos);
}

TEST(CpuChecked, FailingProgramStopsAndLaterProgramsAreSkipped) {
  KernelBuilder k("store_then_copy");
  build_store_then_copy(k);
  codegen::cpu::CompileOptions options;
  options.checked = true;
  auto kernel = codegen::cpu::compile(k.fn, options);
  const int programs = 4;
  Buffer out(DType::f32, programs * kB), out2(DType::f32, programs * kB),
      in(DType::f32, programs * kB);
  in.fill_random(1, -1, 1);
  // `in` is said to hold two programs' worth: programs 2 and 3 read past it.
  std::array<codegen::cpu::ByteRange, 3> ranges{
      bytes_of(out, programs * kB), bytes_of(out2, programs * kB), bytes_of(in, 2 * kB)};
  codegen::cpu::BoundsTable table;
  table.ranges = ranges.data();
  table.num_ranges = 3;
  void *po = out.data(), *po2 = out2.data(), *pi = in.data();
  launch(*kernel, {&po, &po2, &pi, &table}, {programs, 1, 1});

  ASSERT_EQ(table.first_program, 2);
  EXPECT_EQ(table.first.program, 2);
  EXPECT_EQ(table.first.arg, 2);
  EXPECT_FALSE(table.first.is_store);
  EXPECT_EQ(table.first.bytes, 4);
  EXPECT_EQ(table.first.address, reinterpret_cast<uint64_t>(in.data()) + 2 * kB * 4);
  for (int64_t i = 0; i < programs * kB; ++i) {
    int64_t p = i / kB;
    // Programs 0..2 ran their first store; program 3 was skipped before it.
    if (p <= 2)
      ASSERT_EQ(out.get(size_t(i)), 1.0) << i;
    else
      ASSERT_TRUE(std::isnan(out.get(size_t(i)))) << i;
    // Programs 0 and 1 copied; program 2 ended at its failing load (loads fill a tile first).
    if (p <= 1)
      ASSERT_EQ(out2.get(size_t(i)), in.get(size_t(i))) << i;
    else
      ASSERT_TRUE(std::isnan(out2.get(size_t(i)))) << i;
  }
}

} // namespace
} // namespace tessel::test
