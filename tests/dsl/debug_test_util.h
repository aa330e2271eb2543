// Test helpers for the debugging ops: buffers on the CPU or the simulated device, launch options,
// the device output captured through TESSEL_PRINT_FILE, and the expected text of a printed line
// written from the rule in docs/language.md ("Debugging"), not from tessel's own formatter.
#pragma once

#include "support/require_sim_device.h"
#include "tessel/runtime/device_buffer.h"
#include "tessel/tessel.h"

#include <gtest/gtest.h>

#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

namespace tessel::testing {

// Elements on the CPU (host memory) or the simulated device, read back after a launch.
template <class T> struct DebugBuffer {
  DeviceKind where;
  std::vector<T> host;
  std::optional<runtime::DeviceBuffer> device;

  DebugBuffer(DeviceKind w, std::vector<T> init) : where(w), host(std::move(init)) {
    if (where != DeviceKind::sim)
      return;
    device = runtime::DeviceBuffer::allocate_on(where, host.size() * sizeof(T));
    device->copy_from_host(host.data(), host.size() * sizeof(T));
  }
  TensorView view() {
    const int64_t n = int64_t(host.size());
    return device ? device->view(dtype_of_v<T>, {n}) : TensorView(host.data(), dtype_of_v<T>, {n});
  }
};

inline LaunchOptions debug_on(DeviceKind where, bool debug = true, int num_warps = 4) {
  LaunchOptions o;
  o.device = where;
  o.debug = debug;
  o.num_warps = num_warps;
  return o;
}

// Sets TESSEL_PRINT_FILE to a fresh file for the scope; text() is what was written so far.
class CapturedOutput {
public:
  CapturedOutput() {
    static int counter = 0;
    path_ = std::filesystem::temp_directory_path() /
            ("tessel_debug_test_" + std::to_string(::getpid()) + "_" + std::to_string(counter++));
    std::filesystem::remove(path_);
    ::setenv("TESSEL_PRINT_FILE", path_.c_str(), 1);
  }
  ~CapturedOutput() {
    ::unsetenv("TESSEL_PRINT_FILE");
    std::filesystem::remove(path_);
  }
  std::string text() const {
    std::ifstream in(path_);
    std::stringstream s;
    s << in.rdbuf();
    return s.str();
  }

private:
  std::filesystem::path path_;
};

// "pid (X, 0, 0) idx (I, J) PREFIXVALUE\n"
inline std::string print_line(int pid, const std::vector<int64_t>& idx, const std::string& prefix,
                              const std::string& value) {
  std::string s = "pid (" + std::to_string(pid) + ", 0, 0) idx (";
  for (size_t i = 0; i < idx.size(); ++i)
    s += (i ? ", " : "") + std::to_string(idx[i]);
  return s + ") " + prefix + value + "\n";
}

// The value texts of the rule: %.9g for floats narrower than f64, %.17g for f64, integers in
// decimal.
inline std::string float_text(double v, bool f64 = false) {
  char buf[64];
  std::snprintf(buf, sizeof buf, f64 ? "%.17g" : "%.9g", v);
  return buf;
}

// The lines of `text` grouped by (program, prefix): each group must be one contiguous run of
// lines (one block per program for each print), which EXPECTs; the key is "pid (X, Y, Z) PREFIX".
inline std::map<std::string, std::string> blocks(const std::string& text,
                                                 const std::vector<std::string>& prefixes) {
  std::map<std::string, std::string> out;
  std::string last_key;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) {
    std::string pid = line.substr(0, line.find(") idx") + 1);
    std::string prefix = "?";
    size_t after_idx = line.find(") ", line.find("idx (")) + 2;
    for (const std::string& p : prefixes)
      if (line.compare(after_idx, p.size(), p) == 0)
        prefix = p;
    std::string key = pid + " " + prefix;
    if (key != last_key) {
      EXPECT_EQ(out.count(key), 0u) << "the lines of " << key << " are not one block:\n" << text;
    }
    last_key = key;
    out[key] += line + "\n";
  }
  return out;
}

inline std::string device_name(const ::testing::TestParamInfo<DeviceKind>& info) {
  return info.param == DeviceKind::sim ? "Sim" : "Cpu";
}

#define REQUIRE_DEVICE(where)                                                                      \
  do {                                                                                             \
    if ((where) == ::tessel::DeviceKind::sim)                                                      \
      REQUIRE_SIM_DEVICE();                                                                        \
  } while (0)

} // namespace tessel::testing
