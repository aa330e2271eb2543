#!/usr/bin/env bash
# Long fuzz runs for docs/reliability.md's figures: each fuzz target of the `fuzz` preset runs for
# SECONDS under libFuzzer at nice 19 (the machine is shared), one after another, and one line per
# target is printed: execs, libFuzzer's final coverage (cov: edges, ft: features), corpus size,
# crashes. CI's fuzz.run.* ctests are the same runs, bounded to TESSEL_FUZZ_SECONDS.
#
#   cmake --preset fuzz && cmake --build --preset fuzz     # once: the libFuzzer binaries
#   bash bench/fuzz/run.sh [SECONDS] [TARGET...]            # default 900 s, every target
#
# Each target's flags (-max_len, -timeout, ...) are read from its fuzz.run.<target> ctest, so
# they are written once, in tests/fuzz/CMakeLists.txt. The corpus a run grows is kept in
# build/fuzz-long/<target>/corpus, so a later run continues from it; the seeds and regressions
# stay read-only. libFuzzer's -timeout is wall-clock time: at nice 19 on a loaded machine a unit
# that needs half a second of CPU can wait 30 s for it, so FUZZ_TIMEOUT=SECONDS replaces the
# ctest's value (a real hang still shows, later). Slow units (crash-slow-unit-*) are not counted
# as crashes. A crash leaves its input in build/fuzz-long/<target>/crash-*: replay it with
# build/fuzz/tests/fuzz/fuzz_<target> FILE, fix it, and add it to tests/fuzz/regressions/<target>/.
set -euo pipefail
cd "$(dirname "$0")/../.."
seconds=${1:-900}
shift || true
build=build/fuzz
[[ -f $build/CTestTestfile.cmake ]] || { echo "no $build: cmake --preset fuzz first" >&2; exit 2; }
out=build/fuzz-long
mkdir -p "$out"

# The command line of ctest NAME, one argument per line.
ctest_command() {
  ctest --test-dir "$build" --show-only=json-v1 | python3 -c '
import json, sys
for t in json.load(sys.stdin)["tests"]:
    if t["name"] == sys.argv[1]:
        print("\n".join(t["command"]))' "$1"
}

targets=("$@")
if ((${#targets[@]} == 0)); then
  mapfile -t targets < <(ctest --test-dir "$build" -N | sed -n 's/.*fuzz\.run\.\([a-z_]*\)$/\1/p')
fi

printf '%-16s %8s %10s %8s %8s %8s %7s\n' target seconds execs exec/s cov ft crashes
for t in "${targets[@]}"; do
  mapfile -t cmd < <(ctest_command "fuzz.run.$t")
  ((${#cmd[@]})) || { echo "no ctest fuzz.run.$t" >&2; exit 2; }
  mkdir -p "$out/$t/corpus"
  # The ctest's arguments but its time limit, artifact prefix and scratch corpus (its first
  # directory argument): ours are longer-lived.
  flags=() dirs=()
  for a in "${cmd[@]:1}"; do
    case "$a" in
      -max_total_time=* | -artifact_prefix=* | */work_corpus/*) ;;
      -timeout=*) flags+=("-timeout=${FUZZ_TIMEOUT:-${a#-timeout=}}") ;;
      -*) flags+=("$a") ;;
      *) dirs+=("$a") ;;
    esac
  done
  log=$out/$t/run-$(date -u +%Y%m%dT%H%M%SZ).log
  before=$(find "$out/$t" -maxdepth 1 -name 'crash-*' ! -name 'crash-slow-unit-*' | wc -l)
  start=$SECONDS
  # libFuzzer adds new inputs to its first directory: ours.
  nice -n 19 "${cmd[0]}" "${flags[@]}" -max_total_time="$seconds" -artifact_prefix="$out/$t/crash-" \
    "$out/$t/corpus" "${dirs[@]}" >"$log" 2>&1 || true
  took=$((SECONDS - start))
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
  cov=$(grep -o 'cov: [0-9]*' "$log" | tail -1 | cut -d' ' -f2)
  ft=$(grep -o 'ft: [0-9]*' "$log" | tail -1 | cut -d' ' -f2)
  crashes=$(($(find "$out/$t" -maxdepth 1 -name 'crash-*' ! -name 'crash-slow-unit-*' | wc -l) - before))
  grep -q '^==[0-9]*==ERROR\|^SUMMARY: \|deadly signal' "$log" && crashes=$((crashes > 0 ? crashes : 1))
  printf '%-16s %8s %10s %8s %8s %8s %7s\n' "$t" "$took" "${execs:-?}" \
    "$(( ${execs:-0} / (took > 0 ? took : 1) ))" "${cov:-?}" "${ft:-?}" "$crashes"
  echo "  log: $log, corpus: $(find "$out/$t/corpus" -type f | wc -l) inputs"
done
