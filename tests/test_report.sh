#!/bin/sh
# spurcl report (#18): one self-contained HTML page of a run and of a
# comparison. The page is checked as a file (no script, no network, the
# pictures embedded, text escaped) and rendered by headless Chromium
# (Debian's chromium): the screenshot is not blank and the DOM holds the
# tables with the numbers of the run's own files.
#   test_report.sh SPURCL PNG_STATS
# Exit 77 (skipped) where chromium or dataset-fashion-mnist is missing,
# after the checks that need neither.
set -u
exe="$1"
png_stats="$2"
fails=0
passes=0
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

. "$(dirname "$0")/cli_lib.sh"

finish() { # [skip message]
    echo "$passes passed, $fails failed"
    [ "$fails" -eq 0 ] || exit 1
    if [ $# -gt 0 ]; then echo "SKIP: $1"; exit 77; fi
    exit 0
}

check "report --help" 0 "$exe" report --help
grep_in "report --help: usage" out "usage: spurcl report DIR \[--out FILE\]"
tr -s ' \n' '  ' <"$tmp/out" >"$tmp/help"
grep_in "report --help: the default page" help "(default DIR/report.html)"
check "report without DIR is bad usage" 2 "$exe" report
mkdir "$tmp/other"
echo notes >"$tmp/other/notes.txt"
check "a directory that is neither a run nor a comparison" 1 "$exe" report "$tmp/other"
grep_in "it says what it looked for" err "$tmp/other is neither a run directory (no config.json, metrics.jsonl or run.json) nor a comparison directory (no results.json of compare or demo)"
one_line "that error is one line" err
check "nothing written for it" 0 test ! -e "$tmp/other/report.html"
check "a file is not a directory" 1 "$exe" report "$tmp/other/notes.txt"
one_line "that error is one line" err
check "a missing directory" 1 "$exe" report "$tmp/none"

if [ ! -r /usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz ]; then
    finish "report of real runs: /usr/share/datasets/fashion-mnist not installed (dataset-fashion-mnist)"
fi

# a tiny real run: 2 classes x 2 backgrounds (4 groups), 2 epochs; its
# directory's name needs escaping in HTML
run="$tmp/run <i>&amp"
check "tiny data" 0 "$exe" -q data build --variant background --rho 0.9 --max-train 800 \
    --max-test 200 --out "$tmp/bg.st"
check "tiny train" 0 "$exe" -q train --data "$tmp/bg.st" --epochs 2 --batch 64 \
    --cnn-widths 4,8,16 --eval-every 5 --out "$run"
check "train wrote eval.json" 0 test -s "$run/eval.json"
check "report of the run" 0 "$exe" report "$run"
grep_in "report names the page" out "report of the run $run: $run/report.html"
check "report.html written, no temporary file left" 0 sh -c \
    "test -s '$run/report.html' && ! ls '$run' | grep -q '\.tmp$'"
check "report --out FILE" 0 "$exe" -q report "$run" --out "$tmp/page.html"
check "--out wrote the same page" 0 test -s "$tmp/page.html"

# groups.csv rows with a field that is not a number in range are skipped
# (numbers read from files are range-checked, #19), the others still shown
cp -r "$run" "$tmp/hostile"
rm "$tmp/hostile/eval.json" # groups.csv is read where there is no eval.json (ule)
cat >"$tmp/hostile/groups.csv" <<'CSV'
split,y,a,n,student_acc,teacher_acc
val,0,0,10,0.5,0.6
val,99999999999,0,10,0.5,0.6
val,abc,1,10,0.5,0.6
val,1,0,1e400,0.5,0.6
val,1,1,10,nan,0.6
val,0,1,10,2.5,0.6
test,1,1,4,0.25,
CSV
check "report with a hostile groups.csv" 0 "$exe" -q report "$tmp/hostile"
check "its valid rows only" 0 python3 -c "
import re, sys
h = open(sys.argv[1]).read()
assert 'The selected models (groups.csv)' in h
cells = dict(re.findall(r'id=\"(groups-[0-9]-[a-z]+-[a-z]+)\">([^<]*)<', h))
# val: only (0,0) is valid for the student; the teacher's val rows all
# have a valid accuracy but only (0,0) and (0,1) valid counts: 0.6 both
want = {'groups-0-val-wga': '0.5000', 'groups-0-val-acc': '0.5000',
        'groups-1-val-wga': '0.6000', 'groups-1-val-acc': '0.6000',
        'groups-0-test-wga': '0.2500', 'groups-0-test-acc': '0.2500'}
assert cells == want, cells
" "$tmp/hostile/report.html"

# the file: self-contained and escaped
check "the page is self-contained and escaped" 0 python3 -c "
import base64, re, sys
h = open(sys.argv[1], encoding='utf-8').read()
low = h.lower()
assert '<script' not in low, 'a script'
assert 'http://' not in low and 'https://' not in low, 'a network reference'
assert not re.search(r'<link\b', low) and '@import' not in low and 'url(' not in low, 'an external resource'
imgs = re.findall(r'<img src=\"([^\"]*)\"', h)
assert len(imgs) >= 1, 'no picture'
for src in imgs:
    assert src.startswith('data:image/png;base64,'), src[:60]
    assert base64.b64decode(src[22:])[:8] == b'\x89PNG\r\n\x1a\n', 'not a PNG'
assert 'run &lt;i&gt;&amp;amp' in h and '<i>' not in h, 'the directory name is not escaped'
" "$run/report.html"

chromium=$(command -v chromium || command -v chromium-browser || true)
if [ -z "$chromium" ]; then
    finish "rendering: chromium not installed (apt-get install chromium; tools/run.sh test installs it)"
fi
url=$(python3 -c "import pathlib, sys; print(pathlib.Path(sys.argv[1]).resolve().as_uri())" "$run/report.html")
browse() { # output-option... : headless Chromium on $url, as root too
    timeout 120 "$chromium" --headless --no-sandbox --disable-gpu --hide-scrollbars \
        --no-first-run --user-data-dir="$tmp/chromium" "$@" "$url" 2>"$tmp/chromium.err"
}
check "chromium screenshot of the run's page" 0 browse --screenshot="$tmp/shot.png" \
    --window-size=1200,1600
check "the screenshot is not blank" 0 sh -c "
    '$png_stats' '$tmp/shot.png' >'$tmp/stats' && cat '$tmp/stats' &&
    read w h colours other top bottom <'$tmp/stats' &&
    test \$w -eq 1200 -a \$h -eq 1600 -a \$colours -ge 200 &&
    python3 -c 'import sys; o, t, b = map(float, sys.argv[1:]); assert o > 0.08 and t > 0.03 and b > 0.03, (o, t, b)' \$other \$top \$bottom"
echo "     screenshot: $(cat "$tmp/stats" 2>/dev/null) (width height colours other top bottom)"
browse --dump-dom >"$tmp/dom.html"
check "chromium --dump-dom" 0 test -s "$tmp/dom.html"
check "the DOM holds the run's tables with its own numbers" 0 python3 -c "
import html, json, re, sys
dom, e, c = open(sys.argv[1]).read(), json.load(open(sys.argv[2])), json.load(open(sys.argv[3]))
def cell(i):
    m = re.search(r'<td[^>]* id=\"' + i + r'\"[^>]*>([^<]*)</td>', dom)
    assert m, i + ' missing'
    return m.group(1)
for split in ('val', 'test'):
    assert cell('eval-%s-wga' % split) == '%.4f' % e[split]['wga'], (split, cell('eval-%s-wga' % split), e[split]['wga'])
    assert cell('eval-%s-acc' % split) == '%.4f' % e[split]['acc'], split
tables = re.findall(r'<table class=\"groups\">(.*?)</table>', dom, re.S)
assert len(tables) == 2, len(tables)
for t, split in zip(tables, ('val', 'test')):
    cells = re.findall(r'<td[^>]*>([0-9.]+)</td>', t)
    want = ['%.3f' % a for a, n in zip(e[split]['group_acc'], e[split]['group_n']) if n > 0]
    assert cells == want, (split, cells, want)
    worst = re.search(r'<td[^>]* class=\"worst\"[^>]*>([0-9.]+)</td>', t).group(1)
    assert worst == '%.3f' % e[split]['wga'], (worst, e[split]['wga'])
    for name in e['class_names'] + e['attr_names']:
        assert html.escape(name, quote=False) in t, name
assert c['data']['fnv1a'] in dom and html.escape(c['data']['path'], quote=False) in dom
assert '--eval-every 5' in dom and '<h2 id=\"curves\">' in dom and '<h2 id=\"config\">' in dom
evals = re.search(r'<table class=\"evals\">(.*?)</table>', dom, re.S).group(1)
assert evals.count('<tr') == 1 + sum(1 for _ in open(sys.argv[4])), 'one row per metrics line'
assert '<i>' not in dom, 'markup from a file name'
" "$tmp/dom.html" "$run/eval.json" "$run/config.json" "$run/metrics.jsonl"

# a comparison: the table of mean +- sd per method and rule, every run
check "tiny compare" 0 "$exe" -q compare --data "$tmp/bg.st" --methods erm,dfr --seeds 2 \
    --epochs 1 --batch 64 --cnn-widths 4,8,16 --eval-every 4 --fits 2 --iterations 40 \
    --out "$tmp/cmp"
check "report of the comparison" 0 "$exe" report "$tmp/cmp"
grep_in "it is taken for a comparison" out "report of the comparison $tmp/cmp: $tmp/cmp/report.html"
url=$(python3 -c "import pathlib, sys; print(pathlib.Path(sys.argv[1]).resolve().as_uri())" "$tmp/cmp/report.html")
browse --dump-dom >"$tmp/cmp.html"
check "the comparison's DOM: its table, chart and every run" 0 python3 -c "
import json, re, sys
dom, r = open(sys.argv[1]).read(), json.load(open(sys.argv[2]))
for row in r['table']:
    for rule, key in (('avg', 'selected_by_val_avg'), ('wga', 'selected_by_val_wga')):
        c = row[key]
        for what in ('wga', 'avg'):
            i = '%s-%s-%s' % (row['method'], rule, 'wga' if what == 'wga' else 'acc')
            m = re.search(r'<td[^>]* id=\"' + i + r'\"[^>]*>([^<]*)</td>', dom)
            want = '%.3f \u00b1 %.3f' % (c['test_%s_mean' % what], c['test_%s_std' % what])
            assert m and m.group(1) == want, (i, m and m.group(1), want)
assert 'alt=\"chart.png\"' in dom
for run in r['runs']:
    rel = '%s/seed-%d' % (run['method'], run['seed'])
    assert re.search(r'<h3>' + rel + '</h3>', dom), rel
    assert ('alt=\"%s/curves.png\"' % rel) in dom or run['method'] == 'dfr', rel
assert len(r['runs']) == 4
" "$tmp/cmp.html" "$tmp/cmp/results.json"

finish
