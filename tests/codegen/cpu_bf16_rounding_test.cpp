// CPU backend: f32 -> bf16 rounding gives the same bits with vcvtneps2bf16 (plus its subnormal
// fix-up) as with the integer sequence a host without avx512bf16 gets (codegen/cpu/
// bf16_rounding.h), over every special class of input, against a reference that rounds by value.
#include "tests/codegen/cpu_test_util.h"

#include "codegen/cpu/bf16_rounding.h"

#include <fmt/format.h>

#include <cstring>
#include <random>

namespace tessel::test {
namespace {

using codegen::cpu::CompiledKernel;

constexpr int64_t kBlock = 1024;

// out[i] = bf16(in[i]) for i < n, compiled with or without the instruction.
std::unique_ptr<CompiledKernel> compile_round(bool instruction, const char* name) {
  codegen::cpu::detail::allow_bf16_convert_instruction(instruction);
  KernelBuilder k(name);
  ir::Value* out = k.arg(k.ptr(DType::bf16));
  ir::Value* in = k.arg(k.ptr(DType::f32));
  ir::Value* n = k.arg(k.i32());
  ir::Value* base = k.bin(Opcode::Mul, k.pid(), k.cint(kBlock));
  ir::Value* offs = k.bin(Opcode::Add, k.splat(base, {kBlock}), k.arange(kBlock));
  ir::Value* mask = k.cmp(Opcode::CmpLt, offs, k.splat(n, {kBlock}));
  ir::Value* x = k.load(k.addptr(in, offs), mask);
  k.store(k.addptr(out, offs), k.cast(x, k.s(DType::bf16)), mask);
  k.ret();
  codegen::cpu::CompileOptions options;
  options.keep_text = true;
  auto kernel = codegen::cpu::compile(k.fn, options);
  codegen::cpu::detail::allow_bf16_convert_instruction(true);
  return kernel;
}

std::vector<uint16_t> run_round(const CompiledKernel& kernel, const std::vector<uint32_t>& bits) {
  std::vector<uint16_t> out(bits.size() + 16, 0xCDCD); // poisoned, and a tail that must stay
  int32_t n = int32_t(bits.size());
  void *po = out.data(), *pi = const_cast<uint32_t*>(bits.data());
  launch(kernel, {&po, &pi, &n}, {int32_t((bits.size() + kBlock - 1) / kBlock), 1, 1});
  for (size_t i = bits.size(); i < out.size(); ++i)
    EXPECT_EQ(out[i], 0xCDCD) << "wrote past n at " << i;
  out.resize(bits.size());
  return out;
}

double f32_value(uint32_t b) {
  float f;
  std::memcpy(&f, &b, 4);
  return f;
}
double bf16_value(uint16_t h) { return f32_value(uint32_t(h) << 16); }

bool is_nan_bf16(uint16_t h) { return (h & 0x7f80) == 0x7f80 && (h & 0x7f) != 0; }

// Rounds by value, in f64: the two bf16 neighbours of x (truncation and the next code away from
// zero), whichever is nearer, the even one on a tie; beyond the largest finite value by half an
// ulp (a tie rounds to even, i.e. up), infinity.
uint16_t reference(uint32_t b) {
  double x = f32_value(b);
  uint16_t down = uint16_t(b >> 16), up = uint16_t(down + 1);
  if (std::isinf(x))
    return down;
  double lo = std::fabs(bf16_value(down));
  double hi = (up & 0x7fff) == 0x7f80 ? std::ldexp(1.0, 128) : std::fabs(bf16_value(up));
  double d_lo = std::fabs(x) - lo, d_hi = hi - std::fabs(x);
  if (d_lo < d_hi || (d_lo == d_hi && (down & 1) == 0))
    return down;
  return up;
}

std::vector<uint32_t> special_inputs() {
  std::vector<uint32_t> v = {
      0x00000000, 0x80000000,                         // ±0
      0x00000001, 0x80000001, 0x00007fff, 0x00008000, // smallest subnormals, tie to 0
      0x00008001, 0x00018000, 0x00017fff, 0x00018001, // just above a tie, tie to even (up)
      0x0000ffff, 0x00010000, 0x80008001, 0x807f8000, // ... and negative ones
      0x007fffff, 0x807fffff, 0x007f7fff, 0x007f8000, // largest subnormals: round up to normal
      0x00800000, 0x80800000, 0x00808000, 0x00818000, // smallest normals and their ties
      0x3f800000, 0x3f808000, 0x3f818000, 0x3f807fff, // 1 and ties around it
      0xbf808001, 0x4b7f8000, 0x7f7f0000, 0x7f7f7fff, // large values
      0x7f7f8000, 0x7f7fffff, 0xff7fffff, 0x7f7e8000, // ties at the top: to inf, to even
      0x7f800000, 0xff800000,                         // ±inf
      0x7fc00000, 0xffc00000, 0x7fc12345, 0x7fffffff, // quiet NaNs with payloads
      0x7f800001, 0xff800001, 0x7fa00000, 0x7f80ffff, // signalling NaNs (low payload only too)
      0x7fbfffff, 0xffbf0000, 0x7f810000,
  };
  // Every tie and its neighbours in a range of exponents, subnormal to large.
  for (uint32_t e : {0u, 1u, 2u, 100u, 127u, 200u, 254u})
    for (uint32_t m : {0x000000u, 0x008000u, 0x018000u, 0x7f8000u, 0x3f8000u})
      for (uint32_t d : {0u, 1u, 0xffffffffu})
        for (uint32_t s : {0u, 0x80000000u})
          v.push_back(s | ((e << 23) + m + d));
  std::mt19937 rng(20261202); // random bit patterns: every class, every exponent
  for (int i = 0; i < 200000; ++i)
    v.push_back(uint32_t(rng()));
  for (int i = 0; i < 20000; ++i) // random subnormals
    v.push_back((uint32_t(rng()) & 0x807fffff));
  return v;
}

TEST(CpuBf16Rounding, InstructionAndIntegerSequenceGiveTheSameBits) {
  auto with = compile_round(true, "bf16_round_instruction");
  auto without = compile_round(false, "bf16_round_integer");
  bool host_has = codegen::cpu::detail::bf16_convert_instruction();
  // The instruction path is an fptrunc to bfloat only where the host has avx512bf16.
  EXPECT_EQ(with->llvm_ir().find("to <16 x bfloat>") != std::string::npos, host_has);
  EXPECT_EQ(without->llvm_ir().find("bfloat"), std::string::npos);
  if (!host_has)
    std::printf("note: this host has no avx512bf16; both kernels use the integer sequence\n");

  std::vector<uint32_t> in = special_inputs();
  std::vector<uint16_t> a = run_round(*with, in), b = run_round(*without, in);
  int failures = 0;
  for (size_t i = 0; i < in.size() && failures < 20; ++i) {
    std::string what =
        fmt::format("input 0x{:08x}: instruction 0x{:04x}, integer 0x{:04x}", in[i], a[i], b[i]);
    bool ok = a[i] == b[i];
    if (std::isnan(f32_value(in[i])))
      // NaN stays NaN with its sign (docs/semantics.md); both paths give the same NaN.
      ok = ok && is_nan_bf16(a[i]) && (a[i] >> 15) == (in[i] >> 31);
    else
      ok = ok && a[i] == reference(in[i]);
    if (!ok) {
      ++failures;
      ADD_FAILURE() << what << ", reference 0x" << std::hex << reference(in[i]);
    }
  }
}

} // namespace
} // namespace tessel::test
