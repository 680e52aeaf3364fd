#!/usr/bin/env bash
# bench/gpu/run.sh: the GPU run of issue #18 (item 6), ready to go. Builds genplug against a CUDA libtorch, runs the
# FLUX golden tests on the device, times one FLUX-dev forward (= one sampling step: FLUX-dev is guidance-distilled,
# one evaluation per step) with random weights in bf16 at 1024^2 and 4096^2, DyPE off and on, and writes one JSON
# file. --dry-run does the same steps on the CPU with an existing CPU build and tiny shapes (the ctest
# bench_gpu_dry_run), so that the script stays tested where no GPU is lent. docs/performance.md, section "GPU".
set -euo pipefail

usage() {
  cat <<'EOF'
Usage: bench/gpu/run.sh [OPTIONS]          a CUDA machine: build, golden tests on CUDA, FLUX-dev timings -> JSON
       bench/gpu/run.sh --dry-run [OPTIONS] the same steps on the CPU with the existing CPU build, tiny shapes

Steps
  1. libtorch: --torch-prefix DIR, else the CMake prefix of the pip-installed torch of --python
     (torch.utils.cmake_prefix_path); checks torch.cuda.is_available() and the C++11 ABI (genplug links Debian's
     Boost, OpenEXR, ... built with it: a libtorch with -D_GLIBCXX_USE_CXX11_ABI=0 cannot link with them).
     Configures --build-dir (Ninja, Release, CMAKE_PREFIX_PATH=libtorch) and builds flux_forward, genplug,
     genplug_dype and test_flux_transformer. Needs the Debian packages of scripts/setup.sh and, for libtorch's
     CMake package, the CUDA toolkit (nvcc; --cmake-arg -DCUDAToolkit_ROOT=... if it is not on PATH).
  2. Golden tests on the device: test_flux_transformer with GENPLUG_TEST_DEVICE=<device> (the tiny BFL model's
     forward with plain RoPE and the DyPE spectrum, diffusers weights, 4-step Euler sampling; fp32).
     The other golden suites (plugin through the C ABI, attention units, VAE, T5, CLIP, pipeline) are CPU-only.
  3. Spectra: `genplug posenc` with the DyPE plugin (dy-yarn, t = 0.7, the sigma the bench's forward gets) at each
     size, FLUX.1's layout (samples/layouts/flux.json: trained at 64 x 64 tokens = 1024^2, so DyPE is plain RoPE
     there and differs at 4096^2).
  4. flux_forward --preset flux-dev --device-weights --dtype bf16: random weights drawn on the GPU, 512 text
     tokens, (size/16)^2 image tokens, warm-up forwards for 1 s (at least one), then --repeat timed forwards
     per spectrum (plain RoPE = DyPE off, then the dy-yarn spectrum = DyPE on) on one model.
     Peak GPU memory from libtorch's CUDA caching allocator (c10::cuda::CUDACachingAllocator::getDeviceStats),
     and the device's memory.used sampled by nvidia-smi every 200 ms while each size runs. Then the device's own
     GEMM rate: flux_forward --gemm 8192 (--gemm 64 in the dry run) in the same dtype, 10 timed products.
     Last, the first size once more with plain RoPE and --token-run 0: the blocks' per-token work in one piece
     instead of runs of 2 048 tokens (a memory bound made for the CPU), "token_runs" in the JSON.
  5. JSON (--out): card, driver, torch, golden result, and per size and DyPE on/off: s/step, 28 steps, peak GPU
     memory, FLOPs (bench/flux_forward/flops.hpp), TFLOP/s, the ratio to the card's dense BF16 peak (table below;
     null for a card not in it) and the ratio to the GEMM rate measured in the run ("gemm"). Intermediate files
     (logs, spectra, raw JSON lines) go to <out without .json>.d/.

