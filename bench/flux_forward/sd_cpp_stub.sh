#!/bin/sh
# Stands in for stable-diffusion.cpp's `sd` in the CTest run of compare_sd_cpp.sh (machines without sd.cpp): checks
# the arguments the script passes (a GGUF diffusion model, 512^2, Euler, cfg 1, N steps) and prints sd.cpp's two
# timing lines for 0.5 s per step.
model= steps=
while [ $# -gt 0 ]; do
  case "$1" in
    --diffusion-model) model=$2; shift 2 ;;
    --steps) steps=$2; shift 2 ;;
    --sampling-method) [ "$2" = euler ] || { echo "sd_cpp_stub: sampler $2" >&2; exit 3; }; shift 2 ;;
    --cfg-scale) [ "$2" = 1.0 ] || { echo "sd_cpp_stub: cfg $2" >&2; exit 3; }; shift 2 ;;
    *) shift ;;
  esac
done
[ "$(head -c 4 "$model")" = GGUF ] || { echo "sd_cpp_stub: $model is not a GGUF file" >&2; exit 3; }
echo "  |==================================================| $steps/$steps - 0.50s/it"
echo "[INFO ] stable-diffusion.cpp:1234 - sampling completed, taking $(awk -v n="$steps" 'BEGIN { printf "%.2f", n * 0.5 }')s"
