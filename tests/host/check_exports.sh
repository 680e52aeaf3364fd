#!/usr/bin/env bash
# Each plugin library must export genplug_entry and nothing else of its own (hidden visibility + version
# script); the only other dynamic symbols allowed are the toolchain's (_init, _fini, _edata, _end, __bss_start).
set -u
if [ $# -eq 0 ]; then echo "FAIL no plugin libraries given"; exit 1; fi
status=0
for lib in "$@"; do
  symbols=$(nm -D --defined-only "$lib" | awk '{print $3}' | grep -v -E '^(_init|_fini|_edata|_end|__bss_start)$')
  if [ "$symbols" != "genplug_entry" ]; then
    echo "FAIL $lib exports: $(echo $symbols | tr '\n' ' ')"
    status=1
  else
    echo "ok   $lib exports only genplug_entry"
  fi
done
exit $status