Options
  --dry-run             CPU, f32, tiny model (hidden 64, 2 heads, 1 + 1 blocks, axes 8,12,12, 8 text tokens) at
                        64 and 128 px (16 and 64 image tokens; the tiny layout is trained at 4 x 4 tokens), one
                        torch thread; no build unless --build; peak GPU memory null, peak RSS instead
  --build-dir DIR       build folder (default: build-gpu; with --dry-run: build)
  --torch-prefix DIR    a CUDA libtorch (the folder holding share/cmake/Torch, or share/cmake itself)
  --python PY           the Python whose torch to use (default: python3)
  --device DEV          cuda or cuda:N (default: cuda)
  --sizes LIST          image sizes in pixels, comma separated (default: 1024,4096; with --dry-run 64,128)
  --repeat N            timed forwards per spectrum after the warm-up (default: 3)
  --out FILE            the JSON (default: bench-gpu.json; with --dry-run bench-gpu-dry-run.json)
  --cmake-arg ARG       one more argument for the configure step (repeatable)
  --jobs N              build jobs (default: ninja's)
  --build / --no-build  build the targets or not (default: build; with --dry-run: not)
  --no-golden           skip step 2
  --bf16-peak NAME      print the table's dense BF16 TFLOP/s for an nvidia-smi card name (or null) and exit
  -h, --help            this help

Dense BF16 tensor peaks (TFLOP/s, datasheet figures without sparsity): H100 SXM 989, H100 PCIe 756, H200 989,
A100 312, L40S 362, RTX 4090 165 (FP32 accumulate). NVL variants and other cards: null.

Exit status: 0 when every step passed; 1 when the golden tests or a timing failed (the JSON is written anyway);
2 for a usage or set-up error.
EOF
}

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
log() { echo "bench/gpu/run.sh: $*" >&2; }
die() { log "error: $*"; exit 2; }
# An option's value, or a usage error: `need WHAT "$@"` in the option loop. ${2:?} exited 1, not 2.
need() { [[ $# -ge 3 && -n $3 ]] || die "$2 needs $1"; }

# Dense BF16 tensor-core peak in TFLOP/s of an nvidia-smi card name, or null. Datasheets give the sparse figure
# with an asterisk; these are half of it. nvidia-smi names: "NVIDIA H100 80GB HBM3" (SXM), "NVIDIA H100 PCIe",
# "NVIDIA H100 NVL", "NVIDIA H200", "NVIDIA A100-SXM4-80GB", "NVIDIA L40S", "NVIDIA GeForce RTX 4090".
bf16_peak() {
  local name=${1,,}
  case $name in
    *nvl*) echo null ;;                  # H100 / H200 NVL: other power and clocks, not in the table
    *h100*pcie*) echo 756 ;;
    *h100*) echo 989 ;;                  # SXM5
    *h200*) echo 989 ;;
    *a100*) echo 312 ;;                  # SXM4 and PCIe alike
    *l40s*) echo 362 ;;
    *"rtx 4090 d"* | *laptop*) echo null ;;
    *"rtx 4090"*) echo 165 ;;            # FP32 accumulate (FP16 accumulate would be 330)
    *) echo null ;;
  esac
}

dry_run=0 build_dir='' torch_prefix='' python=python3 device=cuda sizes='' repeat=3 out='' jobs=''
do_build='' golden=1
cmake_args=()
while [[ $# -gt 0 ]]; do
  case $1 in
    --dry-run) dry_run=1 ;;
    --build-dir) need 'a folder' "$@"; build_dir=$2; shift ;;
    --torch-prefix) need 'a folder' "$@"; torch_prefix=$2; shift ;;
    --python) need 'an interpreter' "$@"; python=$2; shift ;;
    --device) need 'cuda or cuda:N' "$@"; device=$2; shift ;;
    --sizes) need 'a list' "$@"; sizes=$2; shift ;;
    --repeat) need 'a number' "$@"; repeat=$2; shift ;;
    --out) need 'a file' "$@"; out=$2; shift ;;
    --cmake-arg) need 'an argument' "$@"; cmake_args+=("$2"); shift ;;
    --jobs) need 'a number' "$@"; jobs=$2; shift ;;
    --build) do_build=1 ;;
    --no-build) do_build=0 ;;
    --no-golden) golden=0 ;;
    --bf16-peak) need 'a card name' "$@"; bf16_peak "$2"; exit 0 ;;
    -h | --help) usage; exit 0 ;;
    *) usage >&2; die "unknown option '$1'" ;;
  esac
  shift
