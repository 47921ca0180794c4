#!/bin/sh
# Data-parallel training under mpirun (issue #15): 2 ranks x batch B/2 give
# the weights of 1 process x batch B, 2-rank runs repeat bit for bit, rank 0
# alone writes, a killed rank ends the job. Skipped (exit 77) only when
# spurcl was built without MPI.
#
#   test_mpi.sh SPURCL PYTHON COMPARE_WEIGHTS_PY MPIRUN
#
# Tolerance of the 1-process comparison: per tensor, max |a - b| <= 1e-4 x
# max |b| (tests/mpi/compare_weights.py --scaled), for the weights and the
# SGD momentum buffers after 20 steps (train, jtt, groupdro, compare; the
# AdamW moments are compared after one step, in ule and ssl below). In real arithmetic the two runs are
# equal; in float32 the global batch's gradient is summed in another order
# (two half-batch sums, each scaled by its count, all-reduced, divided by
# the total; the convolutions and GEMMs also see other batch sizes). The
# comparisons train with SGD (momentum 0.9, lr 0.01), which moves each
# weight by lr times its gradient, so those differences stay at rounding
# level: measured on PoCL (2 cores), at most 3.8e-7 over 2 and 3 ranks at
# batches 57 and 59. AdamW does not keep them there: its update is about
# +-lr for a gradient entry near zero whatever its size, so float32 noise in
# an entry whose terms nearly cancel becomes an lr-sized step, and 20 AdamW
# steps of 1 process and 2 ranks drifted apart with no bug by 8.6e-6 to
# 1.35e-4 at batches 47, 57, 61 and 71, and by 1.3e-3 at 59 once the cnn's
# first filter gradient was summed in another order (from the pooled
# gradient). 1e-4 leaves 250x
# headroom, while a wrong weighting (a sum of the ranks' means: momentum
# buffers twice as large, ratio 0.5) or a wrong shard (other samples) gives
# ratios of order 1e-1.
set -u
exe="$1"
py="$2"
compare="$3"
mpirun="$4"
if [ "${SPURCL_TEST_MPI:-0}" != 1 ]; then
    echo "SKIP: spurcl was built without MPI (install libopenmpi-dev and openmpi-bin, then" \
         "meson setup --reconfigure build -Dmpi=enabled)"
    exit 77
fi
if [ ! -x "$mpirun" ]; then
    echo "FAIL: spurcl was built with MPI but there is no mpirun (apt-get install openmpi-bin)"
    exit 1
fi
fails=0
passes=0
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
. "$(dirname "$0")/cli_lib.sh"

# Containers: run as root, more ranks than cores, shared memory only (no
# network), no cross-memory attach (ptrace is often not allowed).
export OMPI_MCA_btl=self,vader
export OMPI_MCA_btl_vader_single_copy_mechanism=none
# Under AddressSanitizer (tools/run.sh test, build-asan/) the ranks run
# without LeakSanitizer: Open MPI's plugins keep allocations past
# MPI_Finalize and are unloaded by then, so their stacks end in
# '<unknown module>', which no suppression can name. ASan's and UBSan's
# error checks stay on, and the one-process runs here are leak-checked.
mpi() { # ranks command...
    n=$1
    shift
    ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0" \
        timeout 180 "$mpirun" --allow-run-as-root --oversubscribe --bind-to none -np "$n" "$@"
}
unset SPURCL_DEVICE

# launch: one line a rank with its device
check "mpirun -np 2 devices" 0 mpi 2 "$exe" devices
grep_in "devices: rank 0's line" out "^rank 0 (host .*, local rank 0): [0-9]*:[0-9]"
grep_in "devices: rank 1's line" out "^rank 1 (host .*, local rank 1): [0-9]*:[0-9]"
n=$(grep -c "selected by" "$tmp/out")
if [ "$n" -eq 1 ]; then echo "ok   devices: one table (rank 0's)"; passes=$((passes+1));
else echo "FAIL devices: $n tables"; fails=$((fails+1)); fi

# a command that does not run data-parallel yet is refused, by name
mpi 2 "$exe" selftest >"$tmp/out" 2>"$tmp/err"
if [ $? -ne 0 ]; then echo "ok   selftest under mpirun fails"; passes=$((passes+1));
else echo "FAIL selftest under mpirun succeeded"; fails=$((fails+1)); fi
grep_in "selftest refused with the reason" err "'selftest' does not run data-parallel yet"
# the list comes from the command table, the same in the refusal and in --help
grep_in "refusal lists the parallel commands" err "devices, train, eval, jtt, groupdro, dfr, ule, ssl, probe, compare and demo do"
"$exe" --help >"$tmp/out"
grep_in "--help lists the same" out "^  devices, train, eval, jtt, groupdro, dfr, ule, ssl, probe, compare and demo.$"

data="$tmp/small.safetensors"
check "data build" 0 "$exe" -q data build --variant none --max-train 600 --max-test 200 \
    --out "$data"
