#!/usr/bin/env bash
# The Debian package: cpack -G DEB builds it from the build tree; its runtime dependencies (dpkg-shlibdeps)
# are all installable Debian packages on this machine; unpacked, its genplug lists the plugins and renders
# the default sample from the package's own tree (prefix /usr, as installed).
#   deb_test.sh BUILD_DIR
set -euo pipefail
build=$1
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
(cd "$work" && cpack -G DEB --config "$build/CPackConfig.cmake" > cpack.log 2>&1) || { cat "$work/cpack.log"; exit 1; }
deb=$(ls "$work"/*.deb)
dpkg-deb -I "$deb" > "$work/info"
cat "$work/info" | sed -n '/Package:/,$p'
grep -q '^ Provides: genplug-abi-1 (= 1\.' "$work/info"
grep -Eq '^ Depends: .*libtorch' "$work/info" || { echo "deb: libtorch is not a dependency"; exit 1; }
# Every dependency is a package dpkg knows as installed here (a clean Debian 12 gets them from apt).
deps=$(sed -n 's/^ Depends: //p' "$work/info" | tr ',' '\n' | sed 's/[ (].*//; s/|.*//; s/^ *//' | grep .)
for d in $deps; do
  dpkg-query -W -f='${Status}' "$d" 2>/dev/null | grep -q "install ok installed" || { echo "deb: dependency $d is not installed"; exit 1; }
done
dpkg-deb -x "$deb" "$work/root"
usr=$work/root/usr
"$usr/bin/genplug" --version
plugins=$("$usr/bin/genplug" plugins)
echo "$plugins"
for id in org.genplug.dype org.genplug.flowmatch org.genplug.flux; do
  grep -q "^$id " <<< "$plugins" || { echo "deb: plugin $id is not listed"; exit 1; }
done
# The Python host sample, as installed: it finds the package's DyPE library and writes nothing into the package's
# tree (no __pycache__ beside it when run as root, whatever the caller's PYTHONDONTWRITEBYTECODE).
sample=$usr/share/genplug/samples/python-host/dype_spectrum.py
env -u PYTHONDONTWRITEBYTECODE python3 "$sample" --list > "$work/python.log" 2>&1 ||
  { cat "$work/python.log"; exit 1; }
grep -q "org.genplug.dype" "$work/python.log" || { cat "$work/python.log"; exit 1; }
cache=$(find "$usr" -name __pycache__)
[[ -z $cache ]] || { echo "deb: the Python sample wrote $cache"; exit 1; }
mkdir "$work/render"
(cd "$work/render" && "$usr/bin/genplug" run "$usr/share/genplug/samples/default.json" --set jobs.0.steps=2 > run.log 2>&1) ||
  { cat "$work/render/run.log"; exit 1; }
[[ -s $work/render/default.exr ]] || { echo "deb: no default.exr"; exit 1; }
echo "deb_test: $(basename "$deb") ($(du -h "$deb" | cut -f1)) unpacks, lists its plugins and renders"
