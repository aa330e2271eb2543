// DLPack import of Python tensors for one call (dlpack_import.h).
#include "ext/dlpack_import.h"

#include "ext/errors.h"

#include "tessel/error.h"
#include "tessel/runtime/dlpack.h"

#include <dlpack/dlpack.h>

namespace tessel::python {
namespace {

using namespace nb::literals;

constexpr const char* kCapsuleName = "dltensor";
constexpr const char* kUsedCapsuleName = "used_dltensor";

std::string py_type_name(nb::handle obj) { return Py_TYPE(obj.ptr())->tp_name; }

bool is_capsule(nb::handle obj) { return PyCapsule_IsValid(obj.ptr(), kCapsuleName) != 0; }

// The producer's module ("torch", "cupy", "numpy"...), from its type.
std::string producer_module(nb::handle obj) {
  nb::object module = nb::getattr(obj.type(), "__module__", nb::none());
  if (!nb::isinstance<nb::str>(module))
    return "";
  std::string m = nb::cast<std::string>(module);
  return m.substr(0, m.find('.'));
}

// A stream= argument as a CUstream handle: an int, an object with __cuda_stream__ (the CUDA
// stream protocol), .cuda_stream (torch.cuda.Stream) or .ptr (cupy.cuda.Stream).
intptr_t stream_handle(nb::handle s, const std::string& what) {
  if (nb::isinstance<nb::int_>(s) && !nb::isinstance<nb::bool_>(s))
    return nb::cast<intptr_t>(s);
  if (nb::hasattr(s, "__cuda_stream__")) {
    nb::object pair = s.attr("__cuda_stream__")();
    return nb::cast<intptr_t>(pair[1]);
  }
  for (const char* attr : {"cuda_stream", "ptr"})
    if (nb::hasattr(s, attr))
      return nb::cast<intptr_t>(s.attr(attr));
  raise_error(what + ": stream= is a " + py_type_name(s) +
              "; pass a CUstream handle (an int), a torch.cuda.Stream, a cupy.cuda.Stream or an "
              "object with __cuda_stream__");
}

// The stream a framework's tensor is being worked on, when the framework says so.
std::optional<intptr_t> current_stream_of(nb::handle tensor, int device) {
  std::string module = producer_module(tensor);
  if (module == "torch")
    return nb::cast<intptr_t>(
        nb::module_::import_("torch.cuda").attr("current_stream")(device).attr("cuda_stream"));
  if (module == "cupy")
    return nb::cast<intptr_t>(
        nb::module_::import_("cupy.cuda").attr("get_current_stream")().attr("ptr"));
  return std::nullopt;
}

// A PyTorch CPU tensor's capsule by torch.utils.dlpack.to_dlpack (about 1.5 us), not by
// Tensor.__dlpack__ and __dlpack_device__, which are Python methods costing some 30 us per
// tensor in torch 2.15. The capsule is the same; a CPU tensor has no stream to tell.
std::optional<nb::object> torch_cpu_capsule(nb::handle obj) {
  if (producer_module(obj) != "torch" || !nb::hasattr(obj, "is_cpu") ||
      !PyObject_IsTrue(obj.attr("is_cpu").ptr()))
    return std::nullopt;
  // Kept for the life of the process: a static nb::object would be released after Python's
  // finalization, without the GIL.
  static nb::handle to_dlpack =
      nb::object(nb::module_::import_("torch.utils.dlpack").attr("to_dlpack")).release();
  return to_dlpack(obj);
}

} // namespace

bool is_dlpack_tensor(nb::handle obj) {
  return is_capsule(obj) ||
         (nb::hasattr(obj, "__dlpack__") && nb::hasattr(obj, "__dlpack_device__"));
}

CallContext::CallContext(std::string what, nb::handle stream)
    : what_(std::move(what)), stream_arg_(nb::borrow(stream)) {}

CallContext::~CallContext() {
  for (DLManagedTensor* t : held_)
    if (t->deleter)
      t->deleter(t);
}

void CallContext::choose_stream(nb::handle tensor, int device) {
  intptr_t handle = 0; // the legacy default stream
  if (stream_arg_.is_valid() && !stream_arg_.is_none())
    handle = stream_handle(stream_arg_, what_);
  else if (std::optional<intptr_t> current = current_stream_of(tensor, device))
    handle = *current;
  stream_ = runtime::Stream::wrap(reinterpret_cast<void*>(handle), device);
}

TensorView CallContext::take(nb::handle obj, const std::string& arg) {
  std::string who = what_ + ": argument '" + arg + "'";
  if (!is_dlpack_tensor(obj))
    raise_error(who + " is a " + py_type_name(obj) +
                ", which is not a tensor; pass a PyTorch, NumPy, JAX or CuPy tensor (any object "
                "with __dlpack__)");
  nb::object capsule;
  if (is_capsule(obj)) {
    capsule = nb::borrow(obj);
  } else if (std::optional<nb::object> torch_cpu = torch_cpu_capsule(obj)) {
    capsule = *torch_cpu;
  } else {
    nb::tuple device = nb::cast<nb::tuple>(obj.attr("__dlpack_device__")());
    int type = nb::cast<int>(device[0]), id = nb::cast<int>(device[1]);
    bool cuda = type == kDLCUDA || type == kDLCUDAManaged;
    try {
      if (!cuda) {
        capsule = obj.attr("__dlpack__")();
      } else {
        if (!stream_)
          choose_stream(obj, id);
        intptr_t h = reinterpret_cast<intptr_t>(stream_->handle());
        capsule = obj.attr("__dlpack__")("stream"_a = h == 0 ? intptr_t(1) : h);
      }
    } catch (nb::python_error& e) {
      raise_error(who + ": its __dlpack__() failed: " + e.what());
    }
  }
  if (!is_capsule(capsule))
    raise_error(who + ": its __dlpack__() returned a " + py_type_name(capsule) +
                ", not an unused \"dltensor\" capsule (a capsule can be consumed only once)");
  auto* managed = static_cast<DLManagedTensor*>(PyCapsule_GetPointer(capsule.ptr(), kCapsuleName));
  PyCapsule_SetName(capsule.ptr(), kUsedCapsuleName); // ours now: we call its deleter
  held_.push_back(managed);
  TensorView view;
  try {
    view = runtime::from_dlpack(*managed);
  } catch (const Error& e) {
    raise_error(who + ": " + e.what());
  }
  if (view.device == DeviceKind::cuda && !stream_)
    choose_stream(obj, view.device_index); // a capsule: exported already, no stream to tell it
  return view;
}

} // namespace tessel::python
