#!/bin/sh
# CLI behaviour: help, the devices table, selection errors, exit codes.
set -u
exe="$1"
fails=0
passes=0
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

. "$(dirname "$0")/cli_lib.sh"

unset SPURCL_DEVICE
check "--help exits 0" 0 "$exe" --help
grep_in "--help shows usage" out "usage: spurcl"
check "devices --help exits 0" 0 "$exe" devices --help
grep_in "devices --help shows usage" out "usage: spurcl"
check "selftest --help exits 0" 0 "$exe" selftest --help
check "--version" 0 "$exe" --version
check "no command is bad usage" 2 "$exe"
check "unknown command" 2 "$exe" frobnicate
grep_in "unknown command named" err "frobnicate"
check "unknown global option" 2 "$exe" --frob devices
check "unknown devices option" 2 "$exe" devices --frob

check "devices" 0 "$exe" devices
cp "$tmp/out" "$tmp/devices"
# PoCL is what tools/run.sh installs; where the ICD loader is pointed at other
# vendors only (a GPU machine), the per-type checks below stand in for it.
if ls "${OCL_ICD_VENDORS:-/etc/OpenCL/vendors}" 2>/dev/null | grep -q pocl; then
    grep_in "devices lists the PoCL CPU" out "Portable Computing Language"
    # spurcl sets POCL_DEVICES="pthread basic" when unset: the threaded
    # device is listed, the basic one is named as where its small kernels
    # run, and not listed itself
    check "devices without POCL_DEVICES" 0 env -u POCL_DEVICES "$exe" devices
    grep_in "devices: small kernels on PoCL's basic device" out \
        "^small kernels (up to 32768 work-items, the device idle): on basic-"
    if grep -q '^[* ] [0-9]*:[0-9]* .* basic-' "$tmp/out"; then
        echo "FAIL devices lists the basic device beside the threaded one"; fails=$((fails+1))
    else
        echo "ok   devices does not list the basic device"; passes=$((passes+1))
    fi
    check "devices with SPURCL_NARROW=0" 0 env -u POCL_DEVICES SPURCL_NARROW=0 "$exe" devices
    if grep -q '^small kernels' "$tmp/out"; then
        echo "FAIL SPURCL_NARROW=0 still names a narrow device"; fails=$((fails+1))
    else
        echo "ok   SPURCL_NARROW=0 turns the narrow device off"; passes=$((passes+1))
    fi
    check "devices --forms: a bad SPURCL_NARROW" 1 env SPURCL_NARROW=lots "$exe" devices --forms
    grep_in "SPURCL_NARROW named" err "SPURCL_NARROW 'lots': expected 0 (off) or the most work-items"
fi
grep_in "devices marks the selection" out '^\* [0-9][0-9]*:[0-9]'
grep_in "devices shows fp64 column" out "fp64"
# OpenBLAS's threads sleep after a GEMM: spurcl sets OPENBLAS_THREAD_TIMEOUT
# and restarts itself when it is unset, and keeps a value the user set
check "devices without OPENBLAS_THREAD_TIMEOUT" 0 env -u OPENBLAS_THREAD_TIMEOUT "$exe" devices
grep_in "devices: OPENBLAS_THREAD_TIMEOUT set to 4" out "threads spin as OPENBLAS_THREAD_TIMEOUT=4$"
check "devices with OPENBLAS_THREAD_TIMEOUT=9" 0 env OPENBLAS_THREAD_TIMEOUT=9 "$exe" devices
grep_in "devices: the user's OPENBLAS_THREAD_TIMEOUT kept" out "threads spin as OPENBLAS_THREAD_TIMEOUT=9$"
# --forms: the suite runs with SPURCL_TUNE=off, so every family shows its
# rule; forced by the environment, one shows as forced
check "devices --forms" 0 env SPURCL_NORM=channels "$exe" devices --forms
grep_in "devices --forms: gemm by its rule" out '^  gemm  *[a-z][a-z]*  *rule '
grep_in "devices --forms: a forced form" out '^  norm  *channels  *forced '
check "devices: a bad SPURCL_TUNE" 1 env SPURCL_TUNE=sometimes "$exe" devices --forms
grep_in "devices: SPURCL_TUNE named" err "SPURCL_TUNE 'sometimes': expected on, off or again"

# every device type listed can be selected by its name
types=0
for t in CPU GPU ACCELERATOR; do
    if grep -q " $t " "$tmp/devices"; then
        lower=$(echo "$t" | tr 'A-Z' 'a-z')
        check "--device $lower devices" 0 "$exe" --device "$lower" devices
        types=$((types+1))
    fi
done
if [ "$types" -ge 1 ]; then echo "ok   devices shows a type"; passes=$((passes+1));
else echo "FAIL devices shows no CPU/GPU/ACCELERATOR type:"; cat "$tmp/devices"; fails=$((fails+1)); fi
check "--device 0:0 devices" 0 "$exe" --device 0:0 devices
check "SPURCL_DEVICE=0:0" 0 env SPURCL_DEVICE=0:0 "$exe" devices
check "--device nosuchdevice devices fails" 1 "$exe" --device nosuchdevice devices
grep_in "nosuchdevice message names the selector" err "nosuchdevice"
grep_in "nosuchdevice message lists devices" err "0:0"
one_line "nosuchdevice message is one line" err
check "SPURCL_DEVICE=nosuch fails" 1 env SPURCL_DEVICE=nosuch "$exe" devices
check "no platform" 1 env OCL_ICD_VENDORS=/nonexistent OPENCL_VENDOR_PATH=/nonexistent "$exe" devices
grep_in "no platform names the package" err "pocl-opencl-icd"
one_line "no platform message is one line" err

check "selftest" 0 "$exe" selftest --size 100003
grep_in "selftest passed" out "selftest passed"
check "selftest bad size" 2 "$exe" selftest --size 0
check "selftest non-number" 2 "$exe" selftest --size ten

for c in train eval jtt ule ssl probe saliency demo; do
    check "$c --help exits 0" 0 "$exe" $c --help
    grep_in "$c --help shows usage" out "usage: spurcl"
