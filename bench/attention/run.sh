#!/usr/bin/env bash
# One run of the attention figures without a GPU, everything back to back (bench/RESULTS.md,
# "Attention"): CPU forward, tessel then PyTorch's scaled_dot_product_attention, 2 threads each;
# then the cold sm_80 and sm_90a compiles of the forward, tessel then Triton (WHAT=compile: these
# alone). The load average is printed before and after: on a shared machine only same-run ratios
# mean anything.
#
#   PYTHON=/path/to/python-with-torch TRITON_PYTHON=/path/to/python-with-triton \
#     bash bench/attention/run.sh [RUNS=20] [COMPILE_RUNS=7] [WHAT=all|compile]
set -euo pipefail
cd "$(dirname "$0")/../.."
runs=${1:-20}
compile_runs=${2:-7}
what=${3:-all}
bin=${BIN:-build/release/bin}
echo "== machine: $(nproc) CPUs, load before $(cut -d' ' -f1-3 /proc/loadavg)"
if [ "$what" = all ]; then
  TESSEL_CPU_THREADS=2 "$bin/bench_attention" cpu "$runs"
  "${PYTHON:-python3}" bench/attention/torch_sdpa.py "$runs"
  echo "== load after the CPU runs $(cut -d' ' -f1-3 /proc/loadavg)"
fi
for arch in 80 90; do
  target=sm_$arch
  [ "$arch" = 90 ] && target=sm_90a
  "$bin/bench_attention" compile "$compile_runs" "$target"
  TRITON_DEFAULT_FP_FUSION=1 "${TRITON_PYTHON:-${PYTHON:-python3}}" \
    bench/attention/triton_attention_compile.py "$compile_runs" "$arch"
done
echo "== load after $(cut -d' ' -f1-3 /proc/loadavg)"
