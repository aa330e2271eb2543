// Launch arguments: checks, specialization keys, bindings, packing.
//
// Key words: Ptr = tag | dtype << 8 | aligned16; Int = tag | equals_one | div16 << 1;
// Float = tag; Const = the value's bits (what the trace depends on). recompile_reason decodes them
// again to say what changed between two specializations.
#include "jit/signature.h"

#include "runtime/view_check.h"

#include "tessel/error.h"
#include "tessel/runtime/device.h"
#include "tessel/support/dump.h"

#include <bit>
#include <cmath>
#include <cstdio>
#include <cstdlib>

namespace tessel::jit {
namespace {

using detail::ArgValue;
using lang::ParamKind;

constexpr uint64_t kPtrTag = 1ull << 40, kIntTag = 2ull << 40, kFloatTag = 3ull << 40;

// A Const's value as C++ would print it shortly (0.5, 1e-05), for recompile reasons.
std::string fmt_double(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%g", v);
  return buf;
}

std::string kind_text(const lang::ParamSpec& p) {
  if (p.kind == ParamKind::Ptr && p.dtype_fixed)
    return std::string("PtrOf<") + dtype_name(p.dtype) + ">";
  if (p.kind == ParamKind::Const)
    return std::string("Const<") + (p.cpp_type ? p.cpp_type : dtype_name(p.dtype)) + ">";
  if (p.kind == ParamKind::Float && p.dtype == DType::f64)
    return "Float64";
  return lang::param_kind_name(p.kind);
}

// Where a launch error comes from: the launch's call site, and the kernel.
struct Site {
  const lang::KernelDef& def;
  const SourceLoc& where;
  [[noreturn]] void fail(const std::string& what) const {
    throw Error(where, "kernel '" + def.name + "': " + what);
  }
};

[[noreturn]] void bad_arg(const Site& site, size_t i, const std::string& why) {
  site.fail(param_desc(site.def, i) + ": " + why);
}

// "(Ptr out, Int n)", or "(Ptr, Int)" without names.
std::string signature_text(const lang::KernelDef& def) {
  std::string s = "(";
  for (size_t i = 0; i < def.params.size(); ++i) {
    s += (i ? ", " : "") + kind_text(def.params[i]);
    if (!def.param_names.empty())
      s += " " + def.param_names[i];
  }
  return s + ")";
}

// A null pointer would crash a CPU launch inside the kernel (and fault a GPU one), whatever the
// mask says, so it is refused before anything runs, on every device.
std::string null_pointer_text(const ArgValue& a) {
  std::string what = std::string(a.cpp_type) == "a TensorView" ? "a TensorView whose data is null"
                                                               : std::string(a.cpp_type);
  return "is a null pointer (" + what +
         "); pass the address of a buffer (host memory, or a "
         "runtime::DeviceBuffer's view() for a GPU)";
}

// The type of a run-time integer argument, by its value as Triton types it: i32 when it fits, else
// i64, and u64 above INT64_MAX (to_arg marks those). The type is part of the signature key.
DType int_arg_type(const ArgValue& a) {
  if (a.dtype == DType::u64)
    return DType::u64;
  return a.i >= INT32_MIN && a.i <= INT32_MAX ? DType::i32 : DType::i64;
}

unsigned int_arg_class(DType t) { return t == DType::i32 ? 0 : t == DType::i64 ? 1 : 2; }

uint64_t key_word(const Site& site, size_t i, const ArgValue& a) {
  const lang::ParamSpec& p = site.def.params[i];
  switch (p.kind) {
  case ParamKind::Ptr: {
    if (a.kind != ArgValue::Kind::Pointer)
      bad_arg(site, i, std::string("expects a pointer or TensorView, got ") + a.cpp_type);
    if (a.view)
      if (std::string problem = runtime::view_problem(*a.view); !problem.empty())
        bad_arg(site, i, "is a TensorView that " + problem);
    if (!a.ptr)
      bad_arg(site, i, null_pointer_text(a));
    if (p.dtype_fixed && a.dtype != p.dtype)
      bad_arg(site, i,
              std::string("expects elements of type ") + dtype_name(p.dtype) + ", got " +
                  dtype_name(a.dtype));
    bool aligned16 = (reinterpret_cast<uintptr_t>(a.ptr) % 16) == 0;
    return kPtrTag | (uint64_t(a.dtype) << 8) | uint64_t(aligned16);
  }
  case ParamKind::Int: {
    if (a.kind != ArgValue::Kind::Int || a.is_enum)
      bad_arg(site, i, std::string("expects an integer, got ") + a.cpp_type);
    return kIntTag | uint64_t(a.i == 1) | (uint64_t(uint64_t(a.i) % 16 == 0) << 1) |
           (uint64_t(int_arg_class(int_arg_type(a))) << 2);
  }
  case ParamKind::Float:
    if (a.kind != ArgValue::Kind::Float && a.kind != ArgValue::Kind::Int)
      bad_arg(site, i, std::string("expects a number, got ") + a.cpp_type);
    return kFloatTag;
  case ParamKind::Const: {
    if (a.kind == ArgValue::Kind::Pointer)
      bad_arg(site, i,
              std::string("is a compile-time constant and needs a number known when the "
                          "kernel is launched, got ") +
                  a.cpp_type);
    if (dtype_is_float(p.dtype)) {
      double v = a.kind == ArgValue::Kind::Float ? a.f : double(a.i);
      return std::bit_cast<uint64_t>(v);
    }
    if (a.kind == ArgValue::Kind::Float)
      bad_arg(site, i,
              "is an integer compile-time constant, got the floating-point value " +
                  std::to_string(a.f));
    if (p.is_enum && (!a.is_enum || std::string_view(a.cpp_type) != p.cpp_type))
      bad_arg(site, i,
              std::string("is a compile-time ") + p.cpp_type + ", got " +
                  (a.is_enum ? std::string("a value of ") + a.cpp_type : std::string(a.cpp_type)) +
                  "; pass one of " + p.cpp_type + "'s enumerators");
    if (!p.is_enum && a.is_enum)
      bad_arg(site, i,
              std::string("is an integer compile-time constant, got a value of the enum ") +
                  a.cpp_type + "; declare the parameter tl::Const<" + a.cpp_type + ">");
    if (a.i < p.const_min || a.i > p.const_max)
      bad_arg(site, i,
              "value " + std::to_string(a.i) + " is outside the range of " +
                  (p.cpp_type ? p.cpp_type : "its C++ type") + " (" + std::to_string(p.const_min) +
                  " to " + std::to_string(p.const_max) + ")");
    return uint64_t(a.i);
  }
  }
  TESSEL_UNREACHABLE("bad param kind");
}

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

[[noreturn]] void mixed_devices(const Site& site, size_t first, const ArgValue& a, size_t i,
                                const ArgValue& b) {
  std::string fix = a.device == DeviceKind::cpu || b.device == DeviceKind::cpu
                        ? "copy host data into a runtime::DeviceBuffer and pass its view(), or "
                          "copy device data to the host"
                        : "copy the data onto one device";
  site.fail("the pointer arguments are on different devices: " + param_desc(site.def, first) +
            " is in " + where(a) + " (" + a.cpp_type + "), " + param_desc(site.def, i) + " is in " +
            where(b) + " (" + b.cpp_type + "); one launch runs on one device: " + fix);
}

void check_gpu_options(const Site& site, const LaunchOptions& options) {
  int w = options.num_warps;
  if (w < 1 || w > 32 || (w & (w - 1)) != 0)
    site.fail("LaunchOptions::num_warps is " + std::to_string(w) +
              "; a GPU launch needs a power of two from 1 to 32");
  if (options.num_stages < 1 || options.num_stages > 16)
    site.fail("LaunchOptions::num_stages is " + std::to_string(options.num_stages) +
              "; it must be between 1 and 16");
}

// The simulated device's target in SignatureKey::launch: its SM version in bits 40..47 and
// "arch-specific" (sm_90a) in bit 48. A CUDA device's target follows from its index; the simulated
// device's is TESSEL_SIM_TARGET, read at every simulated launch, so one process may run a kernel
// for sm_80 and then for sm_90a, each with its own code. 0 for a name that is no GPU target: that
// key is never published (build_gpu fails with jit::sim_target's message).
constexpr int kSimTargetShift = 40;

uint64_t sim_target_bits() {
  try {
    const codegen::Target t = codegen::parse_target(runtime::sim_target_name());
    if (t.is_nvptx())
      return (uint64_t(uint8_t(t.sm())) | uint64_t(t.arch_specific()) << 8) << kSimTargetShift;
  } catch (const Error&) {
    // Reported where the kernel is compiled, with the kernel's name and the launch's call site.
  }
  return 0;
}

// "sm_90a" for the bits sim_target_bits gave.
std::string sim_target_text(uint64_t launch) {
  const uint64_t sm = launch >> kSimTargetShift & 0xff;
  if (sm == 0)
    return "(no target)";
  return "sm_" + std::to_string(sm) + ((launch >> (kSimTargetShift + 8) & 1) ? "a" : "");
}

// SignatureKey::launch of a launch with `options` on key.device (the GPU options checked).
uint64_t launch_word(const Site& site, const SignatureKey& key, const LaunchOptions& options) {
  const uint64_t fusion = options.fp_fusion ? 0 : kNoFpFusion;
  if (key.device == DeviceKind::cpu)
    return fusion;
  check_gpu_options(site, options);
  const uint64_t target = key.device == DeviceKind::sim ? sim_target_bits() : 0;
  return uint64_t(key.device) | uint64_t(uint16_t(key.device_index)) << 8 |
         uint64_t(uint8_t(options.num_warps)) << 24 | uint64_t(uint8_t(options.num_stages)) << 32 |
         target | (uint64_t(1) << 63) | fusion;
}

} // namespace

std::string param_desc(const lang::KernelDef& def, size_t i) {
  std::string kind = kind_text(def.params[i]);
  if (def.param_names.empty())
    return "parameter " + std::to_string(i) + " (" + kind + ")";
  return "parameter '" + def.param_names[i] + "' (" + kind + ")";
}

SignatureKey signature_of(const lang::KernelDef& def, std::span<const ArgValue> args,
                          const LaunchOptions& options, const SourceLoc& where_launched) {
  const Site site{def, where_launched};
  if (args.size() != def.params.size())
    throw Error(where_launched, "kernel '" + def.name + "' takes " +
                                    std::to_string(def.params.size()) + " arguments " +
                                    signature_text(def) + " but was launched with " +
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
    key.words[i] = key_word(site, i, a);
    if (a.kind != ArgValue::Kind::Pointer)
      continue;
    if (options.device) {
      // Raw pointers are addresses on the requested device; views must already be there.
      bool raw = a.device == DeviceKind::cpu && *options.device != DeviceKind::cpu;
      if (!raw && (a.device != key.device || a.device_index != key.device_index))
        bad_arg(site, i,
                "is a buffer in " + where(a) + ", but LaunchOptions::device asks for " +
                    where_kind(key.device, key.device_index));
      continue;
    }
    if (first_ptr == kMaxParams) {
      first_ptr = i;
      key.device = a.device;
      key.device_index = a.device_index;
    } else if (a.device != key.device || a.device_index != key.device_index) {
      mixed_devices(site, first_ptr, args[first_ptr], i, a);
    }
  }
  key.launch = launch_word(site, key, options);
  return key;
}

void respecialize(const lang::KernelDef& def, std::span<const ArgValue> args,
                  std::span<const size_t> slots, const LaunchOptions& options, SignatureKey& key,
                  const SourceLoc& where) {
  const Site site{def, where};
  for (size_t i : slots)
    key.words[i] = key_word(site, i, args[i]);
  key.launch = launch_word(site, key, options);
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
      b.dtype = int_arg_type(a);
      b.equals_one = a.i == 1;
      b.divisibility = uint64_t(a.i) % 16 == 0 ? 16 : 1;
      break;
    case ParamKind::Float:
      b.dtype = def.params[i].dtype; // f32, or f64 for tl::Float64
      break;
    case ParamKind::Const:
      b.dtype = def.params[i].dtype;
      b.const_int = a.kind == ArgValue::Kind::Int ? a.i : int64_t(a.f);
      b.const_float = a.kind == ArgValue::Kind::Float ? a.f : double(a.i);
      break;
    }
  }
}

