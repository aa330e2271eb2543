// Mnemonic decoding: splits a mnemonic at its dots, finds the opcode by the longest dotted
// prefix listed in opcodes.def, and reads the remaining parts as modifiers. Instructions of
// the Hopper work not modelled yet (clusters, im2col/multicast TMA, tensormap) are refused with a
// message.
#include "decode.h"

#include <array>
#include <cstring>
#include <string>
#include <unordered_map>
#include <vector>

namespace tessel::sim {

namespace {

struct OpInfo {
  const char* key;
  Family family;
};

constexpr OpInfo kOps[] = {
#define SIM_OP(name, key, family) {key, Family::family},
#include "opcodes.def"
};

const std::unordered_map<std::string_view, Op>& op_table() {
  static const auto* table = [] {
    auto* t = new std::unordered_map<std::string_view, Op>();
    for (size_t i = 0; i < static_cast<size_t>(Op::count_); ++i)
      (*t)[kOps[i].key] = static_cast<Op>(i);
    return t;
  }();
  return *table;
}

struct TypeName {
  const char* name;
  Type type;
  unsigned size;
  TypeClass cls;
};

constexpr TypeName kTypes[] = {
    {"none", Type::none, 0, TypeClass::bits},    {"pred", Type::pred, 0, TypeClass::pred},
    {"b8", Type::b8, 1, TypeClass::bits},        {"b16", Type::b16, 2, TypeClass::bits},
    {"b32", Type::b32, 4, TypeClass::bits},      {"b64", Type::b64, 8, TypeClass::bits},
    {"b128", Type::b128, 16, TypeClass::bits},   {"u8", Type::u8, 1, TypeClass::uint},
    {"u16", Type::u16, 2, TypeClass::uint},      {"u32", Type::u32, 4, TypeClass::uint},
    {"u64", Type::u64, 8, TypeClass::uint},      {"s8", Type::s8, 1, TypeClass::sint},
    {"s16", Type::s16, 2, TypeClass::sint},      {"s32", Type::s32, 4, TypeClass::sint},
    {"s64", Type::s64, 8, TypeClass::sint},      {"f16", Type::f16, 2, TypeClass::flt},
    {"f16x2", Type::f16x2, 4, TypeClass::flt},   {"bf16", Type::bf16, 2, TypeClass::flt},
    {"bf16x2", Type::bf16x2, 4, TypeClass::flt}, {"tf32", Type::tf32, 4, TypeClass::flt},
    {"f32", Type::f32, 4, TypeClass::flt},       {"f64", Type::f64, 8, TypeClass::flt},
    {"e4m3", Type::e4m3, 1, TypeClass::flt},     {"e5m2", Type::e5m2, 1, TypeClass::flt},
    {"e4m3x2", Type::e4m3x2, 2, TypeClass::flt}, {"e5m2x2", Type::e5m2x2, 2, TypeClass::flt},
};

template <typename E> struct Named {
  const char* name;
  E value;
};

constexpr Named<Cmp> kCmps[] = {
    {"eq", Cmp::eq},   {"ne", Cmp::ne},   {"lt", Cmp::lt},   {"le", Cmp::le},   {"gt", Cmp::gt},
    {"ge", Cmp::ge},   {"lo", Cmp::lo},   {"ls", Cmp::ls},   {"hi", Cmp::hi},   {"hs", Cmp::hs},
    {"equ", Cmp::equ}, {"neu", Cmp::neu}, {"ltu", Cmp::ltu}, {"leu", Cmp::leu}, {"gtu", Cmp::gtu},
    {"geu", Cmp::geu}, {"num", Cmp::num}, {"nan", Cmp::nan},
};

constexpr Named<Rnd> kRnds[] = {
    {"rn", Rnd::rn},   {"rz", Rnd::rz},   {"rm", Rnd::rm},   {"rp", Rnd::rp},   {"rna", Rnd::rna},
    {"rni", Rnd::rni}, {"rzi", Rnd::rzi}, {"rmi", Rnd::rmi}, {"rpi", Rnd::rpi}, {"rs", Rnd::rs},
};

constexpr Named<uint32_t> kFlags[] = {
    {"ftz", kFtz},
    {"sat", kSat},
    {"approx", kApprox},
    {"full", kFull},
    {"trans", kTrans},
    {"uni", kUni},
    {"relu", kRelu},
    {"volatile", kVolatile},
    {"shiftamt", kShiftAmt},
    {"wrap", kWrap},
    {"clamp", kClamp},
    {"NaN", kNaN},
    {"cc", kCc},
    {"to", kTo},
    {"aligned", kAligned},
    {"satfinite", kSatFinite},
};

// Qualifiers that change nothing in a sequential, coherent simulation: caching hints,
// memory-model orderings and scopes, and the `.sync` of warp-synchronous instructions.
constexpr const char* kIgnored[] = {
    "sync",
    "ca",
    "cg",
    "cs",
    "lu",
    "cv",
    "wb",
    "wt",
    "nc",
    "relaxed",
    "acquire",
    "release",
    "acq_rel",
    "sc",
    "weak",
    "mmio",
    "cta",
    "gpu",
    "sys",
    "L2::64B",
    "L2::128B",
    "L2::256B",
    "L1::evict_normal",
    "L1::evict_unchanged",
    "L1::evict_first",
    "L1::evict_last",
    "L1::no_allocate",
    "L2::evict_normal",
    "L2::evict_first",
    "L2::evict_last",
    "L2::cache_hint",
    "noftz",
    "fractional",
    "L2",
    "level::cache_hint",
    "unified",
    "noinc",
};

const char* hopper_scope(std::string_view mnemonic, const std::vector<std::string_view>& parts) {
  std::string_view p0 = parts[0];
  if (p0 == "tensormap" || p0 == "multimem" || p0 == "mapa" || p0 == "getctarank" ||
      p0 == "clusterlaunchcontrol" || p0 == "tcgen05" || p0 == "stackrestore" || p0 == "stacksave")
    return "out of scope until the Hopper work";
  const bool tensor_tile = mnemonic.starts_with("cp.async.bulk.tensor") &&
                           mnemonic.find("im2col") == std::string_view::npos;
  const bool bulk_group = mnemonic.starts_with("cp.async.bulk.commit_group") ||
                          mnemonic.starts_with("cp.async.bulk.wait_group");
  if ((mnemonic.starts_with("cp.async.bulk") && !tensor_tile && !bulk_group) ||
      mnemonic.starts_with("cp.reduce.async.bulk"))
    return "TMA beyond tile-mode cp.async.bulk.tensor is out of scope";
  if (tensor_tile && mnemonic.find("multicast") != std::string_view::npos)
    return "TMA multicast needs clusters, out of scope";
  if (tensor_tile)
    return nullptr; // its .shared::cluster destination is the CTA's own (a cluster of one)
  if (mnemonic.starts_with("barrier.cluster") ||
      mnemonic.find("shared::cluster") != std::string_view::npos)
    return "clusters are out of scope until the Hopper work";
  return nullptr;
}

bool parse_shape(std::string_view s, Inst& inst) {
  // m16n8k16, m8n8, m16n8k8 ...
  if (s.size() < 4 || s[0] != 'm')
    return false;
  unsigned vals[3] = {0, 0, 0};
  char keys[3] = {'m', 'n', 'k'};
  size_t pos = 0;
  for (int i = 0; i < 3 && pos < s.size(); ++i) {
    if (s[pos] != keys[i])
      return false;
    ++pos;
    size_t start = pos;
    while (pos < s.size() && s[pos] >= '0' && s[pos] <= '9')
      vals[i] = vals[i] * 10 + (s[pos++] - '0');
    if (pos == start)
      return false;
  }
  if (pos != s.size() || vals[0] > 255 || vals[1] > 65535 || vals[2] > 255)
    return false; // would not fit Inst's fields (and no PTX shape is that large)
  inst.shape_m = static_cast<uint8_t>(vals[0]);
  inst.shape_n = static_cast<uint16_t>(vals[1]);
  inst.shape_k = static_cast<uint8_t>(vals[2]);
  return true;
}

bool sub_op(Op op, std::string_view s, Sub& out) {
  static constexpr Named<Sub> kArith[] = {{"lo", Sub::lo}, {"hi", Sub::hi}, {"wide", Sub::wide}};
  static constexpr Named<Sub> kAtom[] = {{"add", Sub::add}, {"min", Sub::min},  {"max", Sub::max},
                                         {"inc", Sub::inc}, {"dec", Sub::dec},  {"exch", Sub::exch},
                                         {"cas", Sub::cas}, {"and", Sub::and_}, {"or", Sub::or_},
                                         {"xor", Sub::xor_}};
  static constexpr Named<Sub> kShfl[] = {
      {"up", Sub::up}, {"down", Sub::down}, {"bfly", Sub::bfly}, {"idx", Sub::idx}};
  static constexpr Named<Sub> kVote[] = {
      {"all", Sub::all}, {"any", Sub::any}, {"uni", Sub::uni}, {"ballot", Sub::ballot}};
  static constexpr Named<Sub> kPrmt[] = {{"f4e", Sub::f4e}, {"b4e", Sub::b4e}, {"rc8", Sub::rc8},
                                         {"ecl", Sub::ecl}, {"ecr", Sub::ecr}, {"rc16", Sub::rc16}};
  static constexpr Named<Sub> kShf[] = {{"l", Sub::shf_l}, {"r", Sub::shf_r}};
  static constexpr Named<Sub> kTestp[] = {{"finite", Sub::finite}, {"infinite", Sub::infinite},
                                          {"number", Sub::number}, {"notanumber", Sub::notanumber},
                                          {"normal", Sub::normal}, {"subnormal", Sub::subnormal}};
  auto find = [&](auto& table) {
    for (auto& e : table)
      if (s == e.name) {
        out = e.value;
        return true;
      }
    return false;
  };
  switch (op) {
  case Op::mul:
  case Op::mad:
  case Op::madc:
  case Op::mul24:
  case Op::mad24:
    return find(kArith);
  case Op::atom:
  case Op::red:
  case Op::redux:
    return find(kAtom);
  case Op::shfl:
    return find(kShfl);
  case Op::vote:
    return find(kVote);
  case Op::prmt:
    return find(kPrmt);
  case Op::shf:
    return find(kShf);
  case Op::testp:
    return find(kTestp);
  default:
    return false; // most ops take no sub-operation
  }
}

} // namespace

const char* op_key(Op op) { return kOps[static_cast<size_t>(op)].key; }

// The inline type_size/type_class (ptx_module.h) and this table must agree.
constexpr bool types_agree() {
  for (const TypeName& t : kTypes)
    if (type_size(t.type) != t.size || type_class(t.type) != t.cls)
      return false;
  return true;
}
static_assert(types_agree(), "type_size/type_class in ptx_module.h disagree with kTypes");
const char* type_name(Type t) { return kTypes[static_cast<size_t>(t)].name; }

const char* space_name(Space s) {
  switch (s) {
  case Space::generic:
    return "generic";
  case Space::global:
    return "global";
  case Space::shared:
    return "shared";
  case Space::local:
    return "local";
  case Space::param:
    return "param";
  case Space::const_:
    return "const";
  }
  return "?";
}

Type parse_type(std::string_view name) {
  if (!name.empty() && name[0] == '.')
    name.remove_prefix(1);
  for (auto& t : kTypes)
    if (name == t.name && t.type != Type::none)
      return t.type;
  return Type::none;
}

bool special_register(std::string_view name, Special& out) {
  static constexpr Named<Special> kSpecials[] = {
      {"%tid.x", Special::tid_x},
      {"%tid.y", Special::tid_y},
      {"%tid.z", Special::tid_z},
      {"%ntid.x", Special::ntid_x},
      {"%ntid.y", Special::ntid_y},
      {"%ntid.z", Special::ntid_z},
      {"%ctaid.x", Special::ctaid_x},
      {"%ctaid.y", Special::ctaid_y},
      {"%ctaid.z", Special::ctaid_z},
      {"%nctaid.x", Special::nctaid_x},
      {"%nctaid.y", Special::nctaid_y},
      {"%nctaid.z", Special::nctaid_z},
      {"%laneid", Special::laneid},
      {"%warpid", Special::warpid},
      {"%nwarpid", Special::nwarpid},
      {"%smid", Special::smid},
      {"%nsmid", Special::nsmid},
      {"%gridid", Special::gridid},
      {"%lanemask_eq", Special::lanemask_eq},
      {"%lanemask_lt", Special::lanemask_lt},
      {"%lanemask_le", Special::lanemask_le},
      {"%lanemask_gt", Special::lanemask_gt},
      {"%lanemask_ge", Special::lanemask_ge},
      {"%dynamic_smem_size", Special::dynamic_smem_size},
      {"%total_smem_size", Special::total_smem_size},
  };
  for (auto& s : kSpecials)
    if (name == s.name) {
      out = s.value;
      return true;
    }
  return false;
}

bool decode_mnemonic(std::string_view mnemonic, Inst& inst, DecodeError& error) {
  std::vector<std::string_view> parts;
  size_t start = 0;
  while (start <= mnemonic.size()) {
    size_t dot = mnemonic.find('.', start);
    if (dot == std::string_view::npos)
      dot = mnemonic.size();
    parts.push_back(mnemonic.substr(start, dot - start));
    start = dot + 1;
  }
  if (const char* why = hopper_scope(mnemonic, parts)) {
    error = {true, "'" + std::string(mnemonic) + "': " + why};
    return false;
  }
  // Longest dotted prefix that names an opcode.
  const auto& table = op_table();
  size_t key_parts = 0;
  for (size_t n = parts.size(); n >= 1; --n) {
    std::string_view key =
        mnemonic.substr(0, parts[n - 1].data() + parts[n - 1].size() - mnemonic.data());
    auto it = table.find(key);
    if (it != table.end()) {
      inst.op = it->second;
      key_parts = n;
      break;
    }
  }
  if (key_parts == 0) {
    error = {true, "unsupported instruction '" + std::string(mnemonic) + "'"};
    return false;
  }
  inst.family = kOps[static_cast<size_t>(inst.op)].family;
  std::vector<Type> types;
  for (size_t i = key_parts; i < parts.size(); ++i) {
    std::string_view p = parts[i];
    auto bad = [&] {
      error = {true,
               "unsupported modifier '." + std::string(p) + "' in '" + std::string(mnemonic) + "'"};
      return false;
    };
    if (Type t = parse_type(p); t != Type::none) {
      types.push_back(t);
      continue;
    }
    if (p == "global") {
      inst.space = Space::global;
      continue;
    }
    if (p == "shared" || p == "shared::cta") {
      inst.space = Space::shared;
      continue;
    }
    if (p == "local") {
      inst.space = Space::local;
      continue;
    }
    if (p == "param") {
      inst.space = Space::param;
      continue;
    }
    if (p == "const") {
      inst.space = Space::const_;
      continue;
    }
    if (p == "v2" || p == "v4" || p == "v8") {
      inst.vec = static_cast<uint8_t>(p[1] - '0');
      continue;
    }
    if (p == "x1" || p == "x2" || p == "x4") {
      inst.num = static_cast<uint8_t>(p[1] - '0');
      continue;
    }
    if (p == "row") {
      inst.flags |= kRow;
      continue;
    }
    if (p == "col") {
      inst.flags |= kColB;
      continue;
    }
    if (inst.op == Op::setp || inst.op == Op::set) {
      if (p == "and") {
        inst.bool_op = BoolOp::and_;
        continue;
      }
      if (p == "or") {
        inst.bool_op = BoolOp::or_;
        continue;
      }
      if (p == "xor") {
        inst.bool_op = BoolOp::xor_;
        continue;
      }
    }
    if ((inst.op == Op::vote || inst.op == Op::match) && (p == "all" || p == "any")) {
      inst.sub = p == "all" ? Sub::all : Sub::any;
      continue;
    }
    if (Sub s; sub_op(inst.op, p, s)) {
      inst.sub = s;
      continue;
    }
    bool found = false;
    for (auto& c : kCmps)
      if (p == c.name) {
        inst.cmp = c.value;
        found = true;
        break;
      }
    if (found)
      continue;
    for (auto& r : kRnds)
      if (p == r.name) {
        inst.rnd = r.value;
        found = true;
        break;
      }
    if (found)
      continue;
    for (auto& f : kFlags)
      if (p == f.name) {
        inst.flags |= f.value;
        found = true;
        break;
      }
    if (found)
      continue;
    // A memory-ordered ld/st is an atomic access: racecheck orders by it as by atom, instead of
    // reporting the accesses that the ordering exists for.
    if ((inst.op == Op::ld || inst.op == Op::st) &&
        (p == "relaxed" || p == "acquire" || p == "release")) {
      inst.flags |= kStrong;
      continue;
    }
    for (auto* ig : kIgnored)
      if (p == ig) {
        found = true;
        break;
      }
    if (found)
      continue;
    if (parse_shape(p, inst))
      continue;
    if (inst.op == Op::membar || inst.op == Op::fence)
      continue; // .gl/.cta/.sys/.sc/.acq_rel, .proxy.async, .mbarrier_init.release.cluster
    if (inst.op == Op::mbarrier_try_wait || inst.op == Op::mbarrier_test_wait) {
      if (p == "parity") {
        inst.flags |= kParity;
        continue;
      }
    }
    if (inst.op == Op::cp_bulk_tensor) {
      if (p.size() == 2 && p[1] == 'd' && p[0] >= '1' && p[0] <= '5') {
        inst.num = static_cast<uint8_t>(p[0] - '0');
        continue;
      }
      if (p == "shared::cluster" || p == "tile" || p == "mbarrier::complete_tx::bytes" ||
          p == "bulk_group")
        continue;
    }
    if (inst.op == Op::wgmma_mma_async && p == "sp") {
      error = {true, "sparse wgmma ('.sp') is not supported: '" + std::string(mnemonic) + "'"};
      return false;
    }
    if (inst.op == Op::griddepcontrol && (p == "launch_dependents" || p == "wait"))
      continue;
    if (inst.op == Op::cp_bulk_wait && p == "read")
      continue;
    if (inst.op == Op::setmaxnreg && (p == "inc" || p == "dec")) {
      inst.sub = p == "inc" ? Sub::inc : Sub::dec;
      continue;
    }
    return bad();
  }
  // Type assignment.
  if (!types.empty())
    inst.type = types.back();
  switch (inst.op) {
  case Op::cvt:
  case Op::set:
  case Op::slct:
    if (types.size() != 2) {
      error = {false, "'" + std::string(mnemonic) + "' needs a destination and a source type"};
      return false;
    }
    inst.type = types[0];
    inst.type2 = types[1];
    break;
  case Op::mma:
  case Op::mma_sp:
  case Op::mma_sp_ordered:
    if (types.size() != 4) {
      error = {false,
               "'" + std::string(mnemonic) + "' needs four types (.dtype.atype.btype.ctype)"};
      return false;
    }
    inst.type = types[0];
    inst.type2 = types[1];
    inst.type3 = types[2];
    inst.type4 = types[3];
    break;
  case Op::wgmma_mma_async:
    if (types.size() != 3) {
      error = {false, "'" + std::string(mnemonic) + "' needs three types (.dtype.atype.btype)"};
      return false;
    }
    inst.type = types[0];
    inst.type2 = types[1];
    inst.type3 = types[2];
    break;
  case Op::cvt_pack:
    error = {true, "unsupported instruction '" + std::string(mnemonic) + "'"};
    return false;
  default:
    if (types.size() == 2)
      inst.type2 = types[0];
    break;
  }
  if (inst.family == Family::int_arith && is_float(inst.type))
    inst.family = Family::float_arith;
  if (inst.op == Op::bar_sync_default || inst.op == Op::barrier_default) {
    error = {true, "unsupported instruction '" + std::string(mnemonic) + "'"};
    return false;
  }
  return true;
}

} // namespace tessel::sim
