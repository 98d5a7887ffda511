# Set-up, main job and tests. `make run` and `make test` create .venv when it is missing.
PY ?= python3.11
VENV := .venv
BIN := $(VENV)/bin

.PHONY: run test test-slow lint bench setup browser

$(BIN)/bsnas: pyproject.toml
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	# The tested CPU build; a bare `torch` would resolve to a multi-GB CUDA build.
	$(BIN)/pip install -q torch==2.13.0
	$(BIN)/pip install -q -e '.[dev,postgres,plot,onnx,dashboard,nni]'
	touch $(BIN)/bsnas

setup: $(BIN)/bsnas

# The quickstart: a real search on the embedded digits data with the tiny space, then its Pareto front.
run: setup
	rm -rf runs/quickstart
	$(BIN)/bsnas search --space tiny --data digits --trials 24 --epochs 10 --study quickstart

test: setup
	$(BIN)/python -m pytest -q

# The slow suite (real processes killed mid-trial, waits for dead workers): CI runs it after `make test`.
test-slow: setup
	$(BIN)/python -m pytest -q -m slow

lint: setup
	$(BIN)/ruff check bsnas tests benchmarks

bench: setup
	$(BIN)/python benchmarks/bench_count.py

# Chromium for the HTML plot test (tests/test_plots_browser.py skips without it); as root on Debian.
# Never fails: without it that one test skips and says why.
browser:
	command -v chromium >/dev/null 2>&1 || { apt-get update -qq; DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium; } >/dev/null 2>&1 || true
