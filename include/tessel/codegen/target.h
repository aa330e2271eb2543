// Target: what the code generator compiles for. A kind (the host CPU or NVIDIA's NVPTX), and for
// NVPTX the SM version, the PTX ISA version emitted, the hardware limits codegen checks against,
// and feature queries. Codegen asks the Target (`has_cp_async()`, `limits().max_shared_bytes`),
// never compares SM numbers itself (DESIGN §5 "Targets").
//
//   Target t = parse_target("sm_90a");   // or "sm_80", "sm_86", "sm_89", "sm_90", "cpu"
//   if (t.has_wgmma()) ...
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace tessel::codegen {

enum class TargetKind : uint8_t { cpu, nvptx };

// Per-block and per-thread limits of an NVPTX target (CUDA C Programming Guide, "Compute
// Capabilities", table 21).
struct TargetLimits {
  int64_t max_shared_bytes = 0;        // dynamic shared memory per block with the opt-in attribute
  int64_t max_static_shared_bytes = 0; // without the opt-in (48 KiB everywhere)
  int max_registers_per_thread = 0;
  int max_registers_per_block = 0;
  int max_threads_per_block = 0;
  // Programs (blocks) per launch along x, y, z: a grid past them is an error before any driver
  // call (jit::check_gpu_grid), naming the axis and the limit.
  std::array<int64_t, 3> max_grid{};
  int warp_size = 32;
  int shared_banks = 32; // 4-byte banks
};

class Target {
public:
  // The host CPU (the CPU backend).
  static Target cpu();
  // An NVIDIA GPU. Requires: `sm` one of 80, 86, 89, 90; `arch_specific` only with 90 (sm_90a).
  static Target nvptx(int sm, bool arch_specific = false);
  // The same as parse_target(text) below.
  static Target parse(std::string_view text);

  TargetKind kind() const { return kind_; }
  bool is_nvptx() const { return kind_ == TargetKind::nvptx; }
  // NVPTX: the SM version, e.g. 90 for sm_90 and sm_90a; 0 for the CPU.
  int sm() const { return sm_; }
  // True for the architecture-specific variants (sm_90a) whose features (wgmma, setmaxnreg) do
  // not carry over to later GPUs.
  bool arch_specific() const { return arch_specific_; }
  // The PTX ISA version the code generator emits, times ten (78 = PTX 7.8).
  int ptx_version() const { return ptx_version_; }
  // "sm_90a", "sm_80", "cpu": what parse_target accepts back.
  std::string name() const;
  // LLVM's CPU name and feature string for the NVPTX target machine ("sm_90a", "+ptx80").
  std::string llvm_cpu() const { return name(); }
  std::string llvm_features() const;
  // nvJitLink's architecture option ("-arch=sm_90a").
  std::string arch_option() const { return "-arch=" + name(); }
  const TargetLimits& limits() const { return limits_; }

  // Features.
  bool has_ldmatrix() const { return is_nvptx() && sm_ >= 75; }
  bool has_mma_sync() const { return is_nvptx() && sm_ >= 80; }
  bool has_cp_async() const { return is_nvptx() && sm_ >= 80; }
  // Native bf16 fma/min/max (sm_80) and packed bf16x2 forms; bf16 add/sub/mul are fma-based
  // before sm_90.
  bool has_bf16_math() const { return is_nvptx() && sm_ >= 80; }
  // Native f16 arithmetic (add.f16, fma.rn.f16x2).
  bool has_f16_math() const { return is_nvptx() && sm_ >= 53; }
  // atom/red .add.noftz.bf16 (sm_90); f16 (.add.noftz.f16) has it from sm_70.
  bool has_bf16_atomic_add() const { return is_nvptx() && sm_ >= 90; }
  // fp8 (e4m3, e5m2) conversions and mma: sm_89 and later.
  bool has_fp8() const { return is_nvptx() && sm_ >= 89; }
  bool has_fp8_mma() const { return has_fp8(); }
  // Tensor Memory Accelerator (cp.async.bulk.tensor) and mbarrier transaction counts: sm_90.
  bool has_tma() const { return is_nvptx() && sm_ >= 90; }
  // Thread-block clusters: sm_90.
  bool has_clusters() const { return is_nvptx() && sm_ >= 90; }
  // wgmma.mma_async: only the architecture-specific sm_90a.
  bool has_wgmma() const { return is_nvptx() && sm_ == 90 && arch_specific_; }

  bool operator==(const Target& o) const {
    return kind_ == o.kind_ && sm_ == o.sm_ && arch_specific_ == o.arch_specific_;
  }

private:
  TargetKind kind_ = TargetKind::cpu;
  int sm_ = 0;
  bool arch_specific_ = false;
  int ptx_version_ = 0;
  TargetLimits limits_;
};

// Parses "cpu", "sm_80", "sm_86", "sm_89", "sm_90", "sm_90a" (also with an "nvptx-" prefix, and
// "host" for "cpu"). Throws tessel::Error listing the valid names for anything else.
Target parse_target(std::string_view text);
// The names parse_target accepts (canonical spellings), in order.
const std::vector<std::string>& valid_target_names();

} // namespace tessel::codegen
