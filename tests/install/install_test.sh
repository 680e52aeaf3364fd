#!/usr/bin/env bash
# The SDK from outside: install the build into a temporary prefix, then build and run, against that prefix
# only, (1) samples/out-of-tree with CMake (find_package(genplug)) and (2) samples/out-of-tree-make with a
# Makefile (pkg-config genplug). Each runs its own plugin next to the installed DyPE.
#   install_test.sh SOURCE_DIR BUILD_DIR
set -euo pipefail
src=$1
build=$2
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
prefix=$work/prefix
cmake --install "$build" --prefix "$prefix" > "$work/install.log"
for f in bin/genplug lib/genplug/libgenplug_dype.so lib/genplug/libgenplug_flowmatch.so include/genplug/genplug.h \
         include/genplug/sdk_version.h include/genplug/host/pipeline.hpp lib/libgenplug_host.a \
         lib/cmake/genplug/genplugConfig.cmake lib/cmake/genplug/plugin.map lib/pkgconfig/genplug.pc; do
  [[ -e $prefix/$f ]] || { echo "install: $f is missing"; exit 1; }
done
"$prefix/bin/genplug" --version

# (1) CMake: a fresh project that knows only the prefix.
cmake -S "$src/samples/out-of-tree" -B "$work/cmake" -G Ninja -DCMAKE_PREFIX_PATH="$prefix" -DCMAKE_BUILD_TYPE=Release \
  > "$work/configure.log" || { cat "$work/configure.log"; exit 1; }
grep -q "C ABI 1\." "$work/configure.log" || { cat "$work/configure.log"; exit 1; }
cmake --build "$work/cmake" > "$work/build.log" || { cat "$work/build.log"; exit 1; }
out=$("$work/cmake/example_host" "$work/cmake")
echo "$out"
# Its plugin divides by s = 2 on spatial axes (freq 0 of axis 1: 1/2); DyPE's YaRN at s = 2: mscale 0.1 ln 2 + 1.
grep -Eq '^org\.example\.linear-pi 1\.000000000 0\.5 ' <<< "$out" || { echo "own plugin: unexpected spectrum"; exit 1; }
grep -Eq '^org\.genplug\.dype 1\.069314718 ' <<< "$out" || { echo "installed DyPE: unexpected spectrum"; exit 1; }
"$prefix/bin/genplug" validate "$work/cmake/libexample_posenc.so" > "$work/validate.log" ||
  { cat "$work/validate.log"; exit 1; }

# (2) A plain Makefile through pkg-config.
export PKG_CONFIG_PATH=$prefix/lib/pkgconfig
[[ $(pkg-config --modversion genplug) == "$("$prefix/bin/genplug" --version | awk '{print $2}')" ]]
[[ $(pkg-config --variable=abi_version genplug) == 1.* ]]
make -s -C "$src/samples/out-of-tree-make" BUILD="$work/make" > "$work/make.log" || { cat "$work/make.log"; exit 1; }
out=$(make -s -C "$src/samples/out-of-tree-make" BUILD="$work/make" run)
echo "$out"
grep -Eq '^org\.example\.half-rope 1\.000000000 0\.5$' <<< "$out" || { echo "make plugin: unexpected spectrum"; exit 1; }
grep -Eq '^org\.genplug\.dype 1\.069314718 ' <<< "$out" || { echo "make host + installed DyPE: unexpected"; exit 1; }
nm -D --defined-only "$work/make/libhalf_rope.so" | grep -v ' genplug_entry$' | grep -q . &&
  { echo "the Makefile plugin exports more than genplug_entry"; exit 1; }
echo "install_test: installed SDK used from CMake and from a Makefile"
