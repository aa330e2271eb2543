// Bad launches: a kernel not in the module, wrong argument count or sizes, blocks over the
// size limits, too much shared memory, empty grids; and bad memory operations.
#include "sim_test_util.h"

namespace tessel::sim::testing {
namespace {

const char* kPtx = R"(.version 8.0
.target sm_80
.address_size 64
.visible .entry scale(.param .u64 p, .param .f32 s)
{
  .shared .align 4 .b8 big[40000];
  ret;
}
.visible .entry other()
{
  ret;
}
)";

Error launch_error(Dim3 grid, Dim3 block, std::vector<KernelArg> args, const char* entry = "scale",
                   uint32_t smem = 0) {
  Device dev;
  auto r = dev.launch(kPtx, entry, grid, block, smem, args);
  EXPECT_FALSE(r.ok());
  return r.ok() ? Error{} : r.error();
}

std::vector<KernelArg> good_args() { return {KernelArg::ptr(0), KernelArg::f32(1)}; }

TEST(BadInput, UnknownEntryListsTheKernels) {
  Error e = launch_error({1, 1, 1}, {32, 1, 1}, good_args(), "sclae");
  EXPECT_EQ(e.kind, ErrorKind::bad_launch);
  EXPECT_NE(e.message.find("'sclae' is not in the module"), std::string::npos) << e.to_string();
  EXPECT_NE(e.message.find("scale, other"), std::string::npos) << e.to_string();
}

TEST(BadInput, WrongArgumentCount) {
  Error e = launch_error({1, 1, 1}, {32, 1, 1}, {KernelArg::ptr(0)});
  EXPECT_EQ(e.kind, ErrorKind::bad_launch);
  EXPECT_NE(e.message.find("takes 2 arguments, 1 were given"), std::string::npos) << e.to_string();
}

TEST(BadInput, WrongArgumentSize) {
  Error e = launch_error({1, 1, 1}, {32, 1, 1}, {KernelArg::ptr(0), KernelArg::f64(1)});
  EXPECT_NE(e.message.find("argument 1 ('s') has 8 bytes, the parameter has 4"), std::string::npos)
      << e.to_string();
}

TEST(BadInput, BlockOverTheLimits) {
  Error e = launch_error({1, 1, 1}, {1025, 1, 1}, good_args());
  EXPECT_NE(e.message.find("1025 threads"), std::string::npos) << e.to_string();
  e = launch_error({1, 1, 1}, {1, 1, 65}, good_args());
  EXPECT_NE(e.message.find("per dimension"), std::string::npos) << e.to_string();
  e = launch_error({0, 1, 1}, {32, 1, 1}, good_args());
  EXPECT_NE(e.message.find("must not be empty"), std::string::npos) << e.to_string();
  e = launch_error({1, 70000, 1}, {32, 1, 1}, good_args());
  EXPECT_NE(e.message.find("over the limit"), std::string::npos) << e.to_string();
}

TEST(BadInput, TooMuchSharedMemory) {
  Error e = launch_error({1, 1, 1}, {32, 1, 1}, good_args(), "scale", 200 * 1024);
  EXPECT_NE(e.message.find("bytes of shared memory"), std::string::npos) << e.to_string();
}

TEST(BadInput, ParseErrorsComeBackFromLaunch) {
  Device dev;
  auto r = dev.launch("this is not ptx", "k", {1, 1, 1}, {1, 1, 1}, 0, {});
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().kind, ErrorKind::parse);
  EXPECT_EQ(r.error().ptx_line, 1);
  EXPECT_EQ(r.error().ptx_column, 1);
}

TEST(BadInput, MemoryOperationsOutsideAllocations) {
  Device dev;
  uint64_t p = *dev.malloc(16);
  char buf[32] = {};
  EXPECT_FALSE(dev.memcpy_to_device(p + 8, buf, 16).ok());
  EXPECT_FALSE(dev.memcpy_to_host(buf, p - 4, 4).ok());
  EXPECT_FALSE(dev.free(p + 4).ok());
  EXPECT_TRUE(dev.free(p).ok());
  EXPECT_FALSE(dev.memcpy_to_host(buf, p, 4).ok());
}

TEST(BadInput, LaunchWithParamPointers) {
  auto m = parse_module(kPtx);
  ASSERT_TRUE(m.ok());
  Device dev;
  uint64_t p = 0;
  float s = 2.0f;
  void* params[] = {&p, &s};
  auto r = dev.launch_with_param_pointers(*m, "scale", {1, 1, 1}, {32, 1, 1}, 0, params);
  ASSERT_TRUE(r.ok()) << r.error().to_string();
  EXPECT_TRUE(r->ok());
  void* missing[] = {&p, nullptr};
  r = dev.launch_with_param_pointers(*m, "scale", {1, 1, 1}, {32, 1, 1}, 0, missing);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message.find("no value pointer"), std::string::npos);
}

} // namespace
} // namespace tessel::sim::testing
