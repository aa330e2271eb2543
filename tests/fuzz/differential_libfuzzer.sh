#!/bin/bash
# The differential fuzzer under libFuzzer without the `fuzz` preset's full sanitized build of
# libtessel (over an hour on a 2-core machine): the harness — generator, interpreter, comparison —
# is compiled with clang 19, ASan, UBSan and coverage, and linked with the release build's
# libtessel.so (not instrumented). libFuzzer's coverage is then that of the harness: which op
# kinds, element types, shapes and control flow a kernel has, not of tessel's code generators.
#
#   bash tests/fuzz/differential_libfuzzer.sh [SECONDS] [OUT_DIR]
#
# Needs build/release (cmake --build --preset release --target tessel) and clang-19 with
# libclang-rt-19-dev. New inputs go to OUT_DIR/work, crashes to OUT_DIR/crash-*.
set -euo pipefail
seconds=${1:-600}
root=$(cd "$(dirname "$0")/../.." && pwd)
out=${2:-$root/build/differential-libfuzzer}
lib=$root/build/release
mkdir -p "$out/obj" "$out/work"
flags=(-DFMT_SHARED -I"$root" -I"$root/include" -I"$root/tests/fuzz" -O1 -g -fPIC -std=c++20
       -fsanitize=fuzzer-no-link,address,undefined -fno-omit-frame-pointer)
for f in differential_fuzz fuzz_fail differential kernel_generator ir_interpreter \
         ir_interpreter_elementwise reference_scalars; do
  clang++-19 "${flags[@]}" -c "$root/tests/fuzz/$f.cpp" -o "$out/obj/$f.o"
done
clang++-19 -fsanitize=fuzzer,address,undefined "$out"/obj/*.o -o "$out/fuzz_differential" \
  -L"$lib" -Wl,-rpath,"$lib" -ltessel -lfmt
# Container-overflow annotations need every std::vector user instrumented, and LLVM's caches
# outlive the run: both would be false reports here.
ASAN_OPTIONS=detect_container_overflow=0:detect_leaks=0 nice -n 19 "$out/fuzz_differential" \
  -max_len=512 -timeout=120 -rss_limit_mb=6144 -print_final_stats=1 \
  -max_total_time="$seconds" -artifact_prefix="$out/crash-" "$out/work" \
  "$root/tests/fuzz/corpus/differential" "$root/tests/fuzz/regressions/differential"
