#!/usr/bin/env bash
# bench_dype_sampling: what DyPE costs end to end (issue #18 item 3). Samples the bench model (bench/flux_forward's
# default shapes: hidden 1024, 8 heads, 2 double + 4 single blocks, axes 16/56/56; random weights) at TOKENS image
# tokens for STEPS Euler steps through `genplug run`, with posenc dy-yarn, with rope through the same DyPE plugin
# (the spectrum computed and the cos/sin tables rebuilt every evaluation, as for dy-yarn), and with no posenc
# plugin (the model's own RoPE), alternated in one process (one model load, a warm-up job first). The sampling
# time of a job is its last progress event's seconds per evaluation times the evaluations (the pipeline's clock
# around spectrum + predict + sampler math). Prints one JSON object: per config the best and median seconds, and
# the ratios to rope (median of per-round ratios: each round runs the three configs back to back, so slow phases of
# a shared machine hit them alike), with a distribution-free 95 % interval of that median (order statistics; needs
# at least 6 rounds).
#
#   bench/posenc/bench_dype_sampling.sh [GENPLUG_BINARY] [ROUNDS] [TOKENS] [STEPS]   (default build/bin/genplug, 5,
#                                                                                     2048, 8)
set -euo pipefail
usage="usage: bench_dype_sampling.sh [GENPLUG_BINARY] [ROUNDS] [TOKENS] [STEPS]   (positive integers; default 5, 2048, 8)"
if [[ ${1:-} == -h || ${1:-} == --help ]]; then
  echo "$usage"
  exit 0
fi
fail() {
  echo "bench_dype_sampling.sh: $1" >&2
  echo "$usage" >&2
  exit 2
}
(($# <= 4)) || fail "at most four arguments, got $#"
root=$(cd "$(dirname "$0")/../.." && pwd)
genplug=${1:-$root/build/bin/genplug}
rounds=${2-5}
tokens=${3-2048}
steps=${4-8}
# Checked before genplug runs: 0 or -1 rounds failed in the summary's Python after the whole run, 0 tokens divided
# by zero, and a TOKENS of Python source ran as such. Nine digits at most keep bash's arithmetic exact.
for arg in "ROUNDS:$rounds" "TOKENS:$tokens" "STEPS:$steps"; do
  [[ ${arg#*:} =~ ^[1-9][0-9]{0,8}$ ]] || fail "${arg%%:*} must be an integer from 1 to 999999999, not '${arg#*:}'"
done
command -v "$genplug" > /dev/null || fail "no genplug program at '$genplug'"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# The most square grid of `tokens` 16-pixel tokens: rows the largest divisor up to its square root.
rows=1
for ((r = 2; r * r <= tokens; ++r)); do
  ((tokens % r)) || rows=$r
done
cols=$((tokens / rows))
height=$((rows * 16)) width=$((cols * 16))

python3 - "$work" "$rounds" "$steps" "$width" "$height" > "$work/manifest.json" <<'EOF'
import json, sys
work, rounds, steps, width, height = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])
posencs = {"dy-yarn": {"plugin": "org.genplug.dype", "config": {"method": "dy-yarn"}},
           "rope": {"plugin": "org.genplug.dype", "config": {"method": "rope"}},
           "none": None}
jobs = []
def job(name, config):
    j = {"name": name, "prompt": "a red circle", "seed": 1, "width": width, "height": height, "steps": steps,
         "output": f"{work}/{name}.exr"}
    if posencs[config] is not None:
        j["posenc"] = posencs[config]
    jobs.append(j)
job("warmup", "dy-yarn")
for r in range(rounds):
    order = ["dy-yarn", "rope", "none"] if r % 2 == 0 else ["none", "rope", "dy-yarn"]
    for config in order:
        job(f"r{r}-{config}", config)
model = {"transformer": "random", "preset": "tiny",
         "config": {"hidden_size": 1024, "num_heads": 8, "depth": 2, "depth_single_blocks": 4, "axes_dim": [16, 56, 56]}}
print(json.dumps({"model": {"plugin": "org.genplug.flux", "config": model},
                  "scheduler": {"plugin": "org.genplug.flowmatch", "config": {"schedule": "flux", "sampler": "euler"}},
                  "jobs": jobs}))
EOF

# Each job also decodes (the tiny preset's VAE) and writes its EXR: not measured, outside the sampling clock.
"$genplug" run --force --progress jsonl "$work/manifest.json" > "$work/progress.jsonl" 2> "$work/stderr.txt" ||
  { cat "$work/stderr.txt" >&2; exit 1; }

python3 - "$work/progress.jsonl" "$work/manifest.json" "$tokens" "$steps" "$rounds" "$root/bench" <<'EOF'
import json, statistics, sys
sys.path.insert(0, sys.argv[6])
from median_interval import median_interval
progress, manifest = sys.argv[1], json.load(open(sys.argv[2]))
tokens, steps, rounds = int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])
outputs = {j["output"]: j["name"] for j in manifest["jobs"]}
last = {}
for line in open(progress):
    e = json.loads(line)
    if e.get("event") == "step":
        last[outputs[e["output"]]] = e["seconds_per_evaluation"] * e["evaluations"]
configs = ["dy-yarn", "rope", "none"]
missing = [j["name"] for j in manifest["jobs"] if j["name"] not in last]
if missing:
    sys.exit("bench_dype_sampling: no sampling time for " + ", ".join(missing) + " (see genplug's stderr)")
seconds = {c: [last[f"r{r}-{c}"] for r in range(rounds)] for c in configs}
ratios = lambda c: sorted(last[f"r{r}-{c}"] / last[f"r{r}-rope"] for r in range(rounds))
ratio = lambda c: statistics.median(ratios(c))

print(json.dumps({"image_tokens": tokens, "steps": steps, "rounds": rounds,
                  "seconds": {c: {"best": min(v), "median": statistics.median(v)} for c, v in seconds.items()},
                  "ratio_to_rope_median": {"dy-yarn": ratio("dy-yarn"), "none": ratio("none")},
                  "ratio_to_rope_median_95": {c: median_interval(ratios(c)) for c in ("dy-yarn", "none")},
                  "ratio_to_rope_best": {c: min(seconds[c]) / min(seconds["rope"]) for c in ("dy-yarn", "none")}},
                 indent=1))
EOF
