#!/bin/sh
# genplug against stable-diffusion.cpp on one checkpoint (issue 18 item 4). The peer FLUX shape of the issue
# (hidden 3072, 24 heads, 1 double + 2 single blocks; 512^2 = 1 024 image + 256 text tokens) gets random weights,
# written once as GGUF with Q8_0 matrices (--weights q8_0, the default) or as F32 safetensors (--weights f32). Then,
# alternated, --runs times each:
#   genplug  flux_forward --weights FILE: one transformer evaluation, which is one Euler step of a
#            guidance-distilled model (its median over --repeat);
#   sd.cpp   sd --diffusion-model FILE --steps N --cfg-scale 1 (one evaluation per step): its "sampling completed,
#            taking T s" divided by N.
# Prints each side's best s/step and peak RSS (VmHWM, polled), and sd.cpp / genplug (the issue asks >= 1.2 at equal
# weight memory). genplug's peak counts from the built model (flux_forward resets the kernel's peak there, so
# loading is not in it); sd.cpp's includes loading, its text encoders and VAE: give it small ones.
#
#   bench/flux_forward/compare_sd_cpp.sh [BIN] [--sd PATH] [--sd-args "ARGS"] [--weights q8_0|f32] [--runs 2]
#                                        [--steps 3] [--threads 2] [--dir DIR] [flux_forward flags...]
#
# BIN: flux_forward (default build/bin/flux_forward). sd.cpp is --sd, else `sd` on PATH; it needs its other
# components, e.g. --sd-args "--vae ae.safetensors --clip_l clip_l.safetensors --t5xxl t5xxl_q8_0.gguf". Without
# it genplug alone is timed and the script says so. --dir keeps the checkpoint (default: a temporary folder; a
# file already there is used as it is). Further flags go to flux_forward (e.g. another shape: --hidden 64
# --heads 2 ...; the peer shape is then not used). Both programs take OpenBLAS's pool from the environment
# (OPENBLAS_NUM_THREADS; unset: a thread per core); sd.cpp gets --threads. Nothing is downloaded. Run it on an
# idle machine.
set -eu

BIN=build/bin/flux_forward
case "${1:-}" in
  -*|"") ;;
  *) BIN=$1; shift ;;
esac
SD=$(command -v sd || true)
SD_ARGS=
WEIGHTS=q8_0
RUNS=2
STEPS=3
THREADS=2
DIR=
SHAPE="--hidden 3072 --heads 24 --double 1 --single 2 --axes 16,56,56"
TOKENS="--img-tokens 1024 --txt-tokens 256"
PASS=
while [ $# -gt 0 ]; do
  case "$1" in
    --sd) SD=$2; shift 2 ;;
    --sd-args) SD_ARGS=$2; shift 2 ;;
    --weights) WEIGHTS=$2; shift 2 ;;
    --runs) RUNS=$2; shift 2 ;;
    --steps) STEPS=$2; shift 2 ;;
    --threads) THREADS=$2; shift 2 ;;
    --dir) DIR=$2; shift 2 ;;
    -h|--help) sed -n '2,23p' "$0"; exit 0 ;;
    *) PASS="$PASS $1"; shift ;;
  esac
done
case "$WEIGHTS" in
  q8_0) FILE=peer.gguf; SAVE="--weight-dtype q8_0" ;;
  f32) FILE=peer.safetensors; SAVE= ;;
  *) echo "compare_sd_cpp.sh: --weights is q8_0 or f32, not '$WEIGHTS'" >&2; exit 2 ;;
esac
case "$PASS" in
  *--hidden*|*--preset*) SHAPE= ;;
esac
case "$PASS" in
  *--img-tokens*|*--txt-tokens*) TOKENS= ;;
esac

. "$(dirname "$0")/compare_lib.sh"
compare_start compare_sd_cpp.sh
[ -n "$DIR" ] || DIR=$TMP
mkdir -p "$DIR"
CKPT=$DIR/$FILE

