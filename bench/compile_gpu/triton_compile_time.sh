#!/bin/sh
# The compile-time comparison with Triton (issue 4, Performance): in one run, tessel's
# bench_compile_gpu and Triton compiling the same three kernels (triton_compile_time.py) for
# sm_90 / GPUTarget("cuda", 90, 32), both cold and to a cubin, no GPU needed; then both PTX
# instruction mixes side by side. Triton lives in a throw-away virtual environment under the
# build directory, made here on first use; it is never a dependency of tessel.
#
#   [TRITON_PYTHON=/path/to/python] bench/compile_gpu/triton_compile_time.sh [BUILD_DIR=build/release] [RUNS=7]
set -u
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
build=${1:-$root/build/release}
runs=${2:-7}
work=$root/build/triton_bench
venv=$work/venv
out=$work/out
mkdir -p "$work" "$out"

# TRITON_PYTHON: an interpreter that already has Triton (e.g. a read-only shared venv); then
# nothing is installed.
python=${TRITON_PYTHON:-$venv/bin/python}
if [ -n "${TRITON_PYTHON:-}" ]; then
  "$python" -c "import triton" || { echo "TRITON_PYTHON=$python cannot import triton"; exit 1; }
elif [ ! -x "$venv/bin/python" ] || ! "$venv/bin/python" -c "import triton" 2>/dev/null; then
  echo "== installing triton into $venv (throw-away)"
  python3 -m venv "$venv" && "$venv/bin/pip" install -q triton >"$work/pip.log" 2>&1
  if ! "$venv/bin/python" -c "import triton" 2>/dev/null; then
    echo "pip install triton failed; the error:"
    tail -20 "$work/pip.log"
    exit 1
  fi
fi

echo "== machine: $(nproc) CPUs, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), load $(cut -d' ' -f1-3 /proc/loadavg)"
echo "== tessel: bench_compile_gpu --target sm_90a --runs $runs"
"$build/bin/bench_compile_gpu" --target sm_90a --runs "$runs" || exit 1
for k in vector_add softmax layer_norm; do
  "$build/bin/tessel" compile "$k" --target sm_90a --emit ptx -o "$out/$k.tessel.ptx" || exit 1
done
echo "== triton"
TRITON_DEFAULT_FP_FUSION=1 "$python" "$here/triton_compile_time.py" "$runs" "$out" || exit 1
echo "== PTX instruction mix (static counts; $out)"
python3 "$here/triton_compile_time.py" --mix "$out"
# The tensor-core matmul for sm_80 (issue 11): f16 64 x 64 x 32, 4 warps, 3-stage cp.async ring,
# both compilers cold to a cubin; the ratio is tessel's median over Triton's.
echo "== pipelined f16 matmul for sm_80: tessel"
"$build/bin/bench_compile_gpu" --target sm_80 --runs "$runs" --only matmul_f16 | tee "$out/matmul_f16.tessel.txt" || exit 1
echo "== pipelined f16 matmul for sm_80: triton"
"$python" "$here/triton_compile_time.py" "$runs" "$out" 80 matmul_f16 | tee "$out/matmul_f16.triton.txt" || exit 1
t=$(awk '$1 == "matmul_f16" && $2 == "median" { print $NF }' "$out/matmul_f16.tessel.txt")
p=$(awk '$1 == "TRITON" { print $6 }' "$out/matmul_f16.triton.txt")
echo "== matmul_f16 sm_80 cold compile: tessel ${t} ms, triton ${p} ms, ratio $(python3 -c "print(f'{$t / $p:.2f}')")"
