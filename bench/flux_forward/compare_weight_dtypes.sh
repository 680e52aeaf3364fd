#!/bin/sh
# Half-size, 8-bit and 4- to 6-bit weights on the CPU (issue 18 item 4): the FLUX forward with f32 weights against
# bf16, f16, int8 (per-row), Q8_0 (GGUF's blocks of 32) and GGUF's Q6_K, Q4_K and Q4_0 blocks (random blocks within
# each weight's range) kept narrow and widened per layer for f32 products, and (optionally) bf16 products,
# alternated in one run. Prints each variant's best median time and peak RSS (since the model was built) as
# ratios to f32, and the weights as the model keeps them.
#
#   bench/flux_forward/compare_weight_dtypes.sh [BIN] [--runs 2] [--bf16-products SECONDS] [flux_forward flags...]
#
# BIN: the flux_forward binary (default build/bin/flux_forward). The default shape is the peer checkpoint of
# issue 18 (hidden 3072, 24 heads, 1 double + 2 single blocks, 1024 image + 256 text tokens); further flags go to
# every run (e.g. --repeat 2, --threads 2, or another shape: with --hidden or --preset the peer shape is not used). --bf16-products S also times `--dtype bf16` (what
# "compute_dtype": "bf16" does), each run killed after S seconds: on a CPU without native bf16 one forward of the
# peer shape takes minutes. Raw JSON lines go to stderr, the summary to stdout. Run it on an idle machine.
set -eu

BIN=build/bin/flux_forward
case "${1:-}" in
  -*|"") ;;
  *) BIN=$1; shift ;;
esac
RUNS=2
BF16_PRODUCTS=0
SHAPE="--hidden 3072 --heads 24 --double 1 --single 2 --axes 16,56,56 --img-tokens 1024 --txt-tokens 256"
PASS=
while [ $# -gt 0 ]; do
  case "$1" in
    --runs) RUNS=$2; shift 2 ;;
    --bf16-products) BF16_PRODUCTS=$2; shift 2 ;;
    -h|--help) sed -n '2,12p' "$0"; exit 0 ;;
    *) PASS="$PASS $1"; shift ;;
  esac
done
# flux_forward takes each option once: the peer shape only when the flags give none of their own.
case "$PASS" in
  *--hidden*|*--preset*) SHAPE= ;;
esac
case "$PASS" in
  *--repeat*) ;;
  *) SHAPE="$SHAPE --repeat 3" ;;
esac

. "$(dirname "$0")/compare_lib.sh"
compare_start compare_weight_dtypes.sh
i=1
while [ "$i" -le "$RUNS" ]; do
  for variant in f32 bf16-weights f16-weights int8-weights q8_0-weights q6_k-weights q4_k-weights q4_0-weights \
      bf16-products; do
    case $variant in
      f32) flags="--dtype f32" ;;
      bf16-weights) flags="--dtype f32 --weight-dtype bf16" ;;
      f16-weights) flags="--dtype f32 --weight-dtype f16" ;;
      int8-weights) flags="--dtype f32 --weight-dtype int8" ;;
      q8_0-weights) flags="--dtype f32 --weight-dtype q8_0" ;;
      q6_k-weights) flags="--dtype f32 --weight-dtype q6_k" ;;
      q4_k-weights) flags="--dtype f32 --weight-dtype q4_k" ;;
      q4_0-weights) flags="--dtype f32 --weight-dtype q4_0" ;;
      bf16-products) [ "$BF16_PRODUCTS" -gt 0 ] || continue; flags="--dtype bf16" ;;
    esac
    # shellcheck disable=SC2086  # word lists on purpose
    if [ "$variant" = bf16-products ]; then
      timeout "$BF16_PRODUCTS" "$BIN" $SHAPE $PASS $flags > "$TMP/$variant.$i" || echo "{\"timed_out\": $BF16_PRODUCTS}" > "$TMP/$variant.$i"
    else
      "$BIN" $SHAPE $PASS $flags > "$TMP/$variant.$i"
    fi
    sed "s/^/$variant: /" "$TMP/$variant.$i" >&2
  done
  i=$((i + 1))
done
echo "load after: $(uptime)" >&2

python3 - "$TMP" "$RUNS" <<'PY'
import glob, json, os, sys
tmp, runs = sys.argv[1], int(sys.argv[2])
best = {}
for path in glob.glob(os.path.join(tmp, "*.*")):
    variant = os.path.basename(path).rsplit(".", 1)[0]
    line = open(path).read().strip().splitlines()
    if not line:
        continue
    r = json.loads(line[-1])
    if "median_ms" in r and (variant not in best or r["median_ms"] < best[variant]["median_ms"]):
        best[variant] = r
    elif "timed_out" in r and variant not in best:
        best[variant] = r
base = best.get("f32")
if not base:
    sys.exit("compare_weight_dtypes.sh: no f32 result")
print(f"{'variant':<15} {'median s':>9} {'time/f32':>9} {'peak RSS MB':>12} {'RSS/f32':>8} {'weights MB':>11}")
for v in ["f32", "bf16-weights", "f16-weights", "int8-weights", "q8_0-weights", "q6_k-weights", "q4_k-weights",
          "q4_0-weights", "bf16-products"]:
    r = best.get(v)
    if r is None:
        continue
    if "timed_out" in r:
        print(f"{v:<15} {'> ' + str(r['timed_out']):>9} (killed: one forward took longer)")
        continue
    print(f"{v:<15} {r['median_ms'] / 1000:9.2f} {r['median_ms'] / base['median_ms']:9.2f} "
          f"{r['peak_rss_mb']:12.0f} {r['peak_rss_mb'] / base['peak_rss_mb']:8.2f} {r['config']['weights_kept_mb']:11.1f}")
print(json.dumps({v: ({"median_ms": r["median_ms"], "peak_rss_mb": r["peak_rss_mb"],
                       "weights_kept_mb": r["config"]["weights_kept_mb"]} if "median_ms" in r else r)
                  for v, r in best.items()}))
PY
