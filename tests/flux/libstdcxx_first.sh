#!/bin/sh
# Each file given must list libstdc++ among its NEEDED libraries before any of libtorch's (libtorch*, libc10*):
# pip's libtorch exports its own static copy of libstdc++'s std::filesystem, which otherwise serves the calls
# (cmake/GenplugDependencies.cmake, genplug_torch; docs/performance.md, "GPU"). Sanitizer runtimes may come first.
status=0
for f in "$@"; do
  needed=$(readelf -d "$f" | awk '/\(NEEDED\)/ {gsub(/[][]/, "", $NF); print $NF}')
  order=$(echo "$needed" | grep -E '^(libstdc\+\+\.so|libtorch|libc10)' | tr '\n' ' ')
  echo "$f: $order"
  case $order in
    libstdc++.so.6*) ;;
    *) echo "error: $f does not list libstdc++.so.6 before libtorch's libraries: $order" >&2; status=1 ;;
  esac
done
exit $status
