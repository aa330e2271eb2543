// Private: the disk-cache key of one compiled specialization (DESIGN §6).
//
// The key is the SHA-256 of everything the compiled code depends on, written as plain text:
// the canonical tile IR right after tracing, the target (triple, CPU, features; or SM and PTX
// version), the compile options, and the compiler's identity. The same text is stored in the
// entry, so a surprising hit can be explained by reading it.
#pragma once

#include <string>
#include <string_view>

namespace tessel::jit {

struct CacheKey {
  std::string ir;      // ir::print of the module after tracing
  std::string target;  // e.g. "cpu x86_64-pc-linux-gnu znver3 +avx,+avx2,..."
  std::string options; // e.g. "opt_level=3" or "num_warps=4 num_stages=3"
  std::string build;   // compiler_identity()
  std::string hex;     // SHA-256 of the above, 64 lowercase hex digits

  // The inputs other than the IR, one "name: value" line each (for manifests and messages).
  std::string inputs_text() const;
};

// Hashes the inputs into `hex`.
CacheKey make_cache_key(std::string ir, std::string target, std::string options);

// tessel's build id plus the GNU build id of the loaded libtessel binary. The git hash alone is
// taken when CMake configures, so a rebuilt library with changed code generation (or a dirty
// tree) would otherwise reuse entries made by the old code; the binary's build id changes with
// every relink. Computed once per process.
const std::string& compiler_identity();

// The CPU backend's target as the key sees it: triple, CPU name and feature string.
const std::string& host_cpu_target();

// SHA-256 of `bytes` as 64 lowercase hex digits (entry checksums).
std::string sha256_hex(std::string_view bytes);

} // namespace tessel::jit
