#!/bin/sh
# The genplug CLI allocates through tcmalloc (host/CMakeLists.txt; docs/performance.md, "Memory allocator"):
# during a render of the default manifest, libtorch's CPU allocator (libc10's posix_memalign) and the C library's
# own callers are bound to libtcmalloc_minimal's symbols, not to the C library's malloc.
# Usage: check_allocator.sh GENPLUG MANIFEST
set -eu
genplug=$1
manifest=$2
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
LD_DEBUG=bindings LD_DEBUG_OUTPUT="$out/bindings" "$genplug" -q run "$manifest" --set "jobs.0.output=$out/image.exr"
test -s "$out/image.exr" || { echo "check_allocator.sh: the render wrote no image"; exit 1; }
cat "$out"/bindings.* > "$out/all"
for symbol in posix_memalign malloc; do
  grep -q "libc10[^ ]* .* to [^ ]*libtcmalloc_minimal[^ ]* .*symbol \`$symbol'" "$out/all" ||
    { echo "check_allocator.sh: libc10's $symbol is not bound to tcmalloc:"; grep "libc10.*symbol \`$symbol'" "$out/all" | head -3; exit 1; }
done
if grep -q "to [^ ]*libc\.so[^ ]* .*normal symbol \`malloc'" "$out/all"; then
  echo "check_allocator.sh: some library binds malloc to the C library:"
  grep "to [^ ]*libc\.so[^ ]* .*normal symbol \`malloc'" "$out/all" | head -3
  exit 1
fi
echo "check_allocator.sh: libc10 and every other caller of malloc use tcmalloc"
