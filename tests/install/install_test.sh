#!/usr/bin/env bash
# The SDK from outside: install the build into a temporary prefix, then build and run, against that prefix
# only, (1) samples/out-of-tree with CMake (find_package(genplug)) and (2) samples/out-of-tree-make with a
# Makefile (pkg-config genplug). Each runs its own plugin next to the installed DyPE. Also the installed C host
# sample as a standalone project on genplug::sdk alone.
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
         lib/cmake/genplug/genplugConfig.cmake lib/cmake/genplug/plugin.map lib/pkgconfig/genplug.pc \
         share/genplug/samples/default.json share/genplug/samples/mini/prompts.txt \
         share/genplug/samples/layouts/flux.json share/genplug/samples/c-host/CMakeLists.txt; do
  [[ -e $prefix/$f ]] || { echo "install: $f is missing"; exit 1; }
done
"$prefix/bin/genplug" --version
[[ ! -e $prefix/share/genplug/samples/CMakeLists.txt ]] || { echo "install: samples/CMakeLists.txt is genplug's own"; exit 1; }
# No installed library or program reads a data file from the tree it was built in (an OCIO config, a schema, a
# LUT...): a prefix copied to another machine works the same. Source files and folders may be named (assertion
# messages, debug information), data files may not.
leaked=$(strings -a "$prefix"/lib/*.a "$prefix"/lib/genplug/*.so "$prefix"/bin/* | grep -aoE "/[^[:space:]\"'<>:]+" |
         grep -F "$src/" | grep -E '\.(ocio|json|txt|csv|yaml|safetensors|gguf|model|png|exr|cube|spi1d|spi3d)$' |
         sort -u || true)
[[ -z $leaked ]] || { echo "install: installed files name data files of the source tree:"; echo "$leaked"; exit 1; }
# The exported targets define no macro in their consumers' code: the version is genplug/sdk_version.h's.
! grep -l "INTERFACE_COMPILE_DEFINITIONS" "$prefix"/lib/cmake/genplug/*.cmake ||
  { echo "install: exported targets define macros in consumers' code"; exit 1; }

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

# (2) The installed C host sample as a project of its own, in C alone, on genplug::sdk.
cmake -S "$prefix/share/genplug/samples/c-host" -B "$work/c-host" -G Ninja -DCMAKE_PREFIX_PATH="$prefix" \
  > "$work/c-host.log" || { cat "$work/c-host.log"; exit 1; }
cmake --build "$work/c-host" > "$work/c-host-build.log" || { cat "$work/c-host-build.log"; exit 1; }
"$work/c-host/c_host" "$prefix/lib/genplug/libgenplug_dype.so" org.genplug.dype '{"method": "yarn"}' 4096 4096 1.0 |
  grep -q '"dim": 56, "mscale": 1\.13862943611198' || { echo "installed C host sample: unexpected spectrum"; exit 1; }
# The installed C render sample on the installed FLUX plugin's mini model, as docs/getting-started-c-host.md shows
# (where the prefix has FLUX: a build with libtorch).
if [[ -e $prefix/lib/genplug/libgenplug_flux.so ]]; then
  cmake -S "$prefix/share/genplug/samples/c-render" -B "$work/c-render" -G Ninja -DCMAKE_PREFIX_PATH="$prefix" \
    > "$work/c-render.log" && cmake --build "$work/c-render" >> "$work/c-render.log" ||
    { cat "$work/c-render.log"; exit 1; }
  p=$prefix/lib/genplug
  "$work/c-render/c_render" "$p/libgenplug_flux.so" org.genplug.flux '{"preset": "mini"}' "$p/libgenplug_flowmatch.so" \
    "$p/libgenplug_dype.so" "$work/mini.ppm" "a yellow square at the top left on a plain navy background"
  [[ $(head -c 2 "$work/mini.ppm") == P6 ]] || { echo "installed c-render sample: no PPM"; exit 1; }
fi
# A C++ plugin project builds with the reference host's dependencies hidden; COMPONENTS host then names them.
hide="-DCMAKE_DISABLE_FIND_PACKAGE_OpenEXR=ON -DCMAKE_DISABLE_FIND_PACKAGE_Boost=ON"
mkdir -p "$work/plugin-only" "$work/wants-host"
cat > "$work/plugin-only/CMakeLists.txt" <<EOF
cmake_minimum_required(VERSION 3.22)
project(plugin_only LANGUAGES CXX)
find_package(genplug 0.3 REQUIRED)
genplug_add_plugin(example_posenc SOURCES $src/samples/out-of-tree/example_posenc.cpp NO_INSTALL)
EOF
cmake -S "$work/plugin-only" -B "$work/plugin-only/b" -G Ninja -DCMAKE_PREFIX_PATH="$prefix" $hide \
  > "$work/plugin-only.log" && cmake --build "$work/plugin-only/b" >> "$work/plugin-only.log" &&
  grep -q "genplug: genplug::host needs Boost, OpenEXR (Debian: " "$work/plugin-only.log" ||
  { cat "$work/plugin-only.log"; echo "a plugin project needed the host's dependencies"; exit 1; }
sed 's/find_package(genplug 0.3 REQUIRED)/find_package(genplug 0.3 REQUIRED COMPONENTS host)/' \
  "$work/plugin-only/CMakeLists.txt" > "$work/wants-host/CMakeLists.txt"
if cmake -S "$work/wants-host" -B "$work/wants-host/b" -DCMAKE_PREFIX_PATH="$prefix" $hide > "$work/wants.log" 2>&1 ||
   ! grep -q "genplug::host needs Boost, OpenEXR (Debian: " "$work/wants.log"; then
  cat "$work/wants.log"; echo "COMPONENTS host: not refused with the missing packages named"; exit 1
fi

# (3) A plain Makefile through pkg-config, PKG_CONFIG_PATH given on make's command line as the Makefile says.
pc=$prefix/lib/pkgconfig
[[ $(PKG_CONFIG_PATH=$pc pkg-config --modversion genplug) == "$("$prefix/bin/genplug" --version | awk '{print $2}')" ]]
[[ $(PKG_CONFIG_PATH=$pc pkg-config --variable=abi_version genplug) == 1.* ]]
make -s -C "$src/samples/out-of-tree-make" BUILD="$work/make" PKG_CONFIG_PATH="$pc" > "$work/make.log" ||
  { cat "$work/make.log"; exit 1; }
out=$(make -s -C "$src/samples/out-of-tree-make" BUILD="$work/make" PKG_CONFIG_PATH="$pc" run)
echo "$out"
grep -Eq '^org\.example\.half-rope 1\.000000000 0\.5$' <<< "$out" || { echo "make plugin: unexpected spectrum"; exit 1; }
grep -Eq '^org\.genplug\.dype 1\.069314718 ' <<< "$out" || { echo "make host + installed DyPE: unexpected"; exit 1; }
nm -D --defined-only "$work/make/libhalf_rope.so" | grep -v ' genplug_entry$' | grep -q . &&
  { echo "the Makefile plugin exports more than genplug_entry"; exit 1; }
# A BUILD with a space is refused before anything is made or removed (it had split in two: files in the samples
# folder, and a clean that removes both halves).
mkdir -p "$work/two words"
for goal in all clean; do
  if make -s -C "$src/samples/out-of-tree-make" BUILD="$work/two words" PKG_CONFIG_PATH="$pc" "$goal" \
      > "$work/space.log" 2>&1 || ! grep -q "must be one path without spaces" "$work/space.log"; then
    cat "$work/space.log"; echo "make $goal: a BUILD with a space was not refused"; exit 1
  fi
done
[[ -d "$work/two words" && ! -e "$src/samples/out-of-tree-make/words" ]] ||
  { echo "make: a BUILD with a space touched its halves"; exit 1; }
# The complete C plugin of docs/abi.md passes the contract checks, with nothing to note.
"$prefix/bin/genplug" validate "$work/make/libhalf_rope.so" > "$work/validate-make.log" &&
  ! grep -q NOTE "$work/validate-make.log" || { cat "$work/validate-make.log"; exit 1; }
echo "install_test: installed SDK used from CMake and from a Makefile"
