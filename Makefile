# Two commands do all set-up on a fresh machine with Python 3.11+:
#   make run   trains the quickstart model (digits, offline) into runs/quickstart
#   make test  runs the test suite
PYTHON ?= python3
VENV := .venv
STAMP := $(VENV)/.installed
CONFIG ?= configs/quickstart.py
WORKDIR ?= runs/quickstart

.PHONY: run test test-slow bench clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/python -m pip install --quiet --upgrade pip
	$(VENV)/bin/python -m pip install --quiet -e '.[test]'
	touch $(STAMP)

run: $(STAMP)
	$(VENV)/bin/python -m experiments.main --config $(CONFIG) --workdir $(WORKDIR)

test: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/python -m pytest -n 2 -q

test-slow: $(STAMP)
	$(VENV)/bin/python -m pytest -q -m slow

bench: $(STAMP)
	$(VENV)/bin/python -m benchmarks.sampling_benchmark

clean:
	rm -rf $(VENV) runs
