# Sourced by the scripts/gpu_*.sh jobs on a lent GPU machine: installs the carried wheels (.whl) and seqdiff
# with the protein domain, without network; sets OUT and unbuffered Python output.
set -u
export PYTHONUNBUFFERED=1
OUT=${OUT:-/tmp/out}
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl \
  && export PYTHONPATH=/tmp/site
python3 -m pip install -q --no-deps --no-build-isolation -e . -e domains/protein > "$OUT/pip.log" 2>&1 \
  || { cat "$OUT/pip.log"; exit 1; }
