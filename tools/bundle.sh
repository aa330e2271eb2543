#!/usr/bin/env bash
# tools/bundle.sh: build tessel with LLVM linked statically (the `static-llvm` preset) and pack a
# self-contained tarball — the `tessel` command, libtessel, every test, sample and benchmark —
# that runs on an x86-64 Linux machine with the NVIDIA driver (and CUDA 13) but no LLVM.
# See docs/bundle.md.
#
#   tools/bundle.sh [OUTPUT.tar.gz]        default: build/tessel-bundle-<version>-<git>.tar.gz
#
# Environment: JOBS (parallel compile jobs, default 1), BUILD_DIR (default build/static-llvm),
# SKIP_BUILD=1 (pack an existing build), MAX_MIB (size limit of the tarball, default 64).
#
# Layout of the bundle: the build tree's executables at their relative paths (tests/cache/...,
# bin/tessel, bench/...), libtessel.so* at the top, and next to it the shared libraries they need
# that a bare machine may lack (libfmt, libstdc++, ...). Every binary finds libtessel and those
# through a relative RUNPATH ($ORIGIN...), so the bundle works wherever it is unpacked. Not
# bundled, on purpose: glibc (the target needs glibc >= the build machine's), the CUDA driver
# (libcuda) and the CUDA toolkit's libraries (libnvJitLink, libnvrtc), which come with CUDA 13.
set -euo pipefail

src="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
build="${BUILD_DIR:-$src/build/static-llvm}"
jobs="${JOBS:-1}"
max_mib="${MAX_MIB:-64}"

die() { echo "bundle.sh: $*" >&2; exit 1; }

if [[ "${SKIP_BUILD:-0}" != 1 ]]; then
  cmake -S "$src" --preset static-llvm -B "$build" >/dev/null
  nice cmake --build "$build" -j "$jobs"
fi
[[ -f "$build/CMakeCache.txt" ]] || die "no build in $build (run without SKIP_BUILD=1)"
grep -q '^TESSEL_LLVM_STATIC:BOOL=ON' "$build/CMakeCache.txt" ||
  die "$build was not configured with TESSEL_LLVM_STATIC=ON (use the static-llvm preset)"

git_hash="$(git -C "$src" rev-parse --short=12 HEAD 2>/dev/null || echo unknown)"
version="$(sed -n 's/^project(tessel VERSION \([0-9.]*\).*/\1/p' "$src/CMakeLists.txt")"
name="tessel-bundle-${version}-${git_hash}"
out="${1:-$src/build/$name.tar.gz}"
stage="$(mktemp -d)"
trap 'rm -rf "$stage"' EXIT
root="$stage/$name"
mkdir -p "$root"

is_elf() { [[ "$(head -c 4 "$1" 2>/dev/null | od -An -tx1 | tr -d ' \n')" == 7f454c46 ]]; }

