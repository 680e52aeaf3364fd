#!/usr/bin/env bash
# Sets everything up, builds, and runs the main job: the embedded default sample (genplug's own trained mini
# FLUX with DyPE, docs/mini-model.md) written to default.exr in the current folder, with an sRGB preview
# default.png beside it.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
# Only what the demo needs is installed and built; scripts/test.sh adds the rest.
bash "$root/scripts/setup.sh" --demo
GENPLUG_BUILD_TARGET=genplug-runtime bash "$root/scripts/build.sh"
"${GENPLUG_BUILD_DIR:-$root/build}/bin/genplug" run --force --preview "$root/samples/default.json"
