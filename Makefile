# Two commands on a fresh machine: `make demo` and `make test`. Both create or
# refresh the virtual environment at .venv first (idempotent: reinstalls only
# when pyproject.toml changed or the environment is missing).
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
PYTEST_ARGS ?=

.PHONY: venv demo test bench clean

venv: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	# torch first, pinned: the CPU wheel (an unpinned torch pulls CUDA packages)
	$(PY) -m pip install --quiet torch==2.13.0
	$(PY) -m pip install --quiet -e ".[tf,legacy,dev,demo]"
	touch $(STAMP)

demo: venv
	TF_CPP_MIN_LOG_LEVEL=2 $(VENV)/bin/rlmigrate demo --out demo_out

test: venv
	TF_CPP_MIN_LOG_LEVEL=2 $(PY) -m pytest -n 2 --dist loadfile $(PYTEST_ARGS)

bench: venv
	# every script in benchmarks/ -> benchmarks/results/latest.{json,md}; e.g. BENCH_ARGS="--only forward_overhead"
	$(PY) benchmarks/run_all.py $(BENCH_ARGS)

clean:
	rm -rf $(VENV) demo_out .pytest_cache
