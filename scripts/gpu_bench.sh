#!/usr/bin/env bash
# `seqdiff bench` for the bundled protein model on a lent GPU (device tool), with the bundled scorer through
# fair-esm and natural reference rows. Carry .whl (fair-esm and biopython wheels) and .gpu (test-split sequences
# of ../shared/data/proteins written to .gpu/ref/test_split.fasta, since ../shared does not travel).
source scripts/gpu_setup.sh
mkdir -p ../shared/data && ln -sfn "$PWD/.gpu/ref" ../shared/data/proteins
nvidia-smi --query-gpu=name --format=csv,noheader
timeout 240 seqdiff bench --model protein --length 1024 --batch-size 1 --designs 8 --device cuda \
  --only ancestral-128,ancestral-64,ancestral-32 --json "$OUT/bench1024_gpu.json" 2>"$OUT/bench1024_gpu.err"
tail -2 "$OUT/bench1024_gpu.err"
timeout 200 seqdiff bench --model protein --length 256 --batch-size 1 --designs 16 --device cuda \
  --only ancestral --json "$OUT/bench256_gpu.json" 2>"$OUT/bench256_gpu.err"
tail -2 "$OUT/bench256_gpu.err"
