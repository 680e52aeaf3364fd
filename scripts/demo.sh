#!/usr/bin/env bash
# Sets everything up, builds, and runs the main job: the embedded default sample (a tiny random-weights FLUX
# pipeline with DyPE) written to default.exr in the current folder.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
bash "$root/scripts/setup.sh"
bash "$root/scripts/build.sh"
"${GENPLUG_BUILD_DIR:-$root/build}/bin/genplug" run --force "$root/samples/default.json"
