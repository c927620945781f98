#!/usr/bin/env bash
# Runs on the GPU machine from the repo root (carry tools/bundle, made by make-bundle.sh): unpacks the .NET runtime, runs the CUDA
# tests, the Axpy/GAP bandwidth measurements, se_resnet50 fp32 training (ours), timm legacy_seresnet50 in PyTorch, then resnet50
# (ours, for the SE overhead), and prints a summary table. Logs go to $OUT (if set) or tools/bundle/out.
# Every stage runs under a timeout cut from one overall budget (SE_GPU_BUDGET_S, default 450 s, so the whole check fits in
# 8 minutes with start-up), so a hang costs its stage only and the summary always prints. A stage with < 15 s left is skipped.
# Usage: tools/gpu-check/run.sh [bandwidth iterations]     Env: SE_GPU_BATCH (64), SE_GPU_BUDGET_S (450), SE_GPU_DRY_RUN=1
#   (dry run: print each stage's command and timeout instead of running it; for checking the script without a GPU).
set -uo pipefail
repo=$(cd "$(dirname "$0")/../.." && pwd)
cd "$repo"
bundle="$repo/tools/bundle"
out="${OUT:-$bundle/out}"
mkdir -p "$out"
dry=${SE_GPU_DRY_RUN:-0}
b=${SE_GPU_BATCH:-64}
t0=$(date +%s)
deadline=$(( t0 + ${SE_GPU_BUDGET_S:-450} ))
if [ "$dry" != 1 ]; then
  for f in dotnet-runtime.tar.gz apps.tar.gz; do
    [ -f "$bundle/$f" ] || { echo "no $bundle/$f: run tools/gpu-check/make-bundle.sh on the dev machine and carry tools/bundle" >&2; exit 2; }
  done
  rt="$bundle/dotnet"
  if [ ! -x "$rt/dotnet" ]; then mkdir -p "$rt" && tar -xzf "$bundle/dotnet-runtime.tar.gz" -C "$rt"; fi
  rm -rf "$bundle/tests" "$bundle/bandwidth" "$bundle/se" && tar -xzf "$bundle/apps.tar.gz" -C "$bundle" \
    || { echo "could not unpack $bundle/apps.tar.gz" >&2; exit 2; }
  export DOTNET_ROOT="$rt" PATH="$rt:$PATH"
fi
export DOTNET_SYSTEM_GLOBALIZATION_INVARIANT=1 DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1

{ echo "commit: $(cat "$bundle/commit.txt" 2>/dev/null)"; nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv 2>&1 || echo "nvidia-smi not available"; } | tee "$out/machine.txt"

# stage NAME CAP LOG CMD...: runs CMD under timeout min(CAP, time left), output to LOG (and the console); sets rc_NAME, s_NAME.
stage() {
  local name=$1 cap=$2 log=$3; shift 3
  local left=$(( deadline - $(date +%s) )) limit start rc
  limit=$(( cap < left ? cap : left ))
  echo "== $name (timeout ${limit}s, ${left}s of the budget left)"
  if [ "$limit" -lt 15 ]; then
    echo "skipped: no time left" | tee "$log"; rc=125
  elif [ "$dry" = 1 ]; then
    echo "dry run: timeout $limit $*" | tee "$log"; rc=0
  else
    start=$(date +%s)
    timeout -k 5 "$limit" "$@" 2>&1 | tee "$log"
    rc=${PIPESTATUS[0]}
    printf -v "s_$name" '%s' $(( $(date +%s) - start ))
  fi
  printf -v "rc_$name" '%s' "$rc"
}

