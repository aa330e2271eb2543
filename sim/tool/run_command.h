// The `tessel-sim` command line: `tessel-sim run FILE.ptx --entry NAME --grid X[,Y,Z]
// --block X[,Y,Z] [--smem BYTES] --arg SPEC... [--out DIR]`, plus `list` and `--help`.
// Kept apart from main() so that tests can run it in-process.
#pragma once

#include <ostream>
#include <string>
#include <vector>

namespace tessel::sim::tool {

// Runs the command with `args` (without the program name). Returns the exit status:
// 0 success, 1 the kernel ran and errors were found, 2 bad usage or input.
int run_command(const std::vector<std::string>& args, std::ostream& out, std::ostream& err);

// The text printed by --help.
std::string help_text();

} // namespace tessel::sim::tool
