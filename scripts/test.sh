#!/usr/bin/env bash
# Sets everything up, builds, and runs the whole test suite (CTest; Boost.Test executables).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=${GENPLUG_BUILD_DIR:-$root/build}
bash "$root/scripts/setup.sh"
bash "$root/scripts/build.sh"
ctest --test-dir "$build" --output-on-failure --timeout 1200 -j2
# The same sources without libtorch, in a clean tree: SDK, host, CLI, DyPE and flowmatch (ABI 1.1).
bash "$root/scripts/build-without-torch.sh" "${build}-notorch"
# The whole suite under AddressSanitizer + UndefinedBehaviorSanitizer + LeakSanitizer, the threading tests under
# ThreadSanitizer (trees build-asan, build-tsan), then every libFuzzer target for a bounded number of runs from
# a fixed seed (tree build-fuzz). docs/reliability.md says what each covers.
bash "$root/scripts/sanitize.sh" all
bash "$root/scripts/fuzz.sh" --smoke
