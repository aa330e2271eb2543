// CUDA streams and events (timing), owned RAII handles over the driver's.
//
//   tessel::runtime::Stream s;                  // a non-blocking stream on device 0
//   tessel::runtime::Event start, stop;
//   start.record(s); ...launches on s...; stop.record(s);
//   float ms = stop.elapsed_ms_since(start);    // waits for stop
#pragma once

namespace tessel::runtime {

class Stream {
public:
  explicit Stream(int device = 0); // throws tessel::Error without a driver
  ~Stream();
  Stream(Stream&& o) noexcept;
  Stream& operator=(Stream&& o) noexcept;
  Stream(const Stream&) = delete;
  Stream& operator=(const Stream&) = delete;

  // A stream made elsewhere (e.g. PyTorch's current stream); not destroyed by tessel.
  static Stream wrap(void* handle, int device);
  // The default (legacy) stream of `device`.
  static Stream default_stream(int device = 0) { return wrap(nullptr, device); }

  void* handle() const { return handle_; } // a CUstream
  int device() const { return device_; }
  void synchronize() const;

private:
  Stream(void* handle, int device, bool owned) : handle_(handle), device_(device), owned_(owned) {}
  void* handle_ = nullptr;
  int device_ = 0;
  bool owned_ = false;
};

class Event {
public:
  explicit Event(int device = 0);
  ~Event();
  Event(Event&& o) noexcept;
  Event& operator=(Event&& o) noexcept;
  Event(const Event&) = delete;
  Event& operator=(const Event&) = delete;

  void record(const Stream& stream);
  void synchronize() const;
  // Milliseconds from `start` to this event; waits for this event.
  float elapsed_ms_since(const Event& start) const;
  void* handle() const { return handle_; } // a CUevent

private:
  void* handle_ = nullptr;
  int device_ = 0;
};

} // namespace tessel::runtime