done
check "train without --data is bad usage" 2 "$exe" train
grep_in "train names --data" err "\-\-data"
check "ule --select val-wga refused (group labels)" 2 "$exe" ule --data x --select val-wga
check "ule convex needs lambda <= 1" 2 "$exe" ule --data x --form convex --lambda 5
check "ule bad penalty" 2 "$exe" ule --data x --penalty foo
check "--eval-every negative" 2 "$exe" train --data x --eval-every -1
check "--eval-every not a number" 2 "$exe" ule --data x --eval-every often
check "eval without --model" 2 "$exe" eval --data x
check "demo --epochs 0" 2 "$exe" demo --epochs 0
check "demo bad difficulty" 2 "$exe" demo --difficulty huge
check "ssl bad method" 2 "$exe" ssl --data x --method moco
check "ssl batch 1 refused" 2 "$exe" ssl --data x --batch 1
check "ssl --select refused (use probe)" 2 "$exe" ssl --data x --select val-avg
grep_in "ssl --select points to probe" err "spurcl probe"
check "ssl la-quantile out of range" 2 "$exe" ssl --data x --sampler la --la-quantile 1.5
check "train --device after the command" 2 "$exe" train --device cpu --data x
grep_in "global options go before the command" err "put it before the command, as in 'spurcl --device SEL train"
check "ssl la within its warm-up" 1 "$exe" ssl --data x --sampler la --epochs 3 --la-warmup 5
grep_in "ssl warns that LA never switches on" err "LA weights never switch on"
check "probe without --model" 2 "$exe" probe --data x
# every command in the top-level help answers --help (no command left out of the loop above)
"$exe" --help | awk '/^Commands:/{on=1;next} on&&/^$/{exit} on{print $1}' >"$tmp/cmds"
for c in $(cat "$tmp/cmds"); do
    check "listed command $c --help" 0 "$exe" $c --help
done
# Help and parser come from one option table (src/cli/opt_table.c): every
# listed command's help states defaults, and they are the library's.
help_flat() { # command... -> $tmp/help, one line, spaces squeezed
    "$exe" "$@" --help | tr -s ' \n' '  ' >"$tmp/help"
}
for c in $(grep -vx data "$tmp/cmds") "data build" "data preview"; do
    help_flat $c
    grep_in "$c --help states a default" help "default"
done
help_flat train; grep_in "train: --epochs default 5" help "\-\-epochs N epochs (default 5)"
grep_in "train: --cnn-norm default none" help "\-\-cnn-norm none|batch .*(default none)"
grep_in "train: --out default, a new directory per run" help "(default runs/train-YYYYMMDD-HHMMSS, a new directory for every run, named on stdout)"
grep_in "train: --out refuses a non-empty directory" help "not empty is refused unless --resume or --force"
grep_in "train: --resume says --epochs may be raised" help "except --epochs, which may be raised"
grep_in "train: --override" help "\-\-override KEY with --resume: accept a new value"
for c in jtt groupdro ule ssl dfr; do
    help_flat $c; grep_in "$c: --out default runs/$c-<time>" help "(default runs/$c-YYYYMMDD-HHMMSS"
    grep_in "$c: --force" help "\-\-force start a new run"
done
for c in compare demo; do
    help_flat $c; grep_in "$c: --out always resumes" help "It always resumes"
    if "$exe" $c --help | grep -q "^  --force"; then echo "FAIL $c --help lists --force"; fails=$((fails+1));
    else echo "ok   $c --help does not list --force"; passes=$((passes+1)); fi
done
help_flat demo; grep_in "demo: --out default runs/demo" help "(default runs/demo)"
help_flat train
check "--resume without --out" 2 "$exe" train --data x --resume
grep_in "--resume without --out says why" err "needs --out DIR"
check "--resume with --force" 2 "$exe" train --data x --out y --resume --force
check "--override without --resume" 2 "$exe" ule --data x --out y --override lr
grep_in "train: --optim default by name" help "\-\-optim sgd|adamw .*(default adamw)"
grep_in "train offers val-wga" help "last|val-avg|val-wga"
help_flat ule; grep_in "ule: --epochs default 1" help "\-\-epochs N epochs (default 1)"
grep_in "ule: --lambda default 1000" help "(default 1000)"
grep_in "ule: --penalty default overlap" help "(default overlap)"
grep_in "ule --help says where its defaults come from" help "best mean validation accuracy in the README's MNIST-SC search"
if grep -q "val-wga" "$tmp/help"; then echo "FAIL ule --help offers val-wga"; fails=$((fails+1));
else echo "ok   ule --help does not offer val-wga"; passes=$((passes+1)); fi
help_flat ssl; grep_in "ssl: --epochs default by method" help "\-\-epochs N epochs (default 2 for simclr, 4 for barlow)"
grep_in "ssl: resnet by default" help "\-\-model, \-\-encoder cnn|vit|resnet architecture (default resnet)"
grep_in "ssl: resnet width 8 by default" help "\-\-resnet-width W [^-]*(default 8)"
grep_in "ssl: the projector by method" help "\-\-proj-dim N projector output size (default 128 for simclr, 1024 for barlow)"
grep_in "ssl: --cnn-norm default batch" help "\-\-cnn-norm none|batch .*(default batch)"
grep_in "ssl: --proj-norm default batch" help "\-\-proj-norm none|batch .*(default batch)"
grep_in "ssl: AdamW 4e-3 by default" help "\-\-lr X learning rate (default 0.004)"
grep_in "ssl: cosine schedule by default" help "\-\-schedule constant|step|cosine learning-rate schedule (default cosine)"
grep_in "ssl: --encoder is --model" help "\-\-model, \-\-encoder cnn|vit|resnet"
if grep -q "\-\-select" "$tmp/help"; then echo "FAIL ssl --help lists --select"; fails=$((fails+1));
else echo "ok   ssl --help does not list --select"; passes=$((passes+1)); fi
help_flat probe; grep_in "probe: --epochs default 100" help "\-\-epochs N epochs (default 100)"
grep_in "probe: --lr default 0.003" help "\-\-lr X learning rate (default 0.003)"
help_flat train; grep_in "train --help: the resnet's width comes with its speed" help "64 is resnet18's and slow on a CPU"
help_flat eval; grep_in "eval: --split train|val|test|both" help "\-\-split train|val|test|both .*(default both)"
# an enum value is parsed by the library: its message, the hint, exit 2
check "ule --penalty x" 2 "$exe" ule --data x --penalty x
grep_in "ule --penalty x: the library's message" err "spurcl ule: --penalty: unknown ULE penalty 'x' (expected mse, cos2 or overlap)"
grep_in "ule --penalty x: the hint" err "Try 'spurcl ule --help'."
check "ule --select val-wga names why" 2 "$exe" ule --data x --select val-wga
grep_in "ule --select val-wga: group labels" err "group labels"
check "eval --split bogus refused" 2 "$exe" eval --data x --model y --split bogus
check "train --optim x" 2 "$exe" train --data x --optim x
grep_in "train --optim x: the library's message" err "unknown optimiser 'x'"
check "probe --encoder is --model" 1 "$exe" probe --encoder /nonexistent/c.safetensors --data x
# every option a command's help lists is one its parser takes ("--o=x" for
# an option with a value, which may then be refused, but never as unknown)
for c in $(grep -vx data "$tmp/cmds"); do
    "$exe" $c --help | sed -nE 's/^  (-[a-zA-Z], )?(--[a-z0-9-]+)(, --[a-z0-9-]+)?( [^ ]+)?(  .*|$)/\2\4/p' |
        grep -v '^--help$' >"$tmp/opts"
    bad=""
    while read -r o v; do
        if [ -n "$v" ]; then a="$o=x"; else a="$o"; fi
        "$exe" $c "$a" --help >/dev/null 2>"$tmp/err"
        grep -q "unknown option" "$tmp/err" && bad="$bad $o"
    done <"$tmp/opts"
    n=$(wc -l <"$tmp/opts")
    if [ -z "$bad" ] && [ "$n" -gt 0 ] || [ "$c" = devices ]; then echo "ok   $c parses the $n options its help lists"; passes=$((passes+1));
    else echo "FAIL $c: help lists options its parser does not take:$bad"; fails=$((fails+1)); fi
