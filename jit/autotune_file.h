// Private: tuning files, the autotuner's memory across processes (docs/runtime.md, "Autotuning
// and tuning files").
//
// A tuning file is text, one entry per line, so that a person can read, diff and ship it:
//
//   tessel-tuning 1
//   build	tessel 0.1.0 (git 1a2b3c4d5e6f, LLVM 19.1.7)
//   # kernel	key	dtypes	device	config	how
//   matmul	M=256,N=256,K=512	f32,f32,f32	cpu znver3	BLOCK_M=32,...,num_stages=2
//   timed 0.41 ms
//
// Fields are separated by tabs; '#' lines and blank lines are comments. The first four fields are
// the tuning key (the build is the file's, line 2), the fifth the chosen config as
// TuneConfig::to_string() writes it, the sixth how it was chosen (for people; never read back).
// A file whose first line is not `tessel-tuning 1`, whose second line is not a build line, or
// with an entry line of the wrong shape is corrupt; one written by another build is stale. Either
// is ignored as a whole, with one warning per file naming it and why — a half-understood file
// could otherwise hand out a config the writer never chose.
//
// Writes are read-modify-write under an exclusive flock on `<file>.lock` (so that concurrent
// writers, in any process, never lose each other's entries), into a temporary file in the same
// directory that is fsync'd and renamed over the file (so that readers, which take no lock, see
// the old file or the new one, never a mix). A stale or corrupt file is replaced by the next
// write.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace tessel::jit {

struct TuningEntry {
  std::string kernel, key, dtypes, device, config, how;

  // The lookup key: the first four fields, tab-separated.
  std::string id() const;
};

using TuningEntries = std::map<std::string, TuningEntry>; // by id(): sorted, so files are stable

// The build a tuning file must name: tessel::build_id(). Not the binary's build id (as the disk
// cache uses): a config choice never changes results, so a relink must not discard shipped
// tuning, while a new tessel version (new code generation) must.
const std::string& tuning_build_id();

// Parses the text of a tuning file. nullopt with `error` set when it is corrupt or from another
// build than `build`.
std::optional<TuningEntries> parse_tuning_file(std::string_view text, const std::string& build,
                                               std::string& error);
std::string format_tuning_file(const TuningEntries& entries, const std::string& build);

// Reads `path`: an empty map when it does not exist; nullopt, after one warning per file and
// process, when it cannot be read, is corrupt or is stale.
std::optional<TuningEntries> read_tuning_file(const std::string& path);

// Adds (or replaces) `entry` in `path` as described above; creates the directory. Returns false,
// after one warning per file and process, when the file cannot be written. Never throws.
bool store_tuning_entry(const std::string& path, const TuningEntry& entry);

// TESSEL_TUNING_FILE; else <disk-cache root>/tuning.tsv; "" when neither exists (no cache
// directory, or TESSEL_CACHE_DISABLE=1 without TESSEL_TUNING_FILE).
std::string writable_tuning_file();
// TESSEL_TUNING_READONLY_FILES, ':'-separated.
std::vector<std::string> readonly_tuning_files();

} // namespace tessel::jit
