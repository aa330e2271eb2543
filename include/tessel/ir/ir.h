// The tile IR.
//
// A Module holds kernels (Function). A kernel's body is a Block: a list of Ops in SSA form, with
// block arguments for the kernel's parameters. Values are immutable; a tensor value is a whole
// tile (for example tensor<128x64xf32>), not a memory location. Control flow is structured: `for`,
// `if` and `while` ops own single-block regions whose block arguments carry loop state and whose
// terminators (`yield`, `condition`) hand values back to the op.
//
// Semantics (the backends implement exactly this):
//  * Elementwise ops take operands of one shape (the DSL inserts broadcasts) and apply per element.
//  * Integers are signed two's complement (i1: false < true). `div` truncates, `rem` has the sign
//  of
//    the dividend (C); x / 0 and INT_MIN / -1 give a value fixed by codegen/scalar_semantics.h
//    (never a trap), as do shifts by >= the width. `shr` is arithmetic. Overflow wraps. `umulhi` is
//    the high half of the double-width product of its operands' bits read as unsigned integers.
//  * Floats are IEEE-754 with round-to-nearest-even; f16 and bf16 arithmetic is performed in f32
//  and
//    rounded back to the element type after each op. `min`/`max` on floats return the other operand
//    when one is NaN. `cmp_ne` is true for NaN operands; the other comparisons are false for NaN.
//  * `cast` between integer widths sign-extends or truncates; i1 -> integer gives 0 or 1; anything
//    -> i1 compares with zero; float -> integer truncates toward zero and saturates (NaN -> 0);
//    float -> narrower float rounds to nearest even.
//  * `addptr p, off` advances p by `off` elements of p's pointee type.
//  * `load ptr [, mask [, other]]` reads each element whose mask is true; masked-off elements are
//    `other`, or zero when `other` is absent. `store ptr, value [, mask]` writes only where the
//    mask is true. Masked-off addresses are never touched, so they may be out of bounds. Within one
//    program, a load and a later store that touch the same address in *different* elements are not
//    ordered (as on a GPU, where the program's threads are not): an in-place update must not read
//    elements that another element of the same store writes.
//  * `atomic_add|max|min|and|or|xor|xchg ptr, val [, mask] {sem, scope}` performs, for each element
//    whose mask holds, one atomic read-modify-write of its address and yields the value it read;
//    elements whose mask is false touch nothing and yield 0. Elements of one op that share an
//    address are all applied, in an unspecified order. Float max/min order values as IEEE
//    totalOrder on the sign and magnitude: -0.0 < +0.0, and a NaN counts as above +inf (sign
//    clear) or below -inf (sign set): max keeps a NaN with its sign clear, min one with it set,
//    whether in memory or written (`max`/`min` drop NaNs instead). `atomic_cas ptr,
//    cmp, val` writes val where the memory's bits equal cmp's and yields the old value. `sem` and
//    `scope` (atomic.h) order the op with the program's other memory accesses.
//  * `reduce_* {axis}` removes `axis` from the shape. The order of combination is unspecified
//    (sums may differ from a sequential loop by rounding); f16/bf16 sums and scans accumulate in
//    f32 and round once. `reduce_argmax/argmin` return the i32 index of the first maximum/minimum,
//    ignoring NaN elements (like min/max). `reduce {axis}` combines with its region, whose block
//    takes two scalars of the element type and yields one; the combine must be associative.
//    `scan_sum {axis}` is the inclusive prefix sum along `axis`.
//  * `dot a, b, acc`: a is MxK, b is KxN, acc and the result MxN; products accumulate into acc's
//    element type (f32 for float operands, i32 for integer operands); f16/bf16 accumulators
//    accumulate in f32 and round once.
//  * `for lo, hi, step, inits...` runs its region for iv = lo, lo+step, ... while iv < hi (computed
//    without overflow; a step <= 0 runs no iteration);
//    the region's arguments are (iv, carried...), its `yield` gives the next carried values, and
//    the op's results are the final carried values. `if cond, ...` runs region 0 or region 1, each
//    ending in `yield` of the results. `while inits...`: region 0 takes the carried values and ends
//    in `condition c, vals...`; while c holds, region 1 takes vals and yields the next carried
//    values; the op's results are the vals of the last `condition`.
//  * `program_id {axis}` / `num_programs {axis}` (axis 0..2) are i32.
//  * `device_print x [, mask] {prefix}` writes one line per element of x where the mask holds, and
//    `device_assert cond [, mask] {message}` fails the launch where an element of cond is false and
//    the mask holds (docs/language.md "Debugging"); neither has results or touches the kernel's
//    memory. Asserts exist only in debug compiles: strip-device-asserts removes them otherwise.
#pragma once

