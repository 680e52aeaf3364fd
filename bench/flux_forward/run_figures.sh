#!/bin/sh
# Reproduces the figures of docs/performance.md: one JSON line per run on stdout.
#   bench/flux_forward/run_figures.sh [path/to/flux_forward] > figures.jsonl
# Run it on an otherwise idle machine; every run is single-process, CPU fp32 unless stated.
set -eu
BIN=${1:-build/bin/flux_forward}

# 1. Thread settings: torch intra-op threads x OpenBLAS's own pool (OPENBLAS_NUM_THREADS).
for blas in 1 2; do
  for torch_threads in 1 2; do
    OPENBLAS_NUM_THREADS=$blas "$BIN" --threads "$torch_threads" --repeat 5 | sed "s/^{/{\"openblas_threads\":$blas,/"
  done
done

# 2. The bench config (defaults) and the GEMM bound, with the best thread setting found above.
"$BIN" --repeat 5
for n in 1024 2048 4096; do "$BIN" --gemm "$n" --repeat 5; done

# 3. Attention alone: 24 heads, head dim 128 (FLUX.1), at 4096 and 16384 tokens.
"$BIN" --attention-only --tokens 4096 --heads 24 --repeat 3
OPENBLAS_NUM_THREADS=1 "$BIN" --attention-only --tokens 4096 --heads 24 --repeat 3 | sed 's/^{/{"openblas_threads":1,/'
for mb in 256 64 16 4; do "$BIN" --attention-only --tokens 4096 --heads 24 --repeat 3 --attention-budget-mb "$mb"; done
"$BIN" --attention-only --tokens 16384 --heads 24 --repeat 1
