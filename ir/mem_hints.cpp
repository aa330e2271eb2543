// The memory modifiers' vocabulary (include/tessel/ir/mem_hints.h): their names, which op takes
// which cache operator, and the combinations PTX has no form for.
#include "tessel/ir/mem_hints.h"

#include "tessel/error.h"
#include "tessel/ir/ir.h"

namespace tessel::ir {

const char* cache_modifier_name(CacheModifier c) {
  switch (c) {
  case CacheModifier::none:
    return "none";
  case CacheModifier::ca:
    return "ca";
  case CacheModifier::cg:
    return "cg";
  case CacheModifier::cs:
    return "cs";
  case CacheModifier::lu:
    return "lu";
  case CacheModifier::cv:
    return "cv";
  case CacheModifier::wb:
    return "wb";
  case CacheModifier::wt:
    return "wt";
  }
  TESSEL_UNREACHABLE("bad CacheModifier");
}

const char* eviction_policy_name(EvictionPolicy e) {
  switch (e) {
  case EvictionPolicy::normal:
    return "evict_normal";
  case EvictionPolicy::first:
    return "evict_first";
  case EvictionPolicy::last:
    return "evict_last";
  }
  TESSEL_UNREACHABLE("bad EvictionPolicy");
}

bool load_accepts(CacheModifier c) {
  switch (c) {
  case CacheModifier::ca:
  case CacheModifier::cg:
  case CacheModifier::cs:
  case CacheModifier::lu:
  case CacheModifier::cv:
    return true;
  case CacheModifier::none:
  case CacheModifier::wb:
  case CacheModifier::wt:
    return false;
  }
  TESSEL_UNREACHABLE("bad CacheModifier");
}

bool store_accepts(CacheModifier c) {
  switch (c) {
  case CacheModifier::wb:
  case CacheModifier::cg:
  case CacheModifier::cs:
  case CacheModifier::wt:
    return true;
  case CacheModifier::none:
  case CacheModifier::ca:
  case CacheModifier::lu:
  case CacheModifier::cv:
    return false;
  }
  TESSEL_UNREACHABLE("bad CacheModifier");
}

const char* load_cache_modifiers() { return "ca, cg, cs, lu or cv"; }
const char* store_cache_modifiers() { return "wb, cg, cs or wt"; }

MemModifiers mem_modifiers(const Op& op) {
  TESSEL_ASSERT(op.opcode() == Opcode::Load || op.opcode() == Opcode::Store,
                "memory modifiers of an op that is not a load or store");
  MemModifiers m;
  if (const Attr& c = op.attr("cache"); c.kind == Attr::Kind::Int)
    m.cache = static_cast<CacheModifier>(c.i);
  if (const Attr& e = op.attr("evict"); e.kind == Attr::Kind::Int)
    m.evict = static_cast<EvictionPolicy>(e.i);
  m.is_volatile = op.attr("volatile").kind == Attr::Kind::Int;
  return m;
}

void set_mem_modifiers(Op& op, const MemModifiers& m) {
  if (m.cache != CacheModifier::none)
    op.set_attr("cache", Attr::of_int(static_cast<int64_t>(m.cache)));
  if (m.evict != EvictionPolicy::normal)
    op.set_attr("evict", Attr::of_int(static_cast<int64_t>(m.evict)));
  if (m.is_volatile)
    op.set_attr("volatile", Attr::of_int(1));
}

std::optional<std::string> check_modifiers(const MemModifiers& m, bool is_store) {
  const char* op = is_store ? "store" : "load";
  if (m.cache != CacheModifier::none &&
      !(is_store ? store_accepts(m.cache) : load_accepts(m.cache)))
    return std::string("the cache modifier .") + cache_modifier_name(m.cache) +
           " is not one of a " + op + "'s (" +
           (is_store ? store_cache_modifiers() : load_cache_modifiers()) + ")";
  if (m.is_volatile && (m.cache != CacheModifier::none || m.evict != EvictionPolicy::normal))
    return std::string("a volatile ") + op +
           " takes no cache modifier or eviction policy (PTX's ld/st.volatile has none)";
  return std::nullopt;
}

} // namespace tessel::ir
