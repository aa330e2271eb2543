// Helpers for the simulator tests: loading the nvcc-compiled validation PTX (skipping when
// nvcc was not available at build time), device buffers, and error lookups.
#pragma once

#include <tessel/sim/sim.h>

#include <gtest/gtest.h>

#include "../src/half.h"

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

namespace tessel::sim::testing {

// Where the compiled validation PTX lives: $TESSEL_SIM_KERNEL_DIR, the build tree's directory,
// or `kernels/` beside the test binary's directory (a relocated bundle: sim/tests/../kernels).
inline std::vector<std::string> kernel_dirs() {
  std::vector<std::string> dirs;
  if (const char* env = std::getenv("TESSEL_SIM_KERNEL_DIR"))
    dirs.push_back(env);
  dirs.push_back(TESSEL_SIM_KERNEL_DIR);
  std::error_code ec;
  auto exe = std::filesystem::read_symlink("/proc/self/exe", ec);
  if (!ec)
    dirs.push_back((exe.parent_path().parent_path() / "kernels").string());
  return dirs;
}

// The PTX of kernels/<name>.cu for sm_<arch>, or "" (and the test is skipped by the caller
// via SIM_LOAD_PTX) when nvcc was missing.
inline std::string kernel_ptx(const std::string& name, int arch) {
  for (const std::string& dir : kernel_dirs()) {
    std::ifstream f(dir + "/" + name + ".sm_" + std::to_string(arch) + ".ptx");
    if (!f)
      continue;
    std::ostringstream ss;
    ss << f.rdbuf();
    return ss.str();
  }
  return "";
}

#define SIM_LOAD_PTX(var, name, arch)                                                              \
  std::string var = ::tessel::sim::testing::kernel_ptx(name, arch);                                \
  if (var.empty()) {                                                                               \
    if (!TESSEL_SIM_HAVE_NVCC)                                                                     \
      GTEST_SKIP() << "nvcc was not found at build time; the "                                     \
                      "validation kernels were not compiled";                                      \
    FAIL() << "missing compiled PTX for " << name << " sm_" << arch;                               \
  }

template <typename T> uint64_t upload(Device& d, const std::vector<T>& v) {
  uint64_t p = *d.malloc(v.size() * sizeof(T));
  EXPECT_TRUE(d.memcpy_to_device(p, v.data(), v.size() * sizeof(T)).ok());
  return p;
}

template <typename T> std::vector<T> download(Device& d, uint64_t p, size_t n) {
  std::vector<T> v(n);
  EXPECT_TRUE(d.memcpy_to_host(v.data(), p, n * sizeof(T)).ok());
  return v;
}

inline uint16_t half_bits(float f) { return float_to_half(f); }
inline float half_value(uint16_t h) { return half_to_float(h); }
inline uint16_t bf16_bits(float f) { return float_to_bf16(f); }
inline float bf16_value(uint16_t h) { return bf16_to_float(h); }

inline std::string errors_text(const LaunchReport& r) {
  std::string s;
  for (auto& e : r.errors)
    s += e.to_string() + "\n";
  return s;
}

inline const Error* find_error(const LaunchReport& r, ErrorKind kind) {
  for (auto& e : r.errors)
    if (e.kind == kind)
      return &e;
  return nullptr;
}

// Sums of the shared-memory accounting over the lines whose mnemonic starts with `prefix`.
struct SharedTotals {
  uint64_t requests = 0, wavefronts = 0, ideal = 0;
};
inline SharedTotals shared_totals(const Profile& p, const std::string& prefix) {
  SharedTotals t;
  for (auto& l : p.lines)
    if (l.opcode.rfind(prefix, 0) == 0) {
      t.requests += l.shared_requests;
      t.wavefronts += l.wavefronts;
      t.ideal += l.ideal_wavefronts;
    }
  return t;
}

} // namespace tessel::sim::testing
