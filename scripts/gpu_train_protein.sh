#!/usr/bin/env bash
# Train the bundled protein generator and scorer side by side on one lent GPU (device tool).
# Expects the protein FASTA files copied to .gpu/proteins and wheels in .whl (see README "Training").
set -u
export PYTHONUNBUFFERED=1
OUT=${OUT:-/tmp/out}
MIN=${MINUTES:-5}
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl && export PYTHONPATH=/tmp/site
python3 -m pip install -q --no-deps --no-build-isolation -e . -e domains/protein > "$OUT/pip.log" 2>&1 || { cat "$OUT/pip.log"; exit 1; }
nvidia-smi --query-gpu=name,memory.total --format=csv,noheader
common=(--set data.paths=[.gpu/proteins] --set trainer.num_workers=3 --set trainer.progress=false
        --set trainer.max_time_minutes=$MIN)
seqdiff train --config configs/protein-small.yaml "${common[@]}" --set export.dir=$OUT/protein-small \
  > "$OUT/train_generator.log" 2>&1 &
g=$!
seqdiff train --config configs/protein-scorer.yaml "${common[@]}" --set export.dir=$OUT/scorer \
  > "$OUT/train_scorer.log" 2>&1 &
s=$!
wait $g; echo "generator exit $?"; wait $s; echo "scorer exit $?"
for m in protein-small scorer; do
  [ -d "$OUT/$m" ] && tar -C "$OUT" -cf "$OUT/$m.tar" "$m" && rm -r "$OUT/$m"
  cat runs/protein-*/train_summary.json 2>/dev/null | head -0
done
cp runs/protein-small/train_summary.json "$OUT/summary_generator.json" 2>/dev/null
cp runs/protein-scorer/train_summary.json "$OUT/summary_scorer.json" 2>/dev/null
tail -5 "$OUT/train_generator.log" "$OUT/train_scorer.log"
cat "$OUT"/summary_*.json