done
# End to end on a tiny MNIST-SC (needs dataset-fashion-mnist): a ULE run's
# files land in its --out directory (a dangling run-directory pointer once
# wrote the picture to /saliency.png).
if [ -r /usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz ]; then
    check "tiny MNIST-SC" 0 "$exe" -q data build --max-train 600 --max-test 200 --variant patch \
        --rho 1.0 --out "$tmp/sc.st"
    check "ule, one lambda" 0 "$exe" -q ule --data "$tmp/sc.st" --epochs 1 --batch 64 --out "$tmp/u1"
    grep_in "ule names its picture in the run dir" out "saliency picture: $tmp/u1/saliency.png"
    check "ule picture is a PNG" 0 sh -c "head -c 8 '$tmp/u1/saliency.png' | od -An -tx1 | grep -q '89 50 4e 47 0d 0a 1a 0a'"
    # one row per model under the images (render.h, image.h): 8 val images
    # of 112 px in columns of 119; label column "8/8 right" at scale 2 (106)
    # + 23; three rows of 112 + 2 + 24 + 7; title 32, footer 46, margins 16
    check "ule picture: the images, then a row each for student and teacher" 0 python3 -c "
import struct, sys
b = open(sys.argv[1], 'rb').read(24)
assert b[:8] == b'\x89PNG\r\n\x1a\n'
w, h = struct.unpack('>II', b[16:24])
assert (w, h) == (32 + 106 + 23 + 8 * 119 - 7, 48 + 3 * 145 - 7 + 46 + 16), (w, h)
" "$tmp/u1/saliency.png"
    # probe --json: written atomically (no temporary left), metrics in
    # sc_group_metrics_json's keys
    check "probe --json" 0 "$exe" -q probe --model "$tmp/u1/teacher.safetensors" --data "$tmp/sc.st" \
        --epochs 1 --json "$tmp/probe.json"
    check "probe.json keys" 0 python3 -c "import json,sys; r=json.load(open(sys.argv[1])); assert all(k in r['val'] for k in ('acc','wga','mean_group','weighted','loss','group_acc','group_n')), r" "$tmp/probe.json"
    check "probe --json leaves no temporary file" 0 test "$(ls "$tmp" | grep -c 'probe.json.')" -eq 0
    # #19: to a full disk: one line with errno's text, exit 1
    check "probe --json to /dev/full" 1 "$exe" -q probe --model "$tmp/u1/teacher.safetensors" \
        --data "$tmp/sc.st" --epochs 1 --json /dev/full
    one_line "probe --json to /dev/full: one line" err
    grep_in "probe --json to /dev/full: errno's text" err "spurcl: probe: writing /dev/full: .*No space left on device"
    # an SSL encoder's head was never trained: eval and saliency refuse it,
    # probe takes it
    check "ssl, one epoch" 0 "$exe" -q ssl --data "$tmp/sc.st" --epochs 1 --batch 64 \
        --knn-bank 200 --knn-queries 50 --out "$tmp/ssl1"
    grep_in "ssl logs the k-NN monitor" ssl1/metrics.jsonl '"knn_acc":'
    # ssl's defaults: a resnet of width 8 and SimCLR's projector (512, 128)
    # with batch norm; --encoder cnn keeps batch norm after its convolutions
    # and BarlowTwins gets its wide projector (1024, 1024). The run's
    # config.json and the encoder's checkpoint say so, with torch's names
    # (bn1.running_var, no conv1.bias).
    check "ssl barlow cnn, one epoch" 0 "$exe" -q ssl --data "$tmp/sc.st" --epochs 1 --batch 64 \
        --method barlow --encoder cnn --knn-every 0 --out "$tmp/sslb"
    check "ssl records its encoder and projector" 0 python3 -c "
import json, struct, sys
def ckpt(path):
    b = open(path, 'rb').read()
    h = json.loads(b[8:8 + struct.unpack('<Q', b[:8])[0]])
    return h, json.loads(h['__metadata__']['model'])
