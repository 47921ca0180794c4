#!/bin/bash
# Device call 6: SimCLR uniform vs LA, 30 epochs, 3 seeds, 6 processes at once on the GPU.
R=$PWD; D=$R/.dev; B=$D/build; S=$B/spurcl; T0=$(date +%s)
L=$OUT/log6.txt
mkdir -p /tmp/r; for f in $D/debs/*.deb; do case $f in *dataset-fashion*) dpkg -x $f / ;; *) dpkg -x $f /tmp/r ;; esac; done
export LD_LIBRARY_PATH=/tmp/r/usr/lib/x86_64-linux-gnu:/tmp/r/usr/lib/x86_64-linux-gnu/openblas-pthread:$B
mkdir -p /tmp/icd; echo /usr/local/nvidia/lib64/libnvidia-opencl.so.1 > /tmp/icd/nvidia.icd; export OCL_ICD_VENDORS=/tmp/icd
W=/tmp/w; mkdir -p $W; cd $W
$S -q data build --variant corrupt --rho 0.95 --max-train 10000 --seed 0 --out c.safetensors >> $L 2>&1
pids=""
for seed in 0 1 2; do for s in uniform la; do
  n=r_${s}_$seed
  ( timeout 250 $S -q ssl --data c.safetensors --method simclr --sampler $s --epochs 30 --la-warmup 10 --la-every 1 --seed $seed --out $n > $n.txt 2>&1 &&
    timeout 60 $S -q probe --model $n/last.safetensors --data c.safetensors --seed $seed --json $n/probe.json >> $n.txt 2>&1 ) < /dev/null &
  pids="$pids $!"
done; done
wait $pids
echo "ssl done $(( $(date +%s) - T0 ))s" >> $L
for f in r_*/probe.json; do python3 -c "
import json; d=json.load(open('$f')); m=[json.loads(l) for l in open('$(dirname $f)/metrics.jsonl')]
print('%-14s val %.4f test %.4f wga %.4f  speed a/c %.3f/%.3f mass_c %.3f ep_s %.2f' % ('$(dirname $f)', d['val']['acc'], d['test']['acc'], d['test']['wga'], m[-1]['speed_aligned'], m[-1]['speed_conflicting'], m[-1].get('mass_conflicting',0), m[-1].get('epoch_s',0)))" >> $L 2>&1; done
tar czf $OUT/ssl30.tgz r_*/metrics.jsonl r_*/probe.json r_*.txt 2>/dev/null
echo "end $(( $(date +%s) - T0 ))s" >> $L
cat $L
