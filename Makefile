# Penguin Classifier: every target a user or CI runs. `make help` lists them.
SHELL := /bin/bash
.DEFAULT_GOAL := test

PYTHON ?= python3.11
VENV ?= .venv
BIN := $(VENV)/bin
# The venv is rebuilt whenever pyproject.toml changes (its stamp is older than it).
VENV_STAMP := $(VENV)/.installed

MODEL ?= weights/penguin_classifier.pt
OUT ?= data/generated
SEED ?= 1
PER_CLASS ?= 1000
DATA ?= data/generated
EPOCHS ?= 30

.PHONY: help setup serve test data samples train evaluate lint clean

help: ## Show this list of targets
	@grep -E '^[a-zA-Z_-]+:.*?## ' $(MAKEFILE_LIST) | awk 'BEGIN {FS = ":.*?## "}; {printf "  \033[36m%-16s\033[0m %s\n", $$1, $$2}'

$(VENV_STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[train,dev]'
	@touch $@

setup: $(VENV_STAMP) ## Create or refresh .venv (runs by itself before any target that needs it)

serve: $(VENV_STAMP) ## Serve the shipped model on http://localhost:8080
	$(BIN)/python -m service

test: $(VENV_STAMP) ## Run the whole test suite (what CI runs)
	$(BIN)/python -m pytest

data: $(VENV_STAMP) ## Render a synthetic dataset: make data OUT=dir SEED=n PER_CLASS=n
	$(BIN)/python -m training.render.dataset --out $(OUT) --seed $(SEED) --per-class $(PER_CLASS)

samples: $(VENV_STAMP) ## Re-render the committed sample photos in data/samples/
	rm -rf data/samples
	$(BIN)/python -m training.render.dataset --out data/samples --seed 7 --samples 4

train: $(VENV_STAMP) ## Train and export to weights/: make train DATA=dir EPOCHS=n
	$(BIN)/python -m training.train --data $(DATA) --epochs $(EPOCHS) --output $(MODEL)

evaluate: $(VENV_STAMP) ## Evaluate a model on a labelled folder: make evaluate DATA=dir
	$(BIN)/python -m training.evaluate --model $(MODEL) --data $(DATA)

lint: $(VENV_STAMP) ## Static checks: ruff
	$(BIN)/ruff check service training tests loadtest

clean: ## Remove the venv, generated data and caches
	rm -rf $(VENV) data/generated .pytest_cache .ruff_cache
	find . -name __pycache__ -type d -prune -exec rm -rf {} +
