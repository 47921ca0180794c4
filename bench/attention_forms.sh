#!/bin/sh
# The attention forms side by side on this machine's device: the fused
# flash-style kernels staged in local memory (tiles), read in place (rows),
# and the recorded ops (composed, the default), on the bench's attention
# entry and the ViT model steps; R alternating rounds (each a spurcl-bench
# median of its --repeat runs), then the median over rounds per form:
#
#   sh bench/attention_forms.sh [--rounds 3] [--out DIR]
#
# Writes DIR/forms.FORM.R.jsonl and DIR/attention_forms.md (default DIR:
# bench/results/latest). Run it on an idle machine.
set -eu
cd "$(dirname "$0")/.."
rounds=3
out=bench/results/latest
while [ $# -gt 0 ]; do
    case "$1" in
        --rounds) rounds=$2; shift 2 ;;
        --out) out=$2; shift 2 ;;
        -h|--help) sed -n '2,11p' "$0"; exit 0 ;;
        *) echo "bench/attention_forms.sh: unknown option $1" >&2; exit 2 ;;
    esac
done
[ -x build/bench/spurcl-bench ] || { meson setup build && ninja -C build; }
mkdir -p "$out"
r=1
while [ "$r" -le "$rounds" ]; do
    for form in tiles rows composed; do
        SPURCL_ATTENTION=$form build/bench/spurcl-bench --only attention.vit --repeat 20 \
            > "$out/forms.$form.$r.jsonl"
        SPURCL_ATTENTION=$form build/bench/spurcl-bench --only model.vit --repeat 10 \
            >> "$out/forms.$form.$r.jsonl"
    done
    r=$((r + 1))
done
python3 - "$out" <<'PY' | tee "$out/attention_forms.md"
import glob, json, statistics, sys
out = sys.argv[1]
forms = ["tiles", "rows", "composed"]
t = {}
for f in forms:
    for path in glob.glob(f"{out}/forms.{f}.*.jsonl"):
        for line in open(path):
            if line.startswith("{"):
                r = json.loads(line)
                for k in ("fwd_ms", "fwdbwd_ms"):
                    if r.get(k) is not None:
                        t.setdefault((r["name"], k[:-3]), {}).setdefault(f, []).append(r[k])
n = len(glob.glob(f"{out}/forms.composed.*.jsonl"))
print(f"SPURCL_ATTENTION forms, median ms over {n} alternating rounds (min in brackets)\n")
print("| entry | " + " | ".join(forms) + " |")
print("|---|" + "---:|" * len(forms))
for key in sorted(t):
    cells = []
    for f in forms:
        v = t[key].get(f, [])
        cells.append(f"{statistics.median(v):.2f} ({min(v):.2f})" if v else "")
    print(f"| {key[0]} {key[1]} | " + " | ".join(cells) + " |")
PY