# measured OUT CMD...: runs CMD with stdout and stderr to OUT, then appends "peak_rss_kb N" (its VmHWM, polled
# every 0.1 s: it only grows, so the last reading is the peak up to the last 0.1 s). Returns CMD's status.
measured() {
  out=$1
  shift
  "$@" > "$out" 2>&1 &
  pid=$!
  peak=0
  while kill -0 "$pid" 2>/dev/null; do
    hwm=$(awk '/^VmHWM/ {print $2}' "/proc/$pid/status" 2>/dev/null || true)
    [ -n "$hwm" ] && peak=$hwm
    sleep 0.1
  done
  status=0
  wait "$pid" || status=$?
  echo "peak_rss_kb $peak" >> "$out"
  return "$status"
}

if [ ! -f "$CKPT" ]; then
  # shellcheck disable=SC2086  # word lists on purpose
  "$BIN" $SHAPE $PASS $SAVE --save-weights "$CKPT" >&2
fi
echo "checkpoint: $CKPT ($(wc -c < "$CKPT") bytes)" >&2
if [ -z "$SD" ]; then
  echo "compare_sd_cpp.sh: stable-diffusion.cpp not found (no --sd, no 'sd' on PATH): timing genplug only" >&2
fi

i=1
while [ "$i" -le "$RUNS" ]; do
  # shellcheck disable=SC2086
  measured "$TMP/genplug.$i" "$BIN" --weights "$CKPT" $SHAPE $PASS $TOKENS --repeat "$STEPS" ||
    { sed "s/^/genplug: /" "$TMP/genplug.$i" >&2; echo "compare_sd_cpp.sh: flux_forward failed" >&2; exit 1; }
  sed "s/^/genplug: /" "$TMP/genplug.$i" >&2
  if [ -n "$SD" ]; then
    # shellcheck disable=SC2086
    measured "$TMP/sd.$i" "$SD" --diffusion-model "$CKPT" $SD_ARGS -p "a lighthouse at dusk" -W 512 -H 512 \
      --steps "$STEPS" --cfg-scale 1.0 --sampling-method euler -t "$THREADS" -s 42 -o "$TMP/sd.png" ||
      { echo "compare_sd_cpp.sh: sd.cpp failed (its output is above)" >&2; sed "s/^/sd.cpp: /" "$TMP/sd.$i" >&2; exit 1; }
    sed "s/^/sd.cpp: /" "$TMP/sd.$i" >&2
  fi
  i=$((i + 1))
done
echo "load after: $(uptime)" >&2

python3 - "$TMP" "$RUNS" "$STEPS" "$WEIGHTS" <<'PY'
import glob, json, os, re, sys
tmp, runs, steps, weights = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
def peak_mb(text):
    m = re.search(r"^peak_rss_kb (\d+)", text, re.M)
    return int(m.group(1)) / 1024 if m else float("nan")
genplug, sd = [], []
for path in sorted(glob.glob(os.path.join(tmp, "genplug.*"))):
    text = open(path).read()
    r = json.loads([l for l in text.splitlines() if l.startswith("{")][-1])
    genplug.append((r["median_ms"] / 1000, peak_mb(text), r["config"]["weights_kept_mb"]))
for path in sorted(glob.glob(os.path.join(tmp, "sd.*"))):
    text = open(path).read()
    m = re.search(r"sampling completed, taking ([0-9.]+) ?s", text)
    if not m:
        sys.exit("compare_sd_cpp.sh: no 'sampling completed, taking T s' in sd.cpp's output")
    sd.append((float(m.group(1)) / steps, peak_mb(text)))
g = min(genplug)
print(f"weights: {weights}; s/step best of {runs}; peak RSS (genplug: since the model was built)")
print(f"{'engine':<10} {'s/step':>8} {'peak RSS MB':>12} {'weights kept MB':>16}")
print(f"{'genplug':<10} {g[0]:8.2f} {g[1]:12.0f} {g[2]:16.1f}")
result = {"weights": weights, "genplug_s_per_step": g[0], "genplug_peak_rss_mb": g[1]}
if sd:
    s = min(sd)
    print(f"{'sd.cpp':<10} {s[0]:8.2f} {s[1]:12.0f} {'':>16}")
    print(f"sd.cpp / genplug: {s[0] / g[0]:.2f} (time per step), {s[1] / g[1]:.2f} (peak RSS)")
    result.update({"sd_cpp_s_per_step": s[0], "sd_cpp_peak_rss_mb": s[1], "sd_cpp_over_genplug": s[0] / g[0]})
else:
    print("sd.cpp: not run")
print(json.dumps(result))
PY
