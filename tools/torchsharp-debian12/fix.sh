#!/usr/bin/env bash
# Called after Build (TorchSharpFix.targets) by every project that references TorchSharp-cpu 0.107.0. Makes its
# libLibTorchSharp.so loadable on hosts whose libstdc++ predates GLIBCXX_3.4.32 (Debian 12 / GCC 12): builds the
# no-op shim next to it and marks the GLIBCXX_3.4.32 requirement weak. Always builds the MKL AVX-512 override.
# Needs: cc (gcc), python3, ldconfig. Touches only NATIVE_DIR/libLibTorchSharp.so (a build-output copy) and OUT_DIR.
set -euo pipefail
[ $# -eq 2 ] || { echo "usage: fix.sh NATIVE_DIR OUT_DIR" >&2; exit 2; }
native_dir="$1"; out_dir="$2"; here="$(cd "$(dirname "$0")" && pwd)"
for tool in cc python3; do
  command -v "$tool" >/dev/null 2>&1 || { echo "fix.sh: error: '$tool' not found; install it (apt-get install gcc python3)" >&2; exit 3; }
done
ldconfig_bin="$(command -v ldconfig || echo /sbin/ldconfig)"
lib="$native_dir/libLibTorchSharp.so"
cc -shared -fPIC -O2 -o "$out_dir/libmkl_intel_cpu_override.so" "$here/mkl_intel_cpu_override.c"
[ -f "$lib" ] || { echo "fix.sh: $lib not found, skipping"; exit 0; }
# Whole output, then filter: an early-exiting reader would SIGPIPE ldconfig and trip pipefail.
sys_stdcxx="$("$ldconfig_bin" -p | awk '/libstdc\+\+\.so\.6 .*x86-64/ && !found {print $NF; found=1}')"
[ -n "$sys_stdcxx" ] || { echo "fix.sh: error: no x86-64 libstdc++.so.6 in '$ldconfig_bin -p'" >&2; exit 3; }
if grep -qa 'GLIBCXX_3\.4\.32' "$sys_stdcxx"; then echo "fix.sh: system libstdc++ has GLIBCXX_3.4.32, nothing to do"; exit 0; fi
cc -shared -fPIC -O2 -o "$out_dir/libglibcxx_3_4_32_shim.so" "$here/shim.c" -Wl,--version-script="$here/shim.map" -Wl,-soname,libglibcxx_3_4_32_shim.so
# Never patch through a hard link (it could be the NuGet cache's file): give the output its own copy first.
if [ "$(stat -c %h "$lib")" -gt 1 ]; then cp "$lib" "$lib.tmp" && mv -f "$lib.tmp" "$lib"; fi
python3 "$here/weaken_verneed.py" "$lib" GLIBCXX_3.4.32
