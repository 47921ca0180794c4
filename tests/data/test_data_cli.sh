#!/bin/sh
# spurcl data: exit codes, one-line messages for bad input, build/info/preview
# end to end, byte-identical rebuilds. Uses the installed Fashion-MNIST for
# the end-to-end part and skips that part visibly when it is absent.
set -u
exe="$1"
fixtures="$2"
fails=0
passes=0
skips=0
tmp=$(mktemp -d /tmp/spurcl-data-cli-XXXXXX)
trap 'rm -rf "$tmp"' EXIT

. "$(dirname "$0")/../cli_lib.sh"

check "data --help" 0 "$exe" data --help
grep_in "data --help lists build" out "build"
for sub in build info preview; do
    check "data $sub --help" 0 "$exe" data "$sub" --help
    grep_in "data $sub --help usage" out "usage: spurcl data $sub"
done
check "data without subcommand" 2 "$exe" data
check "unknown subcommand" 2 "$exe" data frob
check "--rho 1.5" 2 "$exe" data build --rho 1.5 --out "$tmp/x.st"
grep_in "--rho range named" err "rho must be in \[0, 1\]"
check "--severity 9" 2 "$exe" data build --severity 9 --out "$tmp/x.st"
grep_in "--severity range named" err "severity must be in \[1, 5\]"
check "--rho not a number" 2 "$exe" data build --rho abc --out "$tmp/x.st"
check "--val-fraction 1" 2 "$exe" data build --val-fraction 1 --out "$tmp/x.st"
check "unknown variant" 2 "$exe" data build --variant sparkle --out "$tmp/x.st"
check "unknown source" 2 "$exe" data build --source imagenet --out "$tmp/x.st"
check "build without --out" 2 "$exe" data build
check "preview without --out" 2 "$exe" data preview "$tmp/x.st"
check "missing Fashion-MNIST" 1 "$exe" data build --source-dir "$tmp/none" --out "$tmp/x.st"
one_line "missing Fashion-MNIST: one line" err
grep_in "missing Fashion-MNIST: Debian package" err "dataset-fashion-mnist"
grep_in "missing Fashion-MNIST: file named" err "$tmp/none/train-images-idx3-ubyte"
check "mnist without dir" 1 "$exe" data build --source mnist --out "$tmp/x.st"
one_line "mnist without dir: one line" err
check "info on a missing file" 1 "$exe" data info "$tmp/nope.st"
one_line "info missing: one line" err
grep_in "info missing: names file" err "$tmp/nope.st"
printf 'not a safetensors file at all' > "$tmp/garbage.st"
check "info on garbage" 1 "$exe" data info "$tmp/garbage.st"
one_line "info garbage: one line" err
grep_in "info garbage: names file" err "garbage.st"
check "info on a foreign safetensors" 1 "$exe" data info "$fixtures/st_python.safetensors"
grep_in "info foreign: says what is missing" err "no tensor named 'images'"
one_line "info foreign: one line" err
# the subcommands' help and parsers come from one option table: defaults
# are the library's (sc_build_opts_default), enum values go through its
# _parse and its message
"$exe" data build --help | tr -s ' \n' '  ' >"$tmp/help"
grep_in "build --help: rho default 0.95" help "\-\-rho R .*(default 0.95)"
grep_in "build --help: severity default 4" help "\-\-severity S .*(default 4)"
grep_in "build --help: variants from the library" help "\-\-variant none|patch|color|corrupt|background"
grep_in "build --help: patch layout default" help "(default border)"
check "--patch-layout sideways" 2 "$exe" data build --patch-layout sideways --out "$tmp/x.st"
grep_in "--patch-layout: the library's message" err "unknown patch layout 'sideways' (expected border or pattern)"
grep_in "--patch-layout: the hint" err "Try 'spurcl data build --help'."
check "--color-mode x" 2 "$exe" data build --color-mode x --out "$tmp/x.st"
grep_in "--color-mode: the library's message" err "unknown colour mode 'x'"
check "--corruptions x" 2 "$exe" data build --corruptions x --out "$tmp/x.st"
check "preview --split x" 2 "$exe" data preview "$tmp/x.st" --split x --out "$tmp/x.png"
grep_in "preview --split: the library's message" err "unknown split 'x' (expected train, val or test)"
check "--channels 2" 2 "$exe" data build --channels 2 --out "$tmp/x.st"
# every option a subcommand's help lists is one its parser takes
for sub in build info preview; do
    "$exe" data $sub --help | sed -nE 's/^  (-[a-zA-Z], )?(--[a-z0-9-]+)(, --[a-z0-9-]+)?( [^ ]+)?(  .*|$)/\2\4/p' |
        grep -v '^--help$' >"$tmp/opts"
    bad=""
    while read -r o v; do
        if [ -n "$v" ]; then a="$o=x"; else a="$o"; fi
        "$exe" data $sub "$a" --help >/dev/null 2>"$tmp/err"
        grep -q "unknown option" "$tmp/err" && bad="$bad $o"
    done <"$tmp/opts"
    n=$(wc -l <"$tmp/opts")
    if [ -z "$bad" ] && [ "$n" -gt 0 ]; then echo "ok   data $sub parses the $n options its help lists"; passes=$((passes+1));
    else echo "FAIL data $sub: help lists options its parser does not take:$bad"; fails=$((fails+1)); fi
