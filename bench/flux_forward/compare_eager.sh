#!/bin/sh
# genplug's FLUX forward vs a PyTorch-eager FLUX of the same shapes (issue 18): runs build/bin/flux_forward
# and bench/flux_forward/eager_reference.py --bench alternately, keeps the best of each, prints the ratios.
#
#   bench/flux_forward/compare_eager.sh [BIN] [--runs 3] [--threads N] [--eager-allocator same|libc]
#                                       [flux_forward flags...]
#
# BIN: the flux_forward binary (default build/bin/flux_forward). Further flags (--hidden, --img-tokens,
# --repeat, --seed, ...) go to both programs unchanged; the defaults are the bench config. Both use the same
# thread settings: torch intra-op threads as --threads says (default: whatever flux_forward reports, i.e.
# libtorch's default, 1 on Debian's build), and OpenBLAS's pool from the environment (OPENBLAS_NUM_THREADS;
# unset = one thread per core) — both programs load the same system libtorch and OpenBLAS. Each program's
# `--repeat` runs give a median per process; the best (lowest) median of the `--runs` processes counts, and
# the peak RSS of that best run. The raw JSON lines go to stderr, the summary (the ratio lines, then one JSON
# line) to stdout. Run it on an otherwise idle machine; `uptime` is printed for the record. Each run is a pair, one
# process of each, genplug first in odd runs and eager first in even ones; the pairs' ratios give a median with a
# distribution-free 95 % interval from 6 runs (bench/median_interval.py): the figure to quote where the machine's
# speed moves from run to run.
# Both also get the same malloc: where flux_forward links tcmalloc (as the genplug CLI does), the eager run gets
# it preloaded; `--eager-allocator libc` runs eager on the C library's malloc instead, as a plain PyTorch user
# would, which page-faults every large tensor afresh and was 3.8x slower on one VM (docs/performance.md).
set -eu

HERE=$(cd "$(dirname "$0")" && pwd)
PYTHON=${PYTHON:-/usr/bin/python3}
BIN=build/bin/flux_forward
case "${1:-}" in
  -*|"") ;;
  *) BIN=$1; shift ;;
esac
RUNS=3
THREADS=
EAGER_ALLOCATOR=same
PASS=
while [ $# -gt 0 ]; do
  case "$1" in
    --runs) RUNS=$2; shift 2 ;;
    --runs=*) RUNS=${1#--runs=}; shift ;;
    --threads) THREADS=$2; shift 2 ;;
    --threads=*) THREADS=${1#--threads=}; shift ;;
    --eager-allocator) EAGER_ALLOCATOR=$2; shift 2 ;;
    --eager-allocator=*) EAGER_ALLOCATOR=${1#--eager-allocator=}; shift ;;
    -h|--help) sed -n '2,21p' "$0"; exit 0 ;;
    *) PASS="$PASS $1"; shift ;;
  esac
done

. "$(dirname "$0")/compare_lib.sh"
compare_start compare_eager.sh
case "$EAGER_ALLOCATOR" in
  same) EAGER_PRELOAD=$(ldd "$BIN" | sed -n 's/.*libtcmalloc_minimal[^ ]* => \([^ ]*\) .*/\1/p' | head -n 1) ;;
  libc) EAGER_PRELOAD= ;;
  *) echo "compare_eager.sh: --eager-allocator is same or libc, not '$EAGER_ALLOCATOR'" >&2; exit 2 ;;
esac

