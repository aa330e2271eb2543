// f32 -> bf16 round-to-nearest-even on the CPU: which instruction sequence the lowering emits
// (lower_kernel.cpp). No LLVM types here, so that tests can flip the switch.
#pragma once

namespace tessel::codegen::cpu::detail {

// True when the JIT's target features (host_target().features, what its target machine gets)
// include avx512bf16 and no test has turned the instruction off: the lowering then rounds with
// vcvtneps2bf16 plus a fix-up for subnormal inputs (which the instruction flushes to zero)
// instead of integer arithmetic. Both give the same bits (docs/cpu_backend.md).
bool bf16_convert_instruction();

// Tests: lower as on a host without avx512bf16 (false), or as the host allows (true, the
// default). Process-wide; kernels already compiled keep their sequence (and the kernel cache key
// does not see this switch, so use it only with codegen::cpu::compile directly).
void allow_bf16_convert_instruction(bool allowed);

} // namespace tessel::codegen::cpu::detail