# 538 training samples: batch 59 ends each epoch on 7 (ranks: 3 and 4),
# batch 537 on 1 (rank 0's slice is empty)
# the runs compared over many steps train with SGD (see the top)
sgd20="--optim sgd --lr 0.01"
targs="--data $data --epochs 2 --cnn-widths 8,16,32 --seed 3 $sgd20"

same_weights() { # name a b limit
    if "$py" "$compare" "$2" "$3" --scaled "$4" >"$tmp/cmp" 2>&1; then
        worst=$(grep -o 'ratio [^ ]*' "$tmp/cmp" | sort -g -k2 | tail -n 1)
        echo "ok   $1 ($(tail -n 1 "$tmp/cmp"); largest $worst, limit $4)"; passes=$((passes+1))
    else echo "FAIL $1:"; cat "$tmp/cmp"; fails=$((fails+1)); fi
}
same_tree() { # name dir-a dir-b
    a=$(cd "$2" && find . | sort | tr '\n' ' ')
    b=$(cd "$3" && find . | sort | tr '\n' ' ')
    if [ "$a" = "$b" ]; then echo "ok   $1 ($(echo "$b" | wc -w) paths)"; passes=$((passes+1));
    else echo "FAIL $1: 1 process '$a', 2 ranks '$b'"; fails=$((fails+1)); fi
}
one_report() { # name pattern: the last run's stdout has one line matching it (rank 0's)
    n=$(grep -c "$2" "$tmp/out")
    if [ "$n" -eq 1 ]; then echo "ok   $1: one report (rank 0's)"; passes=$((passes+1));
    else echo "FAIL $1: $n reports"; cat "$tmp/out"; fails=$((fails+1)); fi
}
ended() { # name [max-seconds]: the last mpi run (exit $rc, $secs s) failed, not hung
    if [ $rc -ne 0 ] && [ $rc -ne 124 ] && { [ -z "${2:-}" ] || [ $secs -lt $2 ]; }; then
        echo "ok   $1 (exit $rc${2:+ in ${secs}s})"; passes=$((passes+1))
    else echo "FAIL $1: exit $rc${2:+ after ${secs}s} (124: a hang)"; cat "$tmp/out" "$tmp/err"
        fails=$((fails+1)); fi
}
bit_identical() { # name a b
    if "$py" "$compare" "$2" "$3" --exact >"$tmp/cmp" 2>&1; then
        echo "ok   $1"; passes=$((passes+1))
    else echo "FAIL $1:"; cat "$tmp/cmp"; fails=$((fails+1)); fi
}

check "1 process, batch 59" 0 "$exe" -q train $targs --batch 59 --out "$tmp/one"
check "2 ranks, batch 59" 0 mpi 2 "$exe" -q train $targs --batch 59 --out "$tmp/two"
one_report "2 ranks" "^selected model"
same_tree "2 ranks write the files of 1 process" "$tmp/one" "$tmp/two"
same_weights "2 ranks x 29-30 = 1 process x 59 (weights, momentum)" \
    "$tmp/one/last.safetensors" "$tmp/two/last.safetensors" 1e-4
# the metrics lines hold the global batch means: the training loss agrees
"$py" - "$tmp/one/metrics.jsonl" "$tmp/two/metrics.jsonl" >"$tmp/cmp" 2>&1 <<'PY'
import json, sys
a = [json.loads(l) for l in open(sys.argv[1])]
b = [json.loads(l) for l in open(sys.argv[2])]
assert len(a) == len(b) == 2, (len(a), len(b))
for x, y in zip(a, b):
    assert x["step"] == y["step"], (x["step"], y["step"])
    d = abs(x["train_loss"] - y["train_loss"]) / abs(x["train_loss"])
    assert d < 1e-5, (x["train_loss"], y["train_loss"])
    print(f'step {x["step"]}: train_loss {x["train_loss"]:.9g} vs {y["train_loss"]:.9g}')
PY
if [ $? -eq 0 ]; then echo "ok   metrics: same steps, train_loss within 1e-5 ($(tail -n 1 "$tmp/cmp"))"
    passes=$((passes+1)); else echo "FAIL metrics:"; cat "$tmp/cmp"; fails=$((fails+1)); fi

check "2 ranks again" 0 mpi 2 "$exe" -q train $targs --batch 59 --out "$tmp/two2"
bit_identical "2-rank runs are bit-identical" "$tmp/two/last.safetensors" "$tmp/two2/last.safetensors"

check "3 ranks, batch 59" 0 mpi 3 "$exe" -q train $targs --batch 59 --out "$tmp/three"
same_weights "3 ranks x 19-20 = 1 process x 59" \
    "$tmp/one/last.safetensors" "$tmp/three/last.safetensors" 1e-4