c = json.load(open(sys.argv[1]))['settings']
assert c['model'] == 'resnet' and c['resnet-width'] == 8, c
assert (c['proj-hidden'], c['proj-dim'], c['proj-norm']) == (512, 128, 'batch'), c
h, m = ckpt(sys.argv[2])
assert m['kind'] == 'resnet' and m['resnet_width'] == 8, m
assert 'layer1.0.bn2.running_var' in h and 'conv1.bias' not in h, sorted(h)
assert h['projector.0.weight']['shape'] == [512, 64] and h['projector.2.weight']['shape'] == [128, 512]
c = json.load(open(sys.argv[3]))['settings']
assert c['cnn-norm'] == 'batch' and (c['proj-hidden'], c['proj-dim']) == (1024, 1024), c
h, m = ckpt(sys.argv[4])
assert m['kind'] == 'cnn' and m['cnn_norm'] == 'batch', m
assert 'bn2.running_var' in h and 'conv1.bias' not in h, sorted(h)
assert h['projector.2.weight']['shape'] == [1024, 1024], h['projector.2.weight']
" "$tmp/ssl1/config.json" "$tmp/ssl1/last.safetensors" "$tmp/sslb/config.json" \
        "$tmp/sslb/last.safetensors"
    # and train's cnn has none unless asked; a batch-norm cnn goes through
    # its checkpoint to eval
    check "train --cnn-norm batch" 0 "$exe" -q train --data "$tmp/sc.st" --epochs 1 --batch 64 \
        --cnn-norm batch --out "$tmp/tbn"
    check "eval reads the batch-norm cnn back" 0 "$exe" eval --model "$tmp/tbn/last.safetensors" \
        --data "$tmp/sc.st" --split val
    check "train --cnn-norm x" 2 "$exe" train --data x --cnn-norm x
    grep_in "train --cnn-norm x: the values" err "expected none or batch"
    check "eval refuses an SSL encoder" 1 "$exe" eval --model "$tmp/ssl1/last.safetensors" \
        --data "$tmp/sc.st"
    grep_in "eval points to probe" err "self-supervised encoder.*spurcl probe --model"
    check "saliency refuses an SSL encoder" 1 "$exe" saliency --model "$tmp/ssl1/last.safetensors" \
        --data "$tmp/sc.st" --out "$tmp/x.png"
    check "probe takes an SSL encoder" 0 "$exe" -q probe --model "$tmp/ssl1/last.safetensors" \
        --data "$tmp/sc.st" --epochs 1
    # ule --init takes the checkpoint's architecture (here ssl's resnet of
    # width 8; the default --model is the cnn) and records it; another kind
    # given with it is refused before anything runs, naming both
    check "ule --init an SSL encoder, last layer" 0 "$exe" -q ule --init "$tmp/ssl1/last.safetensors" \
        --freeze-backbone --data "$tmp/sc.st" --epochs 1 --batch 64 --out "$tmp/ui"
    check "ule --init: the models and config.json are the checkpoint's resnet" 0 python3 -c "
import json, struct, sys
b = open(sys.argv[1], 'rb').read()
m = json.loads(json.loads(b[8:8 + struct.unpack('<Q', b[:8])[0]])['__metadata__']['model'])
assert m['kind'] == 'resnet' and m['resnet_width'] == 8, m
s = json.load(open(sys.argv[2]))['settings']
assert s['model'] == 'resnet' and s['resnet-width'] == 8, s
" "$tmp/ui/teacher.safetensors" "$tmp/ui/config.json"
    check "ule --init resnet --teacher cnn" 1 "$exe" -q ule --init "$tmp/ssl1/last.safetensors" \
        --teacher cnn --data "$tmp/sc.st" --epochs 1 --out "$tmp/uj"
    grep_in "ule --init: the kinds named" err "holds a resnet, not the teacher's cnn"
    check "ule --init refused before a run directory" 1 test -e "$tmp/uj"
    check "ule --init, a shape option on top" 1 "$exe" -q ule --init "$tmp/ssl1/last.safetensors" \
        --resnet-width 4 --data "$tmp/sc.st" --epochs 1 --out "$tmp/uk"
    grep_in "ule --init, a shape option on top: the loader names the shape" err "needs shape \[4, 1, 3, 3\]"
    # --resume of a finished run trains nothing and reports again; to more
    # epochs it goes on (metrics.jsonl: one line more)
    check "ule --resume, finished" 0 "$exe" -q ule --data "$tmp/sc.st" --epochs 1 --batch 64 --out "$tmp/u1" --resume
    check "ule --resume to 2 epochs" 0 "$exe" -q ule --data "$tmp/sc.st" --epochs 2 --batch 64 --out "$tmp/u1" --resume
    check "ule --resume appended one epoch" 0 test "$(wc -l < "$tmp/u1/metrics.jsonl")" -eq 2
    check "ule --resume without a run fails" 1 "$exe" -q ule --data "$tmp/sc.st" --epochs 1 --out "$tmp/none" --resume
    grep_in "ule --resume names the checkpoint" err "student.safetensors"
    # every run records itself: DIR/config.json with the command line, every
    # option's final value (defaults included), version, data checksum, device
    check "train, a new run" 0 "$exe" -q train --data "$tmp/sc.st" --epochs 1 --batch 64 \
        --lr 0.002 --out "$tmp/t1"
    grep_in "train names its run directory on stdout" out "^run directory: $tmp/t1\$"
    check "config.json: settings, argv, version, device, data checksum" 0 python3 -c "
import json, struct, sys
c = json.load(open(sys.argv[1]))
for k in ('spurcl', 'git', 'command', 'argv', 'settings', 'run', 'data', 'device', 'created'):
    assert k in c, k
assert c['command'] == 'train' and c['argv'][1:] == ['-q', 'train', '--data', sys.argv[2], '--epochs', '1', '--batch', '64', '--lr', '0.002', '--out', sys.argv[3]], c['argv']
s = c['settings']
assert s['lr'] == 0.002 and s['batch'] == 64 and s['epochs'] == 1 and s['data'] == sys.argv[2], s
assert s['optim'] == 'adamw' and s['weight-decay'] == 0.01 and s['select'] == 'last' and s['model'] == 'cnn', s
assert s['resume'] is False and s['cnn-widths'] == '32,64,128', s
# the data checksum is FNV-1a over the shape, images, labels, attrs, splits
b = open(sys.argv[2], 'rb').read()
n = struct.unpack('<Q', b[:8])[0]
h = json.loads(b[8:8 + n])
build = json.loads(h['__metadata__']['build'])
t = lambda k: b[8 + n + h[k]['data_offsets'][0]:8 + n + h[k]['data_offsets'][1]]
N, C, H, W = h['images']['shape']
x = 0xcbf29ce484222325
for part in (struct.pack('<6q', N, C, H, W, build['num_classes'], build['num_attrs']), t('images'), t('labels'), t('attrs'), t('split')):
    for byte in part:
        x = ((x ^ byte) * 0x100000001b3) & 0xffffffffffffffff
