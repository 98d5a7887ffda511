# Set-up, main job and tests. `make run` and `make test` create .venv when it is missing.
PY ?= python3.11
VENV := .venv
BIN := $(VENV)/bin

.PHONY: run test lint bench setup

$(BIN)/bsnas: pyproject.toml
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	# The tested CPU build; a bare `torch` would resolve to a multi-GB CUDA build.
	$(BIN)/pip install -q torch==2.13.0
	$(BIN)/pip install -q -e '.[dev]'
	touch $(BIN)/bsnas

setup: $(BIN)/bsnas

run: setup
	$(BIN)/bsnas baselines

test: setup
	$(BIN)/python -m pytest -q

lint: setup
	$(BIN)/ruff check bsnas tests benchmarks

bench: setup
	$(BIN)/python benchmarks/bench_count.py