std::array<int32_t, 3> check_grid(const lang::KernelDef& def, const Grid& grid,
                                  const SourceLoc& where) {
  const int64_t dims[3] = {grid.x, grid.y, grid.z};
  std::array<int32_t, 3> out{};
  for (int d = 0; d < 3; ++d) {
    if (dims[d] < 0 || dims[d] > INT32_MAX)
      throw Error(where, "kernel '" + def.name + "': grid dimension " + std::to_string(d) + " is " +
                             std::to_string(dims[d]) + "; it must be between 0 and 2^31-1");
    out[size_t(d)] = int32_t(dims[d]);
  }
  int64_t total = 0;
  if (__builtin_mul_overflow(dims[0], dims[1], &total) ||
      __builtin_mul_overflow(total, dims[2], &total) || total > (int64_t(1) << 48))
    throw Error(where, "kernel '" + def.name + "': grid " + std::to_string(dims[0]) + " x " +
                           std::to_string(dims[1]) + " x " + std::to_string(dims[2]) +
                           " has more than 2^48 programs");
  return out;
}

void check_gpu_grid(const lang::KernelDef& def, const std::array<int32_t, 3>& dims,
                    const codegen::Target& target, const SourceLoc& where) {
  const std::array<int64_t, 3>& max = target.limits().max_grid;
  for (int d = 0; d < 3; ++d) {
    if (dims[size_t(d)] <= max[size_t(d)])
      continue;
    throw Error(where, "kernel '" + def.name + "': grid dimension " + std::to_string(d) + " (" +
                           "xyz"[d] + ") is " + std::to_string(dims[size_t(d)]) + ", but " +
                           target.name() + " allows at most " + std::to_string(max[size_t(d)]) +
                           " programs along " + "xyz"[d] +
                           "; put the largest count on dimension 0 (x, up to " +
                           std::to_string(max[0]) + ") or loop inside the kernel");
  }
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
      if (int_arg_type(a) == DType::i32)
        s.i32 = int32_t(a.i);
      else
        s.i64 = a.i;
      break;
    case ParamKind::Float:
      if (def.params[i].dtype == DType::f64)
        s.f64 = a.kind == ArgValue::Kind::Float ? a.f : double(a.i);
      else
        s.f32 = a.kind == ArgValue::Kind::Float ? float(a.f) : float(a.i);
      break;
    case ParamKind::Const:
      continue; // compiled in; not an argument of the code
    }
    out.pointers[n] = &s;
    ++n;
  }
  out.count = n;
}

