// Parser diagnostics: malformed PTX gives a parse error with line and column; instructions
// outside the subset are named with their line; Hopper-only instructions say they are out
// of scope until the Hopper work. Also: what the parser accepts (module directives,
// initialisers, sections, .loc).
#include "sim_test_util.h"

namespace tessel::sim::testing {
namespace {

const char* kHeader = ".version 8.0\n.target sm_80\n.address_size 64\n";

Error parse_error(const std::string& body) {
  auto m = parse_module(std::string(kHeader) + body);
  EXPECT_FALSE(m.ok()) << "expected a parse failure";
  return m.ok() ? Error{} : m.error();
}

TEST(Parser, MalformedOperandHasLineAndColumn) {
  // Line 5 (after the 3 header lines and the entry line), column 16: the ']' that is missing.
  Error e = parse_error(
      ".visible .entry k()\n{\n  .reg .b32 %r<2>;\n  ld.global.u32 %r0, [%r1;\n  ret;\n}\n");
  EXPECT_EQ(e.kind, ErrorKind::parse);
  EXPECT_EQ(e.ptx_line, 7);
  EXPECT_EQ(e.ptx_column, 26);
  EXPECT_NE(e.message.find("expected ']'"), std::string::npos) << e.to_string();
  EXPECT_EQ(e.kernel, "k");
}

TEST(Parser, UndeclaredRegister) {
  Error e =
      parse_error(".visible .entry k()\n{\n  .reg .b32 %r<2>;\n  add.s32 %r0, %r1, %r7;\n}\n");
  EXPECT_EQ(e.kind, ErrorKind::parse);
  EXPECT_EQ(e.ptx_line, 7);
  EXPECT_EQ(e.ptx_column, 21);
  EXPECT_NE(e.message.find("%r7"), std::string::npos) << e.to_string();
}

// Found by the sim_ptx fuzzer (tests/fuzz/regressions/sim_ptx/): too few operands were read
// past by the executor, a host SEGV.
TEST(Parser, TooFewOperandsIsAnError) {
  Error e = parse_error(".visible .entry k()\n{\n  .reg .b32 %r<2>;\n  shl.b32 %r0;\n}\n");
  EXPECT_EQ(e.kind, ErrorKind::parse);
  EXPECT_EQ(e.ptx_line, 7);
  EXPECT_NE(e.message.find("'shl.b32' takes at least 3 operands, found 1"), std::string::npos)
      << e.to_string();
  Error mad =
      parse_error(".visible .entry k()\n{\n  .reg .b32 %r<4>;\n  mad.lo.s32 %r0, %r1, %r2;\n}\n");
  EXPECT_NE(mad.message.find("'mad.lo.s32' takes at least 4 operands, found 3"), std::string::npos)
      << mad.to_string();
  // A warp collective: shfl.sync's membermask is its fifth operand.
  Error shfl = parse_error(".visible .entry k()\n{\n  .reg .f32 %f<4>;\n"
                           "  shfl.sync.bfly.b32 %f0, %f1;\n}\n");
  EXPECT_NE(shfl.message.find("'shfl.sync.bfly.b32' takes at least 5 operands, found 2"),
            std::string::npos)
      << shfl.to_string();
  Error vote = parse_error(".visible .entry k()\n{\n  .reg .pred %p<2>;\n"
                           "  vote.sync.any.pred %p0, %p1;\n}\n");
  EXPECT_NE(vote.message.find("'vote.sync.any.pred' takes at least 3 operands, found 2"),
            std::string::npos)
      << vote.to_string();
}

TEST(Parser, VectorAccessNeedsThatManyElementsAndAnAddress) {
  Error v =
      parse_error(".visible .entry k(.param .u64 p)\n{\n  .reg .f32 %f<4>;\n  .reg .b64 %rd<2>;\n"
                  "  st.global.v4.f32 [%rd0], {%f0, %f1};\n}\n");
  EXPECT_EQ(v.kind, ErrorKind::parse);
  EXPECT_NE(v.message.find("'st.global.v4.f32' moves 4 element(s) but its value has 2"),
            std::string::npos)
      << v.to_string();
  Error a = parse_error(".visible .entry k()\n{\n  .reg .f32 %f<4>;\n  .reg .b64 %rd<2>;\n"
                        "  ld.global.f32 %f0, %rd0;\n}\n");
  EXPECT_NE(a.message.find("'ld.global.f32' needs an address in brackets as its second operand"),
            std::string::npos)
      << a.to_string();
}

// Found by the sim_ptx fuzzer as a timeout: every one of the registers got a name.
TEST(Parser, HugeRegisterCountIsAnError) {
  Error e = parse_error(".visible .entry k()\n{\n  .reg .b32 %r<48888888888888888>;\n  ret;\n}\n");
  EXPECT_EQ(e.kind, ErrorKind::parse);
  EXPECT_NE(e.message.find("register count 48888888888888888 is outside 0..65536"),
            std::string::npos)
      << e.to_string();
}

// Found by the sim_ptx fuzzer: a register as a bra target overflowed the CFG at parse time.
TEST(Parser, BranchTargetMustBeALabel) {
  Error e = parse_error(".visible .entry k()\n{\n  .reg .b32 %r<2>;\n  bra.uni %r0;\n}\n");
  EXPECT_EQ(e.kind, ErrorKind::parse);
  EXPECT_NE(e.message.find("'bra.uni' needs a label as its target"), std::string::npos)
      << e.to_string();
}

// Found by the sim_ptx fuzzer (ASan: a read after free): a data register as setp's destination
// indexed the predicate file past its end when the setp ran.
TEST(Parser, SetpNeedsAPredicateDestination) {
  Error e = parse_error(".visible .entry k()\n{\n  .reg .b32 %r<2>;\n"
                        "  setp.lt.s32 %r0, %r1, 4;\n  ret;\n}\n");
  EXPECT_EQ(e.kind, ErrorKind::parse);
  EXPECT_NE(e.message.find("'setp.lt.s32' needs a predicate register as its destination"),
            std::string::npos)
      << e.to_string();
}

TEST(Parser, UndefinedLabel) {
  Error e = parse_error(".visible .entry k()\n{\n  bra.uni NOWHERE;\n}\n");
  EXPECT_EQ(e.ptx_line, 6);
  EXPECT_NE(e.message.find("undefined label 'NOWHERE'"), std::string::npos) << e.to_string();
}

TEST(Parser, UnterminatedBody) {
  Error e = parse_error(".visible .entry k()\n{\n  ret;\n");
  EXPECT_NE(e.message.find("end of input"), std::string::npos) << e.to_string();
}

TEST(Parser, UnsupportedInstructionIsNamed) {
  Error e = parse_error(
      ".visible .entry k()\n{\n  .reg .b32 %r<2>;\n  tex.1d.v4.f32.s32 %r0, [%r1];\n}\n");
  EXPECT_EQ(e.kind, ErrorKind::unsupported);
  EXPECT_EQ(e.ptx_line, 7);
  EXPECT_NE(e.message.find("tex.1d.v4.f32.s32"), std::string::npos) << e.to_string();
}

TEST(Parser, UnsupportedModifierIsNamed) {
  Error e = parse_error(
      ".visible .entry k()\n{\n  .reg .b32 %r<2>;\n  add.bogus.s32 %r0, %r1, %r1;\n}\n");
  EXPECT_EQ(e.kind, ErrorKind::unsupported);
  EXPECT_NE(e.message.find("'.bogus'"), std::string::npos) << e.to_string();
}

TEST(Parser, HopperInstructionsAreOutOfScope) {
  for (const char* inst : {"getctarank.u32 %r0, %r1;",
                           "tensormap.replace.tile.global_address.global.b1024.b64 [%rd0], %rd1;",
                           "mapa.u32 %r0, %r1, %r1;"}) {
    Error e = parse_error(
        std::string(".visible .entry k()\n{\n  .reg .b32 %r<2>;\n  .reg .b64 %rd<2>;\n  ") + inst +
        "\n}\n");
    EXPECT_EQ(e.kind, ErrorKind::unsupported) << inst;
    EXPECT_EQ(e.ptx_line, 8) << inst;
    EXPECT_NE(e.message.find("out of scope until the Hopper work"), std::string::npos)
        << e.to_string();
  }
}

TEST(Parser, AcceptsModuleFeatures) {
  std::string ptx = std::string(kHeader) + R"(
// comment
.file 1 "kernel.cu"
.global .align 4 .u32 table[4] = {1, 2, 3, 4};
.const .align 4 .f32 scale = 0.5;
.extern .shared .align 16 .b8 dyn[];
.visible .entry k(.param .u64 k_param_0, .param .align 8 .b8 k_param_1[16]) .maxntid 128, 1, 1
{
  .reg .b32 %r<4>;
  .reg .b64 %rd<3>;
  /* block
     comment */
  .loc 1 12 3
  ld.param.u64 %rd1, [k_param_0];
  mov.u64 %rd2, table;
  ld.global.u32 %r1, [%rd2+8];
  ld.const.f32 %r2, [scale];
  cvta.to.global.u64 %rd1, %rd1;
  st.global.u32 [%rd1], %r1;
  st.global.u32 [%rd1+4], %r2;
  ret;
}
.section .debug_str
{
$L__info: .b8 1, 2, 3
}
)";
  auto m = parse_module(ptx);
  ASSERT_TRUE(m.ok()) << m.error().to_string();
  auto kernels = module_kernels(**m);
  ASSERT_EQ(kernels.size(), 1u);
  EXPECT_EQ(kernels[0].name, "k");
  ASSERT_EQ(kernels[0].params.size(), 2u);
  EXPECT_EQ(kernels[0].params[1].size, 16u);
  EXPECT_EQ(kernels[0].params[1].align, 8u);
  Device dev;
  uint64_t out = *dev.malloc(8);
  std::vector<KernelArg> args = {KernelArg::ptr(out), KernelArg{std::vector<uint8_t>(16)}};
  auto r = dev.launch(*m, "k", {1, 1, 1}, {1, 1, 1}, 0, args);
  ASSERT_TRUE(r.ok()) << r.error().to_string();
  EXPECT_TRUE(r->ok()) << errors_text(*r);
  auto v = download<uint32_t>(dev, out, 2);
  EXPECT_EQ(v[0], 3u);
  EXPECT_EQ(v[1], 0x3f000000u); // 0.5f
  ASSERT_FALSE(r->profile.lines.empty());
  EXPECT_EQ(r->profile.lines[0].source_line, 12);
}

TEST(Parser, LabelAfterTheLastInstructionAndExit) {
  // A branch to a label that follows the final instruction gets an implicit ret; `exit`
  // ends threads like ret in an entry.
  std::string ptx = std::string(kHeader) + R"(
.visible .entry k(.param .u64 out)
{
  .reg .pred %p<2>;
  .reg .b32 %r<3>;
  .reg .b64 %rd<4>;
  ld.param.u64 %rd1, [out];
  mov.u32 %r1, %tid.x;
  mul.wide.u32 %rd2, %r1, 4;
  add.s64 %rd3, %rd1, %rd2;
  setp.lt.u32 %p1, %r1, 4;
  @%p1 bra END;
  st.global.u32 [%rd3], %r1;
  exit;
END:
}
)";
  Device dev;
  uint64_t out = *dev.malloc(32 * 4);
  ASSERT_TRUE(dev.memset(out, 0xff, 32 * 4).ok());
  std::vector<KernelArg> args = {KernelArg::ptr(out)};
  auto r = dev.launch(ptx, "k", {1, 1, 1}, {32, 1, 1}, 0, args);
  ASSERT_TRUE(r.ok()) << r.error().to_string();
  EXPECT_TRUE(r->ok()) << errors_text(*r);
  auto v = download<uint32_t>(dev, out, 32);
  for (uint32_t t = 0; t < 32; ++t)
    EXPECT_EQ(v[t], t < 4 ? 0xffffffffu : t) << t;
}

} // namespace
} // namespace tessel::sim::testing
