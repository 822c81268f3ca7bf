#!/usr/bin/env bash
# A CUDA 13.0 toolkit assembled from NVIDIA's PyPI wheels, for machines with no CUDA install and
# no NVIDIA apt repository (this project's CI and dev VMs): enough to compile and link the CUDA
# build of the addon, and to run it there (it finds no driver and falls back to the CPU).
#   scripts/pypi-cuda-toolkit.sh <dir>                 nvcc, cicc, headers, cudart, cuBLAS (~530 MB download)
#   scripts/pypi-cuda-toolkit.sh <dir> --headers-only  the runtime headers alone (~2.5 MB): compile checks
# Then: CUDAToolkit_ROOT=<dir> PATH=<dir>/bin:$PATH WHISPER_SERVE_CUDA=1 npm run build:native
# The versions are one CUDA release, 13.0: the nvcc of the lent H100/H200 machines.
set -euo pipefail
dir="${1:?usage: scripts/pypi-cuda-toolkit.sh <dir> [--headers-only]}"
mode="${2:-full}"
wheels=(nvidia-cuda-runtime==13.0.96 nvidia-cuda-crt==13.0.88)
[ "$mode" = --headers-only ] || wheels+=(nvidia-cuda-nvcc==13.0.88 nvidia-nvvm==13.0.88 nvidia-cuda-cccl==13.0.85 nvidia-cublas==13.0.2.14)

if [ -f "$dir/.complete-$mode" ]; then echo "$dir"; exit 0; fi
dl=$(mktemp -d)
trap 'rm -rf "$dl"' EXIT
python3 -m pip download --quiet --no-deps --only-binary=:all: -d "$dl" "${wheels[@]}" >&2
mkdir -p "$dir"
# Every wheel unpacks under nvidia/cu13/: that folder has a toolkit's layout (bin, include, lib, nvvm).
for w in "$dl"/*.whl; do python3 -m zipfile -e "$w" "$dl/x"; done
cp -a "$dl/x/nvidia/cu13/." "$dir/"
# Wheels drop the executable bit and the unversioned names that linkers and CMake look for.
chmod +x "$dir"/bin/* "$dir"/nvvm/bin/* 2>/dev/null || true
[ -e "$dir/lib64" ] || ln -s lib "$dir/lib64"
for so in "$dir"/lib/lib*.so.*; do
  base="${so%%.so.*}.so"
  [ -e "$base" ] || ln -s "$(basename "$so")" "$base"
done
touch "$dir/.complete-$mode"
echo "$dir"
