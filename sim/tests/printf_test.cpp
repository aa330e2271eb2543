// The device runtime's system calls: vprintf formats each thread's packed arguments (each at its
// own alignment: a 4-byte %d, an 8-byte %lld and a double here) and records the text per thread,
// returning its length; a format read from a bad address is a memcheck error; __assertfail is an
// `assertion` error with the message and file:line, and stops the launch.
#include "ptx_snippet.h"

#include <fmt/format.h>

namespace tessel::sim::testing {
namespace {

// `.global .align 1 .b8 NAME[N] = {...};` holding `text` and its NUL.
std::string global_string(const std::string& name, const std::string& text) {
  std::string bytes;
  for (char c : text)
    bytes += std::to_string(int(static_cast<unsigned char>(c))) + ", ";
  return fmt::format(".global .align 1 .b8 {}[{}] = {{{}0}};\n", name, text.size() + 1, bytes);
}

const char* kDecls =
    ".extern .func (.param .b32 func_retval0) vprintf(.param .b64 vprintf_param_0, "
    ".param .b64 vprintf_param_1);\n"
    ".extern .func __assertfail(.param .b64 a0, .param .b64 a1, .param .b32 a2, "
    ".param .b64 a3, .param .b64 a4);\n";

// vprintf(fmt, {tid (u32), in[tid] (u64), 1.5 (f64)}); %r1 = its result.
const char* kPrintfBody = R"(
  .local .align 8 .b8 buf[24];
  mov.u64 %rd6, buf;
  cvta.local.u64 %rd7, %rd6;
  st.local.u32 [buf], %r0;
  cvt.u64.u32 %rd8, %r2;
  st.local.u64 [buf+8], %rd8;
  mov.f64 %fd1, 0d3FF8000000000000;
  st.local.f64 [buf+16], %fd1;
  mov.u64 %rd9, fmt;
  cvta.global.u64 %rd10, %rd9;
  {
  .param .b64 param0;
  st.param.b64 [param0], %rd10;
  .param .b64 param1;
  st.param.b64 [param1], %rd7;
  .param .b32 retval0;
  call.uni (retval0), vprintf, (param0, param1);
  ld.param.b32 %r1, [retval0];
  }
)";

TEST(SimPrintf, FormatsEachThreadsPackedArguments) {
  std::string decls = kDecls + global_string("fmt", "t=%d v=%lld f=%.2f %%\n");
  SnippetRun run = run_snippet(kPrintfBody, {10, 11, 12, 13}, 4, decls);
  ASSERT_TRUE(run.report.ok()) << run.report.errors.front().to_string();
  ASSERT_EQ(run.report.printf_output.size(), 4u);
  for (uint32_t t = 0; t < 4; ++t) {
    const PrintfRecord& r = run.report.printf_output[t];
    std::string want = fmt::format("t={} v={} f=1.50 %\n", t, 10 + t);
    EXPECT_EQ(r.text, want);
    EXPECT_EQ(r.format, "t=%d v=%lld f=%.2f %%\n");
    EXPECT_EQ(r.thread.x, t);
    EXPECT_EQ(run.out[t], want.size()) << "vprintf returns the number of characters";
  }
}

TEST(SimPrintf, AssertfailStopsTheLaunchWithItsMessage) {
  std::string decls = kDecls + global_string("msg", "boom") + global_string("file", "k.cu");
  std::string body = R"(
  setp.eq.u32 %p1, %r0, 2;
  @!%p1 bra done;
  mov.u64 %rd9, msg;
  cvta.global.u64 %rd10, %rd9;
  mov.u64 %rd11, file;
  cvta.global.u64 %rd12, %rd11;
  {
  .param .b64 param0;
  st.param.b64 [param0], %rd10;
  .param .b64 param1;
  st.param.b64 [param1], %rd12;
  .param .b32 param2;
  mov.u32 %r5, 7;
  st.param.b32 [param2], %r5;
  .param .b64 param3;
  st.param.b64 [param3], %rd12;
  .param .b64 param4;
  mov.u64 %rd13, 1;
  st.param.b64 [param4], %rd13;
  call.uni __assertfail, (param0, param1, param2, param3, param4);
  }
done:
)";
  SnippetRun run = run_snippet(body, {}, 32, decls);
  ASSERT_EQ(run.report.errors.size(), 1u);
  const Error& e = run.report.errors.front();
  EXPECT_EQ(e.kind, ErrorKind::assertion);
  EXPECT_NE(e.message.find("k.cu:7: boom"), std::string::npos) << e.message;
  EXPECT_TRUE(e.has_thread);
  EXPECT_EQ(e.thread.x, 2u);
}

} // namespace
} // namespace tessel::sim::testing
