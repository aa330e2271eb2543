#!/usr/bin/env bash
# One run of the CPU op benchmark: tessel, Halide and PyTorch back to back on 2 threads each, then
# the table (bench/cpu_ops/compare.py). PYTHON is any Python with torch (CPU) installed, e.g. a
# throw-away venv under build/ (`python -m venv build/bench-venv && build/bench-venv/bin/pip
# install torch numpy`). Writes its TSVs to OUT (default build/cpu_ops_bench).
#
#   PYTHON=build/bench-venv/bin/python bash bench/cpu_ops/run.sh [reps]
set -euo pipefail
cd "$(dirname "$0")/../.."
reps=${1:-5}
out=${OUT:-build/cpu_ops_bench}
bin=${BIN:-build/release/bin}
mkdir -p "$out"
echo "load before: $(cut -d' ' -f1-3 /proc/loadavg)" >&2
TESSEL_CPU_THREADS=2 "$bin/bench_cpu_ops" "$reps" > "$out/tessel.tsv"
if [[ -x "$bin/bench_cpu_ops_halide" ]]; then
  HL_NUM_THREADS=2 "$bin/bench_cpu_ops_halide" "$reps" > "$out/halide.tsv"
fi
"${PYTHON:-python3}" bench/cpu_ops/peers.py "$reps" > "$out/torch.tsv"
echo "load after: $(cut -d' ' -f1-3 /proc/loadavg)" >&2
"${PYTHON:-python3}" bench/cpu_ops/compare.py "$out"/*.tsv
