// tessel-opt: the tile IR on the command line. Reads a file of IR text (see ir/printer.h), verifies
// it, runs the named passes in order and prints the result; the FileCheck tests of passes drive it.
//
//   tessel-opt FILE [--passes=a,b,c] [--target T] [--num-warps N] [--num-stages S] [--verify-each]
//              [--no-locations] [--print-axis-info]
//
// GPU passes (assign-layouts, pipeline, prepare-dot-operands, allocate-shared) need an NVPTX
// --target (sm_80 ... sm_90a); --num-warps (default 4) is the kernel's warp count they plan for,
// --num-stages (default 2) the pipeline pass's depth.
//
// Errors (unreadable file, malformed or invalid IR, unknown pass) go to stderr with exit code 1.
#include "tessel/codegen/gpu.h"
#include "tessel/codegen/transforms.h"
#include "tessel/ir/parser.h"
#include "tessel/ir/pass.h"
#include "tessel/ir/printer.h"
#include "tessel/ir/verifier.h"

#include <cstdio>
#include <fstream>
#include <iostream>
#include <sstream>
#include <string>
#include <vector>

namespace {

struct Options {
  std::string file;
  std::vector<std::string> passes;
  bool verify_each = false;
  bool locations = true;
  bool print_axis_info = false; // append the axis analysis (codegen/analysis/axis_info.h)
  std::string target;           // for GPU passes; empty: none given
  int num_warps = 4;
  int num_stages = 2;
};

const char* const kUsage =
    "usage: tessel-opt FILE [--passes=a,b,c] [--target T] [--num-warps N] [--num-stages S]\n"
    "                  [--verify-each]\n"
    "                  [--no-locations] [--print-axis-info]\n";

std::vector<std::string> split(const std::string& s, char sep) {
  std::vector<std::string> out;
  std::string item;
  std::istringstream in(s);
  while (std::getline(in, item, sep))
    if (!item.empty())
      out.push_back(item);
  return out;
}

int parse_num_warps(const std::string& text) {
  size_t end = 0;
  int n = 0;
  try {
    n = std::stoi(text, &end);
  } catch (const std::exception&) {
    end = 0;
  }
  if (end != text.size() || n < 1 || n > 32 || (n & (n - 1)) != 0)
    throw tessel::Error("--num-warps must be a power of two in 1..32, found '" + text + "'");
  return n;
}

int parse_num_stages(const std::string& text) {
  size_t end = 0;
  int n = 0;
  try {
    n = std::stoi(text, &end);
  } catch (const std::exception&) {
    end = 0;
  }
  if (end != text.size() || n < 1 || n > 16)
    throw tessel::Error("--num-stages must be an integer in 1..16, found '" + text + "'");
  return n;
}

void add_pass(tessel::ir::PassManager& pm, const std::string& name, const Options& o) {
  if (!tessel::codegen::gpu::is_gpu_pass(name))
    return tessel::codegen::add_pass(pm, name);
  if (o.target.empty())
    throw tessel::Error("pass '" + name +
                        "' is a GPU pass and needs a target: add --target sm_90a "
                        "(or sm_80, sm_86, sm_89, sm_90)");
  tessel::codegen::gpu::add_gpu_pass(pm, name, tessel::codegen::Target::parse(o.target),
                                     o.num_warps, o.num_stages);
}

Options parse_args(int argc, char** argv) {
  Options o;
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    if (arg.rfind("--passes=", 0) == 0)
      o.passes = split(arg.substr(9), ',');
    else if (arg == "--target" && i + 1 < argc)
      o.target = argv[++i];
    else if (arg.rfind("--target=", 0) == 0)
      o.target = arg.substr(9);
    else if ((arg == "--num-warps" && i + 1 < argc) || arg.rfind("--num-warps=", 0) == 0)
      o.num_warps = parse_num_warps(arg == "--num-warps" ? argv[++i] : arg.substr(12));
    else if ((arg == "--num-stages" && i + 1 < argc) || arg.rfind("--num-stages=", 0) == 0)
      o.num_stages = parse_num_stages(arg == "--num-stages" ? argv[++i] : arg.substr(13));
    else if (arg == "--verify-each")
      o.verify_each = true;
    else if (arg == "--no-locations")
      o.locations = false;
    else if (arg == "--print-axis-info")
      o.print_axis_info = true;
    else if (arg == "--help" || arg == "-h")
      throw std::runtime_error(kUsage);
    else if (!arg.empty() && arg[0] == '-')
      throw tessel::Error("unknown option '" + arg + "'\n" + kUsage);
    else if (o.file.empty())
      o.file = arg;
    else
      throw tessel::Error("more than one input file\n" + std::string(kUsage));
  }
  if (o.file.empty())
    throw tessel::Error(std::string("no input file\n") + kUsage);
  return o;
}

int run(int argc, char** argv) {
  Options o = parse_args(argc, argv);
  std::ifstream in(o.file);
  if (!in)
    throw tessel::Error("cannot read '" + o.file + "'");
  std::stringstream text;
  text << in.rdbuf();
  auto module = tessel::ir::parse_module(text.str(), o.file);
  tessel::ir::verify_or_throw(*module, "after parsing");
  tessel::ir::PassManager pm(o.verify_each);
  for (const std::string& name : o.passes)
    add_pass(pm, name, o);
  pm.run(*module);
  if (!o.verify_each)
    tessel::ir::verify_or_throw(*module, "after the passes");
  std::cout << tessel::ir::print(*module, tessel::ir::PrintOptions{.locations = o.locations});
  if (o.print_axis_info)
    std::cout << tessel::codegen::gpu::print_axis_info(*module);
  return 0;
}

} // namespace

int main(int argc, char** argv) {
  try {
    return run(argc, argv);
  } catch (const tessel::Error& e) {
    std::cerr << "error: " << e.what() << "\n";
  } catch (const std::exception& e) {
    std::cerr << e.what();
  }
  return 1;
}
