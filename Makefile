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
# pip at -qq prints errors only: this machine's pip config names local indexes that lack most
# packages, and at -q pip still prints one "Location ... is ignored" warning per package.
# Conflicts are not lost: `pip check` runs after every install. PIP_QUIET=-q (or empty) to see it all.
PIP_QUIET ?= -qq
EXTRAS := dev,workflows,docs

# The locked install (rule 10 of DEVELOPERS.md): requirements/lock.txt pins every package that
# `pip install -e .[dev,workflows,docs]` installs, torch included; pyproject.toml keeps lower
# bounds only, for `pip install genomamba`. `make install` (so `make demo`, `make test`, .ci/run)
# installs exactly the lock: torch first, the locked set, then genomamba itself without
# dependencies; requirements/lock.py sync removes what an older lock had and fails on any
# difference; `pip check` confirms the set is consistent.
# `make lock` refreshes the lock: a fresh temporary venv gets the newest releases (the CPU torch of
# TORCH_SPEC first), and requirements/lock.py freeze writes what it holds. Freezing a real install
# rather than pip-compile: pip-compile resolves against PyPI, whose torch wheels for Linux are CUDA
# builds with their nvidia-* dependencies; the freeze pins the CPU wheel this machine installs.
# `make test-latest` runs the suite against the newest releases in $(LATEST_VENV), to catch the
# next upstream break before users do.
LOCK := requirements/lock.txt
LOCK_VENV ?= .venv-lock
LATEST_VENV ?= .venv-latest

.PHONY: venv install lock test-latest schemas demo test test-slurm lint bench clean triton36-env triton36-report kernel-report gpu-src gpu-check gpu-wheels

$(PY):
	@$(PYTHON) -m venv $(VENV)

# --no-build-isolation: genomamba is built with the locked setuptools, not a fresh download.
# PYTHONWARNINGS: setuptools' notice that an editable install maps the packages with an import
# hook ("Editable installation."), as it must for kernels/ -> genomamba.kernels: informational,
# nothing to fix.
$(STAMP): $(PY) pyproject.toml $(LOCK)
	@echo "installing the locked packages ($(LOCK)) and genomamba into $(VENV) (a few minutes the first time)"
	@$(PY) -c "import torch" 2>/dev/null || $(PIP) install $(PIP_QUIET) "$(TORCH_SPEC)"
	@$(PIP) install $(PIP_QUIET) -r $(LOCK)
	@PYTHONWARNINGS="ignore:Editable installation" $(PIP) install $(PIP_QUIET) --no-deps --no-build-isolation -e .
	@$(PY) requirements/lock.py sync $(LOCK)
	@$(PIP) check > /dev/null || $(PIP) check
	@touch $(STAMP)

venv: $(PY)
install: $(STAMP)

lock:
	rm -rf $(LOCK_VENV)
	$(PYTHON) -m venv $(LOCK_VENV)
	$(LOCK_VENV)/bin/python -m pip install $(PIP_QUIET) --upgrade pip setuptools wheel
	$(LOCK_VENV)/bin/python -m pip install $(PIP_QUIET) "$(TORCH_SPEC)"
	PYTHONWARNINGS="ignore:Editable installation" $(LOCK_VENV)/bin/python -m pip install $(PIP_QUIET) -e ".[$(EXTRAS)]"
	$(LOCK_VENV)/bin/python -m pip check
	$(LOCK_VENV)/bin/python requirements/lock.py freeze > $(LOCK).new && mv $(LOCK).new $(LOCK)
	rm -rf $(LOCK_VENV)
	@echo "wrote $(LOCK) ($$(grep -vc '^#' $(LOCK)) packages); git diff $(LOCK) shows what changed"

# Every dependency upgraded to its newest release (torch held at TORCH_SPEC: the CPU wheel), then
# the whole suite. The venv is kept between runs; --upgrade-strategy eager moves it to the newest.
test-latest:
	[ -x $(LATEST_VENV)/bin/python ] || $(PYTHON) -m venv $(LATEST_VENV)
	echo "$(TORCH_SPEC)" > $(LATEST_VENV)/torch-constraint.txt
	$(LATEST_VENV)/bin/python -m pip install $(PIP_QUIET) --upgrade pip setuptools wheel
	$(LATEST_VENV)/bin/python -m pip install $(PIP_QUIET) -c $(LATEST_VENV)/torch-constraint.txt "$(TORCH_SPEC)"
	PYTHONWARNINGS="ignore:Editable installation" $(LATEST_VENV)/bin/python -m pip install $(PIP_QUIET) \
	    --upgrade --upgrade-strategy eager -c $(LATEST_VENV)/torch-constraint.txt -e ".[$(EXTRAS)]"
	$(LATEST_VENV)/bin/python -m pip check
	$(LATEST_VENV)/bin/python -m pytest -n $(TEST_WORKERS) --dist loadfile $(PYTEST_ARGS)

