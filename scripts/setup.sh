#!/usr/bin/env bash
# Install the Debian packages mtneuro-pack needs (only those missing), then configure and
# build into build/. Idempotent; works as root or through sudo.
set -euo pipefail
cd "$(dirname "$0")/.."

packages=(
  build-essential cmake pkg-config
  libhdf5-dev hdf5-tools libcurl4-openssl-dev libblosc-dev libyaml-dev check
  libmicrohttpd-dev libjansson-dev libssl-dev zlib1g-dev libdeflate-dev libpng-dev libarchive-dev
  python3 python3-numpy python3-h5py python3-blosc python3-scipy python3-yaml
  curl time
  slurm-wlm munge
  clang libclang-rt-dev
)

missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done
if [ ${#missing[@]} -gt 0 ]; then
  sudo_cmd=()
  if [ "$(id -u)" -ne 0 ]; then sudo_cmd=(sudo); fi
  echo "setup: installing ${missing[*]}"
  "${sudo_cmd[@]}" apt-get update -qq
  DEBIAN_FRONTEND=noninteractive "${sudo_cmd[@]}" apt-get install -y -qq --no-install-recommends \
    "${missing[@]}" >/dev/null
fi

cmake -S . -B build -DCMAKE_BUILD_TYPE="${BUILD_TYPE:-RelWithDebInfo}" ${CMAKE_ARGS:-} >/dev/null
cmake --build build --parallel "$(nproc)"
