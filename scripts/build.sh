#!/usr/bin/env bash
# Configures and builds genplug (Release with assertions, Ninja, ccache) into build/ or $GENPLUG_BUILD_DIR.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=${GENPLUG_BUILD_DIR:-$root/build}
cmake -S "$root" -B "$build" -G Ninja "$@"
cmake --build "$build" -- -j"$(nproc)"
