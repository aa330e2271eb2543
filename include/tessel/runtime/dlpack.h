// DLPack import and export: a tensor from PyTorch, JAX, CuPy or ONNX Runtime passes to a kernel
// without a copy, and tessel memory leaves as a DLPack tensor (DLPack 0.6+ `DLManagedTensor`).
//
//   DLManagedTensor* t = ...;                       // e.g. from torch.utils.dlpack.to_dlpack
//   tessel::TensorView x = tessel::runtime::from_dlpack(*t);
//   tessel::runtime::check_tensor(x, "x", tessel::f32, /*rank=*/2, tessel::DeviceKind::cuda);
//   DLManagedTensor* back = tessel::runtime::to_dlpack(x);   // the consumer calls its deleter
//
// DLPack 0.6 declares DLTensor as an unnamed struct, so it cannot be forward-declared: this header
// includes <dlpack/dlpack.h> (header-only; Debian/Ubuntu: libdlpack-dev).
#pragma once

#include "tessel/runtime/tensor_view.h"

#include <dlpack/dlpack.h>

#include <memory>
#include <string_view>

namespace tessel::runtime {

// A view of a DLPack tensor (its byte_offset applied). Throws tessel::Error for what tessel cannot
// take: a device other than the CPU or CUDA, an element type without a tessel dtype (unsigned,
// complex, vector lanes), rank over TensorView::kMaxRank, a null data pointer with elements.
TensorView from_dlpack(const DLTensor& tensor);
TensorView from_dlpack(const DLManagedTensor& tensor);

// Checks a view against what a kernel parameter expects; `rank` -1 accepts any rank. Throws
// tessel::Error naming `name`, what was expected and what was found.
void check_tensor(const TensorView& view, std::string_view name, DType dtype, int rank,
                  DeviceKind device);

// Exports `view` as a DLManagedTensor that refers to the same memory. Its deleter frees the
// shape and strides and drops `owner` (keep the memory alive through it, e.g. a shared_ptr to a
// DeviceBuffer); the consumer must call it exactly once.
DLManagedTensor* to_dlpack(const TensorView& view, std::shared_ptr<void> owner = {});

} // namespace tessel::runtime
