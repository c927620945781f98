#!/usr/bin/env bash
# Fetches Debian bookworm non-free CUDA 11.8 packages (nvcc, ptxas, NVRTC, headers; libcuda1 and libcublas11 for symbol checks) and
# extracts them, without installing, into tools/cuda/toolkit/root (git-ignored). Idempotent. CI-friendly: needs apt-get and the Debian mirror.
# Usage: tools/cuda/fetch-toolkit.sh [--no-nvcc]
#   --no-nvcc  skip nvidia-cuda-dev (a 774 MB .deb, only its 14 MB of headers are kept): ptxas, NVRTC and symbol checks still work,
#              the "committed PTX equals build-ptx.sh output" test then skips.
set -euo pipefail
with_nvcc=1
[ "${1:-}" = "--no-nvcc" ] && with_nvcc=0
here=$(cd "$(dirname "$0")" && pwd)
tk="$here/toolkit"
root="$tk/root"
lib="$root/usr/lib/x86_64-linux-gnu"
have_base() { [ -x "$root/usr/bin/ptxas" ] && [ -f "$root/usr/lib/nvidia-cuda-toolkit/bin/nvcc.profile" ] && ls "$lib"/libnvrtc.so.11.2 "$lib"/libcublas.so.11 "$lib"/nvidia/current/libcuda.so.1 >/dev/null 2>&1; }
have_headers() { [ -f "$root/usr/include/cuda_runtime.h" ]; }
if have_base && { [ $with_nvcc = 0 ] || have_headers; }; then echo "toolkit already in $root"; exit 0; fi

mkdir -p "$tk/lists/partial" "$tk/debs" "$root"
# A private sources list with contrib/non-free, so the machine's apt configuration stays untouched.
echo "deb http://deb.debian.org/debian bookworm main contrib non-free" > "$tk/sources.list"
apto=(-o "Dir::Etc::sourcelist=$tk/sources.list" -o "Dir::Etc::sourceparts=/nonexistent" -o "Dir::State::Lists=$tk/lists"
      -o "Dir::Cache::archives=$tk/debs" -o "APT::Get::List-Cleanup=0")
apt-get "${apto[@]}" -qq update
cd "$tk/debs"
pkgs=(nvidia-cuda-toolkit libnvrtc11.2 libnvrtc-builtins11.8 libcuda1 libcublas11)
[ $with_nvcc = 1 ] && ! have_headers && pkgs+=(nvidia-cuda-dev)
for p in "${pkgs[@]}"; do
  # apt-get download as root from a folder _apt cannot write prints a harmless warning; keep going.
  ls "${p}"_*.deb >/dev/null 2>&1 || apt-get "${apto[@]}" -qq download "$p" 2>&1 | grep -v "_apt" || true
  ls "${p}"_*.deb >/dev/null 2>&1 || { echo "download of $p failed" >&2; exit 1; }
done
for p in nvidia-cuda-toolkit libnvrtc11.2 libnvrtc-builtins11.8 libcuda1 libcublas11; do dpkg-deb -x "${p}"_*.deb "$root"; done
if ls nvidia-cuda-dev_*.deb >/dev/null 2>&1; then
  # Only the headers: nvcc needs cuda_runtime.h.
  dpkg-deb --fsys-tarfile nvidia-cuda-dev_*.deb | tar -x -C "$root" ./usr/include
  rm -f nvidia-cuda-dev_*.deb
fi
# The .deb's nvcc.profile is a link to /etc/nvcc.profile; replace it with one relative to nvcc itself, so libdevice (expf, logf) is found.
prof="$root/usr/lib/nvidia-cuda-toolkit/bin/nvcc.profile"
rm -f "$prof"
printf '%s\n' 'NVVMIR_LIBRARY_DIR = $(_HERE_)/../libdevice' 'PATH += $(_HERE_):' > "$prof"
echo "toolkit extracted to $root"
"$root/usr/bin/ptxas" --version | tail -1
