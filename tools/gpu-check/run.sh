#!/usr/bin/env bash
# Runs on the GPU machine from the repo root (carry tools/bundle, made by make-bundle.sh): unpacks the .NET runtime, runs the CUDA
# tests, the Axpy/GAP bandwidth measurements, se_resnet50/resnet50 fp32 training (ours) and timm legacy_seresnet50 in PyTorch,
# and prints a summary table. Logs go to $OUT (if set) or tools/bundle/out.
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

echo "== se_resnet50 / resnet50 training, fp32, batch ${SE_GPU_BATCH:-64}, 224x224 (ours, then PyTorch eager)"
b=${SE_GPU_BATCH:-64}
ours() { dotnet "$bundle/se/se.dll" bench --device cuda --model "$1" --batch "$b" --input 224 --mode train --steps 30 --warmup 5 --json 2>&1 | tail -1; }
peer() { timeout 300 python3 tools/gpu-check/torch_peer.py --model "$1" --batch "$b" 2>&1 | tail -1; }
ours se_resnet50 | tee "$out/ours_se_resnet50.json"
ours resnet50 | tee "$out/ours_resnet50.json"
peer legacy_seresnet50 | tee "$out/torch_se_resnet50.json"

echo
echo "== summary"
echo "| check | result |"
echo "|---|---|"
echo "| CUDA tests (rc $tests_rc, ${tests_s}s) | ${summary:-no summary line} |"
grep -E '^\| \(' "$out/bandwidth.txt" | awk -F'|' '{ for (i = 2; i <= 8; i++) gsub(/^ +| +$/, "", $i) }
  $3 == "copy" || $3 == "axpy" || $3 == "axpy+relu" || $3 == "gap fwd" { printf "| bandwidth %s %s | %s GB/s (%s of copy, %s of peak) |\n", $3, $2, $6, $7, $8 }'
[ "$bw_rc" -eq 0 ] || echo "| bandwidth | failed (rc $bw_rc), see $out/bandwidth.txt |"
field() { python3 -c "import json,sys; print(json.load(open(sys.argv[1]))[sys.argv[2]])" "$1" "$2" 2>/dev/null || echo NA; }
o_se=$(field "$out/ours_se_resnet50.json" images_per_sec); o_r=$(field "$out/ours_resnet50.json" step_ms_median)
o_se_ms=$(field "$out/ours_se_resnet50.json" step_ms_median); t_se=$(field "$out/torch_se_resnet50.json" images_per_sec)
ratio() { python3 -c "import sys; print(f'{float(sys.argv[1])/float(sys.argv[2]):.3f}')" "$1" "$2" 2>/dev/null || echo NA; }
echo "| se_resnet50 train img/s: ours / PyTorch | $o_se / $t_se = $(ratio "$o_se" "$t_se") (target >= 1.0) |"
echo "| peak device memory: ours / PyTorch | $(field "$out/ours_se_resnet50.json" peak_device_bytes) / $(field "$out/torch_se_resnet50.json" peak_device_bytes) bytes |"
echo "| SE overhead: se_resnet50 / resnet50 step ms | $o_se_ms / $o_r = $(ratio "$o_se_ms" "$o_r") (target <= 1.05) |"
[ "$tests_rc" -eq 0 ] && [ "$bw_rc" -eq 0 ]
