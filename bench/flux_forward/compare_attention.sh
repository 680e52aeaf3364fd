#!/bin/sh
# Attention against the GEMM rate (issue 18 item 2): the fp32 GEMM (1024^3 and 2048^3), the fused attention (the
# default), the blocked attention it replaced and the chunked attention before that, at each token count (24
# heads, head dim 128: FLUX.1's shape), alternated in one run. Prints each kernel's best GFLOP/s over the runs
# and its ratio to the GEMM rate (the best of both sizes over the runs), with the kernels' instruction set.
#
#   bench/flux_forward/compare_attention.sh [BIN] [--runs 2] [--tokens "4096 16384"]
#                                           [--kernels "fused blocked chunked"]
#                                           [flux_forward flags...]
#
# blocked-serial is the blocked kernel with one worker (OpenBLAS's pool inside each product instead of the
# blocks spread over the pool's cores).
# BIN: the flux_forward binary (default build/bin/flux_forward). Further flags go to the attention runs (e.g.
# --attention-budget-mb 4, --repeat 1). Raw JSON lines go to stderr, the summary to stdout. Run it on an idle
# machine; for the AVX2 kernels of an AVX-512 machine prefix ATEN_CPU_CAPABILITY=avx2 ONEDNN_MAX_CPU_ISA=AVX2
# OPENBLAS_CORETYPE=Haswell (the softmax follows ATEN_CPU_CAPABILITY).
set -eu

BIN=build/bin/flux_forward
case "${1:-}" in
  -*|"") ;;
  *) BIN=$1; shift ;;
esac
RUNS=2
TOKENS="4096 16384"
KERNELS="fused blocked chunked"
PASS=
# Usage errors exit 2 before anything runs: --runs 0 ended in a KeyError, and a bogus kernel failed, only after the
# GEMM runs.
usage_error() {
  echo "compare_attention.sh: $1 (see --help)" >&2
  exit 2
}
# counts NAME WORD...: at least one word, each an integer from 1 to 999999999.
counts() {
  name=$1
  shift
  [ $# -gt 0 ] || usage_error "$name: no value"
  for word in "$@"; do
    case "$word" in
      '' | 0* | *[!0-9]* | ??????????*) usage_error "$name: '$word' is not an integer from 1 to 999999999" ;;
    esac
  done
}
while [ $# -gt 0 ]; do
  case "$1" in
    --runs|--tokens|--kernels) [ $# -ge 2 ] || usage_error "$1 needs a value" ;;
  esac
  case "$1" in
    --runs) RUNS=$2; shift 2 ;;
    --tokens) TOKENS=$2; shift 2 ;;
    --kernels) KERNELS=$2; shift 2 ;;
    -h|--help) sed -n '2,16p' "$0"; exit 0 ;;
    *) PASS="$PASS $1"; shift ;;
  esac
done
counts --runs "$RUNS"
# shellcheck disable=SC2086  # word lists on purpose
counts --tokens $TOKENS
kernels=0
for kernel in $KERNELS; do
  case "$kernel" in
    auto|fused|blocked|chunked|blocked-serial) kernels=$((kernels + 1)) ;;
    *) usage_error "--kernels: unknown kernel '$kernel' (auto, fused, blocked, chunked, blocked-serial)" ;;
  esac
done
[ "$kernels" -gt 0 ] || usage_error "--kernels: no kernel"
case "$PASS" in
  *--repeat*) ;;
  *) PASS="$PASS --repeat 2" ;;
esac

. "$(dirname "$0")/compare_lib.sh"
compare_start compare_attention.sh
i=1
while [ "$i" -le "$RUNS" ]; do
  for n in 1024 2048; do
    "$BIN" --gemm "$n" --repeat 5 > "$TMP/gemm-$n.$i"
    sed "s/^/gemm $n: /" "$TMP/gemm-$n.$i" >&2
  done
  for tokens in $TOKENS; do
    for kernel in $KERNELS; do
      # shellcheck disable=SC2086  # word lists on purpose
      case "$kernel" in
        blocked-serial) flags="--attention-kernel blocked --attention-workers 1" ;;
        *) flags="--attention-kernel $kernel" ;;
      esac
      "$BIN" --attention-only --tokens "$tokens" --heads 24 --head-dim 128 $flags $PASS \
        > "$TMP/$kernel-$tokens.$i"
      sed "s/^/$kernel $tokens: /" "$TMP/$kernel-$tokens.$i" >&2
    done
  done
  i=$((i + 1))
done
echo "load after: $(uptime)" >&2

python3 - "$TMP" <<'PY'
import glob, json, os, sys
best = {}
for path in glob.glob(os.path.join(sys.argv[1], "*.*")):
    name = os.path.basename(path).rsplit(".", 1)[0]
    r = json.loads(open(path).read().strip().splitlines()[-1])
    if name not in best or r["gflops_per_s"] > best[name]["gflops_per_s"]:
        best[name] = r
sizes = {n: best.pop(f"gemm-{n}")["gflops_per_s"] for n in (1024, 2048)}
gemm = max(sizes.values())
print(f"fp32 GEMM: {sizes[1024]:.1f} GFLOP/s at 1024^3, {sizes[2048]:.1f} at 2048^3; the rate: {gemm:.1f}")
for name in sorted(best, key=lambda n: (int(n.rsplit("-", 1)[1]), n)):
    r = best[name]
    c = r.get("config", {})
    shape = (f"{c['block_queries']} x {c['block_keys']} block, {c['workers']} worker(s), softmax {c['softmax_isa']}"
             if "block_queries" in c
             else f"{c.get('chunk_heads')} x {c.get('chunk_queries')} chunk")
    print(f"{name}: {r['median_ms']:.0f} ms, {r['gflops_per_s']:.1f} GFLOP/s = {r['gflops_per_s'] / gemm:.2f} of GEMM"
          f" ({shape}, peak RSS {r.get('peak_rss_mb', 0):.0f} MB)")
PY
