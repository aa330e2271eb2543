// One test per argument diagnostic of stdlib/common/args.cpp that the per-family tests do not
// reach, each asserting the message (op, argument, expected, found) and the caller's file:line.
#include "ops_test_util.h"

#include "support/expect_error.h"
#include "tessel/ops.h"

namespace tessel::testing {
namespace {

TEST(OpsArgsErrors, ScalarInput) {
  float v = 1;
  TensorView x(&v, DType::f32, {});
  int line = __LINE__ + 1;
  expect_error([&] { ops::softmax(x, x); },
               {"args_errors_test.cpp:" + std::to_string(line),
                "softmax: x is a scalar (rank 0); expected a tensor of rank 1 or more"});
}

TEST(OpsArgsErrors, NullData) {
  TensorView x(nullptr, DType::f32, {2, 8});
  std::vector<float> y(16);
  expect_error(
      [&] {
        ops::silu(x, TensorView(y.data(), {2, 8}));
      },
      {"silu: x has shape [2, 8] but a null data pointer"});
}

TEST(OpsArgsErrors, StrideTooLargeFor32Bits) {
  std::vector<float> buf(8);
  TensorView x(buf.data(), {2, 8});
  x.strides = {int64_t(1) << 32, 1}; // never dereferenced: the check comes first
  expect_error([&] { ops::gelu(x, x); },
               {"gelu: x has 2 rows with a stride of 4294967296; the kernels take 32-bit row "
                "counts and strides"});
}

TEST(OpsArgsErrors, WeightNotContiguous) {
  std::vector<float> x(16), w(16), rstd(2);
  TensorView wv(w.data(), {8});
  wv.strides = {2};
  expect_error(
      [&] {
        ops::rms_norm(TensorView(x.data(), {2, 8}), wv, TensorView(x.data(), {2, 8}),
                      TensorView(rstd.data(), {2}));
      },
      {"rms_norm: weight has stride 2; expected a contiguous vector"});
}

TEST(OpsArgsErrors, WeightNull) {
  std::vector<float> x(16), rstd(2);
  expect_error(
      [&] {
        ops::rms_norm(TensorView(x.data(), {2, 8}), TensorView(nullptr, DType::f32, {8}),
                      TensorView(x.data(), {2, 8}), TensorView(rstd.data(), {2}));
      },
      {"rms_norm: weight has a null data pointer"});
}

TEST(OpsArgsErrors, WeightDtype) {
  std::vector<float> x(16), rstd(2);
  std::vector<int32_t> w(8);
  expect_error(
      [&] {
        ops::rms_norm(TensorView(x.data(), {2, 8}), TensorView(w.data(), {8}),
                      TensorView(x.data(), {2, 8}), TensorView(rstd.data(), {2}));
      },
      {"rms_norm: weight has dtype i32; expected f32, f16 or bf16"});
}

TEST(OpsArgsErrors, RstdNotContiguous) {
  std::vector<float> x(32), w(8), rstd(8);
  TensorView rv(rstd.data(), {4});
  rv.strides = {2};
  expect_error(
      [&] {
        ops::rms_norm(TensorView(x.data(), {4, 8}), TensorView(w.data(), {8}),
                      TensorView(x.data(), {4, 8}), rv);
      },
      {"rms_norm: rstd has strides [2]; expected a contiguous tensor"});
}

TEST(OpsArgsErrors, RstdNull) {
  std::vector<float> x(32), w(8);
  expect_error(
      [&] {
        ops::rms_norm(TensorView(x.data(), {4, 8}), TensorView(w.data(), {8}),
                      TensorView(x.data(), {4, 8}), TensorView(nullptr, DType::f32, {4}));
      },
      {"rms_norm: rstd has a null data pointer"});
}

TEST(OpsArgsErrors, MeanPoolNullX) {
  std::vector<float> m(4, 1.0f), y(16);
  expect_error(
      [&] {
        ops::mean_pool(TensorView(nullptr, DType::f32, {2, 2, 8}), TensorView(m.data(), {2, 2}),
                       TensorView(y.data(), {2, 8}));
      },
      {"mean_pool: x has shape [2, 2, 8] but a null data pointer"});
}

TEST(OpsArgsErrors, WeightOnAnotherDevice) {
  TESSEL_REQUIRE_SIM_DEVICE();
  TestTensor x(DeviceKind::sim, DType::f32, {2, 8}, random_values(16, 1));
  TestTensor rstd = TestTensor::poisoned(DeviceKind::sim, DType::f32, {2});
  std::vector<float> w(8, 1.0f);
  expect_error(
      [&] { ops::rms_norm(x.view(), TensorView(w.data(), {8}), x.view(), rstd.view()); },
      {"rms_norm: weight is on device cpu:0 but x is on sim:0; pass tensors on one device"});
}

} // namespace
} // namespace tessel::testing
