#!/usr/bin/env bash
# Configures and builds genplug (Release with assertions, Ninja, ccache) into build/ or $GENPLUG_BUILD_DIR,
# one job per CPU (or $GENPLUG_BUILD_JOBS): every target, or the one $GENPLUG_BUILD_TARGET names (demo.sh:
# genplug-runtime, the CLI and its plugins). Arguments go to the configure step.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=${GENPLUG_BUILD_DIR:-$root/build}
# A tree configured with another generator (Unix Makefiles, by a bare `cmake -B build`): CMake would only say the
# generator does not match.
configured=$(sed -n 's/^CMAKE_GENERATOR:INTERNAL=//p' "$build/CMakeCache.txt" 2>/dev/null || true)
if [ -n "$configured" ] && [ "$configured" != Ninja ]; then
  echo "build.sh: $build was configured with the '$configured' generator, and build.sh builds with Ninja:" \
       "remove that folder, or set GENPLUG_BUILD_DIR to another one" >&2
  exit 2
fi
cmake -S "$root" -B "$build" -G Ninja "$@"
# nproc obeys OMP_NUM_THREADS (GNU coreutils), which test.sh sets to 1 for the tests: it built at -j1 there.
jobs=${GENPLUG_BUILD_JOBS:-$(env -u OMP_NUM_THREADS -u OMP_THREAD_LIMIT nproc)}
cmake --build "$build" ${GENPLUG_BUILD_TARGET:+--target "$GENPLUG_BUILD_TARGET"} -- -j"$jobs"
