# genomamba developer entry points. Everything runs inside .venv, created on demand.
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
PIP    := $(PY) -m pip
STAMP  := $(VENV)/.installed-stamp
# CPU wheel of torch; installed first so the dependency resolver never pulls a CUDA build.
TORCH_SPEC ?= torch==2.13.0
PYTEST_ARGS ?=

.PHONY: venv install demo test lint bench clean

$(PY):
	$(PYTHON) -m venv $(VENV)
	$(PIP) install -q --upgrade pip

$(STAMP): $(PY) pyproject.toml
	$(PY) -c "import torch" 2>/dev/null || $(PIP) install -q "$(TORCH_SPEC)"
	$(PIP) install -q -e ".[dev,workflows]"
	touch $(STAMP)

venv: $(PY)
install: $(STAMP)

demo: install
	$(VENV)/bin/genomamba demo

test: install
	$(PY) -m pytest $(PYTEST_ARGS)

lint: install
	$(VENV)/bin/ruff check genomamba kernels tests benchmarks

bench: install
	$(PY) benchmarks/bench_tokenize.py
	$(PY) benchmarks/bench_scan.py

clean:
	rm -rf $(VENV) build dist *.egg-info .pytest_cache
