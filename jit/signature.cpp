// Launch arguments: checks, specialization keys, bindings, packing.
//
// Key words: Ptr = tag | dtype << 8 | aligned16; Int = tag | equals_one | div16 << 1;
// Float = tag; Const = the value's bits (what the trace depends on).
#include "jit/signature.h"

#include "tessel/support/dump.h"

#include <cmath>
#include <cstdlib>
#include <cstring>

namespace tessel::jit {
namespace {

using detail::ArgValue;
using lang::ParamKind;

constexpr uint64_t kPtrTag = 1ull << 40, kIntTag = 2ull << 40, kFloatTag = 3ull << 40;

std::string param_desc(const lang::KernelDef& def, size_t i) {
  const lang::ParamSpec& p = def.params[i];
  std::string kind = lang::param_kind_name(p.kind);
  if (p.kind == ParamKind::Ptr && p.dtype_fixed)
    kind = std::string("PtrOf<") + dtype_name(p.dtype) + ">";
  if (p.kind == ParamKind::Const)
    kind = std::string("Const<") + dtype_name(p.dtype) + ">";
  return "parameter " + std::to_string(i) + " (" + kind + ")";
}

[[noreturn]] void bad_arg(const lang::KernelDef& def, size_t i, const std::string& why) {
  throw Error("kernel '" + def.name + "': " + param_desc(def, i) + ": " + why);
}

std::string signature_text(const lang::KernelDef& def) {
  std::string s = "(";
  for (size_t i = 0; i < def.params.size(); ++i) {
    std::string d = param_desc(def, i);
    s += (i ? ", " : "") + d.substr(d.find('(') + 1, d.size() - d.find('(') - 2);
  }
  return s + ")";
}

uint64_t key_word(const lang::KernelDef& def, size_t i, const ArgValue& a) {
  const lang::ParamSpec& p = def.params[i];
  switch (p.kind) {
  case ParamKind::Ptr: {
    if (a.kind != ArgValue::Kind::Pointer)
      bad_arg(def, i, std::string("expects a pointer or TensorView, got ") + a.cpp_type);
    if (p.dtype_fixed && a.dtype != p.dtype)
      bad_arg(def, i,
              std::string("expects elements of type ") + dtype_name(p.dtype) + ", got " +
                  dtype_name(a.dtype));
    bool aligned16 = (reinterpret_cast<uintptr_t>(a.ptr) % 16) == 0;
    return kPtrTag | (uint64_t(a.dtype) << 8) | uint64_t(aligned16);
  }
  case ParamKind::Int: {
    if (a.kind != ArgValue::Kind::Int)
      bad_arg(def, i, std::string("expects an integer, got ") + a.cpp_type);
    if (a.i < INT32_MIN || a.i > INT32_MAX)
      bad_arg(def, i, "value " + std::to_string(a.i) + " does not fit in i32");
    return kIntTag | uint64_t(a.i == 1) | (uint64_t(a.i % 16 == 0) << 1);
  }
  case ParamKind::Float:
    if (a.kind != ArgValue::Kind::Float && a.kind != ArgValue::Kind::Int)
      bad_arg(def, i, std::string("expects a number, got ") + a.cpp_type);
    return kFloatTag;
  case ParamKind::Const: {
    if (a.kind == ArgValue::Kind::Pointer)
      bad_arg(def, i,
              std::string("is a compile-time constant and needs a number known when the "
                          "kernel is launched, got ") +
                  a.cpp_type);
    if (dtype_is_float(p.dtype)) {
      double v = a.kind == ArgValue::Kind::Float ? a.f : double(a.i);
      uint64_t bits;
      std::memcpy(&bits, &v, 8);
      return bits;
    }
    if (a.kind == ArgValue::Kind::Float)
      bad_arg(def, i,
              "is an integer compile-time constant, got the floating-point value " +
                  std::to_string(a.f));
    if (a.i < p.const_min || a.i > p.const_max)
      bad_arg(def, i,
              "value " + std::to_string(a.i) + " is outside the range of its C++ type (" +
                  std::to_string(p.const_min) + " to " + std::to_string(p.const_max) + ")");
    return uint64_t(a.i);
  }
  }
  TESSEL_UNREACHABLE("bad param kind");
}

} // namespace

namespace {

std::string where(const ArgValue& a) {
  switch (a.device) {
  case DeviceKind::cpu:
    return "host memory";
  case DeviceKind::cuda:
    return "CUDA device " + std::to_string(a.device_index);
  case DeviceKind::sim:
    return "the simulated device";
  }
  TESSEL_UNREACHABLE("bad DeviceKind");
}

std::string where_kind(DeviceKind kind, int index) {
  ArgValue a;
  a.device = kind;
  a.device_index = index;
  return where(a);
}

[[noreturn]] void mixed_devices(const lang::KernelDef& def, size_t first, const ArgValue& a,
                                size_t i, const ArgValue& b) {
  std::string fix = a.device == DeviceKind::cpu || b.device == DeviceKind::cpu
                        ? "copy host data into a runtime::DeviceBuffer and pass its view(), or "
                          "copy device data to the host"
                        : "copy the data onto one device";
  throw Error("kernel '" + def.name + "': the pointer arguments are on different devices: " +
              param_desc(def, first) + " is in " + where(a) + " (" + a.cpp_type + "), " +
              param_desc(def, i) + " is in " + where(b) + " (" + b.cpp_type +
              "); one launch runs on one device: " + fix);
}

} // namespace

SignatureKey signature_of(const lang::KernelDef& def, std::span<const ArgValue> args,
                          const LaunchOptions& options) {
  if (args.size() != def.params.size())
    throw Error("kernel '" + def.name + "' takes " + std::to_string(def.params.size()) +
                " arguments " + signature_text(def) + " but was launched with " +
                std::to_string(args.size()));
  SignatureKey key;
  key.size = args.size();
  if (options.device) {
    key.device = *options.device;
    key.device_index = *options.device == DeviceKind::cuda ? options.device_index : 0;
  }
  size_t first_ptr = kMaxParams;
  for (size_t i = 0; i < args.size(); ++i) {
    const ArgValue& a = args[i];
    key.words[i] = key_word(def, i, a);
    if (a.kind != ArgValue::Kind::Pointer || (!a.ptr && a.device == DeviceKind::cpu))
      continue;
    if (options.device) {
      // Raw pointers are addresses on the requested device; views must already be there.
      bool raw = a.device == DeviceKind::cpu && *options.device != DeviceKind::cpu;
      if (!raw && (a.device != key.device || a.device_index != key.device_index))
        bad_arg(def, i, "is a buffer in " + where(a) + ", but LaunchOptions::device asks for " +
                            where_kind(key.device, key.device_index));
      continue;
    }
    if (first_ptr == kMaxParams) {
      first_ptr = i;
      key.device = a.device;
      key.device_index = a.device_index;
    } else if (a.device != key.device || a.device_index != key.device_index) {
      mixed_devices(def, first_ptr, args[first_ptr], i, a);
    }
  }
  if (key.device != DeviceKind::cpu) {
    int w = options.num_warps;
    if (w < 1 || w > 32 || (w & (w - 1)) != 0)
      throw Error("kernel '" + def.name + "': LaunchOptions::num_warps is " + std::to_string(w) +
                  "; a GPU launch needs a power of two from 1 to 32");
    if (options.num_stages < 1 || options.num_stages > 16)
      throw Error("kernel '" + def.name + "': LaunchOptions::num_stages is " +
                  std::to_string(options.num_stages) + "; it must be between 1 and 16");
  }
  if (key.device != DeviceKind::cpu)
    key.launch = uint64_t(key.device) | uint64_t(uint16_t(key.device_index)) << 8 |
                 uint64_t(uint8_t(options.num_warps)) << 24 |
                 uint64_t(uint8_t(options.num_stages)) << 32 | (uint64_t(1) << 63);
  return key;
}

void bindings_for(const lang::KernelDef& def, std::span<const ArgValue> args,
                  std::array<lang::ParamBinding, kMaxParams>& out) {
  for (size_t i = 0; i < def.params.size(); ++i) {
    const ArgValue& a = args[i];
    lang::ParamBinding& b = out[i];
    b = {};
    switch (def.params[i].kind) {
    case ParamKind::Ptr:
      b.dtype = a.dtype;
      b.divisibility = (reinterpret_cast<uintptr_t>(a.ptr) % 16) == 0 ? 16 : 1;
      break;
    case ParamKind::Int:
      b.dtype = DType::i32;
      b.equals_one = a.i == 1;
      b.divisibility = a.i % 16 == 0 ? 16 : 1;
      break;
    case ParamKind::Float:
      b.dtype = DType::f32;
      break;
    case ParamKind::Const:
      b.dtype = def.params[i].dtype;
      b.const_int = a.kind == ArgValue::Kind::Int ? a.i : int64_t(a.f);
      b.const_float = a.kind == ArgValue::Kind::Float ? a.f : double(a.i);
      break;
    }
  }
}

std::array<int32_t, 3> check_grid(const lang::KernelDef& def, const Grid& grid) {
  const int64_t dims[3] = {grid.x, grid.y, grid.z};
  std::array<int32_t, 3> out{};
  for (int d = 0; d < 3; ++d) {
    if (dims[d] < 0 || dims[d] > INT32_MAX)
      throw Error("kernel '" + def.name + "': grid dimension " + std::to_string(d) + " is " +
                  std::to_string(dims[d]) + "; it must be between 0 and 2^31-1");
    out[size_t(d)] = int32_t(dims[d]);
  }
  int64_t total = 0;
  if (__builtin_mul_overflow(dims[0], dims[1], &total) ||
      __builtin_mul_overflow(total, dims[2], &total) || total > (int64_t(1) << 48))
    throw Error("kernel '" + def.name + "': grid " + std::to_string(dims[0]) + " x " +
                std::to_string(dims[1]) + " x " + std::to_string(dims[2]) +
                " has more than 2^48 programs");
  return out;
}

void pack_args(const lang::KernelDef& def, std::span<const ArgValue> args, PackedArgs& out) {
  size_t n = 0;
  for (size_t i = 0; i < def.params.size(); ++i) {
    const ArgValue& a = args[i];
    PackedArgs::Slot& s = out.slots[n];
    switch (def.params[i].kind) {
    case ParamKind::Ptr:
      s.p = a.ptr;
      break;
    case ParamKind::Int:
      s.i32 = int32_t(a.i);
      break;
    case ParamKind::Float:
      s.f32 = a.kind == ArgValue::Kind::Float ? float(a.f) : float(a.i);
      break;
    case ParamKind::Const:
      continue; // compiled in; not an argument of the code
    }
    out.pointers[n] = &s;
    ++n;
  }
}

void note_recompile(const lang::KernelDef& def, const SignatureKey* previous,
                    const SignatureKey& next, size_t recompiles_so_far) {
  if (!previous)
    return;
  std::string why;
  for (size_t i = 0; i < next.size; ++i)
    if (previous->words[i] != next.words[i])
      why += (why.empty() ? "" : ", ") + param_desc(def, i);
  if (previous->launch != next.launch)
    why += std::string(why.empty() ? "" : ", ") + "the device (" +
           device_kind_name(previous->device) + " -> " + device_kind_name(next.device) +
           ") or the launch options (num_warps, num_stages, checked)";
  std::string what = "new specialization of '" + def.name + "' because " + why + " changed";
  if (support::dump_enabled("recompile"))
    support::dump("recompile", def.name, what);
  const char* limit = std::getenv("TESSEL_MAX_RECOMPILES");
  if (limit && *limit && long(recompiles_so_far) >= std::strtol(limit, nullptr, 10))
    throw Error("TESSEL_MAX_RECOMPILES=" + std::string(limit) + " exceeded: " + what);
}

} // namespace tessel::jit
