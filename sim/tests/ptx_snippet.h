// A harness for instruction tests: wraps a PTX snippet in a kernel where each thread has
// %r0 = %tid.x, %r2 = in[tid] (u32), %rd4 = &out[tid], %rd5 = &in[tid], and stores %r1 to
// out[tid] at the end; runs it on one CTA and returns out.
#pragma once

#include "sim_test_util.h"

#include <string>
#include <vector>

namespace tessel::sim::testing {

inline std::string snippet_kernel(const std::string& body, const std::string& extra_decls = "") {
  return R"(.version 8.0
.target sm_80
.address_size 64
)" + extra_decls +
         R"(
.visible .entry k(.param .u64 out, .param .u64 in)
{
  .reg .pred %p<8>;
  .reg .b16 %h<8>;
  .reg .b32 %r<40>;
  .reg .f32 %f<16>;
  .reg .b64 %rd<16>;
  .reg .f64 %fd<8>;
  ld.param.u64 %rd1, [out];
  ld.param.u64 %rd2, [in];
  mov.u32 %r0, %tid.x;
  mul.wide.u32 %rd3, %r0, 4;
  add.s64 %rd4, %rd1, %rd3;
  add.s64 %rd5, %rd2, %rd3;
  ld.global.u32 %r2, [%rd5];
  mov.u32 %r1, 0;
)" + body +
         R"(
  st.global.u32 [%rd4], %r1;
  ret;
}
)";
}

struct SnippetRun {
  std::vector<uint32_t> out;
  LaunchReport report;
};

inline SnippetRun run_snippet(const std::string& body, std::vector<uint32_t> in, int threads = 32,
                              const std::string& extra_decls = "", LaunchOptions options = {}) {
  in.resize(threads, 0);
  Device dev;
  uint64_t pin = upload(dev, in);
  uint64_t pout = *dev.malloc(threads * 4);
  EXPECT_TRUE(dev.memset(pout, 0, threads * 4).ok());
  std::vector<KernelArg> args = {KernelArg::ptr(pout), KernelArg::ptr(pin)};
  auto r = dev.launch(snippet_kernel(body, extra_decls), "k", {1, 1, 1},
                      {static_cast<uint32_t>(threads), 1, 1}, 0, args, options);
  SnippetRun run;
  if (!r.ok()) {
    ADD_FAILURE() << r.error().to_string();
    return run;
  }
  run.report = *r;
  run.out = download<uint32_t>(dev, pout, threads);
  return run;
}

inline uint32_t fbits(float f) {
  uint32_t b;
  std::memcpy(&b, &f, 4);
  return b;
}
inline float bitsf(uint32_t b) {
  float f;
  std::memcpy(&f, &b, 4);
  return f;
}

} // namespace tessel::sim::testing
