// The differential check (differential.h): trace, interpret, run on the CPU backend and on the
// simulated GPU, compare, and write the report of a disagreement.
#include "differential.h"

#include "ir_interpreter.h"
#include "kernel_generator.h"

#include "tessel/codegen/gpu.h"
#include "tessel/error.h"
#include "tessel/ir/parser.h"
#include "tessel/runtime/device.h"
#include "tessel/runtime/device_buffer.h"

#include <array>
#include <cinttypes>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <memory>

namespace tessel::fuzz {

namespace {

namespace rt = tessel::runtime;

// The three inputs and the output of one run, as bytes; index 0 is the output.
using Buffers = std::array<std::vector<uint8_t>, 4>;

DType dtype_of_buffer(const KernelShape& s, size_t i) {
  return i == 0 ? s.output : s.inputs[i - 1];
}
DType kind(DType t) { return static_cast<DType>(t); }

Buffers make_buffers(const KernelShape& s) {
  return {make_poisoned_output(s), make_input(s, 0), make_input(s, 1), make_input(s, 2)};
}

bool sim_usable() {
  return rt::sim_available() && std::filesystem::exists(codegen::gpu::libdevice_path()) &&
         std::filesystem::exists(codegen::gpu::nvjitlink_path());
}

// The fuzzer compiles thousands of one-off kernels: keep them out of the user's disk cache unless
// a cache directory was chosen on purpose (the test suite's).
void keep_out_of_the_disk_cache() {
  if (!std::getenv("TESSEL_CACHE_DIR"))
    setenv("TESSEL_CACHE_DISABLE", "1", /*overwrite=*/0);
}

TensorView host_view(std::vector<uint8_t>& bytes, DType t) {
  return TensorView(bytes.data(), t, {int64_t(bytes.size() / dtype_bytes(t))});
}

void run_on_cpu(const Kernel& k, const KernelShape& s, Buffers& b) {
  LaunchOptions cpu;
  cpu.device = DeviceKind::cpu;
  cpu.num_warps = s.num_warps;
  k.launch({s.programs}, cpu, host_view(b[0], s.output), host_view(b[1], s.inputs[0]),
           host_view(b[2], s.inputs[1]), host_view(b[3], s.inputs[2]), int(s.n0), int(s.n1),
           int(s.trips));
}

void run_on_sim(const Kernel& k, const KernelShape& s, Buffers& b) {
  std::vector<rt::DeviceBuffer> dev;
  for (const std::vector<uint8_t>& host : b) {
    dev.push_back(rt::DeviceBuffer::allocate_on(DeviceKind::sim, host.size()));
    dev.back().copy_from_host(host.data(), host.size());
  }
  auto view = [&](size_t i) {
    DType t = dtype_of_buffer(s, i);
    return dev[i].view(t, {int64_t(b[i].size() / dtype_bytes(t))});
  };
  LaunchOptions sim;
  sim.num_warps = s.num_warps;
  k.launch({s.programs}, sim, view(0), view(1), view(2), view(3), int(s.n0), int(s.n1),
           int(s.trips));
  for (size_t i = 0; i < b.size(); ++i)
    dev[i].copy_to_host(b[i].data(), b[i].size());
}

// The interpreter's result: the output bytes and their error bounds.
struct Reference {
  std::vector<InterpBuffer> buffers;
};

Reference interpret_kernel(const std::string& ir_text, const KernelShape& s, const Buffers& b) {
  std::unique_ptr<ir::Module> m = ir::parse_module(ir_text, "traced.tir");
  Reference ref;
  for (size_t i = 0; i < b.size(); ++i)
    ref.buffers.emplace_back(kind(dtype_of_buffer(s, i)), b[i]);
  const InterpArg args[] = {{0, 0}, {1, 0}, {2, 0}, {3, 0}, {-1, s.n0}, {-1, s.n1}, {-1, s.trips}};
  ProgramIndex program;
  program.count[0] = s.programs;
  for (int64_t p = 0; p < s.programs; ++p) {
    program.id[0] = p;
    interpret(*m->functions.at(0), args, ref.buffers, program);
  }
  return ref;
}

std::string show(DType t, const uint8_t* p) {
  Elem e = load_elem(kind(t), p);
  char buf[96];
  if (dtype_is_float(t)) {
    uint64_t bits = 0;
    std::memcpy(&bits, p, dtype_bytes(t));
    std::snprintf(buf, sizeof buf, "%.9g (bits 0x%" PRIx64 ")", e.f, bits);
  } else {
    std::snprintf(buf, sizeof buf, "%" PRId64, e.i);
  }
  return buf;
}

std::string report(const std::string& what, const KernelShape& s, const std::string& ir_text,
                   const Buffers& inputs, int64_t at, const std::vector<std::string>& results) {
  std::string r = "differential fuzzer: " + what + "\n  kernel: " + s.str() + "\n";
  if (at >= 0) {
    const int64_t tile = s.tile_elements(), half = s.buffer_elements(), in_half = at % half;
    r += "  first differing element: out[" + std::to_string(at) + "] (" +
         (at < half ? "first" : "second") + " store, program " + std::to_string(in_half / tile) +
         ", element " + std::to_string(in_half % tile) + " of its tile)\n";
    for (const std::string& line : results)
      r += "    " + line + "\n";
    r += "  inputs at that index:";
    for (size_t i = 1; i < 4; ++i)
      r += std::string(" ") + "abc"[i - 1] + " = " +
           show(s.inputs[i - 1], inputs[i].data() + size_t(in_half) * dtype_bytes(s.inputs[i - 1]));
    r += "\n";
  }
  return r + "  IR as traced:\n" + ir_text;
}

bool inputs_unchanged(const Buffers& before, const Buffers& after) {
  return before[1] == after[1] && before[2] == after[2] && before[3] == after[3];
}

// Element-by-element agreement of one backend with the reference.
bool agrees(DType k, const Elem& ref, const Elem& got) {
  if (ref.err == 0)
    return same_bits(k, ref, got);
  if (std::isnan(ref.f) || std::isnan(got.f))
    return std::isnan(ref.f) && std::isnan(got.f);
  if (std::isinf(ref.f) || std::isinf(got.f))
    return ref.f == got.f;
  return std::fabs(ref.f - got.f) <= ref.err;
}

} // namespace

OutputCompare compare_outputs(uint8_t dtype, const std::vector<uint8_t>& reference,
                              const std::vector<double>& bounds, const std::vector<uint8_t>& cpu,
                              const std::vector<uint8_t>* sim) {
  const DType t = static_cast<DType>(dtype);
  const size_t width = dtype_bytes(t);
  OutputCompare c;
  for (size_t i = 0; i < bounds.size(); ++i) {
    if (std::isinf(bounds[i])) {
      ++c.opaque;
      continue;
    }
    (bounds[i] == 0 ? c.exact : c.bounded) += 1;
    Elem ref = load_elem(kind(t), reference.data() + i * width);
    ref.err = bounds[i];
    bool ok = agrees(kind(t), ref, load_elem(kind(t), cpu.data() + i * width));
    if (sim)
      ok = ok && agrees(kind(t), ref, load_elem(kind(t), sim->data() + i * width));
    if (ok)
      continue;
    if (c.first_difference < 0)
      c.first_difference = int64_t(i);
    ++c.differences;
  }
  return c;
}

DifferentialResult run_differential(std::span<const uint8_t> bytes) {
  keep_out_of_the_disk_cache();
  DifferentialResult result;
  Outcome& out = result.outcome;
  const KernelShape s = decode_shape(bytes);
  const Kernel k = make_kernel(bytes, s);
  const Buffers inputs = make_buffers(s);
  Buffers cpu = inputs, sim = inputs;
  std::string ir_text;
  try {
    ir_text = k.ir_for(/*optimized=*/false, host_view(cpu[0], s.output),
                       host_view(cpu[1], s.inputs[0]), host_view(cpu[2], s.inputs[1]),
                       host_view(cpu[3], s.inputs[2]), int(s.n0), int(s.n1), int(s.trips));
  } catch (const Error& e) {
    out.kind = Outcome::Kind::untraceable;
    out.detail = e.what();
    return result;
  }
  out.ir = ir_text;
  out.simulated = sim_usable();
  Reference ref;
  try {
    ref = interpret_kernel(ir_text, s, inputs);
  } catch (const Unsupported& e) {
    out.kind = Outcome::Kind::skipped;
    out.detail = e.what();
    return result;
  } catch (const InvalidKernel& e) {
    result.disagreement =
        report(std::string("the interpreter says the kernel is invalid: ") + e.what(), s, ir_text,
               inputs, -1, {});
    return result;
  }
  auto failed = [&](const char* where, const std::exception& e) {
    result.disagreement =
        report(std::string(where) + " failed on a kernel that traced: " + e.what(), s, ir_text,
               inputs, -1, {});
    return result;
  };
  try {
    run_on_cpu(k, s, cpu);
  } catch (const std::exception& e) {
    return failed("the CPU backend", e);
  }
  if (out.simulated) {
    try {
      run_on_sim(k, s, sim);
    } catch (const std::exception& e) {
      return failed("the simulated GPU (sm_80)", e);
    }
  }
  if (!inputs_unchanged(inputs, cpu) || (out.simulated && !inputs_unchanged(inputs, sim))) {
    result.disagreement =
        report("a backend wrote into an input buffer", s, ir_text, inputs, -1, {});
    return result;
  }
  const InterpBuffer& want = ref.buffers[0];
  OutputCompare c = compare_outputs(uint8_t(s.output), want.bytes, want.err, cpu[0],
                                    out.simulated ? &sim[0] : nullptr);
  out.exact = c.exact;
  out.bounded = c.bounded;
  out.opaque = c.opaque;
  if (c.first_difference < 0)
    return result;
  const size_t at = size_t(c.first_difference) * dtype_bytes(s.output);
  char bound[64];
  std::snprintf(bound, sizeof bound, " (bound %g)", want.err[size_t(c.first_difference)]);
  std::vector<std::string> lines = {"interpreter: " + show(s.output, want.bytes.data() + at) +
                                        bound,
                                    "cpu:         " + show(s.output, cpu[0].data() + at)};
  if (out.simulated)
    lines.push_back("sim (sm_80): " + show(s.output, sim[0].data() + at));
  result.disagreement =
      report(std::to_string(c.differences) +
                 " output element(s) differ between the CPU backend, the simulated GPU and the "
                 "IR interpreter",
             s, ir_text, inputs, c.first_difference, lines);
  return result;
}

} // namespace tessel::fuzz
