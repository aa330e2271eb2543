//===- assign-tensor-maps: which tensor descriptors go through TMA ----------------------------===//
//
// On a target with the Tensor Memory Accelerator (sm_90 and later) a desc_load / desc_store is
// copied by cp.async.bulk.tensor, which reads a CUtensorMap that the host builds before the
// launch. The host knows the kernel's arguments, not values computed in the kernel, so a
// descriptor qualifies when its base is a pointer argument and each shape and stride is an
// argument or a constant (and a load pads with zeros). Each qualifying op gets `tmap` = the index
// of its tensor map among the kernel's trailing tensor-map parameters; ops of one descriptor (same
// base, fields, box, swizzle and padding) share one. The others keep no `tmap` and
// expand-tensor-descriptors turns them into masked loads and stores, as on every other target. At
// most kMaxTensorMaps maps per kernel.
//
// tensor_map_params reads the decision back from the IR (the `tmap` attributes and the operands
// they describe), so the JIT derives a launch's tensor maps from the IR the cache key hashed.
//
//===----------------------------------------------------------------------------------------===//
#include "tessel/codegen/gpu.h"
#include "tessel/error.h"
#include "tessel/ir/tensor_desc.h"

#include <optional>
#include <vector>

namespace tessel::codegen::gpu {
namespace {

using ir::Opcode;

constexpr size_t kMaxTensorMaps = 8; // jit/signature.h PackedArgs holds as many

bool is_desc(const ir::Op& op) {
  return op.opcode() == Opcode::DescLoad || op.opcode() == Opcode::DescStore;
}

// The kernel argument index of `v`, when it is an argument of the kernel's body.
std::optional<int> argument_index(const ir::Function& f, const ir::Value* v) {
  if (!v->is_block_arg() || v->owner_block() != &f.body)
    return std::nullopt;
  return int(v->index());
}

std::optional<TensorMapField> field_of(const ir::Function& f, const ir::Value* v) {
  TensorMapField field;
  if (std::optional<int> arg = argument_index(f, v)) {
    field.arg = *arg;
    field.is_i64 = v->type()->dtype() == DType::i64 || v->type()->dtype() == DType::u64;
    return field;
  }
  const ir::Op* def = v->defining_op();
  if (def && def->opcode() == Opcode::Constant && def->attrs()[0].kind == ir::Attr::Kind::Int) {
    field.value = def->attrs()[0].i;
    return field;
  }
  return std::nullopt;
}

// The tensor map `op` reads, when the host can build it from the arguments.
std::optional<TensorMapParam> map_of(const ir::Function& f, const ir::Op& op) {
  ir::DescOperands d = ir::desc_operands(op);
  std::optional<int> base = argument_index(f, d.base);
  // NaN padding stays a masked load: the simulator's tensor maps fill with zeros only, and one
  // rule for every device keeps the simulated device a faithful test of the GPU path.
  if (!base || (op.opcode() == Opcode::DescLoad && op.attr("padding").i != 0))
    return std::nullopt;
  TensorMapParam m;
  m.base_arg = *base;
  m.dtype = d.base->type()->pointee()->dtype();
  for (size_t i = 0; i < d.shape.size(); ++i) {
    std::optional<TensorMapField> shape = field_of(f, d.shape[i]);
    std::optional<TensorMapField> stride = field_of(f, d.strides[i]);
    if (!shape || !stride)
      return std::nullopt;
    m.shape.push_back(*shape);
    m.strides.push_back(*stride);
  }
  m.box = op.attr("block").ints;
  m.swizzle = op.attr("swizzle").i;
  // A box whose rows are wider than the swizzle span (128 bytes: ir/tensor_desc.cpp) is copied as
  // column blocks of one span each (lower_tma.cpp), so the hardware's box is one block.
  const int64_t span_elems = m.swizzle / int64_t(dtype_bytes(m.dtype));
  if (m.swizzle != 0 && m.box.back() > span_elems)
    m.box.back() = span_elems;
  m.padding = op.opcode() == Opcode::DescLoad ? op.attr("padding").i : 0;
  m.loc = op.loc;
  return m;
}

bool same_map(const TensorMapParam& a, const TensorMapParam& b) {
  return a.base_arg == b.base_arg && a.dtype == b.dtype && a.shape == b.shape &&
         a.strides == b.strides && a.box == b.box && a.swizzle == b.swizzle &&
         a.padding == b.padding;
}

void assign(ir::Function& f, ir::PassStats& stats) {
  std::vector<TensorMapParam> maps;
  ir::walk(f.body, [&](ir::Op& op) {
    if (!is_desc(op))
      return;
    std::optional<TensorMapParam> m = map_of(f, op);
    if (!m) {
      ++stats["computed-descriptors"];
      return;
    }
    size_t index = 0;
    while (index < maps.size() && !same_map(maps[index], *m))
      ++index;
    if (index == maps.size()) {
      if (maps.size() == kMaxTensorMaps) {
        ++stats["over-limit"];
        return;
      }
      maps.push_back(*m);
    }
    op.set_attr("tmap", ir::Attr::of_int(int64_t(index)));
    ++stats["tma-ops"];
  });
  stats["tensor-maps"] += int64_t(maps.size());
}

} // namespace

std::vector<TensorMapParam> tensor_map_params(const ir::Function& function) {
  std::vector<TensorMapParam> maps;
  ir::walk(function.body, [&](const ir::Op& op) {
    if (!is_desc(op) || op.attr("tmap").kind != ir::Attr::Kind::Int)
      return;
    const size_t index = size_t(op.attr("tmap").i);
    if (index < maps.size())
      return;
    std::optional<TensorMapParam> m = map_of(function, op);
    TESSEL_ASSERT(m && index == maps.size(), "a tmap attribute the host cannot build");
    maps.push_back(*m);
  });
  return maps;
}

ir::PassInfo assign_tensor_maps_pass(const Target& target) {
  auto run = [target](ir::Module& module, ir::PassStats& stats) {
    if (!target.has_tma())
      return;
    for (auto& f : module.functions)
      assign(*f, stats);
  };
  return {"assign-tensor-maps",
          "Gives each tensor descriptor the host can build (base, shape and strides from the "
          "arguments) a TMA tensor map on sm_90 and later; the others are expanded.",
          run};
}

} // namespace tessel::codegen::gpu
