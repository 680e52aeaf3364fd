#!/usr/bin/env bash
# ctest bench_gpu_dry_run: bench/gpu/run.sh --dry-run against BUILD_DIR (CPU, tiny shapes, f32) must write the
# JSON of a GPU run with its keys and positive times, and the card table must give the peaks it documents.
#
#   bench/gpu/test_dry_run.sh BUILD_DIR
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
build=${1:?usage: test_dry_run.sh BUILD_DIR}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

fail() { echo "test_dry_run: FAIL: $*" >&2; exit 1; }

# The card table (nvidia-smi names).
check_peak() {
  local got
  got=$("$here/run.sh" --bf16-peak "$1")
  [[ $got == "$2" ]] || fail "--bf16-peak '$1' gave $got, not $2"
}
check_peak 'NVIDIA H100 80GB HBM3' 989
check_peak 'NVIDIA H100 PCIe' 756
check_peak 'NVIDIA H100 NVL' null
check_peak 'NVIDIA H200' 989
check_peak 'NVIDIA A100-SXM4-80GB' 312
check_peak 'NVIDIA A100 80GB PCIe' 312
check_peak 'NVIDIA L40S' 362
check_peak 'NVIDIA L40' null
check_peak 'NVIDIA GeForce RTX 4090' 165
check_peak 'Tesla T4' null

# Usage errors exit 2 before doing anything: a bad count, an option without its value (${2:?} had exited 1), an
# --out that cannot be written, or a folder (which had run every step, then failed and left <folder>.d/).
usage_error() {
  local rc=0
  "$here/run.sh" "$@" > /dev/null 2>&1 || rc=$?
  [[ $rc == 2 ]] || fail "run.sh $* exited $rc, not 2"
}
usage_error --dry-run --repeat 0
usage_error --dry-run --repeat
usage_error --dry-run --no-golden --sizes ''
usage_error --dry-run --no-golden --sizes 64,abc
usage_error --dry-run --no-golden --out /proc/no-such-process/g.json
mkdir "$tmp/folder"
usage_error --dry-run --no-golden --build-dir "$build" --out "$tmp/folder"
[[ ! -e $tmp/folder.d ]] || fail "run.sh --out FOLDER made $tmp/folder.d"
usage_error --bf16-peak

"$here/run.sh" --dry-run --build-dir "$build" --out "$tmp/dry.json" --repeat 2

python3 - "$tmp/dry.json" <<'PY'
import json, math, sys

doc = json.load(open(sys.argv[1]))
def need(ok, what):
    if not ok:
        sys.exit(f"test_dry_run: FAIL: {what}")

for key in ("schema", "mode", "created_utc", "git", "card", "torch", "model", "golden_tests", "peak_memory_source",
            "gemm", "dype_cost_ratio_on_over_off", "token_runs", "runs", "notes"):
    need(key in doc, f"top-level key {key} missing")
need(doc["mode"] == "cpu-dry-run", "mode is not cpu-dry-run")
for key in ("name", "driver", "memory_total_bytes", "bf16_dense_peak_tflops"):
    need(key in doc["card"], f"card.{key} missing")
need(doc["card"]["bf16_dense_peak_tflops"] is None, "a CPU has no BF16 peak")
need(isinstance(doc["torch"]["version"], str) and doc["torch"]["version"], "torch.version missing")
need(doc["golden_tests"]["passed"] is True and doc["golden_tests"]["device"] == "cpu", "golden tests did not pass")
gemm = doc["gemm"]
need(gemm["error"] is None and gemm["n"] == 64 and gemm["dtype"] == "f32", f"gemm {gemm}")
need(isinstance(gemm["tflops_per_s"], float) and gemm["tflops_per_s"] > 0, f"gemm rate {gemm['tflops_per_s']}")

runs = doc["runs"]
need([(r["size_px"], r["dype"]) for r in runs] == [(64, False), (64, True), (128, False), (128, True)],
     "runs are not 64 and 128 px, DyPE off then on")
keys = ("s_per_step", "min_s_per_step", "s_per_28_steps", "flop_per_step", "tflops_per_s", "ratio_to_bf16_peak",
        "ratio_to_measured_gemm",
        "peak_gpu_memory_bytes", "peak_gpu_reserved_bytes", "peak_gpu_memory_used_nvidia_smi_bytes",
        "peak_rss_bytes", "spectrum", "spectrum_max_rel_diff_from_plain", "image_tokens", "txt_tokens", "dtype",
        "device", "attention", "repeat", "error", "flux_forward")
for r in runs:
    where = f"{r['size']} dype={r['dype']}"
    for key in keys:
        need(key in r, f"{where}: {key} missing")
    need(r["error"] is None, f"{where}: error {r['error']}")
    for key in ("s_per_step", "min_s_per_step", "s_per_28_steps", "flop_per_step", "tflops_per_s", "peak_rss_bytes"):
        need(isinstance(r[key], (int, float)) and r[key] > 0 and math.isfinite(r[key]), f"{where}: {key} = {r[key]}")
    need(abs(r["s_per_28_steps"] - 28 * r["s_per_step"]) < 1e-12, f"{where}: 28 steps is not 28 x s/step")
    need(abs(r["ratio_to_measured_gemm"] * gemm["tflops_per_s"] - r["tflops_per_s"]) < 1e-9 * r["tflops_per_s"],
         f"{where}: ratio to the measured GEMM rate {r['ratio_to_measured_gemm']}")
    need(r["peak_gpu_memory_bytes"] is None and r["ratio_to_bf16_peak"] is None, f"{where}: GPU figures on a CPU")
    need(r["image_tokens"] == (r["size_px"] // 16) ** 2, f"{where}: image tokens")
    need(r["repeat"] == 2, f"{where}: --repeat not passed on")
# The tiny layout is trained at 4 x 4 tokens (64 px): DyPE is plain RoPE there and differs at 2x.
diff = {(r["size_px"], r["dype"]): r["spectrum_max_rel_diff_from_plain"] for r in runs}
need(diff[(64, False)] == 0 and diff[(64, True)] == 0 and diff[(128, False)] == 0, "plain spectra differ from plain")
need(diff[(128, True)] > 0, "the DyPE spectrum at 2x equals plain RoPE")
for size in ("64x64", "128x128"):
    ratio = doc["dype_cost_ratio_on_over_off"].get(size)
    need(isinstance(ratio, float) and ratio > 0, f"dype cost ratio at {size}: {ratio}")
tr = doc["token_runs"]
need(tr["error"] is None and tr["size"] == "64x64" and tr["token_run_default"] > 0, f"token runs {tr}")
need(tr["s_per_step_default"] == runs[0]["s_per_step"] and tr["s_per_step_whole"] > 0
     and abs(tr["ratio_whole_over_default"] * tr["s_per_step_default"] - tr["s_per_step_whole"]) < 1e-12,
     f"token runs' times {tr}")
print("test_dry_run: ok:", ", ".join(f"{r['size']} dype={r['dype']} {r['s_per_step'] * 1e3:.2f} ms" for r in runs))
PY
