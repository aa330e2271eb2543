// DLPack import and export on the host: dtypes, strides, byte offsets, the checks against what a
// kernel expects (dtype, rank, device), unsupported tensors, the deleter of exported tensors, and
// a kernel launched on a DLPack tensor without a copy.
#include "support/expect_error.h"
#include "tessel/runtime/dlpack.h"
#include "tessel/tessel.h"

#include <gtest/gtest.h>

#include <cstring>
#include <vector>

namespace tl = tessel::lang;
namespace rt = tessel::runtime;
using tessel::DeviceKind;
using tessel::DType;
using tessel::testing::expect_error;

namespace {

DLTensor host_tensor(void* data, DLDataType dtype, std::vector<int64_t>& shape,
                     int64_t* strides = nullptr) {
  DLTensor t{};
  t.data = data;
  t.device = {kDLCPU, 0};
  t.ndim = int(shape.size());
  t.dtype = dtype;
  t.shape = shape.data();
  t.strides = strides;
  t.byte_offset = 0;
  return t;
}

TEST(DLPack, ImportsAContiguousTensor) {
  std::vector<float> data(6);
  std::vector<int64_t> shape = {2, 3};
  tessel::TensorView v = rt::from_dlpack(host_tensor(data.data(), {kDLFloat, 32, 1}, shape));
  EXPECT_EQ(v.data, data.data());
  EXPECT_EQ(v.dtype, DType::f32);
  EXPECT_EQ(v.rank, 2);
  EXPECT_EQ(v.shape[0], 2);
  EXPECT_EQ(v.shape[1], 3);
  EXPECT_EQ(v.strides[0], 3); // null strides mean row-major
  EXPECT_EQ(v.strides[1], 1);
  EXPECT_EQ(v.device, DeviceKind::cpu);
}

TEST(DLPack, ImportsStridesByteOffsetAndEveryDtype) {
  std::vector<int16_t> data(64);
  std::vector<int64_t> shape = {4, 2};
  int64_t strides[] = {1, 8}; // a transposed view
  DLTensor t = host_tensor(data.data(), {kDLInt, 16, 1}, shape, strides);
  t.byte_offset = 6;
  tessel::TensorView v = rt::from_dlpack(t);
  EXPECT_EQ(v.data, reinterpret_cast<char*>(data.data()) + 6);
  EXPECT_EQ(v.strides[0], 1);
  EXPECT_EQ(v.strides[1], 8);
  struct Case {
    DLDataType dl;
    DType dtype;
  } cases[] = {{{kDLInt, 8, 1}, DType::i8},     {{kDLInt, 32, 1}, DType::i32},
               {{kDLInt, 64, 1}, DType::i64},   {{kDLFloat, 16, 1}, DType::f16},
               {{kDLFloat, 64, 1}, DType::f64}, {{kDLBfloat, 16, 1}, DType::bf16},
               {{6, 8, 1}, DType::i1},          {{kDLUInt, 8, 1}, DType::u8},
               {{kDLUInt, 16, 1}, DType::u16},  {{kDLUInt, 32, 1}, DType::u32},
               {{kDLUInt, 64, 1}, DType::u64},  {{10, 8, 1}, DType::f8e4m3},
               {{12, 8, 1}, DType::f8e5m2}};
  for (const Case& c : cases) {
    DLTensor u = host_tensor(data.data(), c.dl, shape);
    EXPECT_EQ(rt::from_dlpack(u).dtype, c.dtype) << tessel::dtype_name(c.dtype);
  }
}

TEST(DLPack, RejectsWhatTesselCannotTake) {
  std::vector<float> data(4);
  std::vector<int64_t> shape = {4};
  // DLPack 1.1's kDLFloat8_e4m3 (code 8) has infinities: not tessel's f8e4m3 (e4m3fn, code 10).
  expect_error(
      [&] {
        rt::from_dlpack(host_tensor(data.data(), {8, 8, 1}, shape));
      },
      {"element type code 8 8", "float8_e4m3fn", "other encodings"});
  expect_error(
      [&] {
        rt::from_dlpack(host_tensor(data.data(), {kDLFloat, 32, 4}, shape));
      },
      {"float32x4", "vector lanes"});
  expect_error(
      [&] {
        rt::from_dlpack(host_tensor(data.data(), {kDLComplex, 64, 1}, shape));
      },
      {"not supported"});
  DLTensor opencl = host_tensor(data.data(), {kDLFloat, 32, 1}, shape);
  opencl.device = {kDLOpenCL, 0};
  expect_error([&] { rt::from_dlpack(opencl); }, {"device type 4", "CPU (1), CUDA (2)"});
  std::vector<int64_t> rank9(9, 1);
  expect_error(
      [&] {
        rt::from_dlpack(host_tensor(data.data(), {kDLFloat, 32, 1}, rank9));
      },
      {"rank 9", "at most 8"});
  expect_error(
      [&] {
        rt::from_dlpack(host_tensor(nullptr, {kDLFloat, 32, 1}, shape));
      },
      {"null data pointer"});
}

// Found by the DLPack fuzzer (tests/fuzz/dlpack_fuzz.cpp; inputs in regressions/dlpack/).
TEST(DLPack, ExtentsWhoseProductOverflowsAreAnError) {
  std::vector<float> data(4);
  std::vector<int64_t> shape = {int64_t(1) << 40, int64_t(5) << 40};
  expect_error(
      [&] {
        rt::from_dlpack(host_tensor(data.data(), {kDLFloat, 32, 1}, shape));
      },
      {"DLPack", "extents multiply past 2^63", "dimension 1"});
  // An empty tensor has 0 elements whatever its other extents.
  std::vector<int64_t> empty = {0, int64_t(1) << 40, int64_t(5) << 40};
  EXPECT_EQ(rt::from_dlpack(host_tensor(nullptr, {kDLFloat, 32, 1}, empty)).numel(), 0);
}

TEST(DLPack, UnknownDeviceTypeIsAnErrorNotUndefined) {
  std::vector<float> data(4);
  std::vector<int64_t> shape = {4};
  DLTensor t = host_tensor(data.data(), {kDLFloat, 32, 1}, shape);
  int newer_device = 19; // past this dlpack.h's enum, as a newer producer may send
  std::memcpy(&t.device.device_type, &newer_device, sizeof(newer_device));
  expect_error([&] { rt::from_dlpack(t); }, {"device type 19", "CPU (1), CUDA (2)"});
}

TEST(DLPack, NullShapeAndWrappingByteOffsetAreErrors) {
  std::vector<float> data(4);
  std::vector<int64_t> shape = {4};
  DLTensor no_shape = host_tensor(data.data(), {kDLFloat, 32, 1}, shape);
  no_shape.shape = nullptr;
  expect_error([&] { rt::from_dlpack(no_shape); }, {"rank 1", "null shape pointer"});
  DLTensor wraps = host_tensor(data.data(), {kDLFloat, 32, 1}, shape);
  wraps.byte_offset = ~uint64_t(0);
  expect_error([&] { rt::from_dlpack(wraps); }, {"byte_offset", "end of the address space"});
  // An empty tensor with a null data pointer and an offset stays a null view.
  std::vector<int64_t> zero = {0};
  DLTensor empty = host_tensor(nullptr, {kDLFloat, 32, 1}, zero);
  empty.byte_offset = 64;
  EXPECT_EQ(rt::from_dlpack(empty).data, nullptr);
}

TEST(DLPack, CudaTensorsAreDeviceViews) {
  std::vector<int64_t> shape = {4};
  DLTensor t = host_tensor(reinterpret_cast<void*>(0x7f0000001000), {kDLFloat, 32, 1}, shape);
  t.device = {kDLCUDA, 1};
  tessel::TensorView v = rt::from_dlpack(t);
  EXPECT_EQ(v.device, DeviceKind::cuda);
  EXPECT_EQ(v.device_index, 1);
}

TEST(DLPack, CheckTensorNamesWhatIsWrong) {
  std::vector<float> data(6);
  tessel::TensorView v(data.data(), {2, 3});
  rt::check_tensor(v, "x", DType::f32, 2, DeviceKind::cpu);
  rt::check_tensor(v, "x", DType::f32, -1, DeviceKind::cpu);
  expect_error([&] { rt::check_tensor(v, "x", DType::f16, 2, DeviceKind::cpu); },
               {"tensor 'x'", "type f32", "expected f16"});
  expect_error([&] { rt::check_tensor(v, "x", DType::f32, 3, DeviceKind::cpu); },
               {"tensor 'x'", "rank 2", "expected rank 3"});
  expect_error([&] { rt::check_tensor(v, "x", DType::f32, 2, DeviceKind::cuda); },
               {"tensor 'x'", "CPU memory", "expected CUDA memory"});
}

TEST(DLPack, ExportRoundTripsAndTheDeleterReleasesTheOwner) {
  std::vector<double> data(12);
  tessel::TensorView v(data.data(), {3, 4});
  auto owner = std::make_shared<int>(42);
  std::weak_ptr<int> watch = owner;
  DLManagedTensor* t = rt::to_dlpack(v, std::move(owner));
  EXPECT_EQ(t->dl_tensor.dtype.code, kDLFloat);
  EXPECT_EQ(t->dl_tensor.dtype.bits, 64);
  EXPECT_EQ(t->dl_tensor.device.device_type, kDLCPU);
  tessel::TensorView back = rt::from_dlpack(*t);
  EXPECT_EQ(back.data, v.data);
  EXPECT_EQ(back.dtype, v.dtype);
  EXPECT_EQ(back.rank, 2);
  EXPECT_EQ(back.shape, v.shape);
  EXPECT_EQ(back.strides, v.strides);
  EXPECT_FALSE(watch.expired());
  t->deleter(t);
  EXPECT_TRUE(watch.expired());
}

TEST(DLPack, KernelRunsOnAnImportedTensorWithoutACopy) {
  const tessel::Kernel twice =
      tl::kernel("dlpack_twice", [](tl::Ptr x, tl::Int n, tl::Const<int> BLOCK) {
        auto offs = tl::program_id(0) * BLOCK + tl::arange(0, BLOCK);
        tl::store(x + offs, tl::load(x + offs, offs < n) * 2.0f, offs < n);
      });
  std::vector<float> data(50, 1.5f);
  std::vector<int64_t> shape = {50};
  tessel::TensorView v = rt::from_dlpack(host_tensor(data.data(), {kDLFloat, 32, 1}, shape));
  twice.launch({2}, {}, v, 50, 32);
  for (float x : data)
    ASSERT_EQ(x, 3.0f);
  // A DLPack tensor of the wrong dtype for a fixed-type parameter is rejected at launch.
  const tessel::Kernel f32_only =
      tl::kernel("dlpack_f32_only", [](tl::PtrOf<float> x, tl::Const<int> BLOCK) {
        tl::store(x + tl::arange(0, BLOCK), tl::zeros({BLOCK}, tl::f32));
      });
  std::vector<int32_t> ints(16);
  std::vector<int64_t> shape16 = {16};
  tessel::TensorView iv = rt::from_dlpack(host_tensor(ints.data(), {kDLInt, 32, 1}, shape16));
  expect_error([&] { f32_only.launch({1}, {}, iv, 16); }, {"expects elements of type f32", "i32"});
}

} // namespace
