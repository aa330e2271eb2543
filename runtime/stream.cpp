// CUDA streams and events.
#include "tessel/runtime/stream.h"

#include "runtime/cuda_api.h"

#include <string>
#include <utility>

namespace tessel::runtime {

Stream::Stream(int device) : device_(device), owned_(true) {
  const cuda::Api& a = cuda::api("creating a CUDA stream");
  cuda::make_current(device);
  cuda::CUstream s = nullptr;
  cuda::check(a.cuStreamCreate(&s, cuda::kStreamNonBlocking), "cuStreamCreate",
              "creating a stream on CUDA device " + std::to_string(device));
  handle_ = s;
}

Stream::~Stream() {
  if (owned_ && handle_)
    if (const cuda::Api* a = cuda::try_api())
      a->cuStreamDestroy(static_cast<cuda::CUstream>(handle_));
}

Stream::Stream(Stream&& o) noexcept
    : handle_(std::exchange(o.handle_, nullptr)), device_(o.device_), owned_(o.owned_) {}

Stream& Stream::operator=(Stream&& o) noexcept {
  if (this != &o) {
    Stream dead(std::move(*this));
    handle_ = std::exchange(o.handle_, nullptr);
    device_ = o.device_;
    owned_ = o.owned_;
  }
  return *this;
}

Stream Stream::wrap(void* handle, int device) { return Stream(handle, device, /*owned=*/false); }

void Stream::synchronize() const {
  const cuda::Api& a = cuda::api("synchronizing a CUDA stream");
  cuda::make_current(device_);
  cuda::check(a.cuStreamSynchronize(static_cast<cuda::CUstream>(handle_)), "cuStreamSynchronize",
              "waiting for a stream on CUDA device " + std::to_string(device_));
}

Event::Event(int device) : device_(device) {
  const cuda::Api& a = cuda::api("creating a CUDA event");
  cuda::make_current(device);
  cuda::CUevent e = nullptr;
  cuda::check(a.cuEventCreate(&e, cuda::kEventDefault), "cuEventCreate", "creating a CUDA event");
  handle_ = e;
}

Event::~Event() {
  if (handle_)
    if (const cuda::Api* a = cuda::try_api())
      a->cuEventDestroy(static_cast<cuda::CUevent>(handle_));
}

Event::Event(Event&& o) noexcept : handle_(std::exchange(o.handle_, nullptr)), device_(o.device_) {}

Event& Event::operator=(Event&& o) noexcept {
  if (this != &o) {
    Event dead(std::move(*this));
    handle_ = std::exchange(o.handle_, nullptr);
    device_ = o.device_;
  }
  return *this;
}

void Event::record(const Stream& stream) {
  const cuda::Api& a = cuda::api("recording a CUDA event");
  cuda::make_current(device_);
  cuda::check(a.cuEventRecord(static_cast<cuda::CUevent>(handle_),
                              static_cast<cuda::CUstream>(stream.handle())),
              "cuEventRecord", "recording a CUDA event");
}

void Event::synchronize() const {
  const cuda::Api& a = cuda::api("waiting for a CUDA event");
  cuda::check(a.cuEventSynchronize(static_cast<cuda::CUevent>(handle_)), "cuEventSynchronize",
              "waiting for a CUDA event");
}

float Event::elapsed_ms_since(const Event& start) const {
  synchronize();
  const cuda::Api& a = cuda::api("timing with CUDA events");
  float ms = 0;
  cuda::check(a.cuEventElapsedTime(&ms, static_cast<cuda::CUevent>(start.handle_),
                                   static_cast<cuda::CUevent>(handle_)),
              "cuEventElapsedTime", "timing with CUDA events");
  return ms;
}

} // namespace tessel::runtime
