// The `tessel` command: demo, version (and later compile, cache, doctor).
#include "tessel/codegen/cpu.h"
#include "tessel/samples/samples.h"
#include "tessel/version.h"

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <string>

int run_compile_command(int argc, char** argv); // compile_command.cpp

namespace {

void print_usage(std::FILE* out) {
  std::fprintf(
      out,
      "usage: tessel COMMAND\n"
      "\n"
      "commands:\n"
      "  demo      run every sample kernel on the CPU backend and compare it with a plain\n"
      "            C++ reference (max abs / rel error, first-call and warm times)\n"
      "  version   print tessel's version, build id and LLVM target\n"
      "  compile   compile a registered kernel (a sample, or one of a library given with\n"
      "            --load LIB.so) for a GPU target or the CPU: ir, llvm, ptx, cubin, stats\n"
      "  cache     stats|list|clear|verify: the on-disk kernel cache (tessel cache help)\n"
      "  doctor    what this machine has and lacks: LLVM, CUDA toolkit, nvJitLink,\n"
      "            driver, GPUs, kernel cache\n"
      "  embed     all-MiniLM-L6-v2 sentence embeddings of TEXT... on tessel (tessel embed\n"
      "            --help; samples/minilm/README.md)\n"
      "  aot       compile registered kernels ahead of time for GPU targets into a bundle\n"
      "            (cubins, PTX, a C++ header) that libtessel_runtime loads without LLVM\n"
      "  prebuild  compile the stdlib's kernels for sm_80..sm_90a into a read-only cache tier\n"
      "            (what cmake --install does with -DTESSEL_PREBUILD_STDLIB=ON)\n"
      "  help      print this message\n"
      "\n"
      "environment: TESSEL_DUMP=ir,llvm,asm,ptx,recompile  TESSEL_DUMP_DIR=path\n"
      "             TESSEL_MAX_RECOMPILES=N  TESSEL_VERIFY_EACH=1  TESSEL_CPU_THREADS=N\n"
      "             TESSEL_CACHE_DIR=path  TESSEL_CACHE_DISABLE=1  TESSEL_DEVICE=cuda|sim\n"
      "             (README.md lists them all)\n");
}

int run_demo() {
  std::printf("tessel demo: sample kernels written in the C++ tile language, compiled by LLVM\n"
              "for this CPU (%s), checked against plain C++ references.\n"
              "The first call traces and compiles (or loads from the disk cache on a later run);\n"
              "the warm run does neither.\n\n",
              tessel::codegen::cpu::host_description().c_str());
  std::printf("%-11s %-10s %-10s %-8s %-11s %-9s  %s\n", "sample", "max abs", "max rel", "status",
              "first call", "warm run", "what it computed");
  int failures = 0;
  for (const auto& sample : tessel::samples::demo_samples()) {
    try {
      tessel::samples::DemoResult r = sample.run();
      std::printf("%-11s %-10.2e %-10.2e %-8s %8.1f ms %6.2f ms  %s\n", r.name.c_str(),
                  r.max_abs_error, r.max_rel_error, r.ok() ? "ok" : "WRONG", r.first_ms, r.run_ms,
                  r.what.c_str());
      if (!r.ok()) {
        std::printf("            error %.3g exceeds the tolerance %.3g\n", r.max_abs_error,
                    r.tolerance);
        ++failures;
      }
    } catch (const std::exception& e) {
      std::printf("%-11s FAILED: %s\n", sample.name, e.what());
      ++failures;
    }
  }
  std::printf("\n%s\n", failures ? "some samples FAILED" : "all samples match their references");
  return failures ? 1 : 0;
}

int run_version() {
  std::printf("%s\nhost: %s\n", tessel::build_id().c_str(),
              tessel::codegen::cpu::host_description().c_str());
  return 0;
}

} // namespace

int run_cache_command(int argc, char** argv);    // cache_command.cpp
int run_doctor_command();                        // doctor_command.cpp
int run_embed_command(int argc, char** argv);    // embed_command.cpp
int run_aot_command(int argc, char** argv);      // aot_command.cpp
int run_prebuild_command(int argc, char** argv); // prebuild_command.cpp

int main(int argc, char** argv) {
  if (argc < 2) {
    print_usage(stderr);
    return 2;
  }
  std::string cmd = argv[1];
  try {
    if (cmd == "demo")
      return run_demo();
    if (cmd == "compile")
      return run_compile_command(argc - 2, argv + 2);
    if (cmd == "version" || cmd == "--version")
      return run_version();
    if (cmd == "cache")
      return run_cache_command(argc - 1, argv + 1);
    if (cmd == "doctor")
      return run_doctor_command();
    if (cmd == "embed")
      return run_embed_command(argc - 2, argv + 2);
    if (cmd == "aot")
      return run_aot_command(argc - 2, argv + 2);
    if (cmd == "prebuild")
      return run_prebuild_command(argc - 2, argv + 2);
    if (cmd == "help" || cmd == "--help" || cmd == "-h") {
      print_usage(stdout);
      return 0;
    }
  } catch (const std::exception& e) {
    std::fprintf(stderr, "tessel: %s\n", e.what());
    return 1;
  }
  std::fprintf(stderr, "tessel: unknown command '%s'\n\n", cmd.c_str());
  print_usage(stderr);
  return 2;
}
