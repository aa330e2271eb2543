// Tensors from Python through the DLPack protocol, without copies, for the length of one call.
//
// Any object with __dlpack__ and __dlpack_device__ (PyTorch, NumPy, JAX, CuPy tensors) or a
// "dltensor" capsule (torch.utils.dlpack.to_dlpack) is accepted. Following the protocol, the
// consumer tells a CUDA producer the stream it will use: __dlpack__(stream=S), and the producer
// makes S wait for the work it has queued on the tensor. S is the call's launch stream (stream=
// if given; else PyTorch's or CuPy's current stream for their tensors; else the legacy default
// stream, which the protocol spells 1). CPU tensors are exported with no stream. The capsule is
// renamed "used_dltensor" and its DLManagedTensor deleted when the call ends.
#pragma once

#include "tessel/runtime/stream.h"
#include "tessel/runtime/tensor_view.h"

#include <nanobind/nanobind.h>
#include <nanobind/stl/string.h>

#include <memory>
#include <optional>
#include <string>
#include <vector>

struct DLManagedTensor;

namespace tessel::python {

namespace nb = nanobind;

// Whether `obj` can be taken as a tensor (so launch arguments tell tensors from numbers).
bool is_dlpack_tensor(nb::handle obj);

// The tensors of one call (an op or a kernel launch) and the CUDA stream it launches on.
class CallContext {
public:
  // `what` names the call in messages ("softmax", "kernel 'scale'"); `stream` is the stream=
  // argument (None: chosen as above).
  CallContext(std::string what, nb::handle stream);
  ~CallContext();
  CallContext(const CallContext&) = delete;
  CallContext& operator=(const CallContext&) = delete;

  // A view of `obj`, held until the context ends. Raises tessel.Error naming `arg` for an object
  // that is not a tensor, a tensor tessel cannot take (dtype, device) or a failing __dlpack__.
  TensorView take(nb::handle obj, const std::string& arg);

  // The stream to launch on: null until a CUDA tensor was taken (CPU launches have none).
  runtime::Stream* stream() { return stream_ ? &*stream_ : nullptr; }
  const std::string& what() const { return what_; }

private:
  void choose_stream(nb::handle tensor, int device);

  std::string what_;
  nb::object stream_arg_;
  std::optional<runtime::Stream> stream_;
  std::vector<DLManagedTensor*> held_;
};

} // namespace tessel::python
