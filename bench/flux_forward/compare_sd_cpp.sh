#!/bin/sh
# genplug against stable-diffusion.cpp on one checkpoint (issue 18 item 4). The peer FLUX shape of the issue
# (hidden 3072, 24 heads, 1 double + 2 single blocks; 512^2 = 1 024 image + 256 text tokens) gets random weights,
# written once as GGUF with Q8_0 matrices (--weights q8_0, the default) or as F32 safetensors (--weights f32). Then,
# alternated, --runs times each:
#   genplug  flux_forward --weights FILE: one transformer evaluation, which is one Euler step of a
#            guidance-distilled model (its median over --repeat, after a warm-up);
#   sd.cpp   sd-cli --diffusion-model FILE --steps N --cfg-scale 1 (one evaluation per step): the median of its
#            progress bar's per-step times "k/N - T s/it" after the first step (the first builds its graph and
#            buffers), and its "sampling completed, taking T s" over N (first step included).
# Prints each side's best s/step, peak RSS (VmHWM, polled) and the transformer's weights in memory (sd.cpp's
# "diffusion_model X MB" of its params line), and sd.cpp / genplug (the issue asks >= 1.2 at equal weight memory).
# genplug's peak counts from the built model (flux_forward resets the kernel's peak there, so loading is not in
# it); sd.cpp's includes loading, its CLIP-L and its VAE's decode: give it small ones.
#
#   bench/flux_forward/compare_sd_cpp.sh [BIN] [--sd PATH] [--sd-args "ARGS"] [--weights q8_0|f32] [--runs 2]
#                                        [--steps 3] [--threads N] [--dir DIR] [flux_forward flags...]
#
# BIN: flux_forward (default build/bin/flux_forward). sd.cpp is --sd, else `sd-cli` (its name since 2025) or `sd`
# on PATH; it needs a CLIP-L and a VAE or TAE besides the transformer (without a T5 it conditions on zeros of 256
# tokens, as here), e.g. --sd-args "--clip_l clip_l.safetensors --taesd taef1.safetensors --eager-load". Without it
# genplug alone is timed and the script says so. --dir keeps the checkpoint (default: a temporary folder; a file
# already there is used as it is). Further flags go to flux_forward (e.g. --weight-dtype bf16, or another shape:
# --hidden 64 --heads 2 ...; the peer shape is then not used). Both programs take OpenBLAS's pool from the
# environment (OPENBLAS_NUM_THREADS; unset: a thread per core); sd.cpp gets --threads (default: the physical
# cores). sd_cpp_components.py writes a random CLIP-L and TAE where no real ones are at hand. Nothing is
# downloaded. Run it on an idle machine.
set -eu

BIN=build/bin/flux_forward
case "${1:-}" in
  -*|"") ;;
  *) BIN=$1; shift ;;
esac
SD=$(command -v sd-cli || command -v sd || true)
SD_ARGS=
WEIGHTS=q8_0
RUNS=2
STEPS=3
# sd.cpp threads: the physical cores, as genplug uses (OpenBLAS takes one per core)
THREADS=$(lscpu -p=core,socket 2>/dev/null | grep -v "^#" | sort -u | wc -l)
[ "$THREADS" -gt 0 ] || THREADS=$(nproc)
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
    -h|--help) sed -n '2,27p' "$0"; exit 0 ;;
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
  echo "compare_sd_cpp.sh: stable-diffusion.cpp not found (no --sd, no 'sd-cli' or 'sd' on PATH): timing genplug only" >&2
fi

i=1
while [ "$i" -le "$RUNS" ]; do
  # shellcheck disable=SC2086
  measured "$TMP/genplug.$i" "$BIN" --weights "$CKPT" $SHAPE $PASS $TOKENS --repeat "$STEPS" ||
    { sed "s/^/genplug: /" "$TMP/genplug.$i" >&2; echo "compare_sd_cpp.sh: flux_forward failed" >&2; exit 1; }
  sed "s/^/genplug: /" "$TMP/genplug.$i" >&2
  if [ -n "$SD" ]; then
    set -f  # SD_ARGS split into words but not globbed (a --tensor-type-rules regex)
    # shellcheck disable=SC2086
    measured "$TMP/sd.$i" "$SD" --diffusion-model "$CKPT" $SD_ARGS -p "a lighthouse at dusk" -W 512 -H 512 \
      --steps "$STEPS" --cfg-scale 1.0 --sampling-method euler -t "$THREADS" -s 42 -o "$TMP/image.png" ||
      { echo "compare_sd_cpp.sh: sd.cpp failed (its output is above)" >&2; sed "s/^/sd.cpp: /" "$TMP/sd.$i" >&2; exit 1; }
    set +f
    sed "s/^/sd.cpp: /" "$TMP/sd.$i" >&2
  fi
  i=$((i + 1))
