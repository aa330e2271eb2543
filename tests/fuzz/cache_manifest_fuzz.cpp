// Fuzz target: the disk-cache manifest reader (jit/cache_manifest.cpp), which reads whatever
// another process, a full disk or a user left in manifest.json. Properties, for any bytes:
//   * manifest_from_json returns a manifest, or nullopt with a non-empty error; it never throws;
//   * a manifest it accepts prints (manifest_to_json) and reads back to the same text.
// Mutations rarely keep `manifest_sha256` right, so most inputs stop at the checksum; the seeds
// (real entries of the test cache) cover the accepting path.
#include "fuzz_entry.h"

#include "jit/cache_manifest.h"

#include <exception>
#include <string>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using tessel::jit::Manifest;
  std::string error;
  std::optional<Manifest> m;
  try {
    m = tessel::jit::manifest_from_json(tessel::fuzz::as_text(data, size), error);
  } catch (const std::exception& e) {
    tessel::fuzz::fail(std::string("manifest_from_json threw: ") + e.what());
  }
  if (!m) {
    if (error.empty())
      tessel::fuzz::fail("manifest rejected without an error");
    return 0;
  }
  std::string printed = tessel::jit::manifest_to_json(*m);
  std::string error2;
  std::optional<Manifest> again = tessel::jit::manifest_from_json(printed, error2);
  if (!again)
    tessel::fuzz::fail("a printed manifest does not read back: " + error2 + "\n" + printed);
  if (tessel::jit::manifest_to_json(*again) != printed)
    tessel::fuzz::fail("manifest print/read is not a fixed point:\n" + printed);
  return 0;
}