#include "tessel/error.h"
#include "tessel/ir/escape_hatch.h"
#include "tessel/ir/types.h"

#include <bit>
#include <functional>
#include <list>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace tessel::ir {

enum class Opcode : uint16_t {
#define TESSEL_OP(id, name, operands, results, regions, traits, attrs, verifier) id,
#include "tessel/ir/ops.def"
#undef TESSEL_OP
};
inline constexpr size_t kNumOpcodes = 0
#define TESSEL_OP(id, name, operands, results, regions, traits, attrs, verifier) +1
#include "tessel/ir/ops.def"
#undef TESSEL_OP
    ;

enum OpTrait : uint32_t {
  PURE = 1u << 0,
  COMMUTATIVE = 1u << 1,
  ELEMENTWISE = 1u << 2,
  TERMINATOR = 1u << 3,
  CONSTANT_LIKE = 1u << 4,
  FLOAT_ONLY = 1u << 5,
  INTEGER_ONLY = 1u << 6,
  COMPARISON = 1u << 7,
  // The families (ELEMENTWISE above is one): every op has exactly one.
  SOURCE = 1u << 8,
  SHAPE = 1u << 9,
  MEMORY = 1u << 10,
  REDUCTION = 1u << 11,
  SCAN = 1u << 12,
  CONTRACTION = 1u << 13,
  CONTROL = 1u << 14,
  // Only after GPU lowering starts (ops.def explains; the verifier checks).
  GPU_STAGE = 1u << 15,
  // An atomic read-modify-write of memory (ops.def; include/tessel/ir/atomic.h).
  ATOMIC = 1u << 16,
  // A debugging op (device_print, device_assert): no results, effects outside the kernel's memory.
  DEBUG_OP = 1u << 17,
};
inline constexpr int VAR = -1;

// What an op does, as ops.def's family trait says: the unit the backends and analyses dispatch
// on. Code that handles a whole family (every elementwise op goes through the scalar semantics)
// switches over this, not over the opcodes.
enum class OpFamily : uint8_t {
  Source,
  Shape,
  Elementwise,
  Memory,
  Reduction,
  Scan,
  Contraction,
  Control,
};

// The traits column of ops.def, as a constant table (the enum order is the table's order).
inline constexpr uint32_t kOpTraits[] = {
#define TESSEL_OP(id, name, operands, results, regions, traits, attrs, verifier) traits,
#include "tessel/ir/ops.def"
#undef TESSEL_OP
};

constexpr bool has_trait(Opcode op, OpTrait t) {
  return (kOpTraits[static_cast<size_t>(op)] & t) != 0;
}

constexpr OpFamily family_of(Opcode op) {
  if (has_trait(op, SOURCE))
    return OpFamily::Source;
  if (has_trait(op, SHAPE))
    return OpFamily::Shape;
  if (has_trait(op, ELEMENTWISE))
    return OpFamily::Elementwise;
  if (has_trait(op, MEMORY))
    return OpFamily::Memory;
  if (has_trait(op, REDUCTION))
    return OpFamily::Reduction;
  if (has_trait(op, SCAN))
    return OpFamily::Scan;
  if (has_trait(op, CONTRACTION))
    return OpFamily::Contraction;
  return OpFamily::Control; // the one left (every_op_has_one_family, below)
}

