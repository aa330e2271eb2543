// The text form round-trips: print -> parse -> print is the identity, byte for byte. One kernel per
// op of the op table (so an op added to ops.def is covered without touching this file), plus
// hand-written canonical kernels with nested regions, floats that need care (inf, nan, -0.0,
// exponents), divisibility and escaped locations.
#include "tessel/ir/builder.h"
#include "tessel/ir/parser.h"
#include "tessel/ir/printer.h"
#include "tessel/ir/verifier.h"

#include <gtest/gtest.h>

namespace tessel::ir {
namespace {

std::string round_trip(const std::string& text) { return print(*parse_module(text, "test.tir")); }

// One instance of `info`'s op, built from the table alone: operands are the kernel's arguments,
// attributes get distinct values of their declared kind, each region takes two arguments and
// computes with them and with a value from the enclosing block before yielding. (Not verified:
// only the text form is under test here.)
std::unique_ptr<Module> module_with_op(const OpInfo& info) {
  auto m = std::make_unique<Module>();
  Context& ctx = m->ctx;
  Function& f = m->add_function(std::string("op_") + info.name);
  const Type* tile = ctx.tensor({4, 8}, ctx.f32());
  Value* a = f.add_arg(tile);
  Value* b = f.add_arg(ctx.pointer(ctx.scalar(DType::f16), 3), 16);
  Value* c = f.add_arg(ctx.i32());
  std::vector<Value*> pool = {a, b, c};
  size_t num_operands = info.num_operands == VAR ? 3 : size_t(info.num_operands);
  size_t num_results = info.num_results == VAR ? 2 : size_t(info.num_results);
  std::vector<Value*> operands;
  for (size_t i = 0; i < num_operands; ++i)
    operands.push_back(pool[i % pool.size()]);
  std::vector<const Type*> results;
  for (size_t i = 0; i < num_results; ++i)
    results.push_back(i == 0 ? tile : ctx.tensor({16}, ctx.scalar(DType::i8)));
  std::vector<Attr> attrs;
  for (size_t i = 0; i < info.attrs.size(); ++i) {
    switch (info.attrs[i].kind) {
    case AttrSpec::Kind::Int:
      attrs.push_back(Attr::of_int(int64_t(i) - 3));
      break;
    case AttrSpec::Kind::Float:
      attrs.push_back(Attr::of_float(0.1 * double(i + 1)));
      break;
    case AttrSpec::Kind::Num:
      attrs.push_back(Attr::of_float(double(-1.5e-7f))); // the first result is an f32 tile
      break;
    case AttrSpec::Kind::Ints:
      attrs.push_back(Attr::of_ints({1, 0, -2}));
      break;
    case AttrSpec::Kind::Str: // every byte that needs an escape, and a `%`
      attrs.push_back(Attr::of_str("say \"hi\" \\ 100%\n\x01\xff"));
      break;
    }
  }
  Builder builder(ctx);
  builder.set_insertion_point_to_end(f.body);
  builder.set_location(SourceLoc{ctx.intern("dir/\"q\\uote\".cpp"), 12, 7});
  Op* op = builder.create(info.opcode, operands, results, attrs);
  for (size_t r = 0; r < op->num_regions(); ++r) {
    Block& region = op->region(r);
    Value* x = region.add_arg(ctx.f32());
    Value* y = region.add_arg(ctx.f32());
    Builder inner(ctx);
    inner.set_insertion_point_to_end(region);
    Value* sum = inner.value(Opcode::Add, {x, y}, ctx.f32());
    Value* splat = inner.value(Opcode::Splat, {sum}, tile);
    Value* prod = inner.value(Opcode::Mul, {splat, a}, tile);
    inner.create(Opcode::Yield, {prod, c}, std::span<const Type* const>{});
  }
  if (!info.has(TERMINATOR))
    builder.create(Opcode::Return, {}, std::span<const Type* const>{});
  return m;
}

TEST(RoundTrip, EveryOpOfTheTable) {
  for (size_t i = 0; i < kNumOpcodes; ++i) {
    const OpInfo& info = op_info(Opcode(i));
    SCOPED_TRACE(info.name);
    auto m = module_with_op(info);
    std::string text = print(*m);
    EXPECT_NE(text.find(std::string(" ") + info.name), std::string::npos) << text;
    EXPECT_EQ(round_trip(text), text);
    // And without locations.
    std::string bare = print(*m, PrintOptions{.locations = false});
    EXPECT_EQ(print(*parse_module(bare), PrintOptions{.locations = false}), bare);
  }
}

// A kernel as the printer writes it, using most ops, every kind of region and nested regions; it
// also verifies.
const char* const kCanonical =
    R"(kernel @softmaxish(%arg0: ptr<f32> {div = 16}, %arg1: ptr<f32> {div = 16}, %arg2: i32, %arg3: i32 {div = 16}) {
  %0 = program_id {axis = 0} : i32 loc("softmax.cpp":7:14)
  %1 = num_programs {axis = 1} : i32
  %2 = arange {start = 0, end = 128} : tensor<128xi32>
  %3 = mul %0, %arg2 : i32
  %4 = splat %3 : tensor<128xi32>
  %5 = add %4, %2 : tensor<128xi32>
  %6 = splat %arg2 : tensor<128xi32>
  %7 = cmp_lt %2, %6 : tensor<128xi1>
  %8 = splat %arg0 : tensor<128xptr<f32>>
  %9 = addptr %8, %5 : tensor<128xptr<f32>>
  %10 = constant {value = -inf} : tensor<128xf32>
  %11 = load %9, %7, %10 : tensor<128xf32>
  %12 = reduce_max %11 {axis = 0} : f32
  %13 = splat %12 : tensor<128xf32>
  %14 = sub %11, %13 : tensor<128xf32>
  %15 = exp %14 : tensor<128xf32>
  %16 = reduce %15 {axis = 0} : f32 {
  ^(%17: f32, %18: f32):
    %19 = add %17, %18 : f32
    yield %19
  } loc("softmax.cpp":9:3)
  %20 = constant {value = 0} : i32
  %21 = constant {value = 1} : i32
  %22 = constant {value = 0.0} : f32
  %23 = for %20, %arg3, %21, %22 : f32 {
  ^(%24: i32, %25: f32):
    %26 = cast %24 : f32
    %27 = cmp_gt %26, %16 : i1
    %28 = if %27 : f32 {
      %29 = fma %26, %16, %25 : f32
      yield %29
    } {
      yield %25
    }
    yield %28
  }
  %30, %31 = while %20, %22 : i32, f32 {
  ^(%32: i32, %33: f32):
    %34 = cmp_lt %32, %arg2 : i1
    condition %34, %32, %33
  } {
  ^(%35: i32, %36: f32):
    %37 = add %35, %21 : i32
    %38 = constant {value = 1.0000000150474662e+30} : f32
    %39 = min %36, %38 : f32
    yield %37, %39
  }
  %40 = splat %23 : tensor<128xf32>
  %41 = div %15, %40 : tensor<128xf32>
  %42 = splat %arg1 : tensor<128xptr<f32>>
  %43 = addptr %42, %5 : tensor<128xptr<f32>>
  store %43, %41, %7 loc("dir/\"x\\y\".cpp":11:5)
  return
}

kernel @shapes(%arg0: tensor<4x8xf16>, %arg1: tensor<8x16xf16>) {
  %0 = constant {value = 0.0} : tensor<4x16xf32>
  %1 = dot %arg0, %arg1, %0 : tensor<4x16xf32>
  %2 = permute %1 {order = [1, 0]} : tensor<16x4xf32>
  %3 = reshape %2 : tensor<64xf32>
  %4 = expand_dims %3 {axis = 0} : tensor<1x64xf32>
  %5 = broadcast %4 : tensor<8x64xf32>
  %6 = scan_sum %5 {axis = 1} : tensor<8x64xf32>
  %7 = reduce_argmax %6 {axis = 1} : tensor<8xi32>
  %8 = constant {value = -0.0} : bf16
  %9 = constant {value = nan} : f64
  %10 = constant {value = -9223372036854775808} : i64
  %11 = constant {value = 2.499999993688107e-07} : f32
  return
}
)";

