// Fuzz target: the simulator's PTX parser and executor (sim/src/parser.cpp, executor.cpp and the
// exec_* families) on mutated PTX of the validation kernels (sim/tests/kernels/*.cu via nvcc).
// Properties, for any bytes:
//   * parse_module returns a module or an Error (sim's API never throws: any exception fails);
//   * each of the first kernels launches on a small grid with made-up arguments (8-byte
//     parameters point at a zeroed 4 KiB buffer, others hold 64) and returns a report or an Error;
//     memory and race errors of the kernel are reports, never host crashes;
//   * a small instruction budget ends every launch, so loops the mutations make endless end in a
//     `limit` error instead of a hang.
#include "fuzz_entry.h"

#include <tessel/sim/module.h>
#include <tessel/sim/sim.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <string>
#include <vector>

namespace {

namespace sim = tessel::sim;

constexpr size_t kMaxKernels = 2;
constexpr size_t kBufferBytes = 4096;
constexpr uint64_t kWarpInstructionBudget = 20'000;

// Made-up arguments for `kernel`, or empty when a parameter is too large to fill sensibly.
std::vector<sim::KernelArg> arguments(sim::Device& device, const sim::KernelInfo& kernel) {
  std::vector<sim::KernelArg> args;
  for (const sim::ParamInfo& p : kernel.params) {
    sim::KernelArg arg;
    if (p.size == 8) {
      sim::Result<uint64_t> buffer = device.malloc(kBufferBytes);
      if (!buffer.ok() || !device.memset(*buffer, 0, kBufferBytes).ok())
        return {};
      arg = sim::KernelArg::ptr(*buffer);
    } else if (p.size <= 256) {
      arg.bytes.assign(p.size, 0);
      if (p.size >= 4) {
        int32_t n = 64;
        std::memcpy(arg.bytes.data(), &n, 4);
      }
    } else {
      return {};
    }
    args.push_back(std::move(arg));
  }
  return args;
}

void launch_each(const std::shared_ptr<const sim::Module>& module) {
  std::vector<sim::KernelInfo> kernels = sim::module_kernels(*module);
  sim::LaunchOptions options;
  options.max_warp_instructions = kWarpInstructionBudget;
  options.max_errors = 8;
  for (size_t k = 0; k < kernels.size() && k < kMaxKernels; ++k) {
    sim::Device device;
    std::vector<sim::KernelArg> args = arguments(device, kernels[k]);
    if (args.size() != kernels[k].params.size())
      continue;
    sim::Result<sim::LaunchReport> report =
        device.launch(module, kernels[k].name, {2, 1, 1}, {64, 1, 1}, 0, args, options);
    if (!report.ok() && report.error().message.empty())
      tessel::fuzz::fail("launch error without a message");
    if (std::getenv("TESSEL_FUZZ_VERBOSE"))
      std::fprintf(stderr, "  %s: %s\n", kernels[k].name.c_str(),
                   report.ok()
                       ? (report->ok() ? "ran clean" : report->errors[0].to_string().c_str())
                       : report.error().to_string().c_str());
  }
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  try {
    sim::Result<std::shared_ptr<const sim::Module>> module =
        sim::parse_module(tessel::fuzz::as_text(data, size), "fuzz.ptx");
    if (!module.ok()) {
      if (std::getenv("TESSEL_FUZZ_VERBOSE"))
        std::fprintf(stderr, "  %s\n", module.error().to_string().c_str());
      if (module.error().message.empty())
        tessel::fuzz::fail("parse error without a message");
      return 0;
    }
    launch_each(*module);
  } catch (const std::exception& e) {
    tessel::fuzz::fail(std::string("the simulator threw: ") + e.what());
  }
  return 0;
}
