// Decoding a PTX mnemonic (`ld.global.v4.f32`, `mma.sync.aligned.m16n8k16.row.col...`) into
// the opcode and modifier fields of an `Inst`, and the tables of names it uses. Private to
// sim/: the parser calls it once per instruction.
#pragma once

#include "ptx_module.h"

#include <string>
#include <string_view>

namespace tessel::sim {

struct DecodeError {
  bool unsupported = false; // outside the subset (vs. a malformed mnemonic)
  std::string message;
};

// Fills inst.op, family and every modifier field from the mnemonic. Returns false and sets
// `error` when the mnemonic is unknown, out of scope, or has a modifier this op cannot take.
bool decode_mnemonic(std::string_view mnemonic, Inst& inst, DecodeError& error);

// "%tid.x" -> Special::tid_x; false when the name is not a special register.
bool special_register(std::string_view name, Special& out);

// ".u32" / "u32" -> Type::u32; Type::none when not a type.
Type parse_type(std::string_view name);

} // namespace tessel::sim
