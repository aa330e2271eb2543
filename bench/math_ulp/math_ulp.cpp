// How accurate the f32 math functions are on each backend: for each function, N inputs drawn
// from its domain (half uniform over the range where it is usually evaluated, half random bit
// patterns over its whole domain, so every binade is hit), run through a one-op kernel on the CPU
// backend and on the simulated device (libdevice's PTX in the simulator, which computes the
// approximate PTX instructions — ex2.approx, rcp.approx, ... — to within an ulp, so a real GPU can
// be a little worse), and compared with a long double reference rounded to f32. Prints the max
// error in ulps and the input where it occurs. Not a test: the bounds the tests assert are in
// docs/semantics.md ("Accuracy of the math functions"), with these figures.
//
//   bench_math_ulp [--n N] [--sim-n M] [--only NAME]     (defaults 4000000 and 1000000)
#include "tessel/runtime/device.h"
#include "tessel/runtime/device_buffer.h"
#include "tessel/tessel.h"

#include <bit>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <random>
#include <string>
#include <vector>

namespace rt = tessel::runtime;
namespace tl = tessel::lang;
using T = const tl::Tensor&;
using L = long double;

namespace {

constexpr int kBlock = 1024;

L erfinv_reference(L y) {
  if (std::fabs(y) > 1 || std::isnan(y))
    return NAN;
  if (std::fabs(y) == 1)
    return std::copysign(L(INFINITY), y);
  const L a = std::fabs(y);
  L x = a < 0.5L ? y * 0.886226925452758L
                 : std::copysign(std::sqrt(-std::log((1 - a) * (1 + a))) * 0.8L, y);
  for (int i = 0; i < 60; ++i) {
    const L r = a > 0.5L ? (y < 0 ? -1 : 1) * ((1 - a) - std::erfc(std::fabs(x))) : std::erf(x) - y;
    x -= r * 0.886226925452758013649L * std::exp(x * x);
  }
  return x;
}

// A function: its op, reference, and the ranges its two inputs are drawn from (the second
// ignored by unary functions).
struct Fn {
  const char* name;
  tl::Tensor (*op)(T x, T y);
  L (*ref)(L x, L y);
  bool binary;
  float lo, hi;   // the first operand's range
  float lo2, hi2; // the second's
};

const std::vector<Fn>& functions() {
  constexpr float big = 3.4e38f;
  static const std::vector<Fn> fns = {
      {"fdiv", [](T x, T y) { return tl::fdiv(x, y); }, [](L x, L y) { return x / y; }, true, -big,
       big, -0x1p126f, 0x1p126f},
      {"pow", [](T x, T y) { return tl::pow(x, y); }, [](L x, L y) { return std::pow(x, y); }, true,
       0, 100, -30, 30},
      {"atan2", [](T x, T y) { return tl::atan2(x, y); }, [](L x, L y) { return std::atan2(x, y); },
       true, -big, big, -big, big},
      {"hypot", [](T x, T y) { return tl::hypot(x, y); }, [](L x, L y) { return std::hypot(x, y); },
       true, -big, big, -big, big},
      {"log1p", [](T x, T) { return tl::log1p(x); }, [](L x, L) { return std::log1p(x); }, false,
       -1, big, 0, 0},
      {"expm1", [](T x, T) { return tl::expm1(x); }, [](L x, L) { return std::expm1(x); }, false,
       -100, 88, 0, 0},
      {"sinh", [](T x, T) { return tl::sinh(x); }, [](L x, L) { return std::sinh(x); }, false, -89,
       89, 0, 0},
      {"cosh", [](T x, T) { return tl::cosh(x); }, [](L x, L) { return std::cosh(x); }, false, -89,
       89, 0, 0},
      {"tan", [](T x, T) { return tl::tan(x); }, [](L x, L) { return std::tan(x); }, false, -big,
       big, 0, 0},
      {"atan", [](T x, T) { return tl::atan(x); }, [](L x, L) { return std::atan(x); }, false, -big,
       big, 0, 0},
      {"asin", [](T x, T) { return tl::asin(x); }, [](L x, L) { return std::asin(x); }, false, -1,
       1, 0, 0},
      {"acos", [](T x, T) { return tl::acos(x); }, [](L x, L) { return std::acos(x); }, false, -1,
       1, 0, 0},
      {"erfinv", [](T x, T) { return tl::erfinv(x); }, [](L x, L) { return erfinv_reference(x); },
       false, -1, 1, 0, 0},
      {"cbrt", [](T x, T) { return tl::cbrt(x); }, [](L x, L) { return std::cbrt(x); }, false, -big,
       big, 0, 0},
      {"log10", [](T x, T) { return tl::log10(x); }, [](L x, L) { return std::log10(x); }, false, 0,
       big, 0, 0},
      {"exp10", [](T x, T) { return tl::exp10(x); }, [](L x, L) { return std::pow(10.0L, x); },
       false, -46, 39, 0, 0},
      {"sin", [](T x, T) { return tl::sin(x); }, [](L x, L) { return std::sin(x); }, false, -big,
       big, 0, 0},
      {"cos", [](T x, T) { return tl::cos(x); }, [](L x, L) { return std::cos(x); }, false, -big,
       big, 0, 0},
  };
  return fns;
}

// Half uniform in [lo, hi] within |v| <= 10 (or the whole range when it is narrower), half
// random bit patterns that fall in [lo, hi].
std::vector<float> draw(std::mt19937& rng, size_t n, float lo, float hi) {
  std::vector<float> v(n);
  const float ulo = std::max(lo, -10.0f), uhi = std::min(hi, 10.0f);
  std::uniform_real_distribution<float> uniform(ulo, uhi);
  for (size_t i = 0; i < n; ++i) {
    if (i % 2 == 0) {
      v[i] = uniform(rng);
      continue;
    }
    float f;
    do
      f = std::bit_cast<float>(uint32_t(rng()));
    while (!(f >= lo && f <= hi));
    v[i] = f;
  }
  return v;
}

double ulps(float got, L want) {
  const float w = float(want);
  if (std::isnan(w) || std::isnan(got))
    return std::isnan(w) == std::isnan(got) ? 0 : INFINITY;
  if (std::isinf(w) || std::isinf(got)) {
    if (got == w)
      return 0;
    // An overflow boundary: measure against FLT_MAX's ulp.
    return double(std::fabs(L(got) - want) / L(0x1p104));
  }
  int e = 0;
  std::frexp(double(want), &e);
  const L ulp = std::max(std::ldexp(1.0L, e - 24), std::ldexp(1.0L, -149));
  return double(std::fabs(L(got) - want) / ulp);
}

tessel::Kernel kernel_of(const Fn& f) {
  auto op = f.op;
  return tl::kernel(std::string("math_ulp_") + f.name, "out, x, y, n, BLOCK",
                    [op](tl::Ptr out, tl::Ptr x, tl::Ptr y, tl::Int n, tl::Const<int> BLOCK) {
                      auto offs = tl::program_id(0) * BLOCK + tl::arange(0, BLOCK);
                      auto m = offs < n;
                      tl::store(out + offs, op(tl::load(x + offs, m), tl::load(y + offs, m)), m);
                    });
}

std::vector<float> run(const tessel::Kernel& k, const std::vector<float>& x,
                       const std::vector<float>& y, size_t n, bool on_sim) {
  std::vector<float> out(n, NAN);
  const int64_t grid = int64_t((n + kBlock - 1) / kBlock);
  const int64_t len = int64_t(n);
  if (!on_sim) {
    tessel::LaunchOptions cpu;
    cpu.device = tessel::DeviceKind::cpu;
    k.launch({grid}, cpu, out.data(), x.data(), y.data(), len, kBlock);
    return out;
  }
  auto upload = [&](const float* p) {
    auto b = rt::DeviceBuffer::allocate_on(tessel::DeviceKind::sim, n * 4);
    b.copy_from_host(p, n * 4);
    return b;
  };
  auto d = upload(out.data()), dx = upload(x.data()), dy = upload(y.data());
  k.launch({grid}, {}, d.view(tessel::DType::f32, {len}), dx.view(tessel::DType::f32, {len}),
           dy.view(tessel::DType::f32, {len}), len, kBlock);
  d.copy_to_host(out.data(), n * 4);
  return out;
}

struct Worst {
  double ulps = 0;
  float x = 0, y = 0;
};

Worst measure(const Fn& f, const std::vector<float>& out, const std::vector<float>& x,
              const std::vector<float>& y) {
  Worst w;
  for (size_t i = 0; i < out.size(); ++i) {
    const double e = ulps(out[i], f.ref(x[i], y[i]));
    if (e > w.ulps)
      w = {e, x[i], y[i]};
  }
  return w;
}

} // namespace