done
echo "load after: $(uptime)" >&2

python3 - "$TMP" "$RUNS" "$STEPS" "$WEIGHTS" <<'PY'
import glob, json, os, re, statistics, sys
tmp, runs, steps, weights = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
def peak_mb(text):
    m = re.search(r"^peak_rss_kb (\d+)", text, re.M)
    return int(m.group(1)) / 1024 if m else float("nan")
genplug, sd = [], []
for path in sorted(glob.glob(os.path.join(tmp, "genplug.[0-9]*"))):
    text = open(path).read()
    r = json.loads([l for l in text.splitlines() if l.startswith("{")][-1])
    genplug.append((r["median_ms"] / 1000, peak_mb(text), r["config"]["weights_kept_mb"]))
def steady_step_s(text):
    # the progress bar's per-step times after the first step: "k/N - T s/it" is step k's own seconds, printed as
    # "k/N - R it/s" (R = 1/T) when the step took under a second
    steps = re.findall(r"\d+/\d+ - ([0-9.]+)(s/it|it/s)", text)[1:]
    seconds = [float(v) if unit == "s/it" else 1 / float(v) for v, unit in steps if float(v) > 0]
    return statistics.median(seconds) if seconds else float("nan")
def sd_weights_mb(text):
    m = re.search(r"diffusion_model ([0-9.]+) ?MB", text)
    return float(m.group(1)) if m else float("nan")
for path in sorted(glob.glob(os.path.join(tmp, "sd.[0-9]*"))):  # not its image
    text = open(path).read()
    m = re.search(r"sampling completed, taking ([0-9.]+) ?s", text)
    if not m:
        sys.exit("compare_sd_cpp.sh: no 'sampling completed, taking T s' in sd.cpp's output")
    sd.append((steady_step_s(text), float(m.group(1)) / steps, peak_mb(text), sd_weights_mb(text)))
g = min(genplug)
print(f"weights: {weights}; s/step best of {runs}; peak RSS (genplug: since the model was built)")
print(f"{'engine':<10} {'s/step':>8} {'with 1st':>9} {'peak RSS MB':>12} {'weights kept MB':>16}")
print(f"{'genplug':<10} {g[0]:8.2f} {'':>9} {g[1]:12.0f} {g[2]:16.1f}")
result = {"weights": weights, "genplug_s_per_step": g[0], "genplug_peak_rss_mb": g[1], "genplug_weights_mb": g[2]}
if sd:
    # steps after the first where there were any, else the whole sampling over its steps
    s = min(sd, key=lambda r: r[0] if r[0] == r[0] else r[1])
    step = s[0] if s[0] == s[0] else s[1]
    if s[0] != s[0]:
        print("sd.cpp: no step times after the first (one step?): its s/step includes the first", file=sys.stderr)
    print(f"{'sd.cpp':<10} {step:8.2f} {s[1]:9.2f} {s[2]:12.0f} {s[3]:16.1f}")
    print(f"sd.cpp / genplug: {step / g[0]:.2f} (time per step), {s[1] / g[0]:.2f} (with sd.cpp's first step), "
          f"{s[2] / g[1]:.2f} (peak RSS)")
    result.update({"sd_cpp_s_per_step": step, "sd_cpp_s_per_step_with_first": s[1], "sd_cpp_peak_rss_mb": s[2],
                   "sd_cpp_weights_mb": s[3], "sd_cpp_over_genplug": step / g[0]})
else:
    print("sd.cpp: not run")
print(json.dumps({k: None if v != v else v for k, v in result.items()}))  # NaN: not measured
PY
