#!/bin/sh
# spurcl: set everything up on a fresh Debian machine, build, and run.
#
#   sh tools/run.sh demo   install what is missing, build, run the main job
#                          (spurcl demo: ERM, JTT and ULE on Fashion-MNIST MNIST-SC)
#   sh tools/run.sh test   install what is missing, build, run the whole test suite
#
# Installs only the Debian packages that are missing (apt-get, as root or
# through sudo), configures the build in ./build and builds it. With CI set
# (as in .ci/run) warnings are errors.
set -eu

cd "$(dirname "$0")/.."
mode=${1:-}
case "$mode" in
    demo|test) ;;
    *) echo "usage: sh tools/run.sh demo|test" >&2; exit 2 ;;
esac

packages="build-essential pkg-config python3 meson ninja-build ocl-icd-opencl-dev \
opencl-headers pocl-opencl-icd clinfo libclblast-dev libpng-dev zlib1g-dev check \
libcjson-dev libopenblas-dev dataset-fashion-mnist"

missing=""
for p in $packages; do
    if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
        missing="$missing $p"
    fi
done
if [ -n "$missing" ]; then
    echo "spurcl: installing missing Debian packages:$missing"
    sudo=""
    [ "$(id -u)" -eq 0 ] || sudo="sudo"
    export DEBIAN_FRONTEND=noninteractive
    $sudo apt-get update -qq
    # shellcheck disable=SC2086
    $sudo apt-get install -y -qq --no-install-recommends $missing
fi

werror=false
[ -n "${CI:-}" ] && werror=true
if [ -f build/build.ninja ]; then
    meson configure build -Dwerror=$werror >/dev/null
else
    meson setup build -Dwerror=$werror
fi
ninja -C build

if [ "$mode" = demo ]; then
    ./build/spurcl devices
    echo
    ./build/spurcl selftest
    echo
    exec ./build/spurcl demo --out runs/demo
fi

# The whole suite. Check's own summaries are printed for every suite.
set +e
meson test -C build --print-errorlogs --num-processes 2 --verbose
rc=$?
set -e
python3 - build/meson-logs/testlog.json <<'PY'
import json, sys
passed = failed = skipped = 0
with open(sys.argv[1]) as f:
    for line in f:
        r = json.loads(line)
        if r["result"] in ("OK", "EXPECTEDFAIL"):
            passed += 1
        elif r["result"] == "SKIP":
            skipped += 1
        else:
            failed += 1
print(f"suites: {passed} passed, {failed} failed, {skipped} skipped")
PY
exit $rc