check "1 process, batch 537" 0 "$exe" -q train $targs --batch 537 --out "$tmp/one537"
check "2 ranks, batch 537 (an empty slice)" 0 mpi 2 "$exe" -q train $targs --batch 537 \
    --out "$tmp/two537"
same_weights "2 ranks = 1 process with a last batch of 1" \
    "$tmp/one537/last.safetensors" "$tmp/two537/last.safetensors" 1e-4

# JTT: stage 1 and stage 2 data-parallel, rank 0's error set for everyone;
# the error count and both stages' weights agree with one process
jargs="--data $data --id-epochs 1 --epochs 1 --upweight 5 --cnn-widths 8,16,32 --seed 3 --batch 59 $sgd20"
check "jtt, 1 process" 0 "$exe" -q jtt $jargs --out "$tmp/jone"
grep "^JTT:" "$tmp/out" >"$tmp/jtt_one"
check "jtt, 2 ranks" 0 mpi 2 "$exe" -q jtt $jargs --out "$tmp/jtwo"
grep "^JTT:" "$tmp/out" >"$tmp/jtt_two"
if [ -s "$tmp/jtt_one" ] && cmp -s "$tmp/jtt_one" "$tmp/jtt_two"; then
    echo "ok   jtt: one report, the same error set ($(cut -c1-60 "$tmp/jtt_two"))"
    passes=$((passes+1)); else echo "FAIL jtt reports: '$(cat "$tmp/jtt_one")' vs" \
    "'$(cat "$tmp/jtt_two")'"; fails=$((fails+1)); fi
same_weights "jtt stage 1: 2 ranks = 1 process" \
    "$tmp/jone/identify/last.safetensors" "$tmp/jtwo/identify/last.safetensors" 1e-4
same_weights "jtt stage 2: 2 ranks = 1 process" \
    "$tmp/jone/last.safetensors" "$tmp/jtwo/last.safetensors" 1e-4

# ULE: student and teacher data-parallel in one exchange a step (the
# student's saliency map is per sample, so it stays on its rank). Compared
# after one step (63 training images, 31 and 32 a rank), weights and the AdamW
# moments (whose first moment is the gradient): over more steps the runs
# drift apart beyond any reordering tolerance without a bug. AdamW's first
# updates are about +-lr for every gradient near zero, whatever its size,
# so float32 noise there becomes lr-sized, and the teacher's saliency
# penalty (lambda 1000) feeds it back: one step 7e-7 of the tensors' scale,
# two 8e-3, three 1.2e-2. Every ULE loss term is a mean over samples, so
# the count-weighted average of the ranks' gradients is the whole batch's;
# a weighting by rank instead of by count (31 and 32 samples) moves the
# moments by about 1/63. The empty-slice case (62 + 1) runs two SGD steps.
small="$tmp/small63.safetensors"
check "data build, 63 training images" 0 "$exe" -q data build --variant none --max-train 71 \
    --max-test 50 --out "$small"
uargs="--data $small --epochs 1 --cnn-widths 8,16,32 --seed 3"
check "ule, 1 process, one step" 0 "$exe" -q ule $uargs --batch 63 --out "$tmp/uone"
check "ule, 2 ranks, one step" 0 mpi 2 "$exe" -q ule $uargs --batch 63 --out "$tmp/utwo"
one_report "ule, 2 ranks" "^ULE, lambda"
same_weights "ule student: 2 ranks = 1 process (weights, moments)" \
    "$tmp/uone/student.safetensors" "$tmp/utwo/student.safetensors" 1e-4
same_weights "ule teacher: 2 ranks = 1 process (weights, moments)" \
    "$tmp/uone/teacher.safetensors" "$tmp/utwo/teacher.safetensors" 1e-4
sgd="--batch 62 --optim sgd --momentum 0 --lr 0.01"
check "ule, 1 process, 62 + 1" 0 "$exe" -q ule $uargs $sgd --out "$tmp/uone61"
check "ule, 2 ranks, 62 + 1 (an empty slice)" 0 mpi 2 "$exe" -q ule $uargs $sgd \
    --out "$tmp/utwo61"
same_weights "ule student with an empty slice: 2 ranks = 1 process" \
    "$tmp/uone61/student.safetensors" "$tmp/utwo61/student.safetensors" 1e-4
same_weights "ule teacher with an empty slice: 2 ranks = 1 process" \
    "$tmp/uone61/teacher.safetensors" "$tmp/utwo61/teacher.safetensors" 1e-4

