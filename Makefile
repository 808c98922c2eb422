# genomamba developer entry points. Everything runs inside .venv, created on demand.
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
PIP    := $(PY) -m pip
STAMP  := $(VENV)/.installed-stamp
# CPU wheel of torch; installed first so the dependency resolver never pulls a CUDA build.
TORCH_SPEC ?= torch==2.13.0
PYTEST_ARGS ?=
TEST_WORKERS ?= auto

.PHONY: venv install demo test test-slurm lint bench clean triton36-env triton36-report kernel-report gpu-src gpu-check gpu-wheels

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
# test_fraction=0.05: the demo model trained on the first 95% of E. coli 536, so only the last 5% of
# each genome is held out from it (the workflow refuses test windows the model was trained on).
DEMO_DIR ?= runs/demo
DEMO_SPECIES_CONFIG ?= 'window_lengths=[256,1024]' n_windows=32 n_test_windows=16 test_fraction=0.05 'embed={threads: 1}'

demo: install
	@if [ -e "$(DEMO_DIR)" ]; then echo "removing the previous demo run $(DEMO_DIR)"; rm -rf "$(DEMO_DIR)"; fi
	$(VENV)/bin/genomamba demo --run-dir $(DEMO_DIR)
	$(VENV)/bin/snakemake -s workflows/species_classification/Snakefile --cores 2 \
	    --directory $(DEMO_DIR)/species_workflow \
	    --config genomes=$(abspath data/species.tsv) model=$(abspath $(DEMO_DIR))/model $(DEMO_SPECIES_CONFIG)
	@echo; echo "species classification (held-out windows; full report: $(DEMO_DIR)/species_workflow/results/report.md):"
	@sed -n '/^| window/,/^$$/p' "$(DEMO_DIR)/species_workflow/results/report.md"

# pytest-xdist: one worker per core (TEST_WORKERS=0 runs in one process). Test files stay whole on
# their worker (their module fixtures are built once); tests/conftest.py gives each worker one thread.
test: install
	$(PY) -m pytest -n $(TEST_WORKERS) --dist loadfile $(PYTEST_ARGS)

# `make test-slurm`: the `slurm`-marked tests against a real single-node cluster (slurmctld,
# slurmd, munged) that the tests start themselves, or the one SLURM_CONF points at. Needs root
# and `tests/slurm/cluster.sh install` (apt-get install slurm-wlm munge) once.
test-slurm: install
	$(PY) -m pytest -m slurm tests/slurm $(PYTEST_ARGS)

lint: install
	$(VENV)/bin/ruff check genomamba kernels tests benchmarks

bench: install
	$(PY) benchmarks/bench_tokenize.py
	$(PY) benchmarks/bench_scan.py
	$(PY) benchmarks/bench_model.py

clean:
	rm -rf $(VENV) build dist *.egg-info .pytest_cache

# AOT resource report of the Triton scan kernels (registers, spills, shared memory, occupancy) for
# sm_80 and sm_90, compiled with the triton in .venv; no GPU needed. Exit status 1 if anything spills.
kernel-report: install
	$(PY) -m genomamba.kernels.report --arch sm_80 sm_90

# A side venv with triton 3.6, the version on the GPU image, to check the kernels compile
# spill-free with it too. CPU torch wheel (no CUDA build); genomamba installed without deps
# (the kernels need only torch and triton).
TRITON36_PYTHON ?= python3.11
TRITON36_VENV ?= .venv-triton36
TRITON36_STAMP := $(TRITON36_VENV)/.installed-stamp

$(TRITON36_STAMP): pyproject.toml
	$(TRITON36_PYTHON) -m venv $(TRITON36_VENV)
	$(TRITON36_VENV)/bin/python -m pip install -q --upgrade pip
	$(TRITON36_VENV)/bin/python -m pip install -q "$(TORCH_SPEC)" "triton==3.6.0" pytest
	$(TRITON36_VENV)/bin/python -m pip install -q --no-deps -e .
	touch $(TRITON36_STAMP)

triton36-env: $(TRITON36_STAMP)

triton36-report: triton36-env
	$(TRITON36_VENV)/bin/python -m genomamba.kernels.report --arch sm_80 sm_90

# `make gpu-check` on a GPU machine: the machine's own python, torch and triton (no downloads, no
# install): the package is laid out under build/gpu-src with symlinks and put on PYTHONPATH. Runs
# pytest -m gpu, bench_scan and bench_model_gpu on CUDA (both Triton scans, v1 and chunked) and
# trains through the CLI on 64k-1 Mb windows, inside GPU_CHECK_BUDGET seconds; writes $(GPU_CHECK_OUT).
GPU_PYTHON ?= python3
GPU_SRC := build/gpu-src
GPU_CHECK_OUT ?= gpu_check.json
GPU_CHECK_BUDGET ?= 450

gpu-src:
	rm -rf $(GPU_SRC) && mkdir -p $(GPU_SRC)/genomamba
	for f in $(CURDIR)/genomamba/*; do ln -s "$$f" $(GPU_SRC)/genomamba/; done
	ln -s $(CURDIR)/kernels $(GPU_SRC)/genomamba/kernels
	ln -s $(CURDIR)/configs $(GPU_SRC)/genomamba/configs

gpu-check: gpu-src
	cd $(GPU_SRC) && PYTHONPATH=.$${PYTHONPATH:+:$$PYTHONPATH} $(GPU_PYTHON) $(CURDIR)/benchmarks/gpu_check.py \
	    --out $(abspath $(GPU_CHECK_OUT)) --budget-s $(GPU_CHECK_BUDGET)

# Pure-Python wheels (Python 3.12) of what `genomamba train` needs beyond a GPU image's torch /
# triton / Lightning stack, into .whl/ (git-ignored): carry .whl/ to the GPU machine and
# gpu-check unpacks them onto PYTHONPATH for its CLI training step. Needs pip and the network here.
GPU_WHEELS ?= .whl
GPU_WHEEL_SPECS ?= hydra-core==1.3.8 omegaconf==2.3.1 pyfaidx==0.9.2.2

gpu-wheels: $(PY)
	mkdir -p $(GPU_WHEELS)
	$(PIP) download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation py \
	    -d $(GPU_WHEELS) $(GPU_WHEEL_SPECS)
	$(PIP) wheel -q --no-deps -w $(GPU_WHEELS) antlr4-python3-runtime==4.9.3
