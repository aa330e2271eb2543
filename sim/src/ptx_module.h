// The decoded form of a PTX module (private to sim/). The parser turns each instruction into
// an `Inst`: an opcode from opcodes.def, its types and modifiers, and operands whose
// registers are already resolved to slot indices. Every value an instruction reads lives in a
// 64-bit register slot: declared registers first, then one slot per distinct immediate
// (filled once per function), then launch slots (special registers such as %tid.x and the
// addresses of symbols, filled when a warp starts). So an operand is always "slot i" and the
// executors read `regs[slot * 32 + lane]` with no case analysis in the lane loop.
// Predicates are separate: one 32-bit lane mask per predicate register per warp.
#pragma once

#include <cstdint>
#include <string>
#include <unordered_map>
#include <vector>

namespace tessel::sim {

enum class Op : uint8_t {
#define SIM_OP(name, key, family) name,
#include "opcodes.def"
  count_
};

enum class Family : uint8_t {
  int_arith,
  float_arith,
  logic,
  compare,
  move,
  convert,
  memory,
  atomic,
  control,
  misc,
  warp,
  mma,
  async,
  mbarrier,
  wgmma, // exec_wgmma.cpp
};

const char* op_key(Op op);

enum class Type : uint8_t {
  none,
  pred,
  b8,
  b16,
  b32,
  b64,
  b128,
  u8,
  u16,
  u32,
  u64,
  s8,
  s16,
  s32,
  s64,
  f16,
  f16x2,
  bf16,
  bf16x2,
  tf32,
  f32,
  f64,
  e4m3,
  e5m2,
  e4m3x2,
  e5m2x2,
};

enum class TypeClass : uint8_t { bits, uint, sint, flt, pred };

// Size in bytes of one value of the type (f16x2: 4; pred: 0). Inline: the lane loops of the
// handlers ask it per lane.
constexpr unsigned type_size(Type t) {
  switch (t) {
  case Type::none:
  case Type::pred:
    return 0;
  case Type::b8:
  case Type::u8:
  case Type::s8:
  case Type::e4m3:
  case Type::e5m2:
    return 1;
  case Type::b16:
  case Type::u16:
  case Type::s16:
  case Type::f16:
  case Type::bf16:
  case Type::e4m3x2:
  case Type::e5m2x2:
    return 2;
  case Type::b32:
  case Type::u32:
  case Type::s32:
  case Type::f16x2:
  case Type::bf16x2:
  case Type::tf32:
  case Type::f32:
    return 4;
  case Type::b64:
  case Type::u64:
  case Type::s64:
  case Type::f64:
    return 8;
  case Type::b128:
    return 16;
  }
  return 0;
}

constexpr TypeClass type_class(Type t) {
  switch (t) {
  case Type::none:
  case Type::b8:
  case Type::b16:
  case Type::b32:
  case Type::b64:
  case Type::b128:
    return TypeClass::bits;
  case Type::pred:
    return TypeClass::pred;
  case Type::u8:
  case Type::u16:
  case Type::u32:
  case Type::u64:
    return TypeClass::uint;
  case Type::s8:
  case Type::s16:
  case Type::s32:
  case Type::s64:
    return TypeClass::sint;
  case Type::f16:
  case Type::f16x2:
  case Type::bf16:
  case Type::bf16x2:
  case Type::tf32:
  case Type::f32:
  case Type::f64:
  case Type::e4m3:
  case Type::e5m2:
  case Type::e4m3x2:
  case Type::e5m2x2:
    return TypeClass::flt;
  }
  return TypeClass::bits;
}
const char* type_name(Type t);
// A register's low type_size(t) bytes read as a signed / unsigned integer of type t.
inline int64_t load_signed(Type t, uint64_t v) {
  switch (type_size(t)) {
  case 1:
    return static_cast<int8_t>(v);
  case 2:
    return static_cast<int16_t>(v);
  case 4:
    return static_cast<int32_t>(v);
  default:
    return static_cast<int64_t>(v);
  }
}
inline uint64_t load_unsigned(Type t, uint64_t v) {
  unsigned bits = type_size(t) * 8;
  return bits >= 64 ? v : v & ((uint64_t(1) << bits) - 1);
}
inline bool is_float(Type t) { return type_class(t) == TypeClass::flt; }
inline bool is_signed(Type t) { return type_class(t) == TypeClass::sint; }

enum class Space : uint8_t { generic, global, shared, local, param, const_ };
const char* space_name(Space s);

enum class Cmp : uint8_t {
  none,
  eq,
  ne,
  lt,
  le,
  gt,
  ge,
  lo,
  ls,
  hi,
  hs,
  equ,
  neu,
  ltu,
  leu,
  gtu,
  geu,
  num,
  nan,
};
enum class BoolOp : uint8_t { none, and_, or_, xor_ };
enum class Rnd : uint8_t { none, rn, rz, rm, rp, rna, rni, rzi, rmi, rpi, rs };

// The op-specific sub-operation (atomic op, shuffle mode, vote mode, mul width, ...).
// clang-format off
enum class Sub : uint8_t {
  none,
  lo, hi, wide,                                          // mul/mad
  add, min, max, inc, dec, exch, cas, and_, or_, xor_,   // atom/red/redux
  up, down, bfly, idx,                                   // shfl
  all, any, uni, ballot,                                 // vote, match
  shf_l, shf_r,                                          // shf
  f4e, b4e, rc8, ecl, ecr, rc16,                         // prmt modes
  finite, infinite, number, notanumber, normal, subnormal,  // testp
};
// clang-format on

enum Flag : uint32_t {
  kFtz = 1u << 0,
  kSat = 1u << 1,
  kApprox = 1u << 2,
  kFull = 1u << 3,
  kTrans = 1u << 4,
  kUni = 1u << 5,
  kRelu = 1u << 6,
  kVolatile = 1u << 7,
  kShiftAmt = 1u << 8,
  kWrap = 1u << 9,
  kClamp = 1u << 10,
  kNoFtz = 1u << 11,
  kNaN = 1u << 12,
  kCc = 1u << 13,
  kAligned = 1u << 14,
  kRow = 1u << 15,
  kColB = 1u << 16,
  kSatFinite = 1u << 17,
  kAll = 1u << 18,
  kAny = 1u << 19,
  kTo = 1u << 20,
  kParity = 1u << 21, // mbarrier.try_wait/test_wait.parity
  kStrong = 1u << 22, // ld/st .relaxed/.acquire/.release: an atomic access (racecheck, tessel's
                      // atomic_load/atomic_store)
};

enum class OperandKind : uint8_t { none, reg, imm, pred, vec, addr, label, clock, clock64, symbol };

inline constexpr uint32_t kNoSlot = 0xffffffffu;
inline constexpr uint32_t kNoReconverge = 0xffffffffu;

struct Operand {
  OperandKind kind = OperandKind::none;
  bool neg = false;         // `!%p` for predicate operands
  uint16_t count = 0;       // vec: number of elements
  uint32_t index = kNoSlot; // reg/imm: slot; pred: predicate; vec: vec_pool start;
                            // addr: base slot or kNoSlot; label: instruction index
  int64_t imm = 0;          // imm: value bits; addr: byte offset
};

struct Inst {
  Op op = Op::nop;
  Family family = Family::misc;
  Type type = Type::none;  // the operation type (last type modifier)
  Type type2 = Type::none; // cvt: source type; mma: A type; set: source type
  Type type3 = Type::none; // mma: B type
  Type type4 = Type::none; // mma: C type
  Space space = Space::generic;
  Cmp cmp = Cmp::none;
  BoolOp bool_op = BoolOp::none;
  Rnd rnd = Rnd::none;
  Sub sub = Sub::none;
  uint8_t vec = 1;                  // .v2/.v4
  uint8_t num = 0;                  // ldmatrix/stmatrix .x1/.x2/.x4
  uint8_t shape_m = 0, shape_k = 0; // mma/wgmma/ldmatrix shape
  uint16_t shape_n = 0;             // wgmma's N reaches 256
  uint8_t nops = 0;
  bool guard_neg = false;
  uint32_t guard = kNoSlot; // predicate index, kNoSlot when unguarded
  uint32_t flags = 0;
  uint32_t reconverge = kNoReconverge; // bra: the immediate post-dominator's first inst
  Operand ops[8];                 // wgmma.mma_async takes 8; the `|p` of shfl/setp sits in ops[5]
  int line = 0, column = 0;       // PTX position
  int loc_file = 0, loc_line = 0; // .loc, 0 when absent
  uint32_t mnemonic = 0;          // index into Module::mnemonics (full text, for messages)
  bool has(uint32_t flag) const { return (flags & flag) != 0; }
};

enum class Special : uint8_t {
  tid_x,
  tid_y,
  tid_z,
  ntid_x,
  ntid_y,
  ntid_z,
  ctaid_x,
  ctaid_y,
  ctaid_z,
  nctaid_x,
  nctaid_y,
  nctaid_z,
  laneid,
  warpid,
  nwarpid,
  smid,
  nsmid,
  gridid,
  lanemask_eq,
  lanemask_lt,
  lanemask_le,
  lanemask_gt,
  lanemask_ge,
  dynamic_smem_size,
  total_smem_size,
  symbol,
};

struct LaunchSlot {
  uint32_t slot = 0;
  Special special = Special::tid_x;
  uint32_t symbol = 0; // Special::symbol: index into Module::symbols
};

struct Param {
  std::string name;
  uint32_t size = 0, align = 1, offset = 0;
};

struct Function {
  std::string name;
  bool is_entry = false;
  int line = 0;
  std::vector<Param> params;
  std::vector<Param> returns; // .func return parameters
  uint32_t param_bytes = 0;
  uint32_t num_regs = 0;  // declared registers (slots [0, num_regs))
  uint32_t num_slots = 0; // registers + constants + launch slots
  uint32_t num_preds = 0;
  std::vector<std::pair<uint32_t, uint64_t>> constants; // slot, value
  std::vector<LaunchSlot> launch_slots;
  std::vector<Inst> code;
  std::vector<uint32_t> vec_pool;
  uint32_t sink_slot = 0;             // where `_` operands write
  std::vector<std::string> reg_names; // by slot, declared registers only (for messages)
  bool defined = false;               // has a body (not only a prototype)
  bool uses_wgmma = false; // has wgmma instructions: register accesses are tracked (exec_wgmma.cpp)
};

struct Symbol {
  std::string name;
  Space space = Space::global;
  uint32_t size = 0, align = 1;
  std::vector<uint8_t> init;   // initialiser bytes (global/const), may be shorter than size
  bool extern_dynamic = false; // `.extern .shared ... name[]`
  int function = -1;           // declaring function, -1 at module scope
  int param_index = -1;        // kernel parameter symbols: index into Function::params
  uint32_t local_offset = 0;   // .local: offset in the thread's local window
  int line = 0;
};

struct Module {
  std::string source_name;
  std::vector<Function> functions;
  std::vector<Symbol> symbols;
  std::vector<std::string> mnemonics;         // full mnemonic text per distinct spelling
  std::unordered_map<int, std::string> files; // .file id -> path
  uint32_t local_bytes = 0;                   // per-thread local window size
  int find_function(const std::string& name) const;
};

} // namespace tessel::sim