done
[ -e "$tmp/x.st" ] && { echo "FAIL failed builds left $tmp/x.st"; fails=$((fails+1)); }

# #19: one memory budget per build (--mem-limit, default 1.5G), charged
# before anything is allocated; hostile tiny files fail fast with one line
# naming the file and the budget
grep_in "build --help: --mem-limit and its default" help "\-\-mem-limit SIZE .*(default 1.5G)"
check "--mem-limit 0" 2 "$exe" data build --mem-limit 0 --out "$tmp/x.st"
grep_in "--mem-limit 0: what a size is" err "expects a size from 1M to 1P, like 512M or 4G"
check "--mem-limit 12X" 2 "$exe" data build --mem-limit 12X --out "$tmp/x.st"
mkdir -p "$tmp/lie" "$tmp/pngs"
python3 - "$tmp" <<'PY'
import gzip, struct, sys, zlib
t = sys.argv[1]
# IDX headers that declare 100000 images of 200x200 (3.7 GiB) in a few bytes
for part in ('train', 't10k'):
    with gzip.open('%s/lie/%s-images-idx3-ubyte.gz' % (t, part), 'wb') as f:
        f.write(struct.pack('>BBBBIII', 0, 0, 8, 3, 100000, 200, 200) + bytes(100))
    with gzip.open('%s/lie/%s-labels-idx1-ubyte.gz' % (t, part), 'wb') as f:
        f.write(struct.pack('>BBBBI', 0, 0, 8, 1, 10) + bytes(10))
# a PNG that declares 16384x16384 RGBA and ends after its header, listed 8 times
ihdr = struct.pack('>IIBBBBB', 16384, 16384, 8, 6, 0, 0, 0)
chunk = struct.pack('>I', 13) + b'IHDR' + ihdr + struct.pack('>I', zlib.crc32(b'IHDR' + ihdr))
open('%s/pngs/big.png' % t, 'wb').write(b'\x89PNG\r\n\x1a\n' + chunk)
with open('%s/pngs/pngs.csv' % t, 'w') as f:
    f.write('path,label,attr,split\n')
    for i in range(8):
        f.write('big.png,%d,%d,%s\n' % (i % 2, i % 2, 'train' if i < 6 else 'test'))
PY
check "IDX header declaring 3.7 GiB" 1 "$exe" data build --source mnist --source-dir "$tmp/lie" --out "$tmp/x.st"
one_line "IDX header declaring 3.7 GiB: one line" err
grep_in "IDX header declaring 3.7 GiB: file, shape and budget" err "$tmp/lie/train-images-idx3-ubyte.gz: the 100000x200x200 bytes of IDX data its header declares (3.73 GiB) would bring the build to .*, over the 1.5 GiB budget (--mem-limit)"
check "PNG declaring 16384x16384 RGBA, resized" 1 "$exe" data build --source pngdir --csv "$tmp/pngs/pngs.csv" --resize 32 --out "$tmp/x.st"
one_line "PNG declaring 16384x16384: one line" err
grep_in "PNG declaring 16384x16384: CSV line, file, size, budget" err "pngs.csv line 2 (big.png): decoding its 16384x16384x4 image (1.75 GiB) would bring the build to .*, over the 1.5 GiB budget"
check "the same PNG 8 times, not resized" 1 "$exe" data build --source pngdir --csv "$tmp/pngs/pngs.csv" --out "$tmp/x.st"
grep_in "8 images of 16384x16384: the data set named" err "the data set of 8 images 3x16384x16384 (6 GiB) would bring the build to 6 GiB, over the 1.5 GiB budget"
if [ -r /usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz ]; then
    # a small legitimate build: its 45 MiB of training images do not fit in
    # 40M, the spuco output (158 MiB) not in 150M; 400M builds it
    check "fashion-mnist in 40M" 1 "$exe" data build --max-train 600 --max-test 200 --mem-limit 40M --out "$tmp/x.st"
    grep_in "fashion-mnist in 40M: the payload named" err "train-images-idx3-ubyte.gz: the 60000x28x28 bytes of IDX data its header declares (44.9 MiB) would bring the build to .*, over the 40 MiB budget"
    check "fashion-mnist spuco in 150M" 1 "$exe" data build --variant spuco --mem-limit 150M --out "$tmp/x.st"
    grep_in "spuco in 150M: the output named" err "the output (variant spuco): the data set of 70000 images 3x28x28 .* over the 150 MiB budget"
    check "fashion-mnist spuco in 400M" 0 "$exe" -q data build --variant spuco --mem-limit 400M --max-train 600 --max-test 200 --out "$tmp/m.st"
    # #19: a failed write names errno's text: the data set, a PNG, stdout
    check "build to /dev/full" 1 "$exe" data build --max-train 600 --max-test 200 --out /dev/full
    one_line "build to /dev/full: one line" err
    grep_in "build to /dev/full: errno's text" err "/dev/full: write failed (.*): No space left on device"
    check "preview to /dev/full" 1 "$exe" data preview "$tmp/m.st" --out /dev/full
    grep_in "preview to /dev/full: errno's text" err "/dev/full: write failed: No space left on device"
    check "info --csv to a full stdout" 1 sh -c "'$exe' data info --csv '$tmp/m.st' >/dev/full"
    grep_in "info to a full stdout: errno's text" err "writing standard output: No space left on device"
