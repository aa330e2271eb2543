// Tensor descriptors (tessel/lang/tensor_descriptor.h): make_tensor_descriptor checks the
// descriptor against TMA's rules (tessel/ir/tensor_desc.h) at the user's line and keeps its
// handles; each load / store records one desc_load / desc_store op (ops.def) carrying the base,
// shape, strides and offsets as scalar operands and the box as an attribute.
#include "tessel/lang/tensor_descriptor.h"

#include "tessel/ir/tensor_desc.h"

#include "dsl/desc_ops.h"
#include "dsl/tracer.h"
#include "dsl/type_rules.h"

#include <limits>

namespace tessel::lang {

namespace detail {

// An extent or stride: a handle must be an integer scalar; a C++ number becomes an i32 constant,
// or i64 when it needs more.
Tensor desc_extent(const Index& x, const char* op, const char* what, size_t i,
                   const SourceLoc& loc) {
  if (!x.is_tensor) {
    const bool small = x.number >= std::numeric_limits<int32_t>::min() &&
                       x.number <= std::numeric_limits<int32_t>::max();
    return Tensor(
        detail::constant_like(double(x.number), small ? DType::i32 : DType::i64, {}, loc));
  }
  ir::Value* v = x.tensor.value(loc);
  if (!v->type()->is_scalar() || !v->type()->is_integer() || v->type()->is_bool())
    fail(loc, op,
         std::string(what) + "[" + std::to_string(i) + "] must be an integer scalar, got " +
             type_str(v->type()));
  return x.tensor;
}

// A box coordinate: an i32 scalar (TMA's coordinates are 32-bit); wider integers are converted.
ir::Value* desc_coordinate(const Index& x, size_t i, const char* op, const SourceLoc& loc) {
  if (!x.is_tensor) {
    if (x.number < std::numeric_limits<int32_t>::min() ||
        x.number > std::numeric_limits<int32_t>::max())
      fail(loc, op,
           "offsets[" + std::to_string(i) + "] = " + std::to_string(x.number) +
               " does not fit in i32 (TMA's box coordinates are 32-bit)");
    return detail::constant_like(double(x.number), DType::i32, {}, loc);
  }
  ir::Value* v = x.tensor.value(loc);
  if (!v->type()->is_scalar() || !v->type()->is_integer() || v->type()->is_bool())
    fail(loc, op,
         "offsets[" + std::to_string(i) + "] must be an integer scalar, got " +
             type_str(v->type()));
  return detail::convert(v, DType::i32, loc);
}

namespace {

std::vector<ir::Attr> box_attrs(const Shape& block, int64_t swizzle) {
  return {ir::Attr::of_ints(block), swizzle ? ir::Attr::of_int(swizzle) : ir::Attr{}};
}

// The operands every desc op starts with: base, shape, strides, offsets.
std::vector<ir::Value*> desc_operands(const DescParts& d, const std::vector<ir::Value*>& offsets,
                                      const SourceLoc& loc) {
  std::vector<ir::Value*> operands{d.base.value(loc)};
  for (const Tensor& s : d.shape)
    operands.push_back(s.value(loc));
  for (const Tensor& s : d.strides)
    operands.push_back(s.value(loc));
  operands.insert(operands.end(), offsets.begin(), offsets.end());
  return operands;
}

} // namespace

ir::Value* emit_desc_load(const DescParts& d, const std::vector<ir::Value*>& offsets,
                          const SourceLoc& loc) {
  ir::Builder& b = builder_at(loc);
  const ir::Type* elem = d.base.value(loc)->type()->pointee();
  ir::Op* op =
      b.create(ir::Opcode::DescLoad, desc_operands(d, offsets, loc), b.ctx().tensor(d.block, elem),
               box_attrs(d.block, int64_t(d.options.swizzle)));
  if (d.options.padding == Padding::nan)
    op->set_attr("padding", ir::Attr::of_int(1));
  return op->result();
}

void emit_desc_store(const DescParts& d, const std::vector<ir::Value*>& offsets, ir::Value* tile,
                     const SourceLoc& loc) {
  std::vector<ir::Value*> operands = desc_operands(d, offsets, loc);
  operands.push_back(tile);
  builder_at(loc).create(ir::Opcode::DescStore, operands, std::span<const ir::Type* const>{},
                         box_attrs(d.block, int64_t(d.options.swizzle)));
}

} // namespace detail

using detail::builder_at;
using detail::fail;
using detail::type_str;

namespace {

constexpr const char* kMake = "make_tensor_descriptor";

void check_counts(size_t shape, size_t strides, size_t block, const SourceLoc& loc) {
  if (shape == block && strides == block)
    return;
  fail(loc, kMake,
       "shape has " + std::to_string(shape) + " entries, strides " + std::to_string(strides) +
           " and block_shape " + std::to_string(block) + "; give one of each per dimension");
}

void check_rule(const std::optional<std::string>& why, const char* op, const SourceLoc& loc) {
  if (why)
    fail(loc, op, *why);
}

} // namespace

TensorDescriptor make_tensor_descriptor(const Tensor& base, const std::vector<Index>& shape,
                                        const std::vector<Index>& strides, const Shape& block_shape,
                                        const DescriptorOptions& options, std::source_location l) {
  const SourceLoc loc = SourceLoc::from(l);
  ir::Value* b = base.value(loc);
  if (!b->type()->is_pointer())
    fail(loc, kMake,
         "base must be a scalar pointer (a Ptr parameter, or one plus a scalar offset), got " +
             type_str(b->type()));
  const DType t = b->type()->pointee()->dtype();
  check_counts(shape.size(), strides.size(), block_shape.size(), loc);
  check_rule(ir::check_desc_element(t), kMake, loc);
  check_rule(ir::check_desc_block(t, block_shape), kMake, loc);
  check_rule(ir::check_desc_swizzle(t, block_shape, int64_t(options.swizzle)), kMake, loc);
  check_rule(ir::check_desc_padding(t, int64_t(options.padding)), kMake, loc);
  const int rank = int(block_shape.size());
  std::vector<Tensor> extents, steps;
  for (int i = 0; i < rank; ++i) {
    if (!shape[size_t(i)].is_tensor && shape[size_t(i)].number < 1)
      fail(loc, kMake,
           "shape[" + std::to_string(i) + "] = " + std::to_string(shape[size_t(i)].number) +
               " must be at least 1");
    const Index& s = strides[size_t(i)];
    if (!s.is_tensor)
      check_rule(ir::check_desc_stride(t, i, rank, s.number), kMake, loc);
    else if (i == rank - 1)
      fail(loc, kMake,
           "strides[" + std::to_string(i) +
               "] must be the constant 1 (the innermost dimension is contiguous, as TMA reads "
               "it), got a run-time value; write 1");
    extents.push_back(detail::desc_extent(shape[size_t(i)], kMake, "shape", size_t(i), loc));
    steps.push_back(detail::desc_extent(s, kMake, "strides", size_t(i), loc));
  }
  return TensorDescriptor(base, std::move(extents), std::move(steps), block_shape, t, options);
}

namespace {

// The offsets of a box access, one i32 per dimension.
std::vector<ir::Value*> box_offsets(int rank, const std::vector<Index>& offsets, const char* op,
                                    const SourceLoc& loc) {
  if (int(offsets.size()) != rank)
    fail(loc, op,
         "takes " + std::to_string(rank) + " offsets, one per dimension of the descriptor, got " +
             std::to_string(offsets.size()));
  std::vector<ir::Value*> out;
  for (size_t i = 0; i < offsets.size(); ++i)
    out.push_back(detail::desc_coordinate(offsets[i], i, op, loc));
  return out;
}

} // namespace

Tensor TensorDescriptor::load(const std::vector<Index>& offsets, Loc l) const {
  const SourceLoc loc = SourceLoc::from(l);
  const detail::DescParts parts{base_, shape_, strides_, block_, dtype_, options_};
  return Tensor(detail::emit_desc_load(parts, box_offsets(rank(), offsets, "load", loc), loc));
}

void TensorDescriptor::store(const std::vector<Index>& offsets, const Tensor& tile, Loc l) const {
  const SourceLoc loc = SourceLoc::from(l);
  std::vector<ir::Value*> at = box_offsets(rank(), offsets, "store", loc);
  ir::Value* v = tile.value(loc);
  if (v->type()->is_pointer_like())
    fail(loc, "store", "storing pointers is not supported (tile " + type_str(v->type()) + ")");
  if (!std::ranges::equal(v->type()->dims(), block_))
    fail(loc, "store",
         "the tile is " + type_str(v->type()) + " but the descriptor's box is " +
             detail::shape_str(block_) + "; store a tile of the box's shape");
  const detail::DescParts parts{base_, shape_, strides_, block_, dtype_, options_};
  detail::emit_desc_store(parts, at, detail::convert(v, dtype_, loc), loc);
}

Tensor load(const TensorDescriptor& desc, const std::vector<Index>& offsets,
            std::source_location loc) {
  return desc.load(offsets, loc);
}
void store(const TensorDescriptor& desc, const std::vector<Index>& offsets, const Tensor& tile,
           std::source_location loc) {
  desc.store(offsets, tile, loc);
}

} // namespace tessel::lang