inline constexpr uint32_t kFamilyTraits =
    SOURCE | SHAPE | ELEMENTWISE | MEMORY | REDUCTION | SCAN | CONTRACTION | CONTROL;
constexpr bool every_op_has_one_family() {
  for (uint32_t t : kOpTraits)
    if (std::popcount(t & kFamilyTraits) != 1)
      return false;
  return true;
}
static_assert(every_op_has_one_family(), "every ops.def row needs exactly one family trait");

struct AttrSpec {
  enum class Kind : uint8_t { Int, Float, Num, Ints, Str };
  std::string name;
  Kind kind;
  bool optional = false; // "name:kind?": may be absent (Attr::Kind::None), printed only when set
};

class Op;
using OpVerifier = std::optional<std::string> (*)(const Op&);

// What ops.def says of one opcode.
struct OpInfo {
  Opcode opcode;
  const char* name;
  int num_operands; // or VAR
  int num_results;  // or VAR
  int num_regions;
  uint32_t traits;
  std::vector<AttrSpec> attrs;
  OpVerifier verifier;

  bool has(OpTrait t) const { return (traits & t) != 0; }
  OpFamily family() const { return family_of(opcode); }
};
const OpInfo& op_info(Opcode op);
// Null when no op has this text name.
const OpInfo* find_op_info(std::string_view name);

// An attribute value. `Num` attributes hold an integer or a float according to the result's
// element type; they are stored as Int or Float.
struct Attr {
  enum class Kind : uint8_t { None, Int, Float, Ints, Str };
  Kind kind = Kind::None;
  int64_t i = 0;
  double f = 0;
  std::vector<int64_t> ints;
  std::string s; // Kind::Str (an escape hatch's PTX or CUDA source), printed quoted and escaped

  static Attr of_int(int64_t v) { return {Kind::Int, v, 0, {}, {}}; }
  static Attr of_float(double v) { return {Kind::Float, 0, v, {}, {}}; }
  static Attr of_ints(std::vector<int64_t> v) { return {Kind::Ints, 0, 0, std::move(v), {}}; }
  static Attr of_str(std::string v) { return {Kind::Str, 0, 0, {}, std::move(v)}; }
  bool operator==(const Attr& o) const = default;
};

class Block;

// An SSA value: the result of an op or an argument of a block.
class Value {
public:
  const Type* type() const { return type_; }
  Op* defining_op() const { return op_; }       // null for block arguments
  Block* owner_block() const { return block_; } // the block of a block argument, else null
  unsigned index() const { return index_; }     // result number or argument number
  bool is_block_arg() const { return op_ == nullptr; }
  void set_type(const Type* t) { type_ = t; }

private:
  friend class Op;
  friend class Block;
  Value(const Type* t, Op* op, Block* block, unsigned index)
      : type_(t), op_(op), block_(block), index_(index) {}
  const Type* type_;
  Op* op_;
  Block* block_;
  unsigned index_;
};

// A single-block region: arguments and a list of ops ending in a terminator.
class Block {
public:
  using OpList = std::list<std::unique_ptr<Op>>;
  using iterator = OpList::iterator;

  explicit Block(Op* parent = nullptr) : parent_(parent) {}
  Block(const Block&) = delete;
  Block& operator=(const Block&) = delete;

  Op* parent_op() const { return parent_; }
  size_t num_args() const { return args_.size(); }
  Value* arg(size_t i) const { return args_[i].get(); }
  std::vector<Value*> args() const;
  Value* add_arg(const Type* t);
  void erase_args();

  OpList& ops() { return ops_; }
  const OpList& ops() const { return ops_; }
  bool empty() const { return ops_.empty(); }
  Op* terminator() const; // the last op if it is a terminator, else null