done
# Nine digits at most: flux_forward takes --repeat as an int, and bash's arithmetic below stays exact.
[[ $repeat =~ ^[1-9][0-9]{0,8}$ ]] || die "--repeat must be an integer from 1 to 999999999, not '$repeat'"
[[ -z $jobs || $jobs =~ ^[1-9][0-9]{0,8}$ ]] || die "--jobs must be an integer from 1 to 999999999, not '$jobs'"

if [[ $dry_run == 1 ]]; then
  mode=cpu-dry-run
  build_dir=${build_dir:-$root/build}
  sizes=${sizes:-64,128}
  out=${out:-bench-gpu-dry-run.json}
  do_build=${do_build:-0}
  device=cpu dtype=f32 txt_tokens=8 ppt=16
  # FLUX's 16:56:56 split at head dim 32, trained at 4 x 4 tokens (64 px): 128 px is DyPE's 2x.
  layout='{"axis_dims": [8, 12, 12], "axis_flags": ["index", "spatial", "spatial"], "theta": 10000,
           "base_extent": [1, 4, 4], "pixels_per_token": 16}'
  model_args=(--hidden 64 --heads 2 --double 1 --single 1 --axes '8,12,12' --in-channels 64 --context 64 --vec 32
              --device-weights --threads 1)
  gemm_args=(--gemm 64 --threads 1)
  model_desc='tiny FLUX (hidden 64, 2 heads, 1 double + 1 single block, axes 8,12,12, context 64, vec 32)'
  export OPENBLAS_NUM_THREADS=1 OMP_NUM_THREADS=1  # one core: the dry run is a test, often beside other work
else
  mode=gpu
  build_dir=${build_dir:-$root/build-gpu}
  sizes=${sizes:-1024,4096}
  out=${out:-bench-gpu.json}
  do_build=${do_build:-1}
  dtype=bf16 txt_tokens=512 ppt=16
  [[ $device =~ ^cuda(:[0-9]+)?$ ]] || die "--device must be cuda or cuda:N, not '$device'"
  layout="@$root/samples/layouts/flux.json"
  model_args=(--preset flux-dev --device-weights)  # weights drawn on the GPU: seconds, not minutes on one CPU core
  gemm_args=(--gemm 8192)  # 1.1 TFLOP a product: well past launch overhead, 384 MB of operands (6x the L2)
  model_desc='FLUX-dev preset (hidden 3072, 24 heads, 19 double + 38 single blocks, axes 16,56,56, context 4096,'
  model_desc+=' vec 768, in 64, guidance embedding)'
fi
build_dir=$(realpath -m "$build_dir")
IFS=, read -ra size_list <<< "$sizes"
for s in "${size_list[@]}"; do
  [[ $s =~ ^[1-9][0-9]{0,8}$ && $((s % ppt)) == 0 ]] ||
    die "--sizes: '$s' is not a positive multiple of $ppt px (at most 999999999)"
done
notes=()
# Logs, spectra and raw JSON lines beside the output; made once the checks below have passed.
work=${out%.json}.d
# --out checked before anything runs: a folder there ran every step, then failed in the JSON writer (and left
# <folder>.d/); a place that cannot be written failed at mkdir with status 1.
[[ ! -d $out ]] || die "--out: $out is a folder, not a file (e.g. ${out%/}/bench-gpu.json)"
[[ ! -e $out || -f $out ]] || die "--out: $out is not a regular file"
out_dir=$(dirname -- "$out")
[[ -d $out_dir && -w $out_dir ]] || die "--out: $out_dir is not a folder this user can write to"
[[ ! -e $out || -w $out ]] || die "--out: $out cannot be written"
[[ ! -e $work || -d $work ]] || die "--out: $work (for the intermediate files) is not a folder"
make_work() {
  mkdir -p "$work" || die "cannot make $work"
  work=$(cd "$work" && pwd)
  : > "$work/steps.log"
}