namespace {

// How one parameter's key word changed, in words ("was divisible by 16, now not"). The decoding
// mirrors key_word's encoding above. Alignment is the known byte alignment: 16, or 1 (unknown).
std::string word_change(const lang::ParamSpec& p, uint64_t was, uint64_t now) {
  switch (p.kind) {
  case ParamKind::Ptr: {
    std::string s;
    if ((was >> 8 & 0xff) != (now >> 8 & 0xff))
      s = std::string("element type ") + dtype_name(DType(was >> 8 & 0xff)) + " -> " +
          dtype_name(DType(now >> 8 & 0xff));
    if ((was & 1) != (now & 1))
      s += std::string(s.empty() ? "" : ", ") + "alignment " + (was & 1 ? "16" : "1") + " -> " +
           (now & 1 ? "16" : "1");
    return s;
  }
  case ParamKind::Int: {
    std::string s;
    if ((was & 1) != (now & 1))
      s = now & 1 ? "equals 1 now" : "was 1, now not";
    if ((was & 2) != (now & 2))
      s += std::string(s.empty() ? "" : ", ") +
           (now & 2 ? "was not divisible by 16, now is" : "was divisible by 16, now not");
    static const char* kWidth[] = {"i32", "i64", "u64"};
    if ((was >> 2 & 3) != (now >> 2 & 3))
      s += std::string(s.empty() ? "" : ", ") + "type " + kWidth[was >> 2 & 3] + " -> " +
           kWidth[now >> 2 & 3];
    return s;
  }
  case ParamKind::Float:
    TESSEL_UNREACHABLE("a Float parameter's key word never changes");
  case ParamKind::Const: {
    if (!dtype_is_float(p.dtype))
      return std::to_string(int64_t(was)) + " -> " + std::to_string(int64_t(now));
    return fmt_double(std::bit_cast<double>(was)) + " -> " + fmt_double(std::bit_cast<double>(now));
  }
  }
  TESSEL_UNREACHABLE("bad param kind");
}

std::string launch_text(const SignatureKey& k) {
  const std::string fusion = std::string((k.launch & kNoFpFusion) ? " fp_fusion=0" : "") +
                             ((k.launch & kDebugLaunch) ? " debug" : "");
  if (k.device == DeviceKind::cpu) // the launch bits of a CPU key: checked mode, fp_fusion, debug
    return std::string((k.launch & ~(kNoFpFusion | kDebugLaunch)) ? "cpu checked" : "cpu") + fusion;
  std::string s = device_kind_name(k.device);
  if (k.device == DeviceKind::cuda)
    s += " " + std::to_string(k.device_index);
  if (k.device == DeviceKind::sim)
    s += " " + sim_target_text(k.launch);
  return s + " num_warps=" + std::to_string(k.launch >> 24 & 0xff) +
         " num_stages=" + std::to_string(k.launch >> 32 & 0xff) + fusion;
}

} // namespace