# SSL: each rank projects its slice, the embeddings are all-gathered, every
# rank computes the whole batch's loss (all negatives, BarlowTwins'
# statistics over the whole batch) and back-propagates its own rows; the
# gradients are summed. Batch norm would see a rank's slice only, so these
# comparisons turn it off (--cnn-norm none --proj-norm none). SimCLR: one
# AdamW step (31 and 32 samples a rank). BarlowTwins: 12 SGD steps of 20
# (the last of 3: slices of 1 and 2) at lr 1e-3 (at 1e-2 its loss jumps
# 57 -> 35 -> 47 and one process drifts from two by 6e-3 without a bug).
# LA-SSL: every rank observes the whole batch's cosines, so the speeds, the
# weights and the draws agree (the checkpoint's la.* tensors are compared).
sargs="--data $small --encoder cnn --cnn-widths 8,16,32 --seed 3 --cnn-norm none --proj-norm none --proj-hidden 512 --proj-dim 128 --knn-every 0"
for run in "simclr --epochs 1 --batch 63" \
           "barlow --epochs 3 --batch 20 --optim sgd --momentum 0 --lr 0.001" \
           "simclr --epochs 3 --batch 20 --sampler la --la-warmup 1 --la-every 1 --optim sgd --momentum 0 --lr 0.01"; do
    set -- $run
    sname="ssl $*"
    rm -rf "$tmp/sone" "$tmp/stwo"
    check "$sname, 1 process" 0 "$exe" -q ssl $sargs --method $run --out "$tmp/sone"
    check "$sname, 2 ranks" 0 mpi 2 "$exe" -q ssl $sargs --method $run --out "$tmp/stwo"
    same_weights "$sname: 2 ranks = 1 process (encoder, projector, moments, LA state)" \
        "$tmp/sone/last.safetensors" "$tmp/stwo/last.safetensors" 1e-4
done
one_report "ssl, 2 ranks" "^ssl: "
check "ssl with its defaults (resnet, batch norm per rank), 2 ranks" 0 mpi 2 "$exe" -q ssl --data "$small" \
    --epochs 1 --batch 32 --knn-bank 40 --knn-queries 7 --out "$tmp/sbn"
grep_in "ssl, 2 ranks: rank 0 logs the k-NN monitor" sbn/metrics.jsonl '"knn_acc":'

# evaluation is sharded: every rank evaluates its slice of each batch and
# the counts are summed (also inside training, so every rank selects the
# same checkpoint); eval under mpirun prints and writes rank 0's copy
check "eval, 1 process" 0 "$exe" -q eval --model "$tmp/one/last.safetensors" --data "$data" \
    --split both --json "$tmp/eval1.json"
check "eval, 3 ranks" 0 mpi 3 "$exe" -q eval --model "$tmp/one/last.safetensors" --data "$data" \
    --split both --json "$tmp/eval3.json"
n=$(grep -c "worst-group" "$tmp/out")
if [ "$n" -ge 1 ] && [ "$n" -le 2 ]; then echo "ok   eval, 3 ranks: rank 0's tables alone"; passes=$((passes+1));
else echo "FAIL eval, 3 ranks: $n worst-group lines"; cat "$tmp/out"; fails=$((fails+1)); fi
check "eval: 3 ranks = 1 process (counts exact, loss 1e-6)" 0 "$py" -c "
import json, sys
a = json.load(open(sys.argv[1])); b = json.load(open(sys.argv[2]))
for split in ('val', 'test'):
    x, y = a[split], b[split]
    for k in x:
        if k == 'loss':
            assert abs(x[k] - y[k]) <= 1e-6 * abs(x[k]), (split, k, x[k], y[k])
        else:
            assert x[k] == y[k], (split, k, x[k], y[k])
" "$tmp/eval1.json" "$tmp/eval3.json"
check "train --select val-avg, 2 ranks (every rank evaluates; no rank waits alone)" 0 mpi 2 "$exe" -q \
    train $targs --batch 59 --select val-avg --eval-every 4 --out "$tmp/sel"

# probe: the features are computed sharded and gathered in order, the head
# trains data-parallel on them (3 ranks, batch 100: slices of 33-34, the
# last batch 38 + an empty one)
check "probe, 1 process" 0 "$exe" -q probe --model "$tmp/one/last.safetensors" --data "$data" \
    --epochs 20 --batch 100 --json "$tmp/probe1.json"
check "probe, 3 ranks" 0 mpi 3 "$exe" -q probe --model "$tmp/one/last.safetensors" --data "$data" \
    --epochs 20 --batch 100 --json "$tmp/probe3.json"
check "probe: 3 ranks = 1 process (accuracies exact, loss 1e-5)" 0 "$py" -c "
import json, sys
a = json.load(open(sys.argv[1])); b = json.load(open(sys.argv[2]))
for split in ('val', 'test'):
    x, y = a[split], b[split]
    for k in ('acc', 'wga', 'group_acc', 'group_n'):
        assert x[k] == y[k], (split, k, x[k], y[k])
    assert abs(x['loss'] - y['loss']) <= 1e-5 * abs(x['loss']), (x['loss'], y['loss'])
" "$tmp/probe1.json" "$tmp/probe3.json"

