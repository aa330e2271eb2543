// Private: the tensor maps a GPU launch passes after the arguments of a kernel whose tensor
// descriptors go through TMA (codegen/gpu/tensor_maps.cpp): each built from the packed arguments
// (base pointer, shape and stride values) by runtime/tensor_map.h for the launch's device.
#pragma once

#include "jit/signature.h"
#include "tessel/codegen/gpu.h"

#include <span>

namespace tessel::jit {

// Encodes `maps` into packed.tensor_maps and points packed.pointers[packed.count + i] at map i.
// A descriptor TMA cannot take (an unaligned base, a stride that is not a multiple of 16 bytes, a
// dimension out of range) throws tessel::Error naming the kernel, the pointer parameter, the
// descriptor's line and the field.
void pack_tensor_maps(const lang::KernelDef& def,
                      std::span<const codegen::gpu::TensorMapParam> maps, DeviceKind device,
                      PackedArgs& packed);

} // namespace tessel::jit
