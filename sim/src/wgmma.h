// wgmma (sm_90a) pieces shared by the parser and the executor (private to sim/): the shared
// memory matrix descriptor of the PTX ISA ("Asynchronous Warpgroup Level Matrix Shared Memory
// Layout", "Matrix Descriptor Format") and the operand forms of wgmma.mma_async.
#pragma once

#include "ptx_module.h"

#include <cstdint>
#include <string>
#include <vector>

namespace tessel::sim {

// Descriptor bits 62-63.
enum class WgmmaSwizzle : uint8_t { none = 0, b128 = 1, b64 = 2, b32 = 3 };

// A decoded 64-bit matrix descriptor. Addresses and offsets are in bytes (the descriptor keeps
// them >> 4, in 14-bit fields).
struct MatrixDescriptor {
  uint32_t start = 0;       // bits 0-13: shared-memory start address
  uint32_t leading = 0;     // bits 16-29: leading dimension byte offset (LBO)
  uint32_t stride = 0;      // bits 32-45: stride dimension byte offset (SBO)
  uint32_t base_offset = 0; // bits 49-51: the swizzle pattern's phase at the start address
  WgmmaSwizzle swizzle = WgmmaSwizzle::none;
};

MatrixDescriptor decode_matrix_descriptor(uint64_t bits);
const char* swizzle_name(WgmmaSwizzle s);

// "" when the descriptor can be read, else why not: a swizzled layout whose base offset is not
// the pattern phase of its start address ((start >> 7) masked to the pattern's rows), which
// the ISA requires when the start is not aligned to the pattern's repeat.
std::string descriptor_error(const MatrixDescriptor& d);

// The shared-memory byte address of element (mn, k) of an operand whose elements are `esize`
// bytes, in the canonical layout the descriptor describes: K-major (the default) or MN-major
// (imm-trans 1), built of 8-row x 16-byte core matrices, swizzled on address bits 4-6 ^ 7-9.
uint32_t descriptor_element_address(const MatrixDescriptor& d, unsigned mn, unsigned k,
                                    unsigned esize, bool mn_major);

// The operand form a wgmma.mma_async's types select.
struct WgmmaForm {
  unsigned k = 0;         // 16 (f16/bf16), 8 (tf32), 32 (8-bit)
  unsigned esize = 0;     // bytes per A/B element
  unsigned d_regs = 0;    // accumulator registers per thread
  bool scale_ab = false;  // imm-scale-a/b operands
  bool transpose = false; // imm-trans operands (16-bit types only)
  bool integer = false;   // s8/u8 -> s32
};
WgmmaForm wgmma_form(const Inst& in);
// Whether A comes from registers (a braced vector) rather than a descriptor.
inline bool wgmma_a_in_registers(const Inst& in) { return in.ops[1].kind == OperandKind::vec; }
// Operand positions of imm-scale-a, imm-scale-b, imm-trans-a, imm-trans-b (-1: absent).
struct WgmmaImmediates {
  int scale_a = -1, scale_b = -1, trans_a = -1, trans_b = -1;
};
WgmmaImmediates wgmma_immediates(const Inst& in);

// "" when the shape, types and operands form a wgmma.mma_async the ISA defines, else the
// problem (a parse error).
std::string wgmma_operand_error(const Inst& in, const Function& fn);

} // namespace tessel::sim
