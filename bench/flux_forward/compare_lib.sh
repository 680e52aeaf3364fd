# Sourced by the compare_*.sh scripts (POSIX sh): what every side-by-side comparison starts with.

# OpenBLAS's pool parks 2^16 cycles after each product, as under the genplug CLI (host/cli/blas_environment.cpp),
# for every program a comparison runs (flux_forward would set it for itself; the eager baseline gets it here).
: "${OPENBLAS_THREAD_TIMEOUT:=16}"
export OPENBLAS_THREAD_TIMEOUT

# compare_start SCRIPT: stops unless $BIN is an executable, makes $TMP (removed at exit) for the runs' JSON and
# prints the load average to stderr (a comparison means little on a busy machine).
compare_start() {
  [ -x "$BIN" ] || { echo "$1: $BIN is not an executable (build the flux_forward target)" >&2; exit 1; }
  TMP=$(mktemp -d)
  trap 'rm -rf "$TMP"' EXIT
  echo "load before: $(uptime)" >&2
}
