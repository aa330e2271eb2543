// The one place for tessel's logging and dumps, driven by environment variables:
//   TESSEL_DUMP=ir,llvm,asm,recompile,...   what to dump (comma-separated; "all" for everything)
//   TESSEL_DUMP_DIR=path                    write dumps there as files instead of to stderr
#pragma once

#include <string_view>

namespace tessel::support {

// True when TESSEL_DUMP names `what` (or "all"). Read once per process.
bool dump_enabled(std::string_view what);
// Writes `text` under the heading `title` for the dump kind `what`: to stderr, or to
// $TESSEL_DUMP_DIR/<title>.<what> when that is set.
void dump(std::string_view what, std::string_view title, std::string_view text);
// A one-line warning on stderr ("tessel: warning: ...").
void warn(std::string_view message);

} // namespace tessel::support