assert c['data']['fnv1a'] == '%016x' % x, (c['data'], '%016x' % x)
assert c['data']['path'].endswith('/sc.st') and c['data']['path'].startswith('/'), c['data']
" "$tmp/t1/config.json" "$tmp/sc.st" "$tmp/t1"
    check "config.json written atomically (no temporary left)" 0 test "$(ls "$tmp/t1" | grep -c '\.tmp$')" -eq 0
    # a non-empty --out is refused unless --resume or --force
    check "non-empty --out refused" 1 "$exe" -q train --data "$tmp/sc.st" --epochs 1 --batch 64 \
        --out "$tmp/t1"
    grep_in "the refusal names the directory and both options" err "$tmp/t1 is not empty: pass --resume to continue the run in it, or --force to start a new run over it"
    one_line "the refusal is one line" err
    check "the refused run left config.json alone" 0 python3 -c "import json,sys; assert json.load(open(sys.argv[1]))['settings']['lr'] == 0.002" "$tmp/t1/config.json"
    # --resume refuses a changed setting with a one-line diff; --override accepts it
    check "--resume with another --lr refused" 1 "$exe" -q train --data "$tmp/sc.st" --epochs 2 \
        --batch 64 --lr 0.1 --out "$tmp/t1" --resume
    grep_in "the diff names key, old and new value" err "\-\-resume: setting changed: lr 0.002 -> 0.1 ($tmp/t1/config.json); pass --override lr to accept"
    one_line "the diff is one line" err
    check "the refused resume trained nothing" 0 test "$(wc -l < "$tmp/t1/metrics.jsonl")" -eq 1
    check "--resume with two changes refused" 1 "$exe" -q train --data "$tmp/sc.st" --epochs 2 \
        --batch 32 --lr 0.1 --out "$tmp/t1" --resume
    grep_in "both changes named" err "settings changed: batch 64 -> 32, lr 0.002 -> 0.1 .*pass --override batch,lr to accept"
    check "--override of an unknown key" 1 "$exe" -q train --data "$tmp/sc.st" --epochs 2 \
        --batch 64 --lr 0.1 --out "$tmp/t1" --resume --override lrate
    grep_in "unknown key named" err "\-\-override lrate: no such setting"
    check "--resume --override lr (and --epochs raised without one)" 0 "$exe" -q train \
        --data "$tmp/sc.st" --epochs 2 --batch 64 --lr 0.1 --out "$tmp/t1" --resume --override lr
    check "the resumed run trained its second epoch" 0 test "$(wc -l < "$tmp/t1/metrics.jsonl")" -eq 2
    check "config.json: the new lr and the history" 0 python3 -c "
import json, sys
c = json.load(open(sys.argv[1]))
assert c['settings']['lr'] == 0.1 and c['settings']['epochs'] == 2, c['settings']
h = c['history'][-1]
assert h['changed'] == {'epochs': [1, 2], 'lr': [0.002, 0.1]}, h
assert '--override' in h['argv'], h
" "$tmp/t1/config.json"
    check "another tiny MNIST-SC" 0 "$exe" -q data build --max-train 600 --max-test 200 \
        --variant patch --rho 0.9 --out "$tmp/sc2.st"
    check "another data file refused on --resume" 1 "$exe" -q train --data "$tmp/sc2.st" \
        --epochs 2 --batch 64 --lr 0.1 --out "$tmp/t1" --resume
    grep_in "the data change names both checksums" err "setting changed: data .*sc.st (fnv1a [0-9a-f]*) -> .*sc2.st (fnv1a [0-9a-f]*)"
    check "--force starts anew in a non-empty --out" 0 "$exe" -q train --data "$tmp/sc.st" \
        --epochs 1 --batch 64 --out "$tmp/t1" --force
    check "--force: metrics.jsonl starts anew" 0 test "$(wc -l < "$tmp/t1/metrics.jsonl")" -eq 1
    check "--force: config.json anew" 0 python3 -c "import json,sys; c=json.load(open(sys.argv[1])); assert c['settings']['lr'] == 0.001 and 'history' not in c, c" "$tmp/t1/config.json"
    # a run an older spurcl made (no config.json) resumes with a warning
    rm "$tmp/t1/config.json"
    check "--resume without config.json" 0 "$exe" -q train --data "$tmp/sc.st" --epochs 2 \
        --batch 64 --out "$tmp/t1" --resume
    grep_in "it warns" err "warning: $tmp/t1 has no config.json (an older spurcl made it)"
    check "and records it now" 0 test -s "$tmp/t1/config.json"
    # without --out, a new directory per run: runs/train-YYYYMMDD-HHMMSS,
    # -2 when that exists (the next seconds' names are taken here)
    mkdir -p "$tmp/cwd/runs"
    now=$(date +%s)
    for i in 0 1 2 3 4 5 6 7 8 9; do
        d="$tmp/cwd/runs/train-$(date -d "@$((now + i))" +%Y%m%d-%H%M%S)"
        mkdir -p "$d" && touch "$d/taken"
    done
    check "train without --out" 0 sh -c "cd '$tmp/cwd' && '$exe' -q train --data '$tmp/sc.st' --epochs 1 --batch 64"
    grep_in "a fresh directory, named on stdout" out "^run directory: runs/train-[0-9]\{8\}-[0-9]\{6\}-2\$"
    fresh=$(sed -n 's/^run directory: //p' "$tmp/out")
    check "it holds the run" 0 test -s "$tmp/cwd/$fresh/config.json" -a -s "$tmp/cwd/$fresh/last.safetensors"
    check "the taken directory is untouched" 0 test "$(ls "$tmp/cwd/${fresh%-2}")" = taken
    check "a run that fails leaves no empty directory" 1 sh -c "cd '$tmp/cwd' && '$exe' -q train --data '$tmp/nonexistent.st'"
    check "no directory left" 0 test "$(ls "$tmp/cwd/runs" | wc -l)" -eq 11
    # progress and logs that travel (#18): off a terminal (stderr is a file
    # here) a timed line every --log-every seconds with the step of all, the
    # rate, the ETA and the last evaluation; evaluations inside an epoch and
    # every epoch's end print a line too; DIR/log.txt has the same lines,
    # timestamped, between the run's start and end; DIR/curves.png plots it
    check "train --log-every 1, off a terminal" 0 "$exe" train --data "$tmp/sc.st" --epochs 4 \
        --batch 32 --eval-every 5 --log-every 1 --out "$tmp/tl"
    grep_in "a timed line: step of all, rate, ETA, last evaluation" err "^train step [0-9]*/68 (epoch [1-4]/4)  loss .* img/s  ETA [0-9][0-9hms]*  \(last eval: val acc [0-9.]*  val worst-group [0-9.]*\|no evaluation yet\)$"
    grep_in "a periodic evaluation reaches the console" err "^train eval at step 5/68 (epoch 1/4)  loss .*  val acc [0-9.]*  val worst-group [0-9.]*$"
    grep_in "every epoch's line" err "^train epoch 4/4  loss "
    cp "$tmp/err" "$tmp/tl.err"
    check "log.txt: the console's lines, timestamped, after the start and before the end" 0 python3 -c "
