#!/usr/bin/env bash
# Sets everything up, builds, and runs the whole test suite (CTest; Boost.Test executables).
# Each stage prints its wall time, so that a slow CI run shows where the time went.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=${GENPLUG_BUILD_DIR:-$root/build}
started=$(date +%s)
stage() {  # stage NAME COMMAND...
  local name=$1 t0
  shift
  t0=$(date +%s)
  "$@"
  echo "test.sh: $name took $(( $(date +%s) - t0 )) s ($(( $(date +%s) - started )) s in all)"
}
# ctest -j2 runs two test programs on the two cores; OpenBLAS's default pool of one thread per core in each of
# them would oversubscribe the cores and wait in every product for its descheduled thread (the libtorch tests ran
# 20 % slower: 89 s vs 71 s for ten of them). One BLAS thread per test (OpenBLAS reads OMP_NUM_THREADS) unless the
# caller chose otherwise (the precision bounds of the tests hold for any thread count).
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-1}
stage setup bash "$root/scripts/setup.sh"
stage build bash "$root/scripts/build.sh"
stage suite ctest --test-dir "$build" --output-on-failure --timeout 1200 -j2
# The same sources without libtorch, in a clean tree: SDK, host, CLI, DyPE and flowmatch (ABI 1.2).
stage without-torch bash "$root/scripts/build-without-torch.sh" "${build}-notorch"
# The whole suite under AddressSanitizer + UndefinedBehaviorSanitizer + LeakSanitizer, the threading tests under
# ThreadSanitizer (trees build-asan, build-tsan), then every libFuzzer target for a bounded number of runs from
# a fixed seed (tree build-fuzz). docs/reliability.md says what each covers.
stage sanitizers bash "$root/scripts/sanitize.sh" all
stage fuzz-smoke bash "$root/scripts/fuzz.sh" --smoke
