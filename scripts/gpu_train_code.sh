#!/usr/bin/env bash
# On a lent GPU (device tool): train the bundled code model, then measure protein-model GPU latency.
# Carry runs/corpus-stdlib-py311 (python -m seqdiff_code.corpus snapshot runs/corpus-stdlib-py311).
set -u
export PYTHONUNBUFFERED=1
OUT=${OUT:-/tmp/out}
python3 -m pip install -q --no-deps --no-build-isolation -e . -e domains/code > "$OUT/pip.log" 2>&1 || { cat "$OUT/pip.log"; exit 1; }
seqdiff train --config configs/code-small.yaml --set 'data.paths=[runs/corpus-stdlib-py311]' \
  --set trainer.progress=false --set trainer.max_time_minutes=${MINUTES:-4.5} --set trainer.max_steps=${STEPS:-6000} \
  --set export.dir=$OUT/code-small > "$OUT/train_code.log" 2>&1
echo "train exit $?"
[ -d "$OUT/code-small" ] && tar -C "$OUT" -cf "$OUT/code-small.tar" code-small && rm -r "$OUT/code-small"
cp runs/code-small/train_summary.json "$OUT/summary_code.json" 2>/dev/null; cat "$OUT/summary_code.json"
timeout 120 python3 scripts/gpu_latency.py --json "$OUT/gpu_latency.json"