# ---- 1. libtorch, the card, the build -------------------------------------------------------------------------
card_name=null driver=null memory_total_mib=null torch_python=null cxx11_abi=null cuda_available=null
smi_id=''
if [[ $mode == gpu ]]; then
  command -v nvidia-smi > /dev/null || die "nvidia-smi not found: no NVIDIA driver on this machine"
  index=0
  [[ $device == cuda:* ]] && index=${device#cuda:}
  smi_id=$index
  if [[ -n ${CUDA_VISIBLE_DEVICES:-} ]]; then  # cuda:N counts the visible devices; nvidia-smi -i counts them all
    IFS=, read -ra visible <<< "$CUDA_VISIBLE_DEVICES"
    smi_id=${visible[$index]:-$index}
  fi
  IFS=, read -r card_name driver memory_total_mib < <(nvidia-smi -i "$smi_id" \
    --query-gpu=name,driver_version,memory.total --format=csv,noheader,nounits | head -1 | sed 's/, */,/g')
  [[ -n $card_name && $memory_total_mib =~ ^[0-9.]+$ ]] || die "nvidia-smi -i $smi_id names no card"
  log "card: $card_name, driver $driver, $memory_total_mib MiB"

  if "$python" -c 'import torch' 2> /dev/null; then
    torch_python=$("$python" - <<'EOF'
import json, torch
print(json.dumps({"version": torch.__version__, "cuda": torch.version.cuda,
                  "cuda_available": torch.cuda.is_available(),
                  "cxx11_abi": bool(torch.compiled_with_cxx11_abi()),
                  "cmake_prefix_path": torch.utils.cmake_prefix_path}))
EOF
)
    cuda_available=$("$python" -c 'import json, sys; print(json.loads(sys.argv[1])["cuda_available"])' "$torch_python")
    [[ $cuda_available == True ]] ||
      die "torch.cuda.is_available() is False for $python's torch: a CPU-only torch, or no usable device"
    [[ -n $torch_prefix ]] || torch_prefix=$("$python" -c 'import torch; print(torch.utils.cmake_prefix_path)')
  elif [[ -z $torch_prefix ]]; then
    die "$python cannot import torch: pip install torch (a CUDA build), or give --torch-prefix"
  else
    notes+=("torch.cuda.is_available() not checked: $python has no torch; libtorch from --torch-prefix")
  fi
  torch_config=$(find "$torch_prefix" -maxdepth 4 -name TorchConfig.cmake -print -quit 2> /dev/null || true)
  [[ -n $torch_config ]] || die "no TorchConfig.cmake under $torch_prefix"
  if grep -q -- '-D_GLIBCXX_USE_CXX11_ABI=0' "$torch_config"; then
    cxx11_abi=false
    die "$torch_config is built with the pre-C++11 ABI (-D_GLIBCXX_USE_CXX11_ABI=0), which cannot link with
  Debian's Boost, OpenEXR, ... (C++11 ABI). Use a cxx11-ABI libtorch: the 'cxx11 ABI' libtorch archive from
  pytorch.org (--torch-prefix), or a pip torch built on manylinux 2.28 (2.6 and later)."
  fi
  cxx11_abi=true
  grep -q 'c10_cuda' "$(dirname "$torch_config")/../Caffe2/Caffe2Targets.cmake" 2> /dev/null ||
    die "$torch_config has no c10_cuda target: a CPU-only libtorch"
  command -v nvcc > /dev/null || [[ -n ${CUDAToolkit_ROOT:-}${CUDA_HOME:-} ]] ||
    log "warning: no nvcc on PATH; libtorch's CMake package needs the CUDA toolkit (--cmake-arg -DCUDAToolkit_ROOT=DIR)"
  torch_prefix=$(cd "$(dirname "$torch_config")/.." && pwd)  # share/cmake: CMAKE_PREFIX_PATH finds Torch/ there

  make_work
  if [[ $do_build == 1 ]]; then
    generator=()
    [[ -f $build_dir/CMakeCache.txt ]] || generator=(-G Ninja)
    log "configure $build_dir against $torch_prefix"
    cmake -S "$root" -B "$build_dir" "${generator[@]}" -DCMAKE_BUILD_TYPE=Release \
      -DCMAKE_PREFIX_PATH="$torch_prefix" -DTorch_DIR="$torch_prefix/Torch" -DCaffe2_DIR="$torch_prefix/Caffe2" \
      "${cmake_args[@]}" >> "$work/steps.log" 2>&1 ||
      die "configure failed (last lines of $work/steps.log):
$(tail -n 30 "$work/steps.log")"
  fi
else
  make_work
  torch_dir=$(sed -n 's/^Torch_DIR:PATH=//p' "$build_dir/CMakeCache.txt" 2> /dev/null || true)
  torch_prefix=${torch_dir%/Torch}
  card_name='none (CPU dry run)'
fi
targets=(flux_forward genplug genplug_dype)
[[ $golden == 1 ]] && targets+=(test_flux_transformer)
if [[ $do_build == 1 ]]; then
  log "build ${targets[*]}"
  cmake --build "$build_dir" --target "${targets[@]}" ${jobs:+-j "$jobs"} >> "$work/steps.log" 2>&1 ||
    die "build failed (last lines of $work/steps.log):
$(tail -n 30 "$work/steps.log")"
fi
flux_forward=$build_dir/bin/flux_forward genplug=$build_dir/bin/genplug
golden_test=$build_dir/tests/test_flux_transformer
for f in "$flux_forward" "$genplug"; do [[ -x $f ]] || die "$f is not built (--build, or build it)"; done
[[ $golden == 0 || -x $golden_test ]] || die "$golden_test is not built (--build, --no-golden, or build it)"

# ---- 2. the golden tests on the device ---------------------------------------------------------------------
golden_rc=null
if [[ $golden == 1 ]]; then
  log "golden tests on $device: test_flux_transformer"
  golden_rc=0
  GENPLUG_TEST_DEVICE=$device "$golden_test" --log_level=message > "$work/golden.log" 2>&1 || golden_rc=$?
  if [[ $golden_rc == 0 ]]; then
    log "golden tests passed on $device"
  else
    log "golden tests FAILED on $device: $work/golden.log"
  fi
fi

# ---- 3. the spectra, 4. the timings --------------------------------------------------------------------------
export GENPLUG_PLUGIN_PATH=$build_dir/plugins GENPLUG_PLUGIN_CACHE=off
failed=0
for s in "${size_list[@]}"; do
  spectrum=$work/dype-$s.json
  "$genplug" posenc --plugin org.genplug.dype --config '{"method":"dy-yarn"}' --layout "$layout" \
    --height "$s" --width "$s" --t 0.7 > "$spectrum" 2>> "$work/steps.log" || die "genplug posenc failed at $s px"
  tokens=$(((s / ppt) * (s / ppt)))
  log "${s}x$s: $tokens image tokens, $dtype on $device, DyPE off then on, $repeat timed forwards each"
  sampler=''
  if [[ $mode == gpu ]]; then
    nvidia-smi -i "$smi_id" --query-gpu=memory.used --format=csv,noheader,nounits -lms 200 \
      > "$work/smi-$s.txt" 2> /dev/null &
    sampler=$!
  fi
  rc=0
  "$flux_forward" "${model_args[@]}" --img-tokens "$tokens" --txt-tokens "$txt_tokens" --dtype "$dtype" \
    --device "$device" --repeat "$repeat" --spectrum plain --spectrum "$spectrum" \
    > "$work/forward-$s.jsonl" 2> "$work/forward-$s.err" || rc=$?
  if [[ -n $sampler ]]; then kill "$sampler" 2> /dev/null || true; wait "$sampler" 2> /dev/null || true; fi
  echo "$rc" > "$work/forward-$s.rc"
  if [[ $rc != 0 ]]; then failed=1; log "flux_forward failed at $s px: $(tail -n 3 "$work/forward-$s.err")"; fi
done
# The device's own GEMM rate in the same dtype, measured in this run: the bound the forwards are compared with
# beside the datasheet peak (on the CPU, docs/performance.md compares with the measured GEMM rate likewise).
log "GEMM rate: ${gemm_args[1]}^3 $dtype on $device, 10 timed products"
rc=0
"$flux_forward" "${gemm_args[@]}" --dtype "$dtype" --device "$device" --repeat 10 \
  > "$work/gemm.jsonl" 2> "$work/gemm.err" || rc=$?
echo "$rc" > "$work/gemm.rc"
if [[ $rc != 0 ]]; then failed=1; log "the GEMM timing failed: $(tail -n 3 "$work/gemm.err")"; fi

# The blocks' per-token work in one piece (--token-run 0) against its default runs of tokens (token_runs.hpp: a
# memory bound made for the CPU, which CUDA takes too), at the first size with plain RoPE: whether the runs cost the
# device time (the 1024^2 step ran at 0.38 of the BF16 peak, and where it lost the rest was not measured).
first=${size_list[0]}
log "token runs: ${first}x$first with --token-run 0 (the per-token work whole), plain RoPE, $repeat timed forwards"
rc=0
"$flux_forward" "${model_args[@]}" --img-tokens "$(((first / ppt) * (first / ppt)))" --txt-tokens "$txt_tokens" \
  --dtype "$dtype" --device "$device" --repeat "$repeat" --token-run 0 --spectrum plain \
  > "$work/token-run-whole.jsonl" 2> "$work/token-run-whole.err" || rc=$?
echo "$rc" > "$work/token-run-whole.rc"
if [[ $rc != 0 ]]; then failed=1; log "the --token-run 0 timing failed: $(tail -n 3 "$work/token-run-whole.err")"; fi

# ---- 5. the JSON ---------------------------------------------------------------------------------------------
git_commit=$(git -C "$root" rev-parse HEAD 2> /dev/null || echo '')
git_dirty=false
[[ -z $(git -C "$root" status --porcelain --untracked-files=no 2> /dev/null) ]] || git_dirty=true
peak=$(bf16_peak "$card_name")
[[ $mode == gpu ]] || peak=null
# Everything reaches the JSON writer through the environment (no quoting of card names or paths in code).
BG_MODE=$mode BG_SIZES=$sizes BG_PEAK=$peak BG_PPT=$ppt BG_TXT_TOKENS=$txt_tokens BG_DTYPE=$dtype \
BG_DEVICE=$device BG_CARD=$card_name BG_DRIVER=$driver BG_MEMORY_MIB=$memory_total_mib \
BG_TORCH_PYTHON=$torch_python BG_TORCH_PREFIX=$torch_prefix BG_CXX11_ABI=$cxx11_abi BG_GIT_COMMIT=$git_commit \
BG_GIT_DIRTY=$git_dirty BG_GOLDEN_RC=$golden_rc BG_MODEL_DESC=$model_desc BG_MODEL_ARGS="${model_args[*]}" \
BG_NOTES=$(printf '%s\n' "${notes[@]}") \
  python3 - "$out" "$work" <<'EOF'
import datetime, json, os, platform, sys

out, work = sys.argv[1], sys.argv[2]
env = os.environ
mode = env["BG_MODE"]
gpu = mode == "gpu"
sizes = [int(s) for s in env["BG_SIZES"].split(",")]
peak = None if env["BG_PEAK"] == "null" else float(env["BG_PEAK"])
ppt, txt_tokens = int(env["BG_PPT"]), int(env["BG_TXT_TOKENS"])
golden_rc = None if env["BG_GOLDEN_RC"] == "null" else int(env["BG_GOLDEN_RC"])
null_keys = ("s_per_step", "min_s_per_step", "s_per_28_steps", "flop_per_step", "tflops_per_s",
             "ratio_to_measured_gemm", "ratio_to_bf16_peak", "peak_gpu_memory_bytes", "peak_gpu_reserved_bytes", "weights_and_inputs_bytes",
             "peak_rss_bytes", "spectrum_max_rel_diff_from_plain", "attention", "repeat", "cpu_utilisation")

def read(name):
    path = os.path.join(work, name)
    return open(path).read() if os.path.exists(path) else ""

runs, dype_cost, torch_version = [], {}, None
gemm_lines = [json.loads(l) for l in read("gemm.jsonl").splitlines() if l.strip()]
gemm = {"n": gemm_lines[0]["config"]["n"], "dtype": env["BG_DTYPE"], "device": env["BG_DEVICE"],
        "tflops_per_s": gemm_lines[0]["gflops_per_s"] / 1e3, "median_ms": gemm_lines[0]["median_ms"],
        "source": "flux_forward --gemm N: torch::mm of two random N x N matrices, median of 10 after a 1 s warm-up",
        "error": None} if gemm_lines else {
        "n": None, "tflops_per_s": None, "error": read("gemm.err").strip() or "flux_forward --gemm printed nothing"}
for s in sizes:
    rc = int(read(f"forward-{s}.rc") or 1)
    lines = [json.loads(l) for l in read(f"forward-{s}.jsonl").splitlines() if l.strip()]
    err = read(f"forward-{s}.err").strip()
    mib = [int(v) for v in read(f"smi-{s}.txt").split() if v.isdigit()]
    smi_peak = max(mib) * 2**20 if mib else None
    per_dype = {}
    for dype in (False, True):
        r = lines[int(dype)] if len(lines) > int(dype) else None
        row = {"size": f"{s}x{s}", "size_px": s, "image_tokens": (s // ppt) ** 2, "txt_tokens": txt_tokens,
               "dype": dype,
               "spectrum": "DyPE dy-yarn (org.genplug.dype via genplug posenc, t = 0.7)" if dype else "plain RoPE",
               "spectrum_file": os.path.join(work, f"dype-{s}.json") if dype else None,
               "dtype": env["BG_DTYPE"], "device": env["BG_DEVICE"], "steps": 28,
               "peak_gpu_memory_used_nvidia_smi_bytes": smi_peak}
        if r is None:
            row.update({k: None for k in null_keys})
            row.update({"error": err or f"flux_forward exited with status {rc}", "flux_forward": None})
        else:
            torch_version = r["config"]["torch_version"]
            s_step, flop = r["median_ms"] / 1e3, r["gflop"] * 1e9
            tflops = flop / s_step / 1e12
            mem = r.get("cuda_memory") or {}
            row.update({
                "s_per_step": s_step, "min_s_per_step": r["min_ms"] / 1e3, "s_per_28_steps": 28 * s_step,
                "flop_per_step": flop, "tflops_per_s": tflops,
                "ratio_to_bf16_peak": tflops / peak if peak else None,
                "ratio_to_measured_gemm": tflops / gemm["tflops_per_s"] if gemm["tflops_per_s"] else None,
                "peak_gpu_memory_bytes": mem.get("peak_allocated_bytes"),
                "peak_gpu_reserved_bytes": mem.get("peak_reserved_bytes"),
                "weights_and_inputs_bytes": mem.get("weights_and_inputs_bytes"),
                "peak_rss_bytes": int(r["peak_rss_mb"] * 2**20),
                "spectrum_max_rel_diff_from_plain": r["config"]["spectrum_max_rel_diff_from_plain"],
                "attention": r["config"]["attention"], "repeat": r["config"]["repeat"],
                "cpu_utilisation": r["cpu_utilisation"], "error": None, "flux_forward": r})
        per_dype[dype] = row
        runs.append(row)
    on, off = per_dype[True]["s_per_step"], per_dype[False]["s_per_step"]
    dype_cost[f"{s}x{s}"] = on / off if on and off else None

# The first size's default step (DyPE off) against the same with the per-token work whole (--token-run 0).
first = sizes[0]
default = next(r for r in runs if r["size_px"] == first and not r["dype"])
whole_rc = int(read("token-run-whole.rc") or 1)
whole_lines = [json.loads(l) for l in read("token-run-whole.jsonl").splitlines() if l.strip()] if whole_rc == 0 else []
whole = whole_lines[0]["median_ms"] / 1e3 if whole_lines else None
token_runs = {
    "size": f"{first}x{first}", "spectrum": "plain RoPE",
    "token_run_default": default["flux_forward"]["config"]["token_run"] if default["flux_forward"] else None,
    "s_per_step_default": default["s_per_step"], "s_per_step_whole": whole,
    "ratio_whole_over_default": whole / default["s_per_step"] if whole and default["s_per_step"] else None,
    "error": None if whole_lines else (read("token-run-whole.err").strip() or
                                       f"flux_forward exited with status {whole_rc}, printing nothing")}

doc = {
    "schema": "genplug-bench-gpu/1",
    "mode": mode,
    "created_utc": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
    "host": platform.node(),
    "git": {"commit": env["BG_GIT_COMMIT"] or None, "dirty": env["BG_GIT_DIRTY"] == "true"},
    "card": {"name": env["BG_CARD"] if gpu else None,
             "driver": env["BG_DRIVER"] if gpu else None,
             "memory_total_bytes": int(float(env["BG_MEMORY_MIB"]) * 2**20) if gpu else None,
             "bf16_dense_peak_tflops": peak,
             "bf16_peak_source": "table in bench/gpu/run.sh: datasheet dense BF16 tensor peaks"},
    "torch": {"version": torch_version, "python": json.loads(env["BG_TORCH_PYTHON"]),
              "cmake_prefix": env["BG_TORCH_PREFIX"] or None,
              "cxx11_abi": True if env["BG_CXX11_ABI"] == "true" else None},
    "model": {"description": env["BG_MODEL_DESC"],
              "weights": "random, drawn on the device (flux_forward --device-weights, seed 0)",
              "flux_forward_args": env["BG_MODEL_ARGS"].split(), "dtype": env["BG_DTYPE"],
              "device": env["BG_DEVICE"], "txt_tokens": txt_tokens,
              "step": "one transformer forward, rotary tables rebuilt inside it as the plugin does; "
                      "median of the timed forwards after the warm-up"},
    "golden_tests": None if golden_rc is None else {
        "device": env["BG_DEVICE"], "suite": "test_flux_transformer with GENPLUG_TEST_DEVICE",
        "passed": golden_rc == 0, "exit_status": golden_rc, "log": os.path.join(work, "golden.log"),
        "cpu_only": ["test_flux_plugin (C ABI, host tensors)", "test_flux_attention (random-input units)",
                     "vae_golden", "test_t5_encoder", "test_clip_text_model", "test_pipeline"]},
    "peak_memory_source": (
        "peak_gpu_memory_bytes: c10::cuda::CUDACachingAllocator::getDeviceStats, allocated_bytes peak over the "
        "warm-up and timed forwards of that spectrum (weights included); peak_gpu_reserved_bytes: its reserved_bytes "
        "peak; peak_gpu_memory_used_nvidia_smi_bytes: nvidia-smi memory.used sampled every 200 ms over the whole "
        "process of that size (CUDA context and any other process included)" if gpu else
        "CPU dry run: no GPU memory (null); peak_rss_bytes is the process's peak RSS (getrusage)"),
    "gemm": gemm,
    "dype_cost_ratio_on_over_off": dype_cost,
    "token_runs": token_runs,
    "runs": runs,
    "notes": [n for n in env["BG_NOTES"].splitlines() if n] + ([] if gpu else [
        "CPU dry run: tiny shapes in f32 on one CPU thread; it tests the script and measures nothing"]),
}
with open(out, "w") as f:
    json.dump(doc, f, indent=2)
    f.write("\n")
EOF
log "wrote $out"
[[ $golden_rc == null || $golden_rc == 0 ]] || exit 1
[[ $failed == 0 ]] || exit 1
