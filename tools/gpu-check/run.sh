#!/usr/bin/env bash
# Runs on the GPU machine from the repo root (carry tools/bundle, made by make-bundle.sh): unpacks the .NET runtime, runs the CUDA
# tests and the bandwidth measurements, and prints a summary table. Logs go to $OUT (if set) or tools/bundle/out.
# Usage: tools/gpu-check/run.sh [bandwidth iterations]
set -uo pipefail
repo=$(cd "$(dirname "$0")/../.." && pwd)
cd "$repo"
bundle="$repo/tools/bundle"
out="${OUT:-$bundle/out}"
mkdir -p "$out"
[ -f "$bundle/dotnet-runtime.tar.gz" ] || { echo "no $bundle/dotnet-runtime.tar.gz: run tools/gpu-check/make-bundle.sh on the dev machine and carry tools/bundle" >&2; exit 2; }
rt="$bundle/dotnet"
if [ ! -x "$rt/dotnet" ]; then mkdir -p "$rt" && tar -xzf "$bundle/dotnet-runtime.tar.gz" -C "$rt"; fi
export DOTNET_ROOT="$rt" DOTNET_SYSTEM_GLOBALIZATION_INVARIANT=1 DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1
export PATH="$rt:$PATH"

{ echo "commit: $(cat "$bundle/commit.txt" 2>/dev/null)"; nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv 2>&1 || echo "nvidia-smi not available"; } | tee "$out/machine.txt"

echo "== CUDA tests"
start=$(date +%s)
dotnet "$bundle/tests/SeFramework.Cuda.Tests.dll" -parallel none -noColor 2>&1 | tee "$out/tests.txt"
tests_rc=${PIPESTATUS[0]}
tests_s=$(( $(date +%s) - start ))
summary=$(grep -Eo 'Total: [0-9]+, Errors: [0-9]+, Failed: [0-9]+, Skipped: [0-9]+' "$out/tests.txt" | tail -1)

echo "== bandwidth"
dotnet "$bundle/bandwidth/CudaBandwidth.dll" "${1:-50}" 2>&1 | tee "$out/bandwidth.txt"
bw_rc=${PIPESTATUS[0]}

echo
echo "== summary"
echo "| check | result |"
echo "|---|---|"
echo "| CUDA tests (rc $tests_rc, ${tests_s}s) | ${summary:-no summary line} |"
grep -E '^\| \(' "$out/bandwidth.txt" | awk -F'|' '{ for (i = 2; i <= 8; i++) gsub(/^ +| +$/, "", $i) }
  $3 == "copy" || $3 == "axpy" || $3 == "axpy+relu" || $3 == "gap fwd" { printf "| bandwidth %s %s | %s GB/s (%s of copy, %s of peak) |\n", $3, $2, $6, $7, $8 }'
[ "$bw_rc" -eq 0 ] || echo "| bandwidth | failed (rc $bw_rc), see $out/bandwidth.txt |"
# Placeholder until the lead's CudaBackend exists: se_resnet50 training throughput and loss curve against PyTorch.
echo "| se_resnet50 training vs PyTorch | NOT RUN: needs the full CudaBackend (IBackend on CUDA); not implemented yet |"
[ "$tests_rc" -eq 0 ] && [ "$bw_rc" -eq 0 ]