import re, sys
log = open(sys.argv[1]).read().splitlines()
err = [l for l in open(sys.argv[2]).read().splitlines() if l.startswith('train ')]
assert all(re.match(r'\d{4}-\d\d-\d\d \d\d:\d\d:\d\d  ', l) for l in log), log
body = [l[21:] for l in log]
assert body[0] == 'train: new run of 4 epochs, 17 steps each (batch 32) in ' + sys.argv[3], body[0]
assert body[-1].startswith('train: finished: 4 epochs trained in '), body[-1]
assert body[1:-1] == err and len(err) > 4 + 12, (body, err)
" "$tmp/tl/log.txt" "$tmp/tl.err" "$tmp/tl"
    check "curves.png of train, ule and ssl: PNGs the size of their panels" 0 python3 -c "
import struct, sys
for path, w, h in zip(sys.argv[1:], (840, 840, 840), (340, 680, 340)):
    b = open(path, 'rb').read(24)
    assert b[:8] == b'\x89PNG\r\n\x1a\n' and struct.unpack('>II', b[16:24]) == (w, h), (path, b)
" "$tmp/tl/curves.png" "$tmp/u1/curves.png" "$tmp/ssl1/curves.png"
    # JTT's two stages are told apart; an option that can have no effect is
    # warned about: JTT on a training split without a minority group
    check "jtt on rho 1.0 data" 0 "$exe" jtt --data "$tmp/sc.st" --epochs 1 --batch 64 \
        --cnn-widths 4,8,16 --out "$tmp/j1"
    grep_in "jtt warns that rho 1.0 leaves nothing to upweight" err "^jtt: warning: the training split has no minority group (every class comes with one attribute value, as at rho 1.0): the errors JTT upweights cannot be minority samples, so it has nothing to correct$"
    grep_in "jtt stage 1 line" err "^jtt stage 1 (ERM) epoch 1/1  loss "
    grep_in "jtt stage 2 line" err "^jtt stage 2 (upweighted) epoch 1/1  loss "
    check "jtt on rho 0.9 data" 0 "$exe" jtt --data "$tmp/sc2.st" --epochs 1 --batch 64 \
        --cnn-widths 4,8,16 --out "$tmp/j2"
    if grep -q "no minority group" "$tmp/err"; then echo "FAIL jtt warns at rho 0.9"; cat "$tmp/err"; fails=$((fails+1));
    else echo "ok   jtt does not warn at rho 0.9"; passes=$((passes+1)); fi
    # kill -9 (#19): a run killed at any moment resumes to the uninterrupted
    # run's checkpoints and run.json, bit for bit, and to its metrics.jsonl
    # lines (timing aside), leaving no staged or temporary file. Builds
    # without NDEBUG raise SIGKILL after the run's Nth durable write when
    # SC_TEST_KILL_AFTER_WRITES=N: ule N=3 has the student's checkpoint
    # staged and not the teacher's, N=13 the second epoch's line and
    # student (the audit's "an epoch apart"); train N=8 lies in the first
    # epoch's commit. test_crash stops runs after every write in turn; here
    # a real kill -9 from outside follows, at whatever moment it lands.
    check "kill tests: small data" 0 "$exe" -q data build --max-train 256 --max-test 100 \
        --variant patch --rho 1.0 --out "$tmp/k.st"
    same_run() { # name reference-dir dir files...
        sr_name=$1
        shift
        check "$sr_name" 0 python3 -c "
import json, os, sys
a, b = sys.argv[1], sys.argv[2]
for f in sys.argv[3:]:
    assert open(f'{a}/{f}', 'rb').read() == open(f'{b}/{f}', 'rb').read(), f + ' differs'
def lines(d):
    return [{k: v for k, v in json.loads(l).items() if not k.endswith('_s')}
            for l in open(f'{d}/metrics.jsonl')]
assert lines(a) == lines(b), (lines(a), lines(b))
left = [f for f in os.listdir(b) if f.endswith(('.next', '.tmp'))]
assert not left, left
" "$@"
    }
    kargs="--data $tmp/k.st --batch 64 --select val-avg --cnn-widths 4,8,16"
    SC_TEST_KILL_AFTER_WRITES=1 "$exe" -q train $kargs --epochs 1 --out "$tmp/kprobe" \
        >/dev/null 2>&1
    if [ $? -eq 137 ]; then
        check "ule, uninterrupted" 0 "$exe" -q ule $kargs --epochs 2 --out "$tmp/ku"
        for n in 3 13; do
            check "ule killed after write $n" 137 env SC_TEST_KILL_AFTER_WRITES=$n "$exe" -q ule \
                $kargs --epochs 2 --out "$tmp/ku$n"
            check "ule killed after write $n resumes" 0 "$exe" -q ule $kargs --epochs 2 \
                --out "$tmp/ku$n" --resume
            same_run "ule killed after write $n: as if never killed" "$tmp/ku" "$tmp/ku$n" \
                student.safetensors teacher.safetensors student-best.safetensors \
                teacher-best.safetensors run.json
        done
        check "train --eval-every, uninterrupted" 0 "$exe" -q train $kargs --epochs 3 \
            --eval-every 2 --out "$tmp/kt"
        check "train killed after write 8" 137 env SC_TEST_KILL_AFTER_WRITES=8 "$exe" -q train \
            $kargs --epochs 3 --eval-every 2 --out "$tmp/kt8"
        check "train killed after write 8 resumes" 0 "$exe" -q train $kargs --epochs 3 \
            --eval-every 2 --out "$tmp/kt8" --resume
        same_run "train killed after write 8: as if never killed" "$tmp/kt" "$tmp/kt8" \
            last.safetensors best.safetensors run.json
    else
        echo "skip the SIGKILL-after-write-N tests: SC_TEST_KILL_AFTER_WRITES is compiled out (NDEBUG)"
        check "train --eval-every, uninterrupted" 0 "$exe" -q train $kargs --epochs 3 \
            --eval-every 2 --out "$tmp/kt"
    fi
    # a kill -9 from outside, once the first line is there
    "$exe" -q train $kargs --epochs 3 --eval-every 2 --out "$tmp/ktx" >/dev/null 2>&1 &
    kpid=$!
    i=0
    while [ ! -s "$tmp/ktx/metrics.jsonl" ] && [ $i -lt 600 ]; do sleep 0.05; i=$((i+1)); done
    kill -9 $kpid 2>/dev/null
    { wait $kpid; } 2>/dev/null
    check "train killed from outside resumes" 0 "$exe" -q train $kargs --epochs 3 --eval-every 2 \
        --out "$tmp/ktx" --resume
    same_run "train killed from outside: as if never killed" "$tmp/kt" "$tmp/ktx" \
        last.safetensors best.safetensors run.json
    check "ule, lambda sweep" 0 "$exe" -q ule --data "$tmp/sc.st" --epochs 1 --batch 64 \
        --lambda 10,100 --out "$tmp/u2"
    grep_in "sweep picture in the sweep dir" out "saliency picture: $tmp/u2/saliency.png"
    grep_in "sweep prints lambda 10's row" out "^[* ]  *10  "
    grep_in "sweep prints lambda 100's row" out "^[* ]  *100  "
    grep_in "sweep marks the selected lambda" out "^\*  *[0-9]"
    check "sweep keeps each lambda's run" 0 test -s "$tmp/u2/lambda-10/teacher.safetensors"
    # selection among evaluations every 3 steps (540 training images, batch
    # 64: 9 steps an epoch, evaluations after 3, 6 and 9): the
    # summary names the step, groups.csv has a row per split and group, and
    # results.json names the selected step of each lambda
    check "ule --eval-every" 0 "$exe" -q ule --data "$tmp/sc.st" --epochs 1 --batch 64 \
        --eval-every 3 --select val-avg --out "$tmp/u3"
    grep_in "ule summary names the selected step" out "step [0-9]* (epoch 1; selection: val-avg)"
    grep_in "ule prints per-group student/teacher" out "per group student/teacher accuracy"
    check "ule metrics: 3 evaluations" 0 test "$(wc -l < "$tmp/u3/metrics.jsonl")" -eq 3
    check "groups.csv: header and 2 x 100 groups" 0 test "$(wc -l < "$tmp/u3/groups.csv")" -eq 201
    check "groups.csv header" 0 grep -qx "split,y,a,n,student_acc,teacher_acc" "$tmp/u3/groups.csv"
    check "results.json parses" 0 python3 -c "import json,sys; r=json.load(open(sys.argv[1])); assert r['runs'][0]['selected_step'] in (3,6,9)" "$tmp/u3/results.json"
    # SpuCo-style data, GroupDRO, DFR and the comparison runner, tiny
    check "data build spuco" 0 "$exe" data build --variant spuco --difficulty magnitude-medium \
        --rho 0.9 --max-train 600 --max-test 250 --seed 2 --out "$tmp/spuco.st"
    check "spuco info" 0 "$exe" data info "$tmp/spuco.st"
    grep_in "spuco: 5 classes x 5 colours" out "classes     5, attribute values 5, groups 25"
    grep_in "spuco: difficulty recorded" out '"spuco_difficulty":"magnitude-medium"'
    check "data build spuco, bad difficulty" 2 "$exe" data build --variant spuco --difficulty huge \
        --out "$tmp/x.st"
    grep_in "bad difficulty lists the levels" err "variance-high"
    check "groupdro" 0 "$exe" -q groupdro --data "$tmp/spuco.st" --epochs 1 --batch 64 --eta 0.1 \
        --out "$tmp/dro"
    grep_in "groupdro prints its settings" out "GroupDRO (eta 0.1, C 0, group-balanced sampling)"
    check "groupdro --shuffled" 0 "$exe" -q groupdro --data "$tmp/spuco.st" --epochs 1 --batch 64 \
        --shuffled --out "$tmp/dro-shuffled"
    grep_in "groupdro --shuffled says so" out "GroupDRO (eta 0.01, C 0, shuffled sampling)"
    check "dro.csv: a header and one row per step (9)" 0 test "$(wc -l < "$tmp/dro/dro.csv")" -eq 10
    check "groupdro metrics carry the group weights" 0 grep -q '"group_weights":\[' "$tmp/dro/metrics.jsonl"
    check "dfr" 0 "$exe" -q dfr --model "$tmp/dro/last.safetensors" --data "$tmp/spuco.st" \
        --fits 2 --iterations 50 --c-grid 1,0.1 --out "$tmp/dfr"
    grep_in "dfr marks the chosen C" out "^\* C "
    check "dfr into a non-empty --out refused" 1 "$exe" -q dfr --model "$tmp/dro/last.safetensors" \
        --data "$tmp/spuco.st" --fits 2 --iterations 50 --c-grid 1,0.1 --out "$tmp/dfr"
    grep_in "dfr's refusal offers --force" err "$tmp/dfr is not empty: pass --force"
    check "dfr wrote a model eval reads" 0 "$exe" eval --model "$tmp/dfr/dfr.safetensors" \
        --data "$tmp/spuco.st" --split test --json "$tmp/eval.json"
    cp "$tmp/out" "$tmp/eval.out"
    # the JSON holds what the table printed: test only, the same worst-group accuracy
    check "eval --json: test only, wga as printed" 0 python3 -c "import json,re,sys; j=json.load(open(sys.argv[1])); t=open(sys.argv[2]).read(); w=float(re.search(r'worst-group accuracy\s+([0-9.]+)', t).group(1)); assert set(j) == {'model','data','test'} and abs(j['test']['wga'] - w) < 6e-5 and len(j['test']['group_acc']) == 25, j" "$tmp/eval.json" "$tmp/eval.out"
    # the training split on request, as data preview and saliency read it
    check "eval --split train" 0 "$exe" eval --model "$tmp/dfr/dfr.safetensors" \
        --data "$tmp/spuco.st" --split train --json "$tmp/eval-train.json"
    check "eval --split train: the train table only" 0 python3 -c "import json,sys; j=json.load(open(sys.argv[1])); assert set(j) == {'model','data','train'} and 0 <= j['train']['acc'] <= 1 and sum(j['train']['group_n']) > 0, j" "$tmp/eval-train.json"
    check "compare --resume refused (automatic)" 2 "$exe" compare --data "$tmp/spuco.st" --resume
    check "compare bad method" 2 "$exe" compare --data "$tmp/spuco.st" --methods erm,moco
    grep_in "compare names the methods" err "groupdro"
    check "compare, tiny" 0 "$exe" -q compare --data "$tmp/spuco.st" --methods erm,dfr,ule \
        --seeds 2 --epochs 1 --batch 64 --eval-every 4 --fits 2 --iterations 40 \
        --grid "ule.lambda=10,100" --out "$tmp/cmp"
    grep_in "compare prints the ule row" out "^ule  "
    check "compare's log: overall progress with an ETA" 0 python3 -c "