# DFR: the features are computed sharded and gathered in order, so every
# rank holds all of them and draws the same balanced subsets; the values of
# C and the fits are shared out (rank r takes index r mod 2, each fit whole,
# as one process runs it) and the scores and heads summed over the ranks.
# Tolerance of the head (fc2 of dfr.safetensors: the fitted head folded with
# the standardisation): 2e-5 x its largest entry. Given the same features
# the fits are one process's bit for bit; the features differ in the last
# bits (other batch shapes in the convolutions and GEMMs), and 100 FISTA
# iterations (momentum) carry that on. Measured on PoCL (2 cores): 2.4e-6
# (of an SGD-trained cnn; 1.2e-6 of an AdamW one), so 2e-5 leaves 8x headroom, while a rank that averages its
# own fits alone (the heads not exchanged) gives 0.47. The tables must then
# be the same: accuracies exact (a prediction flips only at a near tie),
# loss within 1e-5.
dargs="--model $tmp/one/last.safetensors --data $data --fits 3 --iterations 100 --c-grid 1,0.1"
check "dfr, 1 process" 0 "$exe" -q dfr $dargs --out "$tmp/done"
check "dfr, 2 ranks" 0 mpi 2 "$exe" -q dfr $dargs --out "$tmp/dtwo"
one_report "dfr, 2 ranks" "^final head"
same_tree "dfr: 2 ranks write the files of 1 process" "$tmp/done" "$tmp/dtwo"
same_weights "dfr head: 2 ranks = 1 process" "$tmp/done/dfr.safetensors" "$tmp/dtwo/dfr.safetensors" 2e-5
check "dfr eval.json: 2 ranks = 1 process (accuracies exact, loss 1e-5)" 0 "$py" -c "
import json, sys
a = json.load(open(sys.argv[1])); b = json.load(open(sys.argv[2]))
for split in ('val', 'test'):
    x, y = a[split], b[split]
    for k in ('acc', 'wga', 'mean_group', 'weighted', 'group_acc', 'group_n'):
        assert x[k] == y[k], (split, k, x[k], y[k])
    assert abs(x['loss'] - y['loss']) <= 1e-5 * abs(x['loss']), (x['loss'], y['loss'])
    print(split, x['acc'], x['wga'], x['loss'], y['loss'])
" "$tmp/done/eval.json" "$tmp/dtwo/eval.json"
# 3 ranks: rank 2 scores no value of C (2 values) and runs one fit of 3
check "dfr, 3 ranks" 0 mpi 3 "$exe" -q dfr $dargs --out "$tmp/dthree"
same_weights "dfr head: 3 ranks = 1 process" "$tmp/done/dfr.safetensors" "$tmp/dthree/dfr.safetensors" 2e-5
# rank 0 alone checks --out (another rank would see rank 0's new files):
# its refusal ends the job
mpi 2 "$exe" -q dfr $dargs --out "$tmp/dtwo" >"$tmp/out" 2>"$tmp/err"
rc=$?
ended "dfr, 2 ranks, a used --out: refused"
grep_in "dfr, 2 ranks: rank 0's refusal" err "dtwo is not empty: pass --force"
grep_in "dfr, 2 ranks: the job is ended" err "rank 0 of 2 failed (exit 1); ending every rank"

# batch norm: each rank updates the running statistics from its slice, and
# before every evaluation rank 0's go to every rank, so the sharded
# evaluation is that of the checkpoint rank 0 writes: the run's last val
# loss is one process's eval of last.safetensors, up to the batch shapes'
# float32 rounding (seen 3e-8 relative; 5.6e-4 when each rank kept its own)
check "2 ranks, batch norm" 0 mpi 2 "$exe" -q train $targs --batch 59 --cnn-norm batch \
    --out "$tmp/bn2"
check "eval of its checkpoint, 1 process" 0 "$exe" -q eval --model "$tmp/bn2/last.safetensors" \
    --data "$data" --split val --json "$tmp/bn2.json"
check "batch norm, 2 ranks: the run evaluated its checkpoint's statistics (1e-6)" 0 "$py" -c "
import json, sys
m = [json.loads(l) for l in open(sys.argv[1])][-1]
e = json.load(open(sys.argv[2]))
a, b = m['val_loss'], e['val']['loss']
print('run', a, 'eval', b)
assert abs(a - b) <= 1e-6 * abs(b), (a, b)
assert m['val_acc'] == e['val']['acc'], (m['val_acc'], e['val']['acc'])
" "$tmp/bn2/metrics.jsonl" "$tmp/bn2.json"

# GroupDRO: the batch's group loss sums and counts are all-reduced, so q
# moves the same on every rank; each rank's loss is its part of
# sum_i q_g / n_g l_i and the gradients are summed. Group-balanced and
# shuffled sampling, and an empty slice (batch 537, last batch of 1)
cdata="$tmp/corrupt.safetensors"
check "data build (corrupt, 4 x 10 groups)" 0 "$exe" -q data build --variant corrupt --rho 0.9 \
    --max-train 600 --max-test 200 --out "$cdata"
