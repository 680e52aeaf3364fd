#!/usr/bin/env bash
# The Debian packages: cpack -G DEB builds them from the build tree, one per group of install components
# (cmake/GenplugInstall.cmake): genplug (CLI, DyPE, flowmatch, no tensor library), genplug-flux (libtorch),
# genplug-mini-model (data) and genplug-dev (SDK). Their runtime dependencies (dpkg-shlibdeps) are installable
# Debian packages on this machine, no file is in two of them, and genplug alone, unpacked, needs no libtorch and
# computes a DyPE spectrum; all four unpacked list the plugins and render the default sample (prefix /usr).
#   deb_test.sh BUILD_DIR [man-page|no-man-page]   (man-page, the default: genplug(1) is checked too)
set -euo pipefail
build=$1
man_page=${2:-man-page}
unset GENPLUG_PLUGIN_PATH  # the packages' own plugins only
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
fail() { echo "deb: $*"; exit 1; }
(cd "$work" && cpack -G DEB --config "$build/CPackConfig.cmake" > cpack.log 2>&1) || { cat "$work/cpack.log"; exit 1; }
version=$(sed -n 's/^set(CPACK_PACKAGE_VERSION "\(.*\)")$/\1/p' "$build/CPackConfig.cmake")
[[ -n $version ]] || fail "no CPACK_PACKAGE_VERSION in $build/CPackConfig.cmake"
arch=$(dpkg --print-architecture)
declare -A deb=([genplug]=$arch [genplug-flux]=$arch [genplug-mini-model]=all [genplug-dev]=$arch)
for name in "${!deb[@]}"; do
  file=$work/${name}_${version}_${deb[$name]}.deb
  [[ -f $file ]] || fail "no $(basename "$file") among: $(cd "$work" && ls ./*.deb | tr '\n' ' ')"
  deb[$name]=$file
  dpkg-deb -f "$file" > "$work/$name.control"
  # Its paths, folders left out: read from a file, never piped into grep -q (pipefail and an early exit).
  dpkg-deb --fsys-tarfile "$file" | tar -t | grep -v '/$' > "$work/$name.files"
  echo "== $name: $(du -h "$file" | cut -f1)"
  grep -E '^(Architecture|Depends|Recommends|Provides|Replaces|Breaks):' "$work/$name.control"
