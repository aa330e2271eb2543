// TESSEL_PERF_MAP=1 appends each JIT'd CPU function to /tmp/perf-<pid>.map ("START SIZE NAME",
// hex) so that perf report names tessel kernels (codegen/cpu/perf_map.cpp). tessel reads the
// variable once, when its JIT is created at the first CPU compile, so this test is alone in its
// executable and sets it first.
#include "support/host_array.h"
#include "tessel/tessel.h"

#include <gtest/gtest.h>

#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

namespace tl = tessel::lang;
using tessel::DType;
using tessel::testing::HostArray;

namespace {

struct MapLine {
  uint64_t start = 0, size = 0;
  std::string name;
};

std::vector<MapLine> read_perf_map(const std::string& path) {
  std::vector<MapLine> lines;
  std::ifstream in(path);
  std::string text;
  while (std::getline(in, text)) {
    std::istringstream fields(text);
    MapLine l;
    fields >> std::hex >> l.start >> l.size;
    std::getline(fields >> std::ws, l.name);
    lines.push_back(l);
  }
  return lines;
}

// Whether [start, start + size) lies inside one executable mapping of this process.
bool in_executable_mapping(uint64_t start, uint64_t size) {
  std::ifstream maps("/proc/self/maps");
  std::string line;
  while (std::getline(maps, line)) {
    std::istringstream fields(line);
    uint64_t lo = 0, hi = 0;
    char dash = 0;
    std::string perms;
    fields >> std::hex >> lo >> dash >> hi >> perms;
    if (perms.size() >= 3 && perms[2] == 'x' && lo <= start && start + size <= hi)
      return true;
  }
  return false;
}

TEST(PerfMap, NamesJitCompiledKernelsAtExecutableAddresses) {
  ASSERT_EQ(setenv("TESSEL_PERF_MAP", "1", /*overwrite=*/1), 0);
  const std::string path = "/tmp/perf-" + std::to_string(getpid()) + ".map";
  std::remove(path.c_str());
  auto k = tl::kernel("perf_map_probe", [](tl::Ptr out, tl::Ptr in, tl::Const<int> BLOCK) {
    auto offs = tl::program_id(0) * BLOCK + tl::arange(0, BLOCK);
    tl::store(out + offs, tl::load(in + offs) * 2.0);
  });
  HostArray in(DType::f32, 256), out(DType::f32, 256);
  for (int i = 0; i < 256; ++i)
    in.set(i, i);
  out.poison();
  k.launch({4}, {}, out.arg(), in.arg(), 64);
  EXPECT_EQ(out.get(255), 510.0); // the kernel ran, so it was linked

  const std::vector<MapLine> lines = read_perf_map(path);
  const MapLine* probe = nullptr;
  for (const MapLine& l : lines)
    if (l.name.find("perf_map_probe") != std::string::npos)
      probe = &l;
  ASSERT_NE(probe, nullptr) << path << " has " << lines.size() << " lines, none naming the kernel";
  EXPECT_GT(probe->size, 0u);
  EXPECT_LT(probe->size, 1u << 20) << "a 4-line kernel is not a megabyte of code";
  EXPECT_TRUE(in_executable_mapping(probe->start, probe->size))
      << std::hex << probe->start << " + " << probe->size << " is not in an executable mapping";
  std::remove(path.c_str());
}

} // namespace
