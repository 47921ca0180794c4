#!/bin/sh
# One fuzz target for a bounded time, as a test (fuzz/meson.build):
#   run_fuzz.sh EXE SECONDS SEED_DIR WORK_DIR [DICT]
# WORK_DIR starts as a copy of SEED_DIR and takes the new inputs libFuzzer
# finds (the checkout is never written); crash, leak, timeout and OOM inputs
# go to WORK_DIR.findings/. Exit status 0 when nothing was found, else 1
# (not libFuzzer's own: its 77 for a crash would read as a skip to meson).
set -u
exe=$1 secs=$2 seeds=$3 work=$4 dict=${5:-}
name=$(basename "$exe")
rm -rf "$work" "$work.findings"
mkdir -p "$work" "$work.findings"
cp "$seeds"/* "$work"/ 2>/dev/null || true
set -- -max_total_time="$secs" -timeout=25 -rss_limit_mb=2048 -print_final_stats=1 \
    -artifact_prefix="$work.findings/"
[ -n "$dict" ] && set -- "$@" -dict="$dict"
"$exe" "$@" "$work" >"$work.log" 2>&1
rc=$?
runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$work.log" | tail -n 1)
if [ "$rc" -ne 0 ]; then
    # the report: the sanitizer's or libFuzzer's, without the progress lines
    grep -v '^#[0-9]' "$work.log" | tail -n 80
    echo "$name: FAILED (exit $rc) after ${runs:-?} inputs; the input is in $work.findings/"
    ls "$work.findings"
    exit 1
else
    echo "$name: ${runs:-?} inputs in ${secs} s, $(ls "$work" | wc -l) in the corpus, nothing found"
fi
