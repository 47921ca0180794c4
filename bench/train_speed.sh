#!/bin/sh
# Training speed as users feel it: images per second of `spurcl train`
# against the plain PyTorch loop of the same model on the same data
# (bench/train_speed.py), the last of --epochs epochs (the first is
# warm-up: kernel builds, allocations), R alternating rounds, medians:
#
#   sh bench/train_speed.sh [--model cnn|vit] [--images N] [--epochs 2] [--rounds 3] [--out DIR]
#
# Data: Fashion-MNIST (`spurcl data build --variant none --max-train N`:
# 90 % of N for training; default N 10000). spurcl: build/spurcl with
# --epochs E --batch 128 (AdamW 1e-3, its defaults), images_per_s of the
# last epoch line of metrics.jsonl (the epoch's training loop, evaluation
# excluded). Results: DIR/train_speed.jsonl and a line per model on stdout
# (default DIR: bench/results/latest). Run it on an idle machine.
set -eu
cd "$(dirname "$0")/.."
model=cnn
images=10000
epochs=2
rounds=3
out=bench/results/latest
while [ $# -gt 0 ]; do
    case "$1" in
        --model) model=$2; shift 2 ;;
        --images) images=$2; shift 2 ;;
        --epochs) epochs=$2; shift 2 ;;
        --rounds) rounds=$2; shift 2 ;;
        --out) out=$2; shift 2 ;;
        -h|--help) sed -n '2,14p' "$0"; exit 0 ;;
        *) echo "bench/train_speed.sh: unknown option $1" >&2; exit 2 ;;
    esac
done
[ -x build/spurcl ] || { meson setup build && ninja -C build; }
mkdir -p "$out"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
build/spurcl -q data build --variant none --max-train "$images" --out "$tmp/fm.safetensors"
r=1
while [ "$r" -le "$rounds" ]; do
    build/spurcl -q train --data "$tmp/fm.safetensors" --model "$model" --epochs "$epochs" \
        --batch 128 --out "$tmp/run$r" > /dev/null
    python3 - "$tmp/run$r/metrics.jsonl" "$model" "$r" >> "$out/train_speed.jsonl" <<'PY'
import json, sys
lines = [json.loads(l) for l in open(sys.argv[1]) if '"images_per_s"' in l]
last = [l for l in lines if l.get("epoch_end")][-1]
print(json.dumps({"impl": "spurcl", "model": sys.argv[2], "round": int(sys.argv[3]),
                  "epoch": last["epoch"], "images_per_s": round(last["images_per_s"], 1)}))
PY
    /usr/bin/python3 bench/train_speed.py --data "$tmp/fm.safetensors" --model "$model" \
        --epochs "$epochs" | tail -n 1 | sed "s/}\$/, \"round\": $r}/" >> "$out/train_speed.jsonl"
    r=$((r + 1))
done
python3 - "$out/train_speed.jsonl" "$model" <<'PY'
import json, statistics, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if l.startswith("{")]
rows = [r for r in rows if r.get("model") == sys.argv[2]]
s = [r["images_per_s"] for r in rows if r["impl"] == "spurcl"]
t = [r["images_per_s"] for r in rows if r["impl"] == "torch"]
ms, mt = statistics.median(s), statistics.median(t)
print(f"{sys.argv[2]}: spurcl {ms:.0f} img/s, torch {mt:.0f} img/s (medians of {len(s)} and {len(t)} rounds): "
      f"spurcl / torch = {ms / mt:.2f}")
PY
