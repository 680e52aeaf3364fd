#!/usr/bin/env bash
# ctest bench_gpu_stubbed: bench/gpu/run.sh's GPU mode on a machine without one. nvidia-smi, the Python torch, the
# libtorch CMake package, flux_forward and the golden test are stubs; genplug and the DyPE plugin are BUILD_DIR's.
# Checks what only a GPU run does: the card query (and CUDA_VISIBLE_DEVICES), the libtorch checks (CUDA, C++11 ABI),
# the arguments of the FLUX-dev runs and of the GEMM timing, the golden run's device, the DyPE spectra at 1024^2 and
# 4096^2, and the JSON (ratios to the card's BF16 peak and to the measured GEMM rate, memory fields, a failed size
# recorded with its error and exit status 1).
#
#   bench/gpu/test_stubbed.sh BUILD_DIR
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
build=$(cd "${1:?usage: test_stubbed.sh BUILD_DIR}" && pwd)
t=$(mktemp -d)
trap 'rm -rf "$t"' EXIT
fail() { echo "test_stubbed: FAIL: $*" >&2; exit 1; }

mkdir -p "$t/bin" "$t/py/torch" "$t/prefix/share/cmake/Torch" "$t/prefix/share/cmake/Caffe2" "$t/build/bin" \
  "$t/build/tests"
cat > "$t/bin/nvidia-smi" <<'STUB'
#!/usr/bin/env bash
echo "$*" >> "$STUB_LOG/smi.log"
case "$*" in
  *name,driver_version,memory.total*) echo "NVIDIA H100 80GB HBM3, 570.86.15, 81559" ;;
  *memory.used*) printf '1000\n52000\n51000\n'; exec sleep 30 ;;
esac
STUB
cat > "$t/py/torch/__init__.py" <<'STUB'
import os
__version__ = "2.7.0+cu126"
class version: cuda = "12.6"
class cuda:
    @staticmethod
    def is_available(): return os.environ.get("STUB_CUDA", "1") == "1"
def compiled_with_cxx11_abi(): return True
class utils: cmake_prefix_path = os.environ["STUB_PREFIX"]
STUB
printf '#!/bin/sh\nPYTHONPATH="%s" exec python3 "$@"\n' "$t/py" > "$t/bin/python-torch"
echo 'set(TORCH_CXX_FLAGS "-D_GLIBCXX_USE_CXX11_ABI=1")' > "$t/prefix/share/cmake/Torch/TorchConfig.cmake"
echo 'add_library(c10_cuda SHARED IMPORTED)' > "$t/prefix/share/cmake/Caffe2/Caffe2Targets.cmake"
cat > "$t/build/bin/flux_forward" <<'STUB'
#!/usr/bin/env bash
echo "$*" >> "$STUB_LOG/flux_forward.log"
if [[ " $* " == *" --gemm "* ]]; then  # the GEMM rate: 791.2 TFLOP/s
  echo '{"config": {"mode": "gemm", "n": 8192}, "gflops_per_s": 791200.0, "median_ms": 1.39}'
  exit 0
fi
if [[ " $* " == *" --token-run 0 "* ]]; then  # the per-token work whole: 180 ms a step against 200
  echo '{"config": {"token_run": 0}, "median_ms": 180.0, "min_ms": 175.0}'
  exit 0