std::string recompile_reason(const lang::KernelDef& def, const SignatureKey& previous,
                             const SignatureKey& next) {
  std::string why;
  for (size_t i = 0; i < next.size; ++i)
    if (previous.words[i] != next.words[i])
      why += (why.empty() ? "" : "; ") + param_desc(def, i) + ": " +
             word_change(def.params[i], previous.words[i], next.words[i]);
  if (previous.launch != next.launch)
    why += std::string(why.empty() ? "" : "; ") +
           "device and launch options: " + launch_text(previous) + " -> " + launch_text(next);
  return why;
}

void note_recompile(const lang::KernelDef& def, const SignatureKey* previous,
                    const SignatureKey& next, size_t recompiles_so_far, const SourceLoc& where) {
  if (!previous)
    return;
  std::string what =
      "new specialization of '" + def.name + "': " + recompile_reason(def, *previous, next);
  if (support::dump_enabled("recompile"))
    support::dump("recompile", def.name, what);
  const char* limit = std::getenv("TESSEL_MAX_RECOMPILES");
  if (!limit || !*limit)
    return;
  // strtol alone read "lots" as 0, so a typo failed the first recompile as "exceeded".
  char* end = nullptr;
  long n = std::strtol(limit, &end, 10);
  if (*end != '\0' || n < 0)
    throw Error(where, "TESSEL_MAX_RECOMPILES='" + std::string(limit) +
                           "' is not a count (0 or more recompiles allowed per kernel); unset it "
                           "or set a number");
  if (long(recompiles_so_far) >= n)
    throw Error(where, "TESSEL_MAX_RECOMPILES=" + std::string(limit) + " exceeded: " + what);
}

} // namespace tessel::jit