for run in "--batch 59" "--batch 59 --shuffled" "--batch 537"; do
    rm -rf "$tmp/gone" "$tmp/gtwo"
    check "groupdro $run, 1 process" 0 "$exe" -q groupdro --data "$cdata" --epochs 2 \
        --cnn-widths 8,16,32 --seed 3 $sgd20 $run --out "$tmp/gone"
    check "groupdro $run, 2 ranks" 0 mpi 2 "$exe" -q groupdro --data "$cdata" --epochs 2 \
        --cnn-widths 8,16,32 --seed 3 $sgd20 $run --out "$tmp/gtwo"
    same_weights "groupdro $run: 2 ranks = 1 process" \
        "$tmp/gone/last.safetensors" "$tmp/gtwo/last.safetensors" 1e-4
    check "groupdro $run: dro.csv's q and group losses agree (1e-5)" 0 "$py" -c "
import csv, sys
a = list(csv.reader(open(sys.argv[1]))); b = list(csv.reader(open(sys.argv[2])))
assert a[0] == b[0] and len(a) == len(b) > 1, (len(a), len(b))
for x, y in zip(a[1:], b[1:]):
    for u, v in zip(x, y):
        assert (u == '') == (v == ''), (u, v)
        if u:
            assert abs(float(u) - float(v)) <= 1e-5 * max(1e-6, abs(float(u))), (u, v)
" "$tmp/gone/dro.csv" "$tmp/gtwo/dro.csv"
done

# compare: every rank runs every run (each trainer data-parallel, DFR's
# fits shared out); rank 0 alone reads done.json and the runs'
# metrics.jsonl, sends what it read, and writes every file. Tolerance of
# the tables (results.json, every number of the table and of every run's
# two selections): 1e-6. They are accuracies, ratios of counts of the
# models' predictions, so they agree exactly or differ by a whole
# prediction (1/200 and more): the weights of 1 process and 2 ranks differ
# by about 3e-7 of their scale (the train tests above, SGD), which flips a
# prediction only at a near tie, so 1e-6 asserts the same predictions at
# the same selected steps. Measured: identical. The runs' weights as in the
# train and dfr tests.
same_results() { # name a.json b.json
    if "$py" - "$2" "$3" >"$tmp/cmp" 2>&1 <<'PY'
import json, sys
a = json.load(open(sys.argv[1])); b = json.load(open(sys.argv[2]))
worst = [0.0]
def same(x, y, where):
    if isinstance(x, dict):
        assert sorted(x) == sorted(y), (where, sorted(x), sorted(y))
        for k in x:
            same(x[k], y[k], where + "." + k)
    elif isinstance(x, list):
        assert len(x) == len(y), (where, len(x), len(y))
        for i, (u, v) in enumerate(zip(x, y)):
            same(u, v, "%s[%d]" % (where, i))
    elif isinstance(x, (int, float)) and not isinstance(x, bool):
        worst[0] = max(worst[0], abs(x - y))
        assert abs(x - y) <= 1e-6, (where, x, y)
    else:
        assert x == y, (where, x, y)
same(a["table"], b["table"], "table")
same(a["runs"], b["runs"], "runs")
assert len(a["runs"]) >= 5, len(a["runs"])
print("%d rows, %d runs, largest difference %g" % (len(a["table"]), len(a["runs"]), worst[0]))
PY
    then echo "ok   $1 ($(tail -n 1 "$tmp/cmp"))"; passes=$((passes+1))
    else echo "FAIL $1:"; cat "$tmp/cmp"; fails=$((fails+1)); fi
}
cargs="--data $cdata --seeds 1 --epochs 2 --batch 59 --eval-every 5 --cnn-widths 8,16,32 \
    --id-epochs 1 --fits 2 --iterations 40 --c-grid 1,0.1 $sgd20"
check "compare, 1 process" 0 "$exe" -q compare $cargs --out "$tmp/cone"
check "compare, 2 ranks" 0 mpi 2 "$exe" -q compare $cargs --out "$tmp/ctwo"
n=$(grep -c "^dfr " "$tmp/out")
if [ "$n" -eq 1 ]; then echo "ok   compare, 2 ranks: one table (rank 0's)"; passes=$((passes+1));
else echo "FAIL compare, 2 ranks: $n tables"; cat "$tmp/out"; fails=$((fails+1)); fi
same_tree "compare: 2 ranks write the files of 1 process" "$tmp/cone" "$tmp/ctwo"
same_results "compare: 2 ranks' tables = 1 process's (1e-6)" "$tmp/cone/results.json" \
    "$tmp/ctwo/results.json"
same_weights "compare's erm: 2 ranks = 1 process" "$tmp/cone/erm/seed-0/last.safetensors" \
    "$tmp/ctwo/erm/seed-0/last.safetensors" 1e-4
