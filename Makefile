# The two commands a newcomer runs: `make demo` and `make test`.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin

.PHONY: demo test install install-test lint bench

$(BIN)/python:
	$(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip

install: $(BIN)/python
	$(BIN)/pip install -q -e .

install-test: $(BIN)/python
	$(BIN)/pip install -q -e '.[test]'

demo: install
	$(BIN)/bastion demo

lint: install-test
	$(BIN)/ruff check src tests
	$(BIN)/mypy src

test: install-test lint
	$(BIN)/pytest -q

bench: install-test
	$(BIN)/python -m bench.run