fi
# #19: the safetensors reader's size cap, checked before reading
if truncate -s 65G "$tmp/huge.st" 2>/dev/null; then
    check "info on a 65 GiB file" 1 "$exe" data info "$tmp/huge.st"
    grep_in "info on a 65 GiB file: the cap" err "huge.st: safetensors file of 69793218560 bytes is larger than the reader's limit of 68719476736 bytes (64 GiB)"
    rm -f "$tmp/huge.st"
fi

if [ -r /usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz ]; then
    small="--max-train 3000 --max-test 1000"
    check "build patch" 0 "$exe" --quiet data build $small --variant patch --rho 1.0 --seed 0 --out "$tmp/a.st"
    check "build patch again" 0 "$exe" --quiet data build $small --variant patch --rho 1.0 --seed 0 --threads 1 --out "$tmp/b.st"
    check "same seed: identical files" 0 cmp "$tmp/a.st" "$tmp/b.st"
    check "build patch seed 1" 0 "$exe" --quiet data build $small --variant patch --rho 1.0 --seed 1 --out "$tmp/c.st"
    check "other seed: different files" 1 cmp -s "$tmp/a.st" "$tmp/c.st"
    check "info" 0 "$exe" data info "$tmp/a.st"
    grep_in "info: train all aligned" out "train: 2700 samples, aligned (attr = class mod 10): 2700 (100.00%)"
    grep_in "info: build parameters" out '"variant":"patch"'
    check "info --csv" 0 "$exe" data info --csv "$tmp/a.st"
    grep_in "info --csv header" out "split,label,attr,group,count"
    check "build corrupt 0.95" 0 "$exe" --quiet data build $small --variant corrupt --rho 0.95 --out "$tmp/d.st"
    "$exe" data info --csv "$tmp/d.st" > "$tmp/d.csv"
    # per class: aligned = round(0.95 * class size) within one; rest spread evenly
    if awk -F, 'NR>1 && $1=="train" { n[$2]+=$5; if ($2==$3) al[$2]=$5; else { if (!($2 in mn) || $5<mn[$2]) mn[$2]=$5; if ($5>mx[$2]) mx[$2]=$5 } }
        END { bad=0; for (y in n) { w=int(0.95*n[y]+0.5); d=al[y]-w; if (d<-1||d>1||mx[y]-mn[y]>1) bad=1 } exit bad }' "$tmp/d.csv"
    then echo "ok   corrupt 0.95 group counts"; passes=$((passes+1))
    else echo "FAIL corrupt 0.95 group counts"; cat "$tmp/d.csv"; fails=$((fails+1)); fi
    check "preview" 0 "$exe" --quiet data preview "$tmp/a.st" --out "$tmp/a.png" --per-group 3 --split test
    check "preview is a PNG" 0 sh -c "head -c 8 '$tmp/a.png' | od -An -tx1 | grep -q '89 50 4e 47 0d 0a 1a 0a'"
    # 100 groups no longer make one column 5,701 pixels tall: the rows wrap
    # into side-by-side blocks of whole classes, at most 2000 pixels tall
    check "preview of 100 groups: wrapped, at most 2000 px tall" 0 python3 -c "
import struct, sys
w, h = struct.unpack('>II', open(sys.argv[1], 'rb').read(24)[16:24])
assert h <= 2000 and w > h, (w, h)
" "$tmp/a.png"
    check "build color/background/none" 0 sh -c "'$exe' --quiet data build $small --variant color --out '$tmp/e.st' && '$exe' --quiet data build $small --variant background --out '$tmp/f.st' && '$exe' --quiet data build $small --out '$tmp/g.st'"
    check "--patch-size too large" 1 "$exe" data build $small --variant patch --patch-size 40 --out "$tmp/h.st"
    one_line "--patch-size too large: one line" err
else
    echo "SKIP end-to-end part: /usr/share/datasets/fashion-mnist not installed (apt-get install dataset-fashion-mnist)"
    skips=$((skips+1))
fi

echo "$passes passed, $fails failed, $skips skipped"
[ "$fails" -eq 0 ]
