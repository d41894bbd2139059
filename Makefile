# Two commands matter: `make demo` and `make test`. Both create .venv on a fresh
# machine (only Python 3.11 and make needed) and install from wheels.
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
PY := $(BIN)/python
# Compiled engine code is cached here so a second run does not recompile.
export MARROWSIM_CACHE_DIR ?= $(CURDIR)/.marrowsim-cache

.PHONY: demo test lint bench clean install install-dev

$(BIN)/activate:
	@command -v $(PYTHON) >/dev/null 2>&1 || { echo "error: $(PYTHON) not found; install Python 3.11 or run 'make PYTHON=python3 ...'"; exit 2; }
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip

$(VENV)/.installed: pyproject.toml | $(BIN)/activate
	$(PY) -m pip install --quiet -e .
	@touch $@

$(VENV)/.installed-dev: pyproject.toml | $(BIN)/activate
	$(PY) -m pip install --quiet -e '.[dev,sbml]'
	@touch $@ $(VENV)/.installed

install: $(VENV)/.installed
install-dev: $(VENV)/.installed-dev

demo: $(VENV)/.installed
	$(BIN)/marrowsim run --patients 200 --out out/demo

lint: $(VENV)/.installed-dev
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/ruff format --check src tests benchmarks
	$(BIN)/mypy

test: lint
	$(BIN)/pytest -q

bench: $(VENV)/.installed-dev
	$(PY) benchmarks/bench_engine.py
	$(PY) benchmarks/bench_trial.py
	$(PY) benchmarks/bench_sbml.py

clean:
	rm -rf $(VENV) .marrowsim-cache out
