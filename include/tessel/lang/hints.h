// Hints and memory modifiers (docs/language.md "Hints and memory modifiers"): promises about the
// values of an index tile that let the GPU code generator vectorize what its analysis cannot see
// through, and per-access requests of where the GPU caches the data. Neither changes a result:
// the CPU backend runs the kernel as if they were absent.
#pragma once

#include "tessel/ir/mem_hints.h"
#include "tessel/lang/ops.h"
#include "tessel/lang/tensor.h"

#include <cstdint>
#include <vector>

namespace tessel::lang {

// ---- hints for the axis analysis (Triton's tl.multiple_of / max_contiguous / max_constancy) ----
// Each returns x (an integer or pointer tile) and promises, per dimension (one value for a scalar
// or a 1-D tile, as many as x has dimensions otherwise):
//   multiple_of:    the first element of every run is a multiple of the value (for a pointer
//                   tile: its address in bytes, like the 16-byte alignment of an argument);
//   max_contiguous: x splits into runs of that many elements that each step by one;
//   max_constancy:  x splits into runs of that many equal elements.
// The analysis uses the largest power of two that divides the value. A promise that does not
// hold is not checked: as in Triton, the kernel then reads or writes the wrong elements.
//   auto row = tl::multiple_of(row_index * stride, 16);   // stride: a run-time i32
//   auto x = tl::load(in + row + tl::arange(0, 1024));      // 16-byte vector loads
Tensor multiple_of(const Tensor& x, int64_t value, Loc loc = Loc::current());
Tensor multiple_of(const Tensor& x, const std::vector<int64_t>& values, Loc loc = Loc::current());
Tensor max_contiguous(const Tensor& x, int64_t value, Loc loc = Loc::current());
Tensor max_contiguous(const Tensor& x, const std::vector<int64_t>& values,
                      Loc loc = Loc::current());
Tensor max_constancy(const Tensor& x, int64_t value, Loc loc = Loc::current());
Tensor max_constancy(const Tensor& x, const std::vector<int64_t>& values, Loc loc = Loc::current());

// ---- memory modifiers (Triton's cache_modifier, eviction_policy, volatile) ----------------------
// On the GPU each becomes part of the PTX access: `ld.global.cg`, `st.global.wt`,
// `ld.global.L1::evict_first.L2::cache_hint` with an L2 policy from `createpolicy` (sm_80+),
// `ld.volatile.global`. A volatile access takes neither of the others. Loads that the software
// pipeliner turns into cp.async (the operands of a dot in a pipelined loop) keep cp.async's own
// caching. The CPU backend ignores them.
using CacheModifier = ir::CacheModifier;   // loads: ca cg cs lu cv; stores: wb cg cs wt
using EvictionPolicy = ir::EvictionPolicy; // normal, first, last
struct LoadOptions {
  CacheModifier cache_modifier = CacheModifier::none;
  EvictionPolicy eviction_policy = EvictionPolicy::normal;
  bool is_volatile = false;
};
struct StoreOptions {
  CacheModifier cache_modifier = CacheModifier::none;
  EvictionPolicy eviction_policy = EvictionPolicy::normal;
  bool is_volatile = false; // st.volatile (Triton's store has no such option)
};

// load/store of tessel/lang/ops.h with options:
//   tl::load(p + offs, mask, 0.0, {.cache_modifier = tl::CacheModifier::cg});
Tensor load(const Tensor& ptr, const LoadOptions& options, Loc loc = Loc::current());
Tensor load(const Tensor& ptr, const Tensor& mask, const LoadOptions& options,
            Loc loc = Loc::current());
Tensor load(const Tensor& ptr, const Tensor& mask, double other, const LoadOptions& options,
            Loc loc = Loc::current());
Tensor load(const Tensor& ptr, const Tensor& mask, const Tensor& other, const LoadOptions& options,
            Loc loc = Loc::current());
void store(const Tensor& ptr, const Tensor& value, const StoreOptions& options,
           Loc loc = Loc::current());
void store(const Tensor& ptr, const Tensor& value, const Tensor& mask, const StoreOptions& options,
           Loc loc = Loc::current());

// ---- assume (Triton's tl.assume; dsl/hints.cpp) ------------------------------------------------
// A promise that the i1 tile or scalar `cond` holds everywhere. The GPU's axis analysis reads
// `x % C == 0` and `(x & (C - 1)) == 0` (C a constant) as multiple_of(x, C); other conditions are
// kept in the IR and change nothing. Not checked (use device_assert for that).
void assume(const Tensor& cond, Loc loc = Loc::current());

} // namespace tessel::lang