# `make demo`: train + evaluate the tiny model, then run the species workflow on it (results in
# $(DEMO_DIR)/species_workflow/results). A previous demo in $(DEMO_DIR) is removed first: training
# refuses a run directory that already holds checkpoints. The demo's species workflow uses 16 held-out
# windows per species to stay fast: its report says its CIs (about +-0.1) are too wide to compare models.
# test_fraction=0.05: the demo model trained on the first 95% of E. coli 536, so only the last 5% of
# each genome is held out from it (the workflow refuses test windows the model was trained on).
DEMO_DIR ?= runs/demo
DEMO_SPECIES_CONFIG ?= 'window_lengths=[256,1024]' n_windows=32 n_test_windows=16 test_fraction=0.05 'embed={threads: 1}'

# Snakemake's job log goes to $(DEMO_WORKFLOW_LOG) (its last lines are shown if the workflow fails).
DEMO_WORKFLOW_LOG = $(DEMO_DIR)/species_workflow/snakemake.log

demo: install
	@if [ -e "$(DEMO_DIR)" ]; then echo "removing the previous demo run $(DEMO_DIR)"; rm -rf "$(DEMO_DIR)"; fi
	@echo "genomamba demo --run-dir $(DEMO_DIR)"
	@$(VENV)/bin/genomamba demo --run-dir $(DEMO_DIR)
	@mkdir -p $(DEMO_DIR)/species_workflow
	@echo; echo "species classification workflow (Snakemake, 2 cores; log: $(DEMO_WORKFLOW_LOG))"
	@$(VENV)/bin/snakemake -s workflows/species_classification/Snakefile --cores 2 \
	    --directory $(DEMO_DIR)/species_workflow \
	    --config genomes=$(abspath data/species.tsv) model=$(abspath $(DEMO_DIR))/model $(DEMO_SPECIES_CONFIG) \
	    > $(DEMO_WORKFLOW_LOG) 2>&1 || { tail -n 40 $(DEMO_WORKFLOW_LOG); echo "the workflow failed; its log: $(DEMO_WORKFLOW_LOG)"; exit 1; }
	@echo "species classification (held-out windows; full report: $(DEMO_DIR)/species_workflow/results/report.md):"
	@sed -n '/^| window/,/^$$/p' "$(DEMO_DIR)/species_workflow/results/report.md"
	@$(PY) -c 'import json, sys; m = json.load(open(sys.argv[1])); b = m["markov_best"]; \
	    print("held-out bits per base of the demo model (the last 5%% of E. coli 536, never trained on): %.4f; " \
	          "best Markov chain (order %d): %.4f" % (m["model"]["bits_per_base"], b["order"], b["bits_per_base"]))' \
	    $(DEMO_DIR)/metrics.json

# pytest-xdist: one worker per core (TEST_WORKERS=0 runs in one process). Test files stay whole on
# their worker (their module fixtures are built once); tests/conftest.py gives each worker one thread.
test: install
	$(PY) -m pytest -n $(TEST_WORKERS) --dist loadfile $(PYTEST_ARGS)

# `make test-slurm`: the `slurm`-marked tests against a real single-node cluster (slurmctld,
# slurmd, munged) that the tests start themselves, or the one SLURM_CONF points at. Needs root
# and `tests/slurm/cluster.sh install` (apt-get install slurm-wlm munge) once.
test-slurm: install
	$(PY) -m pytest -m slurm tests/slurm $(PYTEST_ARGS)

# genomamba/training/signatures.json: the config schemas' keys and defaults as read from the code's
# signatures, so that `genomamba train --help` and the preflight checks compose configs without
# importing torch. Rerun after changing an argument of a configured class (tests/training/test_schema.py
# says when); a stale entry is read from the code instead, correct but seconds slower.
schemas: install
	$(PY) -c "from genomamba.downstream.finetune import FINETUNE_SCHEMAS as F; from genomamba.training.schema import \
	    SCHEMAS, write_signatures; print('wrote', write_signatures({**SCHEMAS, **F}))"

lint: install
	$(VENV)/bin/ruff check genomamba kernels tests benchmarks

bench: install
	$(PY) benchmarks/bench_tokenize.py
	$(PY) benchmarks/bench_scan.py
	$(PY) benchmarks/bench_model.py

clean:
	rm -rf $(VENV) $(LOCK_VENV) build dist *.egg-info .pytest_cache

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
