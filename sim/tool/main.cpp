// tessel-sim: runs a PTX kernel in the simulator from the command line (see run_command.h).
#include "run_command.h"

#include <iostream>

int main(int argc, char** argv) {
  std::vector<std::string> args(argv + 1, argv + argc);
  return tessel::sim::tool::run_command(args, std::cout, std::cerr);
}
