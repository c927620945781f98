#!/usr/bin/env bash
# Fetches Debian bookworm non-free CUDA 11.8 packages (nvcc, ptxas, headers, NVRTC) and extracts them, without installing,
# into tools/cuda/toolkit/root (git-ignored). Idempotent: does nothing when the toolkit is already there. Usage: tools/cuda/fetch-toolkit.sh
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
tk="$here/toolkit"
root="$tk/root"
if [ -f "$root/usr/lib/nvidia-cuda-toolkit/bin/nvcc.profile" ] && [ -x "$root/usr/bin/ptxas" ] && [ -x "$root/usr/lib/nvidia-cuda-toolkit/bin/nvcc" ] && [ -f "$root/usr/include/cuda_runtime.h" ] \
   && ls "$root"/usr/lib/x86_64-linux-gnu/libnvrtc.so.11* "$root"/usr/lib/x86_64-linux-gnu/libcublas.so.11* >/dev/null 2>&1 \
   && ls "$root"/usr/lib/x86_64-linux-gnu/nvidia/current/libcuda.so.1 >/dev/null 2>&1; then
  echo "toolkit already in $root"; exit 0
fi
mkdir -p "$tk/lists/partial" "$tk/debs" "$root"
# A private sources list with contrib/non-free, so the machine's apt configuration stays untouched.
cat > "$tk/sources.list" <<SRC
deb http://deb.debian.org/debian bookworm main contrib non-free
SRC
apto=(-o "Dir::Etc::sourcelist=$tk/sources.list" -o "Dir::Etc::sourceparts=/nonexistent" -o "Dir::State::Lists=$tk/lists"
      -o "Dir::Cache::archives=$tk/debs" -o "APT::Get::List-Cleanup=0")
apt-get "${apto[@]}" -qq update
cd "$tk/debs"
# apt-get download as root from a dir _apt cannot write prints a harmless warning; keep going.
# libcuda1 (driver 535) and libcublas11 are extracted only so tests can check our bindings' symbol names against them.
for p in nvidia-cuda-toolkit libnvrtc11.2 libnvrtc-builtins11.8 libcuda1 libcublas11 nvidia-cuda-dev; do
  ls ${p}_*.deb >/dev/null 2>&1 || apt-get "${apto[@]}" -qq download "$p" 2>&1 | grep -v "_apt" || true
  ls ${p}_*.deb >/dev/null 2>&1 || { echo "download of $p failed" >&2; exit 1; }
done
dpkg-deb -x nvidia-cuda-toolkit_*.deb "$root"
dpkg-deb -x libnvrtc11.2_*.deb "$root"
dpkg-deb -x libnvrtc-builtins11.8_*.deb "$root"
dpkg-deb -x libcuda1_*.deb "$root"
dpkg-deb -x libcublas11_*.deb "$root"
# Only the headers of nvidia-cuda-dev (774 MB .deb, 14 MB of headers): nvcc needs cuda_runtime.h.
dpkg-deb --fsys-tarfile nvidia-cuda-dev_*.deb | tar -x -C "$root" ./usr/include
rm -f nvidia-cuda-dev_*.deb
# The .deb's nvcc.profile is a link to /etc/nvcc.profile; replace it with one relative to nvcc itself, so libdevice (expf, logf) is found.
prof="$root/usr/lib/nvidia-cuda-toolkit/bin/nvcc.profile"
rm -f "$prof"
printf '%s\n' 'NVVMIR_LIBRARY_DIR = $(_HERE_)/../libdevice' 'PATH += $(_HERE_):' > "$prof"
echo "toolkit extracted to $root"
"$root/usr/bin/ptxas" --version | tail -1