import re, sys
log = open(sys.argv[1]).read()
assert re.search(r'  overall: run 1/8 \(erm seed 0\); 0 done \(0 trained, 0 found finished\), \S+ elapsed, ETA after the first run\n', log), log
assert re.search(r'  overall: run 8/8 \(.*\); 7 done \(7 trained, 0 found finished\), \S+ elapsed, ETA [0-9]\S*\n', log), log
assert re.search(r'  overall: 8/8 runs done \(8 trained, 0 found finished\) in \S+\n', log), log
" "$tmp/cmp/log.txt"
    check "compare results.csv: 3 methods x 2 rules" 0 python3 -c "import csv,sys; r=list(csv.DictReader(open(sys.argv[1]))); assert len(r)==6 and {x['method'] for x in r}=={'erm','dfr','ule'}, r" "$tmp/cmp/results.csv"
    check "compare chart is a PNG" 0 python3 -c "import sys; assert open(sys.argv[1],'rb').read(8)==b'\x89PNG\r\n\x1a\n'" "$tmp/cmp/chart.png"
    check "compare again: every run skipped" 0 "$exe" compare --data "$tmp/spuco.st" \
        --methods erm,dfr,ule --seeds 2 --epochs 1 --batch 64 --eval-every 4 --fits 2 \
        --iterations 40 --grid "ule.lambda=10,100" --out "$tmp/cmp"
    grep_in "compare again trains nothing" err "0 runs trained, 8 found finished"
    grep_in "compare again: the overall line" err "^overall: 8/8 runs done (0 trained, 8 found finished)"
    # --lambda 10,100 is that grid's sweep: the same runs, all found
    check "compare --lambda list: the grid's runs" 0 "$exe" compare --data "$tmp/spuco.st" \
        --methods erm,dfr,ule --seeds 2 --epochs 1 --batch 64 --eval-every 4 --fits 2 \
        --iterations 40 --lambda 10,100 --out "$tmp/cmp"
    grep_in "compare --lambda list trains nothing" err "0 runs trained, 8 found finished"
    check "compare --lambda list and a grid sweeping it" 2 "$exe" compare --data "$tmp/spuco.st" \
        --lambda 1,10 --grid "ule.lambda=3" --out "$tmp/cmp-x"
    grep_in "compare names the double sweep" err "both sweep the ULE lambda"
    # the demo end to end on 600 source images and 2 seeds: the table, the files
    check "demo, tiny" 0 "$exe" -q demo --max-train 600 --max-test 500 --seeds 2 --eval-every 3 \
        --out "$tmp/demo"
    grep_in "demo prints the ULE row" out "^ule  "
    grep_in "demo prints the GroupDRO row" out "^groupdro  "
    check "demo results.csv: 5 methods x 2 rules" 0 python3 -c "import csv,sys; r=list(csv.DictReader(open(sys.argv[1]))); assert len(r)==10 and len({x['method'] for x in r})==5, r" "$tmp/demo/results.csv"
    check "demo results.json: 5 rows, 10 runs" 0 python3 -c "import json,sys; j=json.load(open(sys.argv[1])); assert len(j['table'])==5 and len(j['runs'])==10, j" "$tmp/demo/results.json"
    check "demo again resumes" 0 "$exe" demo --max-train 600 --max-test 500 --seeds 2 \
        --eval-every 3 --out "$tmp/demo"
    grep_in "demo again trains nothing" out "0 runs trained, 10 found finished"
    # every run a command or a runner starts records itself
    check "every run has its config.json" 0 python3 -c "
