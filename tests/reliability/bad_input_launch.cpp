// Bad-input rows for launching a kernel: Kernel::launch's arguments, TensorViews that are not
// what they claim (rank, extents, dtype, device), grids, LaunchOptions, and the compile API's
// target and signature. Every message must name the parameter (or option) it is about.
#include "bad_input.h"

#include "tessel/tessel.h"

#include <array>
#include <cstdint>
#include <vector>

namespace tessel::testing {
namespace {

namespace tl = tessel::lang;

// out[i] = value for i < n; parameters named so that messages say "parameter 'n' (Int)".
const Kernel& fill() {
  static const Kernel k =
      tl::kernel("bad_input_fill", "out, n, value, BLOCK",
                 [](tl::Ptr out, tl::Int n, tl::Float value, tl::Const<int> BLOCK) {
                   auto offs = tl::program_id(0) * BLOCK + tl::arange(0, BLOCK);
                   tl::store(out + offs, value + tl::zeros({BLOCK}, tl::f32), offs < n);
                 });
  return k;
}

// A kernel whose pointer must hold f32 elements.
const Kernel& typed_copy() {
  static const Kernel k =
      tl::kernel("bad_input_typed", "dst, src", [](tl::PtrOf<float> dst, tl::PtrOf<float> src) {
        auto offs = tl::arange(0, 16);
        tl::store(dst + offs, tl::load(src + offs));
      });
  return k;
}

float* host_buffer() {
  static std::array<float, 256> buffer{};
  return buffer.data();
}

TensorView view_with_rank(int rank) {
  TensorView v(host_buffer(), {16});
  v.rank = rank;
  return v;
}

TensorView view_with_extent(int64_t extent) {
  TensorView v(host_buffer(), {2, 8});
  v.shape[1] = extent;
  return v;
}

void launch_fill(const TensorView& out) { fill().launch({1}, {}, out, 16, 1.0f, 16); }

std::vector<BadInput> argument_rows() {
  float* out = host_buffer();
  return {
      {"Kernel::launch",
       "TooFewArguments",
       [=] { fill().launch({1}, {}, out, 16); },
       {"kernel 'bad_input_fill'", "takes 4 arguments", "launched with 2"}},
      {"Kernel::launch",
       "TooManyArguments",
       [=] { fill().launch({1}, {}, out, 16, 1.0f, 16, 7); },
       {"kernel 'bad_input_fill'", "takes 4 arguments", "launched with 5"}},
      {"Kernel::launch",
       "ScalarWhereAPointerIsExpected",
       [] { fill().launch({1}, {}, 42, 16, 1.0f, 16); },
       {"parameter 'out' (Ptr)", "expects a pointer or TensorView, got an integer"}},
      {"Kernel::launch",
       "PointerWhereAnIntegerIsExpected",
       [=] { fill().launch({1}, {}, out, out, 1.0f, 16); },
       {"parameter 'n' (Int)", "expects an integer, got a pointer"}},
      {"Kernel::launch",
       "PointerWhereAFloatIsExpected",
       [=] { fill().launch({1}, {}, out, 16, out, 16); },
       {"parameter 'value' (Float)", "expects a number, got a pointer"}},
      {"Kernel::launch",
       "PointerWhereAConstIsExpected",
       [=] { fill().launch({1}, {}, out, 16, 1.0f, out); },
       {"parameter 'BLOCK' (Const<int>)", "compile-time constant"}},
      {"Kernel::launch",
       "FloatForAnIntegerConst",
       [=] { fill().launch({1}, {}, out, 16, 1.0f, 16.5); },
       {"parameter 'BLOCK' (Const<int>)", "floating-point value 16.5"}},
      {"Kernel::launch",
       "NullRawPointer",
       [] { fill().launch({1}, {}, static_cast<float*>(nullptr), 16, 1.0f, 16); },
       {"parameter 'out' (Ptr)", "is a null pointer"}},
      {"Kernel::launch",
       "NullptrLiteral",
       [] { fill().launch({1}, {}, nullptr, 16, 1.0f, 16); },
       {"parameter 'out' (Ptr)", "is a null pointer (nullptr)"}},
      {"Kernel::launch",
       "WrongElementType",
       [] {
         static std::array<int32_t, 16> ints{};
         typed_copy().launch({1}, {}, ints.data(), host_buffer());
       },
       {"parameter 'dst' (PtrOf<f32>)", "expects elements of type f32, got i32"}},
  };
}

std::vector<BadInput> view_rows() {
  return {
      {"TensorView (launch)",
       "NullData",
       [] { launch_fill(TensorView(nullptr, DType::f32, {16})); },
       {"parameter 'out' (Ptr)", "a TensorView whose data is null"}},
      {"TensorView (launch)",
       "WrongDtype",
       [] {
         static std::array<int16_t, 16> shorts{};
         typed_copy().launch({1}, {}, TensorView(shorts.data(), {16}), host_buffer());
       },
       {"parameter 'dst' (PtrOf<f32>)", "expects elements of type f32, got i16"}},
      {"TensorView (launch)",
       "RankAboveEight",
       [] { launch_fill(view_with_rank(9)); },
       {"parameter 'out' (Ptr)", "rank 9", "0 to 8"}},
      {"TensorView (launch)",
       "NegativeRank",
       [] { launch_fill(view_with_rank(-1)); },
       {"parameter 'out' (Ptr)", "rank -1", "0 to 8"}},
      {"TensorView (launch)",
       "NegativeExtent",
       [] { launch_fill(view_with_extent(-4)); },
       {"parameter 'out' (Ptr)", "extent -4 in dimension 1"}},
      {"TensorView (launch)",
       "InvalidDtypeValue",
       [] {
         TensorView v(host_buffer(), {16});
         v.dtype = static_cast<DType>(200);
         launch_fill(v);
       },
       {"parameter 'out' (Ptr)", "dtype", "200"}},
      {"TensorView (launch)",
       "InvalidDeviceValue",
       [] {
         TensorView v(host_buffer(), {16});
         v.device = static_cast<DeviceKind>(7);
         launch_fill(v);
       },
       {"parameter 'out' (Ptr)", "device", "7"}},
      {"TensorView (launch)",
       "RankAboveEightAtConstruction",
       [] {
         TensorView(host_buffer(), DType::f32, {1, 1, 1, 1, 1, 1, 1, 1, 1});
       },
       {"TensorView", "rank 9", "maximum of 8"}},
      {"TensorView (launch)",
       "CheckedLaunchPastTheView",
       [] {
         LaunchOptions opts;
         opts.checked = true;
         fill().launch({1}, opts, TensorView(host_buffer(), {8}), 16, 1.0f, 16);
       },
       {"kernel 'bad_input_fill'", "out"}},
      {"TensorView (launch)",
       "CudaViewWithoutADriver",
       [] {
         TensorView v(host_buffer(), DType::f32, {16}, DeviceKind::cuda);
         launch_fill(v);
       },
       {"kernel 'bad_input_fill'"}},
  };
}

std::vector<BadInput> grid_and_option_rows() {
  float* out = host_buffer();
  return {
      {"Kernel::launch",
       "NegativeGridX",
       [=] { fill().launch({-1}, {}, out, 16, 1.0f, 16); },
       {"kernel 'bad_input_fill'", "grid dimension 0 is -1"}},
      {"Kernel::launch",
       "NegativeGridY",
       [=] {
         fill().launch({1, -2}, {}, out, 16, 1.0f, 16);
       },
       {"kernel 'bad_input_fill'", "grid dimension 1 is -2"}},
      {"Kernel::launch",
       "NegativeGridZ",
       [=] {
         fill().launch({1, 1, -3}, {}, out, 16, 1.0f, 16);
       },
       {"kernel 'bad_input_fill'", "grid dimension 2 is -3"}},
      {"LaunchOptions",
       "NumStagesZeroOnTheSimulatedDevice",
       [=] {
         LaunchOptions opts;
         opts.device = DeviceKind::sim;
         opts.num_stages = 0;
         fill().launch({1}, opts, out, 16, 1.0f, 16);
       },
       {"kernel 'bad_input_fill'", "LaunchOptions::num_stages is 0"}},
      {"LaunchOptions",
       "NumWarpsThreeOnTheSimulatedDevice",
       [=] {
         LaunchOptions opts;
         opts.device = DeviceKind::sim;
         opts.num_warps = 3;
         fill().launch({1}, opts, out, 16, 1.0f, 16);
       },
       {"kernel 'bad_input_fill'", "LaunchOptions::num_warps is 3"}},
      {"LaunchOptions",
       "NegativeCudaDeviceIndex",
       [=] {
         LaunchOptions opts;
         opts.device = DeviceKind::cuda;
         opts.device_index = -1;
         fill().launch({1}, opts, out, 16, 1.0f, 16);
       },
       {"kernel 'bad_input_fill'", "device"}},
  };
}

std::vector<BadInput> compile_api_rows() {
  return {
      {"Target::parse",
       "UnknownTarget",
       [] { (void)Target::parse("sm_75x"); },
       {"'sm_75x'", "sm_90a"}},
      {"Target::parse", "EmptyTarget", [] { (void)Target::parse(""); }, {"''", "sm_80"}},
      {"Kernel::compile",
       "SignatureOfTheWrongArity",
       [] { (void)fill().compile(Target::parse("cpu"), Signature::from_args(host_buffer(), 16)); },
       {"kernel 'bad_input_fill'", "4"}},
      {"Kernel::compile",
       "NumWarpsOutOfRange",
       [] {
         CompileOptions options;
         options.num_warps = 64;
         (void)fill().compile(Target::parse("sm_80"),
                              Signature::from_args(host_buffer(), 16, 1.0f, 16), options);
       },
       {"kernel 'bad_input_fill'", "num_warps", "64"}},
  };
}

} // namespace

std::vector<BadInput> launch_rows() {
  std::vector<BadInput> rows;
  for (auto group : {argument_rows, view_rows, grid_and_option_rows, compile_api_rows})
    for (BadInput& r : group())
      rows.push_back(std::move(r));
  return rows;
}

} // namespace tessel::testing