int main(int argc, char** argv) {
  size_t n = 4000000, sim_n = 1000000;
  std::string only;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string a = argv[i];
    if (a == "--n")
      n = std::strtoull(argv[i + 1], nullptr, 10);
    else if (a == "--sim-n")
      sim_n = std::strtoull(argv[i + 1], nullptr, 10);
    else if (a == "--only")
      only = argv[i + 1];
  }
  const bool sim = rt::sim_available();
  std::printf("| function | CPU max ulp (input) | simulator max ulp (input) |\n|---|---|---|\n");
  for (const Fn& f : functions()) {
    if (!only.empty() && only != f.name)
      continue;
    std::mt19937 rng(2026);
    const std::vector<float> x = draw(rng, n, f.lo, f.hi);
    const std::vector<float> y = f.binary ? draw(rng, n, f.lo2, f.hi2) : x;
    const tessel::Kernel k = kernel_of(f);
    const Worst cpu = measure(f, run(k, x, y, n, false), x, y);
    std::printf("| %s | %.2f (%.9g%s) |", f.name, cpu.ulps, cpu.x,
                f.binary ? (", " + std::to_string(cpu.y)).c_str() : "");
    if (sim) {
      const size_t m = std::min(n, sim_n);
      const std::vector<float> xs(x.begin(), x.begin() + long(m)),
          ys(y.begin(), y.begin() + long(m));
      const Worst s = measure(f, run(k, xs, ys, m, true), xs, ys);
      std::printf(" %.2f (%.9g%s) |\n", s.ulps, s.x,
                  f.binary ? (", " + std::to_string(s.y)).c_str() : "");
    } else {
      std::printf(" (no simulator) |\n");
    }
    std::fflush(stdout);
  }
  std::printf("\n%zu inputs per function on the CPU, %zu in the simulator (seed 2026)\n", n,
              std::min(n, sim_n));
  return 0;
}
