#!/usr/bin/env bash
# Ours vs the TorchSharp peer, one command from a clean clone: builds Release, then for each workload and thread count
# runs ours (`se bench --json`, `SeFramework.Bench --gemm`) and the peer (bench/run-peer.sh --json) alternately
# A B A B ... (REPS pairs), takes the median of each side's medians, and prints the ratio table (ours/peer speed:
# > 1 means we are faster; RSS ratio: ours/peer peak resident memory, < 1 means we use less).
#   bench/compare.sh                       # everything, 1 and 2 threads, 2 pairs
#   THREADS="2" REPS=1 STEPS=3 WARMUP=1 ONLY="se_resnet20_train" bench/compare.sh
# Env: THREADS (default "1 2"), REPS (pairs, default 2), STEPS/WARMUP (model steps, default 5/2), GEMM_STEPS (default 10),
# ONLY (space-separated workload names to run), OUT (folder for the raw JSON, default a temp dir), NO_BUILD=1.
set -euo pipefail
root="$(cd "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")/.." && pwd)"
THREADS="${THREADS:-1 2}"
REPS="${REPS:-2}"
STEPS="${STEPS:-5}"
WARMUP="${WARMUP:-2}"
GEMM_STEPS="${GEMM_STEPS:-10}"
OUT="${OUT:-$(mktemp -d -t se-compare.XXXXXX)}"
mkdir -p "$OUT"

if [ "${NO_BUILD:-0}" != 1 ]; then
  echo "building Release (ours, the gemm timer, the peer) ..." >&2
  dotnet build "$root/SeFramework.Train" -c Release --nologo -v quiet -clp:ErrorsOnly >&2
  dotnet build "$root/bench/SeFramework.Bench" -c Release --nologo -v quiet -clp:ErrorsOnly >&2
  dotnet build "$root/bench/SeFramework.Bench.TorchSharp" -c Release --nologo -v quiet -clp:ErrorsOnly >&2
fi
se_dll="$root/SeFramework.Train/bin/Release/net10.0/se.dll"
bench_dll="$root/bench/SeFramework.Bench/bin/Release/net10.0/SeFramework.Bench.dll"

# name | ours args | peer args
workloads=(
  "se_resnet20_train|--model se_resnet20 --batch 128 --input 32 --mode train"
  "se_resnet50_train|--model se_resnet50 --batch 8 --input 224 --mode train"
  "se_resnet50_infer|--model se_resnet50 --batch 8 --input 224 --mode infer"
  "resnet50_train|--model resnet50 --batch 8 --input 224 --mode train"
  "sgemm_1024|--gemm 1024"
  "sgemm_2048|--gemm 2048"
)

run_ours() { # $1 args, $2 threads
  if [[ "$1" == --gemm* ]]; then
    dotnet "$bench_dll" $1 --steps "$GEMM_STEPS" --warmup 3 --threads "$2" --json
  else
    dotnet "$se_dll" bench $1 --steps "$STEPS" --warmup "$WARMUP" --threads "$2" --json
  fi
}
run_peer() {
  if [[ "$1" == --gemm* ]]; then
    NO_BUILD=1 "$root/bench/run-peer.sh" $1 --steps "$GEMM_STEPS" --warmup 3 --threads "$2" --json
  else
    NO_BUILD=1 "$root/bench/run-peer.sh" $1 --steps "$STEPS" --warmup "$WARMUP" --threads "$2" --json
  fi
}

for t in $THREADS; do
  for w in "${workloads[@]}"; do
    name="${w%%|*}"; args="${w#*|}"
    if [ -n "${ONLY:-}" ] && [[ " $ONLY " != *" $name "* ]]; then continue; fi
    for ((r = 1; r <= REPS; r++)); do
      echo "[$name t=$t rep $r] ours ..." >&2
      run_ours "$args" "$t" | tail -n 1 > "$OUT/${name}_t${t}_ours_$r.json"
      echo "[$name t=$t rep $r] peer ..." >&2
      run_peer "$args" "$t" | tail -n 1 > "$OUT/${name}_t${t}_peer_$r.json"
    done
  done
done

python3 - "$OUT" <<'PY'
import json, sys, glob, os, statistics, collections
out = sys.argv[1]
runs = collections.defaultdict(lambda: {"ours": [], "peer": []})
for path in sorted(glob.glob(os.path.join(out, "*.json"))):
    base = os.path.basename(path)[:-5]
    key, side, _ = base.rsplit("_", 2)
    try:
        runs[key][side].append(json.load(open(path)))
    except (json.JSONDecodeError, OSError):
        print(f"warning: {path} holds no JSON result", file=sys.stderr)
print(f"raw results: {out}")
print(f"{'workload':<22} {'thr':>3} {'ours':>14} {'peer':>14} {'speed ours/peer':>16} {'RSS ours/peer':>14}")
for key in sorted(runs):
    name, t = key.rsplit("_t", 1)
    o, p = runs[key]["ours"], runs[key]["peer"]
    if not o or not p:
        continue
    if "gflops" in o[0]:
        ov = statistics.median(r["gflops"] for r in o); pv = statistics.median(r["gflops"] for r in p)
        print(f"{name:<22} {t:>3} {ov:>9.1f} GF/s {pv:>9.1f} GF/s {ov / pv:>16.2f} {'':>14}")
    else:
        ov = statistics.median(r["step_ms_median"] for r in o); pv = statistics.median(r["step_ms_median"] for r in p)
        orss = max(r["peak_rss_bytes"] for r in o); prss = max(r["peak_rss_bytes"] for r in p)
        print(f"{name:<22} {t:>3} {ov:>11.1f} ms {pv:>11.1f} ms {pv / ov:>16.2f} {orss / max(prss, 1):>14.2f}")
se, r = runs.get("se_resnet50_train_t2"), runs.get("resnet50_train_t2")
if se and r and se["ours"] and r["ours"]:
    ratio = statistics.median(x["step_ms_median"] for x in se["ours"]) / statistics.median(x["step_ms_median"] for x in r["ours"])
    print(f"SE overhead (ours, 2 threads): se_resnet50 / resnet50 step time = {ratio:.3f}")
PY
