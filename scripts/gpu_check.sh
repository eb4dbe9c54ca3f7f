#!/usr/bin/env bash
# One prepared call on a lent GPU (device tool): CUDA-graph equivalence tests, the latency/throughput table,
# and a quick protein bench at batch 64. Carry .whl (biopython wheel for the protein domain).
source scripts/gpu_setup.sh
nvidia-smi --query-gpu=name,memory.total --format=csv,noheader
timeout 300 python3 scripts/gpu_latency.py --json "$OUT/gpu_latency.json" 2>&1 | tee "$OUT/gpu_latency.log"
timeout 90 python3 -m pytest -q -p no:cacheprovider tests/test_graphs.py tests/test_cache.py 2>&1 | tail -4
timeout 120 seqdiff bench --model protein --length 256 --batch-size 64 --designs 64 --grid quick --device cuda \
  --json "$OUT/bench_gpu.json" 2>"$OUT/bench_gpu.err" | tee "$OUT/bench_gpu.log"
tail -3 "$OUT/bench_gpu.err"
