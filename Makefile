# The README's two commands: `make book` and `make test`. Both create or refresh .venv first.
PYTHON ?= python3
PROFILE ?= demo
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp

.PHONY: venv data book test clean-book clean-data benchmarks

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -e ".[test,deepvariant]"
	$(BIN)/python -m ipykernel install --sys-prefix --name python3 --display-name "Python 3 (lowcov)" >/dev/null
	touch $(STAMP)

venv: $(STAMP)

## the demo (or seed) dataset only
data: venv
	$(BIN)/python -m lowcov.acquire --profile $(PROFILE)

## run every notebook with papermill, then render the HTML book into _build/html
book: venv
	$(BIN)/python -m lowcov.book --profile $(PROFILE)

## pytest-xdist: one worker per core, at most four (each worker imports torch and TensorFlow)
test: venv
	$(BIN)/python -m pytest --numprocesses=auto --maxprocesses=4

benchmarks: venv
	$(BIN)/python benchmarks/benchmark_coverage.py

clean-book:
	rm -rf _build book/executed

clean-data:
	rm -rf data/$(PROFILE)
