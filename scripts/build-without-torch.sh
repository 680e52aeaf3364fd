#!/usr/bin/env bash
# Proves that the SDK, the reference host, the CLI, DyPE and flowmatch build and pass their tests without
# libtorch (GENPLUG_BUILD_TORCH=OFF, Torch not even looked for), in a clean build tree, and that nothing in that
# tree reached a libtorch header or library even though this machine has them installed.
#
#   scripts/build-without-torch.sh [BUILD_DIR]      (default build-notorch, recreated)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=${1:-$root/build-notorch}
rm -rf "$build"
mkdir -p "$build"
cmake -S "$root" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release -DGENPLUG_BUILD_TORCH=OFF \
  -DCMAKE_DISABLE_FIND_PACKAGE_Torch=ON -DGENPLUG_BUILD_BENCH=OFF > "$build/configure.log" 2>&1 ||
  { cat "$build/configure.log"; exit 1; }
cmake --build "$build" -j2
ctest --test-dir "$build" --output-on-failure -j2 --timeout 600
# No object file depends on a libtorch header; no binary or plugin links libtorch (or what it drags in).
if ninja -C "$build" -t deps | grep -E '^ +/usr/include/(torch|ATen|c10)/' | head -3 | grep -q .; then
  echo "build-without-torch: a libtorch header was included:" >&2
  ninja -C "$build" -t deps | grep -E '^ +/usr/include/(torch|ATen|c10)/' | head -3 >&2
  exit 1
fi
for f in "$build"/bin/genplug "$build"/plugins/*.so; do
  if ldd "$f" | grep -Ei 'libtorch|libc10|opencv|libQt'; then
    echo "build-without-torch: $f links a tensor library" >&2
    exit 1
  fi
done
echo "build-without-torch: SDK, host, CLI, DyPE and flowmatch built and tested without libtorch in $build"
