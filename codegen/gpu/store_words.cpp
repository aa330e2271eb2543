// 8- and 16-byte runs of bytes as one shared store of words (store_words.h says why).
#include "codegen/gpu/store_words.h"

#include <llvm/IR/InlineAsm.h>

#include <fmt/format.h>

#include <string>
#include <vector>

namespace tessel::codegen::gpu::detail {

void store_words(llvm::IRBuilder<>& b, llvm::Value* ptr, std::span<llvm::Value* const> bytes) {
  llvm::Type* four = llvm::FixedVectorType::get(b.getInt8Ty(), 4);
  std::vector<llvm::Value*> args{ptr};
  std::vector<llvm::Type*> types{ptr->getType()};
  std::string list, constraints = "l";
  for (size_t w = 0; w < bytes.size() / 4; ++w) {
    llvm::Value* v = llvm::PoisonValue::get(four);
    for (uint32_t i = 0; i < 4; ++i)
      v = b.CreateInsertElement(v, bytes[4 * w + i], b.getInt32(i));
    args.push_back(b.CreateBitCast(v, b.getInt32Ty()));
    types.push_back(b.getInt32Ty());
    list += fmt::format("{}${}", w ? ", " : "", w + 1);
    constraints += ",r";
  }
  const std::string text = fmt::format("st.shared.v{}.b32 [$0], {{{}}};", bytes.size() / 4, list);
  auto* fn = llvm::InlineAsm::get(llvm::FunctionType::get(b.getVoidTy(), types, false), text,
                                  constraints + ",~{memory}", /*hasSideEffects=*/true);
  b.CreateCall(fn, args);
}

} // namespace tessel::codegen::gpu::detail
