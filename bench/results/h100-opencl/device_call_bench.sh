#!/bin/bash
# Device call 4: split-K GEMM; CLBlast vs the native GEMM kernel per shape.
R=$PWD; D=$R/.dev; B=$D/build; T0=$(date +%s)
exec > >(tee $OUT/log4.txt) 2>&1
mkdir -p /tmp/r; for f in $D/debs/*.deb; do dpkg -x $f /tmp/r; done
export LD_LIBRARY_PATH=/tmp/r/usr/lib/x86_64-linux-gnu:/tmp/r/usr/lib/x86_64-linux-gnu/openblas-pthread:$B
mkdir -p /tmp/icd; echo /usr/local/nvidia/lib64/libnvidia-opencl.so.1 > /tmp/icd/nvidia.icd; export OCL_ICD_VENDORS=/tmp/icd
cd $B && for t in tests/test_nn_math tests/test_nn_conv tests/test_fixtures tests/test_train; do SPURCL_TEST_SRCDIR=$R ./$t | tail -1; done; cd $R
timeout 150 $B/bench/spurcl-bench --shapes bench/shapes.json --repeat 20 --warmup 3 > $OUT/spurcl-gpu.jsonl
python3 bench/compare.py $OUT/spurcl-gpu.jsonl $D/torch-cuda.jsonl
echo "## native GEMM"
SPURCL_GEMM=native timeout 150 $B/bench/spurcl-bench --shapes bench/shapes.json --repeat 20 --warmup 3 > $OUT/spurcl-gpu-native.jsonl
python3 bench/compare.py $OUT/spurcl-gpu-native.jsonl $D/torch-cuda.jsonl
for e in conv2d.conv1 model.cnn.ce model.vit.ce; do
  for gm in clblast native; do
  SPURCL_GEMM=$gm SPURCL_PROFILE=/tmp/p.csv timeout 60 $B/bench/spurcl-bench --only $e --repeat 5 --warmup 1 > /dev/null
  echo "## $e $gm"; sort -t, -k3 -g -r /tmp/p.csv | head -12
  done
done > $OUT/profiles4.txt 2>&1
cat $OUT/profiles4.txt
echo "end $(( $(date +%s) - T0 ))s"
