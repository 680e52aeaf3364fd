#!/usr/bin/env bash
# bench_startup: how long `genplug` takes before it does anything, per command, against the same commands with
# the plugin descriptor cache off (every library loaded while scanning, as genplug 0.1 did: the FLUX plugin
# pulls in libtorch, OpenCV and Qt). Best of N wall-clock runs each, alternated, in one run; prints JSON with
# the ratios (absolute times on shared machines move by 20 % from run to run, ratios much less).
#
#   bench/startup/bench_startup.sh [GENPLUG_BINARY] [RUNS]      (default build/bin/genplug, 7)
set -euo pipefail
usage="usage: bench_startup.sh [GENPLUG_BINARY] [RUNS]   (RUNS: a positive integer, default 7)"
if [[ ${1:-} == -h || ${1:-} == --help ]]; then
  echo "$usage"
  exit 0
fi
# Usage errors exit 2 before anything runs: RUNS 0, -2 or abc gave 0.0000 seconds everywhere and exit 0.
fail() {
  echo "bench_startup.sh: $1" >&2
  echo "$usage" >&2
  exit 2
}
(($# <= 2)) || fail "at most two arguments, got $#"
root=$(cd "$(dirname "$0")/../.." && pwd)
genplug=${1:-$root/build/bin/genplug}
runs=${2-7}  # an empty RUNS is an error, not the default
[[ $runs =~ ^[1-9][0-9]{0,5}$ ]] || fail "RUNS must be an integer from 1 to 999999, not '$runs'"
command -v "$genplug" > /dev/null || fail "no genplug program at '$genplug'"
cache=$(mktemp -d)/plugins.json
trap 'rm -rf "$(dirname "$cache")"' EXIT

# Best wall-clock seconds of $runs runs of "$@".
best() {
  local best_ns=''
  for _ in $(seq "$runs"); do
    local t0 t1
    t0=$(date +%s%N)
    "$@" > /dev/null
    t1=$(date +%s%N)
    local ns=$((t1 - t0))
    if [[ -z $best_ns || $ns -lt $best_ns ]]; then best_ns=$ns; fi
  done
  awk -v ns="$best_ns" 'BEGIN { printf "%.4f", ns / 1e9 }'
}

posenc=(posenc --layout "@$root/samples/layouts/flux.json" --height 4096 --width 4096 --t 0.5)
schedule=(schedule --steps 28 --image-tokens 65536)
GENPLUG_PLUGIN_CACHE=$cache "$genplug" plugins > /dev/null  # fills the cache once
echo "{"
first=1
for name in version posenc schedule; do
  case $name in
    version) args=(--version) ;;
    posenc) args=("${posenc[@]}") ;;
    schedule) args=("${schedule[@]}") ;;
  esac
  cached=$(GENPLUG_PLUGIN_CACHE=$cache best "$genplug" "${args[@]}")
  eager=$(GENPLUG_PLUGIN_CACHE=off best "$genplug" "${args[@]}")
  ratio=$(awk -v a="$cached" -v b="$eager" 'BEGIN { printf "%.3f", (b > 0 ? a / b : 0) }')
  [[ $first == 1 ]] || echo ","
  first=0
  printf '  "%s": {"seconds": %s, "seconds_loading_every_library": %s, "ratio": %s}' "$name" "$cached" "$eager" "$ratio"
done
echo
echo "}"
