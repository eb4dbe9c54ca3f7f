# Quick start:  make demo   (set up, then design 4 proteins with the bundled model)
#               make test   (set up, then run the test suite)
PY ?= python3

setup:
	$(PY) -m pip install -q torch==2.13.0
	$(PY) -m pip install -q -e ".[serve,test]" -e domains/protein -e domains/code

demo: setup
	seqdiff design-protein --length 100-150 -n 4 --seed 0 --out runs/demo --resume
	head -4 runs/demo/designs.fasta

test: setup
	# one pytest session over tests/ and both domains (pyproject's testpaths)
	$(PY) -m pytest -q -p no:cacheprovider

.PHONY: setup demo test
