// Functions that JIT'd kernels may call, linked as absolute symbols so that they resolve whether
// or not the process happens to load the library that usually provides them. LLVM lowers
// float<->half conversions it cannot do inline into compiler-rt calls (__truncsfhf2,
// __extendhfsf2, __truncdfhf2), which libgcc may lack; they are defined here, bit-exact with
// round-to-nearest-even. `half` travels in an XMM register in that ABI, hence _Float16.
// Checked kernels (codegen/cpu.h, BoundsTable) report out-of-bounds accesses through
// bounds_violation, defined here too; device_print and assert_failed are in debug_runtime.cpp.
#include "codegen/cpu/engine.h"

#include "tessel/codegen/cpu.h"

#include <cstddef>

#include <bit>
#include <cmath>
#include <cstdint>
#include <cstring>

namespace tessel::codegen::cpu::detail {

namespace {

// f32 -> f16 bits, round to nearest even (F. Giesen's float_to_half_fast3_rtne).
uint16_t f32_to_f16_bits(float value) {
  uint32_t u = std::bit_cast<uint32_t>(value);
  uint32_t sign = u & 0x80000000u;
  u ^= sign;
  uint32_t out;
  if (u >= (127u + 16u) << 23) { // overflows to infinity, or is infinity / NaN
    out = u > (255u << 23) ? 0x7e00u : 0x7c00u;
  } else if (u < (113u << 23)) { // subnormal half or zero: let the FPU round
    const uint32_t magic = ((127u - 15u) + (23u - 10u) + 1u) << 23;
    float f = std::bit_cast<float>(u) + std::bit_cast<float>(magic);
    out = std::bit_cast<uint32_t>(f) - magic;
  } else {
    uint32_t mant_odd = (u >> 13) & 1u;
    u += ((15u - 127u) << 23) + 0xfffu + mant_odd;
    out = u >> 13;
  }
  return static_cast<uint16_t>(out | (sign >> 16));
}

float f16_bits_to_f32(uint16_t h) {
  uint32_t sign = uint32_t(h & 0x8000u) << 16;
  uint32_t exp = (h >> 10) & 0x1fu;
  uint32_t mant = h & 0x3ffu;
  if (exp == 0x1f)
    return std::bit_cast<float>(sign | 0x7f800000u | (mant << 13));
  if (exp == 0) {
    float v = std::ldexp(float(mant), -24);
    return sign ? -v : v;
  }
  return std::bit_cast<float>(sign | ((exp + 112u) << 23) | (mant << 13));
}

_Float16 truncsfhf2(float f) { return std::bit_cast<_Float16>(f32_to_f16_bits(f)); }
float extendhfsf2(_Float16 h) { return f16_bits_to_f32(std::bit_cast<uint16_t>(h)); }
double extendhfdf2(_Float16 h) { return f16_bits_to_f32(std::bit_cast<uint16_t>(h)); }

// f64 -> f16 rounding once: go through f32 rounded to odd (f32 keeps 13 more bits than f16, so
// the second rounding is then exact RNE).
_Float16 truncdfhf2(double d) {
  float f = static_cast<float>(d);
  if (std::isfinite(d) && static_cast<double>(f) != d) {
    if (std::fabs(static_cast<double>(f)) > std::fabs(d))
      f = std::nextafter(f, 0.0f);
    f = std::bit_cast<float>(std::bit_cast<uint32_t>(f) | 1u);
  }
  return truncsfhf2(f);
}

template <class F> void* fn(F* f) { return reinterpret_cast<void*>(f); }

// The compiled code reads these fields at fixed offsets (lower_checks.cpp).
static_assert(offsetof(BoundsTable, ranges) == 0 && offsetof(BoundsTable, first_program) == 8,
              "checked kernels read BoundsTable::ranges at 0 and first_program at 8");
static_assert(sizeof(ByteRange) == 16 && offsetof(ByteRange, end) == 8,
              "checked kernels read ByteRange as {begin, end} of 8 bytes each");

using f1 = float(float);
using d1 = double(double);
using f2 = float(float, float);
using d2 = double(double, double);

// The math functions of issue 14 (lower_elementwise.cpp), and erfc for vector_math.cpp's erfinv.
std::vector<std::pair<const char*, void*>> math_function_symbols() {
  return {
      {"powf", fn<f2>(&::powf)},           {"pow", fn<d2>(&::pow)},
      {"atan2f", fn<f2>(&::atan2f)},       {"atan2", fn<d2>(&::atan2)},
      {"hypotf", fn<f2>(&::hypotf)},       {"hypot", fn<d2>(&::hypot)},
      {"log1pf", fn<f1>(&::log1pf)},       {"log1p", fn<d1>(&::log1p)},
      {"expm1f", fn<f1>(&::expm1f)},       {"expm1", fn<d1>(&::expm1)},
      {"sinhf", fn<f1>(&::sinhf)},         {"sinh", fn<d1>(&::sinh)},
      {"coshf", fn<f1>(&::coshf)},         {"cosh", fn<d1>(&::cosh)},
      {"tanf", fn<f1>(&::tanf)},           {"tan", fn<d1>(&::tan)},
      {"atanf", fn<f1>(&::atanf)},         {"atan", fn<d1>(&::atan)},
      {"asinf", fn<f1>(&::asinf)},         {"asin", fn<d1>(&::asin)},
      {"acosf", fn<f1>(&::acosf)},         {"acos", fn<d1>(&::acos)},
      {"cbrtf", fn<f1>(&::cbrtf)},         {"cbrt", fn<d1>(&::cbrt)},
      {"log10f", fn<f1>(&::log10f)},       {"log10", fn<d1>(&::log10)},
      {"exp10f", fn<f1>(&::exp10f)},       {"exp10", fn<d1>(&::exp10)},
      {"erfc", fn<d1>(&::erfc)},           {"truncf", fn<f1>(&::truncf)},
      {"trunc", fn<d1>(&::trunc)},         {"roundf", fn<f1>(&::roundf)},
      {"round", fn<d1>(&::round)},         {"roundevenf", fn<f1>(&::roundevenf)},
      {"roundeven", fn<d1>(&::roundeven)},
  };
}

} // namespace

std::vector<std::pair<const char*, void*>> runtime_symbols() {
  std::vector<std::pair<const char*, void*>> symbols = {
      {"__truncsfhf2", fn(&truncsfhf2)},
      {"__gnu_f2h_ieee", fn(&truncsfhf2)},
      {"__extendhfsf2", fn(&extendhfsf2)},
      {"__gnu_h2f_ieee", fn(&extendhfsf2)},
      {"__extendhfdf2", fn(&extendhfdf2)},
      {"__truncdfhf2", fn(&truncdfhf2)},
      {"expf", fn<f1>(&::expf)},
      {"exp", fn<d1>(&::exp)},
      {"exp2f", fn<f1>(&::exp2f)},
      {"exp2", fn<d1>(&::exp2)},
      {"logf", fn<f1>(&::logf)},
      {"log", fn<d1>(&::log)},
      {"log2f", fn<f1>(&::log2f)},
      {"log2", fn<d1>(&::log2)},
      {"sinf", fn<f1>(&::sinf)},
      {"sin", fn<d1>(&::sin)},
      {"cosf", fn<f1>(&::cosf)},
      {"cos", fn<d1>(&::cos)},
      {"erff", fn<f1>(&::erff)},
      {"erf", fn<d1>(&::erf)},
      {"tanhf", fn<f1>(&::tanhf)},
      {"tanh", fn<d1>(&::tanh)},
      {"fmodf", fn<f2>(&::fmodf)},
      {"fmod", fn<d2>(&::fmod)},
      {"floorf", fn<f1>(&::floorf)},
      {"floor", fn<d1>(&::floor)},
      {"ceilf", fn<f1>(&::ceilf)},
      {"ceil", fn<d1>(&::ceil)},
      {"sqrtf", fn<f1>(&::sqrtf)},
      {"sqrt", fn<d1>(&::sqrt)},
      {"memcpy", fn(&::memcpy)},
      {"memmove", fn(&::memmove)},
      {"memset", fn(&::memset)},
      {kBoundsViolationSymbol, fn(&bounds_violation)},
      {kHostCallSymbol, fn(&host_call)},
      {kAssertFailedSymbol, fn(&assert_failed)},
      {kDevicePrintSymbol, fn(&device_print)},
  };
  for (const auto& symbol : math_function_symbols())
    symbols.push_back(symbol);
  return symbols;
}

} // namespace tessel::codegen::cpu::detail

namespace tessel::codegen::cpu {

void host_call(HostCallbackTable* table, int64_t slot, const void* const* args, void* out) {
  if (!table || slot < 0 || size_t(slot) >= table->callbacks.size())
    return; // unbound (a compile-only kernel): the element stays 0
  try {
    table->callbacks[size_t(slot)](args, out);
  } catch (...) {
    // The kernel's frames cannot unwind: keep the first error for rethrow_host_error.
    std::lock_guard lock(table->mutex);
    if (!table->first_error)
      table->first_error = std::current_exception();
    table->failed.store(true, std::memory_order_release);
  }
}

void bounds_violation(BoundsTable* table, int64_t arg, uint64_t address, int64_t bytes,
                      const char* where, int32_t is_store, int64_t program) {
  std::lock_guard lock(table->mutex);
  // A program reports at most once (it ends at its first violation), and programs of a lower id
  // may report later from another thread: keep the lowest.
  if (program >= __atomic_load_n(&table->first_program, __ATOMIC_RELAXED))
    return;
  table->first = BoundsViolation{arg, address, bytes, where, is_store != 0, program};
  __atomic_store_n(&table->first_program, program, __ATOMIC_RELAXED);
}

} // namespace tessel::codegen::cpu
