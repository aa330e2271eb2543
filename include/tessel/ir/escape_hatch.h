// What the escape-hatch ops (ops.def: inline_asm, inline_asm_volatile, extern_call) share between
// the DSL, the verifier and the backends: the C++ fallback's calling convention and how
// inline_asm packs elements into asm operands. docs/language.md "Escape hatches" is the user's
// view.
#pragma once

#include <functional>
#include <string>
#include <string_view>
#include <vector>

namespace tessel::ir {

// A C++ function that the CPU backend's compiled code calls once per element: an escape hatch's
// fallback, kept in Module::host_callbacks and named by slot in the IR (`fallback`).
// `args[i]` points at operand i's value in its storage form (codegen/cpu.h: integers and f32/f64
// as themselves, f16 / bf16 as their 16 bits, i1 as one byte 0 or 1); the callback writes the
// result, in the same form, to `out` (8 bytes are there). What it throws is caught by the CPU
// backend: the element becomes 0 and the launch throws the error once its programs have run.
using HostCallback = std::function<void(const void* const* args, void* out)>;

// How one inline_asm instance sees `pack` elements of a `bits`-wide type (as Triton packs them):
// up to 32 bits' worth of elements share one register (low element in the low bits), so f16 with
// pack 2 is one 32-bit operand, i8 with pack 4 one 32-bit operand, f16 with pack 4 two, f32 with
// pack 2 two 32-bit operands.
struct AsmPacking {
  int per_register = 1; // elements in one asm operand
  int registers = 1;    // asm operands per value (pack / per_register)
  unsigned register_bits(unsigned bits) const { return bits * unsigned(per_register); }
};
inline AsmPacking asm_packing(unsigned bits, int pack) {
  int per = bits >= 32 ? 1 : int(32 / bits);
  per = per < pack ? per : pack;
  return AsmPacking{per, pack / per};
}

// The bits of one asm operand holding `per_register` elements of `bits` each: a lone 8-bit
// element travels in 16 bits (PTX has no 8-bit registers).
inline unsigned asm_register_bits(unsigned bits, int per_register) {
  unsigned b = bits * unsigned(per_register);
  return b < 16 ? 16 : b;
}

// The operand constraints of a constraint string in order (outputs first), without clobbers.
inline std::vector<std::string_view> asm_operand_constraints(std::string_view constraints) {
  std::vector<std::string_view> out;
  while (true) {
    size_t comma = constraints.find(',');
    std::string_view item = constraints.substr(0, comma);
    while (!item.empty() && item.front() == ' ')
      item.remove_prefix(1);
    while (!item.empty() && item.back() == ' ')
      item.remove_suffix(1);
    if (!item.empty() && item.front() != '~')
      out.push_back(item);
    if (comma == std::string_view::npos)
      return out;
    constraints.remove_prefix(comma + 1);
  }
}

// The register class of one operand constraint ("=r" -> 'r', "=&h" -> 'h'), and its width:
// h 16, r 32, l 64 (integers), f 32, d 64 (floats); 0 for another letter.
inline char asm_constraint_letter(std::string_view c) {
  while (!c.empty() && (c.front() == '=' || c.front() == '&' || c.front() == '+'))
    c.remove_prefix(1);
  return c.size() == 1 ? c.front() : '\0';
}
inline unsigned asm_letter_bits(char letter) {
  switch (letter) {
  case 'h':
    return 16;
  case 'r':
  case 'f':
    return 32;
  case 'l':
  case 'd':
    return 64;
  default:
    return 0;
  }
}

// The operands a constraint string names: its comma-separated entries that are not clobbers
// (`~{memory}`); outputs are those starting with '='.
struct AsmConstraintCount {
  int outputs = 0;
  int inputs = 0;
  bool outputs_first = true; // no output after an input
};
inline AsmConstraintCount count_asm_constraints(std::string_view constraints) {
  AsmConstraintCount c;
  while (!constraints.empty()) {
    size_t comma = constraints.find(',');
    std::string_view item = constraints.substr(0, comma);
    while (!item.empty() && item.front() == ' ')
      item.remove_prefix(1);
    if (!item.empty() && item.front() == '=') {
      c.outputs_first = c.outputs_first && c.inputs == 0;
      ++c.outputs;
    } else if (!item.empty() && item.front() != '~') {
      ++c.inputs;
    }
    if (comma == std::string_view::npos)
      break;
    constraints.remove_prefix(comma + 1);
  }
  return c;
}

} // namespace tessel::ir
