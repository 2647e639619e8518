# deltaprop: `make demo` trains the book's network on MNIST; `make test` runs the tests.
# Each creates .venv with the project and its test tools if missing; nothing else is needed.

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-dev

.PHONY: demo test lint-imports clean help

help:
	@echo "make demo   - train 784-30-10 on MNIST as in the book (needs >= 95% test accuracy)"
	@echo "make test   - the floors contract, pyflakes-level lint, mypy on src, then the test suite (unit, property,"
	@echo "              worked examples, crash and resume, CLI, short MNIST run); installs Debian's pdflatex"
	@echo "              and chromium first when it can (root and apt-get), for the LaTeX and browser tests"
	@echo "make clean  - remove .venv and caches"

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check torch==2.13.0
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[dev]'
	@touch $(STAMP)

demo: $(STAMP)
	$(BIN)/deltaprop demo --epochs 30 --require 0.95

test: $(STAMP)
	@sh .ci/ensure-pdflatex
	@sh .ci/ensure-chromium
	$(BIN)/lint-imports
	$(BIN)/ruff check --quiet --select F src tests benchmarks
	$(BIN)/mypy
	$(BIN)/python -m pytest

clean:
	rm -rf $(VENV) .pytest_cache .hypothesis .mypy_cache build src/*.egg-info

# make bench: the benchmark suite (benchmarks/README.md): deltaprop, PyTorch, JAX and
# scikit-learn on the workloads W1-W4 (scikit-learn not on W4), each in its own venv under benchmarks/.venvs/
# (created if missing). Never part of `make test`. Options go through BENCH_ARGS, e.g.
#   make bench BENCH_ARGS="--quick --workloads W1 --rounds 2"   (the bar chart is always drawn)
BENCH_ARGS ?=
.PHONY: bench
bench:
	$(PYTHON) benchmarks/run.py --plot $(BENCH_ARGS)
