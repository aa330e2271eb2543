// The rules of tensor descriptors (tessel/ir/tensor_desc.h) and the verifier hooks of desc_load /
// desc_store (ops.def), which apply them to what the IR can see: element type, box, swizzle,
// padding and the strides that are constants.
#include "tessel/ir/tensor_desc.h"

#include "ir/verify_ops.h"

#include <fmt/format.h>

#include <fmt/ranges.h>

#include <algorithm>
#include <bit>

namespace tessel::ir {

using Message = std::optional<std::string>;

DescOperands desc_operands(const Op& op) {
  const size_t rank = op.attr("block").ints.size();
  std::span<Value* const> all(op.operands());
  DescOperands d;
  d.base = all[0];
  d.shape = all.subspan(1, rank);
  d.strides = all.subspan(1 + rank, rank);
  d.offsets = all.subspan(1 + 2 * rank, rank);
  if (op.opcode() == Opcode::DescStore)
    d.tile = all[1 + 3 * rank];
  return d;
}

Message check_desc_element(DType t) {
  if (t == DType::i1)
    return std::string("TMA copies elements of 1, 2, 4 or 8 bytes, not i1 (booleans); store the "
                       "mask as i8");
  return std::nullopt;
}

Message check_desc_block(DType t, std::span<const int64_t> block) {
  const int64_t rank = int64_t(block.size());
  if (rank < 1 || rank > kMaxDescRank)
    return fmt::format("a tensor descriptor has 1 to {} dimensions (TMA's limit), got {}",
                       kMaxDescRank, rank);
  for (int64_t i = 0; i < rank; ++i) {
    const int64_t b = block[size_t(i)];
    if (b < 1 || b > kMaxBoxDim)
      return fmt::format("block_shape[{}] = {} is outside 1..{} (TMA's largest box dimension); "
                         "load the tile in several boxes",
                         i, b, kMaxBoxDim);
    if (!std::has_single_bit(uint64_t(b)))
      return fmt::format("block_shape[{}] = {} is not a power of two (tile shapes are)", i, b);
  }
  const int64_t inner = block[size_t(rank - 1)], bytes = inner * dtype_bytes(t);
  if (bytes % kBoxInnerAlign != 0)
    return fmt::format("block_shape[{}] = {} elements of {} is {} bytes; TMA needs the innermost "
                       "box dimension to be a multiple of {} bytes ({} elements)",
                       rank - 1, inner, dtype_name(t), bytes, kBoxInnerAlign,
                       kBoxInnerAlign / dtype_bytes(t));
  return std::nullopt;
}

Message check_desc_swizzle(DType t, std::span<const int64_t> block, int64_t swizzle) {
  if (swizzle != 0 && swizzle != 32 && swizzle != 64 && swizzle != 128)
    return fmt::format("swizzle must be 0 (none), 32, 64 or 128 bytes, got {}", swizzle);
  if (swizzle == 0 || block.empty())
    return std::nullopt;
  const int64_t bytes = block.back() * dtype_bytes(t);
  // Wider rows with the 128-byte swizzle are copied as 128-byte column blocks side by side (the
  // tensor map's box is one block: tensor_maps.cpp), which is wgmma's layout of a wide tile.
  if (bytes > swizzle && !(swizzle == 128 && bytes % 128 == 0))
    return fmt::format("the innermost box dimension is {} bytes ({} x {}), more than the {}-byte "
                       "swizzle span; use a smaller block_shape[{}], a wider swizzle, or the "
                       "128-byte swizzle with rows of a multiple of 128 bytes",
                       bytes, block.back(), dtype_name(t), swizzle, block.size() - 1);
  return std::nullopt;
}

Message check_desc_stride(DType t, int dim, int rank, int64_t stride) {
  if (dim == rank - 1) {
    if (stride != 1)
      return fmt::format("strides[{}] = {}: the innermost dimension must be contiguous (stride "
                         "1), as TMA reads it; permute the tile after loading instead",
                         dim, stride);
    return std::nullopt;
  }
  const int64_t bytes = stride * dtype_bytes(t);
  if (stride < 1 || bytes % kBoxInnerAlign != 0)
    return fmt::format("strides[{}] = {} elements of {} is {} bytes; TMA needs every outer "
                       "stride to be a positive multiple of {} bytes (pad the rows)",
                       dim, stride, dtype_name(t), bytes, kBoxInnerAlign);
  return std::nullopt;
}

Message check_desc_padding(DType t, int64_t padding) {
  if (padding != 0 && padding != 1)
    return fmt::format("padding must be 0 (zero) or 1 (nan), got {}", padding);
  if (padding == 1 && !dtype_is_float(t))
    return fmt::format("NaN padding needs a floating-point element type, got {}", dtype_name(t));
  return std::nullopt;
}

namespace {

bool is_scalar_int(const Value* v) { return v->type()->is_scalar() && v->type()->is_integer(); }

// A constant operand's integer value, when it is one.
std::optional<int64_t> constant_int(const Value* v) {
  const Op* def = v->defining_op();
  if (!def || def->opcode() != Opcode::Constant || def->attrs()[0].kind != Attr::Kind::Int)
    return std::nullopt;
  return def->attrs()[0].i;
}

// What desc_load and desc_store share: operand count and kinds, the box rules, the strides known.
Message check_desc(const Op& op, size_t extra) {
  const std::vector<int64_t>& block = op.attr("block").ints;
  const size_t rank = block.size();
  if (rank < 1 || rank > size_t(kMaxDescRank))
    return fmt::format("block has {} dimensions; a tensor descriptor has 1 to {}", rank,
                       kMaxDescRank);
  if (op.num_operands() != 1 + 3 * rank + extra)
    return fmt::format("takes a base pointer, {} shape, {} stride and {} offset scalars{}, found "
                       "{} operands",
                       rank, rank, rank, extra ? " and the tile" : "", op.num_operands());
  DescOperands d = desc_operands(op);
  const Type* base = d.base->type();
  if (!base->is_pointer())
    return "base must be a scalar pointer, found " + base->str();
  const DType t = base->pointee()->dtype();
  for (size_t i = 0; i < rank; ++i)
    if (!is_scalar_int(d.shape[i]) || !is_scalar_int(d.strides[i]))
      return fmt::format("shape[{}] and strides[{}] must be integer scalars, found {} and {}", i, i,
                         d.shape[i]->type()->str(), d.strides[i]->type()->str());
  for (size_t i = 0; i < rank; ++i)
    if (!is_scalar_int(d.offsets[i]) || d.offsets[i]->type()->dtype() != DType::i32)
      return fmt::format("offsets[{}] must be an i32 scalar (TMA coordinates), found {}", i,
                         d.offsets[i]->type()->str());
  if (auto m = check_desc_element(t))
    return m;
  if (auto m = check_desc_block(t, block))
    return m;
  if (auto m = check_desc_swizzle(t, block, op.attr("swizzle").i))
    return m;
  for (size_t i = 0; i < rank; ++i)
    if (std::optional<int64_t> s = constant_int(d.strides[i]))
      if (auto m = check_desc_stride(t, int(i), int(rank), *s))
        return m;
  if (!constant_int(d.strides[rank - 1]))
    return fmt::format("strides[{}] must be the constant 1 (the innermost dimension is "
                       "contiguous), found a run-time value",
                       rank - 1);
  return std::nullopt;
}

} // namespace

Message verify_desc_load(const Op& op) {
  if (auto m = check_desc(op, 0))
    return m;
  const Type* elem = op.operand(0)->type()->pointee();
  const Type* r = op.result()->type();
  const std::vector<int64_t>& block = op.attr("block").ints;
  if (r->element() != elem || !std::ranges::equal(r->dims(), block))
    return fmt::format("result must be the box {} of {}, found {}", fmt::join(block, "x"),
                       elem->str(), r->str());
  return check_desc_padding(elem->dtype(), op.attr("padding").i);
}

Message verify_desc_store(const Op& op) {
  if (auto m = check_desc(op, 1))
    return m;
  DescOperands d = desc_operands(op);
  const Type* elem = d.base->type()->pointee();
  const Type* v = d.tile->type();
  const std::vector<int64_t>& block = op.attr("block").ints;
  if (v->element() != elem || !std::ranges::equal(v->dims(), block))
    return fmt::format("the tile must be the box {} of {}, found {}", fmt::join(block, "x"),
                       elem->str(), v->str());
  return std::nullopt;
}

} // namespace tessel::ir