# 1. Executables and libtessel, at their paths relative to the build tree.
while IFS= read -r -d '' f; do
  rel="${f#"$build"/}"
  case "$rel" in CMakeFiles/*|*/CMakeFiles/*|_deps/*) continue ;; esac
  is_elf "$f" || continue
  mkdir -p "$root/$(dirname "$rel")"
  cp -P "$f" "$root/$rel"
done < <(find "$build" \( -type f -perm -u+x -o -name 'libtessel.so*' \) -print0)
for link in "$build"/libtessel.so*; do cp -P "$link" "$root/"; done
# Data the tests and benches read beside their binaries (generated fatbins, PTX fixtures...).
while IFS= read -r -d '' f; do
  rel="${f#"$build"/}"
  case "$rel" in CMakeFiles/*|*/CMakeFiles/*) continue ;; esac
  mkdir -p "$root/$(dirname "$rel")"
  cp "$f" "$root/$rel"
done < <(find "$build" -type f \( -name '*.ptx' -o -name '*.cubin' -o -name '*.fatbin' \
                            -o -name manifest.tsv -o -name '*.tir' \) -print0) # + AOT test bundles

# 2. The shared libraries they need, except glibc, the driver and the CUDA toolkit's.
skip='^(linux-vdso|ld-linux|libc\.so|libm\.so|libdl\.so|libpthread\.so|librt\.so|libresolv\.so|libcuda\.so|libnvidia-|libnvJitLink|libnvrtc|libcudart)'
declare -A wanted=()
while IFS= read -r -d '' f; do
  is_elf "$f" || continue
  while read -r lib _ path _; do
    [[ "$lib" =~ $skip ]] && continue
    [[ "$lib" == libtessel.so* ]] && continue
    [[ "$path" == /* ]] || continue
    wanted["$lib"]="$path"
  done < <(ldd "$f" 2>/dev/null | grep '=>' || true)
done < <(find "$root" -type f -print0)
for lib in "${!wanted[@]}"; do
  cp -L "${wanted[$lib]}" "$root/$lib"
done

# 3. Nothing may need LLVM's shared library.
if find "$root" -type f -print0 | xargs -0 -r ldd 2>/dev/null | grep -q 'libLLVM'; then
  die "a bundled binary still needs libLLVM (is TESSEL_LLVM_STATIC on for every target?)"
fi

# 4. Smaller: no symbol tables (the code is unchanged).
find "$root" -type f -print0 | while IFS= read -r -d '' f; do
  if is_elf "$f"; then strip --strip-unneeded "$f" 2>/dev/null || true; fi
done

# 5. Scripts to run the device tests and the benchmarks there.
cat >"$root/run_tests.sh" <<'EOF'
#!/usr/bin/env bash
# Runs every test binary of the bundle (GoogleTest; GPU tests skip, saying why, without a GPU).
# Usage: ./run_tests.sh [gtest filter, e.g. 'Gpu.*']
cd "$(dirname "$0")"
export TESSEL_CACHE_DIR="${TESSEL_CACHE_DIR:-$(mktemp -d)/tessel-cache}"
export TESSEL_VERIFY_EACH=1
filter="${1:-*}"
failed=()
for t in $(find tests sim -type f -perm -u+x -name '*_tests' 2>/dev/null | sort); do
  echo "=== $t"
  "./$t" --gtest_filter="$filter" --gtest_brief=1 || failed+=("$t")
done
if ((${#failed[@]})); then echo "FAILED: ${failed[*]}"; exit 1; fi
echo "all test binaries passed"
EOF
cat >"$root/run_benches.sh" <<'EOF'
#!/usr/bin/env bash
# Runs the benchmarks of the bundle; their output is what bench/*/RESULTS.md records.
cd "$(dirname "$0")"
./bin/tessel doctor
for b in $(find bin bench -type f -perm -u+x -name '*bench*' 2>/dev/null | sort -u); do
  echo "=== $b"
  "./$b"
done
EOF
chmod +x "$root/run_tests.sh" "$root/run_benches.sh"
cat >"$root/README" <<EOF
tessel bundle $version (git $git_hash), built $(date -u +%Y-%m-%d) on $(uname -m) with
$(ldd --version | head -1). LLVM is linked into libtessel; the CUDA driver is loaded at run time.
  ./bin/tessel doctor     what this machine offers (driver, GPUs, toolkit, cache)
  ./run_tests.sh          every test (GPU tests run when a GPU is present)
  ./run_tests.sh 'Gpu.*'  only the device tests
  ./run_benches.sh        the benchmarks
See docs/bundle.md in the source tree.
EOF

mkdir -p "$(dirname "$out")"
tar -C "$stage" -czf "$out" "$name"
bytes=$(stat -c %s "$out")
mib=$(( (bytes + 1048575) / 1048576 ))
echo "bundle: $out ($mib MiB compressed, $(du -sh "$root" | cut -f1) unpacked, ${#wanted[@]} system libraries)"
(( bytes <= max_mib * 1048576 )) || die "the bundle is $mib MiB, over the limit of $max_mib MiB"
