#!/bin/sh
# spurcl: set everything up on a fresh Debian machine, build, and run.
#
#   sh tools/run.sh demo   install what is missing, build, run the main job
#                          (spurcl demo: ERM, JTT, GroupDRO, DFR and ULE on SpuCo-style
#                          Fashion-MNIST, 5 seeds)
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
# The test suite also checks checkpoints against PyTorch (tests/interop):
# Debian's torch, and a venv for the safetensors package (not in Debian 12).
[ "$mode" = test ] && packages="$packages python3-torch python3-numpy python3-venv chromium"

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
opts="-Dwerror=$werror"

if [ "$mode" = test ]; then
    # Python for the interop test: the system one when it has torch and
    # safetensors, else build-py/ (a venv over the system site packages, with
    # safetensors from PyPI). Without network the test is skipped, and says so.
    py=/usr/bin/python3
    if ! $py -c "import torch, safetensors" 2>/dev/null; then
        venv=build-py
        if ! $venv/bin/python3 -c "import torch, safetensors" 2>/dev/null; then
            echo "spurcl: creating $venv/ (safetensors 0.8.0 from PyPI) for the interop test"
            /usr/bin/python3 -m venv --system-site-packages $venv &&
                $venv/bin/python3 -m pip install -q --disable-pip-version-check safetensors==0.8.0 ||
                echo "spurcl: could not install safetensors; the interop test will be skipped"
        fi
        if $venv/bin/python3 -c "import torch, safetensors" 2>/dev/null; then
            py=$PWD/$venv/bin/python3
        fi
    fi
    opts="$opts -Dtest_python=$py"
fi

if [ -f build/build.ninja ]; then
    # --reconfigure also picks up options added since the tree was set up
    meson setup --reconfigure build $opts >/dev/null
else
    meson setup build $opts
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
