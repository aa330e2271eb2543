// A reference interpreter of the tile IR, for the differential fuzzer (differential.h): it runs a
// verified, traced ir::Function for one program id over host buffers, one element at a time,
// with the rules of docs/semantics.md as reference_scalars.h writes them — no LLVM, no code of
// codegen/. It is meant to be obviously right rather than fast.
//
// It covers the ops the kernel generator (kernel_generator.h) makes: constant, program_id,
// num_programs, arange, splat, broadcast, expand_dims, reshape, permute, the elementwise
// arithmetic, comparisons, select and casts on i1/i8/i16/i32/i64/u8/u16/u32/u64/f16/bf16/f32/f64,
// the approximate math functions (with an error bound), reduce_sum/max/min, addptr, masked
// load/store, for and if. Any other op throws Unsupported ("interpreter does not cover op X"),
// which the fuzzer counts as a skipped input, never as an answer.
#pragma once

#include "reference_scalars.h"

#include "tessel/ir/ir.h"

#include <array>
#include <cstdint>
#include <span>
#include <stdexcept>
#include <string>
#include <vector>

namespace tessel::fuzz {

// The interpreter cannot give an answer for this kernel (an op it does not cover, or a branch
// taken on a value it can only bound). Not a disagreement.
class Unsupported : public std::runtime_error {
public:
  using std::runtime_error::runtime_error;
};

// The kernel did something no backend may be asked to do (an unmasked access out of its buffer):
// a bug of the generator, reported as such.
class InvalidKernel : public std::runtime_error {
public:
  using std::runtime_error::runtime_error;
};

// A host buffer: its element kind, bytes, and per element the error bound of what a kernel wrote
// there (reference_scalars.h; 0 for inputs and untouched elements).
struct InterpBuffer {
  DType kind = DType::f32;
  std::vector<uint8_t> bytes;
  std::vector<double> err;

  InterpBuffer() = default;
  InterpBuffer(DType k, std::vector<uint8_t> b)
      : kind(k), bytes(std::move(b)), err(bytes.size() / element_bytes(), 0.0) {}
  size_t element_bytes() const { return kind == DType::i1 ? 1 : width_of(kind) / 8; }
  size_t size() const { return err.size(); }
};

// A kernel argument: a pointer to the start of buffer `buffer`, or (buffer < 0) an integer.
struct InterpArg {
  int buffer = -1;
  int64_t integer = 0;
};

struct ProgramIndex {
  std::array<int64_t, 3> id{0, 0, 0};
  std::array<int64_t, 3> count{1, 1, 1};
};

// Runs `fn` for program `program`: reads and writes `buffers`. Requires: `fn` verifies, has no
// layouts (the traced IR), and `args` matches its parameters. Throws Unsupported or InvalidKernel.
void interpret(const ir::Function& fn, std::span<const InterpArg> args,
               std::vector<InterpBuffer>& buffers, const ProgramIndex& program);

// One elementwise op on one element (ir_interpreter_elementwise.cpp). `in` is the kind of the
// operands (of the first one for select's values), `out` the result's.
Elem eval_elementwise(ir::Opcode op, DType in, DType out, std::span<const Elem> operands);

} // namespace tessel::fuzz
