#!/usr/bin/env bash
# libFuzzer runs of genplug's fuzz targets (fuzz/README.md), in their own build tree (clang, ASan + UBSan).
#
#   scripts/fuzz.sh [RUNS]    configure and build, then run every target RUNS times (default 1000000) from its seed
#                             corpus and report per target: executions, coverage (cov/ft), new inputs and findings
#   scripts/fuzz.sh --smoke   configure and build, then `ctest -L fuzz` (bounded runs of every target: what CI calls)
#
# Environment:
#   GENPLUG_FUZZ_BUILD     build tree (default build-fuzz)
#   GENPLUG_FUZZ_TARGETS   targets to run (default: all), e.g. "manifest safetensors"
#   GENPLUG_FUZZ_MAX_TIME  seconds per target at most (default 0: until RUNS)
#   GENPLUG_FUZZ_PARALLEL  targets run at once (default 1)
#   GENPLUG_FUZZ_ARGS      more libFuzzer options, e.g. "-max_len=16384"
#   GENPLUG_FUZZ_NO_BUILD  1: run the targets as built (a build of the tree is not touched while others edit it)
# Runs are niced (-n 10) and builds use -j2. New inputs accumulate in $GENPLUG_FUZZ_BUILD/fuzz/corpus-long/NAME (kept
# between runs); crash, leak, timeout and out-of-memory inputs go to fuzz/findings/ (ignored by git), and findings
# that are not crashes (unexpected exception types, a config a plugin accepts but its schema refuses, ...) to
# fuzz/findings/notes/ (one input and message per kind; fuzzing goes on). A finding, once fixed, becomes a
# regression input: copy it into fuzz/corpus/NAME/ (name it regress-<what>).
set -euo pipefail
cd "$(dirname "$0")/.."

ALL_TARGETS="safetensors manifest dype_config flowmatch_config flux_config clip_tokenizer t5_tokenizer sentencepiece_model exr"
BUILD=${GENPLUG_FUZZ_BUILD:-build-fuzz}
TARGETS=${GENPLUG_FUZZ_TARGETS:-$ALL_TARGETS}
MAX_TIME=${GENPLUG_FUZZ_MAX_TIME:-0}
PARALLEL=${GENPLUG_FUZZ_PARALLEL:-1}
SMOKE=0
RUNS=1000000
case "${1:-}" in
  --smoke) SMOKE=1 ;;
  "") ;;
  *[!0-9]*) echo "usage: scripts/fuzz.sh [RUNS | --smoke]" >&2; exit 2 ;;
  *) RUNS=$1 ;;
esac

command -v clang++ >/dev/null || { echo "fuzz: clang++ not found (scripts/setup.sh installs clang)" >&2; exit 2; }
[ "${GENPLUG_FUZZ_NO_BUILD:-0}" = 1 ] || nice -n 10 cmake -S . -B "$BUILD" -G Ninja -DCMAKE_C_COMPILER=clang -DCMAKE_CXX_COMPILER=clang++ \
  -DGENPLUG_BUILD_TORCH=OFF -DGENPLUG_BUILD_FUZZ=ON -DGENPLUG_BUILD_TESTS=ON -DGENPLUG_BUILD_BENCH=OFF >/dev/null
[ "${GENPLUG_FUZZ_NO_BUILD:-0}" = 1 ] || nice -n 10 cmake --build "$BUILD" --target genplug_fuzz -j2

if [ "$SMOKE" = 1 ]; then
  start=$(date +%s)
  (cd "$BUILD" && nice -n 10 ctest -L fuzz -j2 --output-on-failure)
  echo "fuzz: smoke label passed in $(( $(date +%s) - start )) s"
  exit 0
fi

mkdir -p fuzz/findings/notes "$BUILD/fuzz/logs"
export GENPLUG_FUZZ_NOTES=$PWD/fuzz/findings/notes
run_target() {  # NAME: replay the regressions, then fuzz; the log goes to $BUILD/fuzz/logs/NAME.log
  local name=$1 exe="$BUILD/fuzz/fuzz_$1" log="$BUILD/fuzz/logs/$1.log" dict=() replay=()
  local work="$BUILD/fuzz/corpus-long/$name"
  mkdir -p "$work"
  [ -f "fuzz/dict/$name.dict" ] && dict=("-dict=fuzz/dict/$name.dict")
  if [ -d "$BUILD/fuzz/regressions/$name" ]; then
    mapfile -t replay < <(find "$BUILD/fuzz/regressions/$name" -type f | sort)
  fi
  : >"$log"
  if [ ${#replay[@]} -gt 0 ] && ! nice -n 10 "$exe" "${replay[@]}" >>"$log" 2>&1; then
    echo "REPLAY FAILED" >>"$log"
    return 0
  fi
  # shellcheck disable=SC2086
  nice -n 10 "$exe" -runs="$RUNS" -max_total_time="$MAX_TIME" -timeout=20 -rss_limit_mb=2048 -print_final_stats=1 \
    "${dict[@]}" -artifact_prefix="fuzz/findings/$name-" ${GENPLUG_FUZZ_ARGS:-} "$work" "fuzz/corpus/$name" \
    >>"$log" 2>&1 || echo "EXIT $?" >>"$log"
}

start=$(date +%s)
active=0
for name in $TARGETS; do
  [ -x "$BUILD/fuzz/fuzz_$name" ] || { echo "fuzz: no target $name (known: $ALL_TARGETS)" >&2; exit 2; }
  echo "fuzz: $name ..."
  run_target "$name" &
  active=$((active + 1))
  if [ "$active" -ge "$PARALLEL" ]; then wait -n || true; active=$((active - 1)); fi
done
wait

status=0
printf '\n%-20s %12s %10s %8s %8s %9s %6s  %s\n' target executions exec/s cov ft corpus notes findings
for name in $TARGETS; do
  log="$BUILD/fuzz/logs/$name.log"
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
  speed=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -1)
  last=$(grep -E '^#[0-9]+' "$log" | tail -1 || true)
  cov=$(sed -n 's/.* cov: \([0-9]*\).*/\1/p' <<<"$last")
  ft=$(sed -n 's/.* ft: \([0-9]*\).*/\1/p' <<<"$last")
  corp=$(sed -n 's/.* corp: \([0-9]*\)\/.*/\1/p' <<<"$last")
  found=$(grep -hoE "(crash|leak|timeout|oom|slow-unit)-[0-9a-f]+" <(grep -E "Test unit written to|artifact_prefix" "$log") | sort -u || true)
  problem=""
  grep -q "REPLAY FAILED" "$log" && problem="a regression input fails"
  grep -qE "^EXIT|ERROR: (libFuzzer|AddressSanitizer|LeakSanitizer|UndefinedBehaviorSanitizer)|runtime error:" "$log" &&
    problem="${problem:+$problem; }$(grep -m1 -oE "ERROR: [A-Za-z]+: [a-z-]+|runtime error: .{0,60}|deadly signal|out-of-memory|timeout" "$log" || echo failed)"
  [ -n "$problem" ] && status=1
  notes=$(grep -c "^NOTE $name:" "$log" || true)
  printf '%-20s %12s %10s %8s %8s %9s %6s  %s\n' "$name" "${execs:--}" "${speed:--}" "${cov:--}" "${ft:--}" "${corp:--}" "$notes" \
    "${problem:-none}${found:+ ($(echo "$found" | tr '\n' ' ' | sed 's/ $//'))}"
done
echo "fuzz: $(( $(date +%s) - start )) s; logs in $BUILD/fuzz/logs; findings in fuzz/findings"
exit "$status"
