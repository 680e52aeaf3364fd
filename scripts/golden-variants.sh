#!/usr/bin/env bash
# Runs the test suite against other golden sets of the tests/golden layout (tests/golden/README.md, "The
# contract"): every folder given must pass like the shown one. Builds first if needed; extra ctest arguments
# after "--" (e.g. -- -L flux).
#   bash scripts/golden-variants.sh ../shared/golden /path/to/another/set [-- ctest args]
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=${GENPLUG_BUILD_DIR:-$root/build}
sets=()
while [ $# -gt 0 ] && [ "$1" != "--" ]; do sets+=("$1"); shift; done
[ "${1:-}" = "--" ] && shift
if [ ${#sets[@]} -eq 0 ]; then
  echo "usage: $0 GOLDEN_DIR [GOLDEN_DIR ...] [-- ctest arguments]" >&2
  exit 2
fi
for dir in "${sets[@]}"; do
  for part in flux vae t5 clip dype schedule tokenizers; do
    [ -d "$dir/$part" ] || { echo "golden-variants: $dir has no $part/ folder (not the tests/golden layout)" >&2; exit 2; }
  done
done
[ -f "$build/CTestTestfile.cmake" ] || bash "$root/scripts/build.sh"
cmake --build "$build" -- -j"$(env -u OMP_NUM_THREADS -u OMP_THREAD_LIMIT nproc)"  # nproc obeys OMP_NUM_THREADS
failed=()
for dir in "${sets[@]}"; do
  abs=$(cd "$dir" && pwd)
  echo "== golden set $abs"
  # -LE other_sets: those tests run on tests/golden_second and tests/golden_third whatever set is given.
  GENPLUG_GOLDEN_DIR=$abs ctest --test-dir "$build" --output-on-failure --timeout 1200 -j2 -LE other_sets "$@" ||
    failed+=("$abs")
done
if [ ${#failed[@]} -gt 0 ]; then
  echo "golden-variants: the suite failed on: ${failed[*]}" >&2
  exit 1
fi
echo "golden-variants: the suite passed on all ${#sets[@]} set(s)"
