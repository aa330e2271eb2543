// device_print on the CPU backend and on the simulated device: the output, captured through
// TESSEL_PRINT_FILE, is checked line by line against lines written from the documented format
// (docs/language.md "Debugging"): the program ids, the coordinates, the prefix and the value of
// every element, only where the mask holds, one block per program and print, whatever num_warps
// (no line twice where a layout replicates elements over threads).
#include "dsl/debug_test_util.h"

#include <random>

namespace tl = tessel::lang;

namespace tessel::testing {
namespace {

// x[pid * BLOCK + i] for i < BLOCK where the offset is below n: a partial last tile.
const Kernel& print_1d() {
  static const Kernel k =
      tl::kernel("print_1d", "x, n, BLOCK", [](tl::Ptr x, tl::Int n, tl::Const<int> BLOCK) {
        auto offs = tl::program_id(0) * BLOCK + tl::arange(0, BLOCK);
        auto mask = offs < n;
        tl::device_print("x = ", tl::load(x + offs, mask), mask);
      });
  return k;
}

// One R x C tile per program and the program id as a scalar.
const Kernel& print_2d() {
  static const Kernel k =
      tl::kernel("print_2d", "x, R, C", [](tl::Ptr x, tl::Const<int> R, tl::Const<int> C) {
        auto rows = tl::expand_dims(tl::arange(0, R), 1);
        auto cols = tl::expand_dims(tl::arange(0, C), 0);
        auto offs = tl::program_id(0) * (int(R) * int(C)) + rows * int(C) + cols;
        tl::device_print("t: ", tl::load(x + offs));
        tl::device_print("pid is ", tl::program_id(0));
      });
  return k;
}

template <class T> std::vector<T> random_values(size_t n, uint32_t seed) {
  std::mt19937 rng(seed);
  std::vector<T> v(n);
  for (T& e : v) {
    if constexpr (std::is_integral_v<T>)
      e = T(std::uniform_int_distribution<int>(-100, 100)(rng));
    else
      e = T(std::uniform_real_distribution<float>(-10.f, 10.f)(rng));
  }
  return v;
}

template <class T> std::string value_text(T v) {
  if constexpr (std::is_unsigned_v<T>)
    return std::to_string(uint64_t(v));
  else if constexpr (std::is_integral_v<T>)
    return std::to_string(int64_t(v));
  else if constexpr (std::is_same_v<T, double>)
    return float_text(v, /*f64=*/true);
  else
    return float_text(double(float(v)));
}

// The expected block of program p of print_1d.
template <class T>
std::string block_1d(const std::vector<T>& x, int p, int block, int n, const std::string& prefix) {
  std::string s;
  for (int i = 0; i < block; ++i)
    if (p * block + i < n)
      s += print_line(p, {i}, prefix, value_text(x[size_t(p * block + i)]));
  return s;
}

class DevicePrint : public ::testing::TestWithParam<DeviceKind> {};

template <class T> void check_1d(DeviceKind where, int num_warps, uint32_t seed) {
  const int n = 37, block = 16, programs = 3;
  std::vector<T> values = random_values<T>(size_t(programs * block), seed);
  DebugBuffer<T> x(where, values);
  CapturedOutput out;
  print_1d().launch({programs}, debug_on(where, false, num_warps), x.view(), n, block);
  std::map<std::string, std::string> got = blocks(out.text(), {"x = "});
  ASSERT_EQ(got.size(), size_t(programs)) << out.text();
  for (int p = 0; p < programs; ++p)
    EXPECT_EQ(got["pid (" + std::to_string(p) + ", 0, 0) x = "],
              block_1d(values, p, block, n, "x = "))
        << dtype_name(dtype_of_v<T>) << " program " << p << " num_warps " << num_warps;
}

TEST_P(DevicePrint, MaskedOneDTilesOfSeveralDtypes) {
  REQUIRE_DEVICE(GetParam());
  check_1d<float>(GetParam(), 4, 1);
  check_1d<int32_t>(GetParam(), 4, 2);
  check_1d<half>(GetParam(), 4, 3);
  check_1d<double>(GetParam(), 4, 4);
  check_1d<int8_t>(GetParam(), 4, 5);
  check_1d<int64_t>(GetParam(), 4, 6);
  check_1d<bfloat16>(GetParam(), 4, 7);
  check_1d<uint8_t>(GetParam(), 4, 8); // unsigned: 256 - k for the negative numbers drawn
  check_1d<uint32_t>(GetParam(), 4, 9);
  check_1d<float8_e4m3>(GetParam(), 4, 10);
  check_1d<float8_e5m2>(GetParam(), 4, 11);
}

// Booleans print as 0 / 1, pointers as their address in hex.
TEST_P(DevicePrint, BooleanAndPointerTiles) {
  REQUIRE_DEVICE(GetParam());
  static const Kernel k = tl::kernel("print_bool_ptr", [](tl::Ptr x) {
    auto offs = tl::arange(0, 4);
    tl::device_print("b ", offs < 2);
    tl::device_print("p ", x + offs);
  });
  DebugBuffer<float> x(GetParam(), std::vector<float>(4, 0.f));
  TensorView view = x.view();
  CapturedOutput out;
  k.launch({1}, debug_on(GetParam(), false), view);
  std::string want;
  for (int i = 0; i < 4; ++i)
    want += print_line(0, {i}, "b ", i < 2 ? "1" : "0");
  for (int i = 0; i < 4; ++i) {
    char addr[32];
    std::snprintf(addr, sizeof addr, "0x%llx",
                  static_cast<unsigned long long>(reinterpret_cast<uintptr_t>(view.data) + 4 * i));
    want += print_line(0, {i}, "p ", addr);
  }
  EXPECT_EQ(out.text(), want);
}

TEST_P(DevicePrint, TwoDTileAndScalarOnePrintBlockPerProgram) {
  REQUIRE_DEVICE(GetParam());
  const int rows = 4, cols = 8, programs = 2;
  std::vector<float> values = random_values<float>(size_t(programs * rows * cols), 7);
  DebugBuffer<float> x(GetParam(), values);
  CapturedOutput out;
  print_2d().launch({programs}, debug_on(GetParam(), false), x.view(), rows, cols);
  std::map<std::string, std::string> got = blocks(out.text(), {"t: ", "pid is "});
  ASSERT_EQ(got.size(), size_t(2 * programs)) << out.text();
  for (int p = 0; p < programs; ++p) {
    std::string want;
    for (int r = 0; r < rows; ++r)
      for (int c = 0; c < cols; ++c)
        want += print_line(p, {r, c}, "t: ", value_text(values[size_t((p * rows + r) * cols + c)]));
    std::string pid = "pid (" + std::to_string(p) + ", 0, 0)";
    EXPECT_EQ(got[pid + " t: "], want) << "program " << p;
    EXPECT_EQ(got[pid + " pid is "], print_line(p, {}, "pid is ", std::to_string(p)));
  }
}

TEST_P(DevicePrint, PrefixIsPrintedVerbatim) {
  REQUIRE_DEVICE(GetParam());
  static const Kernel k = tl::kernel("print_prefix", [](tl::Ptr x) {
    tl::device_print("100% \"of\" x: ", tl::load(x + tl::arange(0, 2)));
  });
  DebugBuffer<int32_t> x(GetParam(), {5, -6});
  CapturedOutput out;
  k.launch({1}, debug_on(GetParam(), false), x.view());
  EXPECT_EQ(out.text(), print_line(0, {0}, "100% \"of\" x: ", "5") +
                            print_line(0, {1}, "100% \"of\" x: ", "-6"));
}

// A print in a run-time loop: one block per iteration, in iteration order (the simulator's lines
// of one print end at its end marker, so iterations are not merged).
TEST_P(DevicePrint, PrintInALoopGivesOneBlockPerIteration) {
  REQUIRE_DEVICE(GetParam());
  static const Kernel k = tl::kernel("print_loop", [](tl::Ptr x, tl::Int n) {
    auto v = tl::load(x + tl::arange(0, 8));
    tl::for_range(0, n, 1, [&](tl::Int i) {
      tl::device_print("v+i ", v + i);
      tl::device_print("i ", i);
    });
  });
  DebugBuffer<int32_t> x(GetParam(), {7, 6, 5, 4, 3, 2, 1, 0});
  CapturedOutput out;
  k.launch({1}, debug_on(GetParam(), false, 2), x.view(), 3);
  std::string want;
  for (int i = 0; i < 3; ++i) {
    for (int e = 0; e < 8; ++e)
      want += print_line(0, {e}, "v+i ", std::to_string(7 - e + i));
    want += print_line(0, {}, "i ", std::to_string(i));
  }
  EXPECT_EQ(out.text(), want);
}

INSTANTIATE_TEST_SUITE_P(Devices, DevicePrint, ::testing::Values(DeviceKind::cpu, DeviceKind::sim),
                         device_name);

// Replicated layouts: with more threads than elements (16 elements, up to 256 threads) and with
// several elements per thread (a 16 x 32 tile), every element is printed once.
TEST(DevicePrintOnTheSimulator, OneBlockPerProgramForEveryNumWarps) {
  REQUIRE_SIM_DEVICE();
  for (int num_warps : {1, 2, 4, 8}) {
    check_1d<float>(DeviceKind::sim, num_warps, 11);
    const int rows = 16, cols = 32;
    std::vector<int32_t> values = random_values<int32_t>(size_t(rows * cols), 12);
    DebugBuffer<int32_t> x(DeviceKind::sim, values);
    CapturedOutput out;
    print_2d().launch({1}, debug_on(DeviceKind::sim, false, num_warps), x.view(), rows, cols);
    std::map<std::string, std::string> got = blocks(out.text(), {"t: ", "pid is "});
    std::string want;
    for (int r = 0; r < rows; ++r)
      for (int c = 0; c < cols; ++c)
        want += print_line(0, {r, c}, "t: ", std::to_string(values[size_t(r * cols + c)]));
    EXPECT_EQ(got["pid (0, 0, 0) t: "], want) << "num_warps " << num_warps;
    EXPECT_EQ(got["pid (0, 0, 0) pid is "], print_line(0, {}, "pid is ", "0"));
  }
}

} // namespace
} // namespace tessel::testing
