// The tessel-sim command, run in-process: --help, usage errors, a vector add from files
// with its outputs written as argN.bin, and a run that reports errors (exit status 1).
#include "run_command.h"
#include "sim_test_util.h"

#include <filesystem>
#include <fstream>
#include <sstream>

namespace tessel::sim::testing {
namespace {

namespace fs = std::filesystem;

int run(std::vector<std::string> args, std::string& out, std::string& err) {
  std::ostringstream o, e;
  int status = tool::run_command(args, o, e);
  out = o.str();
  err = e.str();
  return status;
}

fs::path temp_dir(const std::string& name) {
  fs::path d =
      fs::temp_directory_path() / ("tessel_sim_test_" + name + "_" + std::to_string(::getpid()));
  fs::remove_all(d);
  fs::create_directories(d);
  return d;
}

void write_file(const fs::path& p, const void* data, size_t n) {
  std::ofstream f(p, std::ios::binary);
  f.write(static_cast<const char*>(data), static_cast<std::streamsize>(n));
}

const char* kAddPtx = R"(.version 8.0
.target sm_80
.address_size 64
.visible .entry add(.param .u64 a, .param .u64 c, .param .f32 s, .param .u32 n)
{
  .reg .pred %p<2>;
  .reg .b32 %r<4>;
  .reg .f32 %f<4>;
  .reg .b64 %rd<8>;
  ld.param.u64 %rd1, [a];
  ld.param.u64 %rd2, [c];
  ld.param.f32 %f1, [s];
  ld.param.u32 %r1, [n];
  mov.u32 %r2, %tid.x;
  setp.ge.u32 %p1, %r2, %r1;
  @%p1 bra DONE;
  mul.wide.u32 %rd3, %r2, 4;
  add.s64 %rd4, %rd1, %rd3;
  add.s64 %rd5, %rd2, %rd3;
  ld.global.f32 %f2, [%rd4];
  add.f32 %f3, %f2, %f1;
  st.global.f32 [%rd5], %f3;
DONE:
  ret;
}
)";

TEST(Command, HelpDocumentsRun) {
  std::string out, err;
  EXPECT_EQ(run({"--help"}, out, err), 0);
  for (const char* s :
       {"tessel-sim run FILE.ptx", "--entry", "--grid", "--block", "--smem", "--arg", "--out",
        "i32:V", "in:FILE.bin", "out:BYTES", "inout:FILE.bin", "argN.bin"})
    EXPECT_NE(out.find(s), std::string::npos) << s;
  EXPECT_EQ(run({"run", "--help"}, out, err), 0);
  EXPECT_EQ(run({}, out, err), 2);
}

TEST(Command, UsageErrors) {
  std::string out, err;
  EXPECT_EQ(run({"run", "x.ptx", "--grid", "1"}, out, err), 2);
  EXPECT_NE(err.find("--entry is required"), std::string::npos) << err;
  EXPECT_EQ(run({"run", "x.ptx", "--entry", "k", "--grid", "1,a", "--block", "1"}, out, err), 2);
  EXPECT_NE(err.find("--grid expects"), std::string::npos) << err;
  EXPECT_EQ(run({"frobnicate"}, out, err), 2);
  EXPECT_EQ(
      run({"run", "/nonexistent.ptx", "--entry", "k", "--grid", "1", "--block", "1"}, out, err), 2);
  EXPECT_NE(err.find("cannot read"), std::string::npos) << err;
}

TEST(Command, RunsAKernelAndWritesOutputs) {
  fs::path dir = temp_dir("run");
  std::vector<float> a = {1, 2, 3, 4, 5};
  write_file(dir / "add.ptx", kAddPtx, std::strlen(kAddPtx));
  write_file(dir / "a.bin", a.data(), a.size() * 4);
  std::string out, err;
  int status = run({"run", (dir / "add.ptx").string(), "--entry", "add", "--grid", "1", "--block",
                    "32", "--arg", "in:" + (dir / "a.bin").string(), "--arg", "out:20", "--arg",
                    "f32:0.5", "--arg", "u32:5", "--out", (dir / "o").string()},
                   out, err);
  EXPECT_EQ(status, 0) << out << err;
  EXPECT_NE(out.find("instructions:"), std::string::npos) << out;
  EXPECT_NE(out.find("ok"), std::string::npos) << out;
  std::ifstream f(dir / "o" / "arg1.bin", std::ios::binary);
  ASSERT_TRUE(f.good());
  std::vector<float> c(5);
  f.read(reinterpret_cast<char*>(c.data()), 20);
  for (int i = 0; i < 5; ++i)
    EXPECT_EQ(c[i], a[i] + 0.5f);
  EXPECT_FALSE(fs::exists(dir / "o" / "arg0.bin")); // `in` buffers are not written back
  // Too small an output buffer: the kernel writes past it and the run reports it (status 1).
  status = run({"run", (dir / "add.ptx").string(), "--entry", "add", "--grid", "1", "--block", "32",
                "--arg", "in:" + (dir / "a.bin").string(), "--arg", "out:8", "--arg", "f32:0.5",
                "--arg", "u32:5", "--out", (dir / "o").string()},
               out, err);
  EXPECT_EQ(status, 1) << out << err;
  EXPECT_NE(out.find("memcheck"), std::string::npos) << out;
  // Bad launch: wrong argument count.
  status = run({"run", (dir / "add.ptx").string(), "--entry", "add", "--grid", "1", "--block", "32",
                "--arg", "u32:5"},
               out, err);
  EXPECT_EQ(status, 2);
  EXPECT_NE(err.find("takes 4 arguments"), std::string::npos) << err;
  fs::remove_all(dir);
}

} // namespace
} // namespace tessel::sim::testing
