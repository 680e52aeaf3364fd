#!/bin/sh
# Each file given must name libstdc++ as its first NEEDED library, ahead of libtorch: pip's libtorch exports its
# own static copy of libstdc++'s std::filesystem, which otherwise serves the calls (cmake/GenplugDependencies.cmake,
# genplug_torch; docs/performance.md, "GPU").
status=0
for f in "$@"; do
  first=$(readelf -d "$f" | awk '/\(NEEDED\)/ {print $NF; exit}')
  echo "$f: first NEEDED $first"
  [ "$first" = "[libstdc++.so.6]" ] || { echo "error: $f lists $first before libstdc++.so.6" >&2; status=1; }
done
exit $status
