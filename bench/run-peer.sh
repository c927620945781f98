#!/usr/bin/env bash
# Runs the TorchSharp peer benchmark (bench/SeFramework.Bench.TorchSharp) at its best, as
# tools/torchsharp-debian12/README.md describes: glibc malloc keeps freed blocks (no page faults every step),
# and MKL's SGEMM is told it runs on Intel (AVX-512 kernels on AMD). Arguments go to the benchmark, e.g.
#   bench/run-peer.sh --model se_resnet50 --batch 8 --input 224 --mode train --steps 5 --warmup 2 --threads 2 --json
# Builds (Release) first unless NO_BUILD=1.
set -euo pipefail
here="$(cd "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")" && pwd)"
project="$here/SeFramework.Bench.TorchSharp"
out="$project/bin/Release/net10.0"
if [ "${NO_BUILD:-0}" != 1 ]; then
  dotnet build "$project" -c Release --nologo -v quiet -clp:ErrorsOnly >&2
fi
[ -x "$out/SeFramework.Bench.TorchSharp" ] || { echo "run-peer.sh: $out/SeFramework.Bench.TorchSharp not built" >&2; exit 1; }
[ -f "$out/libmkl_intel_cpu_override.so" ] || { echo "run-peer.sh: $out/libmkl_intel_cpu_override.so missing (fix.sh did not run)" >&2; exit 1; }
export GLIBC_TUNABLES=glibc.malloc.mmap_threshold=4294967296:glibc.malloc.trim_threshold=17179869184:glibc.malloc.hugetlb=1
export LD_PRELOAD="$out/libmkl_intel_cpu_override.so${LD_PRELOAD:+:$LD_PRELOAD}"
exec "$out/SeFramework.Bench.TorchSharp" "$@"
