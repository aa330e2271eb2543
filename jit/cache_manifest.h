// Private: the JSON manifest of a disk-cache entry — what the entry holds and how to check it.
//
//   {"format": 1, "key": "<sha256>", "kernel": "softmax", "entry": "softmax", "backend": "cpu",
//    "created": 1732480000, "numbers": {"max_stack_bytes": 8192},
//    "files": [{"name": "object.o", "bytes": 5120, "sha256": "..."}, ...],
//    "key_inputs": {"target": "cpu x86_64-...", "options": "opt_level=3", "build": "tessel ..."},
//    "manifest_sha256": "..."}
//
// `manifest_sha256` is the SHA-256 of the manifest printed without that field (the same printer,
// so the text is canonical); a manifest whose fields do not hash to it is not a manifest.
//
// The traced IR, the fourth key input, is the file `key.ir` of the entry.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace tessel::jit {

// 2: with manifest_sha256.
inline constexpr int kManifestFormat = 2;

struct Manifest {
  struct File {
    std::string name;
    int64_t bytes = 0;
    std::string sha256;
  };
  int format = kManifestFormat;
  std::string key;
  std::string kernel, entry, backend;
  int64_t created = 0; // seconds since the epoch
  std::map<std::string, int64_t> numbers;
  std::vector<File> files;
  std::string target, options, build; // the key's inputs

  const File* file(std::string_view name) const;
};

std::string manifest_to_json(const Manifest& m);
// nullopt with `error` set when `text` is not a manifest of this format.
std::optional<Manifest> manifest_from_json(std::string_view text, std::string& error);

} // namespace tessel::jit
