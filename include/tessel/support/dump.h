// The one place for tessel's logging and dumps, driven by environment variables:
//   TESSEL_DUMP=ir,llvm,...   what to dump (comma-separated words, spaces allowed around them):
//     ir         the tile IR after tracing and after every pass (with the passes' statistics)
//     llvm       the LLVM IR of each compiled specialization after O3 (CPU and GPU backends)
//     asm        the host assembly of each CPU specialization
//     ptx        the PTX of each GPU specialization
//     recompile  why a kernel is specialized again (which parameter changed, and how)
//     tune       what an Autotuner chose for a new tuning key and why (tessel/jit/autotune.h)
//     all        every kind above
//   TESSEL_DUMP_DIR=path      write dumps there as files (<title>.<kind>) instead of to stderr;
//                             the directory is created (with its parents) if it is missing
// An unknown word, or a TESSEL_DUMP_DIR that cannot be created, is a tessel::Error thrown by the
// first launch or compile that reads the settings. The variables are read when first used and
// again whenever their values change.
#pragma once

#include <span>
#include <string_view>

namespace tessel::support {

// The words TESSEL_DUMP accepts, "all" last.
std::span<const std::string_view> dump_kinds();
// Throws tessel::Error when TESSEL_DUMP names an unknown kind (the message lists the valid ones)
// or when TESSEL_DUMP_DIR is set, something is to be dumped, and the directory cannot be created.
void check_dump_settings();
// True when TESSEL_DUMP names `what` (or "all"); `what` must be one of dump_kinds(). Throws as
// check_dump_settings() does.
bool dump_enabled(std::string_view what);
// Writes `text` under the heading `title` for the dump kind `what`: to stderr, or to
// $TESSEL_DUMP_DIR/<title>.<what> when that is set.
void dump(std::string_view what, std::string_view title, std::string_view text);
// A one-line warning on stderr ("tessel: warning: ...").
void warn(std::string_view message);

} // namespace tessel::support
