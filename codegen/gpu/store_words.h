// Private to codegen/gpu: a thread's run of 8 or 16 bytes stored to shared memory as one
// st.shared.v2/v4.b32 (lower_mma.cpp's local_store of 8-bit tiles, convert_layout.cpp's scratch
// writes of 8-bit tensors).
//
// Why: the NVPTX backend splits an <8 x i8> or <16 x i8> store into u32 stores (st.shared.u32
// [p], [p + 4], ..), whose lanes, 8 or 16 bytes apart, hit each bank 2 or 4 times, although the
// swizzle search counted one 8- or 16-byte access; and LLVM folds a bitcast to <2 x i32> back
// into the byte vector, so the one access is written as inline PTX.
#pragma once

#include <llvm/IR/IRBuilder.h>

#include <span>

namespace tessel::codegen::gpu::detail {

// Stores `bytes` (8 or 16 i8 values) at `ptr` as 32-bit words, little-endian: byte i of the run
// is bits 8 (i % 4) of word i / 4.
void store_words(llvm::IRBuilder<>& b, llvm::Value* ptr, std::span<llvm::Value* const> bytes);

} // namespace tessel::codegen::gpu::detail
