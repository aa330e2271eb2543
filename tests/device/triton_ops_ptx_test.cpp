// The PTX of the last Triton ops of issue 14 for sm_80 and sm_90a, accepted by nvJitLink without
// spills or local memory:
//  * atomic_load / atomic_store as ld.acquire.gpu / st.release.gpu (ld.relaxed.cta,
//    st.relaxed.sys when asked), 32- and 64-bit, predicated by the mask;
//  * debug_barrier as bar.sync 0 (no barrier without it);
//  * assume(stride % 16 == 0) on a run-time stride the specialization cannot see: the row load
//    becomes ld.global.v4 (scalar ld.global.f32 without it), as multiple_of does; an assume the
//    analysis does not read (stride > 0) leaves it scalar.
#include "tessel/codegen/gpu.h"
#include "tessel/tessel.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <string>
#include <vector>

namespace {

namespace tl = tessel::lang;

bool has(const std::string& ptx, const std::string& s) { return ptx.find(s) != std::string::npos; }

bool toolkit() {
  return std::filesystem::exists(tessel::codegen::gpu::nvjitlink_path()) &&
         std::filesystem::exists(tessel::codegen::gpu::libdevice_path());
}

#define REQUIRE_TOOLKIT()                                                                          \
  if (!toolkit())                                                                                  \
  GTEST_SKIP() << "CUDA toolkit (libdevice, nvJitLink) not found"

template <class... A>
tessel::CompileResult build(const tessel::Kernel& k, const char* target, const A&... args) {
  tessel::CompileResult r =
      k.compile(tessel::Target::parse(target), tessel::Signature::from_args(args...));
  EXPECT_TRUE(r.resources.parsed) << r.info_log;
  EXPECT_EQ(r.resources.spill_stores, 0);
  EXPECT_EQ(r.resources.spill_loads, 0);
  EXPECT_FALSE(has(r.ptx, ".local"));
  return r;
}

float g_f32[4096];
double g_f64[4096];

TEST(TritonOpsPtx, AtomicLoadAndStoreAreAcquireAndReleaseAccesses) {
  static const tessel::Kernel k =
      tl::kernel("ptx_atomic_ld_st", [](tl::Ptr out, tl::Ptr in, tl::Ptr wide, tl::Int n) {
        auto offs = tl::arange(0, 256);
        auto x = tl::atomic_load(in + offs, offs < n);
        tl::atomic_store(out + offs, x, offs < n);
        auto s = tl::atomic_load(in, tl::MemSem::relaxed, tl::MemScope::cta);
        tl::atomic_store(out + 256, s, tl::MemSem::relaxed, tl::MemScope::sys);
        tl::atomic_store(wide + offs, tl::atomic_load(wide + 256 + offs) + 1.0);
      });
  REQUIRE_TOOLKIT();
  tessel::TensorView f(g_f32, tessel::f32, {4096}), d(g_f64, tessel::f64, {4096});
  for (const char* target : {"sm_80", "sm_90a"}) {
    SCOPED_TRACE(target);
    const std::string ptx = build(k, target, f, f, d, 1000).ptx;
    EXPECT_TRUE(has(ptx, "ld.acquire.gpu.global.b32")) << ptx;
    EXPECT_TRUE(has(ptx, "st.release.gpu.global.b32")) << ptx;
    EXPECT_TRUE(has(ptx, "ld.relaxed.cta.global.b32")) << ptx;
    EXPECT_TRUE(has(ptx, "st.relaxed.sys.global.b32")) << ptx;
    EXPECT_TRUE(has(ptx, "ld.acquire.gpu.global.b64")) << ptx;
    EXPECT_TRUE(has(ptx, "st.release.gpu.global.b64")) << ptx;
    EXPECT_FALSE(has(ptx, "atom.")) << ptx;
  }
}

const tessel::Kernel& barrier_kernel() {
  static const tessel::Kernel k =
      tl::kernel("ptx_debug_barrier", [](tl::Ptr out, tl::Ptr in, tl::Const<bool> BARRIER) {
        auto offs = tl::arange(0, 256);
        tl::store(out + offs, tl::load(in + offs));
        if (BARRIER)
          tl::debug_barrier();
        tl::store(in + offs, tl::load(out + (255 - offs)));
      });
  return k;
}

int count(const std::string& text, const std::string& s) {
  int n = 0;
  for (size_t at = text.find(s); at != std::string::npos; at = text.find(s, at + 1))
    ++n;
  return n;
}

// The reversed read converts layouts through shared memory (barriers of its own); debug_barrier
// adds one more.
TEST(TritonOpsPtx, DebugBarrierIsBarSync) {
  REQUIRE_TOOLKIT();
  tessel::TensorView f(g_f32, tessel::f32, {4096});
  for (const char* target : {"sm_80", "sm_90a"}) {
    SCOPED_TRACE(target);
    const std::string plain = build(barrier_kernel(), target, f, f, false).ptx;
    const std::string ptx = build(barrier_kernel(), target, f, f, true).ptx;
    EXPECT_EQ(count(ptx, "bar.sync"), count(plain, "bar.sync") + 1) << ptx;
  }
}

// ASSUME: 0 none, 1 stride % 16 == 0, 2 (stride & 15) == 0, 3 stride > 0 (not read).
const tessel::Kernel& assume_kernel() {
  static const tessel::Kernel k = tl::kernel(
      "ptx_assume_rows", [](tl::Ptr out, tl::Ptr in, tl::Int stride, tl::Const<int> ASSUME) {
        if (ASSUME == 1)
          tl::assume(stride % 16 == 0);
        if (ASSUME == 2)
          tl::assume((stride & 15) == 0);
        if (ASSUME == 3)
          tl::assume(stride > 0);
        auto row = tl::program_id(0) * stride;
        auto cols = tl::arange(0, 1024);
        tl::store(out + row + cols, tl::load(in + row + cols));
      });
  return k;
}

TEST(TritonOpsPtx, AssumeOfADivisibleStrideVectorizesTheRow) {
  REQUIRE_TOOLKIT();
  tessel::TensorView f(g_f32, tessel::f32, {4096});
  for (const char* target : {"sm_80", "sm_90a"}) {
    SCOPED_TRACE(target);
    // stride 7: the specialization knows nothing about it.
    for (int assume : {0, 3}) {
      const std::string ptx = build(assume_kernel(), target, f, f, 7, assume).ptx;
      EXPECT_FALSE(has(ptx, "ld.global.v4")) << ptx;
      EXPECT_TRUE(has(ptx, "ld.global.f32")) << ptx;
    }
    for (int assume : {1, 2}) {
      const std::string ptx = build(assume_kernel(), target, f, f, 7, assume).ptx;
      EXPECT_TRUE(has(ptx, "ld.global.v4.f32")) << ptx;
      EXPECT_TRUE(has(ptx, "st.global.v4.f32")) << ptx;
    }
  }
}

} // namespace