same_weights "compare's dfr: 2 ranks = 1 process" "$tmp/cone/dfr/seed-0/dfr.safetensors" \
    "$tmp/ctwo/dfr/seed-0/dfr.safetensors" 1e-4
# again: rank 0 finds every done.json and tells the other rank
check "compare again, 2 ranks" 0 mpi 2 "$exe" compare $cargs --out "$tmp/ctwo"
grep_in "compare again, 2 ranks: nothing trained" err "0 runs trained, 5 found finished"
# rank 0 refuses a done.json of other settings and tells rank 1: both stop
# at that point and exit 1, without MPI_Abort (two ranks aborting at once
# crashed mpirun: exit 139)
check "compare, 2 ranks, other settings: refused, exit 1" 1 mpi 2 "$exe" -q compare $cargs \
    --lr 0.5 --out "$tmp/ctwo"
grep_in "compare, 2 ranks: rank 0's reason" err "done.json was made with other settings"
grep_in "compare, 2 ranks: rank 1 names rank 0" err "rank 0 failed (a run's done.json)"
if grep -q "ending every rank" "$tmp/err"; then echo "FAIL compare, 2 ranks: a rank aborted"
    cat "$tmp/err"; fails=$((fails+1)); else echo "ok   compare, 2 ranks: no rank aborted"
    passes=$((passes+1)); fi

# demo: every rank builds the data set in memory (seeded: its hash is
# checked against rank 0's), rank 0 alone writes spuco.safetensors, then
# the comparison as above (its DFR at the defaults: 7 values of C, 20 fits)
if [ -r /usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz ]; then
    margs="--max-train 200 --max-test 100 --seeds 1 --eval-every 2"
    check "demo, 1 process" 0 "$exe" -q demo $margs --out "$tmp/mone"
    check "demo, 2 ranks" 0 mpi 2 "$exe" -q demo $margs --out "$tmp/mtwo"
    one_report "demo, 2 ranks" "^SpuCo-style"
    check "demo, 2 ranks: the data set is one process's, byte for byte" 0 \
        cmp "$tmp/mone/spuco.safetensors" "$tmp/mtwo/spuco.safetensors"
    same_tree "demo: 2 ranks write the files of 1 process" "$tmp/mone" "$tmp/mtwo"
    same_results "demo: 2 ranks' tables = 1 process's (1e-6)" "$tmp/mone/results.json" \
        "$tmp/mtwo/results.json"
else
    echo "skip the demo under mpirun: no Fashion-MNIST (apt-get install dataset-fashion-mnist)"
fi

# --resume under mpirun: rank 0 resumes (and repairs the run's files), the
# other ranks load the same checkpoints read-only. A 2-rank run of 1 epoch
# resumed to 2 is the 2-rank run of 2 epochs, bit for bit; checkpoints move
# between N and 1 processes (within the tolerance: summation order); SSL
# (LA-SSL's sampler state in the checkpoint) and ULE (two models) too
rargs="--data $data --cnn-widths 8,16,32 --seed 3 --batch 59 $sgd20"
check "2 ranks, 1 epoch" 0 mpi 2 "$exe" -q train $rargs --epochs 1 --out "$tmp/res"
check "2 ranks, --resume to 2 epochs" 0 mpi 2 "$exe" -q train $rargs --epochs 2 --out "$tmp/res" \
    --resume
bit_identical "resumed under mpirun = the 2-rank run of 2 epochs" "$tmp/two/last.safetensors" \
    "$tmp/res/last.safetensors"
check "resumed run: metrics.jsonl has the 2 epochs" 0 test "$(wc -l < "$tmp/res/metrics.jsonl")" -eq 2
check "2 ranks, 1 epoch (for one process)" 0 mpi 2 "$exe" -q train $rargs --epochs 1 --out "$tmp/r21"
check "one process resumes a 2-rank run" 0 "$exe" -q train $rargs --epochs 2 --out "$tmp/r21" --resume
same_weights "2-rank checkpoint resumed by one process = 2 ranks" \
    "$tmp/two/last.safetensors" "$tmp/r21/last.safetensors" 1e-4
check "1 process, 1 epoch (for 2 ranks)" 0 "$exe" -q train $rargs --epochs 1 --out "$tmp/r12"
check "2 ranks resume a 1-process run" 0 mpi 2 "$exe" -q train $rargs --epochs 2 --out "$tmp/r12" \
    --resume
same_weights "1-process checkpoint resumed by 2 ranks = 1 process" \
    "$tmp/one/last.safetensors" "$tmp/r12/last.safetensors" 1e-4
lsargs="--data $small --encoder cnn --cnn-widths 8,16,32 --proj-hidden 512 --proj-dim 128 --seed 3 --batch 20 --knn-every 0 --sampler la --la-warmup 1 --la-every 1"
check "ssl (LA), 2 ranks, 3 epochs" 0 mpi 2 "$exe" -q ssl $lsargs --epochs 3 --out "$tmp/sl3"
check "ssl (LA), 2 ranks, 1 epoch" 0 mpi 2 "$exe" -q ssl $lsargs --epochs 1 --out "$tmp/sl1"
check "ssl (LA), 2 ranks, --resume to 3" 0 mpi 2 "$exe" -q ssl $lsargs --epochs 3 --out "$tmp/sl1" \
    --resume
