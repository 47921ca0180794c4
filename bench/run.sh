#!/bin/sh
# Runs the op benchmark on both sides and prints the ratio table:
#
#   sh bench/run.sh [--repeat N] [--rounds R] [--device SEL] [--out DIR]
#
# spurcl: build/bench/spurcl-bench (built by the project's meson build);
# PyTorch: bench/torch_bench.py with /usr/bin/python3 (Debian's
# python3-torch; installed here when missing). Both use bench/shapes.json.
# R rounds (default 3) alternate the two sides; every number in the tables
# is its median over the rounds. Results: DIR/spurcl.N.jsonl,
# DIR/torch.N.jsonl, DIR/launch.jsonl (spurcl-bench --launch-cost),
# DIR/peak.jsonl (torch_bench.py --peak: a 2048^3 float32 matmul),
# DIR/ratios.md, DIR/memory.md and DIR/flops.md (GFLOP/s of the GEMM and
# convolution entries, share of that peak; default DIR:
# bench/results/latest). Run it on an idle machine.
set -eu
cd "$(dirname "$0")/.."
repeat=10
rounds=3
device=""
out=bench/results/latest
while [ $# -gt 0 ]; do
    case "$1" in
        --repeat) repeat=$2; shift 2 ;;
        --rounds) rounds=$2; shift 2 ;;
        --device) device="--device $2"; shift 2 ;;
        --out) out=$2; shift 2 ;;
        -h|--help) sed -n '2,16p' "$0"; exit 0 ;;
        *) echo "bench/run.sh: unknown option $1" >&2; exit 2 ;;
    esac
done
if ! /usr/bin/python3 -c "import torch" 2>/dev/null; then
    sudo=""
    [ "$(id -u)" -eq 0 ] || sudo=sudo
    $sudo apt-get install -y -qq python3-torch python3-numpy
fi
[ -x build/bench/spurcl-bench ] || { meson setup build && ninja -C build; }
ninja -C build bench/spurcl-bench >/dev/null
mkdir -p "$out"
r=1
while [ "$r" -le "$rounds" ]; do
    echo "bench/run.sh: round $r of $rounds" >&2
    # shellcheck disable=SC2086
    build/bench/spurcl-bench --shapes bench/shapes.json --repeat "$repeat" --warmup 2 $device \
        > "$out/spurcl.$r.jsonl"
    /usr/bin/python3 bench/torch_bench.py --repeat "$repeat" --warmup 2 > "$out/torch.$r.jsonl"
    r=$((r + 1))
done
# shellcheck disable=SC2086
build/bench/spurcl-bench --launch-cost $device > "$out/launch.jsonl"
/usr/bin/python3 bench/torch_bench.py --peak --repeat 10 > "$out/peak.jsonl"
python3 bench/compare.py "$out/spurcl.*.jsonl" "$out/torch.*.jsonl" --markdown > "$out/ratios.md"
python3 bench/compare.py "$out/spurcl.*.jsonl" "$out/torch.*.jsonl" --memory --markdown \
    > "$out/memory.md"
python3 bench/compare.py "$out/spurcl.*.jsonl" "$out/torch.*.jsonl" --flops \
    --peak "$out/peak.jsonl" --markdown > "$out/flops.md"
python3 bench/compare.py "$out/spurcl.*.jsonl" "$out/torch.*.jsonl"
