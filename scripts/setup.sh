#!/usr/bin/env bash
# Installs every build and test dependency of genplug from Debian 12 packages.
# Idempotent: re-running it only refreshes the package lists and installs what is missing.
set -euo pipefail
if [ "$(id -u)" -ne 0 ]; then SUDO=sudo; else SUDO=; fi
export DEBIAN_FRONTEND=noninteractive
packages=(
  build-essential cmake ninja-build ccache pkg-config clang libclang-rt-14-dev
  libtorch-dev libopenblas0-pthread python3-torch libtcmalloc-minimal4
  libboost-dev libboost-filesystem-dev libboost-test-dev
  nlohmann-json3-dev libopenexr-dev libpng-dev libopencolorio-dev libicu-dev libdlpack-dev libsentencepiece-dev
  libcli11-dev json-schema-test-suite doxygen
  slurmctld slurmd slurm-client munge openexr openimageio-tools
)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
$SUDO apt-get update -qq
if [ ${#missing[@]} -gt 0 ]; then
  echo "setup: installing ${missing[*]}"
  $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
else
  echo "setup: all packages present"
fi
