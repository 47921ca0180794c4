#!/bin/sh
# Times building the full 70,000-image Fashion-MNIST `corrupt` variant
# (issue #3 acceptance: at most 60 s on the project's 2-core machine).
#
# usage: bench/data_build.sh [SPURCL_EXE] [RUNS] [extra build options...]
#   SPURCL_EXE  default build/src/cli/spurcl (or build/spurcl)
#   RUNS        default 3
# Prints the wall time of each run (load + build + save, as the command
# reports it) and checks that every run wrote the same bytes.
set -eu
exe=${1:-}
runs=${2:-3}
[ $# -ge 2 ] && shift 2 || shift $#
if [ -z "$exe" ]; then
    for c in build/src/cli/spurcl build/spurcl; do [ -x "$c" ] && exe=$c && break; done
fi
[ -n "$exe" ] && [ -x "$exe" ] || { echo "spurcl executable not found; pass its path" >&2; exit 2; }
[ -r /usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz ] || {
    echo "Fashion-MNIST not installed: apt-get install dataset-fashion-mnist" >&2; exit 2; }
tmp=$(mktemp -d /tmp/spurcl-bench-XXXXXX)
trap 'rm -rf "$tmp"' EXIT
echo "machine: $(nproc) CPUs, $(uname -m); command: $exe data build --source fashion-mnist --variant corrupt --rho 0.95 --severity 4 --seed 0 $*"
i=1
while [ "$i" -le "$runs" ]; do
    t0=$(date +%s.%N)
    "$exe" data build --source fashion-mnist --variant corrupt --rho 0.95 --severity 4 \
        --seed 0 "$@" --out "$tmp/run$i.safetensors" > "$tmp/log$i"
    t1=$(date +%s.%N)
    printf "run %d: %s s wall  (%s)\n" "$i" "$(awk -v a="$t0" -v b="$t1" "BEGIN { printf \"%.2f\", b - a }")" \
        "$(sed -n 's/.*(\(load.*\))$/\1/p' "$tmp/log$i")"
    [ "$i" -eq 1 ] || cmp -s "$tmp/run1.safetensors" "$tmp/run$i.safetensors" ||
        { echo "run $i wrote different bytes than run 1" >&2; exit 1; }
    i=$((i + 1))
done
ls -l "$tmp/run1.safetensors" | awk '{print "output: " $5 " bytes, identical across runs"}'