TEST(RoundTrip, CanonicalKernelsPrintBackIdentically) {
  auto m = parse_module(kCanonical, "test.tir");
  EXPECT_EQ(print(*m), kCanonical);
  auto error = verify(*m);
  EXPECT_FALSE(error.has_value()) << error->message;
}

TEST(RoundTrip, LocationsAreKept) {
  auto m = parse_module(kCanonical);
  const Op& first = *m->functions[0]->body.ops().front();
  EXPECT_STREQ(first.loc.file, "softmax.cpp");
  EXPECT_EQ(first.loc.line, 7u);
  EXPECT_EQ(first.loc.column, 14u);
  EXPECT_EQ(m->functions[0]->arg_divisibility, (std::vector<int64_t>{16, 16, 1, 16}));
}

TEST(RoundTrip, FloatsReadBackExactly) {
  for (double v : {0.1, -0.0, 1e30, 5e-324, 1.7976931348623157e308, 3.0, -2.5e-07}) {
    std::string text =
        "kernel @k() {\n  %0 = constant {value = " + format_float(v) + "} : f64\n  return\n}\n";
    auto m = parse_module(text);
    EXPECT_EQ(m->functions[0]->body.ops().front()->attrs()[0].f, v) << text;
    EXPECT_EQ(print(*m), text);
  }
}

TEST(RoundTrip, CommentsAndSpacingAreAccepted) {
  const char* text = "// a comment\nkernel   @k( %arg0 : i32 ){  // trailing\n"
                     "  %x=add %arg0,%arg0:i32\n\n  return // end\n}\n";
  EXPECT_EQ(print(*parse_module(text)), "kernel @k(%arg0: i32) {\n  %0 = add %arg0, %arg0 : i32\n"
                                        "  return\n}\n");
}

} // namespace
} // namespace tessel::ir
