// The PTX of issue 14's hints, memory modifiers and unsigned forms for sm_80 and sm_90a, accepted
// by nvJitLink without spills or local memory:
//  * a row load at a run-time stride the analysis cannot see through is scalar (ld.global.f32)
//    until tl::multiple_of(row offset, 16) makes it 16-byte vectors (ld.global.v4);
//  * cache modifiers as PTX cache operators (ld.global.cg.v4.b32, st.global.wt.v4.b32, every one
//    of .ca .cg .cs .lu .cv / .wb .cg .cs .wt), eviction policies as an L1 priority plus an L2
//    policy from createpolicy (ld.global.L1::evict_first.L2::cache_hint ..., [addr], policy),
//    volatile as ld.volatile.global / st.volatile.global, on masked, unmasked and scalar accesses
//    and sub-word ones (.b16, .u8);
//  * no modifier: the PTX of before (plain ld.global.v4.f32, predicated ld.global.v4.b32);
//  * atomic_max/min on u32/u64 as atom...max.u32 / min.u64; dot of u8 tiles as mma .u8.u8.
#include "gpu/gpu_test_util.h"

#include "tessel/codegen/gpu.h"

#include <gtest/gtest.h>

#include <string>

namespace tessel::codegen::gpu {
namespace {

namespace tl = tessel::lang;
using CM = tl::CacheModifier;
using EP = tl::EvictionPolicy;

bool has(const std::string& ptx, const std::string& s) { return ptx.find(s) != std::string::npos; }

// Traces `k` with every pointer of `dtype` and 16-byte aligned, every Int with nothing known
// (divisibility 1: a run-time stride), the Consts in order; then compiles it for `target`.
CompiledKernel build(const Kernel& k, std::vector<int64_t> consts, const char* target,
                     DType dtype = DType::f32) {
  std::vector<lang::ParamBinding> bindings;
  size_t next = 0;
  for (const lang::ParamSpec& p : k.def().params) {
    lang::ParamBinding b;
    switch (p.kind) {
    case lang::ParamKind::Ptr:
      b.dtype = p.dtype_fixed ? p.dtype : dtype;
      b.divisibility = 16;
      break;
    case lang::ParamKind::Int:
      b.divisibility = 1;
      break;
    case lang::ParamKind::Float:
      b.dtype = p.dtype;
      break;
    case lang::ParamKind::Const:
      b.const_int = next < consts.size() ? consts[next++] : 0;
      b.const_float = double(b.const_int);
      break;
    }
    bindings.push_back(b);
  }
  auto module = lang::trace(k.def(), bindings);
  ir::PassManager pm(/*verify_each=*/true);
  codegen::add_default_pipeline(pm);
  pm.run(*module);
  CompiledKernel out = compile(*module->functions.front(), parse_target(target));
  EXPECT_TRUE(out.resources.parsed) << out.info_log;
  EXPECT_EQ(out.resources.spill_stores, 0) << k.name();
  EXPECT_EQ(ptx_stats(out.ptx).get("local"), 0) << k.name();
  return out;
}

// out[row * stride + c] = in[...] for 1024 columns (8 per thread), the row offset hinted when HINT.
const Kernel& strided_rows() {
  static const Kernel k = tl::kernel(
      "ptx_strided_rows", [](tl::Ptr out, tl::Ptr in, tl::Int stride, tl::Const<int> HINT) {
        tl::Tensor row = tl::program_id(0) * stride;
        if (HINT)
          row = tl::multiple_of(row, 16);
        auto cols = tl::arange(0, 1024);
        tl::store(out + row + cols, tl::load(in + row + cols));
      });
  return k;
}

TEST(MemHintsPtx, MultipleOfMakesARunTimeStrideRowAVectorLoad) {
  TESSEL_REQUIRE_CUDA_TOOLKIT();
  for (const char* target : {"sm_80", "sm_90a"}) {
    SCOPED_TRACE(target);
    CompiledKernel plain = build(strided_rows(), {0}, target);
    EXPECT_FALSE(has(plain.ptx, "ld.global.v4")) << plain.ptx;
    EXPECT_TRUE(has(plain.ptx, "ld.global.f32")) << plain.ptx;
    CompiledKernel hinted = build(strided_rows(), {1}, target);
    EXPECT_TRUE(has(hinted.ptx, "ld.global.v4.f32")) << hinted.ptx;
    EXPECT_TRUE(has(hinted.ptx, "st.global.v4.f32")) << hinted.ptx;
  }
}

// out = in (+1) through tile accesses, masked when MASKED, and a scalar load and store, with load
// modifier LOAD and store modifier STORE (indices into the tables below).
const tl::LoadOptions kLoads[] = {
    {},
    {.cache_modifier = CM::ca},
    {.cache_modifier = CM::cg},
    {.cache_modifier = CM::cs},
    {.cache_modifier = CM::lu},
    {.cache_modifier = CM::cv},
    {.eviction_policy = EP::first},
    {.eviction_policy = EP::last},
    {.is_volatile = true},
    {.cache_modifier = CM::cg, .eviction_policy = EP::first},
};
const tl::StoreOptions kStores[] = {
    {},
    {.cache_modifier = CM::wb},
    {.cache_modifier = CM::cg},
    {.cache_modifier = CM::cs},
    {.cache_modifier = CM::wt},
    {.eviction_policy = EP::first},
    {.eviction_policy = EP::last},
    {.is_volatile = true},
};

const Kernel& modified() {
  static const Kernel k =
      tl::kernel("ptx_modified", [](tl::Ptr out, tl::Ptr in, tl::Int n, tl::Const<int> LOAD,
                                    tl::Const<int> STORE, tl::Const<bool> MASKED) {
        auto offs = tl::program_id(0) * 1024 + tl::arange(0, 1024);
        const tl::LoadOptions& lo = kLoads[int(LOAD)];
        const tl::StoreOptions& so = kStores[int(STORE)];
        if (MASKED) {
          auto mask = offs < tl::multiple_of(n, 16); // a mask constant over vectors of 4
          tl::store(out + offs, tl::load(in + offs, mask, 0.0, lo) + 1, mask, so);
        } else {
          tl::store(out + offs, tl::load(in + offs, lo) + 1, so);
        }
        tl::store(out, tl::load(in, lo), so); // scalar accesses
      });
  return k;
}

TEST(MemHintsPtx, LoadCacheOperatorsOnEveryAccess) {
  TESSEL_REQUIRE_CUDA_TOOLKIT();
  const char* ops[] = {"", ".ca", ".cg", ".cs", ".lu", ".cv"};
  for (const char* target : {"sm_80", "sm_90a"})
    for (int i = 1; i <= 5; ++i)
      for (bool masked : {false, true}) {
        SCOPED_TRACE(std::string(target) + " " + ops[i] + (masked ? " masked" : ""));
        CompiledKernel k = build(modified(), {i, 0, masked}, target);
        const std::string q = std::string("ld.global") + ops[i];
        EXPECT_TRUE(has(k.ptx, q + ".v4.b32")) << k.ptx;
        EXPECT_TRUE(has(k.ptx, q + ".b32")) << "the scalar load\n" << k.ptx;
      }
}

TEST(MemHintsPtx, StoreCacheOperatorsOnEveryAccess) {
  TESSEL_REQUIRE_CUDA_TOOLKIT();
  const char* ops[] = {"", ".wb", ".cg", ".cs", ".wt"};
  for (const char* target : {"sm_80", "sm_90a"})
    for (int i = 1; i <= 4; ++i)
      for (bool masked : {false, true}) {
        SCOPED_TRACE(std::string(target) + " " + ops[i] + (masked ? " masked" : ""));
        CompiledKernel k = build(modified(), {0, i, masked}, target);
        const std::string q = std::string("st.global") + ops[i];
        EXPECT_TRUE(has(k.ptx, q + ".v4.b32")) << k.ptx;
        EXPECT_TRUE(has(k.ptx, q + ".b32 ")) << "the scalar store\n" << k.ptx;
      }
}

TEST(MemHintsPtx, EvictionPoliciesAreAnL1PriorityAndAnL2Policy) {
  TESSEL_REQUIRE_CUDA_TOOLKIT();
  for (const char* target : {"sm_80", "sm_90a"}) {
    SCOPED_TRACE(target);
    CompiledKernel first = build(modified(), {6, 6, true}, target);
    EXPECT_TRUE(has(first.ptx, "createpolicy.fractional.L2::evict_first.b64")) << first.ptx;
    EXPECT_TRUE(has(first.ptx, "createpolicy.fractional.L2::evict_last.b64")) << first.ptx;
    EXPECT_TRUE(has(first.ptx, "ld.global.L1::evict_first.L2::cache_hint.v4.b32")) << first.ptx;
    EXPECT_TRUE(has(first.ptx, "st.global.L1::evict_last.L2::cache_hint.v4.b32")) << first.ptx;
    CompiledKernel last = build(modified(), {7, 5, false}, target);
    EXPECT_TRUE(has(last.ptx, "ld.global.L1::evict_last.L2::cache_hint.v4.b32")) << last.ptx;
    EXPECT_TRUE(has(last.ptx, "st.global.L1::evict_first.L2::cache_hint.v4.b32")) << last.ptx;
    // With a cache operator the L1 priority gives way (PTX has no form with both).
    CompiledKernel both = build(modified(), {9, 0, true}, target);
    EXPECT_TRUE(has(both.ptx, "ld.global.cg.L2::cache_hint.v4.b32")) << both.ptx;
    EXPECT_FALSE(has(both.ptx, "L1::evict")) << both.ptx;
  }
}

TEST(MemHintsPtx, VolatileAccesses) {
  TESSEL_REQUIRE_CUDA_TOOLKIT();
  for (const char* target : {"sm_80", "sm_90a"}) {
    SCOPED_TRACE(target);
    CompiledKernel k = build(modified(), {8, 7, true}, target);
    EXPECT_TRUE(has(k.ptx, "ld.volatile.global.v4.b32")) << k.ptx;
    EXPECT_TRUE(has(k.ptx, "st.volatile.global.v4.b32")) << k.ptx;
    EXPECT_TRUE(has(k.ptx, "ld.volatile.global.b32")) << k.ptx;
  }
}

TEST(MemHintsPtx, NoModifierKeepsThePlainForms) {
  TESSEL_REQUIRE_CUDA_TOOLKIT();
  CompiledKernel unmasked = build(modified(), {0, 0, false}, "sm_90a");
  EXPECT_TRUE(has(unmasked.ptx, "ld.global.v4.f32")) << unmasked.ptx;
  EXPECT_FALSE(has(unmasked.ptx, "createpolicy")) << unmasked.ptx;
  CompiledKernel masked = build(modified(), {0, 0, true}, "sm_90a");
  EXPECT_TRUE(has(masked.ptx, "ld.global.v4.b32")) << masked.ptx;
  EXPECT_FALSE(has(masked.ptx, "ld.global.cg")) << masked.ptx;
}

TEST(MemHintsPtx, SubWordAccessesWithModifiers) {
  TESSEL_REQUIRE_CUDA_TOOLKIT();
  // f16 and i8 scalars are 2 and 1 bytes: one 16-bit register each.
  CompiledKernel h = build(modified(), {2, 4, true}, "sm_80", DType::f16);
  EXPECT_TRUE(has(h.ptx, "ld.global.cg.b16")) << h.ptx;
  EXPECT_TRUE(has(h.ptx, "st.global.wt.b16")) << h.ptx;
  CompiledKernel b = build(modified(), {3, 3, true}, "sm_80", DType::i8);
  EXPECT_TRUE(has(b.ptx, "ld.global.cs.u8")) << b.ptx;
  EXPECT_TRUE(has(b.ptx, "st.global.cs.u8")) << b.ptx;
}

// Unsigned atomics and dot.
const Kernel& unsigned_atomics() {
  static const Kernel k =
      tl::kernel("ptx_unsigned_atomics", [](tl::Ptr out, tl::Ptr x, tl::Ptr v, tl::Const<int> MAX) {
        auto offs = tl::arange(0, 256);
        auto val = tl::load(v + offs);
        tl::store(out + offs, MAX ? tl::atomic_max(x + offs, val) : tl::atomic_min(x + offs, val));
      });
  return k;
}

TEST(MemHintsPtx, UnsignedAtomicMaxMinUseTheUnsignedForms) {
  TESSEL_REQUIRE_CUDA_TOOLKIT();
  for (const char* target : {"sm_80", "sm_90a"}) {
    SCOPED_TRACE(target);
    EXPECT_TRUE(has(build(unsigned_atomics(), {1}, target, DType::u32).ptx,
                    "atom.acq_rel.gpu.global.max.u32"));
    EXPECT_TRUE(has(build(unsigned_atomics(), {0}, target, DType::u32).ptx,
                    "atom.acq_rel.gpu.global.min.u32"));
    EXPECT_TRUE(has(build(unsigned_atomics(), {1}, target, DType::u64).ptx,
                    "atom.acq_rel.gpu.global.max.u64"));
    EXPECT_TRUE(has(build(unsigned_atomics(), {0}, target, DType::u64).ptx,
                    "atom.acq_rel.gpu.global.min.u64"));
  }
}

const Kernel& u8_dot() {
  static const Kernel k = tl::kernel("ptx_u8_dot", [](tl::PtrOf<int32_t> c, tl::Ptr a, tl::Ptr b) {
    auto r = tl::expand_dims(tl::arange(0, 32), 1);
    auto q = tl::expand_dims(tl::arange(0, 32), 0);
    auto x = tl::load(a + r * 32 + q), y = tl::load(b + r * 32 + q);
    tl::store(c + r * 32 + q, tl::dot(x, y));
  });
  return k;
}

TEST(MemHintsPtx, U8DotIsAnUnsignedMma) {
  TESSEL_REQUIRE_CUDA_TOOLKIT();
  for (const char* target : {"sm_80", "sm_90a"}) {
    CompiledKernel k = build(u8_dot(), {}, target, DType::u8);
    EXPECT_TRUE(has(k.ptx, "mma.sync.aligned.m16n8k32.row.col.s32.u8.u8.s32")) << k.ptx;
  }
}

} // namespace
} // namespace tessel::codegen::gpu