import json, sys
tmp = sys.argv[1]
want = {'u1': 'ule', 'u2': 'ule', 'u2/lambda-10': 'ule', 'ssl1': 'ssl', 'dro': 'groupdro',
        'dfr': 'dfr', 'cmp': 'compare', 'cmp/erm/seed-1': 'compare', 'cmp/dfr/seed-0': 'compare',
        'cmp/ule/lambda=100/seed-1': 'compare', 'demo': 'demo', 'demo/jtt/seed-0': 'demo',
        'demo/jtt/seed-0/identify': 'demo', 'demo/groupdro/seed-1': 'demo'}
for d, cmd in want.items():
    c = json.load(open(f'{tmp}/{d}/config.json'))
    assert c['command'] == cmd and len(c['data']['fnv1a']) == 16 and c['settings'], (d, c)
trainers = {'cmp/erm/seed-1': ('train', 1), 'cmp/dfr/seed-0': ('dfr', 0),
            'demo/jtt/seed-0/identify': ('train', 0), 'u2/lambda-10': ('ule', 0)}
for d, (t, seed) in trainers.items():
    c = json.load(open(f'{tmp}/{d}/config.json'))
    assert c['trainer'] == t and c['run']['seed'] == seed and c['run']['out'].endswith(d), (d, c)
" "$tmp"
else
    echo "skip ule end to end: /usr/share/datasets/fashion-mnist not installed"
fi

check "train on a missing data file fails" 1 "$exe" train --data /nonexistent/x.safetensors --out "$tmp/run"
grep_in "missing data file is named" err "/nonexistent/x.safetensors"
one_line "missing data file: one line" err

echo "$passes passed, $fails failed"
[ "$fails" -eq 0 ]
