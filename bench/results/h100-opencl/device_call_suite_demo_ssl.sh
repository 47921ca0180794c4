#!/bin/bash
# Device call 2: suite after the fixes, op bench, per-kernel profiles, the demo, LA-SSL epoch cost.
R=$PWD; D=$R/.dev; B=$D/build; T0=$(date +%s)
exec > >(tee $OUT/log2.txt) 2>&1
mkdir -p /tmp/r; for f in $D/debs/*.deb; do case $f in *dataset-fashion*) dpkg -x $f / ;; *) dpkg -x $f /tmp/r ;; esac; done
export LD_LIBRARY_PATH=/tmp/r/usr/lib/x86_64-linux-gnu:/tmp/r/usr/lib/x86_64-linux-gnu/openblas-pthread:$B
mkdir -p /tmp/icd; echo /usr/local/nvidia/lib64/libnvidia-opencl.so.1 > /tmp/icd/nvidia.icd; export OCL_ICD_VENDORS=/tmp/icd
nproc; nvidia-smi --query-gpu=name,driver_version --format=csv,noheader
echo "=== tests"
python3 $D/run_tests.py "$R" "$B"
echo "=== op bench $(( $(date +%s) - T0 ))s"
cd $R
timeout 150 $B/bench/spurcl-bench --shapes bench/shapes.json --repeat 20 --warmup 3 > $OUT/spurcl-gpu.jsonl
python3 bench/compare.py $OUT/spurcl-gpu.jsonl $D/torch-cuda.jsonl
echo "=== profiles $(( $(date +%s) - T0 ))s"
for e in model.cnn.ce model.cnn.ule_a model.vit.ce conv2d.conv1 layer_norm.vit; do
  SPURCL_PROFILE=/tmp/p.csv timeout 60 $B/bench/spurcl-bench --only $e --repeat 5 --warmup 1 > /dev/null
  echo "## $e"; sort -t, -k3 -g -r /tmp/p.csv | head -12
done > $OUT/profiles.txt
echo "=== demo $(( $(date +%s) - T0 ))s"
timeout 230 $B/spurcl demo --out /tmp/demo > $OUT/demo.txt 2>&1; echo "demo rc=$? $(( $(date +%s) - T0 ))s"
cat $OUT/demo.txt | tail -40
cp /tmp/demo/*.png $OUT/ 2>/dev/null
echo "=== ssl epoch $(( $(date +%s) - T0 ))s"
left=$(( 560 - ($(date +%s) - T0) ))
[ $left -gt 60 ] && timeout $left sh bench/ssl_epoch.sh $B/spurcl 3 4 > $OUT/ssl_epoch.txt 2>&1; cat $OUT/ssl_epoch.txt
echo "end $(( $(date +%s) - T0 ))s"
