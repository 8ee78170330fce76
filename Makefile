# plexnet — the README's quick start is `make demo` and `make test`.
# Each target creates or updates the virtual environment first.

PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.plexnet-installed
DEMO_HOME ?= $(CURDIR)/demo-home

.PHONY: demo test lint bench clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	# CPU build from local disk; an unpinned torch would pull a multi-GB CUDA build.
	$(PY) -m pip install --quiet torch==2.13.0
	$(PY) -m pip install --quiet -e '.[dev,postgres]'
	touch $(STAMP)

demo: $(STAMP)
	$(VENV)/bin/plexnet --home $(DEMO_HOME) demo --fresh

test: $(STAMP)
	$(PY) -m pytest

lint: $(STAMP)
	$(VENV)/bin/ruff check src tests bench
	$(VENV)/bin/mypy src/plexnet/core src/plexnet/ledger src/plexnet/compute

bench: $(STAMP)
	$(PY) bench/ledger.py
	$(PY) bench/placement.py
	$(PY) bench/verification.py
	$(PY) bench/execution.py
	$(PY) bench/training.py
	$(PY) bench/simulate.py
	$(PY) bench/data_labels.py
	$(PY) bench/data_dedup.py
	$(PY) bench/data_backdoor.py
	$(PY) bench/data_curation.py
	$(PY) bench/data_synthetic.py
	$(PY) bench/data_privacy.py
	$(PY) bench/data_admission.py

clean:
	rm -rf $(VENV) $(DEMO_HOME) .pytest_cache .mypy_cache .ruff_cache
