#!/usr/bin/env bash
# Installs every build and test dependency of genplug from Debian 12 packages; with --demo, only what
# scripts/demo.sh needs: the tools and libraries that configure genplug and build its CLI and plugins.
# Idempotent: with every package present it does nothing (no apt, no root needed); otherwise it refreshes the
# package lists and installs what is missing, as root or through sudo.
set -euo pipefail
packages=(
  build-essential cmake ninja-build ccache pkg-config
  libtorch-dev libopenblas0-pthread libtcmalloc-minimal4
  libboost-dev libboost-filesystem-dev libboost-test-dev
  nlohmann-json3-dev libopenexr-dev libpng-dev libopencolorio-dev libicu-dev libdlpack-dev libsentencepiece-dev
  libcli11-dev
)
# The test suite's: sanitizers and fuzzing (clang), the eager baseline and Python host (python3-torch), the
# schema suite, the API reference and manual page, a one-machine Slurm cluster, and the EXR and image tools the
# tests read with.
test_packages=(
  clang libclang-rt-14-dev python3-torch json-schema-test-suite doxygen help2man
  slurmctld slurmd slurm-client munge openexr openimageio-tools
)
case "${1:-}" in
  --demo) ;;
  "") packages+=("${test_packages[@]}") ;;
  *) echo "setup: unknown argument '$1' (setup.sh [--demo])" >&2; exit 2 ;;
esac
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
  echo "setup: all packages present"
  exit 0
fi
as_root=()
if [ "$(id -u)" -ne 0 ]; then
  command -v sudo >/dev/null 2>&1 ||
    { echo "setup: missing packages (${missing[*]}); run this script as root, or install sudo" >&2; exit 1; }
  as_root=(sudo)
fi
# sudo resets the environment: the front end is set on apt-get's own command line. The dpkg lock held by another
# apt (unattended-upgrades on a fresh machine) is waited for at install rather than failed on.
apt=("${as_root[@]}" env DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600)
"${apt[@]}" update -qq
echo "setup: installing ${missing[*]}"
"${apt[@]}" install -y -qq --no-install-recommends "${missing[@]}"
