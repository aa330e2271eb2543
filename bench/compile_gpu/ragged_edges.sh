#!/usr/bin/env bash
# Ragged-edge matmuls on sm_80 before and after the prefix-mask copies (docs/gpu_codegen.md,
# "Ragged edges"): registers, spills, the tensor-core/cp.async instruction counts and the cold
# compile time of samples/matmul with M, N and/or K not specialised (`-D X=any`), for two tessel
# binaries built from different trees, in the same run.
# Usage: bench/compile_gpu/ragged_edges.sh BEFORE/bin/tessel AFTER/bin/tessel [RUNS]
set -euo pipefail
before=$1 after=$2 runs=${3:-3}
configs=(
  "-D DTYPE=f16 -D BLOCK_K=32 --num-stages 3"
  "-D DTYPE=f16 -D BLOCK_K=32 --num-stages 3 -D K=any"
  "-D DTYPE=f16 -D BLOCK_K=32 --num-stages 3 -D M=any -D N=any -D K=any"
  "-D DTYPE=bf16 -D BLOCK_M=128 -D BLOCK_N=128 -D BLOCK_K=32 --num-stages 4 -D M=any -D N=any -D K=any"
)
field() { awk -v k="$1" '$1 == k && NF == 2 { print $2; exit }'; }
echo "load: $(uptime)"
for cfg in "${configs[@]}"; do
  for side in before after; do
    bin=${!side}
    # shellcheck disable=SC2086
    out=$("$bin" compile matmul --target sm_80 $cfg --emit stats --no-cache)
    regs=$(awk '$1 == "registers" { print $2 }' <<<"$out")
    spills=$(awk '$1 == "spill" && $2 == "stores" { print $3 }' <<<"$out")
    mix=$(awk '/^tensor cores/ { on = 1; next } on && NF == 2 { printf "%s=%s ", $1, $2 } on && NF == 0 { exit }' <<<"$out")
    shared=$(awk '$1 == "dynamic" { print $4 }' <<<"$out")
    times=$(awk '$1 == "total" { printf "%s", $2 }' <<<"$out")
    for ((i = 1; i < runs; ++i)); do
      # shellcheck disable=SC2086
      t=$("$bin" compile matmul --target sm_80 $cfg --emit stats --no-cache | awk '$1 == "total" { print $2 }')
      times="$times/$t"
    done
    printf '%-6s | %s | regs %s, spills %s B, shared %s B | %s| total ms %s\n' "$side" "$cfg" \
      "$regs" "$spills" "$shared" "$mix" "$times"
  done
done
echo "load: $(uptime)"