fi
[[ " $* " == *" --img-tokens 65536 "* ]] && { echo "flux_forward: CUDA out of memory (stub)" >&2; exit 1; }
# Runs until run.sh's nvidia-smi sampler has written its three samples (beside the spectrum: smi-<size>.txt).
spectrum=${!#}  # the last argument
samples=${spectrum%/dype-*}/smi-${spectrum##*/dype-}
samples=${samples%.json}.txt
for _ in $(seq 100); do [[ -f $samples && $(wc -l < "$samples") -ge 3 ]] && break; sleep 0.1; done
for s in 0.0 0.5; do  # one line per spectrum, as flux_forward prints them
  tr -d '\n' <<JSON; echo
{"config": {"attention": "scaled_dot_product_attention", "repeat": 3, "spectrum_max_rel_diff_from_plain": $s,
 "torch_version": "2.7.0", "token_run": 2048}, "cpu_utilisation": 1.0, "cuda_memory": {"allocated_bytes": 24000000000,
 "peak_allocated_bytes": 26000000000, "peak_reserved_bytes": 27000000000, "weights_and_inputs_bytes": 23900000000},
 "gflop": 98900, "median_ms": 200.0, "min_ms": 190.0, "peak_rss_mb": 3000}
JSON
done
STUB
cat > "$t/build/tests/test_flux_transformer" <<'STUB'
#!/bin/sh
echo "device=$GENPLUG_TEST_DEVICE" >> "$STUB_LOG/golden.log"
STUB
ln -s "$build/bin/genplug" "$t/build/bin/genplug"
ln -s "$build/plugins" "$t/build/plugins"
chmod +x "$t/bin/"* "$t/build/bin/flux_forward" "$t/build/tests/test_flux_transformer"
export PATH="$t/bin:$PATH" STUB_LOG=$t STUB_PREFIX=$t/prefix/share/cmake
run=("$here/run.sh" --python "$t/bin/python-torch" --build-dir "$t/build" --no-build)

# Set-up errors exit 2 with the reason: no CUDA device for torch, a pre-C++11-ABI libtorch, a CPU-only libtorch.
expect_setup_error() {
  local words=$1 rc=0
  shift
  "$@" > /dev/null 2> "$t/err" || rc=$?
  if [[ $rc != 2 ]] || ! grep -q "$words" "$t/err"; then
    fail "expected exit 2 with '$words', got $rc: $(cat "$t/err")"
  fi
}
expect_setup_error 'torch.cuda.is_available() is False' env STUB_CUDA=0 "${run[@]}" --out "$t/x.json"
echo 'set(TORCH_CXX_FLAGS "-D_GLIBCXX_USE_CXX11_ABI=0")' > "$t/prefix/share/cmake/Torch/TorchConfig.cmake"
expect_setup_error 'pre-C++11 ABI' "${run[@]}" --out "$t/x.json"
echo 'set(TORCH_CXX_FLAGS "-D_GLIBCXX_USE_CXX11_ABI=1")' > "$t/prefix/share/cmake/Torch/TorchConfig.cmake"
echo '' > "$t/prefix/share/cmake/Caffe2/Caffe2Targets.cmake"
expect_setup_error 'CPU-only libtorch' "${run[@]}" --out "$t/x.json"
echo 'add_library(c10_cuda SHARED IMPORTED)' > "$t/prefix/share/cmake/Caffe2/Caffe2Targets.cmake"
[[ ! -e $t/x.d ]] || fail "a failed set-up left $t/x.d"

# The run: cuda:1 of CUDA_VISIBLE_DEVICES=3,5 is nvidia-smi's card 5; the 4096^2 stub runs out of memory.
rc=0
CUDA_VISIBLE_DEVICES=3,5 "${run[@]}" --device cuda:1 --out "$t/gpu.json" 2> "$t/run.err" || rc=$?
[[ $rc == 1 ]] || fail "a failed size must exit 1, got $rc: $(cat "$t/run.err")"
grep -q -- '-i 5 --query-gpu=name' "$t/smi.log" || fail "nvidia-smi was not asked about card 5: $(cat "$t/smi.log")"
[[ $(cat "$t/golden.log") == device=cuda:1 ]] || fail "golden test ran with $(cat "$t/golden.log")"
expected='--preset flux-dev --device-weights --img-tokens 4096 --txt-tokens 512 --dtype bf16 --device cuda:1'
expected+=' --repeat 3 --spectrum plain --spectrum '
[[ $(grep -c -- "$expected" "$t/flux_forward.log") == 1 ]] ||
  fail "flux_forward arguments at 1024^2: $(cat "$t/flux_forward.log")"
grep -q -- '--img-tokens 65536 ' "$t/flux_forward.log" || fail "no 4096^2 run"
grep -q -- '--gemm 8192 --dtype bf16 --device cuda:1 --repeat 10' "$t/flux_forward.log" ||
  fail "GEMM arguments: $(cat "$t/flux_forward.log")"
grep -q -- '--img-tokens 4096 --txt-tokens 512 --dtype bf16 --device cuda:1 --repeat 3 --token-run 0 --spectrum plain' \
  "$t/flux_forward.log" || fail "--token-run 0 arguments: $(cat "$t/flux_forward.log")"

python3 - "$t/gpu.json" <<'PY'
import json, sys
doc = json.load(open(sys.argv[1]))
def need(ok, what):
    if not ok:
        sys.exit(f"test_stubbed: FAIL: {what}")
need(doc["mode"] == "gpu", "mode")
card = {"name": "NVIDIA H100 80GB HBM3", "driver": "570.86.15", "memory_total_bytes": 81559 * 2**20,
        "bf16_dense_peak_tflops": 989.0}
need({k: doc["card"][k] for k in card} == card, f"card {doc['card']}")
need(doc["torch"]["python"]["version"] == "2.7.0+cu126" and doc["torch"]["cxx11_abi"] is True, "torch")
need(doc["golden_tests"]["passed"] is True and doc["golden_tests"]["device"] == "cuda:1", "golden")
runs = {(r["size_px"], r["dype"]): r for r in doc["runs"]}
need(sorted(runs) == [(1024, False), (1024, True), (4096, False), (4096, True)], f"runs {sorted(runs)}")
for dype in (False, True):
    r = runs[(1024, dype)]
    need(r["image_tokens"] == 4096 and r["txt_tokens"] == 512 and r["dtype"] == "bf16", "1024 shapes")
    need(r["s_per_step"] == 0.2 and abs(r["s_per_28_steps"] - 5.6) < 1e-12, "s/step")
    need(abs(r["tflops_per_s"] - 494.5) < 1e-9 and abs(r["ratio_to_bf16_peak"] - 0.5) < 1e-12, "TFLOP/s and ratio")
    need(abs(r["ratio_to_measured_gemm"] - 0.625) < 1e-12, f"ratio to the GEMM rate {r['ratio_to_measured_gemm']}")
    need(r["peak_gpu_memory_bytes"] == 26000000000 and r["peak_gpu_reserved_bytes"] == 27000000000, "CUDA memory")
    need(r["peak_gpu_memory_used_nvidia_smi_bytes"] == 52000 * 2**20, "nvidia-smi peak")
    r = runs[(4096, dype)]
    need(r["image_tokens"] == 65536 and r["s_per_step"] is None and "out of memory" in r["error"], "failed size")
    need(r["ratio_to_measured_gemm"] is None, "a failed size has a GEMM ratio")
need(doc["dype_cost_ratio_on_over_off"] == {"1024x1024": 1.0, "4096x4096": None}, "DyPE cost ratios")
need(doc["gemm"]["n"] == 8192 and abs(doc["gemm"]["tflops_per_s"] - 791.2) < 1e-9 and doc["gemm"]["dtype"] == "bf16",
     f"gemm {doc['gemm']}")
tr = doc["token_runs"]
need({k: tr[k] for k in ("size", "token_run_default", "s_per_step_default", "s_per_step_whole", "error")} ==
     {"size": "1024x1024", "token_run_default": 2048, "s_per_step_default": 0.2, "s_per_step_whole": 0.18,
      "error": None} and abs(tr["ratio_whole_over_default"] - 0.9) < 1e-12, f"token runs {tr}")
# The real DyPE plugin's spectra: plain RoPE at FLUX's training size, stretched at 4x.
spectrum = lambda s: json.load(open(runs[(s, True)]["spectrum_file"]))["axes"]
need(all(a["mscale"] == 1.0 for a in spectrum(1024)), "DyPE at 1024^2 is not plain RoPE")
need(spectrum(4096)[1]["mscale"] > 1.0 and spectrum(4096)[1]["dim"] == 56, "DyPE at 4096^2 is plain RoPE")
print("test_stubbed: ok")
PY
