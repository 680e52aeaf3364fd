#!/bin/sh
# Stands in for stable-diffusion.cpp's `sd` in the CTest run of compare_sd_cpp.sh (machines without sd.cpp): checks
# the arguments the script passes (a GGUF diffusion model, 512^2, Euler, cfg 1, N steps) and prints the sd.cpp
# output lines the script reads: its params line, a progress bar of 1.8 s for the first step and 0.5 s for each
# other (which sd.cpp writes as 2.00it/s, under a second), and the sampling time.
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
echo "[INFO ] stable-diffusion.cpp:1745 - total params memory size = 2.00MB (VRAM 0.00MB, RAM 2.00MB): text_encoders 1.00MB(RAM), diffusion_model 0.50MB(RAM), vae 0.50MB(RAM)"
k=1
while [ "$k" -le "$steps" ]; do  # the first step slower, as sd.cpp's (graph and buffers)
  printf '  |=====| %d/%d - %s\033[K' "$k" "$steps" "$([ "$k" = 1 ] && echo 1.80s/it || echo 2.00it/s)"
  k=$((k + 1))
done
echo
echo "[INFO ] stable-diffusion.cpp:5711 - sampling completed, taking $(awk -v n="$steps" 'BEGIN { printf "%.2f", 1.3 + n * 0.5 }')s"
