#!/usr/bin/env bash
# bench/gpu/run.sh: everything a lent GPU machine should run, in one call (docs/bundle.md,
# bench/gpu/README.md). On the GPU machine, from the repository root the device tool copied:
#
#   bash bench/gpu/run.sh build/tessel-bundle-*.tar.gz
#
# 1. unpacks the bundle (tessel with LLVM linked statically: the machine has no LLVM);
# 2. `tessel doctor`, then the device tests (gtest filters for the runtime/GPU/device suites);
# 3. the GPU benchmarks: tessel's GEMM (bench/gpu/tessel_gpu_bench, in the bundle) and its peers
#    (torch.matmul = cuBLAS, a Triton matmul in the tutorial's style: bench/gpu/peers_matmul.py);
# 4. writes one results file, $OUT/results.md (or ./gpu-results.md without $OUT), whose last lines
#    are a short table, and keeps the logs next to it.
# Each step has its own time limit so the whole run stays under 8 minutes; a failing step is
# recorded and the next one still runs. Exit status: 0 when every step passed.
set -uo pipefail

bundle="${1:-}"
out="${OUT:-$PWD/gpu-results}"
mkdir -p "$out"
results="$out/results.md"
status=0
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"

log() { echo "$*" | tee -a "$results"; }
step() { # step NAME SECONDS COMMAND...: run with a limit, log to $out/NAME.log, record the outcome
  local name="$1" limit="$2"; shift 2
  local t0=$SECONDS
  timeout --kill-after=10 "$limit" "$@" >"$out/$name.log" 2>&1
  local rc=$?
  log "- $name: rc=$rc, $((SECONDS - t0)) s (log: $name.log)"
  [[ $rc == 0 ]] || status=1
  return $rc
}

: >"$results"
log "# tessel on $(nvidia-smi --query-gpu=name,driver_version --format=csv,noheader 2>/dev/null | head -1)"
log "date: $(date -u +%FT%TZ), load: $(cut -d' ' -f1-3 /proc/loadavg)"

[[ -n "$bundle" && -f "$bundle" ]] || { log "run.sh: no bundle given (tools/bundle.sh makes one)"; exit 2; }
dir="$(mktemp -d /tmp/tessel-gpu.XXXX)"
tar xzf "$bundle" -C "$dir" || { log "run.sh: cannot unpack $bundle"; exit 2; }
root="$(echo "$dir"/tessel-bundle-*)"
export TESSEL_CACHE_DIR="$dir/cache"
cd "$root" || exit 2

step doctor 60 ./bin/tessel doctor
# Device tests first: nothing has run on a real GPU before this script.
step device_tests 240 ./run_tests.sh 'Gpu*'
if [[ -x bench/gpu/tessel_gpu_bench ]]; then
  step tessel_gemm 150 bench/gpu/tessel_gpu_bench
else
  log "- tessel_gemm: bench/gpu/tessel_gpu_bench is not in this bundle"
fi
step peers_gemm 150 python3 "$here/peers_matmul.py"

# The short table: TFLOP/s per (shape, dtype) for tessel and each peer, and tessel / cuBLAS.
python3 - "$out" <<'PY' | tee -a "$results"
import collections, pathlib, sys
out = pathlib.Path(sys.argv[1])
rows = collections.defaultdict(dict)
for name in ("tessel_gemm.log", "peers_gemm.log"):
    p = out / name
    if not p.exists():
        continue
    for line in p.read_text().splitlines():
        f = line.split()
        if len(f) >= 7 and f[1] in ("bfloat16", "float16", "bf16", "f16"):
            dt = {"bfloat16": "bf16", "float16": "f16"}.get(f[1], f[1])
            rows[(dt, int(f[2]), int(f[3]), int(f[4]))][f[0]] = float(f[6])
print("\n| dtype | M | N | K | tessel | cuBLAS | Triton | tessel/cuBLAS |")
print("|---|---|---|---|---|---|---|---|")
for (dt, m, n, k), r in sorted(rows.items()):
    t, c, tr = r.get("tessel"), r.get("cublas"), r.get("triton")
    ratio = f"{t / c:.2f}" if t and c else "-"
    fmt = lambda v: f"{v:.1f}" if v else "-"
    print(f"| {dt} | {m} | {n} | {k} | {fmt(t)} | {fmt(c)} | {fmt(tr)} | {ratio} |")
PY
log "status: $status"
exit $status
