#!/usr/bin/env bash
# Same-run CPU-time comparison of the CPU attention forward on a loaded machine (bench/RESULTS.md,
# "Session 8: CPU attention"): another build's libtessel (BASE, e.g. main's build/release, or a
# copy of its libtessel.so.0) through this build's bench_attention, this build, and PyTorch's
# scaled_dot_product_attention (PYTHON), every one on one thread and timed by process CPU time
# (BENCH_CLOCK=cpu), ROUNDS rounds in alternation so that the load drifts over all of them alike.
# One TSV row per implementation and shape on stdout (impl base / tessel / torch).
#
#   BASE=/path/to/dir/with/libtessel.so.0 PYTHON=.../bin/python ROUNDS=3 \
#     bash bench/attention/cpu_time_ab.sh [RUNS=7] [SEQ]
set -euo pipefail
cd "$(dirname "$0")/../.."
runs=${1:-7}
seq=${2:-0}
bin=${BIN:-build/release/bin}
export BENCH_CLOCK=cpu TESSEL_CPU_THREADS=1 BENCH_THREADS=1 TESSEL_CACHE_DISABLE=1
for round in $(seq 1 "${ROUNDS:-3}"); do
  echo "round $round load $(cut -d' ' -f1-3 /proc/loadavg) $(date -u +%H:%M:%S)" >&2
  if [[ -n "${BASE:-}" ]]; then
    LD_LIBRARY_PATH="$BASE" "$bin/bench_attention" cpu "$runs" "$seq" | sed 's/^tessel\t/base\t/' |
      grep -v '^impl'
  fi
  "$bin/bench_attention" cpu "$runs" "$seq" | grep -v '^impl'
  [[ -n "${PYTHON:-}" ]] && "$PYTHON" bench/attention/torch_sdpa.py "$runs" "$seq" | grep -v '^impl'
done
echo "end load $(cut -d' ' -f1-3 /proc/loadavg) $(date -u +%H:%M:%S)" >&2
