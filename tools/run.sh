#!/bin/sh
# spurcl: set everything up on a fresh Debian machine, build, and run.
#
#   sh tools/run.sh demo   install what is missing, build, run the main job
#                          (spurcl demo: ERM, JTT, GroupDRO, DFR and ULE on SpuCo-style
#                          Fashion-MNIST, 5 seeds)
#   sh tools/run.sh test   install what is missing, build, run the whole test suite
#                          three ways (10-13 minutes on 2 cores):
#                          1. build/       the suite as built normally
#                          2. build-asan/  the whole project built with
#                             AddressSanitizer + UndefinedBehaviorSanitizer (gcc),
#                             the same suite under it; any report fails its test
#                          3. build-fuzz/  every libFuzzer target (clang) for
#                             FUZZ_SECONDS (default 30) on its seed corpus; a
#                             crash, leak, hang or OOM fails it
#                          The last line sums up all three; the exit status is
#                          non-zero when anything failed.
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
libcjson-dev libopenblas-dev dataset-fashion-mnist libopenmpi-dev openmpi-bin"
# (Open MPI: data-parallel training, 'mpirun -np N build/spurcl train ...';
# the test suite runs it on 2 ranks.)
# The test suite also checks checkpoints against PyTorch (tests/interop):
# Debian's torch, and a venv for the safetensors package (not in Debian 12).
[ "$mode" = test ] && packages="$packages python3-torch python3-numpy python3-venv chromium"
# ... and builds the fuzz targets with clang: libFuzzer and clang's sanitizer
# runtimes are in libclang-rt-14-dev (only recommended by clang-14), llvm-14
# has llvm-symbolizer for their reports. gcc's sanitizer runtimes (libasan8,
# libubsan1) come with build-essential.
[ "$mode" = test ] && packages="$packages clang-14 libclang-rt-14-dev llvm-14"

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

# The whole suite, three ways (see the top). Each stage runs even when an
# earlier one failed; the summary at the end counts them all. Check's own
# summaries are printed for every suite.
status=0
stages=""

# meson setup of a further build directory: setup_dir DIR CC OPTION...
setup_dir() {
    dir=$1
    compiler=$2
    shift 2
    if [ -f "$dir/build.ninja" ]; then
        CC=$compiler meson setup --reconfigure "$dir" "$@" >/dev/null
    else
        CC=$compiler meson setup "$dir" "$@"
    fi
}

# 1. as built
meson test -C build --print-errorlogs --num-processes 2 --verbose || status=1
stages="$stages build=build/meson-logs/testlog.json"

# 2. AddressSanitizer + UndefinedBehaviorSanitizer: the whole project built
# with both (-fno-sanitize-recover: a UBSan report fails like an ASan one)
# and the same suite run under them. Leaks: tools/sanitizers/lsan.supp drops
# those of PoCL, LLVM, the ICD loader and CLBlast, nothing else.
# intercept_tls_get_addr=0: LeakSanitizer's scan of dynamic TLS crashes
# ("Tracer caught signal 11") on the kernel libraries PoCL dlopens when it
# compiles; static TLS, spurcl's thread-locals included, is still scanned.
# The suite is 2-3 times slower under the sanitizers: meson's timeouts x3.
export ASAN_OPTIONS="detect_leaks=1:halt_on_error=1:intercept_tls_get_addr=0:print_summary=1"
export LSAN_OPTIONS="suppressions=$PWD/tools/sanitizers/lsan.supp:print_suppressions=0"
export UBSAN_OPTIONS="halt_on_error=1:print_stacktrace=1:print_summary=1"
if setup_dir build-asan gcc -Db_sanitize=address,undefined -Db_lundef=false \
        -Dc_args="-fno-sanitize-recover=all -fno-omit-frame-pointer" \
        -Dwerror=$werror -Dtest_python="$py" &&
    ninja -C build-asan; then
    meson test -C build-asan --print-errorlogs --num-processes 2 --timeout-multiplier 3 ||
        status=1
    stages="$stages asan+ubsan=build-asan/meson-logs/testlog.json"
else
    echo "spurcl: the sanitizer build failed" >&2
    status=1
    stages="$stages asan+ubsan=-"
fi

# 3. each fuzz target for FUZZ_SECONDS on a scratch copy of its seeds
# (fuzz/run_fuzz.sh), two at a time; only the targets are built.
if setup_dir build-fuzz clang-14 -Dfuzz=true -Dtests=false -Dbench=false \
        -Dwerror=$werror -Dfuzz_seconds="${FUZZ_SECONDS:-30}" &&
    ninja -C build-fuzz fuzzers; then
    meson test -C build-fuzz --no-rebuild --suite fuzz --print-errorlogs --num-processes 2 \
        --verbose || status=1
    stages="$stages fuzz=build-fuzz/meson-logs/testlog.json"
else
    echo "spurcl: the fuzz build failed" >&2
    status=1
    stages="$stages fuzz=-"
fi

# One line for all three: suites passed, failed and skipped, and per stage.
# shellcheck disable=SC2086
python3 - $stages <<'PY' || status=1
import json, sys
total = [0, 0, 0]
parts = []
for arg in sys.argv[1:]:
    name, path = arg.split('=', 1)
    if path == '-':  # the stage did not build: one failure
        total[1] += 1
        parts.append(f"{name} not built")
        continue
    c = [0, 0, 0]
    with open(path) as f:
        for line in f:
            r = json.loads(line)
            c[0 if r["result"] in ("OK", "EXPECTEDFAIL") else 2 if r["result"] == "SKIP" else 1] += 1
    total = [a + b for a, b in zip(total, c)]
    parts.append(f"{name} {c[0]}/{c[1]}/{c[2]}")
print(f"suites: {total[0]} passed, {total[1]} failed, {total[2]} skipped "
      f"(passed/failed/skipped: {', '.join(parts)})")
PY
exit $status
