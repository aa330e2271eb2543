// The tensor maps of a TMA launch (jit/tensor_map_args.h).
#include "jit/tensor_map_args.h"

#include "tessel/error.h"

namespace tessel::jit {
namespace {

int64_t value_of(const codegen::gpu::TensorMapField& f, const PackedArgs& packed) {
  if (f.arg < 0)
    return f.value;
  const PackedArgs::Slot& s = packed.slots[size_t(f.arg)];
  return f.is_i64 ? s.i64 : int64_t(s.i32);
}

// The kernel parameter (not Const) whose argument is number `arg` of the code.
size_t param_of_arg(const lang::KernelDef& def, int arg) {
  int seen = -1;
  for (size_t i = 0; i < def.params.size(); ++i)
    if (def.params[i].kind != lang::ParamKind::Const && ++seen == arg)
      return i;
  TESSEL_UNREACHABLE("a tensor map's base is not an argument of the kernel");
}

} // namespace

void pack_tensor_maps(const lang::KernelDef& def,
                      std::span<const codegen::gpu::TensorMapParam> maps, DeviceKind device,
                      PackedArgs& packed) {
  TESSEL_ASSERT(maps.size() <= kMaxTensorMaps && packed.count + maps.size() <= kMaxParams,
                "more tensor maps than a launch holds");
  for (size_t i = 0; i < maps.size(); ++i) {
    const codegen::gpu::TensorMapParam& m = maps[i];
    runtime::TensorMapRequest r;
    r.dtype = m.dtype;
    r.rank = int(m.box.size());
    r.base = reinterpret_cast<uint64_t>(packed.slots[size_t(m.base_arg)].p);
    for (int d = 0; d < r.rank; ++d) {
      r.shape[d] = value_of(m.shape[size_t(d)], packed);
      r.strides[d] = value_of(m.strides[size_t(d)], packed);
      r.box[d] = m.box[size_t(d)];
    }
    r.swizzle = int(m.swizzle);
    r.padding = int(m.padding);
    const std::string context = "kernel '" + def.name + "': the tensor descriptor of " +
                                param_desc(def, param_of_arg(def, m.base_arg)) + " (made at " +
                                m.loc.str() + ")";
    runtime::encode_tensor_map(device, r, packed.tensor_maps[i], context);
    packed.pointers[packed.count + i] = packed.tensor_maps[i].bytes;
  }
}

} // namespace tessel::jit
