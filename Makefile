# Two commands do all set-up on a fresh machine with Python 3.11+:
#   make run       trains the quickstart model (digits, offline) into runs/quickstart
#   make test-all  runs the whole test suite: the default tier, the slow tier, then the docs build
# `make test` runs the default tier alone (under 10 minutes on 2 cores), the everyday loop.
# `make docs` builds the documentation site into site/ (warnings are errors; runs the examples).
PYTHON ?= python3
VENV := .venv
STAMP := $(VENV)/.installed
DOCS_STAMP := $(VENV)/.docs-installed
CONFIG ?= configs/quickstart.py
WORKDIR ?= runs/quickstart

.PHONY: run test test-slow test-all docs bench clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/python -m pip install --quiet --upgrade pip
	$(VENV)/bin/python -m pip install --quiet -e '.[test]'
	touch $(STAMP)

$(DOCS_STAMP): $(STAMP) pyproject.toml
	$(VENV)/bin/python -m pip install --quiet -e '.[test,docs]'
	touch $(DOCS_STAMP)

run: $(STAMP)
	$(VENV)/bin/python -m experiments.main --config $(CONFIG) --workdir $(WORKDIR)

test: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy
	$(VENV)/bin/python -m pytest -n 2 -q

test-slow: $(STAMP)
	$(VENV)/bin/python -m pytest -n 2 -q -m slow

test-all: test test-slow docs

docs: $(DOCS_STAMP)
	NO_MKDOCS_2_WARNING=1 $(VENV)/bin/python -m mkdocs build --strict

bench: $(STAMP)
	$(VENV)/bin/python -m benchmarks.sampling_benchmark

clean:
	rm -rf $(VENV) runs