done
(( $(ls "$work"/*.deb | wc -l) == 4 )) || fail "expected 4 packages: $(ls "$work"/*.deb)"
field() { sed -n "s/^$2: //p" "$work/$1.control"; }

grep -q '^genplug-abi-1 (= 1\.' <<< "$(field genplug Provides)" || fail "genplug does not provide genplug-abi-1"
for name in genplug genplug-dev genplug-mini-model; do
  ! grep -qiE 'torch|opencv|qt' <<< "$(field $name Depends)" ||
    fail "$name depends on a tensor library: $(field $name Depends)"
done
# The files that left 0.3.1's single genplug package replace it on an upgrade.
for name in genplug-flux genplug-mini-model genplug-dev; do
  for f in Replaces Breaks; do
    [[ $(field $name $f) == "genplug (<< 0.3.2)" ]] || fail "$name: $f is '$(field $name $f)'"
  done
done
grep -q 'libtorch' <<< "$(field genplug-flux Depends)" || fail "genplug-flux does not depend on libtorch"
grep -q "genplug (= $version)" <<< "$(field genplug-flux Depends)" || fail "genplug-flux does not depend on genplug"
grep -q 'libdlpack-dev' <<< "$(field genplug-dev Depends)" || fail "genplug-dev does not depend on libdlpack-dev"
grep -q 'genplug-flux' <<< "$(field genplug Recommends)" || fail "genplug does not recommend genplug-flux"
# Every dependency outside the set is a package dpkg knows as installed here (a clean Debian 12 gets them from apt).
for name in "${!deb[@]}"; do
  for d in $(field "$name" Depends | tr ',' '\n' | sed 's/[ (].*//; s/|.*//; s/^ *//' | grep .); do
    [[ -n ${deb[$d]:-} ]] && continue
    dpkg-query -W -f='${Status}' "$d" 2>/dev/null | grep -q "install ok installed" ||
      fail "$name's dependency $d is not installed"
  done
done
# dpkg refuses to install a package with a file another package holds.
sort "$work"/*.files | uniq -d > "$work/shared_files"
[[ ! -s $work/shared_files ]] || fail "files in two packages: $(head "$work/shared_files")"
grep -qx './usr/lib/cmake/genplug/genplugConfig.cmake' "$work/genplug-dev.files" || fail "genplug-dev: no CMake config"
grep -qx './usr/include/genplug/entry.h' "$work/genplug-dev.files" || fail "genplug-dev: no entry.h"
! grep -q '^\./usr/bin/' "$work/genplug-dev.files" || fail "genplug-dev holds programs"
grep -qx './usr/lib/genplug/libgenplug_flux.so' "$work/genplug-flux.files" || fail "genplug-flux: no FLUX plugin"

# genplug alone: no ELF file of it needs libtorch; its CLI lists the plugins it holds and computes a spectrum, and
# names the missing FLUX plugin for the default sample.
alone=$work/alone
dpkg-deb -x "${deb[genplug]}" "$alone"
while IFS= read -r f; do
  needed=$(readelf -d "$f" 2>/dev/null | sed -n 's/.*(NEEDED).*\[\(.*\)\]/\1/p')
  ! grep -qiE 'torch|opencv|Qt' <<< "$needed" || fail "genplug's $f needs $(grep -iE 'torch|opencv|Qt' <<< "$needed")"
done < <(find "$alone" -type f \( -name '*.so*' -o -path '*/bin/*' \))
plugins=$("$alone/usr/bin/genplug" plugins)
echo "$plugins"
for id in org.genplug.dype org.genplug.flowmatch; do
  grep -q "^$id " <<< "$plugins" || fail "genplug alone: plugin $id is not listed"
done
! grep -q "^org.genplug.flux " <<< "$plugins" || fail "genplug alone lists the FLUX model plugin"
"$alone/usr/bin/genplug" posenc --plugin org.genplug.dype --config '{"method":"yarn"}' \
  --layout "@$alone/usr/share/genplug/samples/layouts/flux.json" --height 4096 --width 4096 --t 1 \
  > "$work/posenc.log" ||
  { cat "$work/posenc.log"; fail "genplug alone: posenc failed"; }
mkdir "$work/alone-run"
rc=0
(cd "$work/alone-run" && "$alone/usr/bin/genplug" run "$alone/usr/share/genplug/samples/default.json" > run.log 2>&1) ||
  rc=$?
(( rc != 0 )) && grep -q "org.genplug.flux" "$work/alone-run/run.log" ||
  { cat "$work/alone-run/run.log"; fail "genplug alone: the default sample (exit $rc) does not name the FLUX plugin"; }
[[ -z $(ls "$work/alone-run" | grep -v '^run.log$') ]] || fail "genplug alone wrote $(ls "$work/alone-run")"

# The manual page: in genplug, with a subsection for each command the program's --help lists.
if [[ $man_page == man-page ]]; then
  zcat "$alone/usr/share/man/man1/genplug.1.gz" > "$work/genplug.1" || fail "genplug: no share/man/man1/genplug.1.gz"
  commands=$("$alone/usr/bin/genplug" --help | sed -n '/^Subcommands:/,/^$/s/^  \([a-z-]*\) .*/\1/p')
  (( $(wc -w <<< "$commands") >= 7 )) || fail "genplug --help lists the commands '$commands'"
  for c in $commands; do
    grep -qx ".SS \"genplug $c\"" "$work/genplug.1" || fail "genplug(1) has no subsection for the command $c"
  done
fi

# All four: the three plugins, the Python host sample as installed, the default sample rendered.
root=$work/root
for name in "${!deb[@]}"; do dpkg-deb -x "${deb[$name]}" "$root"; done
usr=$root/usr
# Reproducible: no program or plugin names a source file by the build machine's path (__FILE__ is mapped by
# cmake/GenplugReproducible.cmake; CPack strips their debug information, not the static host library's).
source_dir=$(sed -n 's/^CMAKE_HOME_DIRECTORY:INTERNAL=//p' "$build/CMakeCache.txt")
[[ -n $source_dir ]] || fail "no CMAKE_HOME_DIRECTORY in $build/CMakeCache.txt"
while IFS= read -r -d '' f; do
  ! grep -qF -e "$source_dir/plugins/" -e "$source_dir/host/" -e "$source_dir/sdk/" "$f" ||
    fail "${f#"$root"} names a source file under $source_dir/"
done < <(find "$usr/bin" "$usr/lib" -type f \( -path '*/bin/*' -o -name '*.so' -o -name '*.so.*' \) -print0)
"$usr/bin/genplug" --version
plugins=$("$usr/bin/genplug" plugins)
for id in org.genplug.dype org.genplug.flowmatch org.genplug.flux; do
  grep -q "^$id " <<< "$plugins" || fail "plugin $id is not listed"
done
# The Python host sample, as installed: it finds the package's DyPE library and writes nothing into the package's
# tree (no __pycache__ beside it when run as root, whatever the caller's PYTHONDONTWRITEBYTECODE).
sample=$usr/share/genplug/samples/python-host/dype_spectrum.py
env -u PYTHONDONTWRITEBYTECODE python3 "$sample" --list > "$work/python.log" 2>&1 ||
  { cat "$work/python.log"; exit 1; }
grep -q "org.genplug.dype" "$work/python.log" || { cat "$work/python.log"; exit 1; }
cache=$(find "$usr" -name __pycache__)
[[ -z $cache ]] || fail "the Python sample wrote $cache"
mkdir "$work/render"
(cd "$work/render" &&
  "$usr/bin/genplug" run "$usr/share/genplug/samples/default.json" --set jobs.0.steps=2 > run.log 2>&1) ||
  { cat "$work/render/run.log"; exit 1; }
[[ -s $work/render/default.exr ]] || fail "no default.exr"
echo "deb_test: $(cd "$work" && ls ./*.deb | xargs -n1 basename | tr '\n' ' ')unpack, list their plugins and render;" \
     "genplug alone needs no libtorch"
