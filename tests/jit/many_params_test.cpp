// The parameter limit (jit/signature.h, kMaxParams = 64): a kernel of 40 parameters — more than
// the old limit of 32 — launches on the CPU backend and on the simulated device with every
// argument in its place, and a kernel of 65 is refused at its definition with the limit named.
#include "stdlib/ops_test_util.h"
#include "support/expect_error.h"
#include "tessel/tessel.h"

#include <gtest/gtest.h>

#include <string>
#include <utility>
#include <vector>

namespace tl = tessel::lang;

namespace tessel::testing {
namespace {

template <class T, size_t> using Always = T;

// out[i] = i + Σ_j (j + 1) · x_j over N run-time Int parameters x_0 … x_{N-1}: the weights make
// a swapped or dropped argument change the sum.
template <size_t... J> Kernel weighted_sum_kernel(std::string name, std::index_sequence<J...>) {
  return tl::kernel(std::move(name), [](tl::Ptr out, Always<tl::Int, J>... x) {
    auto lanes = tl::arange(0, 16);
    tl::Tensor sum = lanes;
    ((sum = sum + x * int(J + 1)), ...);
    tl::store(out + lanes, sum);
  });
}

constexpr size_t kInts = 39; // + out: 40 parameters

std::vector<double> run_weighted_sum(DeviceKind dev) {
  static const Kernel k = weighted_sum_kernel("many_params_40", std::make_index_sequence<kInts>());
  EXPECT_EQ(k.def().params.size(), 40u);
  auto out = TestTensor::poisoned(dev, DType::i32, {16});
  // An ArgValue keeps a pointer to its TensorView: the view must outlive the launch (a
  // temporary here dangled, and the launch's view checks read it: ASan, stack-use-after-scope).
  const TensorView out_view = out.view();
  std::vector<detail::ArgValue> args{detail::to_arg(out_view)};
  for (size_t j = 0; j < kInts; ++j)
    args.push_back(detail::to_arg(int(3 * j + 1)));
  k.launch_args({1}, {}, args);
  return out.values();
}

std::vector<double> expected_weighted_sum() {
  std::vector<double> want(16);
  for (size_t i = 0; i < want.size(); ++i) {
    want[i] = double(i);
    for (size_t j = 0; j < kInts; ++j)
      want[i] += double((j + 1) * (3 * j + 1));
  }
  return want;
}

TEST(ManyParams, FortyParametersLaunchOnTheCpu) {
  EXPECT_EQ(run_weighted_sum(DeviceKind::cpu), expected_weighted_sum());
}

TEST(ManyParams, FortyParametersLaunchOnTheSimulatedDevice) {
  TESSEL_REQUIRE_SIM_DEVICE();
  EXPECT_EQ(run_weighted_sum(DeviceKind::sim), expected_weighted_sum());
}

TEST(ManyParams, SixtyFiveParametersAreAnError) {
  expect_error([] { weighted_sum_kernel("many_params_65", std::make_index_sequence<64>()); },
               {"kernel 'many_params_65' has 65 parameters; at most 64 are supported"});
}

} // namespace
} // namespace tessel::testing
