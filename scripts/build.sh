#!/usr/bin/env bash
# Configures and builds genplug (Release with assertions, Ninja, ccache) into build/ or $GENPLUG_BUILD_DIR,
# one job per CPU (or $GENPLUG_BUILD_JOBS).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=${GENPLUG_BUILD_DIR:-$root/build}
cmake -S "$root" -B "$build" -G Ninja "$@"
# nproc obeys OMP_NUM_THREADS (GNU coreutils), which test.sh sets to 1 for the tests: it built at -j1 there.
jobs=${GENPLUG_BUILD_JOBS:-$(env -u OMP_NUM_THREADS -u OMP_THREAD_LIMIT nproc)}
cmake --build "$build" -- -j"$jobs"
