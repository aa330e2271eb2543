// Resource bounds: a kernel that needs more of the GPU than the target has — shared memory, warps,
// registers, programs along y or z — is a tessel::Error when it is compiled or launched, naming
// the resource, the need and the limit; never a launch failure inside the driver (or the
// simulator). One test per diagnostic.
#include "codegen/gpu/check_resources.h"
#include "support/expect_error.h"
#include "support/require_sim_device.h"
#include "tessel/codegen/gpu.h"
#include "tessel/runtime/device_buffer.h"
#include "tessel/tessel.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace {

namespace tl = tessel::lang;
using tessel::testing::expect_error;
using P = tessel::SignatureParam;

// A [R, C] f32 tile stored transposed: the layout change goes through shared memory, R * C * 4
// bytes of it.
const tessel::Kernel& transpose_kernel() {
  static const tessel::Kernel k = tl::kernel(
      "bounds_transpose", [](tl::Ptr out, tl::Ptr in, tl::Const<int> R, tl::Const<int> C) {
        auto rows = tl::expand_dims(tl::arange(0, R), 1);
        auto cols = tl::expand_dims(tl::arange(0, C), 0);
        auto x = tl::load(in + rows * C + cols);
        tl::store(out + cols * R + rows, x);
      });
  return k;
}

tessel::Signature transpose_signature(int r, int c) {
  return tessel::Signature{{P::pointer(tessel::DType::f32), P::pointer(tessel::DType::f32),
                            P::constant(r), P::constant(c)}};
}

TEST(ResourceBounds, TileTooBigForSharedMemoryOnSm80) {
  tessel::CompileOptions options;
  options.until = tessel::CompileUntil::ptx; // the check is before PTX: no nvJitLink needed
  // 64 x 64 fits (16 KiB); 256 x 256 needs 256 KiB, sm_80 has 163 KiB per block.
  EXPECT_FALSE(transpose_kernel()
                   .compile(tessel::Target::parse("sm_80"), transpose_signature(64, 64), options)
                   .ptx.empty());
  expect_error(
      [&] {
        (void)transpose_kernel().compile(tessel::Target::parse("sm_80"),
                                         transpose_signature(256, 256), options);
      },
      {"kernel `bounds_transpose` needs", "bytes of shared memory but sm_80 allows at most 166912",
       "use smaller blocks"});
}

TEST(ResourceBounds, SixtyFourWarps) {
  tessel::CompileOptions options;
  options.num_warps = 64;
  options.until = tessel::CompileUntil::ptx;
  expect_error(
      [&] {
        (void)transpose_kernel().compile(tessel::Target::parse("sm_80"),
                                         transpose_signature(64, 64), options);
      },
      {"kernel 'bounds_transpose': num_warps must be a power of two from 1 to 32, not 64"});
}

// ptxas keeps registers within .maxntid, so a real kernel does not reach these; the check guards
// the report (a cubin from another tool, a future ptxas) against the limits.
TEST(ResourceBounds, RegistersPerBlock) {
  tessel::codegen::gpu::CompiledKernel k;
  k.name = "heavy";
  k.num_warps = 32;
  k.resources.parsed = true;
  k.resources.registers = 128;
  expect_error([&] { tessel::codegen::gpu::check_resources(k, tessel::Target::parse("sm_90a")); },
               {"kernel `heavy` cannot run on sm_90a",
                "131072 registers per block (128 per thread x 1024 threads), the limit is 65536",
                "fewer num_warps"});
  k.num_warps = 8;
  EXPECT_NO_THROW(tessel::codegen::gpu::check_resources(k, tessel::Target::parse("sm_90a")));
}

TEST(ResourceBounds, RegistersPerThread) {
  tessel::codegen::gpu::CompiledKernel k;
  k.name = "wide";
  k.num_warps = 1;
  k.resources.parsed = true;
  k.resources.registers = 300;
  expect_error([&] { tessel::codegen::gpu::check_resources(k, tessel::Target::parse("sm_80")); },
               {"kernel `wide` cannot run on sm_80", "300 registers per thread, the limit is 255"});
}

TEST(ResourceBounds, StaticPlusDynamicSharedMemory) {
  tessel::codegen::gpu::CompiledKernel k;
  k.name = "shared";
  k.num_warps = 4;
  k.shared_bytes = 160 * 1024;
  k.resources.parsed = true;
  k.resources.registers = 32;
  k.resources.static_shared_bytes = 8 * 1024;
  expect_error(
      [&] { tessel::codegen::gpu::check_resources(k, tessel::Target::parse("sm_80")); },
      {"kernel `shared` cannot run on sm_80",
       "172032 bytes of shared memory (163840 dynamic + 8192 static), the limit is 166912"});
}

TEST(ResourceBounds, GridYOver65535OnTheSimulatedDevice) {
  REQUIRE_SIM_DEVICE();
  const tessel::Kernel fill = tl::kernel("bounds_fill", [](tl::Ptr out) {
    tl::store(out + tl::program_id(1), tl::scalar(1.0, tl::f32));
  });
  auto buf = tessel::runtime::DeviceBuffer::allocate_on(tessel::DeviceKind::sim, 4 * 70000);
  tessel::TensorView out = buf.view(tessel::DType::f32, {70000});
  // The line is taken inside the lambda, next to the launch, so that formatting cannot move them
  // apart (clang-format broke the lambda over lines, and the launch left `__LINE__ + 1`).
  int line = 0;
  expect_error(
      [&] {
        line = __LINE__ + 1;
        fill.launch({1, 70000}, {}, out);
      },
      [&] {
        return std::vector<std::string>{
            "resource_bounds_test.cpp:" + std::to_string(line),
            "kernel 'bounds_fill': grid dimension 1 (y) is 70000, but",
            "allows at most 65535 programs along y",
            "put the largest count on dimension 0 (x, up to 2147483647)"};
      });
  // The same count along x launches.
  EXPECT_NO_THROW(fill.launch({1, 1, 1}, {}, out));
}

TEST(ResourceBounds, GridZOnTheCpuHasNoSuchLimit) {
  const tessel::Kernel count = tl::kernel(
      "bounds_count", [](tl::Ptr out) { tl::atomic_add(out, tl::scalar(1.0, tl::f32)); });
  float total = 0;
  count.launch({1, 1, 70000}, {}, &total);
  EXPECT_EQ(total, 70000.0f);
}

} // namespace
