#!/usr/bin/env bash
# Ours vs the TorchSharp peer, one command from a clean clone: builds Release, then for each workload and thread count
# runs ours (`se bench --json`, `SeFramework.Bench --gemm` / `--conv`) and the peer (bench/run-peer.sh --json) alternately
# A B A B ... (REPS pairs), takes the median of each side's medians, and prints the ratio table (ours/peer speed:
# > 1 means we are faster; RSS ratio: ours/peer peak resident memory, < 1 means we use less). The `conv` workload times
# every convolution shape of se_resnet20/50 (bench/Shared/ConvShapes.cs; the peer: torch conv2d, oneDNN) forward and
# forward+backward (dx and dw), one JSON per run with all shapes, and prints a second table with a row per shape.
#   bench/compare.sh                       # everything, 1 and 2 threads, 2 pairs
#   THREADS="2" REPS=1 STEPS=3 ONLY="se_resnet20_train" bench/compare.sh
#   ONLY="conv" bench/compare.sh           # the per-shape conv table only; ONLY="conv_r50_l1_64x56_3x3 conv_r50_stem_3x224_7x7s2" for some shapes
# Env: THREADS (default "1 2"), REPS (pairs, default 2), STEPS/WARMUP (model steps, default 5/4: our first 3–4 steps still run some tier-0 JIT code and the peer builds its oneDNN primitives), GEMM_STEPS (default 10),
# CONV_REPS (timed calls per conv shape and direction, median taken; default 5), CONV_WARMUP_MS (default 200),
# CONV_STAT (median (default) or min: which per-run statistic of the CONV_REPS calls the conv table compares; min is
# steadier on a machine shared with other jobs),
# PEER_SUBSAMPLE (the peer's --subsample-1x1 for the conv workload: none (default: stride-2 1x1 convs run as they are,
# falling back to auto for that run if oneDNN crashes), auto or all; auto/all time x[:, :, ::2, ::2] + a stride-1 1x1),
# ONLY (space-separated workload names to run), OUT (folder for the raw JSON, default a temp dir), NO_BUILD=1.
set -euo pipefail
root="$(cd "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")/.." && pwd)"
THREADS="${THREADS:-1 2}"
REPS="${REPS:-2}"
STEPS="${STEPS:-5}"
WARMUP="${WARMUP:-4}"
GEMM_STEPS="${GEMM_STEPS:-10}"
CONV_REPS="${CONV_REPS:-5}"
CONV_WARMUP_MS="${CONV_WARMUP_MS:-200}"
CONV_STAT="${CONV_STAT:-median}"
case "$CONV_STAT" in median|min) ;; *) echo "compare.sh: CONV_STAT must be median or min, got '$CONV_STAT'" >&2; exit 2 ;; esac
PEER_SUBSAMPLE="${PEER_SUBSAMPLE:-none}"
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
  "conv|--conv all"
)

# ONLY="conv_NAME ..." picks single conv shapes: the conv workload then runs just those (a comma list for --conv).
conv_pick=""
for word in ${ONLY:-}; do
  if [[ "$word" == conv_* ]]; then conv_pick="${conv_pick:+$conv_pick,}${word#conv_}"; fi
done
if [ -n "$conv_pick" ]; then
  ONLY="$ONLY conv"
  workloads=("${workloads[@]/#conv|--conv all/conv|--conv $conv_pick}")
fi

run_ours() { # $1 args, $2 threads
  if [[ "$1" == --conv* ]]; then
    dotnet "$bench_dll" $1 --reps "$CONV_REPS" --warmup-ms "$CONV_WARMUP_MS" --threads "$2" --json
  elif [[ "$1" == --gemm* ]]; then
    dotnet "$bench_dll" $1 --steps "$GEMM_STEPS" --warmup 3 --threads "$2" --json
  else
    dotnet "$se_dll" bench $1 --steps "$STEPS" --warmup "$WARMUP" --threads "$2" --json
  fi
}
run_peer() {
  if [[ "$1" == --conv* ]]; then
    local conv_args=($1 --reps "$CONV_REPS" --warmup-ms "$CONV_WARMUP_MS" --threads "$2" --json)
    if ! NO_BUILD=1 "$root/bench/run-peer.sh" "${conv_args[@]}" --subsample-1x1 "$PEER_SUBSAMPLE"; then
      # oneDNN 3.7.1 can raise SIGFPE in backward-data of stride-2 1x1 convs (tools/torchsharp-debian12/README.md)
      echo "peer conv run failed with --subsample-1x1 $PEER_SUBSAMPLE; rerunning with auto (subsample + stride-1 1x1)" >&2
      NO_BUILD=1 "$root/bench/run-peer.sh" "${conv_args[@]}" --subsample-1x1 auto
    fi
  elif [[ "$1" == --gemm* ]]; then
    NO_BUILD=1 "$root/bench/run-peer.sh" $1 --steps "$GEMM_STEPS" --warmup 3 --threads "$2" --json
  else
    NO_BUILD=1 "$root/bench/run-peer.sh" $1 --steps "$STEPS" --warmup "$WARMUP" --threads "$2" --json
  fi
}

