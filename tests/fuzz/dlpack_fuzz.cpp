// Fuzz target: the DLPack importer (runtime/dlpack.cpp) on DLTensor structs made from the bytes:
// any device type and id, dtype code/bits/lanes, rank (negative too), shape and strides arrays
// (exactly ndim long, so ASan sees any read past them, or null), a null or non-null data pointer
// and any byte offset. The data is never dereferenced by the importer, so it points at a small
// local buffer. Properties:
//   * from_dlpack returns a view or throws tessel::Error naming DLPack; no other exception, no
//     crash, no undefined behaviour (UBSan: overflow in the element count, offsets on null);
//   * an accepted view has the tensor's rank and extents, a countable number of elements, and
//     exports back (to_dlpack) to the same dtype, shape and data address.
#include "fuzz_entry.h"

#include "tessel/error.h"
#include "tessel/runtime/dlpack.h"

#include <cstring>
#include <exception>
#include <string>
#include <vector>

namespace {

// Reads fixed-size values from the front of the input; zeros once it runs out.
class Bytes {
public:
  Bytes(const uint8_t* data, size_t size) : data_(data), size_(size) {}
  template <class T> T take() {
    T v{};
    size_t n = std::min(sizeof(T), size_ - pos_);
    std::memcpy(&v, data_ + pos_, n);
    pos_ += n;
    return v;
  }

private:
  const uint8_t* data_;
  size_t size_;
  size_t pos_ = 0;
};

enum Flags : uint8_t { kNullShape = 1, kNullStrides = 2, kNullData = 4 };

void check_accepted(const DLTensor& t, const tessel::TensorView& v) {
  if (v.rank != t.ndim)
    tessel::fuzz::fail("accepted view has a different rank");
  bool empty = false;
  for (int k = 0; k < v.rank; ++k) {
    if (v.shape[size_t(k)] != t.shape[k])
      tessel::fuzz::fail("accepted view has a different extent");
    empty = empty || t.shape[k] == 0;
  }
  // An empty tensor counts 0 elements whatever its other extents; otherwise the count must fit.
  int64_t numel = 1;
  for (int k = 0; !empty && k < v.rank; ++k)
    if (__builtin_mul_overflow(numel, t.shape[k], &numel))
      tessel::fuzz::fail("accepted a tensor whose element count overflows int64");
  DLManagedTensor* back = tessel::runtime::to_dlpack(v);
  bool same = back->dl_tensor.ndim == t.ndim && back->dl_tensor.data == v.data &&
              back->dl_tensor.dtype.code == t.dtype.code &&
              back->dl_tensor.dtype.bits == t.dtype.bits;
  for (int k = 0; same && k < t.ndim; ++k)
    same = back->dl_tensor.shape[k] == t.shape[k];
  back->deleter(back);
  if (!same)
    tessel::fuzz::fail("to_dlpack(from_dlpack(t)) differs from t");
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  Bytes in(data, size);
  alignas(64) static char buffer[64];
  DLTensor t{};
  t.device.device_type = static_cast<DLDeviceType>(in.take<uint8_t>() % 20);
  t.device.device_id = in.take<int8_t>();
  t.dtype.code = in.take<uint8_t>() % 8;
  t.dtype.bits = in.take<uint8_t>();
  t.dtype.lanes = in.take<uint16_t>();
  t.ndim = in.take<int8_t>();
  uint8_t flags = in.take<uint8_t>();
  t.byte_offset = in.take<uint64_t>();
  size_t n = t.ndim > 0 ? size_t(t.ndim) : 0;
  std::vector<int64_t> shape(n), strides(n);
  for (int64_t& e : shape)
    e = in.take<int64_t>();
  for (int64_t& s : strides)
    s = in.take<int64_t>();
  t.shape = (flags & kNullShape) ? nullptr : shape.data();
  t.strides = (flags & kNullStrides) ? nullptr : strides.data();
  t.data = (flags & kNullData) ? nullptr : buffer;
  tessel::TensorView v;
  try {
    v = tessel::runtime::from_dlpack(t);
  } catch (const tessel::Error& e) {
    if (std::string(e.what()).find("DLPack") == std::string::npos)
      tessel::fuzz::fail(std::string("DLPack error that does not say DLPack: ") + e.what());
    return 0;
  } catch (const std::exception& e) {
    tessel::fuzz::fail(std::string("from_dlpack threw a non-tessel exception: ") + e.what());
  }
  check_accepted(t, v);
  return 0;
}
