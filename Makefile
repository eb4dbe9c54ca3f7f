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
	# each test folder has its own conftest helpers, so each runs as its own session
	$(PY) -m pytest -q -p no:cacheprovider tests
	$(PY) -m pytest -q -p no:cacheprovider domains/protein/tests
	$(PY) -m pytest -q -p no:cacheprovider domains/code/tests

.PHONY: setup demo test
