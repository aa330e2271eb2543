// Private to the backends: an LLVM module as text (for TESSEL_DUMP=llvm and --emit llvm).
#pragma once

#include <llvm/IR/Module.h>
#include <llvm/Support/raw_ostream.h>

#include <string>

namespace tessel::codegen {

inline std::string print_module(const llvm::Module& m) {
  std::string text;
  llvm::raw_string_ostream os(text);
  m.print(os, nullptr);
  return text;
}

} // namespace tessel::codegen
