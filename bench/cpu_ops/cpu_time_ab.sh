#!/usr/bin/env bash
# Same-run CPU-time comparison on a loaded machine: this build's tessel::ops against another
# build's libtessel (BASE, e.g. main's build/release) through the same bench binary, and against
# Halide 14 and PyTorch, every implementation on one thread, timed by process CPU time
# (BENCH_CLOCK=cpu), ROUNDS rounds in alternation so that the load drifts over all of them alike.
# Prints one TSV per implementation and round into OUT; compare with
# `python bench/cpu_ops/cpu_time_table.py OUT`.
#
#   BASE=/work/main/build/release PYTHON=.../bin/python bash bench/cpu_ops/cpu_time_ab.sh [reps] [op...]
set -euo pipefail
cd "$(dirname "$0")/../.."
reps=${1:-7}
shift || true
ops=("$@")
out=${OUT:-build/cpu_time_ab}
bin=${BIN:-build/release/bin}
mkdir -p "$out"
export BENCH_CLOCK=cpu TESSEL_CPU_THREADS=1 HL_NUM_THREADS=1 BENCH_THREADS=1 TESSEL_CACHE_DISABLE=1
for round in $(seq 1 "${ROUNDS:-3}"); do
  echo "round $round load $(cut -d' ' -f1-3 /proc/loadavg) $(date -u +%H:%M)" >&2
  if [[ -n "${BASE:-}" ]]; then
    LD_LIBRARY_PATH="$BASE" "$bin/bench_cpu_ops" "$reps" "${ops[@]}" | sed 's/^tessel\t/base\t/' \
      > "$out/base.$round.tsv"
  fi
  "$bin/bench_cpu_ops" "$reps" "${ops[@]}" > "$out/tessel.$round.tsv"
  [[ -x "$bin/bench_cpu_ops_halide" ]] && "$bin/bench_cpu_ops_halide" "$reps" > "$out/halide.$round.tsv"
  [[ -n "${PYTHON:-}" ]] && "$PYTHON" bench/cpu_ops/peers.py "$reps" "${ops[@]}" > "$out/torch.$round.tsv"
done
echo "end load $(cut -d' ' -f1-3 /proc/loadavg) $(date -u +%H:%M)" >&2
