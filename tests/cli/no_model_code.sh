#!/bin/sh
# The genplug CLI knows no model format: `inspect` goes through inspector plugins (docs/cli.md). Fails when the
# binary holds safetensors or FLUX code, or when a host/ source includes their headers.
# Usage: no_model_code.sh GENPLUG_BINARY HOST_SOURCE_DIR
set -u
binary=$1
host_dir=$2
command -v nm >/dev/null 2>&1 || { echo "nm not found: skipped"; exit 77; }
symbols=$(nm -C "$binary" | grep -E 'genplug::(safetensors|flux)::' | head -5)
if [ -n "$symbols" ]; then
  echo "FAIL: $binary holds model-format code, e.g.:"
  echo "$symbols"
  exit 1
fi
includes=$(grep -rnE '#include +[<"]genplug/(flux/|safetensors\.hpp)' "$host_dir" | head -5)
if [ -n "$includes" ]; then
  echo "FAIL: host sources include model-format headers:"
  echo "$includes"
  exit 1
fi
echo "PASS: no genplug::safetensors or genplug::flux symbols in $binary, no such include under $host_dir"