bit_identical "ssl resumed under mpirun = straight (with the LA state)" "$tmp/sl3/last.safetensors" \
    "$tmp/sl1/last.safetensors"
ruargs="--data $small --cnn-widths 8,16,32 --seed 3 --batch 20"
check "ule, 2 ranks, 2 epochs" 0 mpi 2 "$exe" -q ule $ruargs --epochs 2 --out "$tmp/ul2"
check "ule, 2 ranks, 1 epoch" 0 mpi 2 "$exe" -q ule $ruargs --epochs 1 --out "$tmp/ul1"
check "ule, 2 ranks, --resume to 2" 0 mpi 2 "$exe" -q ule $ruargs --epochs 2 --out "$tmp/ul1" --resume
bit_identical "ule teacher resumed under mpirun = straight" "$tmp/ul2/teacher.safetensors" \
    "$tmp/ul1/teacher.safetensors"

# a rank that fails (rank 1 finds no device; rank 0 would wait for it in
# the weights' broadcast): it says so and MPI_Abort ends the job
mpi 1 "$exe" -q train $targs --batch 59 --out "$tmp/failed" : \
    -np 1 "$exe" -q --device no-such-device train $targs --batch 59 --out "$tmp/failed" \
    >"$tmp/out" 2>"$tmp/err"
rc=$?
ended "failed rank: the job ended"
grep_in "failed rank: its reason" err "no OpenCL device matches 'no-such-device'"
grep_in "failed rank: named" err "rank 1 of 2 failed (exit 1); ending every rank"

# a rank killed in epoch 2 (step 12; epoch 1 has 10): the job ends, named,
# within the timeout, and epoch 1's checkpoint stays
start=$(date +%s)
SC_TEST_DIST_KILL=1:12 mpi 2 -x SC_TEST_DIST_KILL "$exe" -q train $targs --batch 59 \
    --out "$tmp/killed" >"$tmp/out" 2>"$tmp/err"
rc=$?
secs=$(($(date +%s) - start))
if grep -q "SC_TEST_DIST_KILL" "$tmp/err"; then
    ended "killed rank: the job ended" 120
    grep_in "killed rank: named by mpirun" err "process rank 1 .*exited on signal 9"
    check "killed rank: epoch 1's checkpoint is whole" 0 "$py" "$compare" \
        "$tmp/killed/last.safetensors" "$tmp/killed/last.safetensors" --exact
    grep_in "killed rank: run.json names epoch 1" killed/run.json '"epoch":[[:space:]]*1'
else
    echo "skip the killed-rank test: SC_TEST_DIST_KILL is compiled out (NDEBUG)"
fi

# a rank stuck at step 12 (asleep, as in a driver call that never returns):
# rank 0 gives up waiting in the gradient exchange after SPURCL_DIST_TIMEOUT
# seconds, names it, and the job ends; epoch 1's checkpoint stays
start=$(date +%s)
SPURCL_DIST_TIMEOUT=3 SC_TEST_DIST_HANG=1:12 mpi 2 -x SPURCL_DIST_TIMEOUT -x SC_TEST_DIST_HANG \
    "$exe" -q train $targs --batch 59 --out "$tmp/stuck" >"$tmp/out" 2>"$tmp/err"
rc=$?
secs=$(($(date +%s) - start))
if grep -q "SC_TEST_DIST_HANG" "$tmp/err"; then
    ended "stuck rank: the job ended" 120
    grep_in "stuck rank: the wait is named" err \
        "MPI_Allreduce (.*) on rank 0 of 2: waited 3 s for the other ranks (SPURCL_DIST_TIMEOUT)"
    grep_in "stuck rank: the job is ended" err "rank 0 of 2 failed (exit 1); ending every rank"
    check "stuck rank: epoch 1's checkpoint is whole" 0 "$py" "$compare" \
        "$tmp/stuck/last.safetensors" "$tmp/stuck/last.safetensors" --exact
else
    echo "skip the stuck-rank test: SC_TEST_DIST_HANG is compiled out (NDEBUG)"
fi

# a bad timeout is refused by name before anything runs
SPURCL_DIST_TIMEOUT=soon mpi 2 -x SPURCL_DIST_TIMEOUT "$exe" devices >"$tmp/out" 2>"$tmp/err"
rc=$?
ended "bad SPURCL_DIST_TIMEOUT: refused"
grep_in "bad SPURCL_DIST_TIMEOUT: named" err "SPURCL_DIST_TIMEOUT 'soon': expected seconds"

echo "$passes passed, $fails failed"
[ "$fails" -eq 0 ]
