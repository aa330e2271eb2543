// The PTX of the atomic ops for sm_80 and sm_90a, accepted by nvJitLink without spills or local
// memory: `atom{.sem}{.scope}.global.OP.TYPE` with the orderings the kernel asked for, `red` when
// the old values are unused and the ordering allows it, the two-instruction float max/min,
// f16 add as `.add.noftz.f16`, bf16 add natively on sm_90 and by a `cas.b16` loop on sm_80, no
// vector atomics, and the barriers of a scalar lock.
#include "gpu/gpu_test_util.h"

#include "tessel/codegen/gpu.h"

#include <gtest/gtest.h>

#include <string>

namespace tessel::codegen::gpu {
namespace {

namespace tl = tessel::lang;

CompiledKernel build(const Kernel& k, std::vector<int64_t> consts, const char* target,
                     DType dtype) {
  auto module = testing::trace_dsl(k, std::move(consts), dtype);
  CompiledKernel out = compile(*module->functions.front(), parse_target(target));
  EXPECT_TRUE(out.resources.parsed) << out.info_log;
  EXPECT_EQ(out.resources.spill_stores, 0) << k.name();
  EXPECT_EQ(ptx_stats(out.ptx).get("local"), 0) << k.name();
  return out;
}

bool has(const std::string& ptx, const std::string& s) { return ptx.find(s) != std::string::npos; }

enum Op : int { Add, Max, Min, And, Or, Xor, Xchg, Cas };

// out = atomic_OP(x + offs, v, mask, SEM): the old values used.
const Kernel& rmw() {
  static const Kernel k =
      tl::kernel("ptx_atomic_rmw", [](tl::Ptr out, tl::Ptr x, tl::Ptr v, tl::Int n,
                                      tl::Const<int> OP, tl::Const<int> SEM) {
        auto offs = tl::program_id(0) * 256 + tl::arange(0, 256);
        auto mask = offs < n;
        auto val = tl::load(v + offs, mask);
        auto sem = tl::MemSem(int(SEM));
        tl::Tensor old;
        switch (Op(int(OP))) {
        case Add:
          old = tl::atomic_add(x + offs, val, mask, sem);
          break;
        case Max:
          old = tl::atomic_max(x + offs, val, mask, sem);
          break;
        case Min:
          old = tl::atomic_min(x + offs, val, mask, sem);
          break;
        case And:
          old = tl::atomic_and(x + offs, val, mask, sem);
          break;
        case Or:
          old = tl::atomic_or(x + offs, val, mask, sem);
          break;
        case Xor:
          old = tl::atomic_xor(x + offs, val, mask, sem);
          break;
        case Xchg:
          old = tl::atomic_xchg(x + offs, val, mask, sem);
          break;
        case Cas:
          old = tl::atomic_cas(x + offs, val, val, sem);
          break;
        }
        tl::store(out + offs, old, mask);
      });
  return k;
}

TEST(AtomicPtx, IntegerOpsWithTheirOrderingAndScope) {
  TESSEL_REQUIRE_CUDA_TOOLKIT();
  struct Case {
    Op op;
    const char* i32;
    const char* i64;
  };
  const Case cases[] = {{Add, "add.u32", "add.u64"},    {Max, "max.s32", "max.s64"},
                        {Min, "min.s32", "min.s64"},    {And, "and.b32", "and.b64"},
                        {Or, "or.b32", "or.b64"},       {Xor, "xor.b32", "xor.b64"},
                        {Xchg, "exch.b32", "exch.b64"}, {Cas, "cas.b32", "cas.b64"}};
  for (const char* target : {"sm_80", "sm_90a"})
    for (const Case& c : cases)
      for (DType dt : {DType::i32, DType::i64}) {
        SCOPED_TRACE(std::string(target) + " " + (dt == DType::i32 ? c.i32 : c.i64));
        CompiledKernel k = build(rmw(), {c.op, /*acq_rel=*/3}, target, dt);
        EXPECT_TRUE(has(k.ptx, std::string("atom.acq_rel.gpu.global.") +
                                   (dt == DType::i32 ? c.i32 : c.i64)))
            << k.ptx;
        EXPECT_FALSE(has(k.ptx, "atom.global.v")) << "no vector atomics";
      }
}

TEST(AtomicPtx, OrderingsReachThePtx) {
  TESSEL_REQUIRE_CUDA_TOOLKIT();
  const char* names[] = {"relaxed", "acquire", "release", "acq_rel"};
  for (int sem = 0; sem < 4; ++sem) {
    CompiledKernel k = build(rmw(), {Add, sem}, "sm_80", DType::f32);
    EXPECT_TRUE(has(k.ptx, std::string("atom.") + names[sem] + ".gpu.global.add.f32")) << k.ptx;
  }
}

// atomic_add(x + offs, 1.0, sem = relaxed, scope = SCOPE), old values used.
const Kernel& scoped() {
  static const Kernel k =
      tl::kernel("ptx_atomic_scoped", [](tl::Ptr out, tl::Ptr x, tl::Const<int> SCOPE) {
        auto offs = tl::arange(0, 256);
        tl::store(out + offs,
                  tl::atomic_add(x + offs, 1.0, tl::MemSem::relaxed, tl::MemScope(int(SCOPE))));
      });
  return k;
}

TEST(AtomicPtx, ScopesReachThePtx) {
  TESSEL_REQUIRE_CUDA_TOOLKIT();
  const char* names[] = {"cta", "gpu", "sys"};
  for (int scope = 0; scope < 3; ++scope) {
    CompiledKernel k = build(scoped(), {scope}, "sm_90a", DType::f32);
    EXPECT_TRUE(has(k.ptx, std::string("atom.relaxed.") + names[scope] + ".global.add.f32"))
        << k.ptx;
  }
}

TEST(AtomicPtx, FloatMaxMinAreTwoIntegerAtomicsOnTheBits) {
  TESSEL_REQUIRE_CUDA_TOOLKIT();
  for (const char* target : {"sm_80", "sm_90a"}) {
    CompiledKernel mx = build(rmw(), {Max, 3}, target, DType::f32);
    EXPECT_TRUE(has(mx.ptx, "atom.acq_rel.gpu.global.max.s32") &&
                has(mx.ptx, "atom.acq_rel.gpu.global.min.u32"))
        << mx.ptx;
    CompiledKernel mn = build(rmw(), {Min, 3}, target, DType::f64);
    EXPECT_TRUE(has(mn.ptx, "atom.acq_rel.gpu.global.min.s64") &&
                has(mn.ptx, "atom.acq_rel.gpu.global.max.u64"))
        << mn.ptx;
  }
}

TEST(AtomicPtx, HalfAddNativeOrByCasLoop) {
  TESSEL_REQUIRE_CUDA_TOOLKIT();
  for (const char* target : {"sm_80", "sm_90a"}) {
    CompiledKernel f16 = build(rmw(), {Add, 3}, target, DType::f16);
    EXPECT_TRUE(has(f16.ptx, "atom.acq_rel.gpu.global.add.noftz.f16 ")) << f16.ptx;
  }
  CompiledKernel sm80 = build(rmw(), {Add, 3}, "sm_80", DType::bf16);
  EXPECT_TRUE(has(sm80.ptx, "atom.acq_rel.gpu.global.cas.b16")) << sm80.ptx;
  EXPECT_FALSE(has(sm80.ptx, "add.noftz.bf16")) << "sm_80 has no bf16 atomic add";
  CompiledKernel sm90 = build(rmw(), {Add, 3}, "sm_90a", DType::bf16);
  EXPECT_TRUE(has(sm90.ptx, "atom.acq_rel.gpu.global.add.noftz.bf16 ")) << sm90.ptx;
  EXPECT_FALSE(has(sm90.ptx, "cas.b16"));
}

// Unused old values: `red` where the ordering allows it (relaxed, release), `atom` otherwise.
const Kernel& histogram() {
  static const Kernel k = tl::kernel("ptx_atomic_histogram", [](tl::Ptr bins, tl::Ptr idx,
                                                                tl::Int n, tl::Const<int> SEM) {
    auto offs = tl::program_id(0) * 256 + tl::arange(0, 256);
    auto mask = offs < n;
    tl::atomic_add(bins + tl::load(idx + offs, mask).to(tl::i32), 1.0, mask, tl::MemSem(int(SEM)));
  });
  return k;
}

TEST(AtomicPtx, UnusedResultsBecomeRedWhereTheOrderingAllows) {
  TESSEL_REQUIRE_CUDA_TOOLKIT();
  for (const char* target : {"sm_80", "sm_90a"}) {
    CompiledKernel relaxed = build(histogram(), {0}, target, DType::f32);
    EXPECT_TRUE(has(relaxed.ptx, "red.relaxed.gpu.global.add.f32")) << relaxed.ptx;
    EXPECT_FALSE(has(relaxed.ptx, " atom."));
    CompiledKernel release = build(histogram(), {2}, target, DType::f32);
    EXPECT_TRUE(has(release.ptx, "red.release.gpu.global.add.f32")) << release.ptx;
    CompiledKernel acq_rel = build(histogram(), {3}, target, DType::f32);
    EXPECT_TRUE(has(acq_rel.ptx, "atom.acq_rel.gpu.global.add.f32")) << acq_rel.ptx;
    EXPECT_FALSE(has(acq_rel.ptx, " red."));
  }
}

// A scalar lock: cas in a loop (thread 0, old value shared through shared memory), xchg to
// release after a barrier.
const Kernel& lock() {
  static const Kernel k = tl::kernel("ptx_atomic_lock", [](tl::Ptr lock, tl::Ptr counter) {
    auto got = tl::scalar(1, tl::i32);
    tl::while_([&] { return got != 0; },
               [&] { got = tl::atomic_cas(lock, 0, 1, tl::MemSem::acquire); });
    tl::store(counter, tl::load(counter) + 1);
    tl::atomic_xchg(lock, 0, tl::MemSem::release, tl::MemScope::sys);
  });
  return k;
}

TEST(AtomicPtx, ScalarLockSharesTheCasResultAndFencesTheRelease) {
  TESSEL_REQUIRE_CUDA_TOOLKIT();
  for (const char* target : {"sm_80", "sm_90a"}) {
    CompiledKernel k = build(lock(), {}, target, DType::i32);
    EXPECT_TRUE(has(k.ptx, "atom.acquire.gpu.global.cas.b32")) << k.ptx;
    EXPECT_TRUE(has(k.ptx, "atom.release.sys.global.exch.b32")) << k.ptx;
    EXPECT_GE(ptx_stats(k.ptx).get("bar.sync"), 2) << k.ptx;
    EXPECT_GT(k.shared_bytes, 0);
  }
}

} // namespace
} // namespace tessel::codegen::gpu
