# deltaprop: `make demo` trains the book's network on MNIST; `make test` runs the tests.
# Each creates .venv with the project and its test tools if missing; nothing else is needed.

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-dev

.PHONY: demo test lint-imports clean help

help:
	@echo "make demo   - train 784-30-10 on MNIST as in the book (needs >= 95% test accuracy)"
	@echo "make test   - run the test suite (unit, property, worked examples, short MNIST run)"
	@echo "make clean  - remove .venv and caches"

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[dev]'
	@touch $(STAMP)

demo: $(STAMP)
	$(BIN)/deltaprop demo --epochs 30 --require 0.95

test: $(STAMP)
	$(BIN)/lint-imports
	$(BIN)/python -m pytest

clean:
	rm -rf $(VENV) .pytest_cache .hypothesis build src/*.egg-info
