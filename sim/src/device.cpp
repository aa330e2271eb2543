// The public Device: global memory management, launch validation (entry, arguments, block
// and shared-memory limits), the per-launch layout of shared memory and symbols, running
// the CTAs in linear order, and turning the counters into a Profile.
#include "executor.h"

#include <tessel/sim/device.h>
#include <tessel/sim/module.h>

#include <fmt/format.h>

#include <algorithm>
#include <cstring>
#include <map>
#include <unordered_map>

namespace tessel::sim {

uint64_t GlobalMemory::allocate(size_t bytes) {
  uint64_t base = (next_ + 255) / 256 * 256;
  Allocation a;
  a.base = base;
  a.size = bytes;
  a.data = std::make_unique<uint8_t[]>(bytes ? bytes : 1);
  allocs_.emplace(base, std::move(a));
  next_ = base + bytes + 256; // a guard gap so that overruns hit no allocation
  std::fill(std::begin(recent_), std::end(recent_), nullptr);
  return base;
}

bool GlobalMemory::release(uint64_t base) {
  std::fill(std::begin(recent_), std::end(recent_), nullptr);
  auto it = allocs_.find(base);
  if (it == allocs_.end())
    return false;
  if (it->second.shadowed)
    shadow_bytes -= it->second.size * kGlobalShadowCharge;
  allocs_.erase(it);
  return true;
}

Allocation* GlobalMemory::find_slow(uint64_t addr, size_t size) {
  auto it = allocs_.upper_bound(addr);
  if (it == allocs_.begin())
    return nullptr;
  --it;
  Allocation& a = it->second;
  if (addr + size > a.base + a.size || addr + size < addr)
    return nullptr;
  std::copy_backward(std::begin(recent_), std::end(recent_) - 1, std::end(recent_));
  recent_[0] = &a;
  return &a;
}

struct Device::State {
  GlobalMemory gmem;
  std::unordered_map<std::string, std::shared_ptr<const Module>> cache;
  // Addresses of each module's .global/.const variables, allocated on first launch.
  std::map<const Module*, std::vector<uint64_t>> globals;
  std::vector<std::shared_ptr<const Module>> keep_alive;
  uint32_t launches = 0; // numbers launches for the global racecheck shadow
};

Device::Device(DeviceLimits limits) : limits_(limits), state_(std::make_unique<State>()) {}
Device::~Device() = default;

Result<uint64_t> Device::malloc(size_t bytes) { return state_->gmem.allocate(bytes); }

Status Device::free(uint64_t address) {
  if (state_->gmem.release(address))
    return {};
  Error e;
  e.kind = ErrorKind::bad_launch;
  e.message = fmt::format("free of {:#x}, which is not the start of an allocation", address);
  return e;
}

namespace {

Error range_error(uint64_t addr, size_t bytes, const char* what) {
  Error e;
  e.kind = ErrorKind::memcheck;
  e.has_address = true;
  e.address = addr;
  e.message =
      fmt::format("{} of {} bytes at {:#x} is not inside one allocation", what, bytes, addr);
  return e;
}

Error launch_error(const std::string& kernel, std::string message) {
  Error e;
  e.kind = ErrorKind::bad_launch;
  e.kernel = kernel;
  e.message = std::move(message);
  return e;
}

} // namespace

Status Device::memcpy_to_device(uint64_t dst, const void* src, size_t bytes) {
  if (bytes == 0)
    return {};
  uint8_t* p = state_->gmem.host(dst, bytes);
  if (!p)
    return range_error(dst, bytes, "memcpy to device");
  std::memcpy(p, src, bytes);
  return {};
}

Status Device::memcpy_to_host(void* dst, uint64_t src, size_t bytes) {
  if (bytes == 0)
    return {};
  uint8_t* p = state_->gmem.host(src, bytes);
  if (!p)
    return range_error(src, bytes, "memcpy to host");
  std::memcpy(dst, p, bytes);
  return {};
}

Status Device::memset(uint64_t dst, int value, size_t bytes) {
  if (bytes == 0)
    return {};
  uint8_t* p = state_->gmem.host(dst, bytes);
  if (!p)
    return range_error(dst, bytes, "memset");
  std::memset(p, value, bytes);
  return {};
}

Result<LaunchReport> Device::launch(std::string_view ptx, std::string_view entry, Dim3 grid,
                                    Dim3 block, uint32_t dynamic_smem,
                                    std::span<const KernelArg> args, const LaunchOptions& options) {
  std::string key(ptx);
  auto it = state_->cache.find(key);
  if (it == state_->cache.end()) {
    auto parsed = parse_module(ptx);
    if (!parsed.ok())
      return parsed.error();
    it = state_->cache.emplace(std::move(key), parsed.value()).first;
  }
  return launch(it->second, entry, grid, block, dynamic_smem, args, options);
}

Result<LaunchReport> Device::launch(const std::shared_ptr<const Module>& module_ptr,
                                    std::string_view entry_name, Dim3 grid, Dim3 block,
                                    uint32_t dynamic_smem, std::span<const KernelArg> args,
                                    const LaunchOptions& options) {
  const Module& m = *module_ptr;
  std::string name(entry_name);
  int fi = m.find_function(name);
  if (fi < 0 || !m.functions[fi].is_entry || !m.functions[fi].defined) {
    std::string names;
    for (auto& f : m.functions)
      if (f.is_entry)
        names += (names.empty() ? "" : ", ") + f.name;
    return launch_error(name, fmt::format("kernel '{}' is not in the module (its kernels: {})",
                                          name, names.empty() ? "none" : names));
  }
  const Function& entry = m.functions[fi];
  if (args.size() != entry.params.size())
    return launch_error(name, fmt::format("kernel '{}' takes {} arguments, {} were given", name,
                                          entry.params.size(), args.size()));
  for (size_t i = 0; i < args.size(); ++i)
    if (args[i].bytes.size() != entry.params[i].size)
      return launch_error(name, fmt::format("argument {} ('{}') has {} bytes, the parameter has {}",
                                            i, entry.params[i].name, args[i].bytes.size(),
                                            entry.params[i].size));
  const uint64_t threads = block.count();
  if (block.x == 0 || block.y == 0 || block.z == 0 || grid.x == 0 || grid.y == 0 || grid.z == 0)
    return launch_error(name, fmt::format("grid ({},{},{}) and block ({},{},{}) must not be empty",
                                          grid.x, grid.y, grid.z, block.x, block.y, block.z));
  if (threads > limits_.max_threads_per_block || block.x > limits_.max_block.x ||
      block.y > limits_.max_block.y || block.z > limits_.max_block.z)
    return launch_error(
        name, fmt::format("block ({},{},{}) has {} threads; the limit is {} threads "
                          "and ({},{},{}) per dimension",
                          block.x, block.y, block.z, threads, limits_.max_threads_per_block,
                          limits_.max_block.x, limits_.max_block.y, limits_.max_block.z));
  if (grid.x > limits_.max_grid.x || grid.y > limits_.max_grid.y || grid.z > limits_.max_grid.z)
    return launch_error(name, fmt::format("grid ({},{},{}) is over the limit ({},{},{})", grid.x,
                                          grid.y, grid.z, limits_.max_grid.x, limits_.max_grid.y,
                                          limits_.max_grid.z));

  Launch L;
  L.module = &m;
  L.entry = &entry;
  L.gmem = &state_->gmem;
  L.options = options;
  L.grid = grid;
  L.block = block;
  L.threads_per_cta = static_cast<uint32_t>(threads);
  L.warps_per_cta = static_cast<uint32_t>((threads + 31) / 32);
  L.dynamic_smem = dynamic_smem;

  // Symbols: shared layout for this entry, module globals, parameters, locals.
  auto& globals = state_->globals[&m];
  if (globals.empty()) {
    globals.assign(m.symbols.size(), 0);
    for (size_t i = 0; i < m.symbols.size(); ++i) {
      const Symbol& s = m.symbols[i];
      if (s.space != Space::global && s.space != Space::const_)
        continue;
      uint64_t addr = state_->gmem.allocate(s.size);
      std::memset(state_->gmem.host(addr, s.size ? s.size : 0), 0, s.size);
      if (!s.init.empty())
        std::memcpy(state_->gmem.host(addr, s.init.size()), s.init.data(), s.init.size());
      globals[i] = addr;
    }
    state_->keep_alive.push_back(module_ptr);
  }
  L.symbol_values.assign(m.symbols.size(), 0);
  uint32_t smem = 0, dyn_align = 16;
  for (size_t i = 0; i < m.symbols.size(); ++i) {
    const Symbol& s = m.symbols[i];
    switch (s.space) {
    case Space::shared: {
      bool mine = s.function < 0 || !m.functions[s.function].is_entry || s.function == fi;
      if (!mine)
        break;
      if (s.extern_dynamic) {
        dyn_align = std::max(dyn_align, s.align);
        break;
      }
      smem = (smem + s.align - 1) / s.align * s.align;
      L.symbol_values[i] = smem;
      smem += s.size;
      break;
    }
    case Space::global:
    case Space::const_:
      L.symbol_values[i] = globals[i];
      break;
    case Space::local:
      L.symbol_values[i] = s.local_offset;
      break;
    case Space::param:
      if (s.function == fi && s.param_index >= 0)
        L.symbol_values[i] = kParamWindow + entry.params[s.param_index].offset;
      else
        L.symbol_values[i] = s.local_offset;
      break;
    case Space::generic:
      break;
    }
  }
  const uint32_t static_smem = smem;
  if (static_smem > limits_.max_static_shared)
    return launch_error(name, fmt::format("kernel '{}' declares {} bytes of static shared memory; "
                                          "the limit is {}",
                                          name, static_smem, limits_.max_static_shared));
  uint32_t dyn_base = (smem + dyn_align - 1) / dyn_align * dyn_align;
  for (size_t i = 0; i < m.symbols.size(); ++i)
    if (m.symbols[i].space == Space::shared && m.symbols[i].extern_dynamic)
      L.symbol_values[i] = dyn_base;
  L.smem_bytes = dynamic_smem ? dyn_base + dynamic_smem : static_smem;
  if (L.smem_bytes > limits_.max_shared_per_block)
    return launch_error(name,
                        fmt::format("kernel '{}' needs {} bytes of shared memory ({} static + "
                                    "{} dynamic); the limit is {}",
                                    name, L.smem_bytes, static_smem, dynamic_smem,
                                    limits_.max_shared_per_block));
  L.params.assign(entry.param_bytes, 0);
  for (size_t i = 0; i < args.size(); ++i)
    std::memcpy(L.params.data() + entry.params[i].offset, args[i].bytes.data(),
                args[i].bytes.size());
  for (auto* v :
       {&L.warp_exec, &L.thread_exec, &L.shared_requests, &L.wavefronts, &L.ideal_wavefronts}) {
    v->resize(m.functions.size());
    for (size_t f = 0; f < m.functions.size(); ++f)
      (*v)[f].assign(m.functions[f].code.size(), 0);
  }
  LaunchReport report;
  L.report = &report;
  L.generation = ++state_->launches;

  Cta cta;
  const uint32_t lb = m.local_bytes;
  for (uint32_t z = 0; z < grid.z && !L.aborted; ++z)
    for (uint32_t y = 0; y < grid.y && !L.aborted; ++y)
      for (uint32_t x = 0; x < grid.x && !L.aborted; ++x) {
        cta.id = {x, y, z};
        cta.linear = (z * grid.y + y) * grid.x + x;
        for (auto& b : cta.barriers)
          b = BarrierState{};
        cta.smem.assign(L.smem_bytes, 0);
        cta.shadow.reset(L.smem_bytes);
        cta.local.assign(size_t(L.warps_per_cta) * 32 * lb, 0);
        cta.local_init.assign(size_t(L.warps_per_cta) * 32 * lb, 0);
        cta.warps.resize(L.warps_per_cta);
        for (uint32_t w = 0; w < L.warps_per_cta; ++w) {
          Warp& warp = cta.warps[w];
          warp = Warp{};
          warp.index = w;
          uint32_t n = std::min<uint32_t>(32, L.threads_per_cta - w * 32);
          warp.valid = n == 32 ? 0xffffffffu : (1u << n) - 1;
          warp.vc.assign(L.warps_per_cta, 0);
          warp.vc[w] = 1;
          init_warp_frame(L, cta, warp);
        }
        run_cta(L, cta);
      }

  // Profile.
  Profile& p = report.profile;
  p.warp_instructions = L.warp_instructions;
  std::map<std::string, OpcodeCount> ops;
  std::map<int, LineProfile> lines;
  for (size_t f = 0; f < m.functions.size(); ++f) {
    const Function& fn = m.functions[f];
    for (size_t pc = 0; pc < fn.code.size(); ++pc) {
      uint64_t we = L.warp_exec[f][pc];
      if (!we)
        continue;
      const Inst& in = fn.code[pc];
      uint64_t te = L.thread_exec[f][pc];
      p.thread_instructions += te;
      OpcodeCount& oc = ops[op_key(in.op)];
      oc.opcode = op_key(in.op);
      oc.warp_executions += we;
      oc.thread_instructions += te;
      LineProfile& lp = lines[in.line];
      if (lp.opcode.empty()) {
        lp.ptx_line = in.line;
        lp.source_line = in.loc_line;
        lp.opcode = in.mnemonic < m.mnemonics.size() ? m.mnemonics[in.mnemonic] : op_key(in.op);
      }
      lp.warp_executions += we;
      lp.thread_instructions += te;
      lp.shared_requests += L.shared_requests[f][pc];
      lp.wavefronts += L.wavefronts[f][pc];
      lp.ideal_wavefronts += L.ideal_wavefronts[f][pc];
    }
  }
  for (auto& [k, v] : ops)
    p.opcodes.push_back(v);
  for (auto& [k, v] : lines)
    p.lines.push_back(v);
  return report;
}

Result<LaunchReport> Device::launch_with_param_pointers(const std::shared_ptr<const Module>& module,
                                                        std::string_view entry, Dim3 grid,
                                                        Dim3 block, uint32_t dynamic_smem,
                                                        void* const* params,
                                                        const LaunchOptions& options) {
  std::vector<KernelArg> args;
  for (const KernelInfo& k : module_kernels(*module)) {
    if (k.name != entry)
      continue;
    for (size_t i = 0; i < k.params.size(); ++i) {
      KernelArg a;
      a.bytes.resize(k.params[i].size);
      if (!params || !params[i])
        return launch_error(
            k.name, fmt::format("parameter {} ('{}') has no value pointer", i, k.params[i].name));
      std::memcpy(a.bytes.data(), params[i], k.params[i].size);
      args.push_back(std::move(a));
    }
  }
  // An unknown entry is reported by launch().
  return launch(module, entry, grid, block, dynamic_smem, args, options);
}

} // namespace tessel::sim