# The results of this invocation only: an OUT folder reused from an earlier run may hold other workloads or more reps.
manifest="$OUT/manifest.txt"
: > "$manifest"
for t in $THREADS; do
  for w in "${workloads[@]}"; do
    name="${w%%|*}"; args="${w#*|}"
    if [ -n "${ONLY:-}" ] && [[ " $ONLY " != *" $name "* ]]; then continue; fi
    for ((r = 1; r <= REPS; r++)); do
      echo "[$name t=$t rep $r] ours ..." >&2
      run_ours "$args" "$t" | tail -n 1 > "$OUT/${name}_t${t}_ours_$r.json"
      echo "$OUT/${name}_t${t}_ours_$r.json" >> "$manifest"
      echo "[$name t=$t rep $r] peer ..." >&2
      run_peer "$args" "$t" | tail -n 1 > "$OUT/${name}_t${t}_peer_$r.json"
      echo "$OUT/${name}_t${t}_peer_$r.json" >> "$manifest"
    done
  done
done

python3 - "$OUT" "$CONV_STAT" <<'PY'
import json, sys, os, statistics, collections
out, conv_stat = sys.argv[1], sys.argv[2]
suffix = "_min" if conv_stat == "min" else ""
runs = collections.defaultdict(lambda: {"ours": [], "peer": []})
for path in sorted(line.strip() for line in open(os.path.join(out, "manifest.txt")) if line.strip()):
    base = os.path.basename(path)[:-5]
    key, side, _ = base.rsplit("_", 2)
    try:
        runs[key][side].append(json.load(open(path)))
    except (json.JSONDecodeError, OSError):
        print(f"warning: {path} holds no JSON result", file=sys.stderr)
print(f"raw results: {out}")
if any(not (v["ours"] and "convs" in v["ours"][0]) for v in runs.values()):
    print(f"{'workload':<22} {'thr':>3} {'ours':>14} {'peer':>14} {'speed ours/peer':>16} {'RSS ours/peer':>14}")
conv_keys = []
for key in sorted(runs):
    name, t = key.rsplit("_t", 1)
    o, p = runs[key]["ours"], runs[key]["peer"]
    if not o or not p:
        continue
    if "convs" in o[0]:
        conv_keys.append(key)
        continue
    if "gflops" in o[0]:
        ov = statistics.median(r["gflops"] for r in o); pv = statistics.median(r["gflops"] for r in p)
        print(f"{name:<22} {t:>3} {ov:>9.1f} GF/s {pv:>9.1f} GF/s {ov / pv:>16.2f} {'':>14}")
    else:
        ov = statistics.median(r["step_ms_median"] for r in o); pv = statistics.median(r["step_ms_median"] for r in p)
        orss = max(r["peak_rss_bytes"] for r in o); prss = max(r["peak_rss_bytes"] for r in p)
        print(f"{name:<22} {t:>3} {ov:>11.1f} ms {pv:>11.1f} ms {pv / ov:>16.2f} {orss / max(prss, 1):>14.2f}")
if conv_keys:
    # One row per conv shape and thread count: medians over the runs of each side's per-run medians.
    print()
    print("conv shapes (ours vs torch conv2d / oneDNN; speed ours/peer > 1 means we are faster; fwd+bwd = y, dx and dw)")
    print(f"{'shape':<30} {'thr':>3} {'out (N,K,P,Q)':<16} {'ours fwd':>9} {'peer fwd':>9} {'fwd o/p':>8}"
          f" {'ours f+b':>9} {'peer f+b':>9} {'f+b o/p':>8}  note")
    notes = {}
    for key in sorted(conv_keys, key=lambda k: int(k.rsplit("_t", 1)[1])):
        t = key.rsplit("_t", 1)[1]
        o, p = runs[key]["ours"], runs[key]["peer"]
        order = [c["name"] for c in o[0]["convs"]]
        def per_shape(side):
            d = collections.defaultdict(list)
            for r in side:
                for c in r["convs"]:
                    d[c["name"]].append(c)
            return d
        od, pd = per_shape(o), per_shape(p)
        for n in order:
            if n not in pd:
                print(f"{n:<30} {t:>3} (the peer has no result for this shape)")
                continue
            oc, pc = od[n], pd[n]
            oshape, pshape = tuple(oc[0]["out"]), tuple(pc[0]["out"])
            of = statistics.median(c["fwd_ms" + suffix] for c in oc); pf = statistics.median(c["fwd_ms" + suffix] for c in pc)
            ob = statistics.median(c["fwdbwd_ms" + suffix] for c in oc); pb = statistics.median(c["fwdbwd_ms" + suffix] for c in pc)
            note = "; ".join(sorted({c.get("note", "") for c in pc} - {""}))
            if oshape != pshape:
                note = f"OUTPUT SIZE MISMATCH: ours {oshape} peer {pshape}" + (f"; {note}" if note else "")
            out_s = ",".join(str(v) for v in oshape)
            mark = "*" if note else ""
            if note: notes[n] = note
            print(f"{n:<30} {t:>3} {out_s:<16} {of:>9.2f} {pf:>9.2f} {pf / of:>8.2f} {ob:>9.2f} {pb:>9.2f} {pb / ob:>8.2f}  {mark}")
    for n, note in notes.items():
        print(f"  * {n}: {note}")
    print(f"  (times in ms: median over the runs of each run's {conv_stat} of CONV_REPS calls)")
se, r = runs.get("se_resnet50_train_t2"), runs.get("resnet50_train_t2")
if se and r and se["ours"] and r["ours"]:
    ratio = statistics.median(x["step_ms_median"] for x in se["ours"]) / statistics.median(x["step_ms_median"] for x in r["ours"])
    print(f"SE overhead (ours, 2 threads): se_resnet50 / resnet50 step time = {ratio:.3f}")
PY
