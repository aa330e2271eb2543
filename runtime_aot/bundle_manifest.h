// Private: the manifest of an ahead-of-time bundle (DIR/manifest.tsv) — one printer and one
// parser, shared by `tessel aot` (which writes it) and libtessel_runtime (which reads it), so the
// two cannot drift. No LLVM here: libtessel_runtime links this.
//
// The format is text, one record per line, fields separated by tabs:
//
// clang-format off
//   tessel-aot-bundle  1                       bundle format (kBundleFormat)
//   kernel-abi         1                       argument packing (kKernelAbi)
//   tessel             0.1.0                   the version that made it
//   build              tessel 0.1.0 (git …, LLVM 19.1.7)
//   kernel  vector_add  entry vector_add  num_warps 4  num_stages 2
//   param   out  ptr  f32  a16                 a pointer, assumed 16-byte aligned (or a1)
//   param   n    i32  -    d16                 an Int: divisible by 16 (d16), any (d1), 1 (one)
//   param   s    f64  -    -                   a tl::Float64 (f32: a tl::Float)
//   const   BLOCK 1024                         compiled in, not an argument
//   ir      vector_add.tir  <bytes>  <fnv64>   the traced tile IR (the JIT fallback compiles it)
//   target  sm_90a  <shared bytes>  <cubin file> <bytes> <fnv64>  <ptx file> <bytes> <fnv64>
// clang-format on
//
// Checksums are 64-bit FNV-1a in hex: they catch a truncated or damaged file, which is all a
// bundle needs (it is not a security boundary; sign the directory if that matters).
#pragma once

#include "tessel/dtype.h"

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace tessel::aot::format {

enum class ArgKind : uint8_t { ptr, i32, f32, f64 }; // f64: a tl::Float64

// One argument of the compiled code (Const parameters are not arguments).
struct Param {
  std::string name;
  ArgKind kind = ArgKind::ptr;
  DType dtype = DType::f32; // ptr: the element type
  int alignment = 16;       // ptr: 16 or 1
  int divisibility = 16;    // i32: 16 or 1
  bool equals_one = false;  // i32: compiled for the value 1
};

struct File {
  std::string name; // relative to the bundle directory
  uint64_t size = 0;
  uint64_t hash = 0;
};

struct TargetCode {
  std::string target; // "sm_80"
  int64_t shared_bytes = 0;
  File cubin, ptx;
};

struct Kernel {
  std::string name, entry;
  int num_warps = 4, num_stages = 2;
  std::vector<Param> params;
  std::vector<std::pair<std::string, std::string>> constants; // name, value (for people)
  File ir;
  std::vector<TargetCode> targets;
};

struct Manifest {
  int format = 0, abi = 0;
  std::string tessel_version, build;
  std::vector<Kernel> kernels;
};

uint64_t fnv1a(std::string_view bytes);
File file_record(std::string name, std::string_view contents);

std::string print(const Manifest& m);
// Throws tessel::Error naming `path` and the line for anything malformed. Versions are not
// checked here (see check_versions).
Manifest parse(std::string_view text, const std::string& path);
// Throws tessel::Error when the bundle's format, ABI or tessel major.minor differ from this
// library's.
void check_versions(const Manifest& m, const std::string& path);

// "out:ptr:f32:a16 n:i32:d16": what the generated header packs (KernelAbi::params).
std::string params_text(const Kernel& k);

} // namespace tessel::aot::format
