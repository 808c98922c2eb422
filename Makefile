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

# `make demo`: train + evaluate the tiny model, then run the species workflow on it (results in
# $(DEMO_DIR)/species_workflow/results). A previous demo in $(DEMO_DIR) is removed first: training
# refuses a run directory that already holds checkpoints. The demo's species workflow uses 16 held-out
# windows per species to stay fast: its report says its CIs (about +-0.1) are too wide to compare models.
DEMO_DIR ?= runs/demo
DEMO_SPECIES_CONFIG ?= 'window_lengths=[256,1024]' n_windows=32 n_test_windows=16 'embed={threads: 1}'

demo: install
	@if [ -e "$(DEMO_DIR)" ]; then echo "removing the previous demo run $(DEMO_DIR)"; rm -rf "$(DEMO_DIR)"; fi
	$(VENV)/bin/genomamba demo --run-dir $(DEMO_DIR)
	$(VENV)/bin/snakemake -s workflows/species_classification/Snakefile --cores 2 \
	    --directory $(DEMO_DIR)/species_workflow \
	    --config genomes=$(abspath data/species.tsv) model=$(abspath $(DEMO_DIR))/model $(DEMO_SPECIES_CONFIG)
	@echo "species workflow report: $(DEMO_DIR)/species_workflow/results/report.md"

test: install
	$(PY) -m pytest $(PYTEST_ARGS)

lint: install
	$(VENV)/bin/ruff check genomamba kernels tests benchmarks

bench: install
	$(PY) benchmarks/bench_tokenize.py
	$(PY) benchmarks/bench_scan.py
	$(PY) benchmarks/bench_model.py

clean:
	rm -rf $(VENV) build dist *.egg-info .pytest_cache