stage tests 170 "$out/tests.txt" dotnet "$bundle/tests/SeFramework.Cuda.Tests.dll" -parallel none -noColor
stage bandwidth 50 "$out/bandwidth.txt" dotnet "$bundle/bandwidth/CudaBandwidth.dll" "${1:-50}"
bench=(bench --device cuda --batch "$b" --input 224 --mode train --steps 30 --warmup 5 --json)
stage ours_se 110 "$out/ours_se_resnet50.log" dotnet "$bundle/se/se.dll" "${bench[@]}" --model se_resnet50
stage torch_se 110 "$out/torch_se_resnet50.log" python3 tools/gpu-check/torch_peer.py --model legacy_seresnet50 --batch "$b"
stage ours_resnet 90 "$out/ours_resnet50.log" dotnet "$bundle/se/se.dll" "${bench[@]}" --model resnet50
# The JSON result of each training stage is the last line of its log.
for f in ours_se_resnet50 torch_se_resnet50 ours_resnet50; do tail -n 1 "$out/$f.log" > "$out/$f.json" 2>/dev/null; done

echo
echo "== summary (batch $b, fp32; $(( $(date +%s) - t0 ))s in all)"
status() { # rc -> words
  case "$1" in 0) echo ok ;; 124|137) echo "TIMEOUT" ;; 125) echo "skipped (budget spent)" ;; *) echo "FAILED rc $1" ;; esac
}
summary=$(grep -Eo 'Total: [0-9]+, Errors: [0-9]+, Failed: [0-9]+, Skipped: [0-9]+' "$out/tests.txt" 2>/dev/null | tail -1)
echo "| check | result |"
echo "|---|---|"
echo "| CUDA tests ($(status "$rc_tests"), ${s_tests:-0}s) | ${summary:-no summary line} |"
if [ "$rc_tests" != 0 ]; then
  grep -E '^\s*\[FAIL\]|\[FAIL\]' "$out/tests.txt" 2>/dev/null | head -8 | sed 's/^ */| failed test | /; s/$/ |/'
fi
grep -E '^\| \(' "$out/bandwidth.txt" 2>/dev/null | awk -F'|' '{ for (i = 2; i <= 8; i++) gsub(/^ +| +$/, "", $i) }
  $3 == "copy" || $3 == "axpy" || $3 == "axpy+relu" || $3 == "gap fwd" { printf "| bandwidth %s %s | %s GB/s (%s of copy, %s of peak) |\n", $3, $2, $6, $7, $8 }'
[ "$rc_bandwidth" = 0 ] || echo "| bandwidth | $(status "$rc_bandwidth"): $(tail -n 1 "$out/bandwidth.txt" 2>/dev/null) |"
field() { python3 -c "import json,sys; print(json.load(open(sys.argv[1]))[sys.argv[2]])" "$1" "$2" 2>/dev/null || echo NA; }
ratio() { python3 -c "import sys; print(f'{float(sys.argv[1])/float(sys.argv[2]):.3f}')" "$1" "$2" 2>/dev/null || echo NA; }
for s in ours_se:ours_se_resnet50 torch_se:torch_se_resnet50 ours_resnet:ours_resnet50; do
  rc_var="rc_${s%%:*}"; s_var="s_${s%%:*}"
  [ "${!rc_var}" = 0 ] || echo "| ${s#*:} | $(status "${!rc_var}") after ${!s_var:-0}s: $(tail -n 1 "$out/${s#*:}.log" 2>/dev/null | cut -c1-300) |"
done
o_se=$(field "$out/ours_se_resnet50.json" images_per_sec); t_se=$(field "$out/torch_se_resnet50.json" images_per_sec)
o_se_ms=$(field "$out/ours_se_resnet50.json" step_ms_median); o_r=$(field "$out/ours_resnet50.json" step_ms_median)
echo "| se_resnet50 train img/s: ours / PyTorch ($(field "$out/torch_se_resnet50.json" source)) | $o_se / $t_se = $(ratio "$o_se" "$t_se") (target >= 1.0) |"
echo "| peak device memory: ours / PyTorch | $(field "$out/ours_se_resnet50.json" peak_device_bytes) / $(field "$out/torch_se_resnet50.json" peak_device_bytes) bytes |"
echo "| SE overhead: se_resnet50 / resnet50 step ms | $o_se_ms / $o_r = $(ratio "$o_se_ms" "$o_r") (target <= 1.05) |"
[ "$rc_tests" = 0 ] && [ "$rc_bandwidth" = 0 ]
