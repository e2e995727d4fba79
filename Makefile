# s3bundler developer entry points. Everything runs inside .venv, created on first use.
PYTHON ?= python3.11
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: test demo bench lint venv clean images

venv: $(STAMP)

$(STAMP): pyproject.toml
	@command -v $(PYTHON) >/dev/null 2>&1 || { echo "error: $(PYTHON) not found (Python 3.11+ required; set PYTHON=...)" >&2; exit 2; }
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]'
	@touch $(STAMP)

## make test: unit and end-to-end tests (starts its own local AWS endpoint)
test: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/pytest $(PYTEST_ARGS)

## make demo: the whole pipeline on an embedded local AWS endpoint (s3jobs/demo.py).
## DEMO_ARGS="--objects 10000" for more; DEMO_ARGS="--s3 seaweedfs": S3 on SeaweedFS, the rest on moto
demo: $(STAMP)
	$(BIN)/python -m s3jobs.demo $(DEMO_ARGS)

## make bench: bundler objects/s, CPU, RSS and S3 requests per object against a concurrent-GET
## ceiling on a local endpoint with added latency, plus grouper rows/s (docs/performance.md).
## BENCH_ARGS="--quick" or "--scenario 4k,1g" or "--latency-ms 50 --concurrency 16"
bench: $(STAMP)
	$(BIN)/python -m bench $(BENCH_ARGS)

## make images: build the s3grouper and s3bundler container images (docs/containers.md).
## BASE_IMAGE=... picks the base (default python:3.11-slim); IMAGES_ARGS="--push ..." pushes to ECR
images: $(STAMP)
	$(BIN)/python tools/build_images.py $(if $(BASE_IMAGE),--base-image '$(BASE_IMAGE)') $(IMAGES_ARGS)

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache
