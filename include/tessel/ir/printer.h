// The IR's text form. Printing is deterministic (the disk-cache key hashes it) and round-trips
// exactly through parse_module.
//
//   kernel @add(%arg0: ptr<f32> {div = 16}, %arg1: i32) {
//     %0 = program_id {axis = 0} : i32 loc("add.cpp":7:14)
//     %1 = for %lo, %hi, %step, %init : f32 {
//     ^(%2: i32, %3: f32):
//       ...
//       yield %4
//     }
//     return
//   }
#pragma once

#include "tessel/ir/ir.h"

#include <string>

namespace tessel::ir {

struct PrintOptions {
  bool locations = true; // print loc(...) after each op
};

std::string print(const Module& module, PrintOptions options = {});
std::string print(const Function& function, PrintOptions options = {});
// One op and its regions, with values numbered locally (for error messages).
std::string print_op(const Op& op);
// Shortest text that reads back as the same double, always marked as a float ("1.0").
std::string format_float(double v);

} // namespace tessel::ir