  iterator insert(iterator pos, std::unique_ptr<Op> op);
  Op* append(std::unique_ptr<Op> op) { return insert(ops_.end(), std::move(op))->get(); }
  // Unlinks `op` and hands it to the caller.
  std::unique_ptr<Op> take(Op* op);
  void erase(Op* op) { take(op); }
  iterator find(Op* op);

private:
  Op* parent_;
  std::vector<std::unique_ptr<Value>> args_;
  OpList ops_;
};

class Op {
public:
  Op(Opcode opcode, std::vector<Value*> operands, std::span<const Type* const> result_types,
     std::vector<Attr> attrs, SourceLoc loc);
  Op(const Op&) = delete;
  Op& operator=(const Op&) = delete;

  Opcode opcode() const { return opcode_; }
  const OpInfo& info() const { return op_info(opcode_); }
  const char* name() const { return info().name; }
  bool has(OpTrait t) const { return info().has(t); }

  size_t num_operands() const { return operands_.size(); }
  Value* operand(size_t i) const { return operands_[i]; }
  const std::vector<Value*>& operands() const { return operands_; }
  void set_operand(size_t i, Value* v) { operands_[i] = v; }
  void set_operands(std::vector<Value*> v) { operands_ = std::move(v); }

  size_t num_results() const { return results_.size(); }
  Value* result(size_t i = 0) const { return results_[i].get(); }
  std::vector<Value*> results() const;
  Value* add_result(const Type* t);

  // Attributes in the order ops.def declares them.
  const std::vector<Attr>& attrs() const { return attrs_; }
  std::vector<Attr>& attrs() { return attrs_; }
  // The attribute named `name`; asserts that the op declares it.
  const Attr& attr(std::string_view name) const;
  int64_t int_attr(std::string_view name) const { return attr(name).i; }
  // Sets the attribute named `name` (a pass filling an optional one); asserts that the op declares
  // it.
  void set_attr(std::string_view name, Attr value);

  size_t num_regions() const { return regions_.size(); }
  Block& region(size_t i) const { return *regions_[i]; }

  Block* parent_block() const { return parent_; }
  // The op whose region holds this op; null at the top level of a kernel.
  Op* parent_op() const;

  SourceLoc loc;

private:
  friend class Block;
  Opcode opcode_;
  std::vector<Value*> operands_;
  std::vector<std::unique_ptr<Value>> results_;
  std::vector<Attr> attrs_;
  std::vector<std::unique_ptr<Block>> regions_;
  Block* parent_ = nullptr;
};

// A kernel. Its parameters are the body's arguments. `arg_divisibility[i]` records what the
// specialization guarantees about argument i: an integer divisible by it, or a pointer aligned to
// it in bytes (1 = nothing known).
struct Function {
  std::string name;
  Block body;
  std::vector<int64_t> arg_divisibility;
  // Bytes of shared memory the kernel uses, set by allocate-shared
  // (codegen/gpu/allocate_shared.cpp); -1 before. Printed as `kernel @k(...) shared(N) {`.
  int64_t shared_bytes = -1;

  Function() = default;
  Value* add_arg(const Type* t, int64_t divisibility = 1) {
    arg_divisibility.push_back(divisibility);
    return body.add_arg(t);
  }
};

struct Module {
  Context ctx;
  std::vector<std::unique_ptr<Function>> functions;
  // The C++ fallbacks of escape hatches (inline_asm / extern_call `fallback` attributes index
  // this), which the CPU backend's code calls per element. Not printed: the IR says only which
  // slot an op uses, so a fallback's identity never reaches a cache key.
  std::vector<HostCallback> host_callbacks;

  Function& add_function(std::string name);
  Function* find(std::string_view name) const;
};

// Visits every op under `block` in program order, parents before the ops of their regions.
void walk(Block& block, const std::function<void(Op&)>& fn);
void walk(const Block& block, const std::function<void(const Op&)>& fn);
// Replaces every use of `from` by `to` in ops under `scope`.
void replace_all_uses(Block& scope, Value* from, Value* to);
// True when `v` is defined in `block` or in a block that encloses it.
bool is_defined_outside(const Value* v, const Op& op);

} // namespace tessel::ir