LOAD_BEFORE=$(cut -d' ' -f1-3 /proc/loadavg)
run_genplug() {  # RUN
  # shellcheck disable=SC2086  # PASS is a word list on purpose
  if [ -n "$THREADS" ]; then
    "$BIN" --threads "$THREADS" $PASS > "$TMP/genplug.$1"
  else
    "$BIN" $PASS > "$TMP/genplug.$1"
    # The eager run gets the intra-op thread count the C++ bench used.
    THREADS=$("$PYTHON" -c 'import json,sys; print(json.load(sys.stdin)["config"]["threads"])' < "$TMP/genplug.$1")
  fi
  # Where flux_forward switched OpenBLAS off the Prescott kernels it took this CPU for (openblas_core.hpp), eager
  # gets the same kernels; every later run of both then takes them from OPENBLAS_CORETYPE.
  if [ -z "${OPENBLAS_CORETYPE+set}" ]; then
    CORE=$("$PYTHON" -c 'import json, sys; c = json.load(sys.stdin)["config"]
print(c["blas_core"] if c.get("blas_core_repaired") else "")' < "$TMP/genplug.$1")
    if [ -n "$CORE" ]; then
      export OPENBLAS_CORETYPE="$CORE"
      echo "compare_eager.sh: both programs run OpenBLAS's $CORE kernels (OPENBLAS_CORETYPE)" >&2
    fi
  fi
  cat "$TMP/genplug.$1" >&2
}
run_eager() {  # RUN
  # shellcheck disable=SC2086
  LD_PRELOAD="${EAGER_PRELOAD:-${LD_PRELOAD:-}}" \
    "$PYTHON" "$HERE/eager_reference.py" --bench --threads "$THREADS" $PASS > "$TMP/eager.$1"
  cat "$TMP/eager.$1" >&2
}
# Run i is a pair; every other pair runs eager first, so that a machine slowing down (or speeding up) through a
# run does not favour the side that always goes first. Run 1 starts with genplug, whose thread count eager takes.
i=1
while [ "$i" -le "$RUNS" ]; do
  if [ $((i % 2)) -eq 1 ]; then
    run_genplug "$i"
    run_eager "$i"
  else
    run_eager "$i"
    run_genplug "$i"
  fi
  i=$((i + 1))
done
echo "load after: $(uptime)" >&2

LOAD_AFTER=$(cut -d' ' -f1-3 /proc/loadavg)
"$PYTHON" - "$TMP" "$RUNS" "$LOAD_BEFORE" "$LOAD_AFTER" "${OPENBLAS_NUM_THREADS:-default}" "$OPENBLAS_THREAD_TIMEOUT" \
  "$HERE/.." <<'EOF'
import json, os, statistics, sys
tmp, runs, load_before, load_after, blas, timeout = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4], sys.argv[5], sys.argv[6]
sys.path.insert(0, sys.argv[7])
from median_interval import median_interval
def best(name):
    rows = [json.load(open(os.path.join(tmp, f"{name}.{i}"))) for i in range(1, runs + 1)]
    return min(rows, key=lambda r: r["median_ms"]), [r["median_ms"] for r in rows]
g, g_all = best("genplug")
e, e_all = best("eager")
# Same model on both sides: the parameter and FLOP counts are computed independently (presets.cpp / flops.hpp
# vs eager_reference.py), so a disagreement means the shapes differ.
if g["config"]["parameters"] != e["config"]["parameters"] or abs(g["gflop"] - e["gflop"]) > 1e-9 * g["gflop"]:
    sys.exit(f"compare_eager.sh: the models differ: parameters {g['config']['parameters']} vs "
             f"{e['config']['parameters']}, GFLOP {g['gflop']} vs {e['gflop']}")
time_ratio = g["median_ms"] / e["median_ms"]
rss_ratio = g["peak_rss_mb"] / e["peak_rss_mb"]
print(f"time genplug/eager: {time_ratio:.3f}  ({g['median_ms']:.1f} ms vs {e['median_ms']:.1f} ms, best of {runs} medians)")
print(f"peak RSS genplug/eager: {rss_ratio:.3f}  ({g['peak_rss_mb']:.0f} MB vs {e['peak_rss_mb']:.0f} MB)")
# The two processes of a run form a pair: on a machine whose speed moves between runs, the median of the pairs'
# ratios (with its interval, from 6 runs) is steadier than the ratio of the best medians.
pairs = sorted(gm / em for gm, em in zip(g_all, e_all))
pair_median, pair_95 = statistics.median(pairs), median_interval(pairs)
print(f"per-run time genplug/eager: median {pair_median:.3f}, 95 % interval " +
      (f"[{pair_95[0]:.3f}, {pair_95[1]:.3f}]" if pair_95 else "(needs --runs 6 or more)") +
      f", range {pairs[0]:.3f}-{pairs[-1]:.3f} over {runs} runs")
print(f"malloc: genplug {g['config'].get('allocator')}, eager {e['config'].get('allocator')}")
print(json.dumps({"time_ratio": time_ratio, "peak_rss_ratio": rss_ratio,
                  "genplug_median_ms": g["median_ms"], "eager_median_ms": e["median_ms"],
                  "genplug_medians_ms": g_all, "eager_medians_ms": e_all,
                  "pair_ratio_median": pair_median, "pair_ratio_median_95": pair_95,
                  "genplug_cpu_utilisation": g["cpu_utilisation"], "eager_cpu_utilisation": e["cpu_utilisation"],
                  "genplug_peak_rss_mb": g["peak_rss_mb"], "eager_peak_rss_mb": e["peak_rss_mb"],
                  "gflop": g["gflop"], "torch_threads": [g["config"]["threads"], e["config"]["threads"]],
                  "allocators": [g["config"].get("allocator"), e["config"].get("allocator")],
                  "openblas_threads": blas, "openblas_thread_timeout": timeout, "runs": runs,
                  "openblas_coretype": os.environ.get("OPENBLAS_CORETYPE"),
                  "loadavg_before": load_before, "loadavg_after": load_after, "config": g["config"]}))
EOF
