#!/usr/bin/env bash
# ctest bench_usage_errors: the bench programs and scripts refuse bad arguments with exit 2 and a message naming
# the argument, before they run anything (a count of 0 had divided by zero, a negative one aborted or was ignored,
# a missing value ran the full benchmark); a --spectrum file that is no JSON fails naming the file. Programs not
# given are skipped (a build without libtorch has no flux_forward or bench_lora).
#
#   bench/test_usage_errors.sh [--flux-forward BIN] [--bench-lora BIN] [--bench-posenc BIN] [--genplug BIN]
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
flux_forward='' bench_lora='' bench_posenc='' genplug=/nonexistent/genplug
while [[ $# -gt 0 ]]; do
  case $1 in
    --flux-forward) flux_forward=$2 ;;
    --bench-lora) bench_lora=$2 ;;
    --bench-posenc) bench_posenc=$2 ;;
    --genplug) genplug=$2 ;;
    *) echo "test_usage_errors: unknown option $1" >&2; exit 2 ;;
  esac
  shift 2
done
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
export OMP_NUM_THREADS=1
failures=0
checks=0

# expect RC PATTERN COMMAND...: COMMAND exits RC and its stderr (stdout for RC 0) matches PATTERN (grep -E).
expect() {
  local want=$1 pattern=$2 rc=0
  shift 2
  checks=$((checks + 1))
  "$@" > "$tmp/out" 2> "$tmp/err" || rc=$?
  local text=$tmp/err
  [[ $want != 0 ]] || text=$tmp/out
  if [[ $rc != "$want" ]] || ! grep -Eq -- "$pattern" "$text"; then
    echo "test_usage_errors: FAIL: $* exited $rc (want $want, output matching '$pattern'):" >&2
    head -c 600 "$tmp/err" >&2
    failures=$((failures + 1))
  fi
}

if [[ -n $flux_forward ]]; then
  ff=("$flux_forward" --repeat 1 --warmup-s 0)
  expect 2 '--img-tokens' "${ff[@]}" --preset mini --img-tokens 0
  expect 2 '--img-tokens' "${ff[@]}" --rotary-only --img-tokens 0
  expect 2 '--tokens' "${ff[@]}" --attention-only --tokens 0 --heads 2 --head-dim 64
  expect 2 '--heads' "${ff[@]}" --attention-only --tokens 8 --heads 0 --head-dim 64
  expect 2 '--head-dim' "${ff[@]}" --attention-only --tokens 8 --heads 2 --head-dim 0
  expect 2 '--gemm' "${ff[@]}" --gemm -5
  expect 2 '--gemm' "${ff[@]}" --gemm 0
  expect 2 '--threads' "${ff[@]}" --threads -3
  expect 2 '--repeat' "$flux_forward" --repeat 0
  expect 2 '--hidden' "${ff[@]}" --hidden 12abc
  expect 2 '--axes' "${ff[@]}" --axes a,b
  expect 2 '--axes' "${ff[@]}" --axes 8,,12
  expect 2 '--spectrum' "${ff[@]}" --spectrum "$tmp"
  expect 2 '--spectrum' "${ff[@]}" --spectrum "$tmp/missing.json"
  expect 0 '--spectrum' "$flux_forward" --help
  : > "$tmp/empty.txt"
  tiny=(--hidden 64 --heads 2 --double 1 --single 1 --axes '8,12,12' --img-tokens 16 --txt-tokens 8 --context 32
        --vec 16)
  expect 1 "--spectrum $tmp/empty.txt: " "${ff[@]}" "${tiny[@]}" --spectrum "$tmp/empty.txt"
fi

if [[ -n $bench_posenc ]]; then
  expect 0 '^usage: bench_posenc' "$bench_posenc" --help
  expect 2 '--height needs a value' "$bench_posenc" --height
  expect 2 'unknown option --bogus' "$bench_posenc" --bogus 1
  expect 2 "--height: 'abc'" "$bench_posenc" --height abc
  expect 2 "--height: '0'" "$bench_posenc" --height 0 --width 0
  expect 2 "--height: '-16'" "$bench_posenc" --height -16
  expect 2 "--width: '99999999999'" "$bench_posenc" --width 99999999999
  expect 2 "--iterations: '0'" "$bench_posenc" --iterations 0
  expect 2 "--iterations: '-5'" "$bench_posenc" --iterations -5
fi

if [[ -n $bench_lora ]]; then
  expect 2 '--repeats' "$bench_lora" --repeats 0
  expect 2 '--repeats' "$bench_lora" --repeats -2
  expect 2 '--hidden' "$bench_lora" --hidden -64
  expect 2 '--tokens' "$bench_lora" --tokens -1
fi

# The scripts check their arguments before they look for the programs they run.
for runs in 0 abc -2; do
  expect 2 'RUNS' bash "$here/startup/bench_startup.sh" "$genplug" "$runs"
done
expect 2 'ROUNDS' bash "$here/posenc/bench_dype_sampling.sh" "$genplug" 0 16 1
expect 2 'ROUNDS' bash "$here/posenc/bench_dype_sampling.sh" "$genplug" -1 16 1
expect 2 'TOKENS' bash "$here/posenc/bench_dype_sampling.sh" "$genplug" 6 0 1
expect 2 'TOKENS' bash "$here/posenc/bench_dype_sampling.sh" "$genplug" 6 abc 1
expect 2 'TOKENS' bash "$here/posenc/bench_dype_sampling.sh" "$genplug" 6 '16; import os' 1
expect 2 '--runs' sh "$here/flux_forward/compare_attention.sh" "${flux_forward:-flux_forward}" --runs 0
expect 2 '--kernels' sh "$here/flux_forward/compare_attention.sh" "${flux_forward:-flux_forward}" --kernels bogus

[[ $failures == 0 ]] || { echo "test_usage_errors: $failures of $checks checks failed" >&2; exit 1; }
echo "test_usage_errors: ok ($checks checks)"
