// Per-op verifier hooks named in ops.def. (Placeholder: accepts everything; being replaced.)
#include "ir/verify_ops.h"

namespace tessel::ir {
std::optional<std::string> verify_constant(const Op&) { return std::nullopt; }
std::optional<std::string> verify_grid_query(const Op&) { return std::nullopt; }
std::optional<std::string> verify_arange(const Op&) { return std::nullopt; }
std::optional<std::string> verify_splat(const Op&) { return std::nullopt; }
std::optional<std::string> verify_broadcast(const Op&) { return std::nullopt; }
std::optional<std::string> verify_reshape(const Op&) { return std::nullopt; }
std::optional<std::string> verify_expand_dims(const Op&) { return std::nullopt; }
std::optional<std::string> verify_permute(const Op&) { return std::nullopt; }
std::optional<std::string> verify_arith(const Op&) { return std::nullopt; }
std::optional<std::string> verify_integer_arith(const Op&) { return std::nullopt; }
std::optional<std::string> verify_float_arith(const Op&) { return std::nullopt; }
std::optional<std::string> verify_compare(const Op&) { return std::nullopt; }
std::optional<std::string> verify_select(const Op&) { return std::nullopt; }
std::optional<std::string> verify_cast(const Op&) { return std::nullopt; }
std::optional<std::string> verify_addptr(const Op&) { return std::nullopt; }
std::optional<std::string> verify_load(const Op&) { return std::nullopt; }
std::optional<std::string> verify_store(const Op&) { return std::nullopt; }
std::optional<std::string> verify_reduce(const Op&) { return std::nullopt; }
std::optional<std::string> verify_arg_reduce(const Op&) { return std::nullopt; }
std::optional<std::string> verify_custom_reduce(const Op&) { return std::nullopt; }
std::optional<std::string> verify_scan(const Op&) { return std::nullopt; }
std::optional<std::string> verify_dot(const Op&) { return std::nullopt; }
std::optional<std::string> verify_for(const Op&) { return std::nullopt; }
std::optional<std::string> verify_if(const Op&) { return std::nullopt; }
std::optional<std::string> verify_while(const Op&) { return std::nullopt; }
std::optional<std::string> verify_yield(const Op&) { return std::nullopt; }
std::optional<std::string> verify_condition(const Op&) { return std::nullopt; }
std::optional<std::string> verify_return(const Op&) { return std::nullopt; }
} // namespace tessel::ir
