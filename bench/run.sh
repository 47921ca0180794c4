#!/bin/sh
# Runs the op benchmark on both sides and prints the ratio table:
#
#   sh bench/run.sh [--repeat N] [--device SEL] [--out DIR]
#
# spurcl: build/bench/spurcl-bench (built by the project's meson build);
# PyTorch: bench/torch_bench.py with /usr/bin/python3 (Debian's
# python3-torch; installed here when missing). Both use bench/shapes.json.
# Results: DIR/spurcl.jsonl, DIR/torch.jsonl and DIR/ratios.md
# (default DIR: bench/results/latest). Run it on an idle machine.
set -eu
cd "$(dirname "$0")/.."
repeat=10
device=""
out=bench/results/latest
while [ $# -gt 0 ]; do
    case "$1" in
        --repeat) repeat=$2; shift 2 ;;
        --device) device="--device $2"; shift 2 ;;
        --out) out=$2; shift 2 ;;
        -h|--help) sed -n '2,11p' "$0"; exit 0 ;;
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
# shellcheck disable=SC2086
build/bench/spurcl-bench --shapes bench/shapes.json --repeat "$repeat" --warmup 2 $device \
    > "$out/spurcl.jsonl"
/usr/bin/python3 bench/torch_bench.py --repeat "$repeat" --warmup 2 > "$out/torch.jsonl"
python3 bench/compare.py "$out/spurcl.jsonl" "$out/torch.jsonl" --markdown > "$out/ratios.md"
python3 bench/compare.py "$out/spurcl.jsonl" "$out/torch.jsonl"
