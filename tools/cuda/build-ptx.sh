#!/usr/bin/env bash
# Compiles every SeFramework.Cuda/Kernels/*.cu to PTX ISA 7.8 for compute_70 with nvcc 11.8 (Debian's, extracted by fetch-toolkit.sh),
# so any driver from CUDA 11.8 on can JIT it for sm_70..sm_90+. Usage: tools/cuda/build-ptx.sh [OUTDIR] (default: the Kernels folder).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
src="$repo/SeFramework.Cuda/Kernels"
out="${1:-$src}"
root="${CUDA_TOOLKIT_ROOT:-$here/toolkit/root}"
nvcc="$root/usr/lib/nvidia-cuda-toolkit/bin/nvcc"
[ -x "$nvcc" ] || { echo "nvcc not found at $nvcc; run tools/cuda/fetch-toolkit.sh first" >&2; exit 2; }
# nvcc 11.8 refuses gcc 12 (bookworm's default); clang 14 is accepted as host compiler.
ccbin="${NVCC_CCBIN:-$(command -v clang-14 || command -v g++-11 || true)}"
[ -n "$ccbin" ] || { echo "need clang-14 or g++-11 as nvcc's host compiler (apt-get install clang-14)" >&2; exit 2; }
export PATH="$root/usr/lib/nvidia-cuda-toolkit/bin:$root/usr/bin:$PATH"
mkdir -p "$out"
for cu in "$src"/*.cu; do
  name=$(basename "$cu" .cu)
  "$nvcc" --ptx -arch=compute_70 -O3 -std=c++14 -ccbin "$ccbin" -I "$root/usr/include" -I "$src" -o "$out/$name.ptx" "$cu"
  echo "$name.ptx: $(grep -c '^.visible .entry' "$out/$name.ptx") kernels"
done
