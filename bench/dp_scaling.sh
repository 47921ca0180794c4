#!/bin/sh
# Data-parallel scaling of `spurcl train` under mpirun (issue #15):
#
#   sh bench/dp_scaling.sh [--ranks "1 2 4"] [--images N] [--epochs E] [--batch B]
#                          [--out DIR] [-- extra train options]
#
# For each rank count N: one run of `mpirun -np N spurcl train` on the
# first N images of clean Fashion-MNIST (default 9,000 training images,
# 2 epochs, the cnn, global batch 256). On one CPU machine the cores are
# split between the ranks (PoCL's and OpenBLAS's threads: cores / N each,
# at least 1), so the ideal is the 1-rank throughput, and the table shows
# the cost of the exchange; on N GPUs the ideal is N times. Reports, from
# the last epoch's metrics.jsonl line: images/s, the speed-up over 1 rank,
# and the share of the epoch rank 0 spent in the gradient exchanges
# (staging through host memory + MPI_Allreduce + waiting for the slowest
# rank). Files: DIR/ranks-N/ (each run), DIR/scaling.md (the table).
# Run it on an idle machine.
set -eu
cd "$(dirname "$0")/.."
ranks="1 2 4"
images=10000
epochs=2
batch=256
out=bench/results/dp-scaling
while [ $# -gt 0 ]; do
    case "$1" in
        --ranks) ranks=$2; shift 2 ;;
        --images) images=$2; shift 2 ;;
        --epochs) epochs=$2; shift 2 ;;
        --batch) batch=$2; shift 2 ;;
        --out) out=$2; shift 2 ;;
        --) shift; break ;;
        -h|--help) sed -n '2,17p' "$0"; exit 0 ;;
        *) echo "bench/dp_scaling.sh: unknown option $1" >&2; exit 2 ;;
    esac
done
exe=build/spurcl
[ -x "$exe" ] || { echo "bench/dp_scaling.sh: build spurcl first (ninja -C build)" >&2; exit 1; }
command -v mpirun >/dev/null || { echo "bench/dp_scaling.sh: no mpirun (apt-get install openmpi-bin)" >&2; exit 1; }
mkdir -p "$out"
data="$out/fm.safetensors"
[ -f "$data" ] || "$exe" -q data build --variant none --max-train "$images" --out "$data"
cores=$(nproc)
export OMPI_MCA_btl=self,vader OMPI_MCA_btl_vader_single_copy_mechanism=none
printf '| ranks | threads a rank | images/s | speed-up | exchange share |\n|---:|---:|---:|---:|---:|\n' \
    > "$out/scaling.md"
base=""
for n in $ranks; do
    th=$((cores / n)); [ "$th" -ge 1 ] || th=1
    dir="$out/ranks-$n"
    rm -rf "$dir"
    POCL_MAX_PTHREAD_COUNT=$th OPENBLAS_NUM_THREADS=$th mpirun --allow-run-as-root --oversubscribe \
        --bind-to none -x POCL_MAX_PTHREAD_COUNT -x OPENBLAS_NUM_THREADS -np "$n" \
        "$exe" -q train --data "$data" --epochs "$epochs" --batch "$batch" --out "$dir" "$@" \
        > "$dir.log" 2>&1 || { echo "ranks $n failed: see $dir.log" >&2; exit 1; }
    row=$(python3 - "$dir/metrics.jsonl" "$n" "$th" "${base:-0}" <<'PY'
import json, sys
last = [json.loads(l) for l in open(sys.argv[1])][-1]
n, th, base = int(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4])
ips = last["images_per_s"]
share = last.get("exchange_s", 0.0) / last["epoch_s"] if last.get("epoch_s") else 0.0
speed = ips / base if base > 0 else 1.0
print(f"{ips:.1f} | {n} | {th} | {ips:.1f} | {speed:.2f} | {100 * share:.1f} % |")
PY
)
    ips=${row%% |*}
    [ -n "$base" ] || base=$ips
    echo "| ${row#* | }" >> "$out/scaling.md"
done
cat "$out/scaling.md"
