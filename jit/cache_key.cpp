// Disk-cache keys: SHA-256 over the key's inputs, the compiler's identity, the host target.
#include "jit/cache_key.h"

#include "tessel/version.h"

#include <llvm/ADT/StringExtras.h>
#include <llvm/ADT/StringMap.h>
#include <llvm/Support/SHA256.h>
#include <llvm/TargetParser/Host.h>

#include <dlfcn.h>
#include <elf.h>
#include <link.h>

#include <algorithm>
#include <cstring>
#include <vector>

namespace tessel::jit {
namespace {

// Each field is hashed with its length first, so no two different inputs hash the same text.
void add_field(llvm::SHA256& h, std::string_view name, std::string_view value) {
  std::string head = std::string(name) + " " + std::to_string(value.size()) + "\n";
  h.update(llvm::StringRef(head));
  h.update(llvm::StringRef(value.data(), value.size()));
}

struct BuildIdSearch {
  uintptr_t base = 0; // load address of the object to look for
  std::string hex;    // its NT_GNU_BUILD_ID, when found
};

int find_build_id(dl_phdr_info* info, size_t, void* data) {
  auto* search = static_cast<BuildIdSearch*>(data);
  if (info->dlpi_addr != search->base)
    return 0;
  for (int i = 0; i < info->dlpi_phnum; ++i) {
    const ElfW(Phdr)& ph = info->dlpi_phdr[i];
    if (ph.p_type != PT_NOTE)
      continue;
    const char* p = reinterpret_cast<const char*>(info->dlpi_addr + ph.p_vaddr);
    const char* end = p + ph.p_memsz;
    while (p + sizeof(ElfW(Nhdr)) <= end) {
      const auto* note = reinterpret_cast<const ElfW(Nhdr)*>(p);
      const char* name = p + sizeof(ElfW(Nhdr));
      const char* desc = name + ((note->n_namesz + 3) & ~3u);
      if (note->n_type == NT_GNU_BUILD_ID && note->n_namesz == 4 &&
          std::memcmp(name, "GNU", 4) == 0) {
        search->hex = llvm::toHex(llvm::StringRef(desc, note->n_descsz), /*LowerCase=*/true);
        return 1;
      }
      p = desc + ((note->n_descsz + 3) & ~3u);
    }
  }
  return 1;
}

// The GNU build id of the binary holding this function (libtessel, or the executable when
// tessel is linked statically); "none" when the linker wrote none.
std::string binary_build_id() {
  Dl_info info{};
  if (!dladdr(reinterpret_cast<void*>(&binary_build_id), &info) || !info.dli_fbase)
    return "none";
  BuildIdSearch search;
  search.base = reinterpret_cast<uintptr_t>(info.dli_fbase);
  // dl_iterate_phdr reports the main executable with dlpi_addr 0 when it is not PIE.
  dl_iterate_phdr(&find_build_id, &search);
  if (search.hex.empty()) {
    search.base = 0;
    dl_iterate_phdr(&find_build_id, &search);
  }
  return search.hex.empty() ? "none" : search.hex;
}

} // namespace

std::string CacheKey::inputs_text() const {
  return "target: " + target + "\noptions: " + options + "\nbuild: " + build + "\n";
}

CacheKey make_cache_key(std::string ir, std::string target, std::string options) {
  CacheKey key;
  key.ir = std::move(ir);
  key.target = std::move(target);
  key.options = std::move(options);
  key.build = compiler_identity();
  llvm::SHA256 h;
  add_field(h, "tessel-cache-key", "1");
  add_field(h, "ir", key.ir);
  add_field(h, "target", key.target);
  add_field(h, "options", key.options);
  add_field(h, "build", key.build);
  std::array<uint8_t, 32> digest = h.final();
  key.hex = llvm::toHex(digest, /*LowerCase=*/true);
  return key;
}

const std::string& compiler_identity() {
  static const std::string id = build_id() + " binary " + binary_build_id();
  return id;
}

const std::string& host_cpu_target() {
  static const std::string target = [] {
    std::string s =
        "cpu " + llvm::sys::getProcessTriple() + " " + llvm::sys::getHostCPUName().str();
    // StringMap order is not meaningful: sort, so the text is canonical.
    std::vector<std::string> features;
    for (const auto& [name, enabled] : llvm::sys::getHostCPUFeatures())
      features.push_back((enabled ? "+" : "-") + name.str());
    std::sort(features.begin(), features.end());
    s += " ";
    for (size_t i = 0; i < features.size(); ++i)
      s += (i ? "," : "") + features[i];
    return s;
  }();
  return target;
}

std::string sha256_hex(std::string_view bytes) {
  std::array<uint8_t, 32> digest = llvm::SHA256::hash(
      llvm::ArrayRef<uint8_t>(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size()));
  return llvm::toHex(digest, /*LowerCase=*/true);
}

} // namespace tessel::jit
