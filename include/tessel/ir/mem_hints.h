// The memory modifiers of load and store (ops.def's `cache`, `evict` and `volatile` attributes):
// where an access asks the GPU to keep its data, on their own so that the language's public
// header can name them without the IR. They never change what is read or written.
//
// A load or store's `cache` attribute is a CacheModifier and its `evict` an EvictionPolicy, stored
// as the enum's integer value and absent when the kernel asked for nothing (printed
// `{cache = 2, evict = 1}`: .cg, evict_first); `volatile = 1` marks a volatile access.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

namespace tessel::ir {

class Op;

// PTX's cache operators (the PTX ISA, "Cache Operators"). Loads: ca (cache at every level, the
// default), cg (L2 only), cs (streaming, likely read once), lu (last use), cv (do not cache, read
// again); stores: wb (write back, the default), cg, cs, wt (write through to system memory).
// `none` is the default of the language's options and never stored in the IR.
enum class CacheModifier : uint8_t { none, ca, cg, cs, lu, cv, wb, wt };
inline constexpr int kNumCacheModifiers = 8;
// Triton's eviction_policy: first (evict the line first: data used once), last (keep it: data
// reused). `normal` is the default and never stored in the IR.
enum class EvictionPolicy : uint8_t { normal, first, last };
inline constexpr int kNumEvictionPolicies = 3;

const char* cache_modifier_name(CacheModifier c);   // "none", "ca", "cg", ... (PTX's spelling)
const char* eviction_policy_name(EvictionPolicy e); // "evict_normal", "evict_first", "evict_last"
// Whether `c` is one of the cache operators PTX gives the load (store) instruction.
bool load_accepts(CacheModifier c);
bool store_accepts(CacheModifier c);
// "ca, cg, cs, lu or cv" / "wb, cg, cs or wt": for messages.
const char* load_cache_modifiers();
const char* store_cache_modifiers();

// What the modifiers of one access are, read from (and written to) a load or store op.
struct MemModifiers {
  CacheModifier cache = CacheModifier::none;
  EvictionPolicy evict = EvictionPolicy::normal;
  bool is_volatile = false;
  bool any() const {
    return cache != CacheModifier::none || evict != EvictionPolicy::normal || is_volatile;
  }
};
// The modifiers of a load or store op (absent attributes: the defaults).
MemModifiers mem_modifiers(const Op& op);
// Sets the attributes of the non-default modifiers of `m` on a load or store op.
void set_mem_modifiers(Op& op, const MemModifiers& m);
// Why these modifiers cannot go together on a load (is_store false) or store, or nothing: PTX's
// volatile access takes no cache operator or eviction priority.
std::optional<std::string> check_modifiers(const MemModifiers& m, bool is_store);

} // namespace tessel::ir
